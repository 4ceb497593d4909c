"""The arXiv API (Atom, ``export.arxiv.org/api/query``) and arXiv's daily RSS feeds.

Why both here: they are the two "small, fresh" ways into arXiv (a handful of ids, a search, today's
announcements), as opposed to bulk OAI-PMH harvesting.  Both formats have changed over the years, so
the parsers accept the legacy (2016/2017) and the current (2025+) Atom API output, the legacy RSS 1.0
(RDF) feed of ``export.arxiv.org/rss`` and the current RSS 2.0 feed of ``rss.arxiv.org`` (and its Atom
twin).  HTTP politeness, retries and hardened XML parsing come from :mod:`paperboy.sources.fetch`, shared with
:mod:`paperboy.sources.oai`.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from lxml import etree

from paperboy.papers import (
    Author,
    InvalidId,
    Paper,
    Version,
    finish,
    parse_arxiv_id,
    parse_date,
    split_authors,
)
from paperboy.sources.base import Records, Reject, SourceError
from paperboy.sources.fetch import Fetched, PoliteFetcher, TransientError, parse_xml, text_of

SOURCE_API = "arxiv-api"
SOURCE_RSS = "arxiv-rss"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
ID_BATCH = 100  # ids per id_list request
MAX_PAGE = 2000  # arXiv refuses max_results above this per call

ATOM = "http://www.w3.org/2005/Atom"
ARXIV_ATOM = "http://arxiv.org/schemas/atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1 = "http://purl.org/rss/1.0/"
DC = "http://purl.org/dc/elements/1.1/"

_OAI_PREFIX = re.compile(r"^oai:arxiv\.org:", re.I)
# rss.arxiv.org descriptions: "arXiv:2401.01234v1 Announce Type: new \nAbstract: ..."
_ANNOUNCE = re.compile(r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.I)
# export.arxiv.org/rss (RSS 1.0) titles: "Title. (arXiv:1808.09902v2 [stat.ML] UPDATED)"
_RSS1_TITLE = re.compile(r"^(?P<title>.*)\(arXiv:(?P<id>\S+)\s*\[(?P<cat>[^\]]+)\](?P<flag>[^)]*)\)\s*$", re.S)
_TAG = re.compile(r"<[^>]*>")


def _a(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{ARXIV_ATOM}}}{tag}"


def _arxiv_id(text: str | None) -> tuple[str, int | None]:
    """``parse_arxiv_id`` that also accepts the ``oai:arXiv.org:`` ids of rss.arxiv.org."""
    return parse_arxiv_id(_OAI_PREFIX.sub("", (text or "").strip()))


def _first_text(el: etree._Element, *tags: str) -> str | None:
    for tag in tags:
        value = text_of(el, tag)
        if value:
            return value
    return None


def _html_text(value: str | None) -> str:
    """Plain text from the HTML fragments of the legacy RSS feed (tags dropped, entities decoded)."""
    return html.unescape(_TAG.sub(" ", value or ""))


# --------------------------------------------------------------------------------------------------
# Atom


@dataclass(slots=True)
class _Feed:
    total: int | None = None
    entries: list[Paper | Reject] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _atom_entry(entry: etree._Element, source: str) -> Paper:
    """One Atom ``<entry>`` (API or rss.arxiv.org/atom) as a Paper; ValueError when unusable."""
    arxiv_id, version = _arxiv_id(text_of(entry, _a("id")))
    abstract = text_of(entry, _a("summary"), strip=False) or ""
    if m := _ANNOUNCE.match(abstract):  # rss.arxiv.org/atom puts the announcement line first
        abstract = abstract[m.end() :]
        version = version or _arxiv_id(m["id"])[1]
    authors = []
    for a in entry.iterfind(_a("author")):
        affiliations = [x for x in (text_of(af) for af in a.iterfind(_x("affiliation"))) if x]
        authors.append(Author(text_of(a, _a("name")) or "", "; ".join(affiliations) or None))
    if not authors:
        authors = split_authors(text_of(entry, f"{{{DC}}}creator") or "")
    primary = entry.find(_x("primary_category"))
    categories = [primary.get("term", "")] if primary is not None else []
    categories += [c.get("term", "") for c in entry.iterfind(_a("category"))]
    published = parse_date(text_of(entry, _a("published")))
    updated = parse_date(text_of(entry, _a("updated")))
    versions: list[Version] = []
    if version:  # the entry describes version N, updated on `updated`; v1 appeared on `published`
        versions.append(Version(1, published))
        if version > 1:
            versions.append(Version(version, updated))
    doi = _first_text(entry, _x("doi"), _x("DOI"))
    if not doi:
        doi = next((ln.get("href") for ln in entry.iterfind(_a("link")) if ln.get("title") == "doi"), None)
    return finish(
        Paper(
            id=arxiv_id,
            arxiv_id=arxiv_id,
            title=text_of(entry, _a("title"), strip=False) or "",
            abstract=abstract,
            authors=authors,
            categories=categories,
            submitted=published,
            updated=updated,
            version=version,
            versions=versions,
            doi=doi,
            journal_ref=_first_text(entry, _x("journal_ref"), _x("journal_reference")),
            comments=_first_text(entry, _x("comment")),
            license=_first_text(entry, _x("license"), _a("rights"), f"{{{DC}}}rights"),
            source=source,
        )
    )


def _is_error_entry(entry: etree._Element) -> bool:
    return "/api/errors" in (text_of(entry, _a("id")) or "")


def _read_atom(root: etree._Element, *, source: str, label: str) -> _Feed:
    """Entries, totalResults and API error messages of one Atom feed (legacy or 2025+ layout)."""
    total = text_of(root, f"{{{OPENSEARCH}}}totalResults")
    feed = _Feed(total=int(total) if total and total.isdigit() else None)
    for index, entry in enumerate(root.iterfind(_a("entry")), 1):
        if _is_error_entry(entry):
            feed.errors.append(text_of(entry, _a("summary")) or text_of(entry, _a("id")) or "unknown error")
            continue
        try:
            feed.entries.append(_atom_entry(entry, label))
        except ValueError as exc:
            where = text_of(entry, _a("id")) or f"#{index}"
            feed.entries.append(
                Reject(
                    source=source,
                    location=f"entry {where}",
                    reason=str(exc),
                    raw=etree.tostring(entry, encoding="unicode"),
                )
            )
    return feed


def _api_feed(fetched: Fetched, source: str) -> _Feed:
    root = fetched.root
    if root is None or root.tag != _a("feed"):
        raise SourceError(f"{fetched.url}: HTTP {fetched.status}, not an arXiv API Atom feed")
    feed = _read_atom(root, source=source, label=SOURCE_API)
    if fetched.status != 200 and not feed.errors:
        raise SourceError(f"{fetched.url}: HTTP {fetched.status}")
    return feed


# --------------------------------------------------------------------------------------------------
# API


def fetch_ids(
    ids: list[str],
    *,
    base_url: str,
    client: httpx.Client | None = None,
    delay: float = 3.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    batch_size: int = ID_BATCH,
) -> Records:
    """Papers for arXiv ids (``2401.01234``, ``2401.01234v2``, ``hep-th/9901001``) via ``id_list``.

    Ids are validated first: a bad one becomes a Reject and is never sent.  Ids arXiv does not know
    simply yield nothing (that is what the API answers); an API error entry (HTTP 400) for a batch
    becomes a Reject carrying arXiv's message, and the other batches go on.
    """
    wanted: dict[str, None] = {}  # ordered set
    for raw in ids:
        try:
            canonical, version = parse_arxiv_id(raw)
        except InvalidId as exc:
            yield Reject(source=base_url, location=f"id {str(raw)[:100]!r}", reason=str(exc), raw=str(raw))
            continue
        wanted[f"{canonical}v{version}" if version else canonical] = None
    if not wanted:
        return
    todo = list(wanted)
    size = max(1, min(batch_size, ID_BATCH))
    with PoliteFetcher(client=client, delay=delay, max_retries=max_retries, sleep=sleep, what="arXiv API") as fetcher:
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            params = {"id_list": ",".join(batch), "start": 0, "max_results": len(batch)}
            feed = _api_feed(fetcher.get(base_url, params), base_url)
            if feed.errors:
                yield Reject(
                    source=base_url,
                    location=f"ids {','.join(batch)[:200]}",
                    reason=f"arXiv API error: {'; '.join(feed.errors)}",
                    raw=",".join(batch),
                )
                continue
            yield from feed.entries


def search(
    query: str,
    *,
    base_url: str,
    max_results: int = 100,
    page_size: int = 100,
    start: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    client: httpx.Client | None = None,
    delay: float = 3.0,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Records:
    """Papers matching an arXiv ``search_query`` (``ti:checkerboard AND au:del_maestro``), page by page.

    Pages of ``page_size`` with ``delay`` seconds between requests, until ``max_results`` entries or the
    feed's ``totalResults``.  An empty page before the end (an arXiv hiccup) is retried; a query arXiv
    rejects raises SourceError with arXiv's message.
    """
    if not query or not query.strip():
        raise SourceError("empty arXiv search query")
    page_size = max(1, min(page_size, MAX_PAGE))
    seen: set[str] = set()
    received = 0
    position = max(0, start)
    with PoliteFetcher(client=client, delay=delay, max_retries=max_retries, sleep=sleep, what="arXiv API") as fetcher:
        while received < max_results:
            params: dict[str, str | int] = {
                "search_query": query,
                "start": position,
                "max_results": min(page_size, max_results - received),
            }
            if sort_by:
                params["sortBy"] = sort_by
            if sort_order:
                params["sortOrder"] = sort_order
            feed = _api_feed(fetcher.get(base_url, params, check=_not_empty_early(position)), base_url)
            if feed.errors:
                raise SourceError(f"arXiv API rejected the query {query!r}: {'; '.join(feed.errors)}")
            for item in feed.entries:
                if isinstance(item, Paper):
                    if item.id in seen:
                        continue
                    seen.add(item.id)
                yield item
            received += len(feed.entries)
            position += len(feed.entries)
            if not feed.entries or (feed.total is not None and position >= feed.total):
                return


def _not_empty_early(position: int) -> Callable[[Fetched], None]:
    """A check that retries the page when arXiv answers 'no entries' although more results exist."""

    def check(fetched: Fetched) -> None:
        root = fetched.root
        if fetched.status != 200 or root is None or root.tag != _a("feed"):
            return
        total = text_of(root, f"{{{OPENSEARCH}}}totalResults")
        if root.find(_a("entry")) is None and total and total.isdigit() and position < int(total):
            raise TransientError(f"empty page at start={position} although totalResults={total}")

    return check


# --------------------------------------------------------------------------------------------------
# RSS


def read_rss(xml: bytes, *, source: str) -> Records:
    """Papers from an arXiv feed document: legacy RSS 1.0 (RDF), current RSS 2.0, or the Atom variant."""
    try:
        root = parse_xml(xml, what=source)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{source}: not well-formed XML ({exc})") from None
    yield from _feed_items(root, source)


def fetch_rss(
    url: str,
    client: httpx.Client | None = None,
    *,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Records:
    """Fetch one arXiv feed (e.g. ``https://rss.arxiv.org/rss/cs.CL``) and read it like :func:`read_rss`."""
    with PoliteFetcher(client=client, delay=0, max_retries=max_retries, sleep=sleep, what="arXiv feed") as fetcher:
        fetched = fetcher.get(url)
        if fetched.status != 200 or fetched.root is None:
            raise SourceError(f"{url}: HTTP {fetched.status}, no feed")
        yield from _feed_items(fetched.root, url)


def _feed_items(root: etree._Element, source: str) -> Iterator[Paper | Reject]:
    if root.tag == f"{{{RDF}}}RDF":
        items, parse = list(root.iterfind(f"{{{RSS1}}}item")), _rss1_item
    elif root.tag == "rss":
        items, parse = list(root.iterfind("channel/item")), _rss2_item
    elif root.tag == _a("feed"):
        feed = _read_atom(root, source=source, label=SOURCE_RSS)
        if feed.errors:
            raise SourceError(f"{source}: feed reports an error: {'; '.join(feed.errors)}")
        yield from feed.entries
        return
    else:
        raise SourceError(f"{source}: not an RSS or Atom feed (root element {root.tag})")
    for index, item in enumerate(items, 1):
        try:
            yield finish(parse(item))
        except ValueError as exc:
            where = item.get(f"{{{RDF}}}about") or text_of(item, "link") or text_of(item, f"{{{RSS1}}}link")
            yield Reject(
                source=source,
                location=f"item {index}" + (f" ({where})" if where else ""),
                reason=str(exc),
                raw=etree.tostring(item, encoding="unicode"),
            )


def _rss1_item(item: etree._Element) -> Paper:
    """export.arxiv.org/rss (RSS 1.0): id, version and primary category live in the title suffix."""
    title = text_of(item, f"{{{RSS1}}}title", strip=False) or ""
    link = item.get(f"{{{RDF}}}about") or text_of(item, f"{{{RSS1}}}link")
    category = None
    if m := _RSS1_TITLE.match(title):
        arxiv_id, version = _arxiv_id(m["id"])
        title = m["title"].rstrip()
        title = title[:-1] if title.endswith(".") else title
        category = m["cat"].strip()
    else:
        arxiv_id, version = _arxiv_id(link)
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=title,
        abstract=_html_text(text_of(item, f"{{{RSS1}}}description", strip=False)),
        authors=split_authors(_html_text(text_of(item, f"{{{DC}}}creator"))),
        categories=[category] if category else [],
        version=version,
        source=SOURCE_RSS,
    )


def _rss2_item(item: etree._Element) -> Paper:
    """rss.arxiv.org (RSS 2.0): ``arXiv:ID Announce Type: T Abstract: ...`` descriptions, dc:creator."""
    description = text_of(item, "description", strip=False) or ""
    version = None
    if m := _ANNOUNCE.match(description):
        arxiv_id, version = _arxiv_id(m["id"])
        description = description[m.end() :]
    else:
        try:
            arxiv_id, version = _arxiv_id(text_of(item, "guid"))
        except InvalidId:
            arxiv_id, version = _arxiv_id(text_of(item, "link"))
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=text_of(item, "title", strip=False) or "",
        abstract=description,
        authors=split_authors(text_of(item, f"{{{DC}}}creator") or ""),
        categories=[c for c in (text_of(x) for x in item.iterfind("category")) if c],
        version=version,
        doi=_first_text(item, _x("DOI"), _x("doi")),
        journal_ref=_first_text(item, _x("journal_reference"), _x("journal_ref")),
        comments=_first_text(item, _x("comment")),
        license=text_of(item, f"{{{DC}}}rights"),
        source=SOURCE_RSS,
    )
