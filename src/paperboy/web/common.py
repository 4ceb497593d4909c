"""What every route module shares: the per-process services, parameter checking, errors and JSON shapes.

The web layer holds no ranking logic: it checks parameters, calls the store or the query engine once,
and shapes the answer.  Services are built once per process (at start-up) and reached through
``request.app.state.services``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import jinja2
import orjson
from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

from paperboy.config import Settings
from paperboy.papers import Paper
from paperboy.query import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Filters, Hit, QueryError, SearchRequest, SearchResult
from paperboy.store.base import Store, StoredPaper
from paperboy.web.ops import Metrics
from paperboy.web.render import author_path, card_html, category_path, make_env, paper_path, safe_url

log = logging.getLogger("paperboy.web")

#: Deepest offset for newest-first listings (author, category, latest).  Deeper pages cost O(offset) in
#: the store and nobody reads page 500 of a listing; the search engine has its own cap (MAX_OFFSET).
LISTING_MAX_OFFSET = 10_000
DEFAULT_LIMIT = 20
#: How often (seconds) the store's change counter is re-read.  Within this window a response may be
#: served from cache even if an ingest just committed; it bounds staleness, not correctness.
VERSION_TTL = 1.0
#: Bounded caches (per worker): similar-paper lists hold full papers (~3 KB each, 10 per entry), cards ~1 KB.
SIMILAR_CACHE = 1024
CARD_CACHE = 20_000

_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z-]{0,19}(?:\.[A-Za-z][A-Za-z-]{0,19})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class WebError(Exception):
    """An error whose message is safe to show: rendered as an HTML page, JSON or plain text by path."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Services:
    """Process-wide state: settings, store, query engine, templates, metrics and small caches."""

    def __init__(self, settings: Settings, store: Store, engine: Any | None, engine_error: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.engine_error = engine_error
        self.env: jinja2.Environment = make_env()
        self.metrics = Metrics()
        self._lock = threading.Lock()
        self._version = -1
        self._version_checked = 0.0
        self._changed_at = datetime.now(UTC).replace(microsecond=0)
        self._memo: dict[str, tuple[int, Any]] = {}
        self._memo_lock = threading.Lock()
        self._similar: OrderedDict[tuple[int, int, int], list[Hit]] = OrderedDict()
        self._cards: OrderedDict[tuple[str, bool, int], Markup] = OrderedDict()
        self.env.globals["card"] = self.card

    # -- data version: the key of every cache and ETag ----------------------------------------------------

    def data_version(self) -> int:
        """The store's change counter, re-read at most once per VERSION_TTL seconds."""
        now = time.monotonic()
        if now - self._version_checked < VERSION_TTL:
            return self._version
        try:
            version = self.store.max_seq()
        except Exception:  # noqa: BLE001 - a busy store keeps the last known version
            return self._version
        with self._lock:
            if version != self._version:
                if self._version != -1:
                    self._changed_at = datetime.now(UTC).replace(microsecond=0)
                self._version = version
            self._version_checked = now
        return version

    @property
    def last_modified(self) -> datetime:
        """When this process first saw the current data (its start time for the data it started with)."""
        self.data_version()
        return self._changed_at

    def memo(self, key: str, compute):  # noqa: ANN001 - a zero-argument callable
        """``compute()`` cached until the data version changes (for counts and category lists)."""
        version = self.data_version()
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        with self._memo_lock:  # one computation at a time: store.stats() scans every paper
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

    def category_papers(self, category: str, limit: int, offset: int) -> tuple[list[Paper], int]:
        """A category's papers, newest first, and how many there are.

        Served from the search index (a date-sorted, filtered scan in tantivy: ~1 ms) rather than the
        store, whose category listing sorts every paper of a big category (~0.5 s at 235,000 papers).
        Deep pages past the engine's offset cap, or a server without an engine, fall back to the store.
        """
        if self.engine is not None and offset + limit <= MAX_OFFSET + MAX_LIMIT:
            request = SearchRequest(query="", filters=Filters(category=category), sort="newest", mode="lexical",
                                    limit=limit, offset=min(offset, MAX_OFFSET))
            try:
                result = self.engine.search(request)
            except QueryError as exc:
                raise WebError(400, str(exc)) from exc
            if offset <= MAX_OFFSET:
                return [h.paper for h in result.hits], result.total
        total = self.store.count(category=category)
        return [sp.paper for sp in self.store.latest(category=category, limit=limit, offset=offset)], total

    def listing(self, category: str | None, author: str | None, limit: int, offset: int) -> tuple[list[Paper], int]:
        """One page of a newest-first listing (a category, an author, or everything) and its total."""
        if category:
            return self.category_papers(category, limit, offset)
        total = self.store.count(author=author)
        return [sp.paper for sp in self.store.latest(author=author, limit=limit, offset=offset)], total

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
                return hit
        try:
            hits = list(self.engine.similar(stored.paper.id, limit=limit))
        except (QueryError, KeyError, LookupError, ValueError):
            hits = []
        with self._lock:
            self._similar[key] = hits
            while len(self._similar) > SIMILAR_CACHE:
                self._similar.popitem(last=False)
        return hits

    def card(self, paper: Paper, show_snippet: bool = True) -> Markup:
        """One paper's list item (title, authors, date, tags, snippet), rendered once per data version.

        Listings, the home page and "similar papers" show the same papers again and again; rendering a
        card costs more than the rest of a page, so it is cached (bounded LRU).
        """
        key = (paper.id, show_snippet, self.data_version())
        hit = self._cards.get(key)
        if hit is not None:
            return hit
        html = card_html(paper, show_snippet=show_snippet)
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


# -- parameters ---------------------------------------------------------------------------------------------------


def clean(text: str | None, limit: int, what: str) -> str | None:
    """Strip a free-text parameter, refuse control characters and over-long values."""
    if text is None:
        return None
    text = _CONTROL.sub("", text).strip()
    if len(text) > limit:
        raise WebError(400, f"{what} is too long ({len(text):,} characters; the limit is {limit:,})")
    return text or None


def parse_day(text: str | None, what: str) -> date | None:
    """A YYYY-MM-DD parameter; empty means absent (HTML forms send empty fields)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise WebError(400, f"{what} must be a date written YYYY-MM-DD, not {text[:40]!r}") from None


def check_category(category: str | None) -> str | None:
    category = (category or "").strip()
    if not category:
        return None
    if not _CATEGORY.match(category):
        raise WebError(400, f"{category[:40]!r} is not an arXiv category (examples: cs, cs.LG, hep-th)")
    return category


def check_page(limit: int, offset: int, max_offset: int = MAX_OFFSET) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise WebError(400, f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= max_offset:
        raise WebError(400, f"offset must be between 0 and {max_offset:,}")


@dataclass(slots=True)
class SearchParams:
    """The search parameters exactly as they appear in URLs (pages, API and feeds share them)."""

    q: str
    category: str | None
    since: date | None
    until: date | None
    author: str | None
    sort: str
    mode: str
    limit: int
    offset: int

    def request(self) -> SearchRequest:
        try:
            filters = Filters(category=self.category, since=self.since, until=self.until, author=self.author)
        except QueryError as exc:
            raise WebError(400, str(exc)) from exc
        return SearchRequest(query=self.q, filters=filters, sort=self.sort, mode=self.mode,  # type: ignore[arg-type]
                             limit=self.limit, offset=self.offset)

    def query_string(self, **changes: Any) -> str:
        """This search's URL query with ``changes`` applied; defaults are left out to keep URLs short."""
        values = {"q": self.q, "category": self.category, "since": self.since, "until": self.until,
                  "author": self.author, "sort": self.sort, "mode": self.mode, "limit": self.limit,
                  "offset": self.offset}
        values.update(changes)
        defaults = {"sort": "relevance", "mode": "hybrid", "limit": DEFAULT_LIMIT, "offset": 0}
        pairs = [(k, str(v)) for k, v in values.items() if v not in (None, "") and defaults.get(k) != v]
        return urlencode(pairs)

    def as_dict(self) -> dict:
        return {"q": self.q, "category": self.category, "since": _iso(self.since), "until": _iso(self.until),
                "author": self.author, "sort": self.sort, "mode": self.mode, "limit": self.limit,
                "offset": self.offset}


def search_params(q: str | None, category: str | None, since: str | None, until: str | None, author: str | None,
                  sort: str | None, mode: str | None, limit: int, offset: int, *, require_query: bool) -> SearchParams:
    """Check and normalise search parameters; every problem is a 400 with a message for people."""
    query = clean(q, MAX_QUERY_CHARS, "the query") or ""
    if require_query and not query:
        raise WebError(400, "the query parameter q is required")
    sort = (sort or "relevance").strip() or "relevance"
    if sort not in ("relevance", "newest"):
        raise WebError(400, "sort must be relevance or newest")
    mode = (mode or "hybrid").strip() or "hybrid"
    if mode not in ("hybrid", "lexical", "dense"):
        raise WebError(400, "mode must be hybrid, lexical or dense")
    check_page(limit, offset)
    return SearchParams(query, check_category(category), parse_day(since, "since"), parse_day(until, "until"),
                        clean(author, 200, "author"), sort, mode, limit, offset)


def parse_period(date_: str | None, week: str | None, month: str | None) -> tuple[date, date] | None:
    """The day range named by ``date=YYYY-MM-DD``, ``week=YYYY-Www`` or ``month=YYYY-MM`` (None if none given)."""
    given = [x for x in (date_, week, month) if x]
    if len(given) > 1:
        raise WebError(400, "give at most one of date, week and month")
    try:
        if date_:
            if len(date_) != 10:
                raise ValueError
            d = date.fromisoformat(date_)
            return d, d
        if week:
            year, _, w = week.partition("-W")
            if len(year) != 4 or not w.isdigit() or len(w) != 2:
                raise ValueError
            start = date.fromisocalendar(int(year), int(w), 1)
            return start, start + timedelta(days=6)
        if month:
            year, _, m = month.partition("-")
            if len(year) != 4 or len(m) != 2:
                raise ValueError
            start = date(int(year), int(m), 1)
            nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
            return start, nxt - timedelta(days=1)
    except ValueError:
        what = "date (YYYY-MM-DD)" if date_ else "week (YYYY-Www)" if week else "month (YYYY-MM)"
        raise WebError(400, f"invalid {what}: {(date_ or week or month or '')[:40]!r}") from None
    return None


@dataclass(slots=True)
class Period:
    """A day, ISO week or month, as the trending views name them."""

    kind: str  # "date", "week" or "month"
    value: str  # "2007-04-02", "2007-W14", "2007-04"
    since: date
    until: date

    @property
    def label(self) -> str:
        if self.kind == "date":
            return self.since.strftime("%-d %B %Y")
        if self.kind == "week":
            return f"week of {self.since.strftime('%-d %B %Y')}"
        return self.since.strftime("%B %Y")

    def as_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "label": self.label, "since": self.since.isoformat(),
                "until": self.until.isoformat()}


