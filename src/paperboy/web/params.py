"""URL parameters: check and normalise what pages, the API and feeds take; every problem is a 400 for people.

Pages, their JSON twins and feeds share these checks, so one URL means the same thing in every format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from paperboy import periods
from paperboy.periods import Period, PeriodError
from paperboy.query import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, Filters, QueryError, SearchRequest
from paperboy.web.errors import WebError

#: Deepest offset for newest-first listings (author, category, latest).  Deeper pages cost O(offset) in
#: the store and nobody reads page 500 of a listing; the search engine has its own cap (MAX_OFFSET).
LISTING_MAX_OFFSET = 10_000
DEFAULT_LIMIT = 20

_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z-]{0,19}(?:\.[A-Za-z][A-Za-z-]{0,19})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str | None, limit: int, what: str) -> str | None:
    """Strip a free-text parameter, refuse control characters and over-long values."""
    if text is None:
        return None
    text = _CONTROL.sub("", text).strip()
    if len(text) > limit:
        raise WebError(400, f"{what} is too long ({len(text):,} characters; the limit is {limit:,})")
    return text or None


def parse_day(text: str | None, what: str) -> date | None:
    """A YYYY-MM-DD parameter within the supported years; empty means absent (HTML forms send empty fields)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return periods.parse_day(text, what)
    except PeriodError as exc:
        raise WebError(400, str(exc)) from None


def parse_period(date_: str | None, week: str | None, month: str | None) -> Period | None:
    """The period named by ``date``, ``week`` or ``month`` (None if none is given); bad ones are a 400."""
    try:
        return periods.parse(date_, week, month)
    except PeriodError as exc:
        raise WebError(400, str(exc)) from None


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
    venue: str | None = None

    def request(self) -> SearchRequest:
        try:
            filters = Filters(category=self.category, since=self.since, until=self.until, author=self.author,
                              venue=self.venue)
        except QueryError as exc:
            raise WebError(400, str(exc)) from exc
        return SearchRequest(query=self.q, filters=filters, sort=self.sort, mode=self.mode,  # type: ignore[arg-type]
                             limit=self.limit, offset=self.offset)

    def query_string(self, **changes: Any) -> str:
        """This search's URL query with ``changes`` applied; defaults are left out to keep URLs short."""
        values = {"q": self.q, "category": self.category, "since": self.since, "until": self.until,
                  "author": self.author, "venue": self.venue, "sort": self.sort, "mode": self.mode,
                  "limit": self.limit, "offset": self.offset}
        values.update(changes)
        defaults = {"sort": "relevance", "mode": "hybrid", "limit": DEFAULT_LIMIT, "offset": 0}
        pairs = [(k, str(v)) for k, v in values.items() if v not in (None, "") and defaults.get(k) != v]
        return urlencode(pairs)

    def as_dict(self) -> dict:
        return {"q": self.q, "category": self.category, "since": _iso(self.since), "until": _iso(self.until),
                "author": self.author, "venue": self.venue, "sort": self.sort, "mode": self.mode,
                "limit": self.limit, "offset": self.offset}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def search_params(q: str | None, category: str | None, since: str | None, until: str | None, author: str | None,
                  sort: str | None, mode: str | None, limit: int, offset: int, *, require_query: bool,
                  venue: str | None = None) -> SearchParams:
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
                        clean(author, 200, "author"), sort, mode, limit, offset, clean(venue, 200, "venue"))
