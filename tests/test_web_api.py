"""The JSON API (/api/v1), its OpenAPI document and docs page, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from fixtures.web import HOSTILE_ABSTRACT, HOSTILE_AUTHOR, HOSTILE_TITLE, Page, Site, assert_safe_html, get_json


def test_search_shape_and_paging(client: httpx.Client, site: Site) -> None:
    data = get_json(client, "/api/v1/search", q="dark matter", limit=3)
    assert data["query"]["q"] == "dark matter" and data["query"]["limit"] == 3
    assert data["total"] >= 3 and isinstance(data["took_ms"], float)
    assert data["mode_used"] == "lexical" and data["notice"]
    assert len(data["hits"]) == 3
    hit = data["hits"][0]
    assert set(hit) == {"paper", "score", "why", "explain", "highlights"}
    assert hit["explain"]["lexical_rank"] == 1  # the ranks behind the sentence in "why"
    paper = hit["paper"]
    for key in ("id", "title", "abstract", "authors", "categories", "submitted", "versions", "links", "url", "api_url"):
        assert key in paper
    assert paper["url"].startswith(site.url + "/paper/")
    assert hit["highlights"] and all(isinstance(span, list) and len(span) == 2 for spans in
                                     hit["highlights"].values() for span in spans)
    assert data["prev"] is None and "offset=3" in data["next"]
    page2 = httpx.get(data["next"]).json()
    assert page2["query"]["offset"] == 3 and page2["prev"]
    assert not {h["paper"]["id"] for h in page2["hits"]} & {h["paper"]["id"] for h in data["hits"]}


def test_search_filters(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/search", q="galaxy", category="astro-ph", since="2007-04-01",
                    until="2007-04-30", sort="newest", limit=20)
    assert data["hits"]
    days = [h["paper"]["submitted"] for h in data["hits"]]
    assert all("2007-04-01" <= d <= "2007-04-30" for d in days) and days == sorted(days, reverse=True)
    assert all(any(c.startswith("astro-ph") for c in h["paper"]["categories"]) for h in data["hits"])
    by_author = get_json(client, "/api/v1/search", q="lyapunov", author="Salman Habib")
    assert by_author["hits"] and all(any("Habib" in a["name"] for a in h["paper"]["authors"])
                                     for h in by_author["hits"])


def test_search_pins_exact_id(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/search", q="0704.0001")
    assert data["hits"][0]["paper"]["id"] == "0704.0001" and data["hits"][0]["why"] == "Exact arXiv id."


@pytest.mark.parametrize("params, status", [
    ({}, 422),
    ({"q": ""}, 400),
    ({"q": "x", "limit": 0}, 400),
    ({"q": "x", "limit": 1000}, 400),
    ({"q": "x", "offset": -1}, 400),
    ({"q": "x", "offset": 5000}, 400),
    ({"q": "x", "limit": "ten"}, 422),
    ({"q": "x", "since": "2024-02-30"}, 400),
    ({"q": "x", "until": "02/01/2024"}, 400),
    ({"q": "x", "since": "2024-06-01", "until": "2024-01-01"}, 400),
    ({"q": "x", "sort": "best"}, 422),
    ({"q": "x", "mode": "magic"}, 422),
    ({"q": "x", "category": "<script>"}, 400),
    ({"q": "x" * 1001}, 422),
])
def test_search_bad_parameters(client: httpx.Client, params: dict, status: int) -> None:
    data = get_json(client, "/api/v1/search", status, **params)
    assert data["status"] == status and isinstance(data["error"], str) and data["error"]


def test_paper_endpoints(client: httpx.Client) -> None:
    p = get_json(client, "/api/v1/papers/0704.0001")
    assert p["id"] == "0704.0001" and p["doi"] == "10.1103/physrevd.76.013009"
    assert [v["version"] for v in p["versions"]] == [1, 2]
    assert p["bibtex"].startswith("@misc{") and p["similar_url"].endswith("/api/v1/paper/0704.0001/similar")
    assert get_json(client, "/api/v1/papers/arXiv:0704.0001v1")["id"] == "0704.0001"
    assert get_json(client, "/api/v1/papers/10.1103/PhysRevD.76.013009")["id"] == "0704.0001"  # DOI
    old = get_json(client, "/api/v1/papers/acc-phys/9411001")
    assert old["id"] == "acc-phys/9411001" and old["url"].endswith("/paper/acc-phys/9411001")
    err = get_json(client, "/api/v1/papers/1234.56789", 404)
    assert err["status"] == 404 and "1234.56789" in err["error"]


def test_similar_endpoint(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/papers/0704.0001/similar", limit=5)
    assert data["paper_id"] == "0704.0001"
    assert 1 <= len(data["similar"]) <= 5
    assert "0704.0001" not in {h["paper"]["id"] for h in data["similar"]}
    old = get_json(client, "/api/v1/papers/acc-phys/9411001/similar")
    assert old["paper_id"] == "acc-phys/9411001"
    get_json(client, "/api/v1/papers/0704.0001/similar", 422, limit=500)
    get_json(client, "/api/v1/papers/nope/similar", 404)


def test_listings(client: httpx.Client) -> None:
    latest = get_json(client, "/api/v1/latest", limit=5)
    assert latest["total"] >= 1200 and len(latest["papers"]) == 5 and latest["next"] and latest["prev"] is None
    assert latest["papers"][0]["id"] == "hostile-1"  # dated 2031: the newest
    days = [p["submitted"] for p in latest["papers"] if p["submitted"]]
    assert days == sorted(days, reverse=True)
    cat = get_json(client, "/api/v1/categories/hep-th", limit=3)
    assert cat["category"] == "hep-th" and all(any(c.startswith("hep-th") for c in p["categories"])
                                               for p in cat["papers"])
    author = get_json(client, "/api/v1/authors/Salman Habib")
    assert author["author"] == "Salman Habib" and author["total"] >= 1
    cats = get_json(client, "/api/v1/categories")["categories"]
    assert cats[0]["papers"] >= cats[-1]["papers"] and any(c["category"] == "astro-ph" for c in cats)
    home = get_json(client, "/api/v1/home")
    assert home["newest"] and home["by_category"] and home["total"] == latest["total"]
    get_json(client, "/api/v1/latest", 400, offset=-1)
    get_json(client, "/api/v1/latest", 400, limit=101)
    get_json(client, "/api/v1/categories/bad..cat", 400)


def test_hostile_text_round_trips_in_json(client: httpx.Client) -> None:
    p = get_json(client, "/api/v1/papers/hostile-1")
    assert p["title"] == " ".join(HOSTILE_TITLE.split())
    assert p["abstract"].startswith("We <b>bold</b> claim <script>") and "alert(6)" in p["abstract"]
    assert HOSTILE_ABSTRACT.split()[0] == "We"
    assert p["authors"][0]["name"] == HOSTILE_AUTHOR
    assert p["links"] == {}  # javascript:, data: links never leave the server
    raw = client.get("/api/v1/papers/hostile-1").text
    assert "<script>" in raw  # JSON is data: escaping is the consumer's job, and nosniff stops browsers guessing


def test_cors_and_caching_headers(client: httpx.Client) -> None:
    r = client.get("/api/v1/latest")
    assert r.headers["access-control-allow-origin"] == "*"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    assert client.get("/api/v1/latest", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_unknown_api_path_is_json_404(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/nothing-here", 404)
    assert data == {"error": "Not found", "status": 404}
    r = client.post("/api/v1/search?q=x")
    assert r.status_code == 405 and r.json()["status"] == 405 and r.headers["allow"] == "GET"


def test_openapi_document_validates(client: httpx.Client) -> None:
    spec = get_json(client, "/api/openapi.json")
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)
    paths = spec["paths"]
    for path in ("/api/v1/search", "/api/v1/paper/{ident}", "/api/v1/paper/{ident}/similar", "/api/v1/latest",
                 "/api/v1/author/{name}", "/api/v1/category/{category}", "/api/v1/trending", "/api/v1/",
                 "/api/papers/search",
                 "/api/papers/{ident}", "/api/daily_papers", "/feeds/search.atom", "/healthz", "/metrics"):
        assert path in paths, path
    names = {p["name"] for p in paths["/api/v1/search"]["get"]["parameters"]}
    assert names == {"q", "category", "since", "until", "author", "venue", "sort", "mode", "limit", "offset"}
    assert not any(p.startswith(("/paper/", "/search", "/static")) for p in paths)  # HTML pages stay out


def test_api_docs_page(client: httpx.Client) -> None:
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = assert_safe_html(r.text)
    assert "/api/openapi.json" in page.links()
    assert r.text.count('class="try"') >= 15
    scripts = [a["src"] for a in page.all("script")]
    assert any(s.startswith("/static/apidocs.js") for s in scripts)
    assert all(s.startswith("/static/") for s in scripts)  # nothing from a CDN
    assert isinstance(Page(r.text).text, str)


def test_trending_periods(client: httpx.Client) -> None:
    week = get_json(client, "/api/v1/trending", week="2007-W14", limit=50)
    assert week["period"] == {"kind": "week", "value": "2007-W14", "label": "week of 2 April 2007",
                              "since": "2007-04-02", "until": "2007-04-08"}
    # No reader activity: the window's newest papers, said so, with no score or counts (tests/test_trending_web.py
    # covers the ranking itself).
    assert week["ranking"] == "newest" and week["notice"] and week["total"] >= len(week["items"]) > 0
    assert all(it["score"] is None and it["counts"] is None for it in week["items"])
    days = [it["paper"]["submitted"] for it in week["items"]]
    assert all("2007-04-02" <= d <= "2007-04-08" for d in days) and days == sorted(days, reverse=True)
    default = get_json(client, "/api/v1/trending")
    assert default["period"]["kind"] == "week" and default["window"] == "week"
    assert get_json(client, "/api/v1/trending", month="2007-04")["total"] > week["total"]
    get_json(client, "/api/v1/trending", 400, week="2007-W99")
    get_json(client, "/api/v1/trending", 400, date="2007-04-02", month="2007-04")
