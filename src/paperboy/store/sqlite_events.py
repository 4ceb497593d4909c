"""Reader signals in the SQLite store (tables of migration 5), in the same file as the papers.

Each write is part of one ``BEGIN IMMEDIATE`` transaction that appends to ``events`` and updates everything
derived from it: ``reader_marks`` (standing upvotes/saves, with the time each was set, so clearing one removes
exactly what it added), ``paper_counts``, and ``trend`` (one row per window, period and paper, holding the
formula's summed amounts and the counts behind them; ``trend_sizes`` is kept by triggers).  Ranking a period is
then an index range on ``trend_rank``.  Reads use :class:`SQLiteStore`'s per-thread connections; concurrent
writes share commits on a connection of their own (:class:`_GroupCommit`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from paperboy.store.events import MARKS, Counts, Event, Events, Kind, MarkChange, Scoring, TrendRow
from paperboy.store.sqlite import SQLiteStore
from paperboy.store.sqlite_collections import saved_to_default

_COUNT_COLUMN = {Kind.UPVOTE: "upvotes", Kind.SAVE: "saves", Kind.VIEW: "views"}


class SQLiteEvents(Events):
    """Events in the same SQLite file as the papers (so a paper's counts and its row share one database)."""

    def __init__(self, store: SQLiteStore, scoring: Scoring) -> None:
        self.store = store
        self.scoring = scoring
        self._pruned_before: str = ""  # the view de-duplication rows of days before this one are deleted
        self._group = _GroupCommit(store, self._bump_version)

    # -- writing -------------------------------------------------------------------------------------------------

    def set_mark(self, reader: int, pid: int, kind: Kind, on: bool, at: datetime) -> MarkChange:
        if kind not in MARKS:
            raise ValueError(f"{kind} is not a mark (marks: {', '.join(MARKS)})")
        t = _seconds(at)

        def write(db: sqlite3.Connection) -> tuple[MarkChange, bool]:
            changed = self._mark(db, reader, pid, kind, on, t, log=True)
            row = db.execute("SELECT upvotes, saves, views FROM paper_counts WHERE pid=?", (pid,)).fetchone()
            marks = frozenset(Kind(k) for (k,) in db.execute(
                "SELECT kind FROM reader_marks WHERE reader=? AND pid=?", (reader, pid)))
            return MarkChange(changed, Counts(*row) if row else Counts(), marks), changed

        return self._group.run(write)

    def record_view(self, pid: int, visitor: str, at: datetime) -> bool:
        day, t = at.astimezone(UTC).date().isoformat(), _seconds(at)

        def write(db: sqlite3.Connection) -> tuple[bool, bool]:
            if day > self._pruned_before:  # only today's rows can still de-duplicate anything
                db.execute("DELETE FROM view_marks WHERE day < ?", (day,))
                self._pruned_before = day
            counted = self._view(db, pid, visitor, day, t)
            return counted, counted

        return self._group.run(write)

    def append(self, events: Iterable[Event]) -> int:
        applied = 0
        with self._transaction() as db:
            for e in events:
                t = _seconds(e.at)
                if e.kind is Kind.VIEW:
                    day = e.at.astimezone(UTC).date().isoformat()
                    applied += self._view(db, e.pid, e.actor, day, t)
                else:
                    applied += self._mark(db, _reader_of(e.actor), e.pid, e.kind, e.on, t, log=True)
            if applied:
                self._bump_version(db)
        return applied

    def rebuild(self) -> None:
        with self._transaction() as db:
            for table in ("reader_marks", "paper_counts", "trend", "trend_sizes"):
                db.execute(f"DELETE FROM {table}")
            after = 0
            while chunk := self.log(after, 10_000):
                for e in chunk:
                    t = _seconds(e.at)
                    if e.kind is Kind.VIEW:
                        self._derive(db, e.pid, e.kind, +1, t)
                    else:
                        self._mark(db, _reader_of(e.actor), e.pid, e.kind, e.on, t, log=False)
                after = chunk[-1].eid
            self._bump_version(db)

    def _mark(self, db, reader: int, pid: int, kind: Kind, on: bool, t: float, *, log: bool) -> bool:
        """Set or clear one mark with its derived state; False (and nothing written) if it is already so."""
        row = db.execute("SELECT at FROM reader_marks WHERE reader=? AND pid=? AND kind=?",
                         (reader, pid, kind.value)).fetchone()
        if (row is not None) == on:
            return False
        if log:
            db.execute("INSERT INTO events(at, kind, pid, actor, is_on) VALUES (?,?,?,?,?)",
                       (t, kind.value, pid, f"r:{reader}", int(on)))
            if kind is Kind.SAVE:  # a save is also an item of the reader's default collection (same transaction)
                saved_to_default(db, reader, pid, on, t)
        if on:
            db.execute("INSERT INTO reader_marks(reader, pid, kind, at) VALUES (?,?,?,?)",
                       (reader, pid, kind.value, t))
            self._derive(db, pid, kind, +1, t)
        else:
            db.execute("DELETE FROM reader_marks WHERE reader=? AND pid=? AND kind=?", (reader, pid, kind.value))
            self._derive(db, pid, kind, -1, row[0])  # remove what the mark added, in the periods it was set in
        return True

    def _view(self, db, pid: int, visitor: str, day: str, t: float) -> bool:
        """Log and count a view unless the visitor already viewed the paper that day."""
        if not db.execute("INSERT OR IGNORE INTO view_marks(pid, visitor, day) VALUES (?,?,?)",
                          (pid, visitor, day)).rowcount:
            return False
        db.execute("INSERT INTO events(at, kind, pid, actor, is_on) VALUES (?,?,?,?,1)",
                   (t, Kind.VIEW.value, pid, visitor))
        self._derive(db, pid, Kind.VIEW, +1, t)
        return True

    def _derive(self, db, pid: int, kind: Kind, sign: int, t: float) -> None:
        """Add (``sign`` +1) or take back (-1) one event's share of the counts and of each trending period."""
        column = _COUNT_COLUMN[kind]
        db.execute(f"INSERT INTO paper_counts(pid, {column}) VALUES (?, ?) "
                   f"ON CONFLICT(pid) DO UPDATE SET {column} = {column} + excluded.{column}", (pid, sign))
        rows = [(c.window, c.start.isoformat(), pid, sign * c.amount, sign)
                for c in self.scoring.contributions(kind, datetime.fromtimestamp(t, UTC))]
        db.executemany(f"INSERT INTO trend(span, start, pid, score, {column}) VALUES (?,?,?,?,?) "
                       f"ON CONFLICT(span, start, pid) DO UPDATE SET score = score + excluded.score, "
                       f"{column} = {column} + excluded.{column}", rows)
        if sign < 0:  # no zero-count rows stay behind to be ranked
            db.executemany("DELETE FROM trend WHERE span=? AND start=? AND pid=? AND upvotes=0 AND saves=0"
                           " AND views=0", [r[:3] for r in rows])

    def forget_reader(self, db: sqlite3.Connection, reader: int) -> None:
        """Take back everything a reader did, inside the caller's transaction (deleting an account): their marks'
        and views' shares of counts and trending, their log entries and today's view de-duplication rows."""
        actor = f"r:{reader}"
        for pid, kind, at in db.execute("SELECT pid, kind, at FROM reader_marks WHERE reader=?", (reader,)).fetchall():
            self._derive(db, pid, Kind(kind), -1, at)
        for pid, at in db.execute("SELECT pid, at FROM events WHERE actor=? AND kind=?",
                                  (actor, Kind.VIEW.value)).fetchall():
            self._derive(db, pid, Kind.VIEW, -1, at)
        db.execute("DELETE FROM reader_marks WHERE reader=?", (reader,))
        db.execute("DELETE FROM events WHERE actor=?", (actor,))
        db.execute("DELETE FROM view_marks WHERE visitor=?", (actor,))
        self._bump_version(db)

    def _bump_version(self, db) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='events_version'")

    def _transaction(self) -> _Transaction:
        return _Transaction(self.store.db)

    # -- reading -------------------------------------------------------------------------------------------------

    def counts(self, pids: Iterable[int]) -> dict[int, Counts]:
        out: dict[int, Counts] = {}
        for chunk in _chunks(list(dict.fromkeys(int(p) for p in pids))):
            marks = ",".join("?" * len(chunk))
            for pid, up, saves, views in self.store.db.execute(
                f"SELECT pid, upvotes, saves, views FROM paper_counts WHERE pid IN ({marks})", chunk
            ):
                out[pid] = Counts(up, saves, views)
        return out

    def marks(self, reader: int, pids: Iterable[int]) -> dict[int, frozenset[Kind]]:
        found: dict[int, set[Kind]] = {}
        for chunk in _chunks(list(dict.fromkeys(int(p) for p in pids))):
            marks = ",".join("?" * len(chunk))
            for pid, kind in self.store.db.execute(
                f"SELECT pid, kind FROM reader_marks WHERE reader=? AND pid IN ({marks})",
                (reader, *chunk),
            ):
                found.setdefault(pid, set()).add(Kind(kind))
        return {pid: frozenset(kinds) for pid, kinds in found.items()}

    def top(self, window: str, start: date, limit: int, offset: int = 0,
            exclude: frozenset[int] = frozenset()) -> list[TrendRow]:
        where, args = _period(window, start, exclude)
        sql = (f"SELECT pid, score, upvotes, saves, views FROM trend WHERE {where}"
               " ORDER BY score DESC, pid LIMIT ? OFFSET ?")
        return [TrendRow(pid, score, Counts(up, saves, views))
                for pid, score, up, saves, views in self.store.db.execute(sql, (*args, int(limit), int(offset)))]

    def period_size(self, window: str, start: date, exclude: frozenset[int] = frozenset()) -> int:
        db, key = self.store.db, (window, start.isoformat())
        row = db.execute("SELECT papers FROM trend_sizes WHERE span=? AND start=?", key).fetchone()
        if not row:
            return 0
        hidden = 0
        for chunk in _chunks(sorted(exclude)):
            marks = ",".join("?" * len(chunk))
            hidden += db.execute(f"SELECT count(*) FROM trend WHERE span=? AND start=? AND pid IN ({marks})",
                                 (*key, *chunk)).fetchone()[0]
        return row[0] - hidden

    def version(self) -> int:
        return int(self.store.db.execute("SELECT value FROM meta WHERE key='events_version'").fetchone()[0])

    def log(self, after: int = 0, limit: int = 10_000) -> list[Event]:
        return [Event(eid, datetime.fromtimestamp(at, UTC), Kind(kind), pid, actor, bool(is_on))
                for eid, at, kind, pid, actor, is_on in self.store.db.execute(
                    "SELECT eid, at, kind, pid, actor, is_on FROM events WHERE eid > ? ORDER BY eid LIMIT ?",
                    (int(after), int(limit)))]


class _Transaction:
    """``with``: BEGIN IMMEDIATE on a connection; COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


_T = TypeVar("_T")


class _Write(Generic[_T]):
    """One caller's write waiting for a group commit; ``fn`` returns (its result, whether it changed anything)."""

    def __init__(self, fn: Callable[[sqlite3.Connection], tuple[_T, bool]]) -> None:
        self.fn = fn
        self.done = False
        self.result: _T | None = None
        self.error: BaseException | None = None


class _GroupCommit:
    """Leader/follower group commit: concurrent writers (web requests on the thread pool) share one transaction.

    A commit, not the statements, is most of an event's cost in SQLite (about 3x in bench/bench_trending.py).
    The first caller to find no commit in progress becomes the leader: it takes every queued write, runs them
    in one transaction, commits once and wakes the others.  If a write fails (rare: routes check the paper
    first), the batch is rolled back and each write retried in its own transaction, so only the failing caller
    gets the exception.  Writes arriving meanwhile wait for the next leader, one of themselves.  A lone caller
    simply commits its own write, so nothing waits on a timer and there is no thread to start or stop.  Leaders
    take turns on one connection of their own (not each thread's): one warm page cache instead of one per thread.
    """

    def __init__(self, store: SQLiteStore, on_change: Callable[[sqlite3.Connection], None]) -> None:
        self.store = store
        self.on_change = on_change
        self.conn: sqlite3.Connection | None = None  # the writers' own connection: one warm page cache
        self.cond = threading.Condition()
        self.queue: list[_Write] = []
        self.leading = False

    def run(self, fn: Callable[[sqlite3.Connection], tuple[_T, bool]]) -> _T:
        mine: _Write[_T] = _Write(fn)
        with self.cond:
            self.queue.append(mine)
            while self.leading and not mine.done:
                self.cond.wait()
            if not mine.done:
                self.leading = True
                batch, self.queue = self.queue, []
        if not mine.done:
            try:
                self._commit(batch)
            finally:
                with self.cond:
                    self.leading = False
                    self.cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Write]) -> None:
        try:
            try:
                self._apply(batch)
            except Exception:  # noqa: BLE001 - some write failed: each gets its own transaction, only it fails
                if len(batch) == 1:
                    raise
                for write in batch:
                    try:
                        self._apply([write])
                    except Exception as e:  # noqa: BLE001 - handed to the caller whose write it was
                        write.error = e
        except BaseException as e:
            for write in batch:
                write.error = e
        finally:
            for write in batch:
                write.done = True

    def _apply(self, writes: list[_Write]) -> None:
        if self.conn is None or not self.store.owns(self.conn):
            self.conn = self.store.connect()
        with _Transaction(self.conn) as db:
            changed = False
            for write in writes:
                write.result, write_changed = write.fn(db)
                changed |= write_changed
            if changed:
                self.on_change(db)


def _period(window: str, start: date, exclude: frozenset[int]) -> tuple[str, list]:
    """The WHERE clause selecting one period's rows of ``trend``, without the excluded papers."""
    where, args = "span=? AND start=?", [window, start.isoformat()]
    if exclude:
        where += f" AND pid NOT IN ({','.join('?' * len(exclude))})"
        args.extend(sorted(exclude))
    return where, args


def _seconds(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return at.timestamp()


def _reader_of(actor: str) -> int:
    prefix, _, number = actor.partition(":")
    if prefix != "r" or not number.isdigit():
        raise ValueError(f"an upvote or save needs a reader actor 'r:<id>', not {actor!r}")
    return int(number)


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
