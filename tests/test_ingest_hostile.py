"""Hostile and badly typed input: one bad record never stops a run, nothing outside the input is read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperboy.ingest import ingest
from paperboy.papers import MAX_AUTHORS, Paper
from paperboy.sources.arxiv_files import iter_path
from paperboy.sources.base import RAW_LIMIT, Reject
from paperboy.sources.jsonl import read_file
from paperboy.store.sqlite import SQLiteStore

# Any JSON value, big integers (past 64 bits) and odd text included.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def either(plausible: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(plausible, JSON)


TEXT = st.text(min_size=1, max_size=40)
DATE = st.sampled_from(["2025", "2025-03", "2025-03-13", "Mon, 2 Apr 2007 19:18:42 GMT", "0000", "9999-12-31"])
GENERIC = st.fixed_dictionaries({"id": either(TEXT), "title": either(TEXT)}, optional={
    "abstract": either(TEXT), "arxiv": either(st.sampled_from(["2401.01234", "2401.01234v99999999999999999999"])),
    "authors": either(st.lists(either(st.fixed_dictionaries({"name": either(TEXT), "affiliation": JSON})))),
    "categories": either(st.lists(either(TEXT))), "date": either(DATE), "published": either(DATE),
    "year": either(st.integers(1900, 2100)), "venue": either(TEXT), "doi": either(st.just("10.1/x")),
    "journal_ref": either(TEXT), "url": either(st.just("https://x.org/a")), "pdf": either(st.just("http://x/p")),
})
VERSION = st.fixed_dictionaries({"version": either(st.sampled_from(["v1", "v2", "v18446744073709551616"])),
                                 "created": either(DATE), "size": either(st.just("12kb"))})
SNAPSHOT = st.fixed_dictionaries({"id": either(st.sampled_from(["0704.0001", "hep-th/9901001v2",
                                                                "gr-qc/0011022 (*cross-listing*)"])),
                                  "title": either(TEXT), "versions": either(st.lists(either(VERSION), max_size=3))},
                                 optional={k: either(TEXT) for k in (
                                     "abstract", "authors", "categories", "doi", "journal-ref", "comments",
                                     "report-no", "license", "submitter", "update_date", "source_file")}
                                 | {"authors_parsed": either(st.lists(either(st.lists(either(TEXT), max_size=3))))})


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> SQLiteStore:
    s = SQLiteStore(tmp_path_factory.mktemp("hostile") / "paperboy.db")
    yield s
    s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt_record=st.one_of(st.tuples(st.just("jsonl"), GENERIC), st.tuples(st.just("snapshot"), SNAPSHOT)))
def test_any_json_in_any_field_is_a_paper_or_a_reject_and_the_store_takes_it(tmp_path, shared_store, fmt_record):
    fmt, record = fmt_record
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record) + "\n")  # json, not orjson: integers past 64 bits must reach the reader
    out = list(read_file(path, fmt))
    assert len(out) == 1 and isinstance(out[0], Paper | Reject)
    if isinstance(out[0], Reject):
        assert out[0].location == "line 1"
        shared_store.write_batch([], out)
    else:
        shared_store.write_batch(out, [])


@pytest.mark.parametrize("bad", [
    {"id": "b", "title": "Bad affiliation", "authors": [{"name": "A B", "affiliation": {"x": 1}}]},
    {"id": "b", "title": "Bad affiliation", "authors": [{"name": "A B", "affiliation": ["x"]}]},
    {"id": "0704.0009", "title": "Bad size", "versions": [{"version": "v1", "size": ["9kb"]}], "update_date": ""},
    {"id": "0704.0009", "title": "Bad size", "versions": [{"version": "v1", "size": {"kb": 9}}], "update_date": ""},
    {"id": "0704.0009", "title": "Huge version", "versions": [{"version": "v18446744073709551616"}],
     "update_date": ""},
], ids=["affiliation-dict", "affiliation-list", "size-list", "size-dict", "version-2^64"])
def test_one_badly_typed_record_is_a_reject_and_the_run_goes_on(tmp_path, store, bad):
    lines = [orjson.dumps({"id": f"g{i}", "title": f"Good paper number {i}"}) for i in range(50)]
    lines[30] = json.dumps(bad).encode()
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest(store, read_file(path), batch_size=20)
    assert (summary.added, summary.rejected) == (49, 1)
    assert summary.rejects[0].location == "line 31"
    assert store.stats().papers == 49 and store.stats().rejects == 1


def test_author_lists_are_capped_like_author_strings(tmp_path, store):
    path = tmp_path / "many.jsonl"
    path.write_bytes(orjson.dumps({"id": "m", "title": "Many authors", "authors": [f"Author {i}" for i in
                                                                                  range(60_000)]}) + b"\n")
    [paper] = list(read_file(path))
    assert len(paper.authors) == MAX_AUTHORS
    store.write_batch([paper], [])
    assert len(store.get("m").paper.authors) == MAX_AUTHORS


ABS = """arXiv:0704.0001
From: A <a@b.c>
Date: Mon, 2 Apr 2007 19:18:42 GMT   (37kb)

Title: A paper read from a real file
Authors: A. Author
Categories: hep-ph
\\\\
  An abstract.
\\\\
"""


def test_folder_ingest_skips_symlinks_and_special_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "real.abs").write_text(ABS)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "passwd.abs").symlink_to(secret)
    (folder / "linked").symlink_to(tmp_path)  # a linked folder (here a loop back to the parent)
    os.mkfifo(folder / "pipe.abs")  # reading it would block the run
    out = list(iter_path(folder))
    assert [p.id for p in out if isinstance(p, Paper)] == ["0704.0001"]
    assert not any("root:" in r.raw for r in out if isinstance(r, Reject))


def test_a_reject_keeps_a_capped_excerpt_of_the_raw_input():
    r = Reject("s", "line 1", "bad", "x" * 1_000_000)
    assert len(r.raw) < RAW_LIMIT + 100 and r.raw.endswith("more characters cut]")


def test_cross_listed_snapshot_entries_are_accepted_with_the_listing_category(tmp_path):
    record = {"id": "gr-qc/0011022 (*cross-listing*)", "title": "Gravity from a listing", "categories": "gr-qc",
              "versions": [{"version": "v1", "created": "Tue, 7 Nov 2000 10:00:00 GMT"}], "update_date": "2000-11-07",
              "authors": "A. Author", "source_file": "ftp/astro-ph/listings/0011"}
    path = tmp_path / "listing.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    [paper] = list(read_file(path))
    assert isinstance(paper, Paper), paper
    assert paper.id == "gr-qc/0011022" and paper.categories == ["gr-qc", "astro-ph"]


def test_real_listings_have_no_cross_listing_rejects(datasets: Path):
    out = [r for i, r in zip(range(40_000), read_file(datasets / "arxiv-abs/listings.jsonl.gz"), strict=False)]
    assert not [r for r in out if isinstance(r, Reject) and "cross-listing" in r.reason]
