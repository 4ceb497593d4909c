"""Atom 1.0 feeds (RFC 4287) for the latest papers, every search URL, every category and every author.

Feeds are built with lxml rather than a template: the serialiser escapes every text node and
attribute, so hostile titles cannot break out of the XML, and characters that XML 1.0 forbids
(control characters, lone surrogates) are removed first rather than making the serialiser fail.
Entries carry plain text (``type="text"``): feed readers differ too much in what markup they honour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from lxml import etree

from paperboy.papers import Paper
from paperboy.query import MAX_LIMIT
from paperboy.web import views
from paperboy.web.models import TEXT_ERRORS
from paperboy.web.params import search_params
from paperboy.web.render import author_path, paper_path, plain, safe_url
from paperboy.web.services import reads, services
from paperboy.web.views import Context, base_url


class AtomResponse(Response):
    """An Atom document (the OpenAPI document names its media type)."""

    media_type = "application/atom+xml"


router = APIRouter(prefix="/feeds", tags=["Atom feeds"], responses=TEXT_ERRORS, default_response_class=AtomResponse)

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEED_CACHE = {"Cache-Control": "public, max-age=600"}
FEED_LIMIT = 50
ARXIV_SCHEME = "http://arxiv.org/schemas/atom"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_A = "{" + ATOM_NS + "}"


def xml_text(text: str | None) -> str:
    """Text that XML 1.0 can carry."""
    return _NOT_XML.sub("", text or "")


def rfc3339(d: date | datetime) -> str:
    if isinstance(d, datetime):
        return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{d.isoformat()}T00:00:00Z"


def entry_id(paper: Paper) -> str:
    """A permanent, host-independent id: the arXiv abstract URL, else a URN over the store id."""
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return "urn:paperboy:paper:" + quote(paper.id, safe="")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _A + tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def build_feed(*, title: str, self_url: str, html_url: str, papers: Iterable[Paper], base: str,
               fallback_updated: datetime, subtitle: str | None = None) -> bytes:
    """An Atom document for ``papers`` (already in display order)."""
    papers = list(papers)
    feed = etree.Element(_A + "feed", nsmap={None: ATOM_NS})
    _sub(feed, "id", self_url)
    _sub(feed, "title", title, type="text")
    if subtitle:
        _sub(feed, "subtitle", subtitle, type="text")
    newest = max((p.updated or p.submitted for p in papers if p.updated or p.submitted), default=None)
    _sub(feed, "updated", rfc3339(newest) if newest else rfc3339(fallback_updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=html_url)
    author = _sub(feed, "author")
    _sub(author, "name", "paperboy")
    _sub(feed, "generator", "paperboy")
    for paper in papers:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(paper))
        _sub(entry, "title", plain(paper.title), type="text")
        # A paper without any date is dated by when this server last saw the data change, never 1970.
        _sub(entry, "updated", rfc3339(paper.updated or paper.submitted or fallback_updated))
        if paper.submitted:
            _sub(entry, "published", rfc3339(paper.submitted))
        for a in paper.authors[:100]:
            if xml_text(a.name).strip():
                el = _sub(entry, "author")
                _sub(el, "name", plain(a.name))
                _sub(el, "uri", base + author_path(a.name))
        _sub(entry, "link", rel="alternate", type="text/html", href=base + paper_path(paper.id))
        if pdf := safe_url(paper.links.get("pdf")):
            _sub(entry, "link", rel="related", type="application/pdf", href=pdf, title="PDF")
        for c in paper.categories:
            _sub(entry, "category", term=c, scheme=ARXIV_SCHEME, label=c)
        if paper.abstract:
            _sub(entry, "summary", plain(paper.abstract), type="text")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8")


def _self_url(request: Request) -> str:
    """This feed's own URL, percent-encoded (a feed id must be a valid IRI: no spaces)."""
    url = base_url(request) + quote(request.url.path, safe="/.-_~")
    return url + ("?" + request.url.query if request.url.query else "")


def atom(request: Request, ctx: Context, subtitle: str | None = None) -> AtomResponse:
    """A resource's context as an Atom feed of its entries."""
    base = base_url(request)
    body = build_feed(title=f"paperboy: {plain(ctx.heading)}", self_url=_self_url(request),
                      html_url=base + ctx.path, papers=ctx.entries, base=base,
                      fallback_updated=services(request).last_modified(), subtitle=subtitle)
    return AtomResponse(body, headers=FEED_CACHE, media_type=ATOM_TYPE)  # Starlette adds charsets to text/* only


Q_FEED_LIMIT = Query(FEED_LIMIT, description=f"Entries, 1 to {MAX_LIMIT}.")


@router.get("/latest.atom", summary="Atom feed of the newest papers")
@reads("papers")
def latest_feed(request: Request, limit: int = Q_FEED_LIMIT) -> AtomResponse:
    return atom(request, views.latest(request, limit=limit, offset=0))


@router.get("/category/{category}.atom", summary="Atom feed of a category (prefix match)")
@reads("papers")
def category_feed(request: Request, category: str, limit: int = Q_FEED_LIMIT) -> AtomResponse:
    return atom(request, views.category(request, category, limit=limit, offset=0))


@router.get("/author/{name:path}.atom", summary="Atom feed of an author's papers")
@reads("papers")
def author_feed(request: Request, name: str, limit: int = Q_FEED_LIMIT) -> AtomResponse:
    return atom(request, views.author(request, name, limit=limit, offset=0))


@router.get("/trending.atom", summary="Atom feed of a window's trending papers (default: this week)")
@reads("papers", "events", "clock")
def trending_feed(request: Request, window: str | None = None, date: str | None = None,  # noqa: A002
                  week: str | None = None, month: str | None = None, limit: int = Q_FEED_LIMIT) -> AtomResponse:
    ctx = views.trending(request, window=window, date=date, week=week, month=month, limit=limit, offset=0)
    return atom(request, ctx, subtitle=ctx.data["notice"] or "Ranked by the published trending formula")


@router.get("/search.atom", summary="Atom feed of a search (same parameters as the search page)")
@reads("papers")
def search_feed(request: Request, q: str = Query(..., max_length=1000), category: str | None = None,
                since: str | None = None, until: str | None = None, author: str | None = None,
                venue: str | None = None, sort: str | None = Query(None, description="`relevance` or `newest`."),
                mode: str | None = None, limit: int = Q_FEED_LIMIT, offset: int = 0) -> AtomResponse:
    """Follow a search in a feed reader: the same results as ``/search`` with the same URL parameters."""
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=True,
                      venue=venue)
    ctx = views.search_context(request, p, "feed")
    notice = ctx.data["notice"]
    return atom(request, ctx, subtitle=f"About {ctx.data['total']:,} results" + (f"; {notice}" if notice else ""))
