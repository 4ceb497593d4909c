"""Chromium: a signed-in reader follows an author and a category with the pages' Follow buttons (plain POST forms
with the session's CSRF token), reads why each paper is on the Following page, and after an ingest sees the
arriving papers marked new, newest first, and no longer new once looked at."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.browser import CHROMIUM
from paperboy.papers import Author, Paper

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")

ARRIVALS = [  # one per follow (the newer stored first, so "newest first" is by date), and one no follow matches
    Paper(id="2403.00002", source="test", arxiv_id="2403.00002", title="Compilers that learn",
          abstract="Learned compilers.", authors=[Author("Grace Hopper")], categories=["cs.LG"],
          submitted=date(2024, 3, 2)),
    Paper(id="2403.00001", source="test", arxiv_id="2403.00001", title="Computable numbers, revisited",
          abstract="Old questions.", authors=[Author("Alan Turing")], categories=["math.LO"],
          submitted=date(2024, 3, 1)),
    Paper(id="2403.00003", source="test", arxiv_id="2403.00003", title="Followed by nobody",
          abstract="Unrelated.", authors=[Author("Emmy Noether")], categories=["math.RA"],
          submitted=date(2024, 3, 3)),
]


def follow_from(page, path: str) -> None:  # noqa: ANN001 - a Playwright page
    """Open an author or category page and press its Follow button; the form brings the reader back there."""
    page.goto(page.site.url + path)
    button = page.locator("form.follow-button button")
    assert button.inner_text() == "Follow" and button.get_attribute("aria-pressed") == "false"
    button.click()
    page.wait_for_url("**" + path)
    assert button.get_attribute("aria-pressed") == "true" and button.inner_text().startswith("Following")


def titles_and_why(page) -> list[tuple[str, str]]:  # noqa: ANN001 - a Playwright page
    cards = page.locator("ol.papers li.paper")
    return [(cards.nth(i).locator("h3 a").inner_text(), cards.nth(i).locator(".following-why").inner_text())
            for i in range(cards.count())]


def test_a_reader_follows_an_author_and_a_category_and_sees_new_papers_after_an_ingest(signed_in_page):
    page = signed_in_page
    follow_from(page, "/author/Alan%20Turing")
    follow_from(page, "/category/cs.LG")

    page.goto(page.site.url + "/following")
    assert page.locator("ul.follows li.follow a").all_inner_texts() == ["Alan Turing", "cs.LG"]
    assert titles_and_why(page) == [
        ("Graph neural networks on a budget", "new paper by Alan Turing; in cs.LG"),
        ("Sparse attention for very long documents", "in cs.LG"),
    ]
    assert page.locator("ol.papers .tag.new").count() == 0  # the first look marks nothing

    page.site.store.write_batch(ARRIVALS, [])  # an ingest: the Following page reads the store
    page.reload()
    assert titles_and_why(page) == [  # newest first, the unfollowed arrival absent
        ("Compilers that learn", "new in cs.LG"),
        ("Computable numbers, revisited", "new new paper by Alan Turing"),
        ("Graph neural networks on a budget", "new paper by Alan Turing; in cs.LG"),
        ("Sparse attention for very long documents", "in cs.LG"),
    ]
    assert page.locator("ol.papers .following-why .tag.new").count() == 2

    page.reload()  # looked at: nothing is new any more
    assert page.locator("ol.papers .tag.new").count() == 0
    assert [t for t, _ in titles_and_why(page)][:2] == ["Compilers that learn", "Computable numbers, revisited"]
    assert page.problems == []
