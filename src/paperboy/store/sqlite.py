"""The embedded store: one SQLite file in WAL mode.  All of paperboy's SQL for papers is here.

A little over 450 lines because it is the one home of that SQL (writes, lookups, listings, counters);
the identity rules live in :mod:`paperboy.store.identity` and the schema in :mod:`paperboy.store.schema`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson

from paperboy.papers import (
    InvalidId,
    Paper,
    hash_dict,
    listing_span,
    normalise_author,
    normalise_doi,
    now_utc,
    paper_from_dict,
    parse_arxiv_id,
)
from paperboy.sources.base import Checkpoint, Reject
from paperboy.store import identity, sqlite_follows
from paperboy.store.base import BatchResult, Store, StoredPaper, StoreFull, StoreStats
from paperboy.store.merge import merge
from paperboy.store.schema import MIGRATIONS, statements

_PAPER_COLUMNS = "pid, seq, data"
_INSERT_SOURCE_RECORD = "INSERT INTO source_records(hash, pid, source, version, seq, data) VALUES (?,?,?,?,?,?)"


class SQLiteStore(Store):
    """A store in one SQLite file.  Safe to share between threads: each thread gets its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []  # every thread's connection, so close() reaches them all
        self._conns_lock = threading.Lock()
        self._generation = 0  # bumped by close(): a thread's connection from before it is not reused
        self._migrate()

    # -- connections ---------------------------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """The calling thread's connection (other store modules, e.g. accounts and events, share it)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.generation != self._generation:
            conn = self.connect()
            self._local.conn, self._local.generation = conn, self._generation
        return conn

    def connect(self) -> sqlite3.Connection:
        """A new connection with the store's settings, closed by :meth:`close` (e.g. for a dedicated writer)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection; a later call on any thread opens a fresh one."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        for conn in conns:
            conn.close()
        self._local.conn = None

    def owns(self, conn: sqlite3.Connection) -> bool:
        """Whether ``conn`` is one of this store's open connections (:meth:`close` disowns them all)."""
        with self._conns_lock:
            return any(c is conn for c in self._conns)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        done = {r[0] for r in db.execute("SELECT version FROM schema_migrations")}
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(sql):
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
        with self._transaction() as db:
            result = self._write(db, papers, rejects, checkpoints or [])
        return result

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a full disk or database becomes :class:`StoreFull`, nothing half-written."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise StoreFull(f"disk full: {self.path} could not grow ({exc})") from exc
            raise

    def _write(self, db: sqlite3.Connection, papers: list[Paper], rejects: list[Reject],
               checkpoints: list[Checkpoint]) -> BatchResult:
        result = BatchResult(rejected=len(rejects))
        now = now_utc().isoformat(timespec="seconds")
        seq = int(db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()[0])
        encoded = [_encode(p) for p in papers]
        hashes = [f"{p.source}:{h}" for p, (h, _) in zip(papers, encoded, strict=True)]
        known = self._known_hashes(hashes)
        fresh = [(p, h, e) for p, h, e in zip(papers, hashes, encoded, strict=True) if h not in known]
        result.unchanged += len(papers) - len(fresh)
        ids = self._identities(identity.keys(p for p, _, _ in fresh))
        pending: set[int] = set()  # pids added in this batch and not yet inserted
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
            pid = identity.resolve(paper, ids)
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
                pending.add(pid)
                result.added += 1
                changed.add(pid)
                continue
            if pid in pending:  # merged into a paper added earlier in this batch: write that first
                self._flush_new(new_rows, new_records, new_children)
                pending.clear()
            db.execute(_INSERT_SOURCE_RECORD, (h, pid, *record))
            if merged := self._remerge(pid, paper, seq, now):
                if pid not in changed:
                    result.updated += 1
                changed.add(pid)
                ids.remember(pid, merged)
            else:
                result.unchanged += 1
        self._flush_new(new_rows, new_records, new_children)
        db.executemany(
            "INSERT INTO rejects(source, location, reason, raw, created_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(source, location, reason) DO UPDATE SET raw=excluded.raw",
            [(r.source, r.location, r.reason, r.raw, now) for r in rejects],
        )
        for cp in checkpoints:
            self._set_state(cp.key, cp.value, now)
        db.execute("UPDATE meta SET value=? WHERE key='seq'", (str(seq),))
        result.changed = sorted(changed)
        return result

    def _identities(self, keys: identity.Keys) -> identity.Known:
        """The bulk lookups identity resolution needs, one query per chunk of each kind of key."""
        db = self.db
        known = identity.Known()
        for chunk in _chunks(keys.ids):
            marks = ",".join("?" * len(chunk))
            known.by_id.update(db.execute(f"SELECT alias, pid FROM aliases WHERE alias IN ({marks})", chunk))
            known.by_id.update(db.execute(f"SELECT id, pid FROM papers WHERE id IN ({marks})", chunk))
        for column, target, values in (("arxiv_id", known.by_arxiv, keys.arxiv_ids), ("doi", known.by_doi, keys.dois)):
            for chunk in _chunks(values):
                marks = ",".join("?" * len(chunk))
                target.update(db.execute(f"SELECT {column}, pid FROM papers WHERE {column} IN ({marks})", chunk))
        for chunk in _chunks(keys.titles):
            marks = ",".join("?" * len(chunk))
            for pid, title_norm, arxiv_id, doi, authors in db.execute(
                f"SELECT pid, title_norm, arxiv_id, doi, authors FROM papers WHERE title_norm IN ({marks})", chunk
            ):
                names = [a["name"] for a in orjson.loads(authors)]
                known.by_title.setdefault(title_norm, []).append(identity.candidate(pid, arxiv_id, doi, names))
        return known

    def _flush_new(self, rows: list, records: list, children: list) -> None:
        """Insert the batch's new papers in bulk (executemany is several times faster than row by row)."""
        db = self.db
        if rows:
            db.executemany(
                "INSERT INTO papers(pid, id, arxiv_id, doi, title_norm, title, abstract, authors, categories,"
                " primary_category, submitted, updated, version, withdrawn, date_precision, listed, listed_end,"
                " data, content_hash, seq, created_at, modified_at) VALUES (" + ",".join("?" * 22) + ")",
                rows,
            )
            db.executemany(_INSERT_SOURCE_RECORD, records)
            self._write_children(children)
        rows.clear()
        records.clear()
        children.clear()

    def _known_hashes(self, hashes: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(hashes):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT hash FROM source_records WHERE hash IN ({marks})", chunk)
            known.update(r[0] for r in rows)
        return known

    def _remerge(self, pid: int, paper: Paper, seq: int, now: str) -> Paper | None:
        """Recompute a paper from all its source records; the merged paper if it changed, else None."""
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
            return None
        db.execute(
            "UPDATE papers SET id=?, arxiv_id=?, doi=?, title_norm=?, title=?, abstract=?, authors=?, categories=?,"
            " primary_category=?, submitted=?, updated=?, version=?, withdrawn=?, date_precision=?, listed=?,"
            " listed_end=?, data=?, content_hash=?, seq=?, modified_at=? WHERE pid=?",
            (*row, seq, now, pid),
        )
        db.execute("DELETE FROM aliases WHERE alias=?", (merged.id,))
        for table in ("versions", "paper_authors", "paper_categories"):
            db.execute(f"DELETE FROM {table} WHERE pid=?", (pid,))
        self._write_children([(pid, merged)])
        return merged

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
        rows = []
        for pid, p in papers:
            listed, listed_end = _span(p)
            rows.extend((c, listed, listed_end, pid) for c in _with_prefixes(p.categories))
        db.executemany("INSERT OR IGNORE INTO paper_categories(category, listed, listed_end, pid) VALUES (?,?,?,?)",
                       rows)
        sqlite_follows.write_keys(db, papers)  # what follows match papers by (migration 7)

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

    def latest(self, *, category: str | None = None, author: str | None = None, since: date | None = None,
               until: date | None = None, limit: int = 20, offset: int = 0) -> list[StoredPaper]:
        sql, args = self._listing_sql("pid", category, author, since, until)
        order = " ORDER BY listed DESC, pid DESC LIMIT ? OFFSET ?"
        return self.get_many([r[0] for r in self.db.execute(sql + order, (*args, int(limit), int(offset)))])

    def count(self, *, category: str | None = None, author: str | None = None, since: date | None = None,
              until: date | None = None) -> int:
        if not (author or since or until):  # whole listings: the counters the writes keep
            return self._counter(f"in:{category}" if category else "papers")
        sql, args = self._listing_sql("count(*)", category, author, since, until)
        return self.db.execute(sql, args).fetchone()[0]

    @staticmethod
    def _listing_sql(what: str, category: str | None, author: str | None, since: date | None,
                     until: date | None) -> tuple[str, list]:
        """One listing query: a category's rows of paper_categories, or papers (joined to an author's rows),
        each with the listing date and its span in the index, so windows and order are index range scans.
        A paper is in a window only when its whole span is (see :func:`paperboy.papers.listing_span`)."""
        args: list = []
        if category:
            sql = f"SELECT {what} FROM paper_categories WHERE category=?"
            args.append(category)
            if author:
                sql += " AND pid IN (SELECT pid FROM paper_authors WHERE name_norm=?)"
                args.append(normalise_author(author))
        elif author:
            sql = (f"SELECT {what} FROM (SELECT DISTINCT p.pid, p.listed, p.listed_end FROM paper_authors a"
                   " JOIN papers p ON p.pid=a.pid WHERE a.name_norm=?) WHERE 1")
            args.append(normalise_author(author))
        else:
            sql = f"SELECT {what} FROM papers WHERE 1"
        if since:
            sql += " AND listed >= ?"
            args.append(since.isoformat())
        if until:
            sql += " AND listed <= ? AND listed_end <= ?"
            args += [until.isoformat()] * 2
        return sql, args

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

    def stats(self) -> StoreStats:
        counts = dict(self.db.execute("SELECT key, n FROM stat_counts WHERE n != 0"))

        def by(prefix: str) -> dict[str, int]:
            return {k.removeprefix(prefix): n for k, n in counts.items() if k.startswith(prefix)}

        return StoreStats(
            papers=counts.get("papers", 0),
            with_abstract=counts.get("with_abstract", 0),
            arxiv_papers=counts.get("arxiv_papers", 0),
            versions=counts.get("versions", 0),
            source_records=counts.get("source_records", 0),
            withdrawn=counts.get("withdrawn", 0),
            rejects=counts.get("rejects", 0),
            by_category=dict(sorted(by("category:").items(), key=lambda kv: (-kv[1], kv[0]))),
            by_month=dict(sorted(by("month:").items())),
        )

    def _counter(self, key: str) -> int:
        row = self.db.execute("SELECT n FROM stat_counts WHERE key=?", (key,)).fetchone()
        return row[0] if row else 0

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
        p.date_precision,
        *_span(p),
        data,
        content_hash + ":" + ("+".join(sorted(p.original))),
    )


def _span(p: Paper) -> tuple[str | None, str | None]:
    """The listing date span as stored (``listed``, ``listed_end``): see :func:`paperboy.papers.listing_span`."""
    span = listing_span(p)
    return (span[0].isoformat(), span[1].isoformat()) if span else (None, None)


def _with_prefixes(categories: list[str]) -> list[str]:
    """Each category plus its archive ("cs.LG" -> "cs.LG", "cs"), so a prefix filter is an equality lookup."""
    out = dict.fromkeys(categories)
    for c in categories:
        if "." in c:
            out.setdefault(c.split(".", 1)[0])
    return list(out)
