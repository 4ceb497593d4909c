"""Resources: each page's data is built once, as a :class:`Context`, then rendered as HTML, JSON or Atom.

The rule (datasette's views work the same way): every HTML page at ``PATH`` has a JSON twin at
``/api/v1`` + ``PATH`` holding the same data, because both are registered together from one view function by
:func:`resource`.  A view checks its parameters, asks :class:`~paperboy.web.services.Services` once and returns
a context: the data (papers, hits, periods, page links as :class:`~paperboy.web.shapes.Link`), the template, the
heading and the feed.  Feeds (:mod:`paperboy.web.feeds`) call the same views.

The older plural API paths (``/api/v1/papers/ID``, ``/authors/NAME``, ``/categories/CAT``, ``/home``) stay as
aliases of the twins, out of the OpenAPI document.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from paperboy.papers import Paper
from paperboy.query import MAX_LIMIT, MAX_OFFSET, SearchResult
from paperboy.web.auth import csrf_for, current_reader, display_reader
from paperboy.web.errors import WebError
from paperboy.web.following import follow_button
from paperboy.web.models import JSON_ERRORS, HomeOut, ListingOut, PaperPageOut, SearchOut, TrendingOut
from paperboy.web.paging import listing_url, page_links
from paperboy.web.params import (
    DEFAULT_LIMIT,
    LISTING_MAX_OFFSET,
    SearchParams,
    check_category,
    check_page,
    clean,
    search_params,
)
from paperboy.web.render import author_path, bibtex, category_path, paper_path
from paperboy.web.services import reads, services
from paperboy.web.shapes import JSONResponseFast, Link, jsonable, paper_json, twin_path
from paperboy.web.trending_pages import home_trending, trending_context
from paperboy.web.votes import paper_bar, visible_paper

router = APIRouter()

#: Pages change only when the data does; a minute of shared caching is safe, and validators make it cheap.
PAGE_CACHE = {"Cache-Control": "public, max-age=60"}
API_TAGS = ["paperboy API v1"]

Q_LIMIT = Query(DEFAULT_LIMIT, description=f"Results per page, 1 to {MAX_LIMIT}.")
Q_OFFSET = Query(0, description=f"Results to skip, at most {MAX_OFFSET:,}.")
Q_LIST_OFFSET = Query(0, description=f"Papers to skip, at most {LISTING_MAX_OFFSET:,}.")


@dataclass(slots=True)
class Context:
    """One resource's data, built once, and what each format needs to show it."""

    template: str  # the HTML page's template
    heading: str  # the page heading and the feed title
    path: str  # this page's path and query; its JSON twin is /api/v1 + path
    data: dict[str, Any]  # what the JSON twin returns and the template reads
    entries: list[Paper] = field(default_factory=list)  # the papers a feed of this resource carries, in order
    feed: str | None = None  # this resource's Atom feed (path and query)
    root: str | None = None  # a key of ``data`` whose paper is the JSON's top level, with all its authors
    chrome: dict[str, Any] = field(default_factory=dict)  # what only the HTML page needs (form options)


def base_url(request: Request) -> str:
    """The site's address for absolute URLs: the ``base_url`` setting, else the request's own (Host header)."""
    return (services(request).settings.base_url or str(request.base_url)).rstrip("/")


def render_html(request: Request, ctx: Context) -> HTMLResponse:
    template = services(request).env.get_template(ctx.template)
    reader = display_reader(request)  # the header's signed-in state; a reader's forms (Save as topic) need CSRF
    html = template.render(**ctx.data, **ctx.chrome, heading=ctx.heading, feed_url=ctx.feed,
                           json_url=twin_path(ctx.path), prev_url=ctx.data.get("prev"), next_url=ctx.data.get("next"),
                           reader=reader, csrf_token=csrf_for(request) if reader else None)
    return HTMLResponse(html, headers=PAGE_CACHE)


def json_data(request: Request, ctx: Context) -> dict:
    """The twin's JSON: the context's data with papers, hits and links in their API shapes."""
    base = base_url(request)
    if ctx.root is None:
        return jsonable(ctx.data, base)
    rest = {k: v for k, v in ctx.data.items() if k != ctx.root}
    return {**paper_json(ctx.data[ctx.root], base, max_authors=None), **jsonable(rest, base)}


def render_json(request: Request, ctx: Context) -> JSONResponseFast:
    return JSONResponseFast(json_data(request, ctx), headers=PAGE_CACHE)


