"""SQLite implementations of the accounts, outbox and rate-limit seams, on :class:`SQLiteStore`'s connections.

They share the store's per-thread connection (and so its WAL file and busy timeout); every write that must
be atomic runs in one ``BEGIN IMMEDIATE`` transaction, which SQLite serialises across processes, so two
senders or two app servers never claim the same outbox row or lose a rate-limit hit.
"""

from __future__ import annotations

import json
import sqlite3

from paperboy.store.accounts import (
    Accounts,
    ApiToken,
    Mail,
    Outbox,
    OutboxCounts,
    OutboxMessage,
    RateLimits,
    Reader,
)
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_tx import returning, transaction

_READER_COLUMNS = "id, email, is_admin, hidden, created_at"
_TOKEN_COLUMNS = "id, user_id, name, created_at, last_used_at"
_INSERT_MAIL = ("INSERT INTO outbox(key, recipient, subject, body_text, body_html, headers, created_at, "
                "next_attempt_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO NOTHING")


def _reader(row: tuple | None) -> Reader | None:
    if row is None:
        return None
    return Reader(id=row[0], email=row[1], is_admin=bool(row[2]), hidden=bool(row[3]), created_at=row[4])


def _token(row: tuple) -> ApiToken:
    return ApiToken(id=row[0], user_id=row[1], name=row[2], created_at=row[3], last_used_at=row[4])




def enqueue(db: sqlite3.Connection, mail: Mail, now: float) -> bool:
    """Queue ``mail`` on ``db`` inside the caller's transaction (other SQLite seams queue mail with their rows)."""
    cur = db.execute(_INSERT_MAIL, (mail.key, mail.recipient, mail.subject, mail.text, mail.html,
                                    json.dumps(mail.headers), now, now))
    return cur.rowcount == 1


class SQLiteAccounts(Accounts):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def add_reader(self, email: str, now: float, *, is_admin: bool = False) -> Reader:
        db = self.store.db
        with transaction(db):
            db.execute("INSERT INTO users(email, is_admin, created_at) VALUES (?,?,?) ON CONFLICT(email) DO NOTHING",
                       (email, int(is_admin), now))
            if is_admin:
                db.execute("UPDATE users SET is_admin=1 WHERE email=?", (email,))
        reader = self.reader_by_email(email)
        assert reader is not None
        return reader

    def reader_by_email(self, email: str) -> Reader | None:
        return _reader(self.store.db.execute(f"SELECT {_READER_COLUMNS} FROM users WHERE email=?", (email,)).fetchone())

    def reader_by_id(self, reader_id: int) -> Reader | None:
        return _reader(self.store.db.execute(f"SELECT {_READER_COLUMNS} FROM users WHERE id=?", (reader_id,))
                       .fetchone())

    def readers(self) -> list[Reader]:
        rows = self.store.db.execute(f"SELECT {_READER_COLUMNS} FROM users ORDER BY id").fetchall()
        return [r for r in map(_reader, rows) if r is not None]

    def add_sign_in_link(self, email: str, link_hash: bytes, expires_at: float, mail: Mail, now: float) -> None:
        db = self.store.db
        with transaction(db):
            db.execute("INSERT INTO sign_in_links(link_hash, email, created_at, expires_at) VALUES (?,?,?,?)",
                       (link_hash, email, now, expires_at))
            enqueue(db, mail, now)

    def sign_in_link_email(self, link_hash: bytes, now: float) -> str | None:
        row = self.store.db.execute("SELECT email FROM sign_in_links WHERE link_hash=? AND used_at IS NULL "
                                    "AND expires_at > ?", (link_hash, now)).fetchone()
        return row[0] if row else None

    def sign_in(self, link_hash: bytes, session_hash: bytes, session_expires_at: float, now: float) -> Reader | None:
        db = self.store.db
        with transaction(db):
            row = returning(db, "UPDATE sign_in_links SET used_at=? WHERE link_hash=? AND used_at IS NULL "
                             "AND expires_at > ? RETURNING email", (now, link_hash, now))
            if row is None:
                return None
            email = row[0]
            db.execute("INSERT INTO users(email, created_at) VALUES (?,?) ON CONFLICT(email) DO NOTHING", (email, now))
            reader = _reader(db.execute(f"SELECT {_READER_COLUMNS} FROM users WHERE email=?", (email,)).fetchone())
            assert reader is not None
            if reader.hidden:
                return None
            db.execute("UPDATE users SET last_sign_in_at=? WHERE id=?", (now, reader.id))
            db.execute("INSERT INTO sessions(session_hash, user_id, created_at, expires_at) VALUES (?,?,?,?)",
                       (session_hash, reader.id, now, session_expires_at))
        return reader

    def session_reader(self, session_hash: bytes, now: float) -> Reader | None:
        row = self.store.db.execute(
            "SELECT u.id, u.email, u.is_admin, u.hidden, u.created_at FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.session_hash=? AND s.expires_at > ? AND u.hidden = 0",
            (session_hash, now)).fetchone()
        return _reader(row)

    def end_session(self, session_hash: bytes) -> None:
        self.store.db.execute("DELETE FROM sessions WHERE session_hash=?", (session_hash,))

    def end_sessions(self, reader_id: int) -> int:
        return self.store.db.execute("DELETE FROM sessions WHERE user_id=?", (reader_id,)).rowcount

    def add_token(self, reader_id: int, name: str, token_hash: bytes, now: float) -> ApiToken:
        row = returning(
            self.store.db,
            "INSERT INTO api_tokens(user_id, name, token_hash, created_at) VALUES (?,?,?,?) "
            f"RETURNING {_TOKEN_COLUMNS}",
            (reader_id, name, token_hash, now))
        assert row is not None
        return _token(row)

    def tokens(self, reader_id: int) -> list[ApiToken]:
        rows = self.store.db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE user_id=? AND revoked_at IS NULL "
                                     "ORDER BY id DESC", (reader_id,)).fetchall()
        return [_token(r) for r in rows]

    def revoke_token(self, reader_id: int, token_id: int, now: float) -> bool:
        cur = self.store.db.execute(
            "UPDATE api_tokens SET revoked_at=? WHERE id=? AND user_id=? AND revoked_at IS NULL",
            (now, token_id, reader_id))
        return cur.rowcount == 1

    def token_reader(self, token_hash: bytes, now: float) -> Reader | None:
        row = returning(
            self.store.db,
            "UPDATE api_tokens SET last_used_at=? WHERE token_hash=? AND revoked_at IS NULL RETURNING user_id",
            (now, token_hash))
        if row is None:
            return None
        reader = self.reader_by_id(row[0])
        return None if reader is None or reader.hidden else reader

    def set_reader_hidden(self, reader_id: int, hidden: bool) -> bool:
        db = self.store.db
        with transaction(db):
            if db.execute("UPDATE users SET hidden=? WHERE id=?", (int(hidden), reader_id)).rowcount != 1:
                return False
            if hidden:
                db.execute("DELETE FROM sessions WHERE user_id=?", (reader_id,))
        return True

    def set_paper_hidden(self, pid: int, hidden: bool, by: int | None, now: float) -> bool:
        db = self.store.db
        with transaction(db):
            if db.execute("SELECT 1 FROM papers WHERE pid=?", (pid,)).fetchone() is None:
                return False
            if hidden:
                cur = db.execute("INSERT INTO hidden_papers(pid, hidden_by, hidden_at) VALUES (?,?,?) "
                                 "ON CONFLICT(pid) DO NOTHING", (pid, by, now))
            else:
                cur = db.execute("DELETE FROM hidden_papers WHERE pid=?", (pid,))
            if cur.rowcount:
                # Hiding changes what every page showing the paper may show: move the paper to the end of the
                # change sequence, so caches keyed by the papers version (and the indexes) see a change.
                seq = int(db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()[0]) + 1
                db.execute("UPDATE meta SET value=? WHERE key='seq'", (str(seq),))
                db.execute("UPDATE papers SET seq=? WHERE pid=?", (seq, pid))
        return True

    def hidden_papers(self) -> frozenset[int]:
        return frozenset(r[0] for r in self.store.db.execute("SELECT pid FROM hidden_papers"))

    def hidden_paper_ids(self) -> frozenset[str]:
        return frozenset(r[0] for r in self.store.db.execute(
            "SELECT p.id FROM hidden_papers h JOIN papers p ON p.pid = h.pid"))

    def purge(self, now: float) -> None:
        db = self.store.db
        with transaction(db):
            db.execute("DELETE FROM sign_in_links WHERE expires_at < ?", (now,))
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))


