"""Chromium: a reader signed in through the mailed link upvotes and saves a paper and sees it rise on the trending
page with a true "why trending"; nobody else can act as that reader."""

from __future__ import annotations

import httpx
import pytest

from fixtures.browser import CHROMIUM
from fixtures.events import T0, Clock
from paperboy.accounts import AccountService, open_accounts
from readers_site import PAPERS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")


def ranked(page) -> list[str]:  # noqa: ANN001 - a Playwright page
    return page.locator("ol.papers.trending li.paper h3 a").all_inner_texts()


def test_a_reader_upvotes_and_saves_and_sees_the_paper_rise(signed_in_page, browser):  # noqa: F811
    page, site = signed_in_page, signed_in_page.site
    site.app.state.signals.clock = Clock(T0)
    first, second = PAPERS
    # Another reader upvoted the second paper earlier: it leads today's ranking.
    svc = AccountService(open_accounts(site.store), site.settings)
    _, token = svc.create_token(svc.add_reader("early@example.org"), "script")
    r = httpx.post(f"{site.url}/api/v1/papers/{second.id}/vote", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    page.goto(site.url + "/trending?window=day")
    assert ranked(page) == [second.title]
    assert page.locator("ol.papers.trending .why").first.inner_text() == "Why trending: 1 upvote today (score 3)"

    page.goto(site.url + f"/paper/{first.id}")
    bar = page.locator(".paper-page .signals")
    upvote, save = bar.locator("button", has_text="Upvote"), bar.locator("button", has_text="Save")
    assert upvote.get_attribute("aria-pressed") == "false"
    upvote.click()
    page.wait_for_selector('.signals button[aria-pressed="true"] >> text=Upvoted')
    save.click()
    page.wait_for_selector('.signals button[aria-pressed="true"] >> text=Saved')
    assert bar.locator('[data-count="upvotes"]').inner_text() == "1"
    assert bar.locator('[data-count="saves"]').inner_text() == "1"

    page.goto(site.url + "/trending?window=day")
    assert ranked(page) == [first.title, second.title]  # 3 + 2 now outweighs 3
    assert page.locator("ol.papers.trending .why").first.inner_text() == (
        "Why trending: 1 upvote and 1 save today (score 5)")
    page.goto(site.url + "/?window=day")
    assert ranked(page) == [first.title, second.title]
    # The reader's own state survives a reload (the page is personal: never from the shared cache).
    page.goto(site.url + f"/paper/{first.id}")
    assert page.locator('.signals button[aria-pressed="true"]').count() == 2
    assert page.problems == []

    # Nobody else can act as this reader: a forged session cookie is anonymous (401); the real cookie without
    # the CSRF token is refused (403).
    other = browser.new_context()
    try:
        other.add_cookies([{"name": "paperboy_session", "value": "forged-" + "x" * 40, "url": site.url}])
        forged = other.new_page()
        forged.goto(site.url + f"/paper/{first.id}")
        assert forged.locator(".signals button").count() == 0  # no forms for an anonymous visitor
        status = forged.evaluate(f"fetch('/api/v1/papers/{first.id}/vote', {{method: 'POST'}}).then(r => r.status)")
        assert status == 401
        stolen = next(c for c in page.context.cookies() if c["name"] == "paperboy_session")
        other.add_cookies([{"name": "paperboy_session", "value": stolen["value"], "url": site.url}])
        status = forged.evaluate(f"fetch('/api/v1/papers/{first.id}/save', {{method: 'DELETE'}}).then(r => r.status)")
        assert status == 403
    finally:
        other.close()
    assert httpx.get(f"{site.url}/api/v1/signals?ids={first.id}").json()["papers"][first.id]["counts"] == {
        "upvotes": 1, "saves": 1, "views": 0}  # headless Chromium is a bot: its views never count
