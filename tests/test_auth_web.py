"""Accounts over real HTTP: sign-in by mailed link, cookies, CSRF, tokens, rate limits, admins, two readers."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi import Depends

from mail_server import MailSink
from paperboy.accounts import AccountService, open_accounts
from paperboy.config import Settings
from paperboy.store.sqlite import SQLiteStore
from paperboy.web.app import create_app
from paperboy.web.auth import rate_limit
from paperboy.web.testing import LiveServer
from readers_site import ReadersSite, field, start_readers_site


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path, sink)


def _set_cookie(response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))


# -- signing in -----------------------------------------------------------------------------------------------------


def test_a_reader_signs_in_through_the_mailed_link(site):
    with site.client() as c:
        link = site.request_link(c, "Alice@Example.org")
        assert link.startswith(site.url + "/auth/verify?token=")
        first = c.get(link)
        assert c.get(link).status_code == 200  # a GET (a mail scanner's prefetch) does not use the link up
        assert first.headers["cache-control"] == "private, no-store"
        assert first.headers["referrer-policy"] == "no-referrer"
        assert 'src="/static/sign-in.js' in first.text and "data-auto-submit" in first.text  # the asking browser
        assert "<button type=\"submit\">Sign in</button>" in first.text and "alice@example.org" in first.text
        response = c.post("/auth/verify", data={"token": field(first.text, "token"),
                                                "csrf_token": field(first.text, "csrf_token")})
        assert response.status_code == 303 and response.headers["location"] == "/account"
        cookie = _set_cookie(response, "paperboy_session").lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "secure" not in cookie
        account = c.get("/account")
        assert account.status_code == 200 and "alice@example.org" in account.text
        assert account.headers["cache-control"] == "private, no-store"
        api = c.get("/api/v1/account")
        assert api.json()["reader"]["email"] == "alice@example.org"
        assert api.headers["cache-control"] == "private, no-store"
        # The link is used up.
        again = site.use_link(c, link)
        assert again.status_code == 400 and "does not work" in again.text


def test_a_link_opened_in_another_browser_waits_for_a_click(site):
    """Login CSRF: a victim lured to an attacker's own link is not signed in to the attacker's account unawares."""
    with site.client() as asker, site.client() as elsewhere:
        link = site.request_link(asker, "attacker@example.org")
        page = elsewhere.get(link)
        assert page.status_code == 200 and "data-auto-submit" not in page.text
        assert "Sign in as <strong id=\"sign-in-address\">attacker@example.org</strong>?" in page.text
        assert "another browser" in page.text
        assert site.use_link(elsewhere, link).status_code == 303  # a deliberate click still works (another device)


def test_cookies_are_secure_behind_https(site):
    with site.client() as c:
        link = site.request_link(c, "alice@example.org")
        site.settings.base_url = "https://papers.example.org"
        c.cookies.clear()
        page = c.get(link)
        anon = _set_cookie(page, "paperboy_csrf")
        assert "secure" in anon.lower() and "samesite=strict" in anon.lower()
        # The client will not send a Secure cookie over plain HTTP: hand it over as a browser on HTTPS would.
        response = c.post("/auth/verify", data={"token": field(page.text, "token"),
                                                "csrf_token": field(page.text, "csrf_token")},
                          headers={"Cookie": anon.split(";")[0]})
    assert response.status_code == 303
    assert "secure" in _set_cookie(response, "paperboy_session").lower()


def test_known_and_unknown_addresses_get_the_same_answer(site):
    site.store.db.execute("INSERT INTO users(email, created_at) VALUES ('known@example.org', 0)")
    answers = []
    with site.client() as c:
        for email in ("known@example.org", "unknown@example.org"):
            csrf = field(c.get("/auth/login").text, "csrf_token")
            response = c.post("/auth/login", data={"email": email, "csrf_token": csrf})
            answers.append((response.status_code, response.headers["location"], response.text))
        assert answers[0] == answers[1] == (303, "/auth/check-mail", "")
        assert "If that address can receive mail" in c.get("/auth/check-mail").text
    assert sorted(m["To"] for m in site.sink.wait_for(2)) == ["known@example.org", "unknown@example.org"]


@pytest.mark.parametrize("email, message", [
    ("not-an-address", "not an email address"),
    ("a" * 10_000 + "@example.org", "too long"),
    ("rëader@example.org", "non-ASCII"),
])
def test_bad_addresses_are_refused_clearly(site, email, message):
    with site.client() as c:
        csrf = field(c.get("/auth/login").text, "csrf_token")
        response = c.post("/auth/login", data={"email": email, "csrf_token": csrf})
    assert response.status_code == 400 and message in response.text
    assert site.store.db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_an_internationalised_domain_gets_its_link(site):
    with site.client() as c:
        site.sign_in(c, "reader@bücher.example")
        assert c.get("/api/v1/account").json()["reader"]["email"] == "reader@xn--bcher-kva.example"


def test_expired_tampered_and_forged_links_are_refused(site):
    with site.client() as c:
        link = site.request_link(c, "alice@example.org")
        tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
        for bad in (tampered, f"{site.url}/auth/verify?token={'x' * 43}", f"{site.url}/auth/verify"):
            response = site.use_link(c, bad)
            assert response.status_code == 400 and "paperboy_session" not in response.headers.get("set-cookie", "")
        site.settings.sign_in_link_minutes = 0  # links made from now on expire at once
        expired = site.request_link(c, "bob@example.org")
        assert site.use_link(c, expired).status_code == 400
        assert site.use_link(c, link).status_code == 303  # the untampered link still works


def test_sign_in_requests_are_rate_limited_per_address(site):
    with site.client() as c:
        csrf = field(c.get("/auth/login").text, "csrf_token")
        codes = [c.post("/auth/login", data={"email": "alice@example.org", "csrf_token": csrf}) for _ in range(6)]
    assert [r.status_code for r in codes] == [303] * 5 + [429]
    assert 0 < int(codes[-1].headers["retry-after"]) <= 900 and "Too many sign-in requests" in codes[-1].text


# -- sessions, CSRF and GET-safety ----------------------------------------------------------------------------------


def test_state_changes_need_the_sessions_csrf_token(site):
    with site.client() as alice, site.client() as bob:
        site.sign_in(alice, "alice@example.org")
        site.sign_in(bob, "bob@example.org")
        bobs_token = site.csrf(bob)
        for data in ({"name": "x"}, {"name": "x", "csrf_token": bobs_token}, {"name": "x", "csrf_token": "forged"}):
            assert alice.post("/account/tokens", data=data).status_code == 403
        assert alice.post("/api/v1/account/tokens", headers={"X-CSRF-Token": bobs_token}).status_code == 403
        assert alice.post("/auth/logout", data={}).status_code == 403
        assert alice.get("/account").status_code == 200  # still signed in
        made = alice.post("/account/tokens", data={"name": "laptop", "csrf_token": site.csrf(alice)})
        assert made.status_code == 201 and "laptop" in made.text
        assert alice.post("/api/v1/account/tokens", headers={"X-CSRF-Token": site.csrf(alice)}).status_code == 201


def test_the_anonymous_sign_in_form_needs_its_csrf_cookie(site):
    with site.client() as c:
        assert c.post("/auth/login", data={"email": "alice@example.org"}).status_code == 403
        csrf = field(c.get("/auth/login").text, "csrf_token")
        c.cookies.clear()  # a cross-site form has the field's value at best, never our cookie
        assert c.post("/auth/login", data={"email": "alice@example.org", "csrf_token": csrf}).status_code == 403


def test_nothing_changes_state_on_get(site):
    with site.client() as c:
        site.sign_in(c, "alice@example.org")
        for path in ("/auth/logout", "/auth/logout-everywhere", "/account/tokens", "/account/tokens/1/revoke"):
            assert c.get(path).status_code in (404, 405), path
        assert c.get("/account").status_code == 200


def test_forged_session_cookies_are_anonymous(site):
    with site.client() as c:
        session = site.sign_in(c, "alice@example.org")
        for forged in ("x" * 43, session[:-1], session + "A"):
            c.cookies.set("paperboy_session", forged)
            assert c.get("/account").headers["location"] == "/auth/login"
            assert c.get("/api/v1/account").status_code == 401


def test_sign_out_and_sign_out_everywhere(site):
    with site.client() as laptop, site.client() as phone, site.client() as tablet:
        for c in (laptop, phone, tablet):
            site.sign_in(c, "alice@example.org")
        out = laptop.post("/auth/logout", data={"csrf_token": site.csrf(laptop)})
        assert out.status_code == 303 and 'paperboy_session=""' in _set_cookie(out, "paperboy_session")
        laptop.cookies.clear()
        assert laptop.get("/account").status_code == 303
        assert phone.get("/account").status_code == 200
        everywhere = phone.post("/auth/logout-everywhere", data={"csrf_token": site.csrf(phone)})
        assert everywhere.status_code == 303
        assert tablet.get("/account").status_code == 303  # the other device is signed out too


# -- API tokens and two readers -------------------------------------------------------------------------------------


def test_api_tokens_work_without_csrf_and_stop_when_revoked(site):
    with site.client() as c:
        site.sign_in(c, "alice@example.org")
        made = c.post("/api/v1/account/tokens?name=script", headers={"X-CSRF-Token": site.csrf(c)}).json()
    with site.client() as script:
        bearer = {"Authorization": f"Bearer {made['token']}"}
        assert script.get("/api/v1/account", headers=bearer).json()["reader"]["email"] == "alice@example.org"
        second = script.post("/api/v1/account/tokens?name=other", headers=bearer)  # no CSRF token with a bearer
        assert second.status_code == 201
        assert script.delete(f"/api/v1/account/tokens/{made['id']}", headers=bearer).status_code == 204
        refused = script.get("/api/v1/account", headers=bearer)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer pb_forged", "Bearer", "Basic dXNlcjpwYXNz", f"Bearer {made['token']}x"):
            assert script.get("/api/v1/account", headers={"Authorization": header}).status_code == 401


def test_a_reader_cannot_touch_another_readers_tokens(site):
    with site.client() as alice, site.client() as bob:
        site.sign_in(alice, "alice@example.org")
        site.sign_in(bob, "bob@example.org")
        made = alice.post("/api/v1/account/tokens?name=mine", headers={"X-CSRF-Token": site.csrf(alice)}).json()
        bob_csrf = site.csrf(bob)
        assert bob.post(f"/account/tokens/{made['id']}/revoke", data={"csrf_token": bob_csrf}).status_code == 404
        assert bob.delete(f"/api/v1/account/tokens/{made['id']}", headers={"X-CSRF-Token": bob_csrf}).status_code == 404
        assert bob.get("/api/v1/account").json()["tokens"] == []
        assert "mine" not in bob.get("/account").text
        bearer = {"Authorization": f"Bearer {made['token']}"}
        assert alice.get("/api/v1/account", headers=bearer).json()["reader"]["email"] == "alice@example.org"


# -- admins ---------------------------------------------------------------------------------------------------------


def test_only_admins_hide_papers_and_readers(site):
    service = AccountService(open_accounts(site.store), site.settings)
    admin_token = service.create_token(service.add_reader("admin@example.org", is_admin=True))[1]
    reader = service.add_reader("reader@example.org")
    reader_token = service.create_token(reader)[1]
    with site.client() as c:
        path = "/api/v1/admin/papers/2401.00001/hide"
        assert c.post(path).status_code == 401
        assert c.post(path, headers={"Authorization": f"Bearer {reader_token}"}).status_code == 403
        admin = {"Authorization": f"Bearer {admin_token}"}
        assert c.post("/api/v1/admin/papers/9999.99999/hide", headers=admin).status_code == 404
        assert c.post(path, headers=admin).json() == {"paper": "2401.00001", "hidden": True}
        assert len(service.hidden_papers()) == 1
        assert c.delete(path, headers=admin).json()["hidden"] is False
        hide = c.post(f"/api/v1/admin/readers/{reader.id}/hide", headers=admin)
        assert hide.json() == {"reader": reader.id, "hidden": True}
        assert c.get("/api/v1/account", headers={"Authorization": f"Bearer {reader_token}"}).status_code == 401
        assert c.post("/api/v1/admin/readers/99999/hide", headers=admin).status_code == 404


def test_personal_pages_are_never_cached(site):
    with site.client() as c:
        for path in ("/auth/login", "/auth/check-mail", "/auth/verify?token=abc"):
            assert c.get(path).headers["cache-control"] == "private, no-store", path
        site.sign_in(c, "alice@example.org")
        first = c.get("/account").text
    with site.client() as other:
        site.sign_in(other, "bob@example.org")
        second = other.get("/account").text
    assert re.search("alice@example.org", first) and "alice@example.org" not in second


def test_the_rate_limit_dependency_answers_429_with_retry_after(tmp_path):
    """``rate_limit(key, limit, window_s)`` as other routes use it (votes): per reader, else per client IP."""
    store = SQLiteStore(tmp_path / "paperboy.db")
    app = create_app(Settings(home=tmp_path), store=store, load_engine="never")
    app.add_api_route("/api/v1/ping", lambda: {"ok": True}, methods=["POST"],
                      dependencies=[Depends(rate_limit("ping", 2, 60))])
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as c:
        answers = [c.post("/api/v1/ping") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 0 < int(answers[2].headers["retry-after"]) <= 60
    assert answers[2].json()["error"].startswith("Too many requests")
    store.close()


def test_a_hidden_paper_leaves_listings_at_once_cached_or_not(site):
    service = AccountService(open_accounts(site.store), site.settings)
    bearer = {"Authorization": f"Bearer {service.create_token(service.add_reader('a@example.org', is_admin=True))[1]}"}

    def listed() -> set[str]:
        return {p["id"] for p in httpx.get(site.url + "/api/v1/latest").json()["papers"]}

    with site.client() as c:
        assert listed() == {"2401.00001", "2401.00002"} and "Sparse attention" in c.get("/latest").text  # cached now
        assert c.post("/api/v1/admin/papers/2401.00001/hide", headers=bearer).status_code == 200
        deadline = time.monotonic() + 5  # data versions are re-read at most once a second
        while "2401.00001" in listed() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listed() == {"2401.00002"}
        assert "Sparse attention" not in c.get("/latest").text
        assert "Sparse attention" not in c.get("/feeds/latest.atom").text
        c.delete("/api/v1/admin/papers/2401.00001/hide", headers=bearer)
        deadline = time.monotonic() + 5
        while "2401.00001" not in listed() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listed() == {"2401.00001", "2401.00002"}


def test_the_header_shows_the_signed_in_state_and_never_leaks_through_the_cache(site):
    with site.client() as anonymous, site.client() as alice:
        first = anonymous.get("/latest")
        assert "/auth/login" in first.text and 'href="/account"' not in first.text
        assert first.headers["cache-control"].startswith("public")
        site.sign_in(alice, "alice@example.org")
        mine = alice.get("/latest")
        assert 'href="/account"' in mine.text and "alice@example.org" in mine.text
        assert mine.headers["cache-control"] == "private, no-store"
        again = anonymous.get("/latest")
        assert "alice@example.org" not in again.text and 'href="/account"' not in again.text


def test_the_account_page_names_its_json_twin(site):
    with site.client() as c:
        site.sign_in(c, "alice@example.org")
        page = c.get("/account").text
        twin = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)">', page)[1]
        assert c.get(twin).json()["reader"]["email"] == "alice@example.org"