def resource(path: str, *, summary: str, model: type, depends: tuple[str, ...] = ("papers",),
             aliases: tuple[str, ...] = ()) -> Callable:
    """Register ``view`` as the HTML page at ``path`` and its JSON twin at ``/api/v1`` + ``path``."""
    def register(view: Callable[..., Context]) -> Callable[..., Context]:
        signature = inspect.signature(view, eval_str=True)  # FastAPI reads parameters from the wrappers

        @reads(*depends)
        def page(**params: Any) -> HTMLResponse:
            return render_html(params["request"], view(**params))

        @reads(*depends)
        def twin(**params: Any) -> JSONResponseFast:
            return render_json(params["request"], view(**params))

        for fn, kind, answer in ((page, "page", HTMLResponse), (twin, "json", JSONResponseFast)):
            fn.__signature__ = signature.replace(return_annotation=answer)  # type: ignore[attr-defined]
            fn.__name__ = f"{view.__name__}_{kind}"
            fn.__doc__ = view.__doc__
        router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
        router.add_api_route(twin_path(path), twin, methods=["GET"], summary=summary, tags=API_TAGS,
                             response_class=JSONResponseFast, response_model=model, responses=JSON_ERRORS)
        for alias in aliases:
            router.add_api_route(alias, twin, methods=["GET"], include_in_schema=False,
                                 response_class=JSONResponseFast)
        return view

    return register


# -- the resources ------------------------------------------------------------------------------------------------


@resource("/", summary="The home page: newest papers (or a window's trending ones), the latest by category",
          model=HomeOut, depends=("papers", "events", "clock"), aliases=("/api/v1/home",))
def home(request: Request, window: str | None = Query(
        None, description="`day`, `week` or `month`: that window's trending papers instead of the newest.")) -> Context:
    """Newest papers, then the latest few of each of the biggest archives, and today / this week / this month."""
    svc = services(request)
    newest = svc.newest(limit=DEFAULT_LIMIT).papers
    by_category = [{"category": c, "papers_total": n, "papers": svc.newest(category=c, limit=5).papers}
                   for c, n in svc.top_archives(6)]
    data = {"total": svc.paper_count(), "periods": svc.periods_now(), "newest": newest, "by_category": by_category,
            "trending": None}
    chrome: dict[str, Any] = {}
    if window is not None:
        data["trending"], chrome["trending_cards"], chrome["trending_heading"] = home_trending(request, window)
    path = f"/?window={window}" if window else "/"
    return Context("home.html", "paperboy", path, data, entries=newest, feed="/feeds/latest.atom", chrome=chrome)


def listing(request: Request, *, heading: str, path: str, feed: str, category: str | None = None,
            author: str | None = None, limit: int, offset: int, follow: tuple[str, str] | None = None) -> Context:
    """One page of a newest-first listing: everything, a category (prefix) or an author."""
    check_page(limit, offset, LISTING_MAX_OFFSET)
    page = services(request).newest(category=category, author=author, limit=limit, offset=offset)
    url = listing_url(path, {}, limit)
    links = page_links(url, limit=limit, offset=offset, total=page.total, shown=len(page.papers),
                       max_offset=LISTING_MAX_OFFSET)
    extra = {"category": category} if category else {"author": author} if author else {}
    data = {**extra, "total": page.total, "limit": limit, "offset": offset, **links, "papers": page.papers}
    chrome = {"follow": follow_button(request, *follow)} if follow else {}  # the signed-in reader's follow button
    return Context("listing.html", heading, url(offset), data, entries=page.papers, feed=feed, chrome=chrome)


@resource("/latest", summary="Newest papers first", model=ListingOut)
def latest(request: Request, limit: int = Q_LIMIT, offset: int = Q_LIST_OFFSET) -> Context:
    return listing(request, heading="Latest papers", path="/latest", feed="/feeds/latest.atom", limit=limit,
                   offset=offset)


@resource("/category/{category}", summary="A category's papers (prefix match), newest first", model=ListingOut,
          aliases=("/api/v1/categories/{category}",))
def category(request: Request, category: str, limit: int = Q_LIMIT, offset: int = Q_LIST_OFFSET) -> Context:
    cat = check_category(category)
    if cat is None:
        raise WebError(404, "No such category")
    return listing(request, heading=f"Category {cat}", path=category_path(cat), feed=f"/feeds/category/{cat}.atom",
                   category=cat, limit=limit, offset=offset, follow=("category", cat))


@resource("/author/{name:path}", summary="An author's papers, newest first", model=ListingOut,
          aliases=("/api/v1/authors/{name:path}",))
def author(request: Request, name: str, limit: int = Q_LIMIT, offset: int = Q_LIST_OFFSET) -> Context:
    who = clean(name, 200, "author name")
    if not who:
        raise WebError(404, "No such author")
    path = author_path(who)
    return listing(request, heading=f"Papers by {who}", path=path,
                   feed="/feeds/author/" + path.removeprefix("/author/") + ".atom", author=who, limit=limit,
                   offset=offset, follow=("author", who))


@resource("/trending", summary="What readers upvote, save and read in a day, week or month (docs/trending.md)",
          model=TrendingOut, depends=("papers", "events", "clock"))
