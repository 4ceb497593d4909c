"""The JSON shapes of papers, hits and resource contexts: one definition for the API, feeds and the CLI.

A resource context (see :mod:`paperboy.web.views`) holds domain objects (papers, hits, periods, page links);
:func:`jsonable` turns one into the JSON its twin returns, so the HTML page and the JSON hold the same data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from starlette.responses import JSONResponse

from paperboy.papers import Paper
from paperboy.query import Hit
from paperboy.store.base import StoredPaper
from paperboy.web.render import author_path, category_path, paper_path, plain, safe_url

API_PREFIX = "/api/v1"
#: Authors per paper in lists (search hits, listings): a 60,000-author paper must not make a 7 MB answer.
MAX_AUTHORS = 20


class Link(str):
    """A path on this site ("/latest?offset=20"); in JSON it becomes the absolute URL of its ``/api/v1`` twin."""

    __slots__ = ()


def twin_path(path: str) -> str:
    """The JSON twin of a page path: ``/api/v1`` + the path."""
    return API_PREFIX + path


class JSONResponseFast(JSONResponse):
    """JSON via orjson: 3-10x faster than the standard library on paper-sized payloads.

    A ``JSONResponse`` subclass so that FastAPI documents the route's response model in the OpenAPI document.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def paper_json(paper: Paper, base: str, max_authors: int | None = MAX_AUTHORS) -> dict:
    """A paper as the API returns it: the stored record plus this site's URLs; only http(s) links survive.

    Author names are readable text (TeX accents resolved, as the pages show them; the author URL keeps the
    stored name).  Lists carry the first ``max_authors`` authors and ``authors_more``, the count of the rest.
    """
    data = paper.to_dict()
    data["links"] = {k: v for k, v in paper.links.items() if safe_url(v)}
    data["url"] = base + paper_path(paper.id)
    data["api_url"] = base + twin_path(paper_path(paper.id))
    authors = data["authors"] if max_authors is None else data["authors"][:max_authors]
    data["authors"] = [dict(a, name=plain(a["name"]), url=base + author_path(a["name"])) for a in authors]
    data["authors_more"] = len(paper.authors) - len(authors)
    data["category_urls"] = {c: base + category_path(c) for c in paper.categories}
    return data


def hit_json(hit: Hit, base: str) -> dict:
    return {"paper": paper_json(hit.paper, base), "score": round(float(hit.score), 6), "why": hit.why,
            "explain": hit.explain, "highlights": {k: [list(s) for s in v] for k, v in (hit.highlights or {}).items()}}


def jsonable(value: Any, base: str) -> Any:
    """``value`` as JSON data: papers, hits, page links, dates and objects with ``as_dict()`` converted."""
    if isinstance(value, Link):
        return base + twin_path(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Paper):
        return paper_json(value, base)
    if isinstance(value, StoredPaper):
        return paper_json(value.paper, base)
    if isinstance(value, Hit):
        return hit_json(value, base)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v, base) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, base) for v in value]
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"no JSON shape for {type(value).__name__}")
