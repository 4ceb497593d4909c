"""The SQLite store: merging by identity, idempotence, version history, atomic batches."""

import sqlite3
from datetime import date

import orjson
import pytest

from paperboy.papers import Author, Paper, Version, finish
from paperboy.sources.base import Checkpoint, Reject
from paperboy.store.base import StoreFull
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


def _recount(store: SQLiteStore) -> dict:
    """stats() the slow way (a scan of every table), to check the counters the writes keep."""
    db = store.db
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "papers": one("SELECT count(*) FROM papers"),
        "with_abstract": one("SELECT count(*) FROM papers WHERE abstract != ''"),
        "arxiv_papers": one("SELECT count(*) FROM papers WHERE arxiv_id IS NOT NULL"),
        "versions": one("SELECT count(*) FROM versions"),
        "source_records": one("SELECT count(*) FROM source_records"),
        "withdrawn": one("SELECT count(*) FROM papers WHERE withdrawn"),
        "rejects": one("SELECT count(*) FROM rejects"),
        "by_category": dict(db.execute("SELECT coalesce(primary_category, '(none)') c, count(*) n FROM papers"
                                       " GROUP BY c ORDER BY n DESC, c")),
        "by_month": dict(db.execute("SELECT CASE WHEN listed IS NULL THEN '(unknown)' WHEN date_precision='year'"
                                    " THEN substr(listed, 1, 4) ELSE substr(listed, 1, 7) END m, count(*) FROM papers"
                                    " GROUP BY m ORDER BY m")),
    }


def test_stats_counters_follow_every_kind_of_write(store):
    store.write_batch([arxiv_paper(1)], [Reject("f", "line 1", "bad")])
    nips = finish(Paper(id="nips2020-123", title="Deep Learning for Widgets at Scale", authors=[Author("A. Lovelace")],
                        source="jsonl", submitted=date(2020, 1, 1), date_precision="year", categories=["cs.CV"]))
    store.write_batch([nips, finish(Paper(id="n", title="No date", source="jsonl"))], [])
    # updates: a new version (abstract appears, withdrawn), and the NIPS paper gains an arXiv id and a day date
    store.write_batch([arxiv_paper(2, abstract="Now with an abstract.", comments="This paper has been withdrawn")], [])
    store.write_batch([finish(Paper(id="2003.00001", arxiv_id="2003.00001", title="Deep learning for widgets at scale",
                                    authors=[Author("Ada Lovelace")], categories=["cs.LG"], source="abs",
                                    versions=[Version(1, date(2020, 3, 2))]))], [])
    stats = store.stats()
    assert stats.as_dict() == _recount(store)
    for category, n in store.db.execute("SELECT category, count(*) FROM paper_categories GROUP BY category"):
        assert store.count(category=category) == n
    assert stats.by_month == {"(unknown)": 1, "2020-03": 1, "2024-01": 1}
    assert stats.papers == 3 and stats.withdrawn == 1 and stats.arxiv_papers == 2 and stats.rejects == 1


def test_close_closes_every_threads_connection(tmp_path):
    import threading

    s = SQLiteStore(tmp_path / "db.sqlite")
    s.write_batch([arxiv_paper(1)], [])
    seen: list = []

    def reader() -> None:
        seen.append(s.db)
        assert s.get("2401.01234") is not None

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.open_connections == 5
    s.close()
    assert s.open_connections == 0
    for conn in seen:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    assert s.get("2401.01234") is not None  # a later call opens a fresh connection
    s.close()


def test_a_full_database_says_disk_full_and_writes_nothing(store):
    store.write_batch([arxiv_paper(1)], [])
    before = (store.max_seq(), store.stats())
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")  # what a full disk does to SQLite: SQLITE_FULL
    big = [finish(Paper(id=f"big{i}", title=f"Paper {i}", abstract="words " * 2000, source="jsonl"))
           for i in range(50)]
    with pytest.raises(StoreFull, match="disk full"):
        store.write_batch(big, [Reject("f", "line 1", "bad")])
    assert (store.max_seq(), store.stats()) == before and store.get("big0") is None
    assert not store.db.in_transaction


def test_ingest_on_a_full_disk_keeps_committed_batches(store):
    from paperboy.ingest import IngestSummary, ingest

    store.db.execute(f"PRAGMA max_page_count={store.db.execute('PRAGMA page_count').fetchone()[0] + 400}")
    papers = [finish(Paper(id=f"p{i}", title=f"Paper {i}", abstract="words " * 500, source="jsonl"))
              for i in range(400)]
    summary = IngestSummary()
    with pytest.raises(StoreFull):
        ingest(store, papers, batch_size=20, summary=summary)
    assert summary.batches >= 1 and store.stats().papers == summary.added == 20 * summary.batches


def test_migration_from_schema_1_derives_precision_listing_dates_and_counters(tmp_path):
    import sqlite3 as sq

    from paperboy.store.schema import MIGRATIONS
    from paperboy.store.schema import statements as _statements

    path = tmp_path / "old.db"
    db = sq.connect(path)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for statement in _statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute("INSERT INTO schema_migrations VALUES (1, '2026-01-01')")
    year_only = finish(Paper(id="3dv2025-x", title="Flash splats for everyone today", submitted=date(2025, 1, 1),
                             journal_ref="3dv 2025", categories=["cs.CV"], source="jsonl"))
    dated = arxiv_paper(1)
    for pid, p in ((1, year_only), (2, dated)):
        data = orjson.dumps({**p.to_dict(), "source": p.source}).decode()
        db.execute("INSERT INTO papers(pid, id, arxiv_id, title_norm, title, primary_category, submitted, updated,"
                   " data, content_hash, seq, created_at, modified_at) VALUES (?,?,?,?,?,?,?,?,?,'h',?,'','')",
                   (pid, p.id, p.arxiv_id, p.title_norm, p.title, p.primary_category, p.submitted.isoformat(),
                    p.updated.isoformat(), data, pid))
        db.execute("INSERT INTO source_records VALUES (?,?,?,?,?,?)", (f"{p.source}:{pid}", pid, p.source, None, pid,
                                                                      data))
        db.execute("INSERT INTO paper_categories VALUES (?,?,?)", (p.primary_category, p.submitted.isoformat(), pid))
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.get("3dv2025-x").paper.date_precision == "year"
    assert store.get("2401.01234").paper.date_precision == "day"
    assert [s.paper.id for s in store.latest(category="cs.CV", since=date(2025, 1, 1), until=date(2025, 12, 31))] \
        == ["3dv2025-x"]
    assert store.latest(category="cs.CV", since=date(2025, 1, 1), until=date(2025, 1, 7)) == []
    assert store.stats().as_dict() == _recount(store)
    assert store.stats().by_month == {"2024-01": 1, "2025": 1}
    store.close()