def trending(
    request: Request,
    window: str | None = Query(None, description="`day`, `week` (default) or `month`."),
    date: str | None = Query(None, description="YYYY-MM-DD: a day in the window (default: today, UTC)."),  # noqa: A002
    week: str | None = Query(None, description="YYYY-Www (ISO week), e.g. 2007-W14: the same as window=week."),
    month: str | None = Query(None, description="YYYY-MM: the same as window=month."),
    limit: int = Q_LIMIT,
    offset: int = Q_OFFSET,
) -> Context:
    """Papers ranked by the published trending formula, each with its score, the counts behind it and why;
    the newest papers, said so, when nobody did anything in the window."""
    ctx = trending_context(request, window=window, date_=date, week=week, month=month, limit=limit, offset=offset)
    return Context("trending.html", ctx["heading"], ctx["path"], ctx["data"], entries=ctx["entries"],
                   feed=ctx["feed"], chrome=ctx["chrome"])


def search_data(p: SearchParams, result: SearchResult) -> dict[str, Any]:
    """A search's data, as the page, its JSON twin, its feed and ``paperboy search --json`` give it."""
    links = page_links(lambda o: "/search?" + p.query_string(offset=o), limit=p.limit, offset=p.offset,
                       total=result.total, shown=len(result.hits), max_offset=MAX_OFFSET)
    return {"query": p, "total": result.total, "took_ms": round(result.took_ms, 3), "mode_used": result.mode_used,
            "notice": result.notice, "suggestion": result.suggestion, **links, "hits": result.hits}


def search_context(request: Request, p: SearchParams, surface: str) -> Context:
    """A search page's data (the form alone when there is no query)."""
    svc = services(request)
    path = "/search?" + p.query_string()
    chrome: dict[str, Any] = {"p": p, "result": None, "categories": svc.top_categories(40)}
    if not p.q:
        return Context("search.html", "Search", path, {"query": p}, chrome=chrome)
    result = svc.search(p.request(), surface)
    data = search_data(p, result)
    chrome["result"] = result
    return Context("search.html", f"search {p.q}", path, data, entries=[h.paper for h in result.hits],
                   feed="/feeds/search.atom?" + p.query_string(), chrome=chrome)


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
@reads("papers")
def search_page(request: Request, q: str | None = Query(None), category: str | None = Query(None),
                since: str | None = Query(None), until: str | None = Query(None), author: str | None = Query(None),
                venue: str | None = Query(None), sort: str | None = Query(None), mode: str | None = Query(None),
                limit: int = Query(DEFAULT_LIMIT), offset: int = Query(0)) -> HTMLResponse:
    """The search page: the form always, results when there is a query (its twin requires one)."""
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=False, venue=venue)
    return render_html(request, search_context(request, p, "page"))


@router.get(twin_path("/search"), summary="Search papers (hybrid, lexical or dense)", tags=API_TAGS,
            response_class=JSONResponseFast, response_model=SearchOut, responses=JSON_ERRORS)
@reads("papers")
def search_twin(
    request: Request,
    q: str = Query(..., description="The query: words, \"a phrase\", -excluded, an arXiv id or a DOI.",
                   max_length=1000),
    category: str | None = Query(None, description="Category prefix: `cs` or `cs.LG`."),
    since: str | None = Query(None, description="First submission on or after this day (YYYY-MM-DD)."),
    until: str | None = Query(None, description="First submission on or before this day (YYYY-MM-DD)."),
    author: str | None = Query(None, description="Author name; all words must match one author."),
    venue: str | None = Query(None, description="Venue or journal words: `ICLR`, `ICLR 2024`, `Phys. Rev. D`."),
    sort: str = Query("relevance", description="`relevance` or `newest`.", pattern="^(relevance|newest)$"),
    mode: str = Query("hybrid", description="`hybrid`, `lexical` or `dense`.", pattern="^(hybrid|lexical|dense)$"),
    limit: int = Q_LIMIT,
    offset: int = Q_OFFSET,
) -> JSONResponseFast:
    """The search page's JSON twin: the same engine call, the same parameters."""
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=True, venue=venue)
    return render_json(request, search_context(request, p, "api"))


@resource("/paper/{ident:path}", summary="One paper by id, arXiv id (any form) or DOI, with similar papers",
          model=PaperPageOut, aliases=("/api/v1/papers/{ident:path}",))
def paper(request: Request, ident: str) -> Context:
    """One paper, with its versions, BibTeX and similar papers."""
    svc = services(request)
    stored = visible_paper(request, ident, current_reader(request))
    found = stored.paper
    path = paper_path(found.id)
    similar = [h for h in svc.similar(stored, 10) if h.paper.id != found.id]
    data = {"paper": found, "bibtex": bibtex(found), "similar_url": Link(path + "/similar"), "similar": similar}
    chrome = {"search_available": svc.engine is not None, "canonical": base_url(request) + path,
              "signals": paper_bar(request, stored)}
    return Context("paper.html", found.title, path, data, root="paper", chrome=chrome)
