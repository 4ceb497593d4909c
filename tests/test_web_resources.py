"""Resources and their formats: every page has a JSON twin, periods never fail, the cache is anonymous-only
and keyed by the data versions each view reads."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures.web import Page, Site, access_log, get_ok
from paperboy.web.testing import LiveServer

#: Example values for the path parameters of page routes.
EXAMPLES = {"category": "hep-th", "name": "Salman%20Habib", "ident": "0704.0001"}
#: Example queries a page needs to show data (the search page is a bare form without one).
QUERIES = {"/search": "?q=galaxy", "/trending": "?week=2007-W14"}


def _routes(routes: list) -> Iterator[APIRoute]:
    """Every API route of the app, through included routers (FastAPI keeps those as nested route objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def _page_routes(site: Site) -> list[APIRoute]:
    """The app's HTML page routes (the API docs page documents the API itself and has the OpenAPI twin; the
    sign-in forms are steps, not resources; the account, topic and Following pages' twins are tested with a session)."""
    return [r for r in _routes(site.app.routes) if "GET" in r.methods and r.response_class is HTMLResponse
            and r.path != "/api/docs" and not r.path.startswith(("/auth/", "/account", "/topics", "/following"))]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: EXAMPLES[m[1]], path) + QUERIES.get(path, "")


def test_every_page_route_has_a_json_twin(site: Site, client: httpx.Client) -> None:
    routes = _page_routes(site)
    assert {r.path for r in routes} >= {"/", "/latest", "/search", "/trending", "/paper/{ident:path}",
                                        "/category/{category}", "/author/{name:path}"}
    api_paths = {r.path for r in _routes(site.app.routes)}
    for route in routes:
        assert "/api/v1" + route.path in api_paths, route.path
        page = get_ok(client, _url(route.path))
        twin = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)">', page.text)
        assert twin and twin[1].replace("&amp;", "&").startswith("/api/v1" + _url(route.path).split("?")[0]), \
            route.path
        j = client.get(twin[1].replace("&amp;", "&"))
        assert j.status_code == 200 and j.headers["content-type"] == "application/json", (route.path, twin[1])
        assert isinstance(j.json(), dict)


def test_twins_hold_the_pages_data(site: Site, client: httpx.Client) -> None:
    home = get_ok(client, "/").text
    data = client.get("/api/v1/").json()
    assert set(data["periods"]) == {"date", "week", "month"}
    for window in ("day", "week", "month"):  # the window tabs: the home page's trending twins
        assert f'href="/?window={window}"' in home
        assert client.get("/api/v1/", params={"window": window}).json()["trending"]["window"] == window
    assert all(f'href="{p["url"].removeprefix(site.url)}"' in home for p in data["newest"])
    assert client.get("/api/v1/home").json() == data  # the old path stays an alias
    listing = client.get("/api/v1/latest", params={"limit": 5}).json()
    page = Page(get_ok(client, "/latest?limit=5").text)
    shown = list(dict.fromkeys(h for h in page.links() if h.startswith("/paper/")))
    assert shown == [p["url"].removeprefix(site.url) for p in listing["papers"]]
    nxt = [x["href"] for x in page.all("a") if x.get("rel") == "next"][0]
    assert listing["next"] == site.url + "/api/v1" + nxt  # paging links computed once, for both formats
    paper = client.get("/api/v1/paper/0704.0001").json()
    assert paper["id"] == "0704.0001" and paper["bibtex"].startswith("@misc{") and len(paper["similar"]) >= 3


PERIOD_VALUES = st.one_of(
    st.text(max_size=16),
    st.from_regex(r"\A-?[0-9]{1,6}-W?[0-9]{1,3}(-[0-9]{1,3})?\Z"),
    st.sampled_from(["9999-W52", "9999-12-31", "9999-12", "0000-01", "0001-W01", "2999-12-31", "1000-01-01"]),
)
PERIOD_PATHS = ["/", "/trending", "/feeds/trending.atom", "/api/daily_papers", "/api/v1/trending"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["date", "week", "month"]), value=PERIOD_VALUES)
@example(kind="week", value="9999-W52")
@example(kind="date", value="9999-12-31")
@example(kind="month", value="9999-12")
def test_any_period_is_an_answer_or_a_400_never_a_500(client: httpx.Client, kind: str, value: str) -> None:
    for path in PERIOD_PATHS:
        r = client.get(path, params={kind: value, "limit": 3})
        assert r.status_code in (200, 400), (path, kind, value, r.status_code, r.text[:200])


# -- caching ----------------------------------------------------------------------------------------------------


def _cache_use(client: httpx.Client, path: str, **headers: str) -> tuple[httpx.Response, str]:
    with access_log() as records:
        r = client.get(path, headers=headers)
    return r, [x for x in records if x["path"] == path.split("?")[0]][-1]["cache"]


