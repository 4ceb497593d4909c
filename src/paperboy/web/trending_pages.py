"""The trending resource: one window's ranking (docs/trending.md) as a context for HTML, its JSON twin and Atom.

``window=day|week|month`` and ``date=YYYY-MM-DD`` (default: today, UTC) pick the window; the older period
parameters still work (``date`` alone is that day, ``week=YYYY-Www``, ``month=YYYY-MM``).  A window without reader
activity lists the newest papers of the library instead, and says so: no score or count is ever made up.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from markupsafe import Markup

from paperboy import periods
from paperboy.periods import PeriodError
from paperboy.query import MAX_OFFSET
from paperboy.trending import HALF_LIVES, PERIOD_KIND, WEIGHTS, WINDOWS, period_phrase, rank
from paperboy.web.errors import WebError
from paperboy.web.paging import listing_url, page_links
from paperboy.web.params import DEFAULT_LIMIT, check_page
from paperboy.web.render import card_html
from paperboy.web.services import services
from paperboy.web.votes import hidden_from, signals

FORMULA_TEXT = "score = sum over the window's events of weight(kind) * 2^(-age / half_life(window))"


def choose_window(window: str | None, date_: str | None, week: str | None, month: str | None,
                  today: date) -> tuple[str, date]:
    """``(window, a day inside it)`` from the URL parameters; bad or conflicting ones are a 400."""
    if window is not None and window not in WINDOWS:
        raise WebError(400, f"window must be one of {', '.join(WINDOWS)}, not {window[:20]!r}")
    try:
        if week or month:
            if date_ or (window and window != ("week" if week else "month")):
                raise PeriodError("give window=…&date=YYYY-MM-DD, or one of date, week and month")
            named = periods.parse(None, week, month)
            assert named is not None
            return ("week" if week else "month"), named.since
        day = periods.parse_day(date_) if date_ else today
    except PeriodError as exc:
        raise WebError(400, str(exc)) from None
    return window or ("day" if date_ else "week"), day


def ranking_data(request: Request, window: str, day: date, limit: int,
                 offset: int) -> tuple[dict[str, Any], list[Markup], str]:
    """The window's items (papers with score, counts and why) or the newest papers with a notice, the items'
    HTML cards, and when the window is ("today", "in November 2026", ...)."""
    sig = signals(request)
    svc = services(request)
    now = sig.clock()
    check_page(limit, offset)
    # Hidden papers leave shared lists for everybody, admins included (as in every listing: Services.newest).
    ranking = rank(sig.events, window, day, now, limit=limit, offset=offset, exclude=hidden_from(request, None))
    period = periods.around(day)[PERIOD_KIND[window]]
    phrase = period_phrase(window, ranking.start, now)
    stored = {sp.pid: sp.paper for sp in svc.store.get_many([i.pid for i in ranking.items])}
    items = [{"paper": stored[i.pid], "score": i.score, "why": i.why,
              "counts": {"upvotes": i.counts.upvotes, "saves": i.counts.saves, "views": i.counts.views}}
             for i in ranking.items if i.pid in stored]
    cards = [card_html(it["paper"], why=f"Why trending: {it['why']} (score {it['score']:g})") for it in items]
    notice, total = None, ranking.total
    if ranking.total == 0:  # nothing happened in the window: the newest papers, and say so
        page, of = svc.newest(since=period.since, until=period.until, limit=limit, offset=offset), period.label
        if page.total == 0:
            page, of = svc.newest(limit=limit, offset=offset), "the library"
        items = [{"paper": p, "score": None, "why": None, "counts": None} for p in page.papers]
        cards = [svc.card(p) for p in page.papers]
        total = page.total
        why_not = ("No reader activity has been recorded here yet, so nothing is trending" if not ranking.any_events
                   else f"Nobody has upvoted, saved or viewed a paper {phrase}")
        notice = f"{why_not}: the newest papers of {of} instead."
    data = {"window": window, "date": day, "period": period, "ranking": "newest" if notice else "trending",
            "notice": notice, "total": total, "limit": limit, "offset": offset,
            "formula": {"text": FORMULA_TEXT, "weights": {k.value: w for k, w in WEIGHTS.items()},
                        "half_life_hours": {w: h.total_seconds() / 3600 for w, h in HALF_LIVES.items()}},
            "items": items}
    return data, cards, phrase


def trending_context(request: Request, *, window: str | None, date_: str | None, week: str | None,
                     month: str | None, limit: int, offset: int) -> dict[str, Any]:
    """What :func:`paperboy.web.views.trending` returns as a Context: data, heading, path, feed, entries."""
    today = signals(request).clock().date()
    window, day = choose_window(window, date_, week, month, today)
    data, cards, phrase = ranking_data(request, window, day, limit, offset)
    query = {"window": window, "date": day.isoformat() if day != today else None}
    url = listing_url("/trending", query, limit)
    links = page_links(url, limit=limit, offset=offset, total=data["total"], shown=len(data["items"]),
                       max_offset=MAX_OFFSET)
    feed_query = f"window={window}" + (f"&date={day.isoformat()}" if query["date"] else "")
    tabs = [(w, name, f"/trending?window={w}" + (f"&date={day.isoformat()}" if query["date"] else ""))
            for w, name in (("day", "Day"), ("week", "Week"), ("month", "Month"))]
    return {"data": {**data, **links}, "heading": f"Trending {phrase}", "path": url(offset),
            "feed": f"/feeds/trending.atom?{feed_query}", "entries": [it["paper"] for it in data["items"]],
            "chrome": {"cards": cards, "tabs": tabs, "phrase": phrase}}


def home_trending(request: Request, window: str) -> tuple[dict[str, Any], list[Markup], str]:
    """The first page of a window containing today, for the home page's ``?window=`` tabs, and its heading."""
    window, day = choose_window(window, None, None, None, signals(request).clock().date())
    data, cards, phrase = ranking_data(request, window, day, DEFAULT_LIMIT, 0)
    return data, cards, f"Trending {phrase}"
