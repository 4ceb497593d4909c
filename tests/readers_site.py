"""A real site for reader tests: uvicorn on loopback, a small store, aiosmtpd catching mail, the real outbox sender.

``ReadersSite.sign_in(client, email)`` walks the whole sign-in as a browser would (form, mail, link, button) and
returns the session cookie; the Playwright fixture ``signed_in_page`` (tests/test_auth_browser.py) does the same
in Chromium.  Other reader features (votes, saves, trending) build their tests on this.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from mail_server import MailSink, sign_in_link
from paperboy.accounts import AccountService, open_accounts
from paperboy.mail import BackgroundSender, SmtpConfig
from paperboy.papers import Author, Paper
from paperboy.store.sqlite import SQLiteStore
from paperboy.web.testing import LiveServer

PAPERS = [
    Paper(id="2401.00001", source="test", arxiv_id="2401.00001", title="Sparse attention for very long documents",
          abstract="We study sparse attention.", authors=[Author("Ada Lovelace")], categories=["cs.LG"],
          submitted=date(2024, 1, 2)),
    Paper(id="2401.00002", source="test", arxiv_id="2401.00002", title="Graph neural networks on a budget",
          abstract="Cheap graph networks.", authors=[Author("Alan Turing")], categories=["cs.LG"],
          submitted=date(2024, 1, 3)),
]


def field(page: str, name: str) -> str:
    """The value of the hidden input ``name`` in an HTML page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field in the page"
    return html.unescape(match.group(1))


@dataclass
class ReadersSite:
    url: str
    store: SQLiteStore
    sink: MailSink
    settings: object
    app: object = None  # the FastAPI app (tests reach its state, e.g. the signals' clock)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    def request_link(self, client: httpx.Client, email: str) -> str:
        """Ask for a sign-in link as a browser would and return the link from the delivered mail."""
        before = len(self.sink.messages)
        form = client.get("/auth/login")
        response = client.post("/auth/login", data={"email": email, "csrf_token": field(form.text, "csrf_token")})
        assert response.status_code == 303, response.text
        return sign_in_link(self.sink.wait_for(before + 1)[-1])

    def use_link(self, client: httpx.Client, link: str) -> httpx.Response:
        """Open a sign-in link and press its button; a link that does not work answers the GET (400)."""
        page = client.get(link)
        if page.status_code != 200:
            return page
        return client.post("/auth/verify", data={"token": field(page.text, "token"),
                                                 "csrf_token": field(page.text, "csrf_token")})

    def sign_in(self, client: httpx.Client, email: str) -> str:
        response = self.use_link(client, self.request_link(client, email))
        assert response.status_code == 303 and response.headers["location"] == "/account", response.text
        return client.cookies["paperboy_session"]

    def csrf(self, client: httpx.Client) -> str:
        return field(client.get("/account").text, "csrf_token")


def start_readers_site(tmp_path: Path, sink: MailSink):  # noqa: ANN201 - a generator for fixtures
    """Start a site whose mail goes to ``sink``; yields a :class:`ReadersSite`, stops everything after."""
    from paperboy.web.app import create_app

    store = SQLiteStore(tmp_path / "paperboy.db")
    store.write_batch(PAPERS, [])
    settings = sink.settings(tmp_path)
    app = create_app(settings, store=store, load_engine="never", response_cache=True)
    sender = BackgroundSender(open_accounts(store).outbox, SmtpConfig.from_settings(settings), interval=0.05).start()
    with LiveServer(app) as server:
        settings.base_url = server.url  # links in mail point at this server
        yield ReadersSite(url=server.url, store=store, sink=sink, settings=settings, app=app)
    sender.stop()
    store.close()


def sign_in_browser(page, site: ReadersSite, email: str) -> None:  # noqa: ANN001 - a Playwright page
    """Sign ``email`` in in a real browser: the sign-in form, the mail caught by aiosmtpd, the link."""
    before = len(site.sink.messages)
    page.goto(site.url + "/auth/login")
    page.fill("#email", email)
    page.click("text=Mail me a sign-in link")
    page.wait_for_url("**/auth/check-mail")
    link = sign_in_link(site.sink.wait_for(before + 1)[-1])
    page.goto(link)  # the page's script presses "Sign in" at once
    page.wait_for_url("**/account")


def token_client(site: ReadersSite, email: str) -> httpx.Client:
    """An API client carrying a fresh token of a new reader ``email`` (no cookies, so no CSRF token needed)."""
    svc = AccountService(open_accounts(site.store), site.settings)
    _, secret = svc.create_token(svc.add_reader(email), "tests")
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