class SQLiteOutbox(Outbox):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def enqueue(self, mail: Mail, now: float) -> bool:
        return enqueue(self.store.db, mail, now)

    def claim(self, worker: str, now: float, lease_s: float) -> OutboxMessage | None:
        db = self.store.db
        due = ("SELECT id, key, recipient, subject, body_text, body_html, attempts, created_at, headers FROM outbox "
               "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? "
               "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT 1")
        if db.execute(due, (now, now)).fetchone() is None:  # idle senders poll without taking the write lock
            return None
        with transaction(db):
            row = db.execute(due, (now, now)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE outbox SET claimed_by=?, lease_until=? WHERE id=?", (worker, now + lease_s, row[0]))
        headers = tuple((str(name), str(value)) for name, value in json.loads(row[8]))
        mail = Mail(key=row[1], recipient=row[2], subject=row[3], text=row[4], html=row[5], headers=headers)
        return OutboxMessage(id=row[0], mail=mail, attempts=row[6], created_at=row[7])

    def mark_sent(self, message_id: int, now: float) -> bool:
        cur = self.store.db.execute("UPDATE outbox SET sent_at=?, lease_until=NULL, last_error=NULL, body_text='', "
                                    "body_html=NULL, headers='[]' WHERE id=? AND sent_at IS NULL", (now, message_id))
        return cur.rowcount == 1

    def mark_retry(self, message_id: int, error: str, next_attempt_at: float) -> None:
        self.store.db.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=?, "
                              "lease_until=NULL WHERE id=? AND sent_at IS NULL", (error, next_attempt_at, message_id))

    def mark_failed(self, message_id: int, error: str, now: float) -> None:
        self.store.db.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, failed_at=?, lease_until=NULL "
                              "WHERE id=? AND sent_at IS NULL", (error, now, message_id))

    def counts(self) -> OutboxCounts:
        row = self.store.db.execute(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL), "
            "count(*) FILTER (WHERE sent_at IS NOT NULL), count(*) FILTER (WHERE failed_at IS NOT NULL) "
            "FROM outbox").fetchone()
        return OutboxCounts(pending=row[0], sent=row[1], failed=row[2])


class SQLiteRateLimits(RateLimits):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def hit(self, key: str, window_start: float) -> int:
        return returning(self.store.db,
            "INSERT INTO rate_limits(key, window_start, hits) VALUES (?,?,1) "
            "ON CONFLICT(key, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits",
            (key, window_start))[0]

    def purge(self, before: float) -> None:
        self.store.db.execute("DELETE FROM rate_limits WHERE window_start < ?", (before,))
