"""SQLite implementations of the digest, lease, cycle-log and bounce seams (migration 10).

Each state change that must be atomic runs in one ``BEGIN IMMEDIATE`` transaction, which SQLite serialises
across processes: two schedulers never hold one digest row, and a digest's content, its sent papers and its
outbox mail land together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from paperboy.store.accounts import Mail
from paperboy.store.digests import (
    MAX_COMPOSE_ATTEMPTS,
    Bounces,
    Claim,
    CycleLog,
    DayCounts,
    DigestRow,
    Digests,
    Leases,
    StepRun,
    digest_key,
)
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_accounts import enqueue
from paperboy.store.sqlite_tx import returning, transaction

_ROW = ("SELECT d.id, d.reader_id, d.period, d.email, d.state, d.content, d.attempts, d.error, o.sent_at, "
        "d.created_at FROM digests d LEFT JOIN outbox o ON o.key = d.mail_key")


def _row(r: tuple) -> DigestRow:
    return DigestRow(id=r[0], reader_id=r[1], period=r[2], email=r[3], state=r[4], content=r[5], attempts=r[6],
                     error=r[7], sent_at=r[8], created_at=r[9])


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


class SQLiteDigests(Digests):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def claim(self, reader_id: int, period: str, email: str, worker: str, now: float,
              lease_s: float) -> Claim | None:
        db = self.store.db
        until = now + lease_s
        # The scheduler asks every minute for every reader past their hour: answer "done" without the write lock.
        row = db.execute("SELECT 1 FROM digests WHERE reader_id=? AND period=? AND NOT ((state='claimed' AND "
                         "lease_until <= ?) OR (state='failed' AND attempts < ?))",
                         (reader_id, period, now, MAX_COMPOSE_ATTEMPTS)).fetchone()
        if row is not None:
            return None
        with transaction(db):
            row = returning(db, "INSERT INTO digests(reader_id, period, email, state, claimed_by, lease_until, "
                             "created_at) VALUES (?,?,?,'claimed',?,?,?) ON CONFLICT(reader_id, period) DO NOTHING "
                             "RETURNING id", (reader_id, period, email, worker, until, now))
            if row is None:
                row = returning(db, "UPDATE digests SET state='claimed', claimed_by=?, lease_until=?, email=? "
                                 "WHERE reader_id=? AND period=? AND ((state='claimed' AND lease_until <= ?) "
                                 "OR (state='failed' AND attempts < ?)) RETURNING id",
                                 (worker, until, email, reader_id, period, now, MAX_COMPOSE_ATTEMPTS))
        if row is None:
            return None
        return Claim(id=row[0], reader_id=reader_id, period=period, worker=worker, lease_until=until)

    def _finish(self, claim: Claim, state: str, now: float, content: str | None = None,
                mail_key: str | None = None) -> bool:
        cur = self.store.db.execute(
            "UPDATE digests SET state=?, content=?, mail_key=?, claimed_by=NULL, lease_until=NULL, error=NULL, "
            "done_at=? WHERE id=? AND state='claimed' AND claimed_by=?",
            (state, content, mail_key, now, claim.id, claim.worker))
        return cur.rowcount == 1

    def freeze(self, claim: Claim, content: str, mail: Mail, now: float,
               also: Callable[[], None] | None = None) -> bool:
        if mail.key != digest_key(claim.reader_id, claim.period):
            raise ValueError(f"a digest's mail key must be {digest_key(claim.reader_id, claim.period)!r}")
        db = self.store.db
        with transaction(db):
            if not self._finish(claim, "queued", now, content, mail.key):
                return False
            enqueue(db, mail, now)
            if also is not None:
                also()
        return True

    def mark_empty(self, claim: Claim, now: float) -> bool:
        return self._finish(claim, "empty", now)

    def mark_failed(self, claim: Claim, error: str, now: float) -> None:
        self.store.db.execute("UPDATE digests SET state='failed', attempts=attempts+1, error=?, claimed_by=NULL, "
                              "lease_until=NULL, done_at=? WHERE id=? AND state='claimed' AND claimed_by=?",
                              (error[:500], now, claim.id, claim.worker))

    def get(self, reader_id: int, period: str) -> DigestRow | None:
        r = self.store.db.execute(f"{_ROW} WHERE d.reader_id=? AND d.period=?", (reader_id, period)).fetchone()
        return _row(r) if r else None

    def rows(self, reader_id: int | None = None) -> list[DigestRow]:
        if reader_id is None:
            return [_row(r) for r in self.store.db.execute(f"{_ROW} ORDER BY d.id")]
        return [_row(r) for r in self.store.db.execute(f"{_ROW} WHERE d.reader_id=? ORDER BY d.id", (reader_id,))]

    def sent_total(self) -> int:
        return self.store.db.execute("SELECT count(*) FROM digests d JOIN outbox o ON o.key = d.mail_key "
                                     "WHERE o.sent_at IS NOT NULL").fetchone()[0]

    def daily(self, since: float) -> list[DayCounts]:
        days: dict[str, dict[str, int]] = {}
        db = self.store.db
        for state, done_at, sent_at, failed_at in db.execute(
                "SELECT d.state, d.done_at, o.sent_at, o.failed_at FROM digests d "
                "LEFT JOIN outbox o ON o.key = d.mail_key WHERE d.done_at >= ?", (since,)):
            counts = days.setdefault(_day(done_at), {})
            kind = "failed" if state == "failed" or failed_at else state
            counts[kind] = counts.get(kind, 0) + 1
            if sent_at:
                sent = days.setdefault(_day(sent_at), {})
                sent["sent"] = sent.get("sent", 0) + 1
        for (at,) in db.execute("SELECT at FROM bounces WHERE at >= ?", (since,)):
            counts = days.setdefault(_day(at), {})
            counts["bounces"] = counts.get("bounces", 0) + 1
        return [DayCounts(day=day, **{k: v for k, v in c.items() if k != "claimed"})
                for day, c in sorted(days.items(), reverse=True)]


class SQLiteLeases(Leases):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def acquire(self, name: str, holder: str, now: float, ttl_s: float) -> bool:
        db = self.store.db
        with transaction(db):
            row = returning(db, "INSERT INTO leases(name, holder, until) VALUES (?,?,?) ON CONFLICT(name) DO "
                             "UPDATE SET holder=excluded.holder, until=excluded.until "
                             "WHERE leases.holder=excluded.holder OR leases.until <= ? RETURNING holder",
                             (name, holder, now + ttl_s, now))
        return row is not None

    def release(self, name: str, holder: str) -> None:
        self.store.db.execute("DELETE FROM leases WHERE name=? AND holder=?", (name, holder))

    def holder(self, name: str, now: float) -> str | None:
        row = self.store.db.execute("SELECT holder FROM leases WHERE name=? AND until > ?", (name, now)).fetchone()
        return row[0] if row else None


_STEP = ("SELECT step, started_at, finished_at, duration_s, ok, counts, error, failures, next_attempt_at, "
         "last_success_at FROM cycle_steps")


def _step(r: tuple) -> StepRun:
    return StepRun(step=r[0], started_at=r[1], finished_at=r[2], duration_s=r[3],
                   ok=None if r[4] is None else bool(r[4]), counts=json.loads(r[5]), error=r[6], failures=r[7],
                   next_attempt_at=r[8], last_success_at=r[9])


class SQLiteCycleLog(CycleLog):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def started(self, step: str, now: float) -> None:
        self.store.db.execute("INSERT INTO cycle_steps(step, started_at) VALUES (?,?) "
                              "ON CONFLICT(step) DO UPDATE SET started_at=excluded.started_at", (step, now))

    def finished(self, step: str, now: float, *, ok: bool, counts: dict, error: str | None,
                 retry_at: float = 0.0) -> StepRun:
        db = self.store.db
        with transaction(db):
            db.execute("INSERT INTO cycle_steps(step, started_at) VALUES (?,?) ON CONFLICT(step) DO NOTHING",
                       (step, now))
            db.execute("UPDATE cycle_steps SET finished_at=?, duration_s=?-coalesce(started_at, ?), ok=?, counts=?, "
                       "error=?, failures=CASE WHEN ? THEN 0 ELSE failures+1 END, next_attempt_at=?, "
                       "last_success_at=CASE WHEN ? THEN ? ELSE last_success_at END WHERE step=?",
                       (now, now, now, int(ok), json.dumps(counts), error and error[:1000], ok, retry_at, ok, now,
                        step))
        run = self.get(step)
        assert run is not None
        return run

    def get(self, step: str) -> StepRun | None:
        r = self.store.db.execute(f"{_STEP} WHERE step=?", (step,)).fetchone()
        return _step(r) if r else None

    def all(self) -> list[StepRun]:
        return [_step(r) for r in self.store.db.execute(_STEP)]


class SQLiteBounces(Bounces):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def record(self, email: str, kind: str, stopping: bool, now: float, detail: str = "") -> int:
        db = self.store.db
        with transaction(db):
            db.execute("INSERT INTO bounces(email, kind, at, detail) VALUES (?,?,?,?)", (email, kind, now,
                                                                                         detail[:1000]))
            if not stopping:
                return 0
            return db.execute("UPDATE outbox SET failed_at=?, last_error=? WHERE recipient=? AND sent_at IS NULL "
                              "AND failed_at IS NULL", (now, f"address stopped: {kind}", email)).rowcount
