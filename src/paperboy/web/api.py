"""The versioned JSON API (``/api/v1``): one twin for every HTML page, plus the API docs page.

Parameters are the ones the pages take, with the same names and limits, so a page URL becomes its
JSON twin by prefixing ``/api/v1``.  Errors are ``{"error": message, "status": code}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from paperboy.query import MAX_LIMIT, MAX_OFFSET
from paperboy.web.common import (
    DEFAULT_LIMIT,
    LISTING_MAX_OFFSET,
    JSONResponseFast,
    WebError,
    base_url,
    check_category,
    check_page,
    choose_period,
    clean,
    hit_json,
    page_links,
    paper_json,
    period_papers,
    search_params,
    services,
)
from paperboy.web.render import author_path, category_path

router = APIRouter(prefix="/api/v1", tags=["paperboy API v1"])
docs_router = APIRouter(include_in_schema=False)

API_CACHE = {"Cache-Control": "public, max-age=60"}

Q_LIMIT = Query(DEFAULT_LIMIT, description=f"Results per page, 1 to {MAX_LIMIT}.")
Q_OFFSET = Query(0, description=f"Results to skip (search: at most {MAX_OFFSET}).")
Q_LIST_OFFSET = Query(0, description=f"Papers to skip, at most {LISTING_MAX_OFFSET:,}.")


def _json(content: Any) -> JSONResponseFast:
    return JSONResponseFast(content, headers=API_CACHE)


def _listing(request: Request, *, category: str | None, author: str | None, path: str, limit: int,
             offset: int, extra: dict | None = None) -> JSONResponseFast:
    svc = services(request)
    check_page(limit, offset, LISTING_MAX_OFFSET)
    papers, total = svc.listing(category, author, limit, offset)
    base = base_url(request)
    links = page_links(base + path, {}, limit, offset, total, LISTING_MAX_OFFSET)
    return _json({**(extra or {}), "total": total, "limit": limit, "offset": offset, **links,
                  "papers": [paper_json(p, base) for p in papers]})


@router.get("/search", summary="Search papers (hybrid, lexical or dense)")
def api_search(
    request: Request,
    q: str = Query(..., description="The query: words, \"a phrase\", -excluded, an arXiv id or a DOI.",
                   max_length=1000),
    category: str | None = Query(None, description="Category prefix: `cs` or `cs.LG`."),
    since: str | None = Query(None, description="First submission on or after this day (YYYY-MM-DD)."),
    until: str | None = Query(None, description="First submission on or before this day (YYYY-MM-DD)."),
    author: str | None = Query(None, description="Author name; all words must match one author."),
    sort: str = Query("relevance", description="`relevance` or `newest`.", pattern="^(relevance|newest)$"),
    mode: str = Query("hybrid", description="`hybrid`, `lexical` or `dense`.", pattern="^(hybrid|lexical|dense)$"),
    limit: int = Q_LIMIT,
    offset: int = Q_OFFSET,
) -> JSONResponseFast:
    """The search page's JSON twin: the same engine call, the same parameters."""
    svc = services(request)
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=True)
    result = svc.search(p.request(), "api")
    base = base_url(request)
    nxt = p.offset + p.limit
    return _json({
        "query": p.as_dict(),
        "total": result.total,
        "took_ms": round(result.took_ms, 3),
        "mode_used": result.mode_used,
        "notice": result.notice,
        "next": f"{base}/api/v1/search?{p.query_string(offset=nxt)}"
        if nxt < result.total and nxt <= MAX_OFFSET and len(result.hits) == p.limit else None,
        "prev": f"{base}/api/v1/search?{p.query_string(offset=max(0, p.offset - p.limit))}" if p.offset else None,
        "hits": [hit_json(h, base) for h in result.hits],
    })


@router.get("/papers/{ident:path}/similar", summary="Papers similar to one paper (nearest neighbours)")
def api_similar(request: Request, ident: str,
                limit: int = Query(10, ge=1, le=50, description="How many, 1 to 50.")) -> JSONResponseFast:
    svc = services(request)
    stored = svc.store.get(ident) if len(ident) <= 300 else None
    if stored is None:
        raise WebError(404, f"no paper with the id {ident[:100]!r}")
    svc.require_engine()
    base = base_url(request)
    hits = [h for h in svc.similar(stored, limit + 1) if h.paper.id != stored.paper.id][:limit]
    return _json({"paper_id": stored.paper.id, "similar": [hit_json(h, base) for h in hits]})