def periods_around(anchor: date) -> dict[str, Period]:
    """The day, ISO week and month containing ``anchor``."""
    year, week, weekday = anchor.isocalendar()
    week_start = anchor - timedelta(days=weekday - 1)
    month_start = anchor.replace(day=1)
    next_month = date(month_start.year + (month_start.month == 12), month_start.month % 12 + 1, 1)
    return {
        "date": Period("date", anchor.isoformat(), anchor, anchor),
        "week": Period("week", f"{year}-W{week:02d}", week_start, week_start + timedelta(days=6)),
        "month": Period("month", anchor.strftime("%Y-%m"), month_start, next_month - timedelta(days=1)),
    }


def choose_period(svc: Services, date_: str | None, week: str | None, month: str | None) -> tuple[Period, dict]:
    """The requested period, or this week; "this" is relative to the newest paper (never after today)."""
    anchor = svc.memo("anchor", lambda: _anchor(svc))
    around = periods_around(anchor)
    given = [(k, v) for k, v in (("date", date_), ("week", week), ("month", month)) if v]
    if not given:
        return around["week"], around
    rng = parse_period(date_, week, month)
    assert rng is not None
    kind, value = given[0]
    return Period(kind, value.strip(), rng[0], rng[1]), around


def _anchor(svc: Services) -> date:
    today = datetime.now(UTC).date()
    newest = svc.store.latest(limit=1)
    day = newest[0].paper.submitted if newest and newest[0].paper.submitted else today
    return min(day, today)


