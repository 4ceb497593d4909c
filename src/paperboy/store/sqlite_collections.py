"""Collections in the SQLite store (tables of migration 8), on :class:`SQLiteStore`'s per-thread connections.

:func:`saved_to_default` is called by the events backend inside the transaction of a save or unsave, so the
default collection and the reader's saves never disagree.  Deleting a reader is one ``BEGIN IMMEDIATE``
transaction: the events backend takes back the reader's marks and views, the digest's history tables (which name
the reader without a foreign key) and mail to the address go, then ``DELETE FROM users`` cascades to every table
that references a reader (sessions, tokens, collections and their items, pending marks, topics, follows,
subscriptions).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from paperboy.store.collections import DEFAULT_NAME, Collection, Collections, Item, PendingMark
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_tx import transaction

if TYPE_CHECKING:
    from paperboy.store.sqlite_events import SQLiteEvents

#: Tables that name a reader without a foreign key (the digest's history, migration 9): emptied by hand.
_UNLINKED_READER_TABLES = ("digest_papers", "digest_feedback", "digest_clicks")
_COLUMNS = ("c.id, c.reader, c.name, c.description, c.is_default, c.share_hash IS NOT NULL, c.created_at, "
            "(SELECT count(*) FROM collection_items i WHERE i.collection = c.id)")



def _collection(row: tuple | None) -> Collection | None:
    if row is None:
        return None
    return Collection(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6], row[7])


def _ensure_default(db: sqlite3.Connection, reader: int, now: float) -> int | None:
    """The reader's default collection, created if missing; None when ``reader`` has no account (the events
    layer also records marks of bare reader numbers: replays, benchmarks)."""
    row = db.execute("SELECT id FROM collections WHERE reader=? AND is_default=1", (reader,)).fetchone()
    if row:
        return row[0]
    made = db.execute("INSERT INTO collections(reader, name, is_default, position, created_at) "
                      "SELECT id, ?, 1, 0, ? FROM users WHERE id=? RETURNING id",
                      (DEFAULT_NAME, now, reader)).fetchall()
    return made[0][0] if made else None


def _append(db: sqlite3.Connection, collection: int, pid: int | None, ref: str, note: str, now: float) -> bool:
    if pid is not None and db.execute("SELECT 1 FROM collection_items WHERE collection=? AND pid=?",
                                      (collection, pid)).fetchone():
        return False
    return db.execute(
        "INSERT INTO collection_items(collection, pid, paper_ref, note, position, added_at) "
        "SELECT ?, ?, ?, ?, coalesce(max(position), 0) + 1, ? FROM collection_items WHERE collection=? "
        "ON CONFLICT DO NOTHING", (collection, pid, ref, note, now, collection)).rowcount == 1


def saved_to_default(db: sqlite3.Connection, reader: int, pid: int, on: bool, at: float) -> None:
    """Mirror a save (``on``) or unsave of ``pid`` into the reader's default collection, in the caller's
    transaction (the events backend's)."""
    if on:
        collection = _ensure_default(db, reader, at)
        if collection is not None:
            ref = db.execute("SELECT id FROM papers WHERE pid=?", (pid,)).fetchone()[0]
            _append(db, collection, pid, ref, "", at)
    else:
        db.execute("DELETE FROM collection_items WHERE pid=? AND collection IN "
                   "(SELECT id FROM collections WHERE reader=? AND is_default=1)", (pid, reader))


class SQLiteCollections(Collections):
    def __init__(self, store: SQLiteStore, events: SQLiteEvents) -> None:
        self.store = store
        self.events = events

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def of_reader(self, reader: int) -> list[Collection]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM collections c WHERE c.reader=? "
                               "ORDER BY c.is_default DESC, c.position, c.id", (reader,)).fetchall()
        return [c for c in map(_collection, rows) if c is not None]

    def get(self, reader: int, collection_id: int) -> Collection | None:
        return _collection(self.db.execute(f"SELECT {_COLUMNS} FROM collections c WHERE c.id=? AND c.reader=?",
                                           (collection_id, reader)).fetchone())

    def ensure_default(self, reader: int, now: float) -> Collection:
        row = self.db.execute("SELECT id FROM collections WHERE reader=? AND is_default=1", (reader,)).fetchone()
        if row is not None:  # the common case needs no write lock
            cid = row[0]
        else:
            with transaction(self.db) as db:
                cid = _ensure_default(db, reader, now)
        found = self.get(reader, cid) if cid is not None else None
        if found is None:
            raise LookupError(f"no reader {reader}")
        return found

    def create(self, reader: int, name: str, description: str, now: float) -> Collection | None:
        db = self.db
        try:
            with transaction(db):
                cid = db.execute(
                    "INSERT INTO collections(reader, name, description, position, created_at) "
                    "SELECT ?, ?, ?, coalesce(max(position), 0) + 1, ? FROM collections WHERE reader=? RETURNING id",
                    (reader, name, description, now, reader)).fetchall()[0][0]
        except sqlite3.IntegrityError:
            return None
        return self.get(reader, cid)

    def update(self, reader: int, collection_id: int, name: str, description: str) -> bool:
        try:
            with transaction(self.db):
                self.db.execute("UPDATE collections SET name=?, description=? WHERE id=? AND reader=?",
                                (name, description, collection_id, reader))
        except sqlite3.IntegrityError:
            return False
        return True

    def delete(self, reader: int, collection_id: int) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM collections WHERE id=? AND reader=? AND is_default=0", (collection_id, reader))

    def items(self, collection_id: int) -> list[Item]:
        rows = self.db.execute(
            "SELECT coalesce(p.id, i.paper_ref), i.pid, i.note, i.position, i.added_at FROM collection_items i "
            "LEFT JOIN papers p ON p.pid = i.pid WHERE i.collection=? ORDER BY i.position, i.paper_ref",
            (collection_id,)).fetchall()
        return [Item(*row) for row in rows]

    def add_item(self, collection_id: int, pid: int | None, paper_ref: str, note: str, now: float) -> bool:
        with transaction(self.db):
            return _append(self.db, collection_id, pid, paper_ref, note, now)

    def _item_where(self, collection_id: int, paper_ref: str) -> tuple[str, tuple]:
        """Items are named by the paper's current id, or by the imported id when the paper is not here."""
        return ("collection=? AND (paper_ref=? OR pid = (SELECT pid FROM papers WHERE id=?))",
                (collection_id, paper_ref, paper_ref))

    def set_note(self, collection_id: int, paper_ref: str, note: str) -> bool:
        where, args = self._item_where(collection_id, paper_ref)
        with transaction(self.db):
            return self.db.execute(f"UPDATE collection_items SET note=? WHERE {where}", (note, *args)).rowcount > 0

    def remove_item(self, collection_id: int, paper_ref: str) -> bool:
        where, args = self._item_where(collection_id, paper_ref)
        with transaction(self.db):
            return self.db.execute(f"DELETE FROM collection_items WHERE {where}", args).rowcount > 0

    def reorder(self, collection_id: int, paper_refs: list[str]) -> None:
        current = [(it.paper_id, it.pid) for it in self.items(collection_id)]
        wanted = {ref: n for n, ref in enumerate(dict.fromkeys(paper_refs))}
        order = sorted(range(len(current)), key=lambda k: (wanted.get(current[k][0], len(wanted)), k))
        with transaction(self.db):
            for position, k in enumerate(order, start=1):
                paper_id, pid = current[k]
                self.db.execute("UPDATE collection_items SET position=? WHERE collection=? AND "
                                + ("pid=?" if pid is not None else "paper_ref=?"),
                                (position, collection_id, pid if pid is not None else paper_id))

    def set_share(self, reader: int, collection_id: int, share_hash: bytes | None) -> None:
        with transaction(self.db):
            self.db.execute("UPDATE collections SET share_hash=? WHERE id=? AND reader=?",
                            (share_hash, collection_id, reader))

    def by_share(self, share_hash: bytes) -> Collection | None:
        return _collection(self.db.execute(  # a reader hidden by an admin shares nothing
            f"SELECT {_COLUMNS} FROM collections c JOIN users u ON u.id = c.reader WHERE c.share_hash=? "
            "AND u.hidden = 0", (share_hash,)).fetchone())

    def pending(self, reader: int) -> list[PendingMark]:
        rows = self.db.execute("SELECT kind, paper_ref, at FROM pending_marks WHERE reader=? ORDER BY at, paper_ref",
                               (reader,)).fetchall()
        return [PendingMark(*row) for row in rows]

    def add_pending(self, reader: int, kind: str, paper_ref: str, at: float) -> None:
        with transaction(self.db):
            self.db.execute("INSERT INTO pending_marks(reader, kind, paper_ref, at) VALUES (?,?,?,?) "
                            "ON CONFLICT DO NOTHING", (reader, kind, paper_ref, at))

    def remove_pending(self, reader: int, kind: str, paper_ref: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM pending_marks WHERE reader=? AND kind=? AND paper_ref=?",
                            (reader, kind, paper_ref))

    def standing_marks(self, reader: int) -> list[PendingMark]:
        rows = self.db.execute("SELECT m.kind, p.id, m.at FROM reader_marks m JOIN papers p ON p.pid = m.pid "
                               "WHERE m.reader=? ORDER BY m.at, p.id", (reader,)).fetchall()
        return [PendingMark(*row) for row in rows]

    def delete_reader(self, reader: int) -> bool:
        with transaction(self.db) as db:
            row = db.execute("SELECT email FROM users WHERE id=?", (reader,)).fetchone()
            if row is None:
                return False
            self.events.forget_reader(db, reader)
            for table in _UNLINKED_READER_TABLES:
                db.execute(f"DELETE FROM {table} WHERE reader_id=?", (reader,))
            for table, column in (("sign_in_links", "email"), ("subscription_requests", "email"),
                                  ("outbox", "recipient")):
                db.execute(f"DELETE FROM {table} WHERE {column}=?", (row[0],))
            db.execute("DELETE FROM users WHERE id=?", (reader,))
        return True
