"""JSON Lines sources (generic and arXiv snapshot) and their bad-input handling."""

import gzip
import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from paperboy.ingest import ingest
from paperboy.papers import Paper
from paperboy.sources.base import Reject
from paperboy.sources.jsonl import read_file

SNAPSHOT = {
    "id": "0704.0001", "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
    "comments": "37 pages, 15 figures; published version", "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009", "report-no": "ANL-HEP-PR-07-12", "categories": "hep-ph",
    "license": None, "abstract": "  A fully differential calculation in perturbative quantum chromodynamics.\n",
    "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
                 {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"}],
    "update_date": "2008-11-13",
    "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""], ["Nadolsky", "P. M.", ""],
                       ["Yuan", "C. -P.", ""]],
}


def write_lines(path, lines: list[bytes], gz: bool = False):
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_snapshot_record(tmp_path):
    path = write_lines(tmp_path / "snap.json.gz", [orjson.dumps(SNAPSHOT)], gz=True)
    [p] = list(read_file(path))
    assert isinstance(p, Paper)
    assert p.id == "0704.0001" and p.version == 2
    assert p.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert [a.name for a in p.authors][:2] == ["C. Balázs", "E. L. Berger"]
    assert p.doi == "10.1103/physrevd.76.013009" and p.categories == ["hep-ph"]
    assert str(p.submitted) == "2007-04-02" and str(p.updated) == "2007-07-24"
    assert p.links["pdf"] == "https://arxiv.org/pdf/0704.0001"


def test_seed_papers(datasets):
    records = list(read_file(datasets / "seed-papers" / "papers.jsonl"))
    assert len(records) == 230 and all(isinstance(r, Paper) for r in records)


def test_bad_lines_are_rejected_with_line_numbers_and_good_ones_kept(tmp_path):
    good = orjson.dumps({"id": "g1", "title": "Good paper", "abstract": "fine"})
    lines = [
        good,
        b'{"id": "t1", "title": "truncated',  # truncated JSON
        b'{"id": "u1", "title": "bad \xff\xfe utf8"}',  # invalid UTF-8
        orjson.dumps({"id": "n1", "abstract": "no title"}),
        orjson.dumps({"title": "no id at all"}),
        orjson.dumps({"id": "h1", "title": "huge", "abstract": "a" * 10_000_000}),
        b"[1, 2, 3]",
        orjson.dumps({"id": "x1", "title": "<script>alert('x')</script> Title"}),
        orjson.dumps({"id": "snap", "title": "t", "versions": [{"version": "vX"}], "update_date": "2020-01-01"}),
        good,  # a duplicate record in the same file
    ]
    out = list(read_file(write_lines(tmp_path / "in.jsonl", lines)))
    rejects = {r.location: r.reason for r in out if isinstance(r, Reject)}
    assert set(rejects) == {"line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 9"}
    assert "invalid JSON" in rejects["line 2"] and "UTF-8" in rejects["line 3"]
    assert "no title" in rejects["line 4"] and "no id" in rejects["line 5"]
    assert "abstract is" in rejects["line 6"] and "JSON object" in rejects["line 7"]
    papers = [r for r in out if isinstance(r, Paper)]
    assert [p.id for p in papers] == ["g1", "x1", "g1"]
    assert papers[1].title.startswith("<script>")  # kept verbatim: escaping is the renderer's job


def test_duplicates_in_one_file_become_one_paper(tmp_path, store):
    line = orjson.dumps({"id": "d1", "title": "Same paper", "authors": ["A. B."]})
    summary = ingest(store, read_file(write_lines(tmp_path / "d.jsonl", [line, line])))
    assert (summary.added, summary.unchanged) == (1, 1)


def test_truncated_gzip_keeps_records_before_the_damage(tmp_path, store):
    lines = [orjson.dumps({"id": f"p{i}", "title": f"Paper number {i}", "abstract": "x" * 200}) for i in range(2000)]
    blob = gzip.compress(b"\n".join(lines))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    summary = ingest(store, read_file(path), batch_size=100)
    assert summary.rejected == 1 and "truncated" in summary.rejects[0].reason
    assert summary.added > 500
    assert store.stats().papers == summary.added


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "title", "abstract", "authors", "date", "categories", "doi", "arxiv",
                                        "versions", "update_date", "year"]),
                       st.one_of(st.none(), st.text(max_size=30), st.integers(), st.lists(st.text(max_size=5)),
                                 st.dictionaries(st.text(max_size=3), st.text(max_size=3)))))
def test_any_json_object_yields_a_paper_or_a_reject(tmp_path_factory, record):
    path = tmp_path_factory.mktemp("h") / "x.jsonl"
    path.write_text(json.dumps(record) + "\n")
    out = list(read_file(path))
    assert len(out) == 1 and isinstance(out[0], Paper | Reject)
