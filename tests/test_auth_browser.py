"""Chromium signs a reader in through a link read from the aiosmtpd server, makes and revokes a token, signs out.

``signed_in_page`` is the fixture other reader features (votes, saves, trending) start from.
"""

from __future__ import annotations

import pytest

from fixtures.browser import CHROMIUM
from mail_server import sign_in_link
from readers_site import sign_in_browser

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")



def test_a_reader_signs_in_in_a_browser_and_manages_tokens(signed_in_page):
    page = signed_in_page
    assert page.locator("#account-email").inner_text() == "reader@example.org"
    cookie = next(c for c in page.context.cookies() if c["name"] == "paperboy_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("paperboy_session") == -1  # scripts cannot read it
    page.fill("#token-name", "browser script")
    page.click("text=Create token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("pb_")
    assert page.locator("table.tokens td", has_text="browser script").count() == 1
    page.click("table.tokens >> text=Revoke")
    page.wait_for_url("**/account#tokens")
    assert page.locator("table.tokens").count() == 0
    page.click("text=Sign out everywhere")
    page.wait_for_url(page.site.url + "/")
    page.goto(page.site.url + "/account")
    assert page.url.endswith("/auth/login")
    assert page.problems == []


def test_a_link_opened_in_another_browser_needs_a_click(browser, readers_site):  # noqa: F811
    asking, other = browser.new_context(), browser.new_context()
    page = asking.new_page()
    before = len(readers_site.sink.messages)
    page.goto(readers_site.url + "/auth/login")
    page.fill("#email", "elsewhere@example.org")
    page.click("text=Mail me a sign-in link")
    page.wait_for_url("**/auth/check-mail")
    message = readers_site.sink.wait_for(before + 1)[-1]
    assert message["To"] == "elsewhere@example.org"
    link = sign_in_link(message)
    stranger = other.new_page()
    stranger.goto(link)
    stranger.wait_for_timeout(300)  # time for a script that must not submit
    assert stranger.url.startswith(readers_site.url + "/auth/verify")
    assert stranger.locator("#sign-in-address").inner_text() == "elsewhere@example.org"
    stranger.click("button:has-text('Sign in')")
    stranger.wait_for_url("**/account")
    asking.close()
    other.close()


def test_a_used_link_opened_again_says_so(browser, readers_site):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    sign_in_browser(page, readers_site, "twice@example.org")
    link = readers_site.sink.messages[-1].get_body(("plain",)).get_content().split()
    link = next(w for w in link if "/auth/verify?token=" in w)
    page.goto(link)
    assert page.locator("[role=alert]").inner_text().startswith("This sign-in link does not work")
    context.close()
