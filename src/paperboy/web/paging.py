"""Limit/offset paging links, computed once per resource and shared by its HTML page, JSON twin and feed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from paperboy.web.shapes import Link


def listing_url(path: str, query: dict[str, Any], limit: int) -> Callable[[int], str]:
    """URLs of ``path`` with ``query`` plus explicit ``limit`` and ``offset`` (the listings' link style)."""
    def url(offset: int) -> str:
        params = {k: v for k, v in query.items() if v not in (None, "")}
        params.update(limit=limit, offset=offset)
        return f"{path}?{urlencode(params)}"

    return url


def page_links(url: Callable[[int], str], *, limit: int, offset: int, total: int, shown: int,
               max_offset: int) -> dict[str, Link | None]:
    """``next``/``prev`` links (None at either end, past ``max_offset``, or after a short page)."""
    nxt = offset + limit
    return {
        "next": Link(url(nxt)) if nxt < total and nxt <= max_offset and shown >= limit else None,
        "prev": Link(url(max(0, offset - limit))) if offset > 0 else None,
    }
