"""Chromium: a reader signed in through the mailed link saves a search as a topic from the search page, and after
an ingest sees the arriving paper marked new on the topic page (and no longer new once looked at)."""

from __future__ import annotations

import pytest

from fixtures.browser import CHROMIUM
from fixtures.topics import ARRIVALS
from readers_site import sign_in_browser

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")


def test_a_reader_saves_a_topic_from_a_search_and_sees_new_papers_after_an_ingest(browser, topics_site):
    site = topics_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        sign_in_browser(page, site, "browser-topics@example.org")
        page.goto(site.url + "/search?q=sparse+attention&category=cs")
        page.fill("#topic-name", "Sparse attention")
        page.click("text=Save as topic")
        page.wait_for_url("**/topics/*")
        assert page.locator("h1").inner_text() == "Sparse attention"
        assert page.locator("#new-count").inner_text() == "0"
        before = page.locator("ol.topic-papers li.paper h3 a").all_inner_texts()
        assert "Sparse attention without tears" in before

        site.ingest(ARRIVALS)
        page.reload()
        assert page.locator("#new-count").inner_text() == "1"
        marked = page.locator("ol.topic-papers li.paper.is-new")
        assert marked.count() == 1
        assert marked.locator("h3 a").inner_text() == ARRIVALS[0].title
        assert marked.locator(".new-mark").text_content() == "new"
        assert page.locator("ol.topic-papers li.paper h3 a").first.inner_text() == ARRIVALS[0].title  # newest

        page.reload()  # looked at: nothing is new any more
        assert page.locator("#new-count").inner_text() == "0" and page.locator("li.paper.is-new").count() == 0
        page.click("nav >> text=Topics")
        page.wait_for_url("**/topics")
        assert page.locator(".topic-list a").all_inner_texts() == ["Sparse attention"]
        assert problems == []
    finally:
        context.close()
