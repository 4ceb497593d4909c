"""Chromium: a newcomer subscribes from the banner, confirms from the mail aiosmtpd received, sees the settings."""

from __future__ import annotations

import pytest

from fixtures.browser import CHROMIUM
from fixtures.subscribe import confirm_link, mail_to
from mail_server import MailSink
from paperboy.digest import open_context
from readers_site import ReadersSite, start_readers_site

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> ReadersSite:
    with MailSink() as sink:
        yield from start_readers_site(tmp_path_factory.mktemp("digest-browser"), sink)


def test_a_newcomer_subscribes_from_the_banner_and_confirms(browser, site):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    before = len(site.sink.messages)
    page.goto(site.url + "/latest")
    page.fill("#banner-email", "newcomer@example.org")
    page.click(".digest-banner button[type=submit]")
    page.wait_for_url("**/subscribe/sent")
    assert "Check your mail" in page.inner_text("h1")
    link = confirm_link(mail_to(site.sink, "newcomer@example.org", before))
    subs = open_context(site.store, site.settings).subscriptions
    assert subs.by_email("newcomer@example.org") is None
    page.goto(link)
    assert page.inner_text("#confirm-address") == "newcomer@example.org"
    page.click("form[action=\"/subscribe/confirm\"] button")
    page.wait_for_selector("#done-title")
    sub = subs.by_email("newcomer@example.org")
    assert sub.frequency == "daily" and sub.tz in ("Asia/Kolkata", "Asia/Calcutta")  # the browser's zone (an alias)
    page.click("text=Choose the hour")
    page.wait_for_selector("#digest-settings")
    page.select_option("#send-hour", "8")
    page.click("#digest-settings button[value=save]")
    page.wait_for_selector("text=Saved.")
    assert subs.get(sub.reader_id).send_hour == 8
    assert problems == []
    context.close()