@router.get("/papers/{ident:path}", summary="One paper by id, arXiv id (any form) or DOI")
def api_paper(request: Request, ident: str) -> JSONResponseFast:
    svc = services(request)
    stored = svc.store.get(ident) if len(ident) <= 300 else None
    if stored is None:
        raise WebError(404, f"no paper with the id {ident[:100]!r}")
    from paperboy.web.render import bibtex

    data = paper_json(stored.paper, base_url(request))
    data["bibtex"] = bibtex(stored.paper)
    data["similar_url"] = data["api_url"] + "/similar"
    return _json(data)


@router.get("/latest", summary="Newest papers first")
def api_latest(request: Request, limit: int = Q_LIMIT, offset: int = Q_LIST_OFFSET) -> JSONResponseFast:
    return _listing(request, category=None, author=None, path="/api/v1/latest", limit=limit, offset=offset)


@router.get("/authors/{name:path}", summary="An author's papers, newest first")
def api_author(request: Request, name: str, limit: int = Q_LIMIT, offset: int = Q_LIST_OFFSET) -> JSONResponseFast:
    author = clean(name, 200, "author name")
    if not author:
        raise WebError(404, "no such author")
    return _listing(request, category=None, author=author, path="/api/v1" + author_path(author).replace(
        "/author/", "/authors/", 1), limit=limit, offset=offset, extra={"author": author})


@router.get("/categories", summary="Categories with their paper counts (by primary category)")
def api_categories(request: Request) -> JSONResponseFast:
    svc = services(request)
    base = base_url(request)
    return _json({"categories": [{"category": c, "papers": n, "url": base + category_path(c)}
                                 for c, n in svc.top_categories(10_000)]})


@router.get("/categories/{category}", summary="A category's papers (prefix match), newest first")
def api_category(request: Request, category: str, limit: int = Q_LIMIT,
                 offset: int = Q_LIST_OFFSET) -> JSONResponseFast:
    cat = check_category(category)
    if cat is None:
        raise WebError(404, "no such category")
    return _listing(request, category=cat, author=None, path=f"/api/v1/categories/{cat}", limit=limit,
                    offset=offset, extra={"category": cat})


@router.get("/trending", summary="Papers of a day, week or month (newest first until trending lands)")
def api_trending(
    request: Request,
    date: str | None = Query(None, description="YYYY-MM-DD."),  # noqa: A002
    week: str | None = Query(None, description="YYYY-Www (ISO week), e.g. 2007-W14."),
    month: str | None = Query(None, description="YYYY-MM."),
    limit: int = Q_LIMIT,
    offset: int = Q_OFFSET,
) -> JSONResponseFast:
    """Without a period: the week of the newest paper.  Ranking is by submission date for now; the
    trending formula (votes, saves, views with time decay) replaces it without changing this shape."""
    svc = services(request)
    period, around = choose_period(svc, date, week, month)
    result = period_papers(svc, period, limit, offset, "api")
    base = base_url(request)
    query = {period.kind: period.value}
    links = page_links(base + "/api/v1/trending", query, limit, offset, result.total, MAX_OFFSET)
    return _json({"period": period.as_dict(), "ranking": "newest", "total": result.total, "limit": limit,
                  "offset": offset, **links, "periods": {k: p.as_dict() for k, p in around.items()},
                  "papers": [paper_json(h.paper, base) for h in result.hits]})


@router.get("/home", summary="The home page's content: newest papers and the latest by category")
def api_home(request: Request) -> JSONResponseFast:
    svc = services(request)
    base = base_url(request)
    newest = svc.store.latest(limit=DEFAULT_LIMIT)
    by_cat = [{"category": c, "papers_total": n,
               "papers": [paper_json(p, base) for p in svc.category_papers(c, 5, 0)[0]]}
              for c, n in svc.top_archives(6)]
    return _json({"total": svc.paper_count(), "newest": [paper_json(sp.paper, base) for sp in newest],
                  "by_category": by_cat})


# -- the docs page ------------------------------------------------------------------------------------------------


@docs_router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """A readable, interactive rendering of the OpenAPI document, served from this site (no CDN)."""
    spec = request.app.openapi()
    endpoints = []
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            params = []
            for prm in op.get("parameters", []):
                schema = prm.get("schema", {})
                kind = schema.get("type") or " | ".join(
                    s.get("type", "?") for s in schema.get("anyOf", []) if s.get("type") != "null") or "string"
                params.append({"name": prm["name"], "in": prm["in"], "required": prm.get("required", False),
                               "type": kind, "default": schema.get("default"),
                               "description": prm.get("description") or schema.get("description") or ""})
            endpoints.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                              "description": op.get("description", ""), "tags": op.get("tags", []),
                              "params": params, "responses": sorted(op.get("responses", {}))})
    html = services(request).env.get_template("api_docs.html").render(spec=spec, endpoints=endpoints)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})
