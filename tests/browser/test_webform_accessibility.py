"""The form's pages in Chromium: axe-core finds nothing serious or critical, nothing scrolls sideways on a 375 px
phone, and keyboard focus is always visible.

axe runs on every state a person meets: the empty form, the form with errors, the confirmation, the status form,
its error state and the status itself; each with the page script and without it (the script adds a live region and
rewrites hints, so both DOMs are checked). axe needs script to run, so "without" blocks app.js instead of disabling
JavaScript, and its contexts bypass the CSP (axe is injected inline); the other tests keep the CSP on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, axe_violations
from tests.browser.test_webform_browser import LIVE_STATUS, fill_report, receipt_of, send
from tests.e2e.stack import Running

pytestmark = pytest.mark.browser

LONG = "https://example.com/" + "a" * 300  # one unbroken word, pasted: it must wrap, not widen the page


def form(page: Page, stack: Running) -> None:
    page.goto(stack.url + "/")


def form_with_errors(page: Page, stack: Running) -> None:
    page.goto(stack.url + "/")
    page.get_by_label("Web addresses (URLs) or IP addresses").fill("javascript:" + LONG)
    page.get_by_label("Your name (optional)").fill(LONG)
    send(page)
    expect(page.get_by_role("alert")).to_be_visible()


def confirmation(page: Page, stack: Running) -> None:
    page.goto(stack.url + "/")
    fill_report(page, kind="Child sexual abuse material", urls=LONG)
    send(page)
    receipt_of(page)


def status_form(page: Page, stack: Running) -> None:
    page.goto(stack.url + "/status")


def status_form_with_errors(page: Page, stack: Running) -> None:
    page.goto(stack.url + "/status")
    page.get_by_label("Report reference").fill("01KB2X3Y4Z5A6B7C8D9E0F1G2H")
    page.get_by_role("button", name="Check status").click()
    expect(page.get_by_role("alert")).to_be_visible()


def status(page: Page, stack: Running) -> None:
    confirmation(page, stack)
    page.get_by_role("button", name="Check the status of this report").click()
    expect(page.locator("#report-status")).to_have_text(LIVE_STATUS)


STATES: dict[str, Callable[[Page, Running], None]] = {
    "form": form,
    "form-errors": form_with_errors,
    "confirmation": confirmation,
    "status-form": status_form,
    "status-form-errors": status_form_with_errors,
    "status": status,
}


@pytest.fixture(params=["enhanced", "plain"])
def axe_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    if request.param == "plain":
        page.route("**/assets/app.js*", lambda route: route.abort())
    yield page
    context.close()


def test_axe_does_report_what_it_should(browser: Browser, axe_source: Path):
    """A clean result means something only if the same check fails a page that breaks the rules."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content('<html><body><input type="text"><img src="x.png"></body></html>')
    found = {v["id"]: v["impact"] for v in axe_violations(page, axe_source)}
    context.close()
    assert found["label"] == "critical" and found["image-alt"] == "critical" and "html-has-lang" in found


@pytest.mark.parametrize("state", STATES)
def test_axe_finds_nothing_serious_or_critical(axe_page: Page, stack: Running, axe_source: Path, state: str):
    STATES[state](axe_page, stack)
    violations = axe_violations(axe_page, axe_source)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    assert violations == [], f"not serious, still worth fixing: {violations}"


@pytest.fixture
def phone(browser: Browser, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=javascript, viewport=PHONE, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("state", STATES)
def test_no_page_scrolls_sideways_on_a_375px_phone(phone: Page, stack: Running, state: str):
    STATES[state](phone, stack)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("javascript", [False], ids=["no-js"])
def test_keyboard_focus_is_always_visible(context: BrowserContext, stack: Running):
    page = context.new_page()
    page.goto(stack.url + "/")

    def focus_style() -> dict[str, str]:
        return page.evaluate(
            """() => { const s = getComputedStyle(document.activeElement);
                return {id: document.activeElement.id, tag: document.activeElement.tagName,
                        outline: s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.outlineColor,
                        shadow: s.boxShadow, background: s.backgroundColor}; }"""
        )

    seen = {}
    for _ in range(40):  # every stop of the tab order, from the skip link to the send button
        page.keyboard.press("Tab")
        style = focus_style()
        key = style["id"] or style["tag"]
        if key in seen:
            continue
        seen[key] = style
        visible = (style["outline"].startswith("solid") and "rgba(0, 0, 0, 0)" not in style["outline"]) or style[
            "background"
        ] == "rgb(255, 221, 0)"
        assert visible, f"focus on {key} is not visible: {style}"
        if style["tag"] == "BUTTON":
            break
    assert {"kind", "urls", "explanation", "when", "name", "email", "good_faith", "BUTTON"} <= set(seen)


@pytest.mark.parametrize(("name", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_screenshots_of_the_form_for_review(
    browser: Browser, stack: Running, tmp_path_factory: pytest.TempPathFactory, name: str, viewport: dict[str, int]
):
    """Not an assertion about pixels: pictures of the form for people to look at (the path is printed with -s)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    out = tmp_path_factory.getbasetemp() / "screenshots"
    out.mkdir(exist_ok=True)
    form(page, stack)
    page.screenshot(path=str(out / f"form-{name}.png"), full_page=True)
    form_with_errors(page, stack)
    page.screenshot(path=str(out / f"form-errors-{name}.png"), full_page=True)
    confirmation(page, stack)
    page.screenshot(path=str(out / f"confirmation-{name}.png"), full_page=True)
    page.get_by_role("button", name="Check the status of this report").click()
    expect(page.locator("#report-status")).to_have_text(LIVE_STATUS)
    page.screenshot(path=str(out / f"status-{name}.png"), full_page=True)
    print(f"screenshots in {out}")
    context.close()
