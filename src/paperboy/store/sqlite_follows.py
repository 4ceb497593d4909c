"""Follows in the SQLite store (tables of migration 7), on :class:`SQLiteStore`'s per-thread connections.

``paper_people`` (author block, given-name form, listing date, pid) and ``paper_venues`` (venue key, listing date,
pid) are written with each paper's other child rows (:func:`write_keys`, called by the store's write path) and
dropped by a trigger when the paper's content changes; papers stored before migration 7 are indexed once by
:meth:`SQLiteFollows.fill_keys`.  Category follows read ``paper_categories``, which already carries listing dates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import orjson

from paperboy.library import authors
from paperboy.papers import Paper, listing_span
from paperboy.store.follows import Follow, Follows, Listed
from paperboy.store.sqlite_tx import transaction

if TYPE_CHECKING:
    from paperboy.store.sqlite import SQLiteStore

_FILLED = "follow_keys_filled"


def write_keys(db: sqlite3.Connection, papers: Iterable[tuple[int, Paper]]) -> None:
    """Index papers for follows (in the caller's transaction): their author keys and venue key."""
    rows = []
    for pid, paper in papers:
        span = listing_span(paper)
        rows.append((pid, [a.name for a in paper.authors], paper.journal_ref, span[0].isoformat() if span else None))
    _write(db, rows)


def _write(db: sqlite3.Connection, rows: Iterable[tuple[int, list[str], str | None, str | None]]) -> None:
    """Insert the key rows of ``(pid, author names, journal_ref, listed)``."""
    people, venues = [], []
    for pid, names, journal_ref, listed in rows:
        people.extend((block, form, listed, pid) for block, form in authors.keys(names))
        if venue := authors.venue_key(journal_ref):
            venues.append((venue, listed, pid))
    db.executemany("INSERT OR IGNORE INTO paper_people(block, form, listed, pid) VALUES (?,?,?,?)", people)
    db.executemany("INSERT OR IGNORE INTO paper_venues(venue, listed, pid) VALUES (?,?,?)", venues)



class SQLiteFollows(Follows):
    """Follows in the same SQLite file as the papers."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def add(self, reader: int, kind: str, key: str, value: str, at: float) -> bool:
        with transaction(self.store.db) as db:
            cur = db.execute("INSERT OR IGNORE INTO follows(reader, kind, key, value, created_at) VALUES (?,?,?,?,?)",
                             (reader, kind, key, value, at))
            return cur.rowcount == 1

    def remove(self, reader: int, kind: str, key: str) -> bool:
        with transaction(self.store.db) as db:
            return db.execute("DELETE FROM follows WHERE reader=? AND kind=? AND key=?",
                              (reader, kind, key)).rowcount == 1

    def of(self, reader: int) -> list[Follow]:
        rows = self.store.db.execute(
            "SELECT kind, key, value, created_at FROM follows WHERE reader=? ORDER BY created_at, kind, key", (reader,))
        return [Follow(*row) for row in rows]

    def forms(self, block: str) -> list[str]:
        # A skip scan of the primary key: one index seek per distinct form, however many papers each form has
        # (SELECT DISTINCT would read every row of a prolific author's block).
        return [f for (f,) in self.store.db.execute(
            "WITH RECURSIVE f(form) AS (SELECT min(form) FROM paper_people WHERE block=:b UNION ALL"
            " SELECT (SELECT min(form) FROM paper_people WHERE block=:b AND form > f.form) FROM f"
            " WHERE f.form IS NOT NULL) SELECT form FROM f WHERE form IS NOT NULL", {"b": block})]

    def newest(self, kind: str, key: str, forms: tuple[str, ...] = (), *, limit: int,
               since: date | None = None) -> list[Listed]:
        after = " AND listed >= ?" if since else ""
        tail = (since.isoformat(),) if since else ()
        order = " ORDER BY listed DESC, pid DESC LIMIT ?"
        db = self.store.db
        if kind == "category":
            return db.execute(f"SELECT listed, pid FROM paper_categories WHERE category=?{after}{order}",
                              (key, *tail, limit)).fetchall()
        if kind == "venue":
            return db.execute(f"SELECT listed, pid FROM paper_venues WHERE venue=?{after}{order}",
                              (key, *tail, limit)).fetchall()
        if kind != "author":
            raise ValueError(f"unknown follow kind {kind!r}")
        out: list[Listed] = []
        for form in forms:  # one index range per form, merged by the caller's ordering
            out.extend(db.execute(f"SELECT listed, pid FROM paper_people WHERE block=? AND form=?{after}{order}",
                                  (key, form, *tail, limit)))
        out.sort(key=lambda r: (r[0] or "", r[1]), reverse=True)
        return out[:limit]

    def last_seen(self, reader: int, *, look: bool) -> int | None:
        db = self.store.db
        if not look:
            row = db.execute("SELECT previous FROM follow_seen WHERE reader=?", (reader,)).fetchone()
            return row[0] if row else None
        with transaction(db):
            row = db.execute(
                "INSERT INTO follow_seen(reader, previous, current) VALUES (?, NULL, (SELECT coalesce(max(pid), 0)"
                " FROM papers)) ON CONFLICT(reader) DO UPDATE SET previous = current, current = excluded.current"
                " RETURNING previous", (reader,)).fetchall()
        return row[0][0] if row else None

    def fill_keys(self) -> int:
        db = self.store.db
        if db.execute("SELECT value FROM meta WHERE key=?", (_FILLED,)).fetchone()[0] == "1":
            return 0
        with transaction(db):
            if db.execute("SELECT value FROM meta WHERE key=?", (_FILLED,)).fetchone()[0] == "1":
                return 0  # another process filled them meanwhile
            done, after = 0, 0
            while rows := db.execute(
                "SELECT pid, authors, json_extract(data, '$.journal_ref'), listed FROM papers WHERE pid > ?"
                " ORDER BY pid LIMIT 5000", (after,)).fetchall():
                _write(db, ((pid, [a["name"] for a in orjson.loads(names)], ref, listed)
                            for pid, names, ref, listed in rows))
                done, after = done + len(rows), rows[-1][0]
            db.execute("UPDATE meta SET value='1' WHERE key=?", (_FILLED,))
        return done
