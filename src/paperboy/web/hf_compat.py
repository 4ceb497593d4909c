"""Endpoints that answer like the public Hugging Face Papers API, so its clients work with a paperboy base URL.

The shapes follow what ``huggingface_hub`` parses (``HfApi.paper_info``, ``list_papers``,
``list_daily_papers`` → ``PaperInfo``):

* ``GET /api/papers/{id}`` returns a *paper* object: ``id``, ``authors[{_id, name, hidden}]``,
  ``publishedAt``, ``title``, ``summary``, ``upvotes``, ``discussionId``, ...
* ``GET /api/papers/search?q=`` and ``GET /api/daily_papers`` return a list of *daily-paper items*:
  ``{"paper": {...}, "publishedAt", "title", "summary", "numComments", ...}`` (the client reads ``title``
  from the item, the rest from ``paper``).
* Datetimes are ``YYYY-MM-DDTHH:MM:SS.000Z``; errors are ``{"error": message}`` with a 4xx status.

What paperboy does not have is left out rather than faked: no thumbnails, submitters or organisations;
``upvotes`` and ``numComments`` are 0 until votes exist; ``sort=trending`` orders like ``publishedAt``
until the trending formula lands.  The "daily" date of a paper is its first submission date.
"""

from __future__ import annotations

import hashlib
from datetime import date

from fastapi import APIRouter, Query, Request

from paperboy.papers import Paper
from paperboy.query import MAX_LIMIT, MAX_OFFSET, SearchRequest
from paperboy.web.errors import WebError
from paperboy.web.models import JSON_ERRORS, HfItemOut, HfPaperOut
from paperboy.web.params import clean, parse_period
from paperboy.web.render import plain
from paperboy.web.services import reads, services
from paperboy.web.shapes import MAX_AUTHORS, JSONResponseFast

router = APIRouter(prefix="/api", tags=["Hugging Face Papers compatible"], responses=JSON_ERRORS,
                   default_response_class=JSONResponseFast)

HF_CACHE = {"Cache-Control": "public, max-age=60"}
HF_DEFAULT_LIMIT = 50


def _object_id(*parts: str) -> str:
    """A stable 24-hex id in the shape of the Hub's ``_id`` fields (MongoDB ObjectIds)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _datetime(d: date | None) -> str | None:
    return f"{d.isoformat()}T00:00:00.000Z" if d else None


def hf_paper(paper: Paper, max_authors: int | None = None) -> dict:
    """A paper in the Hub's paper-object shape; author names readable (TeX accents resolved).

    List items carry the first :data:`~paperboy.web.shapes.MAX_AUTHORS` authors (the Hub's shape has no
    field for the count of the rest; ``/api/papers/{id}`` gives them all).
    """
    ident = paper.arxiv_id or paper.id
    return {
        "id": ident,
        "authors": [{"_id": _object_id(ident, str(i), a.name), "name": plain(a.name), "hidden": False}
                    for i, a in enumerate(paper.authors[:max_authors])],
        "mediaUrls": [],
        "publishedAt": _datetime(paper.submitted),
        "submittedOnDailyAt": _datetime(paper.submitted),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": 0,
        "discussionId": _object_id("discussion", ident),
        "ai_keywords": [],
        "numComments": 0,
    }


def hf_item(paper: Paper) -> dict:
    """A daily-paper / search-result item: the paper plus the item-level fields the client reads."""
    return {
        "paper": hf_paper(paper, MAX_AUTHORS),
        "publishedAt": _datetime(paper.submitted),
        "title": paper.title,
        "summary": paper.abstract,
        "numComments": 0,
        "isAuthorParticipating": False,
    }


def _json(content: object) -> JSONResponseFast:
    return JSONResponseFast(content, headers=HF_CACHE)


@router.get("/papers/search", summary="Search papers (Hugging Face Papers compatible)",
            response_model=list[HfItemOut])
@reads("papers")
def hf_search(request: Request,
              q: str | None = Query(None, description="Search query; without one, the newest papers."),
              limit: int = Query(HF_DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many results.")
              ) -> JSONResponseFast:
    svc = services(request)
    query = clean(q, 1000, "q") or ""
    if not query:
        return _json([hf_item(p) for p in svc.newest(limit=limit).papers])
    result = svc.search(SearchRequest(query=query, limit=limit), "hf")
    return _json([hf_item(h.paper) for h in result.hits])


@router.get("/daily_papers", summary="Papers of a day, week or month (Hugging Face Papers compatible)",
            response_model=list[HfItemOut])
@reads("papers", "events")
def hf_daily_papers(
    request: Request,
    date: str | None = Query(None, description="YYYY-MM-DD: papers first submitted that day."),  # noqa: A002
    week: str | None = Query(None, description="YYYY-Www (ISO week), e.g. 2025-W09."),
    month: str | None = Query(None, description="YYYY-MM."),
    sort: str = Query("publishedAt", description="`publishedAt` or `trending` (until trending lands: newest)."),
    limit: int = Query(HF_DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    p: int = Query(0, ge=0, description="Page number, from 0."),
    submitter: str | None = Query(None, description="Hub user who submitted the paper (none here: empty list)."),
) -> JSONResponseFast:
    svc = services(request)
    if sort not in ("publishedAt", "trending"):
        raise WebError(400, "sort must be publishedAt or trending")
    period = parse_period(date, week, month)
    offset = p * limit
    if submitter or offset > MAX_OFFSET:
        return _json([])
    window = {"since": period.since, "until": period.until} if period else {}
    return _json([hf_item(p) for p in svc.newest(**window, limit=limit, offset=offset).papers])


@router.get("/papers/{ident:path}", summary="One paper by arXiv id (Hugging Face Papers compatible)",
            response_model=HfPaperOut)
@reads("papers")
def hf_paper_info(request: Request, ident: str) -> JSONResponseFast:
    svc = services(request)
    stored = svc.store.get(ident) if len(ident) <= 300 else None
    if stored is None:
        raise WebError(404, "Paper not found")
    return _json(hf_paper(stored.paper))
