"""The digest's delivery side of the store, as interfaces: digest rows, leases, the cycle's log, bounces.

Why a row per (reader, period): it is the one fact that makes a digest exactly-once.  It is inserted when a
sender claims the reader's period (unique, so a second scheduler finds it taken), holds a lease while the
digest is composed, and its content is frozen in the same transaction that queues the mail in the outbox under
the key ``digest:{reader}:{period}`` — so a crash either leaves a claim whose lease runs out (composed again
later, nothing sent) or a queued mail (sent by the outbox, never composed again).  Times are Unix seconds,
always passed in by the caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from paperboy.store.accounts import Mail

#: Digest row states.  ``claimed``: a sender is composing it; ``queued``: content frozen and mail in the outbox
#: (whether it went out is the outbox row's ``sent_at``); ``empty``: nothing to send this period; ``failed``:
#: composing failed ``attempts`` times (claimable again until :data:`MAX_COMPOSE_ATTEMPTS`).
STATES = ("claimed", "queued", "empty", "failed")
MAX_COMPOSE_ATTEMPTS = 5


def digest_key(reader_id: int, period: str) -> str:
    """The outbox idempotency key (and so the Message-ID seed) of a reader's digest for a period."""
    return f"digest:{reader_id}:{period}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A digest row this worker holds until ``lease_until``."""

    id: int
    reader_id: int
    period: str
    worker: str
    lease_until: float


@dataclass(frozen=True, slots=True)
class DigestRow:
    id: int
    reader_id: int
    period: str
    email: str
    state: str
    content: str | None
    attempts: int
    error: str | None
    sent_at: float | None  # from the outbox: when the SMTP server accepted the mail
    created_at: float = 0.0  # when the period was first claimed


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One UTC day of the admin view."""

    day: str
    queued: int = 0
    sent: int = 0
    empty: int = 0
    failed: int = 0
    bounces: int = 0


@dataclass(frozen=True, slots=True)
class StepRun:
    """The last run of one daily-cycle step."""

    step: str
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    ok: bool | None
    counts: dict = field(default_factory=dict)
    error: str | None = None
    failures: int = 0  # consecutive failed runs
    next_attempt_at: float = 0.0
    last_success_at: float | None = None


class Digests(ABC):
    """Digest rows and the papers each reader was sent."""

    @abstractmethod
    def claim(self, reader_id: int, period: str, email: str, worker: str, now: float,
              lease_s: float) -> Claim | None:
        """Take the (reader, period) digest for composing, or None when it is done, empty, given up, or another
        worker's live claim.  An expired claim or a failed compose (under the attempt limit) is taken over."""

    @abstractmethod
    def freeze(self, claim: Claim, content: str, mail: Mail, now: float,
               also: Callable[[], None] | None = None) -> bool:
        """In one transaction: store the content, queue ``mail``, and run ``also`` (the digest's record of the
        papers it gives, on the same database connection).

        False (and nothing written) when the claim was lost: its lease ran out and another worker took it.
        """

    @abstractmethod
    def mark_empty(self, claim: Claim, now: float) -> bool:
        """Nothing to send for this period (an empty digest is not sent); False when the claim was lost."""

    @abstractmethod
    def mark_failed(self, claim: Claim, error: str, now: float) -> None:
        """Composing failed: release the claim so a later round tries again (up to the attempt limit)."""

    @abstractmethod
    def get(self, reader_id: int, period: str) -> DigestRow | None: ...

    @abstractmethod
    def rows(self, reader_id: int | None = None) -> list[DigestRow]:
        """Digest rows (of one reader, or all), oldest first."""

    @abstractmethod
    def sent_total(self) -> int:
        """How many digests the SMTP server has accepted, ever (a round's "sent" is the difference)."""

    @abstractmethod
    def daily(self, since: float) -> list[DayCounts]:
        """Per UTC day since ``since``: digests queued, sent (accepted by the server), empty, failed; bounces."""


class Leases(ABC):
    """Named leases in the database: one holder at a time among every process sharing it."""

    @abstractmethod
    def acquire(self, name: str, holder: str, now: float, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder`` until ``now + ttl_s``; False while another holder's lease lives."""

    @abstractmethod
    def release(self, name: str, holder: str) -> None: ...

    @abstractmethod
    def holder(self, name: str, now: float) -> str | None:
        """Who holds ``name`` now (None when nobody does)."""


class CycleLog(ABC):
    """Each daily-cycle step's last run, failures and next allowed attempt."""

    @abstractmethod
    def started(self, step: str, now: float) -> None: ...

    @abstractmethod
    def finished(self, step: str, now: float, *, ok: bool, counts: dict, error: str | None,
                 retry_at: float = 0.0) -> StepRun:
        """Record the end of a run; a failure counts one more consecutive failure, a success resets them."""

    @abstractmethod
    def get(self, step: str) -> StepRun | None: ...

    @abstractmethod
    def all(self) -> list[StepRun]: ...


class Bounces(ABC):
    """Hard bounces, soft bounces and complaints, as reported by a provider or a parsed DSN (the history; the
    subscription's own state is ``Subscriptions.mark_bounced``)."""

    @abstractmethod
    def record(self, email: str, kind: str, stopping: bool, now: float, detail: str = "") -> int:
        """Record one; a ``stopping`` one also gives up the address's unsent mail.  Returns how many were given up."""


@dataclass(frozen=True, slots=True)
class DigestSeams:
    """The four delivery seams, backed by one database."""

    digests: Digests
    leases: Leases
    cycle: CycleLog
    bounces: Bounces


def open_digest_seams(store: object) -> DigestSeams:
    """The delivery seams backed by ``store``'s database."""
    from paperboy.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from paperboy.store.sqlite_digests import SQLiteBounces, SQLiteCycleLog, SQLiteDigests, SQLiteLeases

        return DigestSeams(SQLiteDigests(store), SQLiteLeases(store), SQLiteCycleLog(store), SQLiteBounces(store))
    raise TypeError(f"no digest backend for {type(store).__name__}")
