"""Topics over real HTTP: the API contract with bearer tokens and cookie sessions, the search page's "Save as topic"
form, 400s for unsearchable topics and the cap, another reader's topic and feed token on every URL (404), private
feeds (never shared-cached, token kept out of the access log, revocable), and hostile names escaped everywhere.

``topics_site`` (a readers site with a lexical search engine) comes from ``tests/fixtures/topics.py`` via conftest."""

from __future__ import annotations

import pytest
from lxml import etree

from fixtures.topics import ARRIVALS, TopicsSite
from fixtures.web import access_log
from paperboy.accounts import open_accounts
from readers_site import field

HOSTILE = '<script>alert("topic")</script> "><img src=x onerror=alert(1)>'


def test_the_api_contract_with_a_bearer_token(topics_site: TopicsSite) -> None:
    site = topics_site
    auth = site.token("api@example.org")
    with site.client() as c:
        r = c.post("/api/v1/topics", json={"name": "Sparse", "query": "sparse attention", "category": "cs"},
                   headers=auth)
        assert r.status_code == 201 and r.headers["cache-control"] == "private, no-store", r.text
        topic = r.json()
        assert (topic["name"], topic["query"], topic["mode"], topic["category"]) == ("Sparse", "sparse attention",
                                                                                    "hybrid", "cs")
        listed = c.get("/api/v1/topics", headers=auth).json()
        assert [t["id"] for t in listed["topics"]] == [topic["id"]] and listed["max_topics"] == 200
        page = c.get(f"/api/v1/topics/{topic['id']}", headers=auth).json()
        assert [p["paper"]["id"] for p in page["papers"]] == ["2402.00002", "2402.00001", "2401.00001"]
        assert page["new"] == 0  # saving the topic saw its first page
        r = c.put(f"/api/v1/topics/{topic['id']}", json={"query": "sparse attention tears"}, headers=auth)
        assert r.status_code == 200 and r.json()["query"] == "sparse attention tears" and r.json()["name"] == "Sparse"
        papers = c.get(f"/api/v1/topics/{topic['id']}/papers", params={"limit": 1}, headers=auth).json()
        assert len(papers["papers"]) == 1 and papers["limit"] == 1
        assert c.delete(f"/api/v1/topics/{topic['id']}", headers=auth).status_code == 204
        assert c.get(f"/api/v1/topics/{topic['id']}", headers=auth).status_code == 404
        assert c.get("/api/v1/topics").status_code == 401


@pytest.mark.parametrize(("query", "message"), [
    ("", "A topic needs a query"), ("x" * 10_000, "too long (10,000 characters"),
    ('-spam + "" -"eggs"', "only operators"), (None, "A topic needs a query"),
])
def test_unsearchable_topics_are_a_400_saying_why(topics_site: TopicsSite, query: str | None, message: str) -> None:
    auth = topics_site.token("bad-input@example.org")
    with topics_site.client() as c:
        r = c.post("/api/v1/topics", json={"query": query}, headers=auth)
        assert r.status_code == 400 and message in r.json()["error"], r.text


def test_the_cap_answers_400_with_a_clear_message(topics_site: TopicsSite) -> None:
    from paperboy.library.topics import MAX_TOPICS, check_fields, open_topics

    auth = topics_site.token("hoarder@example.org")
    reader = open_accounts(topics_site.store).accounts.reader_by_email("hoarder@example.org")
    topics = open_topics(topics_site.store)
    for i in range(MAX_TOPICS):
        topics.create(reader.id, check_fields(query=f"sparse {i}"), 0.0, MAX_TOPICS)
    with topics_site.client() as c:
        r = c.post("/api/v1/topics", json={"query": "one too many"}, headers=auth)
    assert r.status_code == 400 and "You already have 200 topics" in r.json()["error"]


def test_save_as_topic_from_the_search_page_needs_the_session_csrf_token(topics_site: TopicsSite) -> None:
    site = topics_site
    with site.client() as c:
        anon = c.get("/search", params={"q": "sparse attention"})
        assert "Save as topic" not in anon.text and "to save this search as a topic" in anon.text
        site.sign_in(c, "form@example.org")
        page = c.get("/search", params={"q": "sparse attention", "category": "cs.LG", "mode": "lexical"})
        assert "Save as topic" in page.text
        form = {"q": field(page.text, "q"), "category": field(page.text, "category"), "mode": "lexical",
                "name": "Attention"}
        assert c.post("/topics", data=form).status_code == 403  # no CSRF token
        assert c.post("/api/v1/topics", json={"query": "sparse"}).status_code == 403
        r = c.post("/topics", data={**form, "csrf_token": field(page.text, "csrf_token")})
        assert r.status_code == 303 and r.headers["location"].startswith("/topics/")
        topic_page = c.get(r.headers["location"])
        assert topic_page.status_code == 200 and topic_page.headers["cache-control"] == "private, no-store"
        assert '<span id="new-count">0</span> new' in topic_page.text
        listed = c.get("/api/v1/topics").json()["topics"]
        assert [(t["name"], t["category"], t["mode"]) for t in listed] == [("Attention", "cs.LG", "lexical")]


