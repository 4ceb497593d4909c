"""The digest's side of the store: subscriptions, their double opt-in requests, and what each reader was sent.

A seam like :mod:`paperboy.store.accounts`: SQLite now (:mod:`paperboy.store.sqlite_subscriptions`), PostgreSQL
later without touching callers.  A subscription belongs to a reader (a ``users`` row): the row is created when
the address is confirmed, never before, so an unconfirmed address owns nothing and receives nothing but the one
confirmation mail.  Times are Unix seconds passed in by the caller (tests drive them with a fake clock).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from paperboy.store.accounts import Mail

FREQUENCIES = ("daily", "weekly")
#: The digest's sections, in the order a mail shows them.  "recommended" stays empty until recommendations land.
SECTIONS = ("trending", "follows", "recommended")
#: What a bounce report can say; ``hard`` and ``complaint`` stop all digest mail to the address.
BOUNCE_KINDS = ("hard", "soft", "complaint")
STOPPING_BOUNCES = ("hard", "complaint")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One reader's digest settings.  ``categories`` empty = every category; ``sections`` = the ones switched on."""

    reader_id: int
    email: str
    frequency: str = "daily"  # "daily" | "weekly"
    send_hour: int = 7  # 0-23, local to ``tz``
    tz: str = "UTC"  # an IANA zone name
    skip_no_announcement_days: bool = True  # daily only: no digest on days arXiv announces nothing (weekends)
    paused: bool = False
    confirmed: bool = True
    categories: tuple[str, ...] = ()
    sections: tuple[str, ...] = SECTIONS
    bounced: bool = False
    unsubscribed: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """For the admin page: how many subscriptions are in each state (a reader is counted in one state)."""

    active: int = 0
    paused: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    pending_requests: int = 0
    feedback: dict[str, int] = field(default_factory=dict)  # "up", "down", "click" -> count


class Subscriptions(ABC):
    """Digest subscriptions, confirmation requests, the papers each reader got, and their feedback."""

    @abstractmethod
    def request(self, email: str, frequency: str, tz: str, token_hash: bytes, expires_at: float, mail: Mail,
                now: float) -> None:
        """Store a confirmation request AND queue its mail in one transaction (both or neither)."""

    @abstractmethod
    def confirm(self, token_hash: bytes, now: float) -> Subscription | None:
        """Use a live confirmation request once: create the reader if new and subscribe them (confirmed, not
        paused, bounce and unsubscription cleared: the mail just arrived).  None for an unknown, used or
        expired request."""

    @abstractmethod
    def request_email(self, token_hash: bytes, now: float) -> str | None:
        """The address a live confirmation request is for, without using it (the GET page shows it)."""

    @abstractmethod
    def get(self, reader_id: int) -> Subscription | None: ...

    @abstractmethod
    def by_email(self, email: str) -> Subscription | None: ...

    @abstractmethod
    def update(self, reader_id: int, **changes: object) -> Subscription | None:
        """Change settings (fields of :class:`Subscription` except ids, email and states); None if unknown.
        Callers check values first (``paperboy.digest.settings``)."""

    @abstractmethod
    def unsubscribe(self, reader_id: int, now: float) -> bool:
        """Stop all digests for the reader; True when this call changed something."""

    @abstractmethod
    def active(self, now: datetime | float | None = None) -> Iterator[Subscription]:
        """Confirmed subscriptions that are not paused, unsubscribed or bounced, by reader id.  ``now`` is
        accepted for the seam's sake (a backend may hide rows by time); schedules decide who is due."""

    @abstractmethod
    def mark_bounced(self, email: str, kind: str, now: float) -> bool:
        """Record a bounce or complaint for ``email``; a hard bounce or complaint stops its digests.  True when a
        subscription's state changed."""

    @abstractmethod
    def record_papers(self, reader_id: int, period: str, day: str, paper_ids: Iterable[str], now: float) -> None:
        """Remember the papers of the reader's digest for ``period`` (its first ``day``): later digests leave them
        out.  Idempotent; call it when the digest's content is frozen."""

    @abstractmethod
    def seen_papers(self, reader_id: int, except_period: str | None = None) -> set[str]:
        """Ids of papers sent in the reader's digests other than ``except_period`` (so a re-compose of the same
        period after a crash gives the same digest)."""

    @abstractmethod
    def last_day(self, reader_id: int, before_period: str | None = None) -> str | None:
        """The first day (ISO) of the reader's latest digest period other than ``before_period``."""

    @abstractmethod
    def record_feedback(self, reader_id: int, paper_id: str, vote: str, now: float) -> None:
        """A reader's 👍 (``up``) or 👎 (``down``) on a paper from a digest; the latest vote stands."""

    @abstractmethod
    def record_click(self, reader_id: int, paper_id: str, period: str, now: float) -> None: ...

    @abstractmethod
    def feedback(self, reader_id: int) -> dict[str, str]:
        """The reader's standing votes: paper id -> ``up`` | ``down`` (recommendations read this)."""

    @abstractmethod
    def signing_key(self) -> bytes:
        """The instance's key for digest links (made once, at migration, kept in the database)."""

    @abstractmethod
    def stats(self) -> SubscriptionStats: ...
