"""Votes, saves, views and trending over real HTTP (uvicorn, aiosmtpd for sign-in), with the signals' clock injected.

Readers sign in through the mailed link (cookie sessions) or use API tokens; the response cache is on, as in
production, so these tests also check that nobody's state leaks through it.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from fixtures.events import BROWSER, T0, Clock
from mail_server import MailSink
from paperboy.accounts import AccountService, open_accounts
from readers_site import PAPERS, ReadersSite, start_readers_site

A, B = PAPERS[0].id, PAPERS[1].id


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        for s in start_readers_site(tmp_path, sink):
            s.app.state.signals.clock = Clock(T0)
            yield s


def accounts(site: ReadersSite) -> AccountService:
    return AccountService(open_accounts(site.store), site.settings)


def token_client(site: ReadersSite, email: str, *, admin: bool = False) -> httpx.Client:
    svc = accounts(site)
    reader = svc.add_reader(email, is_admin=admin)
    _, secret = svc.create_token(reader, "tests")
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}, timeout=10)


def anonymous(site: ReadersSite) -> httpx.Client:
    return httpx.Client(base_url=site.url, timeout=10, headers={"User-Agent": BROWSER})


def test_votes_and_saves_with_a_token_answer_counts_and_own_state(site):
    ada, bob = token_client(site, "ada@example.org"), token_client(site, "bob@example.org")
    r = ada.post(f"/api/v1/papers/{A}/vote")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
    assert r.json() == {"paper": A, "counts": {"upvotes": 1, "saves": 0, "views": 0},
                        "reader": {"upvoted": True, "saved": False}}
    assert ada.post(f"/api/v1/papers/{A}/vote").json()["counts"]["upvotes"] == 1  # idempotent
    assert bob.post(f"/api/v1/papers/arXiv:{A}v1/vote").json()["counts"]["upvotes"] == 2  # any id form
    assert bob.post(f"/api/v1/papers/{A}/save").json() == {
        "paper": A, "counts": {"upvotes": 2, "saves": 1, "views": 0}, "reader": {"upvoted": True, "saved": True}}
    after = ada.delete(f"/api/v1/papers/{A}/vote").json()
    assert after["counts"] == {"upvotes": 1, "saves": 1, "views": 0} and after["reader"]["upvoted"] is False
    assert ada.delete(f"/api/v1/papers/{A}/save").json()["counts"]["saves"] == 1  # never saved: nothing to undo


def test_a_vote_shows_on_the_anonymous_trending_page_at_once(site):
    anon, ada = anonymous(site), token_client(site, "ada@example.org")
    before = anon.get("/api/v1/trending", params={"window": "day"})
    assert before.json()["ranking"] == "newest" and "No reader activity" in before.json()["notice"]
    assert "public" in before.headers["cache-control"]
    assert anon.get("/trending?window=day").status_code == 200  # now cached
    ada.post(f"/api/v1/papers/{B}/vote")
    ada.post(f"/api/v1/papers/{B}/save")
    data = anon.get("/api/v1/trending", params={"window": "day"}).json()
    assert data["ranking"] == "trending" and data["notice"] is None
    (item,) = data["items"]
    assert item["paper"]["id"] == B and item["counts"] == {"upvotes": 1, "saves": 1, "views": 0}
    assert item["why"] == "1 upvote and 1 save today"
    assert item["score"] == 5.0  # weights 3 + 2, cast at 09:00 and seen at 09:00: no decay yet
    page = anon.get("/trending?window=day").text
    assert "Why trending: 1 upvote and 1 save today" in page and PAPERS[1].title in page
    feed = anon.get("/feeds/trending.atom", params={"window": "day"}).text
    assert PAPERS[1].title in feed and PAPERS[0].title not in feed
    # A past day is a different window; a later day in the same week still counts it.
    site.app.state.signals.clock.now = T0 + timedelta(days=1)
    site.app.state.services.touch("clock")  # (the server re-reads it within a second anyway)
    assert anon.get("/api/v1/trending", params={"window": "day"}).json()["ranking"] == "newest"
    week = anon.get("/api/v1/trending", params={"window": "week"}).json()
    assert [it["why"] for it in week["items"]] == ["1 upvote and 1 save this week"]
    past = anon.get("/api/v1/trending", params={"window": "day", "date": T0.date().isoformat()}).json()
    assert [it["why"] for it in past["items"]] == ["1 upvote and 1 save on 2 December 2026"]


def test_two_readers_never_see_each_others_state_through_a_cache(site):
    ada, bob = site.client(), site.client()
    site.sign_in(ada, "ada@example.org")
    site.sign_in(bob, "bob@example.org")
    ada_csrf = site.csrf(ada)
    anon = anonymous(site)
    ids = {"ids": f"{A},{B}"}
    assert anon.get("/api/v1/signals", params=ids).json()["papers"][A]["reader"] is None  # cached, public
    r = ada.post(f"/api/v1/papers/{A}/vote", headers={"X-CSRF-Token": ada_csrf})
    assert r.status_code == 200, r.text
    ada.post(f"/api/v1/papers/{B}/save", headers={"X-CSRF-Token": ada_csrf})
    for who, expected in ((ada, {"upvoted": True, "saved": False}), (bob, {"upvoted": False, "saved": False})):
        for _ in range(2):  # a second request would be a cache hit if personal answers were cached
            r = who.get("/api/v1/signals", params=ids)
            assert r.headers["cache-control"] == "private, no-store"
            assert r.json()["papers"][A]["reader"] == expected
            assert r.json()["papers"][A]["counts"]["upvotes"] == 1
    shared = anon.get("/api/v1/signals", params=ids)
    assert shared.json()["papers"][A] == {"paper": A, "counts": {"upvotes": 1, "saves": 0, "views": 0},
                                          "reader": None}
    assert shared.json()["papers"][B]["counts"]["saves"] == 1
    for who, pressed in ((ada, True), (bob, False)):
        page = who.get(f"/paper/{A}").text
        assert ('aria-pressed="true"' in page) is pressed
    assert 'aria-pressed="true"' not in anon.get(f"/paper/{A}").text


def test_html_forms_vote_with_the_sessions_csrf_token(site):
    ada = site.client()
    site.sign_in(ada, "ada@example.org")
    page = ada.get(f"/paper/{A}").text
    assert f'action="/paper/{A}/vote"' in page
    csrf = site.csrf(ada)
    r = ada.post(f"/paper/{A}/vote", data={"on": "1", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/paper/{A}"
    assert ada.get(f"/api/v1/signals?ids={A}").json()["papers"][A]["reader"]["upvoted"] is True
    assert ada.post(f"/paper/{A}/vote", data={"on": "0", "csrf_token": csrf}).status_code == 303
    assert ada.get(f"/api/v1/signals?ids={A}").json()["papers"][A]["reader"]["upvoted"] is False
    assert ada.post(f"/paper/{A}/vote", data={"on": "1"}).status_code == 403  # no CSRF token
    assert ada.post(f"/paper/{A}/like", data={"on": "1", "csrf_token": csrf}).status_code == 404


def test_bad_requests_are_refused_clearly(site):
    ada = token_client(site, "ada@example.org")
    admin = token_client(site, "root@example.org", admin=True)
    assert ada.post("/api/v1/papers/9999.99999/vote").status_code == 404
    assert ada.post("/api/v1/papers/" + "x" * 400 + "/vote").status_code == 404
    forged = httpx.Client(base_url=site.url, headers={"Authorization": "Bearer pb_forged-token-0123456789"})
    r = forged.post(f"/api/v1/papers/{A}/vote")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert anonymous(site).post(f"/api/v1/papers/{A}/vote").status_code == 401
    cookie = site.client()
    site.sign_in(cookie, "cat@example.org")
    assert cookie.post(f"/api/v1/papers/{A}/vote").status_code == 403  # a session needs its CSRF token
    assert cookie.post(f"/api/v1/papers/{A}/vote", headers={"X-CSRF-Token": "0" * 43}).status_code == 403
    # A hidden paper is not there for readers; admins still reach it by id; trending leaves it out for everybody
    # (a shared list, like every listing).
    ada.post(f"/api/v1/papers/{A}/vote")
    anon = anonymous(site)
    assert [it["paper"]["id"] for it in anon.get("/api/v1/trending?window=day").json()["items"]] == [A]
    svc = accounts(site)
    svc.hide_paper(svc.reader("root@example.org"), site.store.get(A).pid)
    assert ada.post(f"/api/v1/papers/{A}/save").status_code == 404
    assert ada.get(f"/paper/{A}").status_code == 404
    assert admin.post(f"/api/v1/papers/{A}/save").status_code == 200
    for who in (ada, admin, anon):
        data = who.get("/api/v1/trending?window=day").json()
        assert A not in [it["paper"]["id"] for it in data["items"]] and data["ranking"] == "newest"
    for params in ({"window": "year"}, {"date": "2026-02-30"}, {"window": "day", "week": "2026-W49"},
                   {"window": "day", "date": "99999-01-01"}, {"limit": 0}):
        assert anonymous(site).get("/api/v1/trending", params=params).status_code == 400, params


def test_a_vote_flood_is_rate_limited(site):
    ada = token_client(site, "flood@example.org")
    statuses = [ada.request("POST" if i % 2 == 0 else "DELETE", f"/api/v1/papers/{A}/vote").status_code
                for i in range(32)]
    assert statuses[:30] == [200] * 30 and statuses[30:] == [429, 429]
    r = ada.post(f"/api/v1/papers/{A}/save")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Too many" in r.json()["error"]


def test_views_count_once_per_visitor_and_day_and_never_for_bots(site):
    anon, other = anonymous(site), httpx.Client(base_url=site.url, headers={"User-Agent": BROWSER + " Other"})
    assert anon.post(f"/api/v1/papers/{A}/view").status_code == 204
    assert anon.post(f"/api/v1/papers/{A}/view").status_code == 204
    assert other.post(f"/api/v1/papers/{A}/view").status_code == 204
    bot = httpx.Client(base_url=site.url, headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    assert bot.post(f"/api/v1/papers/{A}/view").status_code == 204
    assert anon.get(f"/api/v1/signals?ids={A}").json()["papers"][A]["counts"]["views"] == 2
    cross = anon.post(f"/api/v1/papers/{A}/view", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert anon.post(f"/api/v1/papers/{A}/view", headers={"Origin": "https://evil.example"}).status_code == 403
    assert anon.post("/api/v1/papers/9999.99999/view").status_code == 404
    item = anon.get("/api/v1/trending?window=month").json()["items"][0]
    assert item["why"] == "2 views this month" and item["score"] > 0
