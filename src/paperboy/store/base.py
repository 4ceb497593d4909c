"""The store interface every backend implements (SQLite now, PostgreSQL later).

Callers (ingest, index, search, web, CLI) only ever talk to this interface; all SQL
lives in the backend modules.  Contracts a backend must keep, which callers rely on:

- **pids are small dense integers** (1, 2, 3 ... in order of creation, never reused): the index keeps
  numpy side arrays (dates, categories) sized by the largest pid.
- **``seq`` is assigned in commit order**: every change gets a ``seq`` greater than any committed before
  it, and a reader never sees a smaller ``seq`` commit later; ``changed_since`` relies on it to sync indexes
  (one writer at a time, as SQLite's ``BEGIN IMMEDIATE`` gives; PostgreSQL needs a lock or a single writer).
- **identity rules are not the backend's**: a backend answers the bulk lookups of
  :mod:`paperboy.store.identity` and lets ``identity.resolve`` decide; merging is :mod:`paperboy.store.merge`.
- **one listing date rule**: a paper is listed by :func:`paperboy.papers.listing_span` (first submission,
  else last update, over the span its date precision allows); ``latest``/``count`` order and window by it.
- **``stats()`` is cheap**: counters kept in the writing transaction, never a scan of every paper.
- A full disk raises :class:`StoreFull` with nothing of the failing batch written.

Accounts, events and mail get their own interfaces (their own modules), not methods here.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from datetime import date

from paperboy.papers import Paper
from paperboy.sources.base import Checkpoint, Reject


@dataclass(slots=True)
class BatchResult:
    """What one committed batch did; ``changed`` lists the row ids whose paper changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    changed: list[int] = field(default_factory=list)


@dataclass(slots=True)
class StoredPaper:
    """A merged paper plus the store's bookkeeping (row id and change sequence)."""

    pid: int
    seq: int
    paper: Paper


class StoreFull(Exception):
    """The disk (or the database's size limit) is full; the failing write was rolled back whole."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What a store holds.  ``by_category``: papers by primary category ("(none)" without one), biggest first;
    ``by_month``: papers by listing month ("YYYY-MM"; "YYYY" for year-only dates; "(unknown)" undated)."""

    papers: int
    with_abstract: int
    arxiv_papers: int
    versions: int
    source_records: int
    withdrawn: int
    rejects: int
    by_category: dict[str, int]
    by_month: dict[str, int]

    def as_dict(self) -> dict:
        return asdict(self)


class Store(abc.ABC):
    """A paper store.  Implementations must make :meth:`write_batch` atomic."""

    @abc.abstractmethod
    def write_batch(
        self, papers: list[Paper], rejects: list[Reject], checkpoints: list[Checkpoint] | None = None
    ) -> BatchResult:
        """Merge papers, keep rejects and save checkpoints in ONE transaction."""

    @abc.abstractmethod
    def get(self, ident: str) -> StoredPaper | None:
        """A paper by canonical id, arXiv id (any style, with or without version), DOI or alias."""

    @abc.abstractmethod
    def get_many(self, pids: list[int]) -> list[StoredPaper]:
        """Papers by row id, in the order given (missing ids skipped)."""

    @abc.abstractmethod
    def changed_since(self, seq: int, limit: int = 1000) -> list[StoredPaper]:
        """Papers whose merged record changed after ``seq``, oldest change first."""

    @abc.abstractmethod
    def max_seq(self) -> int:
        """The latest change sequence number."""

    @abc.abstractmethod
    def latest(self, *, category: str | None = None, author: str | None = None, since: date | None = None,
               until: date | None = None, limit: int = 20, offset: int = 0) -> list[StoredPaper]:
        """Newest papers first by listing date (ties: newest pid first; undated papers last), optionally in a
        category (or archive prefix), by an author, and in the window ``since`` .. ``until`` (inclusive), which
        holds a paper only when its whole date span does (a year-only paper is in no day, week or month window).
        Callers use :func:`paperboy.catalogue.newest` rather than this."""

    @abc.abstractmethod
    def count(self, *, category: str | None = None, author: str | None = None, since: date | None = None,
              until: date | None = None) -> int:
        """How many papers :meth:`latest` would page through."""

    @abc.abstractmethod
    def get_state(self, key: str) -> dict | None:
        """A saved checkpoint value."""

    @abc.abstractmethod
    def set_state(self, key: str, value: dict | None) -> None:
        """Save (or with None, delete) a checkpoint value outside a batch."""

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Counts, kept as the data is written (cheap enough for a page request)."""

    @abc.abstractmethod
    def rejects(self, limit: int = 100) -> list[Reject]:
        """The most recent rejects."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection the store opened, whichever thread opened it."""
