"""Per-process services: settings, store, query engine, templates, metrics, data versions and small caches.

Services are built once per process (at start-up) and reached through ``request.app.state.services``.

Data versions: each kind of data has its own change counter in :attr:`Services.versions` ("papers" from the
store's change sequence; the readers layer registers "events" for votes and saves).  A cached view declares
what it reads (:func:`reads`) and is keyed by those counters only, so a vote refreshes trending pages without
flushing every cached paper page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import jinja2
from fastapi import Request
from markupsafe import Markup

from paperboy import catalogue, periods
from paperboy.catalogue import CatalogueError, Listing
from paperboy.config import Settings
from paperboy.papers import Paper
from paperboy.periods import Period
from paperboy.query import Hit, QueryError, SearchRequest, SearchResult
from paperboy.store.base import Store, StoredPaper
from paperboy.web.errors import WebError
from paperboy.web.ops import Metrics
from paperboy.web.render import card_html, make_env

log = logging.getLogger("paperboy.web")

#: How often (seconds) a change counter is re-read.  Within this window a response may be served from
#: cache even if an ingest just committed; it bounds staleness, not correctness.
VERSION_TTL = 1.0
#: Bounded caches (per worker): similar-paper lists hold full papers (~3 KB each, 10 per entry), cards ~1 KB.
SIMILAR_CACHE = 1024
CARD_CACHE = 20_000
#: What a view reads when it does not say: every counter (always correct, refreshed most often).
ALL = ("*",)

F = TypeVar("F", bound=Callable[..., Any])


def reads(*names: str) -> Callable[[F], F]:
    """Declare which data versions an endpoint's answer depends on (the keys of its cache entry and validators)."""
    def mark(fn: F) -> F:
        fn.reads = names  # type: ignore[attr-defined]
        return fn

    return mark


class _Counter:
    __slots__ = ("read", "value", "checked", "changed_at")

    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read
        self.value = -1
        self.checked = 0.0
        self.changed_at = datetime.now(UTC).replace(microsecond=0)


