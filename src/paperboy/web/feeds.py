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
from paperboy.web.common import (
    LISTING_MAX_OFFSET,
    WebError,
    base_url,
    check_category,
    check_page,
    choose_period,
    clean,
    period_papers,
    search_params,
    services,
)
from paperboy.web.render import author_path, category_path, paper_path, plain, safe_url

router = APIRouter(prefix="/feeds", tags=["Atom feeds"])

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


def rfc3339(d: date | datetime | None) -> str:
    if d is None:
        return "1970-01-01T00:00:00Z"
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
        _sub(entry, "updated", rfc3339(paper.updated or paper.submitted))
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


def _atom(body: bytes) -> Response:
    return Response(body, media_type=ATOM_TYPE, headers=FEED_CACHE)


def _self_url(request: Request) -> str:
    """This feed's own URL, percent-encoded (a feed id must be a valid IRI: no spaces)."""
    url = base_url(request) + quote(request.url.path, safe="/.-_~")
    return url + ("?" + request.url.query if request.url.query else "")


def _listing_feed(request: Request, *, title: str, html_path: str, category: str | None, author: str | None,
                  limit: int) -> Response:
    svc = services(request)
    check_page(limit, 0, LISTING_MAX_OFFSET)
    if category:
        papers = svc.category_papers(category, limit, 0)[0]
    else:
        papers = [sp.paper for sp in svc.store.latest(author=author, limit=limit)]
    base = base_url(request)
    return _atom(build_feed(title=title, self_url=_self_url(request), html_url=base + html_path, papers=papers,
                            base=base, fallback_updated=svc.last_modified))


Q_FEED_LIMIT = Query(FEED_LIMIT, description=f"Entries, 1 to {MAX_LIMIT}.")


@router.get("/latest.atom", summary="Atom feed of the newest papers", response_class=Response)
def latest_feed(request: Request, limit: int = Q_FEED_LIMIT) -> Response:
    return _listing_feed(request, title="paperboy: latest papers", html_path="/latest", category=None, author=None,
                         limit=limit)


@router.get("/category/{category}.atom", summary="Atom feed of a category (prefix match)", response_class=Response)
def category_feed(request: Request, category: str, limit: int = Q_FEED_LIMIT) -> Response:
    cat = check_category(category)
    if cat is None:
        raise WebError(404, "no such category")
    return _listing_feed(request, title=f"paperboy: {cat}", html_path=category_path(cat), category=cat, author=None,
                         limit=limit)


@router.get("/author/{name:path}.atom", summary="Atom feed of an author's papers", response_class=Response)
def author_feed(request: Request, name: str, limit: int = Q_FEED_LIMIT) -> Response:
    author = clean(name, 200, "author name")
    if not author:
        raise WebError(404, "no such author")
    return _listing_feed(request, title=f"paperboy: papers by {plain(author)}", html_path=author_path(author),
                         category=None, author=author, limit=limit)


@router.get("/trending.atom", summary="Atom feed of a day, week or month (default: this week)",
            response_class=Response)
def trending_feed(request: Request, date: str | None = None, week: str | None = None,  # noqa: A002
                  month: str | None = None, limit: int = Q_FEED_LIMIT) -> Response:
    svc = services(request)
    period, _ = choose_period(svc, date, week, month)
    result = period_papers(svc, period, limit, 0, "feed")
    base = base_url(request)
    return _atom(build_feed(title=f"paperboy: {period.label}", self_url=_self_url(request),
                            html_url=f"{base}/trending?{period.kind}={period.value}",
                            papers=[h.paper for h in result.hits], base=base, fallback_updated=svc.last_modified))


@router.get("/search.atom", summary="Atom feed of a search (same parameters as the search page)",
            response_class=Response)
def search_feed(request: Request, q: str = Query(..., max_length=1000), category: str | None = None,
                since: str | None = None, until: str | None = None, author: str | None = None,
                sort: str | None = Query(None, description="`relevance` or `newest`."),
                mode: str | None = None, limit: int = Q_FEED_LIMIT, offset: int = 0) -> Response:
    """Follow a search in a feed reader: the same results as ``/search`` with the same URL parameters."""
    svc = services(request)
    p = search_params(q, category, since, until, author, sort, mode, limit, offset, require_query=True)
    result = svc.search(p.request(), "feed")
    base = base_url(request)
    return _atom(build_feed(title=f"paperboy: search {p.q}", self_url=_self_url(request),
                            html_url=f"{base}/search?{p.query_string()}", papers=[h.paper for h in result.hits],
                            base=base, fallback_updated=svc.last_modified,
                            subtitle=f"About {result.total:,} results"
                            + (f"; {result.notice}" if result.notice else "")))
