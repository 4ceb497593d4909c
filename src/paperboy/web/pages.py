"""Site paths that are not resources: arXiv-style redirects, robots.txt and the favicon.

The pages themselves (home, latest, search, paper, author, category, trending) are resources with JSON
twins, registered in :mod:`paperboy.web.views`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, RedirectResponse

from paperboy.web.render import paper_path
from paperboy.web.views import PAGE_CACHE

router = APIRouter(include_in_schema=False)


@router.get("/abs/{ident:path}")
def arxiv_style(ident: str) -> RedirectResponse:
    """``/abs/ID`` (arXiv's URL shape) goes to the paper page, so swapping the host in a link works."""
    return RedirectResponse(paper_path(ident), status_code=301)


@router.get("/robots.txt", response_class=PlainTextResponse)
def robots() -> PlainTextResponse:
    body = "User-agent: *\nDisallow: /search\nDisallow: /api/\nDisallow: /feeds/search.atom\n"
    return PlainTextResponse(body, headers=PAGE_CACHE)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=301)
