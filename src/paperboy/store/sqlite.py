"""The embedded store: one SQLite file in WAL mode.  All of paperboy's SQL for SQLite is here."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson

from paperboy.papers import (
    InvalidId,
    Paper,
    hash_dict,
    normalise_author,
    normalise_doi,
    now_utc,
    paper_from_dict,
    parse_arxiv_id,
)
from paperboy.sources.base import Checkpoint, Reject
from paperboy.store.base import BatchResult, Store, StoredPaper
from paperboy.store.merge import merge
from paperboy.store.schema import MIGRATIONS

_MIN_TITLE_WORDS_FOR_MATCH = 4  # shorter normalised titles ("Introduction") are too generic to merge on
_PAPER_COLUMNS = "pid, seq, data"
_INSERT_SOURCE_RECORD = "INSERT INTO source_records(hash, pid, source, version, seq, data) VALUES (?,?,?,?,?,?)"


class SQLiteStore(Store):
    """A store in one SQLite file.  Safe to share between threads: each thread gets its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    # -- connections ---------------------------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        done = {r[0] for r in db.execute("SELECT version FROM schema_migrations")}
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, now_utc().isoformat()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]

    # -- writing -------------------------------------------------------------------------------------------------

    def write_batch(
        self, papers: list[Paper], rejects: list[Reject], checkpoints: list[Checkpoint] | None = None
    ) -> BatchResult:
        db = self.db
        result = BatchResult(rejected=len(rejects))
        now = now_utc().isoformat(timespec="seconds")
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = int(db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()[0])
            encoded = [_encode(p) for p in papers]
            hashes = [f"{p.source}:{h}" for p, (h, _) in zip(papers, encoded, strict=True)]
            known = self._known_hashes(hashes)
            fresh = [(p, h, e) for p, h, e in zip(papers, hashes, encoded, strict=True) if h not in known]
            result.unchanged += len(papers) - len(fresh)
            ids = _Identities(db, [p for p, _, _ in fresh])
            changed: set[int] = set()
            next_pid = (db.execute("SELECT max(pid) FROM papers").fetchone()[0] or 0) + 1
            new_rows, new_records, new_children = [], [], []
            for paper, h, (content_hash, data) in fresh:
                if h in known:  # the same record twice in one batch
                    result.unchanged += 1
                    continue
                known.add(h)
                seq += 1
                record = (paper.source, paper.version, seq, data)
                pid = ids.resolve(paper)
                if pid is None:
                    pid, next_pid = next_pid, next_pid + 1
                    if paper.arxiv_id in (None, paper.id):  # a lone record is its own merge: reuse its encoding
                        merged, row = paper, _row(paper, content_hash, data)
                    else:
                        merged = merge([(seq, paper)])
                        row = _row(merged)
                    new_rows.append((pid, *row, seq, now, now))
                    new_records.append((h, pid, *record))
                    new_children.append((pid, merged))
                    ids.remember(pid, merged)
                    result.added += 1
                    changed.add(pid)
                    continue
                if pid in ids.pending:  # merged into a paper added earlier in this batch: write that first
                    self._flush_new(new_rows, new_records, new_children, ids)
                db.execute(_INSERT_SOURCE_RECORD, (h, pid, *record))
                if self._remerge(pid, paper, seq, now):
                    if pid not in changed:
                        result.updated += 1
                    changed.add(pid)
                    ids.refresh(pid)
                else:
                    result.unchanged += 1
            self._flush_new(new_rows, new_records, new_children, ids)
            for r in rejects:
                db.execute(
                    "INSERT INTO rejects(source, location, reason, raw, created_at) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(source, location, reason) DO UPDATE SET raw=excluded.raw",
                    (r.source, r.location, r.reason, r.raw, now),
                )
            for cp in checkpoints or []:
                self._set_state(cp.key, cp.value, now)
            db.execute("UPDATE meta SET value=? WHERE key='seq'", (str(seq),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        result.changed = sorted(changed)
        return result

    def _flush_new(self, rows: list, records: list, children: list, ids: _Identities) -> None:
        """Insert the batch's new papers in bulk (executemany is several times faster than row by row)."""
        db = self.db
        if rows:
            db.executemany(
                "INSERT INTO papers(pid, id, arxiv_id, doi, title_norm, title, abstract, authors, categories,"
                " primary_category, submitted, updated, version, withdrawn, data, content_hash, seq, created_at,"
                " modified_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            db.executemany(_INSERT_SOURCE_RECORD, records)
            self._write_children(children)
        rows.clear()
        records.clear()
        children.clear()
        ids.pending.clear()

    def _known_hashes(self, hashes: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(hashes):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT hash FROM source_records WHERE hash IN ({marks})", chunk)
            known.update(r[0] for r in rows)
        return known

    def _remerge(self, pid: int, paper: Paper, seq: int, now: str) -> bool:
        """Recompute a paper from all its source records; True if the merged paper changed."""
        db = self.db
        records = [(s, paper_from_dict(orjson.loads(d))) for s, d in
                   db.execute("SELECT seq, data FROM source_records WHERE pid=?", (pid,))]
        merged = merge(records)
        old_id, old_hash = db.execute("SELECT id, content_hash FROM papers WHERE pid=?", (pid,)).fetchone()
        if merged.arxiv_id is None:
            merged.id = old_id  # keep URLs stable: the first id stays canonical until an arXiv id appears
        for alias in {paper.id, old_id} - {merged.id}:
            db.execute("INSERT OR IGNORE INTO aliases(alias, pid) VALUES (?,?)", (alias, pid))
        row = _row(merged)
        if row[-1] == old_hash:
            return False
        db.execute(
            "UPDATE papers SET id=?, arxiv_id=?, doi=?, title_norm=?, title=?, abstract=?, authors=?, categories=?,"
            " primary_category=?, submitted=?, updated=?, version=?, withdrawn=?, data=?, content_hash=?, seq=?,"
            " modified_at=? WHERE pid=?",
            (*row, seq, now, pid),
        )
        db.execute("DELETE FROM aliases WHERE alias=?", (merged.id,))
        for table in ("versions", "paper_authors", "paper_categories"):
            db.execute(f"DELETE FROM {table} WHERE pid=?", (pid,))
        self._write_children([(pid, merged)])
        return True

    def _write_children(self, papers: list[tuple[int, Paper]]) -> None:
        db = self.db
        db.executemany(
            "INSERT INTO versions(pid, version, date, size) VALUES (?,?,?,?)",
            [(pid, v.version, v.date.isoformat() if v.date else None, v.size) for pid, p in papers for v in p.versions],
        )
        db.executemany(
            "INSERT INTO paper_authors(pid, position, name, name_norm, affiliation) VALUES (?,?,?,?,?)",
            [(pid, i, a.name, normalise_author(a.name), a.affiliation)
             for pid, p in papers for i, a in enumerate(p.authors)],
        )
        db.executemany(
            "INSERT OR IGNORE INTO paper_categories(category, submitted, pid) VALUES (?,?,?)",
            [(c, p.submitted.isoformat() if p.submitted else None, pid)
             for pid, p in papers for c in _with_prefixes(p.categories)],
        )

    # -- reading -------------------------------------------------------------------------------------------------

    def get(self, ident: str) -> StoredPaper | None:
        ident = (ident or "").strip()
        if not ident:
            return None
        db = self.db
        queries: list[tuple[str, str]] = [
            ("SELECT pid FROM papers WHERE id=?", ident),
            ("SELECT pid FROM aliases WHERE alias=?", ident),
        ]
        with contextlib.suppress(InvalidId):
            queries.append(("SELECT pid FROM papers WHERE arxiv_id=?", parse_arxiv_id(ident)[0]))
        if doi := normalise_doi(ident):
            queries.append(("SELECT pid FROM papers WHERE doi=?", doi))
        for sql, arg in queries:
            if row := db.execute(sql, (arg,)).fetchone():
                found = self.get_many([row[0]])
                return found[0] if found else None
        return None

    def get_many(self, pids: list[int]) -> list[StoredPaper]:
        if not pids:
            return []
        found: dict[int, StoredPaper] = {}
        for i in range(0, len(pids), 500):
            chunk = [int(p) for p in pids[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            for pid, seq, data in self.db.execute(
                f"SELECT {_PAPER_COLUMNS} FROM papers WHERE pid IN ({marks})", chunk
            ):
                found[pid] = StoredPaper(pid, seq, paper_from_dict(orjson.loads(data)))
        return [found[p] for p in pids if p in found]

    def changed_since(self, seq: int, limit: int = 1000) -> list[StoredPaper]:
        return [
            StoredPaper(pid, s, paper_from_dict(orjson.loads(data)))
            for pid, s, data in self.db.execute(
                f"SELECT {_PAPER_COLUMNS} FROM papers WHERE seq>? ORDER BY seq LIMIT ?", (seq, limit)
            )
        ]

    def max_seq(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()[0])

    def latest(self, *, category: str | None = None, author: str | None = None, limit: int = 20,
               offset: int = 0) -> list[StoredPaper]:
        pids = self._listing_pids(category, author, limit, offset)
        return self.get_many(pids)

    def _listing_pids(self, category: str | None, author: str | None, limit: int, offset: int) -> list[int]:
        db = self.db
        args: list = []
        if category:
            sql = "SELECT pid FROM paper_categories WHERE category=?"
            args.append(category)
            if author:
                sql += " AND pid IN (SELECT pid FROM paper_authors WHERE name_norm=?)"
                args.append(normalise_author(author))
            sql += " ORDER BY submitted DESC, pid DESC"
        elif author:
            sql = ("SELECT p.pid FROM paper_authors a JOIN papers p ON p.pid=a.pid WHERE a.name_norm=?"
                   " ORDER BY p.submitted DESC, p.pid DESC")
            args.append(normalise_author(author))
        else:
            sql = "SELECT pid FROM papers ORDER BY submitted DESC, pid DESC"
        return [r[0] for r in db.execute(sql + " LIMIT ? OFFSET ?", (*args, int(limit), int(offset)))]

    def count(self, *, category: str | None = None, author: str | None = None) -> int:
        db = self.db
        if category and author:
            return db.execute(
                "SELECT count(*) FROM paper_categories WHERE category=?"
                " AND pid IN (SELECT pid FROM paper_authors WHERE name_norm=?)",
                (category, normalise_author(author)),
            ).fetchone()[0]
        if category:
            return db.execute("SELECT count(*) FROM paper_categories WHERE category=?", (category,)).fetchone()[0]
        if author:
            return db.execute("SELECT count(DISTINCT pid) FROM paper_authors WHERE name_norm=?",
                              (normalise_author(author),)).fetchone()[0]
        return db.execute("SELECT count(*) FROM papers").fetchone()[0]

    def get_state(self, key: str) -> dict | None:
        row = self.db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def set_state(self, key: str, value: dict | None) -> None:
        self._set_state(key, value, now_utc().isoformat(timespec="seconds"))

    def _set_state(self, key: str, value: dict | None, now: str) -> None:
        if value is None:
            self.db.execute("DELETE FROM state WHERE key=?", (key,))
        else:
            self.db.execute(
                "INSERT INTO state(key, value, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (key, orjson.dumps(value).decode(), now),
            )

    def stats(self) -> dict:
        db = self.db
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "with_abstract": one("SELECT count(*) FROM papers WHERE abstract != ''"),
            "arxiv_papers": one("SELECT count(*) FROM papers WHERE arxiv_id IS NOT NULL"),
            "versions": one("SELECT count(*) FROM versions"),
            "source_records": one("SELECT count(*) FROM source_records"),
            "withdrawn": one("SELECT count(*) FROM papers WHERE withdrawn"),
            "rejects": one("SELECT count(*) FROM rejects"),
            "by_category": dict(db.execute(
                "SELECT coalesce(primary_category, '(none)') c, count(*) n FROM papers GROUP BY c ORDER BY n DESC, c"
            ).fetchall()),
            "by_month": dict(db.execute(
                "SELECT coalesce(substr(submitted, 1, 7), '(unknown)') m, count(*) FROM papers GROUP BY m ORDER BY m"
            ).fetchall()),
        }

    def rejects(self, limit: int = 100) -> list[Reject]:
        return [
            Reject(s, loc, reason, raw)
            for s, loc, reason, raw in self.db.execute(
                "SELECT source, location, reason, raw FROM rejects ORDER BY rid DESC LIMIT ?", (limit,)
            )
        ]


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _last_names(authors: list) -> set[str]:
    names = (normalise_author(a if isinstance(a, str) else a.name) for a in authors)
    return {n.split()[-1] for n in names if n}


class _Identities:
    """Who is who for one batch: existing papers matching the batch's ids, DOIs and titles, fetched in bulk,
    plus the papers added so far in the batch.  Resolution order: id, alias, arXiv id, DOI, then normalised
    title (long titles only, with no conflicting arXiv id or DOI and at least one shared author surname)."""

    def __init__(self, db: sqlite3.Connection, papers: list[Paper]) -> None:
        self.db = db
        self.by_id: dict[str, int] = {}
        self.by_arxiv: dict[str, int] = {}
        self.by_doi: dict[str, int] = {}
        self.by_title: dict[str, list[tuple[int, str | None, str | None, set[str]]]] = {}
        self.pending: set[int] = set()
        ids = list({p.id for p in papers})
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            self.by_id.update(db.execute(f"SELECT alias, pid FROM aliases WHERE alias IN ({marks})", chunk))
            self.by_id.update(db.execute(f"SELECT id, pid FROM papers WHERE id IN ({marks})", chunk))
        for column, target, values in (
            ("arxiv_id", self.by_arxiv, {p.arxiv_id for p in papers if p.arxiv_id}),
            ("doi", self.by_doi, {p.doi for p in papers if p.doi}),
        ):
            for chunk in _chunks(list(values)):
                marks = ",".join("?" * len(chunk))
                target.update(db.execute(f"SELECT {column}, pid FROM papers WHERE {column} IN ({marks})", chunk))
        titles = list({t for p in papers if len((t := p.title_norm).split()) >= _MIN_TITLE_WORDS_FOR_MATCH})
        for chunk in _chunks(titles):
            marks = ",".join("?" * len(chunk))
            for pid, title_norm, arxiv_id, doi, authors in db.execute(
                f"SELECT pid, title_norm, arxiv_id, doi, authors FROM papers WHERE title_norm IN ({marks})", chunk
            ):
                names = _last_names([a["name"] for a in orjson.loads(authors)])
                self.by_title.setdefault(title_norm, []).append((pid, arxiv_id, doi, names))

    def resolve(self, paper: Paper) -> int | None:
        for table, key in ((self.by_id, paper.id), (self.by_arxiv, paper.arxiv_id), (self.by_doi, paper.doi)):
            if key and key in table:
                return table[key]
        candidates = self.by_title.get(paper.title_norm)
        if not candidates:
            return None
        names = _last_names(paper.authors)
        for pid, arxiv_id, doi, theirs in candidates:
            if paper.arxiv_id and arxiv_id and paper.arxiv_id != arxiv_id:
                continue
            if paper.doi and doi and paper.doi != doi:
                continue
            if names and theirs and not names & theirs:
                continue
            return pid
        return None

    def remember(self, pid: int, paper: Paper) -> None:
        self.pending.add(pid)
        self.by_id[paper.id] = pid
        if paper.arxiv_id:
            self.by_arxiv[paper.arxiv_id] = pid
        if paper.doi:
            self.by_doi[paper.doi] = pid
        title = paper.title_norm
        if len(title.split()) >= _MIN_TITLE_WORDS_FOR_MATCH:
            self.by_title.setdefault(title, []).append((pid, paper.arxiv_id, paper.doi, _last_names(paper.authors)))

    def refresh(self, pid: int) -> None:
        """Re-read a paper whose merged record just changed (its id, arXiv id or DOI may be new)."""
        row = self.db.execute("SELECT id, arxiv_id, doi FROM papers WHERE pid=?", (pid,)).fetchone()
        self.by_id[row[0]] = pid
        if row[1]:
            self.by_arxiv[row[1]] = pid
        if row[2]:
            self.by_doi[row[2]] = pid


def _encode(paper: Paper) -> tuple[str, str]:
    """``(content hash, stored JSON)`` of a paper from a single ``to_dict()``: ingest's hottest path."""
    d = paper.to_dict()
    content_hash = hash_dict(d)
    d["source"] = paper.source
    if paper.original:
        d["original"] = paper.original
    return content_hash, orjson.dumps(d).decode()


def _row(p: Paper, content_hash: str | None = None, data: str | None = None) -> tuple:
    """Column values for a merged paper; the last one is its content hash."""
    if content_hash is None or data is None:
        content_hash, data = _encode(p)
    return (
        p.id,
        p.arxiv_id,
        p.doi,
        p.title_norm,
        p.title,
        p.abstract,
        orjson.dumps([{"name": a.name, "affiliation": a.affiliation} for a in p.authors]).decode(),
        " ".join(p.categories),
        p.primary_category,
        p.submitted.isoformat() if p.submitted else None,
        p.updated.isoformat() if p.updated else None,
        p.version,
        int(p.withdrawn),
        data,
        content_hash + ":" + ("+".join(sorted(p.original))),
    )


def _with_prefixes(categories: list[str]) -> list[str]:
    """Each category plus its archive ("cs.LG" -> "cs.LG", "cs"), so a prefix filter is an equality lookup."""
    out = dict.fromkeys(categories)
    for c in categories:
        if "." in c:
            out.setdefault(c.split(".", 1)[0])
    return list(out)