def test_personal_requests_bypass_the_shared_cache(client: httpx.Client) -> None:
    path = "/latest?limit=4&offset=7"
    anon, how = _cache_use(client, path)
    assert how == "miss" and anon.headers["cache-control"].startswith("public") and anon.headers["etag"]
    assert _cache_use(client, path)[1] == "hit"
    for personal in ({"Cookie": "theme=dark; paperboy_session=abc"}, {"Authorization": "Bearer t0ken"}):
        r, how = _cache_use(client, path, **personal, **{"If-None-Match": anon.headers["etag"]})
        assert r.status_code == 200 and how == "none", personal  # never the shared copy, never a 304 from it
        assert r.headers["cache-control"] == "private, no-store" and "etag" not in r.headers
    r, how = _cache_use(client, path, Cookie="theme=dark")  # other cookies are not a session
    assert how == "hit" and r.headers["cache-control"].startswith("public")
    # A personal answer is never stored for others.
    fresh = "/latest?limit=4&offset=9"
    _cache_use(client, fresh, Cookie="paperboy_session=abc")
    assert _cache_use(client, fresh)[1] == "miss"
    assert client.get("/api/v1/latest", headers={"Authorization": "Bearer x"}).headers["cache-control"] == \
        "private, no-store"


@pytest.fixture
def events_site(site: Site) -> Iterator[tuple[httpx.Client, list[int]]]:
    """A second app over the test site's home with an "events" counter the test controls."""
    from paperboy.index import Indexes
    from paperboy.search import SearchEngine
    from paperboy.store import open_store
    from paperboy.web.app import create_app

    store = open_store(site.settings.database_url)
    engine = SearchEngine(site.settings, store, indexes=Indexes(site.settings, embed=False))
    app = create_app(site.settings, store=store, engine=engine)
    events = [0]
    app.state.services.register_version("events", lambda: events[0])
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as c:
        yield c, events


def test_each_view_is_keyed_by_the_versions_it_reads(events_site: tuple[httpx.Client, list[int]]) -> None:
    client, events = events_site
    paper, trending = "/paper/0704.0001", "/trending?week=2007-W14"
    for path in (paper, trending):
        assert _cache_use(client, path)[1] == "miss"
        assert _cache_use(client, path)[1] == "hit"
    events[0] += 1  # a vote: trending must change, paper pages must stay cached
    time.sleep(1.1)  # counters are re-read at most once a second
    assert _cache_use(client, paper)[1] == "hit"
    assert _cache_use(client, trending)[1] == "miss"
    assert _cache_use(client, trending)[1] == "hit"


# -- addresses: base_url and forwarded headers ---------------------------------------------------------------------


def _serve(site: Site, **changes: str) -> LiveServer:
    from paperboy.web.app import create_app

    return LiveServer(create_app(dataclasses.replace(site.settings, **changes), load_engine="never"))


FORWARDED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "Host": "evil.example"}


def test_forwarded_headers_are_believed_only_from_trusted_proxies(site: Site) -> None:
    for trusted, client_ip, scheme in (("", "127.0.0.1", "http"), ("10.0.0.0/8, 127.0.0.1", "6.6.6.6", "https")):
        with _serve(site, trusted_proxies=trusted) as server, httpx.Client(base_url=server.url) as c, \
                access_log() as records:
            data = c.get("/api/v1/latest", params={"limit": 1}, headers=FORWARDED).json()
        assert data["papers"][0]["url"].startswith(f"{scheme}://evil.example/"), trusted
        assert [r["client"] for r in records if r["path"] == "/api/v1/latest"] == [client_ip], trusted


def test_base_url_setting_builds_every_absolute_url(site: Site) -> None:
    with _serve(site, base_url="https://papers.example.org/") as server, httpx.Client(base_url=server.url) as c:
        data = c.get("/api/v1/latest", params={"limit": 2}, headers=FORWARDED).json()
        assert data["next"].startswith("https://papers.example.org/api/v1/latest?")
        assert all(p["url"].startswith("https://papers.example.org/paper/") for p in data["papers"])
        feed = c.get("/feeds/latest.atom", headers={"Host": "evil.example"}).text
        assert "evil.example" not in feed and 'href="https://papers.example.org/paper/' in feed
        page = c.get("/paper/0704.0001", headers={"Host": "evil.example"}).text
        assert '<link rel="canonical" href="https://papers.example.org/paper/0704.0001">' in page


@pytest.mark.parametrize("changes", [{"base_url": "ftp://x.org"}, {"base_url": "papers.example.org"},
                                     {"base_url": "https://x.org/?a=1"}, {"trusted_proxies": "10.0.0.0/8, proxy"}])
