"""Chromium (Playwright, /usr/bin/chromium): a signed-in reader saves a paper, notes it, shares the collection (a
signed-out browser sees it read-only), exports JSON and BibTeX, deletes the account, and imports the JSON into a
new account with the same result."""

from __future__ import annotations

import json

import bibtexparser
import pytest

from fixtures.browser import CHROMIUM
from readers_site import PAPERS, sign_in_browser

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")

NOTE = "Read section 3 <b>first</b> & compare with Gödel"


def test_save_share_export_delete_and_import_again(signed_in_page, browser, tmp_path):  # noqa: F811
    page, site = signed_in_page, signed_in_page.site
    paper = PAPERS[0]
    page.goto(site.url + f"/paper/{paper.id}")
    page.locator(".paper-page .signals button", has_text="Save").click()
    page.wait_for_selector('.signals button[aria-pressed="true"] >> text=Saved')

    page.goto(site.url + "/collections")
    page.click("a.collection-link >> text=Saved")
    item = page.locator(f'li.collection-item[data-paper="{paper.id}"]')
    assert item.locator(".item-title").inner_text() == paper.title
    item.locator("textarea").fill(NOTE)
    item.locator("button", has_text="Save note").click()
    page.wait_for_load_state()
    assert page.locator(f'li.collection-item[data-paper="{paper.id}"] textarea').input_value() == NOTE

    page.click('button[data-action="share"]')
    link = page.locator("#share-url").inner_text()
    assert link.startswith(site.url + "/shared/")
    stranger = browser.new_context()  # signed out
    shared = stranger.new_page()
    shared.goto(link)
    assert shared.locator("h1").inner_text() == "Saved"
    assert shared.locator(".collection-item .item-title").inner_text() == paper.title
    assert shared.locator(".note").inner_text() == NOTE  # shown as text, not markup
    assert shared.locator("main form").count() == 0 and shared.locator("main textarea").count() == 0
    assert shared.locator("header >> text=Sign in").count() == 1

    page.goto(site.url + "/me")
    with page.expect_download() as got:
        page.click("#export-json")
    exported = tmp_path / "export.json"
    got.value.save_as(exported)
    doc = json.loads(exported.read_text())
    assert [s["paper"] for s in doc["saves"]] == [paper.id] and doc["collections"][0]["items"][0]["note"] == NOTE
    with page.expect_download() as got:
        page.click("#export-bib")
    bib = bibtexparser.parse_string(got.value.path().read_text(encoding="utf-8"))
    assert not bib.failed_blocks and [e["eprint"] for e in bib.entries] == [paper.id]

    page.fill("#confirm", "someone-else@example.org")
    page.click("text=Delete my account")
    assert page.locator(".error").inner_text().startswith("To delete your account")
    assert page.problems == ["error: Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    page.problems.clear()  # that 400 was the refused confirmation
    page.fill("#confirm", "reader@example.org")
    page.click("text=Delete my account")
    page.wait_for_url(site.url + "/")
    assert page.locator("header >> text=Sign in").count() == 1
    shared.goto(link)
    assert "404" in shared.title()  # the deleted account's share link is gone
    stranger.close()

    sign_in_browser(page, site, "again@example.org")
    page.goto(site.url + "/me")
    page.set_input_files("#import-file", str(exported))
    page.click("#import-form button")
    page.wait_for_selector(".import-done")
    again = page.evaluate("fetch('/api/v1/me/export').then(r => r.json())")
    assert again == doc
    page.goto(site.url + "/collections")
    page.click("a.collection-link >> text=Saved")
    assert page.locator(f'li.collection-item[data-paper="{paper.id}"] textarea').input_value() == NOTE
    assert not page.problems, page.problems