def test_another_readers_topic_and_feed_token_are_404_on_every_url(topics_site: TopicsSite) -> None:
    site = topics_site
    owner, intruder = site.token("owner@example.org"), site.token("intruder@example.org")
    with site.client() as c:
        tid = c.post("/api/v1/topics", json={"name": "Mine", "query": "sparse attention"}, headers=owner).json()["id"]
        owner_feed = c.post("/api/v1/topics/feed-token", headers=owner).json()["feeds"][str(tid)]
        intruder_token = c.post("/api/v1/topics/feed-token", headers=intruder).json()["token"]
        for method, url in [("GET", f"/api/v1/topics/{tid}"), ("PUT", f"/api/v1/topics/{tid}"),
                            ("DELETE", f"/api/v1/topics/{tid}"), ("GET", f"/api/v1/topics/{tid}/papers"),
                            ("GET", f"/topics/{tid}"), ("POST", f"/topics/{tid}"), ("POST", f"/topics/{tid}/delete"),
                            ("GET", f"/feeds/private/{intruder_token}/topics/{tid}.atom"),
                            ("GET", f"/feeds/private/{intruder_token}/topics/{tid}.json"),
                            ("GET", f"/feeds/private/pbf_guessed/topics/{tid}.atom")]:
            r = c.request(method, url, headers=intruder, json={"name": "stolen"} if method == "PUT" else None)
            assert r.status_code == 404, (method, url, r.status_code)
            assert "Mine" not in r.text and "sparse" not in r.text, url
        assert c.get(owner_feed.removeprefix(site.url)).status_code == 200
        assert c.get(f"/api/v1/topics/{tid}", headers=owner).json()["topic"]["name"] == "Mine"


def test_private_feeds_bypass_the_shared_cache_hide_the_token_and_can_be_revoked(topics_site: TopicsSite) -> None:
    site = topics_site
    auth = site.token("feeds@example.org")
    with site.client() as c:
        tid = c.post("/api/v1/topics", json={"name": HOSTILE, "query": "sparse attention"}, headers=auth).json()["id"]
        made = c.post("/api/v1/topics/feed-token", headers=auth).json()
        path = made["feeds"][str(tid)].removeprefix(site.url)
        token = made["token"]
        with access_log() as records:
            first, second = c.get(path), c.get(path)
        for r in (first, second):
            assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
            assert "etag" not in r.headers and r.headers["content-type"].startswith("application/atom+xml")
        assert [x["cache"] for x in records if x["route"].startswith("/feeds/private/")] == ["none", "none"]
        assert not any(token in str(x) for x in records)  # the secret stays out of the log
        feed = etree.fromstring(first.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        assert feed.findtext("a:title", namespaces=ns) == f"paperboy topic: {HOSTILE}"
        assert [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)][:2] == [
            "Sparse attention without tears", "Sparse attention for very long sequences"]
        twin = c.get(path.replace(".atom", ".json")).json()
        assert twin["topic"]["name"] == HOSTILE and twin["papers"]
        newer = c.post("/api/v1/topics/feed-token", headers=auth).json()["token"]
        assert c.get(path).status_code == 404  # regenerated: the old address is dead
        assert c.get(path.replace(token, newer)).status_code == 200
        assert c.delete("/api/v1/topics/feed-token", headers=auth).status_code == 204
        assert c.get(path.replace(token, newer)).status_code == 404
        assert c.delete("/api/v1/topics/feed-token", headers=auth).status_code == 404


def test_hostile_names_are_escaped_in_html_and_new_papers_are_marked(topics_site: TopicsSite) -> None:
    site = topics_site
    with site.client() as c:
        site.sign_in(c, "escape@example.org")
        csrf = site.csrf(c)
        r = c.post("/topics", data={"name": HOSTILE, "q": "sparse attention state", "csrf_token": csrf})
        location = r.headers["location"]
        page = c.get(location).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;topic&#34;)&lt;/script&gt;" in page
        assert "onerror=alert(1)>" not in page
        listing = c.get("/topics").text
        assert "<script>alert" not in listing and "&lt;script&gt;" in listing
        site.ingest(ARRIVALS)
        page = c.get(location).text
        assert '<span id="new-count">1</span> new' in page
        assert page.count('class="paper is-new"') == 1 and "state space models" in page
        assert '<span id="new-count">0</span> new' in c.get(location).text  # looked at: no longer new
        tid = location.rsplit("/", 1)[1]
        for html_path, twin in ((location, f"/api/v1/topics/{tid}"), ("/topics", "/api/v1/topics")):
            assert f'<link rel="alternate" type="application/json" href="{twin}">' in c.get(html_path).text
            assert c.get(twin).headers["content-type"] == "application/json"
        # Editing the query keeps the history: the papers seen before stay seen.
        r = c.post(location, data={"name": "Renamed", "q": "sparse attention sequences", "csrf_token": csrf})
        assert r.status_code == 303
        edited = c.get(f"/api/v1/topics/{tid}/papers").json()
        assert edited["topic"]["name"] == "Renamed" and edited["new"] == 0
        assert c.post(f"/topics/{tid}/delete", data={"csrf_token": csrf}).status_code == 303
        assert c.get(location).status_code == 404
