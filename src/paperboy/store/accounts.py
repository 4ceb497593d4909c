"""The readers' side of the store: accounts, the mail outbox and rate-limit counters, as interfaces.

Like :class:`paperboy.store.base.Store`, these are the seams a PostgreSQL backend implements later without
touching callers.  Secrets never reach a store: callers pass SHA-256 digests of sign-in links, session
cookies and API tokens, so a copy of the database cannot sign anybody in.  Times are Unix seconds (floats),
always passed in by the caller, so tests drive expiry with a fake clock instead of sleeping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reader:
    """A signed-in person.  ``hidden`` readers (hidden by an admin) cannot sign in or use tokens."""

    id: int
    email: str
    is_admin: bool = False
    hidden: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A personal API token's public record (the secret itself is shown once, at creation, and never stored)."""

    id: int
    user_id: int
    name: str
    created_at: float
    last_used_at: float | None = None


@dataclass(frozen=True, slots=True)
class Mail:
    """One message to send.  ``key`` is its idempotency key: enqueueing the same key twice sends it once.
    ``headers`` are extra header fields (name, value), e.g. the digest's List-Unsubscribe and List-Id."""

    key: str
    recipient: str
    subject: str
    text: str
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A claimed outbox row: the mail plus how often sending it has been tried."""

    id: int
    mail: Mail
    attempts: int
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    sent: int
    failed: int


class Accounts(ABC):
    """Readers, sign-in links, sessions, API tokens and what admins hid."""

    @abstractmethod
    def add_reader(self, email: str, now: float, *, is_admin: bool = False) -> Reader:
        """Create the reader for ``email`` (already normalised), or return it; ``is_admin`` promotes, never demotes."""

    @abstractmethod
    def reader_by_email(self, email: str) -> Reader | None: ...

    @abstractmethod
    def reader_by_id(self, reader_id: int) -> Reader | None: ...

    @abstractmethod
    def readers(self) -> list[Reader]: ...

    @abstractmethod
    def add_sign_in_link(self, email: str, link_hash: bytes, expires_at: float, mail: Mail, now: float) -> None:
        """Store a sign-in link AND queue its mail in one transaction: both happen or neither does."""

    @abstractmethod
    def sign_in_link_email(self, link_hash: bytes, now: float) -> str | None:
        """The address a live (unused, unexpired) sign-in link is for, without using it."""

    @abstractmethod
    def sign_in(self, link_hash: bytes, session_hash: bytes, session_expires_at: float, now: float) -> Reader | None:
        """Use a sign-in link once and open a session, atomically.

        Returns the reader (created on first sign-in), or None when the link is unknown, expired or used, or the
        reader is hidden (then no session is opened; the link is used up all the same).
        """

    @abstractmethod
    def session_reader(self, session_hash: bytes, now: float) -> Reader | None:
        """The reader of a live session (not expired, reader not hidden)."""

    @abstractmethod
    def end_session(self, session_hash: bytes) -> None: ...

    @abstractmethod
    def end_sessions(self, reader_id: int) -> int:
        """Sign a reader out everywhere; returns how many sessions ended."""

    @abstractmethod
    def add_token(self, reader_id: int, name: str, token_hash: bytes, now: float) -> ApiToken: ...

    @abstractmethod
    def tokens(self, reader_id: int) -> list[ApiToken]:
        """The reader's live (unrevoked) tokens, newest first."""

    @abstractmethod
    def revoke_token(self, reader_id: int, token_id: int, now: float) -> bool:
        """Revoke one of *this reader's* tokens; False when it is not theirs, unknown or already revoked."""

    @abstractmethod
    def token_reader(self, token_hash: bytes, now: float) -> Reader | None:
        """The reader of a live API token (records when it was last used)."""

    @abstractmethod
    def set_reader_hidden(self, reader_id: int, hidden: bool) -> bool:
        """Hide (or show) a reader; hiding also ends their sessions.  False for an unknown reader."""

    @abstractmethod
    def set_paper_hidden(self, pid: int, hidden: bool, by: int | None, now: float) -> bool:
        """Hide (or show) a paper by its pid, counting as a change of the paper (its ``seq`` moves on, so
        caches keyed by the papers version refresh).  False for an unknown paper."""

    @abstractmethod
    def hidden_papers(self) -> frozenset[int]:
        """The pids of hidden papers (pages drop them for readers who are not admins)."""

    @abstractmethod
    def hidden_paper_ids(self) -> frozenset[str]:
        """The ids (``Paper.id``) of hidden papers, for surfaces that hold papers rather than pids."""

    @abstractmethod
    def purge(self, now: float) -> None:
        """Delete expired sign-in links and sessions (housekeeping; correctness never depends on it)."""


class Outbox(ABC):
    """Mail waiting to be sent.  Senders claim one row at a time under a lease, so two never send the same row."""

    @abstractmethod
    def enqueue(self, mail: Mail, now: float) -> bool:
        """Queue a mail on its own; False when its key is already queued or sent."""

    @abstractmethod
    def claim(self, worker: str, now: float, lease_s: float) -> OutboxMessage | None:
        """Take the oldest due, unsent, unleased message for ``worker`` until ``now + lease_s``."""

    @abstractmethod
    def mark_sent(self, message_id: int, now: float) -> bool:
        """Record delivery; True only the first time (a message is marked sent exactly once).

        The body is dropped: it may hold a secret (a sign-in link) and is no use once delivered.
        """

    @abstractmethod
    def mark_retry(self, message_id: int, error: str, next_attempt_at: float) -> None:
        """Record a failed attempt and release the lease until ``next_attempt_at``."""

    @abstractmethod
    def mark_failed(self, message_id: int, error: str, now: float) -> None:
        """Give up on a message (a permanent refusal or too many attempts)."""

    @abstractmethod
    def counts(self) -> OutboxCounts: ...


class RateLimits(ABC):
    """Shared hit counters for fixed windows, so several app servers enforce one limit."""

    @abstractmethod
    def hit(self, key: str, window_start: float) -> int:
        """Count one hit for ``key`` in the window starting at ``window_start``; returns the count so far."""

    @abstractmethod
    def purge(self, before: float) -> None:
        """Forget windows that started before ``before``."""
