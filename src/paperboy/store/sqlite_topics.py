"""SQLite implementation of :class:`~paperboy.store.topics.Topics` (migration 6), on :class:`SQLiteStore`'s
per-thread connections.  The topic cap is checked inside the inserting ``BEGIN IMMEDIATE`` transaction, so two
concurrent saves cannot both pass it."""

from __future__ import annotations

from collections.abc import Iterable

from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_tx import transaction
from paperboy.store.topics import Topic, TopicFields, TopicLimit, Topics

_FIELDS = ("name", "query", "category", "since", "until", "author", "venue", "mode")
_COLUMNS = "id, user_id, " + ", ".join(_FIELDS) + ", created_at, updated_at, looked_at"
_CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit


def _topic(row: tuple | None) -> Topic | None:
    if row is None:
        return None
    return Topic(id=row[0], reader=row[1], fields=TopicFields(*row[2:10]), created_at=row[10], updated_at=row[11],
                 looked_at=row[12])


def _values(fields: TopicFields) -> tuple:
    return tuple(getattr(fields, f) for f in _FIELDS)


class SQLiteTopics(Topics):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def create(self, reader: int, fields: TopicFields, now: float, cap: int) -> Topic:
        db = self.store.db
        with transaction(db):
            if db.execute("SELECT count(*) FROM topics WHERE user_id=?", (reader,)).fetchone()[0] >= cap:
                raise TopicLimit(cap)
            cur = db.execute(f"INSERT INTO topics(user_id, {', '.join(_FIELDS)}, created_at, updated_at) "
                             f"VALUES (?,?,?,?,?,?,?,?,?,?,?)", (reader, *_values(fields), now, now))
            topic_id = cur.lastrowid
        topic = self.get(reader, int(topic_id))
        assert topic is not None
        return topic

    def get(self, reader: int, topic_id: int) -> Topic | None:
        row = self.store.db.execute(f"SELECT {_COLUMNS} FROM topics WHERE id=? AND user_id=?",
                                    (topic_id, reader)).fetchone()
        return _topic(row)

    def list(self, reader: int) -> list[Topic]:
        rows = self.store.db.execute(f"SELECT {_COLUMNS} FROM topics WHERE user_id=? ORDER BY id", (reader,))
        return [t for t in map(_topic, rows) if t is not None]

    def count(self, reader: int) -> int:
        return int(self.store.db.execute("SELECT count(*) FROM topics WHERE user_id=?", (reader,)).fetchone()[0])

    def update(self, reader: int, topic_id: int, fields: TopicFields, now: float) -> Topic | None:
        sets = ", ".join(f"{f}=?" for f in _FIELDS)
        cur = self.store.db.execute(f"UPDATE topics SET {sets}, updated_at=? WHERE id=? AND user_id=?",
                                    (*_values(fields), now, topic_id, reader))
        return self.get(reader, topic_id) if cur.rowcount else None

    def delete(self, reader: int, topic_id: int) -> bool:
        cur = self.store.db.execute("DELETE FROM topics WHERE id=? AND user_id=?", (topic_id, reader))
        return cur.rowcount == 1

    def seen(self, topic_id: int, pids: Iterable[int]) -> set[int]:
        wanted = list(pids)
        found: set[int] = set()
        db = self.store.db
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in db.execute(
                f"SELECT pid FROM topic_seen WHERE topic_id=? AND pid IN ({marks})", (topic_id, *chunk)))
        return found

    def all_seen(self, topic_id: int) -> list[int]:
        rows = self.store.db.execute("SELECT pid FROM topic_seen WHERE topic_id=? ORDER BY seen_at, pid", (topic_id,))
        return [r[0] for r in rows]

    def mark_seen(self, topic_id: int, pids: Iterable[int], now: float, *, looked: bool = True) -> None:
        db = self.store.db
        with transaction(db):
            db.executemany("INSERT INTO topic_seen(topic_id, pid, seen_at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                           [(topic_id, pid, now) for pid in pids])
            if looked:
                db.execute("UPDATE topics SET looked_at=? WHERE id=?", (now, topic_id))

    def set_feed_token(self, reader: int, token_hash: bytes, now: float) -> None:
        self.store.db.execute("INSERT INTO topic_feed_tokens(user_id, token_hash, created_at) VALUES (?,?,?) "
                              "ON CONFLICT(user_id) DO UPDATE SET token_hash=excluded.token_hash, "
                              "created_at=excluded.created_at", (reader, token_hash, now))

    def revoke_feed_token(self, reader: int) -> bool:
        return self.store.db.execute("DELETE FROM topic_feed_tokens WHERE user_id=?", (reader,)).rowcount == 1

    def feed_token_reader(self, token_hash: bytes) -> int | None:
        row = self.store.db.execute("SELECT t.user_id FROM topic_feed_tokens t JOIN users u ON u.id = t.user_id "
                                    "WHERE t.token_hash=? AND u.hidden=0", (token_hash,)).fetchone()
        return row[0] if row else None

    def feed_token_created(self, reader: int) -> float | None:
        row = self.store.db.execute("SELECT created_at FROM topic_feed_tokens WHERE user_id=?", (reader,)).fetchone()
        return row[0] if row else None