class Services:
    """Process-wide state shared by every route."""

    def __init__(self, settings: Settings, store: Store, engine: Any | None, engine_error: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.engine_error = engine_error
        self.env: jinja2.Environment = make_env()
        self.metrics = Metrics()
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self.versions: dict[str, Callable[[], int]] = {}
        self.register_version("papers", store.max_seq)
        self._memo: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._memo_lock = threading.Lock()
        self._similar: OrderedDict[tuple[int, int, int], list[Hit]] = OrderedDict()
        self._cards: OrderedDict[tuple[str, bool, str | None, int], Markup] = OrderedDict()
        self.env.globals["card"] = self.card

    # -- data versions ----------------------------------------------------------------------------------------

    def register_version(self, name: str, read: Callable[[], int]) -> None:
        """Add a change counter (``read()`` returns a number that grows whenever that data changes)."""
        self.versions[name] = read
        self._counters[name] = _Counter(read)

    def touch(self, name: str) -> None:
        """This process just changed ``name``'s data: re-read its counter on next use, not up to a second later
        (so a reader's own vote shows on the next page; other processes still see it within the TTL)."""
        counter = self._counters.get(name)
        if counter is not None:
            counter.checked = 0.0

    def _names(self, names: tuple[str, ...]) -> list[str]:
        return sorted(self._counters) if names == ALL else [n for n in names if n in self._counters]

    def _current(self, name: str) -> int:
        counter = self._counters[name]
        now = time.monotonic()
        if now - counter.checked < VERSION_TTL:
            return counter.value
        try:
            value = counter.read()
        except Exception:  # noqa: BLE001 - a busy store keeps the last known version
            return counter.value
        with self._lock:
            if value != counter.value:
                if counter.value != -1:
                    counter.changed_at = datetime.now(UTC).replace(microsecond=0)
                counter.value = value
            counter.checked = now
        return value

    def version(self, names: tuple[str, ...] = ALL) -> tuple[int, ...]:
        """The current values of the named counters (all of them for :data:`ALL`); unknown names are skipped."""
        return tuple(self._current(n) for n in self._names(names))

    def snapshot(self) -> dict[str, int]:
        """Every counter's current value (taken before rendering, so a change during it is never missed)."""
        return {n: self._current(n) for n in sorted(self._counters)}

    def last_modified(self, names: tuple[str, ...] = ALL) -> datetime:
        """When this process first saw the current data of ``names`` (its start time for the data it began with)."""
        chosen = self._names(names)
        for n in chosen:
            self._current(n)
        return max((self._counters[n].changed_at for n in chosen), default=datetime.now(UTC).replace(microsecond=0))

    def memo(self, key: str, compute: Callable[[], Any], depends: tuple[str, ...] = ("papers",)) -> Any:
        """``compute()`` cached until a counter in ``depends`` changes (for counts and category lists)."""
        version = self.version(depends)
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        with self._memo_lock:  # one computation at a time
            hit = self._memo.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
            value = compute()
            self._memo[key] = (version, value)
        return value

    def warm_up(self) -> None:
        """Compute the per-data-version summaries once, off the request path (called after start-up)."""
        try:
            self.paper_count()
            self.top_categories()
        except Exception:  # noqa: BLE001 - a request will retry and report
            log.exception("warm-up failed")

    # -- summaries -------------------------------------------------------------------------------------------

    def paper_count(self) -> int:
        return self.memo("count", lambda: self.store.count())

    def top_categories(self, n: int = 8) -> list[tuple[str, int]]:
        """The biggest primary categories (for the home page), from the store's stats."""
        stats = self.memo("stats", self.store.stats)
        cats = [(c, k) for c, k in stats.by_category.items() if c != "(none)"]
        return cats[:n]

    def top_archives(self, n: int = 6) -> list[tuple[str, int]]:
        """The biggest archives (``astro-ph`` for ``astro-ph.GA`` ...) by primary category, for the home page."""
        stats = self.memo("stats", self.store.stats)
        totals: dict[str, int] = {}
        for c, k in stats.by_category.items():
            if c != "(none)":
                archive = c.split(".", 1)[0]
                totals[archive] = totals.get(archive, 0) + k
        return sorted(totals.items(), key=lambda x: (-x[1], x[0]))[:n]

    def periods_now(self) -> dict[str, Period]:
        """Today, this week and this month, relative to the newest paper (never after today)."""
        def newest_day() -> date | None:
            newest = self.store.latest(limit=1)
            return newest[0].paper.submitted if newest else None

        return periods.around(periods.anchor(self.memo("newest-day", newest_day)))

    def index_stats(self) -> dict[str, int]:
        """Documents per index (lexical, vectors) as the engine's indexes report them; {} when unknown."""
        indexes = getattr(self.engine, "indexes", None)
        out: dict[str, int] = {}
        if indexes is None:
            return out
        with contextlib.suppress(Exception):  # metrics must not fail because an index is busy
            out["lexical"] = int(indexes.lexical.num_docs)
        try:
            vectors = indexes.vectors()
            out["vectors"] = len(vectors) if vectors is not None else 0
        except Exception:  # noqa: BLE001
            pass
        return out

    # -- listings: the one way to "newest papers in a window / category / author" -----------------------------

    def newest(self, *, category: str | None = None, author: str | None = None, since: date | None = None,
               until: date | None = None, limit: int = 20, offset: int = 0) -> Listing:
        """Newest papers first, filtered, and how many there are: every page, feed and API listing asks here.

        The catalogue answers from the store (one index range scan; no search engine needed), with its one
        date rule; a request it cannot answer is a 400.
        """
        try:
            listing = catalogue.newest(self.store, category=category, author=author, since=since, until=until,
                                       limit=limit, offset=offset)
        except CatalogueError as exc:
            raise WebError(400, str(exc)) from exc
        shown = self._visible(listing.papers)
        if len(shown) == len(listing.papers):
            return listing
        return Listing(shown, listing.total - (len(listing.papers) - len(shown)))

    def hidden_ids(self) -> frozenset[str]:
        """Papers an admin hid (:mod:`paperboy.accounts`): left out of listings, feeds, search results and similar
        papers, for everybody (these pages are shared and cached); admins still open them by URL.  Hiding moves
        the paper's ``seq``, so this memo and the caches keyed by the papers version follow at once."""
        from paperboy.accounts import open_accounts

        return self.memo("hidden", lambda: open_accounts(self.store).accounts.hidden_paper_ids())

    def _visible(self, papers: list[Paper]) -> list[Paper]:
        hidden = self.hidden_ids()
        return [p for p in papers if p.id not in hidden] if hidden else papers

    # -- the query engine -----------------------------------------------------------------------------------

    def require_engine(self) -> Any:
        if self.engine is None:
            raise WebError(503, "Search is not available on this server right now"
                                + (f" ({self.engine_error})." if self.engine_error else "."))
        return self.engine

    def search(self, request: SearchRequest, surface: str) -> SearchResult:
        """Run one search through the engine; user errors become 400, timings go to the metrics."""
        engine = self.require_engine()
        try:
            result = engine.search(request)
        except QueryError as exc:
            raise WebError(400, str(exc)) from exc
        self.metrics.observe_search(result.mode_used, surface, result.took_ms / 1000.0)
        hits = self._visible_hits(result.hits)
        if len(hits) != len(result.hits):
            result = dataclasses.replace(result, hits=hits, total=result.total - len(result.hits) + len(hits))
        return result

    def similar(self, stored: StoredPaper, limit: int = 10) -> list[Hit]:
        """Similar papers from stored vectors, cached per (paper, version) because every page view asks."""
        if self.engine is None:
            return []
        key = (stored.pid, stored.seq, limit)
        with self._lock:
            hit = self._similar.get(key)
            if hit is not None:
                self._similar.move_to_end(key)
                return self._visible_hits(hit)
        try:
            hits = list(self.engine.similar(stored.paper.id, limit=limit))
        except (QueryError, KeyError, LookupError, ValueError):
            hits = []
        with self._lock:
            self._similar[key] = hits
            while len(self._similar) > SIMILAR_CACHE:
                self._similar.popitem(last=False)
        return self._visible_hits(hits)

    def _visible_hits(self, hits: list[Hit]) -> list[Hit]:
        hidden = self.hidden_ids()
        return [h for h in hits if h.paper.id not in hidden] if hidden else hits

    def card(self, paper: Paper, show_snippet: bool = True, category: str | None = None) -> Markup:
        """One paper's list item (title, authors, date, tags, snippet), rendered once per papers version.

        Listings, the home page and "similar papers" show the same papers again and again; rendering a
        card costs more than the rest of a page, so it is cached (bounded LRU).
        """
        key = (paper.id, show_snippet, category, self.version(("papers",))[0])
        hit = self._cards.get(key)
        if hit is not None:
            return hit
        html = card_html(paper, show_snippet=show_snippet, category=category)
        with self._lock:
            self._cards[key] = html
            while len(self._cards) > CARD_CACHE:
                self._cards.popitem(last=False)
        return html

    def close(self) -> None:
        for obj in (self.engine, self.store):
            fn = getattr(obj, "close", None)
            if callable(fn):
                try:
                    fn()
                except Exception:  # noqa: BLE001 - shutdown goes on
                    log.exception("error while closing %s", type(obj).__name__)


def services(request: Request) -> Services:
    return request.app.state.services