def test_bad_address_settings_are_refused(tmp_path, changes: dict) -> None:
    from paperboy.config import ConfigError, load_settings

    (tmp_path / "config.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in changes.items()))
    with pytest.raises(ConfigError):
        load_settings(tmp_path)


# -- one shape, one validation -------------------------------------------------------------------------------------


def test_json_is_gzipped_when_asked_and_plain_otherwise(client: httpx.Client) -> None:
    for _ in range(2):  # the second answer comes from the response cache: still right for each client
        zipped = client.get("/api/v1/", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and "accept-encoding" in zipped.headers["vary"].lower()
        assert int(zipped.headers["content-length"]) * 3 < len(zipped.content)
        plain = client.get("/api/v1/", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and int(plain.headers["content-length"]) == len(plain.content)
        assert plain.json() == zipped.json()


def test_json_author_names_are_readable_and_capped(client: httpx.Client) -> None:
    paper = client.get("/api/v1/paper/0704.0001").json()
    assert "C. Balázs" in [a["name"] for a in paper["authors"]]  # as the page shows it, not Bal\'azs
    assert any("Bal" in a["url"] for a in paper["authors"])
    hits = client.get("/api/v1/search", params={"q": "telescope scheduling crowd", "mode": "lexical"}).json()["hits"]
    crowd = next(h["paper"] for h in hits if h["paper"]["id"] == "crowd-1")
    assert len(crowd["authors"]) == 20 and crowd["authors_more"] == 40
    assert len(client.get("/api/v1/paper/crowd-1").json()["authors"]) == 60  # the paper itself: every author
    page = get_ok(client, "/search?q=telescope+scheduling+crowd&mode=lexical").text
    assert "and 54 more" in page


def test_cards_show_the_matching_category_first_and_the_venue(client: httpx.Client) -> None:
    page = get_ok(client, "/search?q=telescope+scheduling+crowd&category=cs&mode=lexical").text
    card = page.split('href="/paper/crowd-1"', 1)[1].split("</li>", 1)[0]
    tags = re.findall(r'class="tag" href="/category/([^"]+)"', card)
    assert tags[0] == "cs.LG" and len(tags) == 3
    assert '<span class="venue">NeurIPS 2020</span>' in card
    listing = get_ok(client, "/category/cs?limit=100").text
    assert re.findall(r'class="tag" href="/category/([^"]+)"',
                      listing.split('href="/paper/crowd-1"', 1)[1].split("</li>", 1)[0])[0] == "cs.LG"


def test_feeds_never_invent_a_date(client: httpx.Client) -> None:
    feed = client.get("/feeds/author/Ana%20Nonymous.atom").text
    assert "<id>urn:paperboy:paper:undated-1</id>" in feed and "1970" not in feed


def test_venue_filter_in_every_format(client: httpx.Client) -> None:
    data = client.get("/api/v1/search", params={"q": "telescope", "venue": "NeurIPS"}).json()
    assert [h["paper"]["id"] for h in data["hits"]] == ["crowd-1"] and data["query"]["venue"] == "NeurIPS"
    page = get_ok(client, "/search?q=telescope&venue=NeurIPS").text
    assert 'name="venue" value="NeurIPS"' in page and 'href="/paper/crowd-1"' in page
    assert "venue=NeurIPS" in re.search(r'type="application/json" href="([^"]+)"', page)[1]
    feed = client.get("/feeds/search.atom", params={"q": "telescope", "venue": "NeurIPS"}).text
    assert feed.count("<entry>") == 1


def test_search_page_offers_the_suggested_spelling(client: httpx.Client) -> None:
    page = Page(get_ok(client, "/search?q=galxy+clusters").text)
    assert "/search?q=galaxy+clusters" in page.links() and "Did you mean" in page.text
    assert client.get("/api/v1/search", params={"q": "galxy clusters"}).json()["suggestion"] == "galaxy clusters"


@pytest.mark.parametrize("limit", ["1000", "-5", "0"])
def test_cli_and_api_refuse_the_same_limits(client: httpx.Client, tmp_path, limit: str) -> None:
    from click.testing import CliRunner

    from paperboy.cli import main

    api = client.get("/api/v1/search", params={"q": "galaxy", "limit": limit})
    assert api.status_code == 400
    out = CliRunner().invoke(main, ["--home", str(tmp_path), "search", "galaxy", "--limit", limit])
    assert out.exit_code != 0 and api.json()["error"] in out.output


# -- small things a reader sees ----------------------------------------------------------------------------------


def test_tab_titles_are_plain_text_not_tex(client: httpx.Client) -> None:
    title = re.search(r"<title>(.*?)</title>", get_ok(client, "/paper/0704.0005").text)[1]
    assert title.startswith("From dyadic Λ_α to Λ_α") and "\\" not in title and "$" not in title
    from paperboy.web.render import plain

    assert plain(r"Bounds for $O(n^{1+\gamma})$, $\frac{1}{2}$ and Bal\'azs") == "Bounds for O(n^(1+γ)), 1/2 and Balázs"
    assert plain("costs $5 and $10") == "costs $5 and $10"  # stray dollars stay as written
    assert plain(r"broken $\frac{1}{$ TeX") == r"broken \frac{1}{ TeX"


def test_headings_keep_month_capitals(client: httpx.Client) -> None:
    page = get_ok(client, "/trending?date=2007-04-02").text
    assert '<h1 id="trending-title">Trending on 2 April 2007</h1>' in page


def test_empty_details_are_not_shown(client: httpx.Client) -> None:
    assert 'id="details-title"' not in get_ok(client, "/paper/undated-1").text
    assert 'id="details-title"' in get_ok(client, "/paper/0704.0001").text
