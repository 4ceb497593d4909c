"""The follows interface every backend implements (SQLite now, PostgreSQL later).

A reader follows authors, categories and venues; the store keeps the follows and, per paper, the keys a follow is
matched by (author blocks and given-name forms from :mod:`paperboy.library.authors`, venue keys), each with the
paper's listing date so that "the newest papers of one follow" is one index range.  Which forms of a block name the
same person is decided by ``library.authors`` at read time, never here, so a second backend cannot drift.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date

#: What a reader can follow.
KINDS = ("author", "category", "venue")


@dataclass(frozen=True, slots=True)
class Follow:
    """One follow: ``key`` is what matching uses ("bengio|y|yoshua", "cs.LG", "iclr"); ``value`` what the reader
    chose, as they wrote it ("Yoshua Bengio", "cs.LG", "ICLR")."""

    kind: str
    key: str
    value: str
    created_at: float


#: One paper of a follow: its listing date (ISO, None without a date) and pid.
Listed = tuple[str | None, int]


class Follows(abc.ABC):
    """Follows and the per-paper keys they are matched by."""

    @abc.abstractmethod
    def add(self, reader: int, kind: str, key: str, value: str, at: float) -> bool:
        """Follow; False when the reader already followed that key (the first value is kept)."""

    @abc.abstractmethod
    def remove(self, reader: int, kind: str, key: str) -> bool:
        """Unfollow; False when the reader did not follow it."""

    @abc.abstractmethod
    def of(self, reader: int) -> list[Follow]:
        """The reader's follows, oldest first."""

    @abc.abstractmethod
    def forms(self, block: str) -> list[str]:
        """The given-name forms papers list in an author block (``library.authors.Name.block``)."""

    @abc.abstractmethod
    def newest(self, kind: str, key: str, forms: tuple[str, ...] = (), *, limit: int,
               since: date | None = None) -> list[Listed]:
        """Newest first (ties: newest pid first; undated papers last), at most ``limit``, listed on or after
        ``since``: a category's papers (an archive includes its categories), a venue's, or an author block's
        papers under any of ``forms``."""

    @abc.abstractmethod
    def last_seen(self, reader: int, *, look: bool) -> int | None:
        """The newest pid of the store at the reader's look before their latest one at the Following page (None
        before a second look): papers after it are "new".  With ``look`` this is a new look: the latest look's
        boundary becomes the answer and the store's newest pid now becomes the latest look's."""

    @abc.abstractmethod
    def fill_keys(self) -> int:
        """Index the papers stored before follows existed (once); how many papers it indexed."""
