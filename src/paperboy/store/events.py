"""The reader-signals interface every backend implements (SQLite now, PostgreSQL later).

Readers' upvotes, saves and views are kept as an append-only event log (the truth: replaying it rebuilds
everything) plus state derived from it on every write, in the same transaction: the current per-paper counts, each
reader's standing marks, and per-period trending aggregates.  The trending *formula* is not here: a backend is given
a :class:`Scoring` (``paperboy.trending`` supplies it) and only stores the amounts it returns, so a second backend
never copies the rules.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class Kind(StrEnum):
    """What a reader did.  Upvotes and saves are marks a reader sets and clears; a view is counted once."""

    UPVOTE = "upvote"
    SAVE = "save"
    VIEW = "view"


#: The kinds a reader can set and clear (toggles); views only ever add.
MARKS: tuple[Kind, ...] = (Kind.UPVOTE, Kind.SAVE)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the log.  ``on`` is False for a cleared mark; ``actor`` is ``r:<reader id>`` or an
    anonymous visitor's daily pseudonym ``v:<hash>`` (views only)."""

    eid: int
    at: datetime
    kind: Kind
    pid: int
    actor: str
    on: bool = True


@dataclass(frozen=True, slots=True)
class Counts:
    """A paper's current standing upvotes and saves, and its de-duplicated views."""

    upvotes: int = 0
    saves: int = 0
    views: int = 0


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one event adds to one trending period: ``amount`` is already scaled by the formula."""

    window: str
    start: date
    amount: float


@dataclass(frozen=True, slots=True)
class TrendRow:
    """A paper's aggregate in one period: the stored (epoch-relative) score and the counts behind it."""

    pid: int
    stored: float
    counts: Counts


class Scoring(Protocol):
    """The formula as a backend sees it: the contributions an event of ``kind`` at ``at`` makes."""

    def contributions(self, kind: Kind, at: datetime) -> list[Contribution]: ...


@dataclass(frozen=True, slots=True)
class MarkChange:
    """The result of setting or clearing a mark: whether anything changed, the paper's counts and the reader's
    marks on it after the write (read in the same transaction)."""

    changed: bool
    counts: Counts
    marks: frozenset[Kind] = frozenset()


class Events(abc.ABC):
    """Reader signals.  Every write is one transaction covering the log and all derived state."""

    @abc.abstractmethod
    def set_mark(self, reader: int, pid: int, kind: Kind, on: bool, at: datetime) -> MarkChange:
        """Set (``on``) or clear a reader's upvote or save; idempotent (no event when nothing changes).
        Clearing removes the mark's contribution from the periods it was made in.  Safe from many threads;
        a backend may commit concurrent writes together, but returns only once this one is durable."""

    @abc.abstractmethod
    def record_view(self, pid: int, visitor: str, at: datetime) -> bool:
        """Count a view unless ``visitor`` already viewed ``pid`` on ``at``'s UTC day; True if counted."""

    @abc.abstractmethod
    def counts(self, pids: Iterable[int]) -> dict[int, Counts]:
        """Current counts of the given papers (papers without events are absent)."""

    @abc.abstractmethod
    def marks(self, reader: int, pids: Iterable[int]) -> dict[int, frozenset[Kind]]:
        """The reader's standing marks on the given papers (papers without marks are absent)."""

    @abc.abstractmethod
    def top(self, window: str, start: date, limit: int, offset: int = 0,
            exclude: frozenset[int] = frozenset()) -> list[TrendRow]:
        """Papers with activity in the period (``window``, ``start``), highest stored score first, then lowest
        pid; ``exclude`` (e.g. hidden papers) is skipped before paging.  An index range, never a scan."""

    @abc.abstractmethod
    def period_size(self, window: str, start: date, exclude: frozenset[int] = frozenset()) -> int:
        """How many papers (not in ``exclude``) have activity in the period."""

    @abc.abstractmethod
    def version(self) -> int:
        """A number that grows with every write (caches of trending views key on it)."""

    @abc.abstractmethod
    def log(self, after: int = 0, limit: int = 10_000) -> list[Event]:
        """Events with ``eid > after``, in order."""

    @abc.abstractmethod
    def append(self, events: Iterable[Event]) -> int:
        """Apply already-timed events in order, in one transaction (imports, replays, benchmarks); events whose
        mark does not change anything are skipped like :meth:`set_mark` skips them.  Returns how many counted."""

    @abc.abstractmethod
    def rebuild(self) -> None:
        """Recompute counts, marks and trending aggregates from the log alone (e.g. after a formula change)."""

    def replay(self, batch: int = 10_000) -> Iterator[Event]:
        """The whole log, oldest first, read in batches."""
        after = 0
        while chunk := self.log(after, batch):
            yield from chunk
            after = chunk[-1].eid
