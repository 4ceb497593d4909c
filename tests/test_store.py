"""The SQLite store: merging by identity, idempotence, version history, atomic batches."""

from datetime import date

import pytest

from paperboy.papers import Author, Paper, Version, finish
from paperboy.sources.base import Checkpoint, Reject
from paperboy.store.sqlite import SQLiteStore


def arxiv_paper(version: int, *, title="A study of things", abstract="", source="abs", **kw) -> Paper:
    versions = [Version(v, date(2024, 1, v)) for v in range(1, version + 1)]
    return finish(Paper(id="2401.01234", arxiv_id="2401.01234", title=title, abstract=abstract,
                        authors=[Author("Ada Lovelace")], categories=["cs.LG", "stat.ML"],
                        versions=versions, source=source, **kw))


def test_add_then_reingest_is_unchanged(store):
    first = store.write_batch([arxiv_paper(1, abstract="x")], [])
    assert (first.added, first.updated, first.unchanged) == (1, 0, 0)
    again = store.write_batch([arxiv_paper(1, abstract="x")], [])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    assert store.stats().papers == 1


def test_newer_version_updates_and_keeps_history(store):
    store.write_batch([arxiv_paper(1, abstract="old")], [])
    result = store.write_batch([arxiv_paper(2, abstract="new")], [])
    assert result.updated == 1
    p = store.get("2401.01234").paper
    assert p.version == 2 and p.abstract == "new"
    assert [v.version for v in p.versions] == [1, 2]
    assert p.submitted == date(2024, 1, 1) and p.updated == date(2024, 1, 2)


def test_older_version_never_overrides_newer(store):
    store.write_batch([arxiv_paper(2, abstract="new")], [])
    store.write_batch([arxiv_paper(1, abstract="old")], [])
    assert store.get("2401.01234v1").paper.abstract == "new"


def test_sources_fill_in_without_erasing(store):
    store.write_batch([arxiv_paper(1, abstract="", source="listing", comments="10 pages")], [])
    store.write_batch([arxiv_paper(1, abstract="The abstract.", source="abs")], [])
    p = store.get("arXiv:2401.01234").paper
    assert p.abstract == "The abstract." and p.comments == "10 pages"
    # Re-running both sources in either order changes nothing.
    for src in ("abs", "listing"):
        r = store.write_batch([arxiv_paper(1, abstract="The abstract." if src == "abs" else "", source=src,
                                           comments=None if src == "abs" else "10 pages")], [])
        assert (r.added, r.updated) == (0, 0)


def test_same_title_and_author_merges_across_sources(store):
    a = finish(Paper(id="nips2020-123", title="Deep Learning for Widgets at Scale", authors=[Author("Ada Lovelace")],
                     source="jsonl", submitted=date(2020, 1, 1), journal_ref="nips 2020"))
    b = finish(Paper(id="2001.00001", arxiv_id="2001.00001", title="Deep learning for widgets at scale.",
                     authors=[Author("A. Lovelace")], abstract="Widgets.", source="abs",
                     versions=[Version(1, date(2019, 12, 30))]))
    store.write_batch([a], [])
    r = store.write_batch([b], [])
    assert (r.added, r.updated) == (0, 1)
    merged = store.get("nips2020-123")
    assert merged.paper.id == "2001.00001"  # the arXiv id becomes canonical; the old id stays an alias
    assert merged.paper.journal_ref == "nips 2020" and merged.paper.abstract == "Widgets."
    assert store.stats().papers == 1


def test_same_title_different_authors_stays_apart(store):
    a = finish(Paper(id="a", title="A Survey of Graph Neural Networks", authors=[Author("Ada Lovelace")], source="j"))
    b = finish(Paper(id="b", title="A survey of graph neural networks", authors=[Author("Alan Turing")], source="j"))
    r = store.write_batch([a, b], [])
    assert r.added == 2


def test_lookup_by_doi_and_versioned_id(store):
    store.write_batch([arxiv_paper(1, doi="10.1000/ABC")], [])
    assert store.get("https://doi.org/10.1000/abc").paper.id == "2401.01234"
    assert store.get("2401.01234v7").paper.id == "2401.01234"
    assert store.get("") is None and store.get("nope") is None


def test_batch_is_atomic(store, monkeypatch):
    store.write_batch([arxiv_paper(1)], [])
    good = finish(Paper(id="ok-1", title="Fine paper", source="jsonl"))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SQLiteStore, "_remerge", boom)
    with pytest.raises(RuntimeError):
        store.write_batch([good, arxiv_paper(2, abstract="changed")],
                          [Reject("f", "line 1", "bad")], [Checkpoint("k", {"token": "t"})])
    assert store.get("ok-1") is None  # nothing of the failed batch is visible
    assert store.stats().rejects == 0 and store.get_state("k") is None
    assert store.get("2401.01234").paper.version == 1


def test_rejects_and_checkpoints_are_kept(store):
    store.write_batch([], [Reject("file.jsonl", "line 3", "invalid JSON", "{oops")], [Checkpoint("k", {"token": "x"})])
    store.write_batch([], [Reject("file.jsonl", "line 3", "invalid JSON", "{oops")], [])
    assert [r.raw for r in store.rejects()] == ["{oops"]
    assert store.get_state("k") == {"token": "x"}


def test_changed_since_and_listing(store):
    store.write_batch([arxiv_paper(1)], [])
    seq = store.max_seq()
    other = finish(Paper(id="x1", title="Other", categories=["math.GT"], submitted=date(2023, 5, 1),
                         authors=[Author("Émile Borel")], source="jsonl"))
    store.write_batch([other], [])
    assert [s.paper.id for s in store.changed_since(seq)] == ["x1"]
    assert [s.paper.id for s in store.latest(category="cs")] == ["2401.01234"]
    assert [s.paper.id for s in store.latest(category="math.GT")] == ["x1"]
    assert [s.paper.id for s in store.latest(author="emile borel")] == ["x1"]
    assert store.count(category="c%") == 0  # LIKE wildcards in user input are literal


def test_reopen_keeps_data_and_schema(tmp_path):
    s = SQLiteStore(tmp_path / "db.sqlite")
    s.write_batch([arxiv_paper(1)], [])
    s.close()
    again = SQLiteStore(tmp_path / "db.sqlite")
    assert again.schema_version >= 1 and again.stats().papers == 1
