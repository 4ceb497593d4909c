"""Atom 1.0 feeds: validated with feedparser (a real, lenient-but-reporting parser) and RFC 4287's rules checked
element by element with lxml, for every kind of feed and for hostile text."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest
from lxml import etree

from fixtures.web import HOSTILE_AUTHOR

A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FEEDS = [
    "/feeds/latest.atom",
    "/feeds/latest.atom?limit=5",
    "/feeds/category/hep-th.atom",
    "/feeds/category/cs.CR.atom",
    "/feeds/category/no-such.atom",
    "/feeds/author/Salman%20Habib.atom",
    "/feeds/author/Nobody%20At%20All.atom",
    "/feeds/search.atom?q=dark+matter",
    "/feeds/trending.atom",
    "/feeds/trending.atom?week=2007-W14",
    "/feeds/trending.atom?month=2007-04&limit=100",
    "/feeds/search.atom?q=galaxy&category=astro-ph&sort=newest&since=2007-01-01",
    "/feeds/search.atom?q=script+alert+mallory",
]


def _is_iri(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "tag")) and " " not in value


def check_atom(body: bytes) -> etree._Element:
    """RFC 4287 §4.1: the required elements and their cardinality, dates, ids and links."""
    root = etree.fromstring(body)
    assert root.tag == A + "feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(A + name)) == 1, f"feed needs exactly one atom:{name}"
    assert _is_iri(root.findtext(A + "id"))
    assert RFC3339.match(root.findtext(A + "updated"))
    selfs = [e for e in root.findall(A + "link") if e.get("rel") == "self"]
    assert len(selfs) == 1 and selfs[0].get("href", "").startswith("http")
    feed_has_author = root.find(A + "author") is not None
    ids = set()
    for entry in root.findall(A + "entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(A + name)) == 1, f"entry needs exactly one atom:{name}"
        entry_id = entry.findtext(A + "id")
        assert _is_iri(entry_id) and entry_id not in ids
        ids.add(entry_id)
        assert RFC3339.match(entry.findtext(A + "updated"))
        if entry.find(A + "published") is not None:
            assert RFC3339.match(entry.findtext(A + "published"))
        assert feed_has_author or entry.find(A + "author") is not None
        for author in entry.findall(A + "author"):
            assert (author.findtext(A + "name") or "").strip()
        alternates = [e for e in entry.findall(A + "link") if e.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1 and alternates[0].get("href", "").startswith("http")
        assert entry.find(A + "content") is not None or alternates
        for el in entry.iter():
            assert el.tag.startswith(A), f"foreign element {el.tag}"
            if el.tag in (A + "title", A + "summary"):
                assert el.get("type", "text") == "text"
    return root


@pytest.mark.parametrize("path", FEEDS)
def test_feed_is_valid_atom(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title and parsed.feed.id
    check_atom(r.content)
    for entry in parsed.entries:
        assert entry.title and entry.link and entry.id and entry.updated_parsed


def test_feed_entries_match_listing(client: httpx.Client) -> None:
    parsed = feedparser.parse(client.get("/feeds/category/hep-th.atom?limit=7").content)
    api = client.get("/api/v1/categories/hep-th?limit=7").json()
    assert [e.link.rsplit("/paper/", 1)[1] for e in parsed.entries] == [p["id"] for p in api["papers"]]
    first = parsed.entries[0]
    assert first.id.startswith("https://arxiv.org/abs/")
    assert {t.term for t in first.tags} == set(api["papers"][0]["categories"])
    assert any(link.get("type") == "application/pdf" for link in first.links)


def test_search_feed_matches_search(client: httpx.Client) -> None:
    parsed = feedparser.parse(client.get("/feeds/search.atom?q=dark+matter&limit=5").content)
    api = client.get("/api/v1/search?q=dark+matter&limit=5").json()
    assert [e.link.rsplit("/paper/", 1)[1] for e in parsed.entries] == [h["paper"]["id"] for h in api["hits"]]
    assert parsed.feed.links[0].href.endswith("/feeds/search.atom?q=dark+matter&limit=5")


def test_hostile_text_is_escaped_in_atom(client: httpx.Client) -> None:
    r = client.get("/feeds/category/cs.CR.atom")
    body = r.content
    assert b"<script" not in body and b"<img" not in body and b"<b>" not in body and b"<iframe" not in body
    assert b"&lt;script&gt;" in body
    assert b"javascript:alert(10)" not in body and b"JaVaScRiPt" not in body  # unsafe links dropped
    assert b"\x01" not in body  # a control character XML 1.0 cannot carry
    root = check_atom(body)
    entry = next(e for e in root.findall(A + "entry") if e.findtext(A + "id") == "urn:paperboy:paper:hostile-1")
    assert entry.findtext(A + "title").startswith('<script>alert("title")</script>')  # as text, exactly
    assert entry.find(A + "author").findtext(A + "name") == HOSTILE_AUTHOR
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    hostile = next(e for e in parsed.entries if e.id == "urn:paperboy:paper:hostile-1")
    assert "alert" in hostile.title


@pytest.mark.parametrize("path, status", [
    ("/feeds/search.atom", 422),
    ("/feeds/search.atom?q=", 400),
    ("/feeds/search.atom?q=x&since=2024-99-01", 400),
    ("/feeds/search.atom?q=x&limit=1000", 400),
    ("/feeds/latest.atom?limit=-3", 400),
    ("/feeds/category/%3Cb%3E.atom", 400),
    ("/feeds/nothing.atom", 404),
    ("/feeds/trending.atom?week=2007-W99", 400),
])
def test_feed_errors_are_4xx_text(client: httpx.Client, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code)
    assert r.headers["content-type"].startswith("text/plain")


def test_feed_conditional_get(client: httpx.Client) -> None:
    r = client.get("/feeds/latest.atom")
    assert client.get("/feeds/latest.atom", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    since = {"If-Modified-Since": r.headers["last-modified"]}
    assert client.get("/feeds/latest.atom", headers=since).status_code == 304
