"""SQLite implementation of the :class:`~paperboy.store.subscriptions.Subscriptions` seam (migration 9).

It shares :class:`SQLiteStore`'s per-thread connections like the accounts seams; writes that must be atomic (a
request and its mail, a confirmation and the reader it creates) run in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from paperboy.store.accounts import Mail
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_accounts import enqueue
from paperboy.store.sqlite_tx import returning, transaction
from paperboy.store.subscriptions import STOPPING_BOUNCES, Subscription, Subscriptions, SubscriptionStats

_COLUMNS = ("s.reader_id, u.email, s.frequency, s.send_hour, s.tz, s.skip_no_announcement, s.paused, "
            "s.categories, s.sections, s.bounced_at, s.unsubscribed_at, s.created_at")
_SELECT = f"SELECT {_COLUMNS} FROM subscriptions s JOIN users u ON u.id = s.reader_id"
#: Settings a caller may change, and the column each is kept in (values are checked by paperboy.digest.settings).
_SETTABLE = {"frequency": "frequency", "send_hour": "send_hour", "tz": "tz",
             "skip_no_announcement_days": "skip_no_announcement", "paused": "paused", "categories": "categories",
             "sections": "sections"}


def _subscription(row: tuple | None) -> Subscription | None:
    if row is None:
        return None
    return Subscription(reader_id=row[0], email=row[1], frequency=row[2], send_hour=row[3], tz=row[4],
                        skip_no_announcement_days=bool(row[5]), paused=bool(row[6]),
                        categories=tuple(row[7].split()), sections=tuple(row[8].split()),
                        bounced=row[9] is not None, unsubscribed=row[10] is not None, created_at=row[11])


def _column_value(name: str, value: object) -> object:
    if name in ("categories", "sections"):
        return " ".join(value)  # type: ignore[arg-type]
    if name in ("paused", "skip_no_announcement_days"):
        return int(bool(value))
    return value


class SQLiteSubscriptions(Subscriptions):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self._key: bytes | None = None

    def request(self, email: str, frequency: str, tz: str, token_hash: bytes, expires_at: float, mail: Mail,
                now: float) -> None:
        db = self.store.db
        with transaction(db):
            db.execute("INSERT INTO subscription_requests(token_hash, email, frequency, tz, created_at, expires_at) "
                       "VALUES (?,?,?,?,?,?)", (token_hash, email, frequency, tz, now, expires_at))
            enqueue(db, mail, now)

    def request_email(self, token_hash: bytes, now: float) -> str | None:
        row = self.store.db.execute("SELECT email FROM subscription_requests WHERE token_hash=? AND used_at IS NULL "
                                    "AND expires_at > ?", (token_hash, now)).fetchone()
        return row[0] if row else None

    def confirm(self, token_hash: bytes, now: float) -> Subscription | None:
        db = self.store.db
        with transaction(db):
            row = returning(db, "UPDATE subscription_requests SET used_at=? WHERE token_hash=? AND used_at IS NULL "
                             "AND expires_at > ? RETURNING email, frequency, tz", (now, token_hash, now))
            if row is None:
                return None
            email, frequency, tz = row
            db.execute("INSERT INTO users(email, created_at) VALUES (?,?) ON CONFLICT(email) DO NOTHING", (email, now))
            reader_id = db.execute("SELECT id FROM users WHERE email=?", (email,)).fetchone()[0]
            # A new subscription takes the request's choices; an existing one keeps its settings but the
            # frequency asked for now, and the confirmation proves the address works again.
            db.execute("INSERT INTO subscriptions(reader_id, frequency, tz, confirmed_at, created_at) "
                       "VALUES (?,?,?,?,?) ON CONFLICT(reader_id) DO UPDATE SET frequency=excluded.frequency, "
                       "paused=0, unsubscribed_at=NULL, bounced_at=NULL, bounce_kind=NULL, "
                       "confirmed_at=excluded.confirmed_at", (reader_id, frequency, tz, now, now))
        return self.get(reader_id)

    def get(self, reader_id: int) -> Subscription | None:
        return _subscription(self.store.db.execute(f"{_SELECT} WHERE s.reader_id=?", (reader_id,)).fetchone())

    def by_email(self, email: str) -> Subscription | None:
        return _subscription(self.store.db.execute(f"{_SELECT} WHERE u.email=?", (email,)).fetchone())

    def update(self, reader_id: int, **changes: object) -> Subscription | None:
        unknown = set(changes) - set(_SETTABLE)
        if unknown:
            raise ValueError(f"not a subscription setting: {', '.join(sorted(unknown))}")
        if changes:
            assignments = ", ".join(f"{_SETTABLE[name]}=?" for name in changes)
            values = [_column_value(name, value) for name, value in changes.items()]
            self.store.db.execute(f"UPDATE subscriptions SET {assignments} WHERE reader_id=?", (*values, reader_id))
        return self.get(reader_id)

    def unsubscribe(self, reader_id: int, now: float) -> bool:
        cur = self.store.db.execute("UPDATE subscriptions SET unsubscribed_at=? WHERE reader_id=? "
                                    "AND unsubscribed_at IS NULL", (now, reader_id))
        return cur.rowcount == 1

    def active(self, now: datetime | float | None = None) -> Iterator[Subscription]:
        rows = self.store.db.execute(f"{_SELECT} WHERE s.paused=0 AND s.unsubscribed_at IS NULL "
                                     "AND s.bounced_at IS NULL AND u.hidden=0 ORDER BY s.reader_id").fetchall()
        for row in rows:
            sub = _subscription(row)
            assert sub is not None
            yield sub

    def mark_bounced(self, email: str, kind: str, now: float) -> bool:
        if kind not in STOPPING_BOUNCES:
            return False
        cur = self.store.db.execute(
            "UPDATE subscriptions SET bounced_at=?, bounce_kind=? WHERE bounced_at IS NULL "
            "AND reader_id=(SELECT id FROM users WHERE email=?)", (now, kind, email))
        return cur.rowcount == 1

    def record_papers(self, reader_id: int, period: str, day: str, paper_ids: Iterable[str], now: float) -> None:
        self.store.db.executemany(
            "INSERT INTO digest_papers(reader_id, paper_id, period, day, at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(reader_id, paper_id) DO NOTHING", [(reader_id, p, period, day, now) for p in paper_ids])

    def seen_papers(self, reader_id: int, except_period: str | None = None) -> set[str]:
        rows = self.store.db.execute("SELECT paper_id FROM digest_papers WHERE reader_id=? AND period IS NOT ?",
                                     (reader_id, except_period))
        return {r[0] for r in rows}

    def last_day(self, reader_id: int, before_period: str | None = None) -> str | None:
        row = self.store.db.execute("SELECT max(day) FROM digest_papers WHERE reader_id=? AND period IS NOT ?",
                                    (reader_id, before_period)).fetchone()
        return row[0]

    def record_feedback(self, reader_id: int, paper_id: str, vote: str, now: float) -> None:
        if vote not in ("up", "down"):
            raise ValueError(f"a digest vote is 'up' or 'down', not {vote!r}")
        self.store.db.execute("INSERT INTO digest_feedback(reader_id, paper_id, vote, at) VALUES (?,?,?,?) "
                              "ON CONFLICT(reader_id, paper_id) DO UPDATE SET vote=excluded.vote, at=excluded.at",
                              (reader_id, paper_id, vote, now))

    def record_click(self, reader_id: int, paper_id: str, period: str, now: float) -> None:
        self.store.db.execute("INSERT INTO digest_clicks(reader_id, paper_id, period, at) VALUES (?,?,?,?)",
                              (reader_id, paper_id, period, now))

    def feedback(self, reader_id: int) -> dict[str, str]:
        rows = self.store.db.execute("SELECT paper_id, vote FROM digest_feedback WHERE reader_id=?", (reader_id,))
        return {r[0]: r[1] for r in rows}

    def signing_key(self) -> bytes:
        if self._key is None:
            row = self.store.db.execute("SELECT value FROM meta WHERE key='digest_signing_key'").fetchone()
            self._key = bytes.fromhex(row[0])
        return self._key

    def stats(self) -> SubscriptionStats:
        db = self.store.db
        row = db.execute(
            "SELECT count(*) FILTER (WHERE unsubscribed_at IS NULL AND bounced_at IS NULL AND paused=0), "
            "count(*) FILTER (WHERE unsubscribed_at IS NULL AND bounced_at IS NULL AND paused=1), "
            "count(*) FILTER (WHERE unsubscribed_at IS NOT NULL), "
            "count(*) FILTER (WHERE unsubscribed_at IS NULL AND bounced_at IS NOT NULL) FROM subscriptions").fetchone()
        pending = db.execute("SELECT count(*) FROM subscription_requests WHERE used_at IS NULL").fetchone()[0]
        votes = dict(db.execute("SELECT vote, count(*) FROM digest_feedback GROUP BY vote").fetchall())
        votes["click"] = db.execute("SELECT count(*) FROM digest_clicks").fetchone()[0]
        return SubscriptionStats(active=row[0], paused=row[1], unsubscribed=row[2], bounced=row[3],
                                 pending_requests=pending, feedback=votes)
