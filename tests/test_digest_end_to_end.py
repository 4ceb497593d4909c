"""Issue 13's "done when", end to end on real parts: a newcomer subscribes from the banner in Chromium, confirms
from the mail aiosmtpd received, and the next scheduler run delivers one digest with trending and topic sections
whose one-click unsubscribe and feedback links work against the running site; after unsubscribing, the next run
sends that reader nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from fixtures.browser import CHROMIUM
from fixtures.digest_e2e import links, mails_to, wait_mail_to
from mail_server import MailSink
from paperboy.cli_digest import open_engine
from paperboy.cycle import Cycle
from paperboy.digest import open_context
from paperboy.index import Indexes
from paperboy.library.topics import check_fields, open_topics
from paperboy.mail import SmtpConfig
from paperboy.papers import Author, Paper
from readers_site import ReadersSite, start_readers_site, token_client

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")

EMAIL = "newcomer@example.org"
TOPIC = "Retrieval at scale"


@pytest.fixture
def site(tmp_path) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path, sink)


def subscribe_in_browser(browser, site: ReadersSite) -> None:  # noqa: ANN001 - a Playwright browser
    """The banner's form, then the confirmation link from the mail aiosmtpd received, in Chromium."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(15_000)
    before = len(site.sink.messages)
    page.goto(site.url + "/latest")
    page.fill("#banner-email", EMAIL)
    page.click(".digest-banner button[type=submit]")
    page.wait_for_url("**/subscribe/sent")
    body = wait_mail_to(site.sink, EMAIL, before).get_body(("plain",)).get_content()
    [link] = links(body, "/subscribe/confirm")
    page.goto(link)
    page.click("form[action=\"/subscribe/confirm\"] button")
    page.wait_for_selector("#done-title")
    context.close()


def new_papers(site: ReadersSite) -> list[Paper]:
    """Today's papers, two matching the reader's topic, written and indexed (so the topic has something new)."""
    today = datetime.now(UTC).date()
    papers = [Paper(id=f"2612.0000{i}", source="test", arxiv_id=f"2612.0000{i}", title=title,
                    abstract=f"{title}. We measure it carefully.", authors=[Author("Grace Hopper")],
                    categories=["cs.IR"], submitted=today)
              for i, title in enumerate(["Dense retrieval at scale", "Retrieval at scale with sparse codes",
                                         "Protein folding by committee"], start=1)]
    site.store.write_batch(papers, [])
    Indexes(site.settings, embed=False).sync(site.store, embed=False)
    return papers


def subscribe_over_http(site: ReadersSite, email: str) -> None:
    """A second reader, through the banner's form and the confirmation link's button, over plain HTTP."""
    before = len(site.sink.messages)
    with site.client() as client:
        answer = client.post("/subscribe", data={"email": email, "frequency": "daily", "tz": "UTC"})
        assert answer.status_code == 303, answer.text
        body = wait_mail_to(site.sink, email, before).get_body(("plain",)).get_content()
        [link] = links(body, "/subscribe/confirm")
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert client.get(link).status_code == 200
        assert client.post("/subscribe/confirm", data={"token": token}).status_code == 200


def run_scheduler(site: ReadersSite) -> None:
    """One scheduler run, as ``paperboy digest send --now`` does it: queue every confirmed reader's digest, deliver."""
    cycle = Cycle(site.settings, site.store, engine=open_engine(site.settings, site.store),
                  smtp=SmtpConfig.from_settings(site.settings))
    report = cycle.send(datetime.now(UTC), any_hour=True)
    assert report.failed == 0, report.line()


def test_subscribe_confirm_digest_feedback_and_one_click_unsubscribe(browser, site):  # noqa: F811
    subscribe_in_browser(browser, site)
    subs = open_context(site.store, site.settings).subscriptions
    sub = subs.by_email(EMAIL)
    assert sub is not None and sub.frequency == "daily"

    open_topics(site.store).create(sub.reader_id, check_fields(name=TOPIC, query="retrieval scale", mode="lexical"),
                                   0, 50)
    papers = new_papers(site)
    hot = papers[2]  # upvoted by two other readers today, through the API with their tokens
    for voter in ("ada@example.org", "bob@example.org"):
        with token_client(site, voter) as client:
            assert client.post(f"/api/v1/papers/{hot.id}/vote").status_code == 200

    before = len(site.sink.messages)
    run_scheduler(site)
    [mail] = mails_to(site.sink, EMAIL, before)
    assert mail.is_multipart() and mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    page = mail.get_body(("html",)).get_content()
    for part in (text, page):
        assert hot.title in part and "2 upvotes today" in part  # the trending section says truly why
        assert TOPIC in part and papers[0].title in part and papers[1].title in part  # the topic section
    assert mail["Message-ID"] and mail["List-Id"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])
    https = [u for u in unsubscribe if u.startswith("http")]
    assert len(https) == 1 and any(u.startswith("mailto:") for u in unsubscribe)

    # 👍 without a session: the GET only shows a page, the POST records it.
    feedback = [u for u in links(page, "/digest/feedback") if parse_qs(urlsplit(u).query).get("v") == ["up"]]
    up = next(u for u in feedback if parse_qs(urlsplit(u).query)["p"] == [hot.id])
    with site.client() as anonymous:
        assert anonymous.get(up).status_code == 200 and subs.feedback(sub.reader_id) == {}
        assert anonymous.post(up).status_code == 200
        assert subs.feedback(sub.reader_id) == {hot.id: "up"}
        # A click-through goes to the paper's own page and nowhere else, even with a forged target added.
        click = next(u for u in links(page, "/digest/click") if parse_qs(urlsplit(u).query)["p"] == [hot.id])
        for url in (click, click + "&next=https://evil.example/"):
            answer = anonymous.get(url)
            assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{hot.id}"


    # One-click unsubscribe (RFC 8058), as a mail client does it: a fresh POST with no cookie; 200, not a redirect.
    with site.client() as mail_client:
        answer = mail_client.post(https[0], content=b"List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200, answer.text
    assert subs.get(sub.reader_id).unsubscribed and sub.reader_id not in {s.reader_id for s in subs.active()}

    # The next run still sends (a reader who subscribes now gets a first digest), but nothing to the newcomer.
    subscribe_over_http(site, "control@example.org")
    before = len(site.sink.messages)
    run_scheduler(site)
    assert len(mails_to(site.sink, "control@example.org", before)) == 1
    assert mails_to(site.sink, EMAIL, before) == []
