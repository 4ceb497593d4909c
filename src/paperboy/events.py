"""Recording what readers do: upvote and save toggles, and views counted once per reader or visitor per day.

Web routes call :class:`Signals`; it decides what counts (bots by User-Agent never do; an anonymous visitor is a
daily pseudonym derived from IP and User-Agent with a secret salt, so no cookie is needed and nothing identifying
is stored) and hands the rest to the :class:`~paperboy.store.events.Events` backend with the time of its clock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from paperboy.papers import now_utc
from paperboy.store.base import Store
from paperboy.store.events import Counts, Events, Kind

#: Lower-case pieces of the User-Agents of crawlers, link previewers, monitors, HTTP libraries and headless
#: browsers (substring tests: several times faster than one alternation regex, and this runs on every page view).
_BOT_MARKERS: tuple[str, ...] = (
    "bot", "crawl", "spider", "slurp", "scrap", "archiver", "preview", "monitor", "check", "feed", "fetch",
    "curl", "wget", "httpx", "http-client", "python-", "aiohttp", "go-http", "java/", "okhttp", "libwww", "perl",
    "ruby", "node-fetch", "axios", "headless", "phantomjs", "lighthouse", "facebookexternalhit", "embedly",
    "whatsapp", "telegram", "discord", "slack",
)

_SALT_KEY = "events.visitor_salt"


def is_bot(user_agent: str | None) -> bool:
    """True for a User-Agent that is not a person's browser (views from these are ignored)."""
    ua = (user_agent or "").strip().lower()
    return not ua or any(marker in ua for marker in _BOT_MARKERS)


def visitor_salt(store: Store) -> str:
    """The instance's secret salt for visitor pseudonyms, created on first use and kept in the store's state."""
    saved = store.get_state(_SALT_KEY)
    if saved is None:
        store.set_state(_SALT_KEY, {"salt": secrets.token_hex(16)})
        saved = store.get_state(_SALT_KEY)
    assert saved is not None
    return saved["salt"]


@dataclass(frozen=True, slots=True)
class PaperState:
    """A paper's counts and the asking reader's own marks (both False for anonymous visitors)."""

    counts: Counts
    upvoted: bool = False
    saved: bool = False

    def to_json(self) -> dict:
        return {"upvotes": self.counts.upvotes, "saves": self.counts.saves, "views": self.counts.views,
                "upvoted": self.upvoted, "saved": self.saved}


class Signals:
    """The one entry point for recording and reading reader signals."""

    def __init__(self, events: Events, salt: str, clock: Callable[[], datetime] = now_utc) -> None:
        self.events = events
        self.salt = salt
        self.clock = clock

    def mark(self, reader: int, pid: int, kind: Kind, on: bool) -> PaperState:
        """Set or clear the reader's upvote or save (idempotent) and answer the paper's state after it."""
        change = self.events.set_mark(reader, pid, kind, on, self.clock())
        return PaperState(change.counts, Kind.UPVOTE in change.marks, Kind.SAVE in change.marks)

    def view(self, pid: int, *, reader: int | None, ip: str, user_agent: str | None) -> bool:
        """Count a paper page view unless it comes from a bot or was already counted today for this viewer."""
        if is_bot(user_agent):
            return False
        now = self.clock()
        return self.events.record_view(pid, self.viewer(reader, ip, user_agent or "", now), now)

    def viewer(self, reader: int | None, ip: str, user_agent: str, now: datetime) -> str:
        """``r:<id>`` for a signed-in reader; otherwise a pseudonym that changes every UTC day."""
        if reader is not None:
            return f"r:{reader}"
        day = now.astimezone(UTC).date().isoformat()
        digest = hashlib.sha256(f"{self.salt}\0{day}\0{ip}\0{user_agent}".encode()).hexdigest()
        return "v:" + digest[:24]

    def states(self, reader: int | None, pids: Iterable[int]) -> dict[int, PaperState]:
        """Counts and the reader's marks for every paper of a list (papers without events get zeros)."""
        pids = list(pids)
        counts = self.events.counts(pids)
        marks = self.events.marks(reader, pids) if reader is not None else {}
        return {pid: PaperState(counts.get(pid, Counts()), Kind.UPVOTE in marks.get(pid, ()),
                                Kind.SAVE in marks.get(pid, ())) for pid in pids}


def open_signals(store: Store, clock: Callable[[], datetime] = now_utc) -> Signals:
    """The signals of a store: its events backend (SQLite now), the published formula and the visitor salt."""
    from paperboy.store.sqlite import SQLiteStore
    from paperboy.store.sqlite_events import SQLiteEvents
    from paperboy.trending import FORMULA

    if not isinstance(store, SQLiteStore):
        raise ValueError(f"reader signals have no backend for {type(store).__name__} yet (SQLite only)")
    return Signals(SQLiteEvents(store, FORMULA), visitor_salt(store), clock)
