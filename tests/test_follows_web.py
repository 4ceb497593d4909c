"""Follows over real HTTP (uvicorn; sign-in by mailed link through aiosmtpd), the response cache on as in production."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from mail_server import MailSink
from paperboy.papers import Author, Paper
from readers_site import ReadersSite, field, start_readers_site, token_client

EVIL = '<script>alert("x")</script> Smith'
MORE = [
    Paper(id="2402.00001", source="test", arxiv_id="2402.00001", title="Attention everywhere",
          authors=[Author("Yoshua Bengio"), Author(EVIL)], categories=["cs.CL"], submitted=date(2024, 2, 1),
          journal_ref="ICLR 2024"),
    Paper(id="2402.00002", source="test", arxiv_id="2402.00002", title="Short names",
          authors=[Author("Y. Bengio")], categories=["stat.ML"], submitted=date(2024, 2, 2)),
]


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        for s in start_readers_site(tmp_path, sink):
            s.store.write_batch(MORE, [])
            yield s



def test_follow_with_a_token_and_read_the_following_list(site):
    ada = token_client(site, "ada@example.org")
    r = ada.post("/api/v1/follows", json={"kind": "author", "value": "Y. Bengio"})
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
    assert r.json()["following"] is True and r.json()["changed"] is True
    assert ada.post("/api/v1/follows", json={"kind": "category", "value": "cs.LG"}).status_code == 200
    page = ada.get("/api/v1/following")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    body = page.json()
    assert [p["id"] for p in body["papers"]] == ["2402.00002", "2402.00001", "2401.00002", "2401.00001"]
    assert body["papers"][1]["why"] == [{"kind": "author", "follow": "Y. Bengio", "text": "new paper by Yoshua Bengio"}]
    assert [f["value"] for f in body["follows"]] == ["Y. Bengio", "cs.LG"]
    two = ada.get("/api/v1/following", params={"limit": 2}).json()
    assert two["next"].endswith("/api/v1/following?limit=2&offset=2") and two["prev"] is None
    gone = ada.request("DELETE", "/api/v1/follows", json={"kind": "category", "value": "cs.LG"})
    assert gone.json()["following"] is False and gone.json()["changed"] is True
    assert [p["id"] for p in ada.get("/api/v1/following").json()["papers"]] == ["2402.00002", "2402.00001"]


def test_readers_never_see_each_others_follows(site):
    ada, bob = token_client(site, "ada@example.org"), token_client(site, "bob@example.org")
    ada.post("/api/v1/follows", json={"kind": "venue", "value": "ICLR"})
    assert bob.get("/api/v1/following").json()["follows"] == []
    assert bob.request("DELETE", "/api/v1/follows", json={"kind": "venue", "value": "ICLR"}).json()["changed"] is False
    assert [f["value"] for f in ada.get("/api/v1/following").json()["follows"]] == ["ICLR"]


def test_signed_out_and_bad_requests_are_refused_clearly(site):
    anon = httpx.Client(base_url=site.url, timeout=10)
    assert anon.get("/api/v1/following").status_code == 401
    assert anon.post("/api/v1/follows", json={"kind": "author", "value": "Ada"}).status_code == 401
    page = anon.get("/following")
    assert page.status_code == 401 and "Sign in" in page.text and page.headers["cache-control"] == "private, no-store"
    ada = token_client(site, "ada@example.org")
    for body, status in (({"kind": "planet", "value": "Mars"}, 422), ({"kind": "author", "value": "x" * 10_000}, 422),
                         ({"kind": "author", "value": "..."}, 400), ({"kind": "category", "value": "<b>"}, 400)):
        r = ada.post("/api/v1/follows", json=body)
        assert r.status_code == status, (body, r.text)
    assert ada.get("/api/v1/following", params={"offset": 5000}).status_code == 400


def test_html_forms_need_the_sessions_csrf_token_and_pages_escape_names(site):
    client = site.client()
    site.sign_in(client, "ada@example.org")
    assert client.post("/api/v1/follows", json={"kind": "author", "value": "Ada"}).status_code == 403
    author_page = client.get("/author/Yoshua%20Bengio")
    assert author_page.headers["cache-control"] == "private, no-store"
    assert 'aria-pressed="false">Follow</button>' in author_page.text
    token = field(author_page.text, "csrf_token")
    r = client.post("/follows", data={"kind": "author", "value": "Yoshua Bengio", "on": "1", "csrf_token": token,
                                      "next": "/author/Yoshua%20Bengio"})
    assert r.status_code == 303 and r.headers["location"] == "/author/Yoshua%20Bengio"
    assert 'aria-pressed="true"' in client.get("/author/Yoshua%20Bengio").text
    assert client.post("/follows", data={"kind": "author", "value": "Ada"}).status_code == 403  # no token
    r = client.post("/follows", data={"kind": "author", "value": EVIL, "csrf_token": token, "next": "//evil.example"})
    assert r.status_code == 303 and r.headers["location"] == "/following"  # never off-site
    category_page = client.get("/category/cs.CL")
    assert 'name="value" value="cs.CL"' in category_page.text
    page = client.get("/following")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert '<link rel="alternate" type="application/json" href="/api/v1/following?limit=20&amp;offset=0">' in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    assert "new paper by <em>Yoshua Bengio</em>" in page.text
    assert "new paper by <em>&lt;script&gt;" in page.text
    assert 'class="tag new"' not in page.text  # the first look has nothing to compare with
    site.store.write_batch([Paper(id="2403.00001", source="test", arxiv_id="2403.00001", title="Arrived later",
                                  authors=[Author("Yoshua Bengio")], categories=["cs.AI"], submitted=date(2024, 3, 1))],
                           [])
    again = client.get("/following").text
    assert again.count('class="tag new"') == 1 and again.index('class="tag new"') > again.index("Arrived later")
    twin = client.get("/api/v1/following").json()
    assert [p["id"] for p in twin["papers"] if p["new"]] == ["2403.00001"]
    assert twin["follows"][1]["value"] == EVIL  # JSON carries the text; escaping is the renderer's job
    anon = httpx.Client(base_url=site.url, timeout=10)
    assert "aria-pressed" not in anon.get("/author/Yoshua%20Bengio").text  # the shared page has no reader's state