def period_papers(svc: Services, period: Period, limit: int, offset: int, surface: str) -> SearchResult:
    """Papers first submitted in ``period``, newest first (until trending lands, "trending" means this)."""
    check_page(limit, offset)
    request = SearchRequest(query="", filters=Filters(since=period.since, until=period.until), sort="newest",
                            mode="lexical", limit=limit, offset=offset)
    return svc.search(request, surface)


# -- JSON ---------------------------------------------------------------------------------------------------------


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


class JSONResponseFast(Response):
    """JSON via orjson: 3-10x faster than the standard library on paper-sized payloads."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def paper_json(paper: Paper, base: str) -> dict:
    """A paper as the API returns it: the stored record plus this site's URLs; only http(s) links survive."""
    data = paper.to_dict()
    data["links"] = {k: v for k, v in paper.links.items() if safe_url(v)}
    data["url"] = base + paper_path(paper.id)
    data["api_url"] = base + "/api/v1" + paper_path(paper.id).replace("/paper/", "/papers/", 1)
    data["authors"] = [dict(a, url=base + author_path(a["name"])) for a in data["authors"]]
    data["category_urls"] = {c: base + category_path(c) for c in paper.categories}
    return data


def hit_json(hit: Hit, base: str) -> dict:
    return {"paper": paper_json(hit.paper, base), "score": round(float(hit.score), 6), "why": hit.why,
            "highlights": {k: [list(s) for s in v] for k, v in (hit.highlights or {}).items()}}


def page_links(base_path: str, query: dict[str, Any], limit: int, offset: int, total: int,
               max_offset: int) -> dict[str, str | None]:
    """``next``/``prev`` URLs for limit/offset paging (None at either end or past the offset cap)."""
    def url(new_offset: int) -> str:
        params = {k: v for k, v in query.items() if v not in (None, "")}
        params.update(limit=limit, offset=new_offset)
        return f"{base_path}?{urlencode(params)}"

    nxt = offset + limit
    return {
        "next": url(nxt) if nxt < total and nxt <= max_offset else None,
        "prev": url(max(0, offset - limit)) if offset > 0 else None,
    }


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)
