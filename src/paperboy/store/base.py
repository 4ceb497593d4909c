"""The store interface every backend implements (SQLite now, PostgreSQL later).

Callers (ingest, index, search, web, CLI) only ever talk to this interface; all SQL
lives in the backend modules.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

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
    def latest(self, *, category: str | None = None, author: str | None = None, limit: int = 20,
               offset: int = 0) -> list[StoredPaper]:
        """Newest papers first (by first submission), optionally in a category (prefix) or by an author."""

    @abc.abstractmethod
    def count(self, *, category: str | None = None, author: str | None = None) -> int:
        """How many papers :meth:`latest` would page through."""

    @abc.abstractmethod
    def get_state(self, key: str) -> dict | None:
        """A saved checkpoint value."""

    @abc.abstractmethod
    def set_state(self, key: str, value: dict | None) -> None:
        """Save (or with None, delete) a checkpoint value outside a batch."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """Counts: papers, versions, rejects, by primary category, by month of first submission."""

    @abc.abstractmethod
    def rejects(self, limit: int = 100) -> list[Reject]:
        """The most recent rejects."""

    @abc.abstractmethod
    def close(self) -> None:
        ...
