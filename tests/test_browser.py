"""A real browser (Debian's chromium, driven by Playwright) walks the site like a reader.

Home → search → a result → a similar paper → switch theme (and it persists) → keyboard navigation, on
desktop and phone viewports, with no console errors and no CSP violations.  Screenshots go to
``test-artifacts/`` (git-ignored) so CI keeps them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.browser import CHROMIUM
from fixtures.web import Site

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    problems: list[str] = []
    p.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
         else None)
    p.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    p.problems = problems  # type: ignore[attr-defined]
    yield p
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_reader_journey(page, site: Site) -> None:
    base = site.url
    page.goto(base + "/")
    assert page.title() == "paperboy"
    assert page.locator("ol.papers li.paper").count() >= 10
    shot(page, "01-home")

    page.fill("#home-q", "dark matter")
    page.press("#home-q", "Enter")
    page.wait_for_url("**/search?q=dark+matter")
    results = page.locator("ol.papers li.paper")
    assert results.count() >= 3
    assert page.locator("mark").count() > 0
    assert "About" in page.locator(".summary").first.inner_text()
    shot(page, "02-search")

    first = results.first.locator("h3 a")
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/paper/**")
    assert page.locator("h1#paper-title").inner_text().strip()[:30] == title.strip()[:30]
    assert "@misc{" in page.locator("#bibtex").inner_text()
    similar = page.locator("#similar ol.papers li.paper h3 a")
    assert similar.count() >= 1
    shot(page, "03-paper")

    current = page.url
    similar.first.click()
    page.wait_for_url(lambda url: url != current and "/paper/" in url)
    assert page.locator("h1#paper-title").is_visible()
    shot(page, "04-similar-paper")

    html = page.locator("html")
    before = html.get_attribute("data-theme")
    page.click("#theme-toggle")
    after = html.get_attribute("data-theme")
    assert after in ("light", "dark") and after != before
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.reload()
    assert html.get_attribute("data-theme") == after  # persisted across page loads
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == bg
    shot(page, "05-theme-switched")
    page.click("#theme-toggle")
    assert html.get_attribute("data-theme") != after

    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_keyboard_navigation_and_math(page, site: Site) -> None:
    base = site.url
    page.goto(base + "/paper/acc-phys/9411002")
    assert page.locator("h1 math").count() >= 1  # TeX in the title rendered as MathML
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "site-q"
    page.keyboard.type("galaxy")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=galaxy")
    assert page.locator("ol.papers li.paper").count() >= 1
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_hostile_paper_runs_nothing(page, site: Site) -> None:
    base = site.url
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in ("/paper/hostile-1", "/", "/search?q=script+alert+mallory", "/category/cs.CR"):
        page.goto(base + path)
        page.wait_for_load_state("load")
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    page.goto(base + "/paper/hostile-1")
    assert 'alert("title")' in page.locator("h1#paper-title").inner_text()
    shot(page, "06-hostile-paper")
    assert not page.problems, page.problems  # type: ignore[attr-defined]


def test_phone_layout_and_copy(browser, site: Site) -> None:
    base = site.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  color_scheme="dark")
    page = context.new_page()
    for path in ("/", "/latest"):  # long formulas in titles scroll inside their card, not the page
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"horizontal scrolling on a phone at {path} ({width}px)"
    page.goto(base + "/paper/0704.0001")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"horizontal scrolling on a phone ({width}px)"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(251, 250, 247)"  # dark
    shot(page, "07-phone-dark")
    page.click("button.copy")
    page.wait_for_function("document.querySelector('.copied').textContent.length > 0")
    page.goto(base + "/search?q=quantum+field+theory")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "08-phone-search")
    context.close()
