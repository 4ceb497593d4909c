"""Server-rendered HTML pages: home, latest, search, paper, author and category.

Every page is a pure function of its URL (state lives in the query string), works without
JavaScript, and has a JSON twin under ``/api/v1`` and, for listings, an Atom feed.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from paperboy.query import MAX_OFFSET
from paperboy.web.common import (
    DEFAULT_LIMIT,
    LISTING_MAX_OFFSET,
    WebError,
    base_url,
    check_category,
    check_page,
    choose_period,
    clean,
    page_links,
    period_papers,
    search_params,
    services,
)
from paperboy.web.render import author_path, bibtex, category_path, paper_path

router = APIRouter(include_in_schema=False)

#: Pages change only when the data does; a minute of shared caching is safe, and validators make it cheap.
PAGE_CACHE = {"Cache-Control": "public, max-age=60"}


def _html(request: Request, template: str, **context) -> HTMLResponse:
    env = services(request).env
    return HTMLResponse(env.get_template(template).render(**context), headers=PAGE_CACHE)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Newest papers, then the latest few of each of the biggest categories."""
    svc = services(request)
    newest = svc.store.latest(limit=DEFAULT_LIMIT)
    by_category = [(cat, n, svc.category_papers(cat, 5, 0)[0]) for cat, n in svc.top_archives(6)]
    _, around = choose_period(svc, None, None, None)
    return _html(request, "home.html", newest=newest, by_category=by_category, total=svc.paper_count(),
                 around=around)


def _listing(request: Request, *, heading: str, category: str | None, author: str | None, path: str,
             feed_url: str, json_url: str, limit: int, offset: int) -> HTMLResponse:
    svc = services(request)
    check_page(limit, offset, LISTING_MAX_OFFSET)
    papers, total = svc.listing(category, author, limit, offset)
    links = page_links(path, {}, limit, offset, total, LISTING_MAX_OFFSET)
    return _html(request, "listing.html", heading=heading, papers=papers, total=total, offset=offset,
                 feed_url=feed_url, json_url=json_url, prev_url=links["prev"], next_url=links["next"])


@router.get("/latest", response_class=HTMLResponse)
def latest(request: Request, limit: int = Query(DEFAULT_LIMIT), offset: int = Query(0)) -> HTMLResponse:
    return _listing(request, heading="Latest papers", category=None, author=None, path="/latest",
                    feed_url="/feeds/latest.atom", json_url=f"/api/v1/latest?limit={limit}&offset={offset}",
                    limit=limit, offset=offset)


@router.get("/category/{category}", response_class=HTMLResponse)
def category_page(request: Request, category: str, limit: int = Query(DEFAULT_LIMIT),
                  offset: int = Query(0)) -> HTMLResponse:
    cat = check_category(category)
    if cat is None:
        raise WebError(404, "No such category")
    return _listing(request, heading=f"Category {cat}", category=cat, author=None, path=category_path(cat),
                    feed_url=f"/feeds/category/{cat}.atom",
                    json_url=f"/api/v1/categories/{cat}?limit={limit}&offset={offset}", limit=limit, offset=offset)


@router.get("/author/{name:path}", response_class=HTMLResponse)
def author_page(request: Request, name: str, limit: int = Query(DEFAULT_LIMIT),
                offset: int = Query(0)) -> HTMLResponse:
    author = clean(name, 200, "author name")
    if not author:
        raise WebError(404, "No such author")
    quoted = author_path(author).removeprefix("/author/")
    return _listing(request, heading=f"Papers by {author}", category=None, author=author,
                    path=author_path(author), feed_url=f"/feeds/author/{quoted}.atom",
                    json_url=f"/api/v1/authors/{quoted}?limit={limit}&offset={offset}", limit=limit, offset=offset)


@router.get("/trending", response_class=HTMLResponse)
def trending_page(request: Request, date: str | None = Query(None), week: str | None = Query(None),  # noqa: A002
                  month: str | None = Query(None), limit: int = Query(DEFAULT_LIMIT),
                  offset: int = Query(0)) -> HTMLResponse:
    """Today / this week / this month: newest first until the trending formula lands."""
    svc = services(request)
    period, around = choose_period(svc, date, week, month)
    result = period_papers(svc, period, limit, offset, "page")
    query = {period.kind: period.value}
    links = page_links("/trending", query, limit, offset, result.total, MAX_OFFSET)
    qs = f"{period.kind}={period.value}"
    return _html(request, "trending.html", period=period, around=around, result=result, offset=offset,
                 prev_url=links["prev"], next_url=links["next"], feed_url=f"/feeds/trending.atom?{qs}",
                 json_url=f"/api/v1/trending?{qs}&limit={limit}&offset={offset}")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str | None = Query(None), category: str | None = Query(None),
                since: str | None = Query(None), until: str | None = Query(None), author: str | None = Query(None),
                sort: str | None = Query(None), mode: str | None = Query(None), limit: int = Query(DEFAULT_LIMIT),
                offset: int = Query(0)) -> HTMLResponse:
    """The search page: the form always, results when there is a query."""
    svc = services(request)
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=False)
    result = svc.search(p.request(), "page") if p.q else None
    prev_url = next_url = None
    if result is not None:
        nxt = p.offset + p.limit
        if nxt < result.total and nxt <= MAX_OFFSET and len(result.hits) == p.limit:
            next_url = "/search?" + p.query_string(offset=nxt)
        if p.offset:
            prev_url = "/search?" + p.query_string(offset=max(0, p.offset - p.limit))
    qs = p.query_string()
    return _html(request, "search.html", p=p, result=result, prev_url=prev_url, next_url=next_url,
                 feed_url="/feeds/search.atom?" + qs, json_url="/api/v1/search?" + qs,
                 categories=svc.top_categories(40))


@router.get("/paper/{ident:path}", response_class=HTMLResponse)
def paper_page(request: Request, ident: str) -> HTMLResponse:
    """One paper, with its versions, BibTeX and similar papers."""
    svc = services(request)
    stored = svc.store.get(ident) if len(ident) <= 300 else None
    if stored is None:
        raise WebError(404, f"No paper with the id {ident[:100]!r} is in this library.")
    paper = stored.paper
    similar = [h for h in svc.similar(stored, 10) if h.paper.id != paper.id]
    return _html(request, "paper.html", paper=paper, similar=similar, bib=bibtex(paper),
                 search_available=svc.engine is not None, canonical=base_url(request) + paper_path(paper.id),
                 json_url="/api/v1" + paper_path(paper.id).replace("/paper/", "/papers/", 1))


@router.get("/abs/{ident:path}")
def arxiv_style(ident: str) -> RedirectResponse:
    """``/abs/ID`` (arXiv's URL shape) goes to the paper page, so swapping the host in a link works."""
    return RedirectResponse(paper_path(ident), status_code=301)


@router.get("/robots.txt")
def robots() -> HTMLResponse:
    body = "User-agent: *\nDisallow: /search\nDisallow: /api/\nDisallow: /feeds/search.atom\n"
    return HTMLResponse(body, media_type="text/plain", headers=PAGE_CACHE)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=301)
