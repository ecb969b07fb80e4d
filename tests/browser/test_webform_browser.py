"""A person reports abuse in headless Chromium, with JavaScript on and off, through the local stack.

Everything is found the way a person (or a screen reader) finds it: by label, role and heading text. Playwright's
auto-waiting and expect() do the synchronisation; nothing sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP
from tests.e2e.stack import Running

pytestmark = pytest.mark.browser

URLS = "Web addresses (URLs) or IP addresses"
# The local stack's dispatcher may pick the report up between two page loads: either is a live status.
LIVE_STATUS = re.compile(r"^(Received|Being reviewed)$")
WHAT = "What happened?"
WHEN = "When did you see it? (optional)"
GOOD_FAITH = "I believe in good faith that the information in this report is accurate and complete."


def fill_report(
    page: Page,
    *,
    kind: str = "Phishing",
    urls: str = "https://login.example.net/account/verify",
    explanation: str = "A copy of my bank's login page asking for card numbers.",
    when: str | None = None,
    name: str | None = None,
    email: str | None = None,
    good_faith: bool = True,
) -> None:
    page.get_by_label(kind, exact=True).check()
    page.get_by_label(URLS).fill(urls)
    page.get_by_label(WHAT).fill(explanation)
    if when is not None:
        page.get_by_label(WHEN).fill(when)
    if name is not None:
        page.get_by_label("Your name (optional)").fill(name)
    if email is not None:
        page.get_by_label("Your email address (optional)").fill(email)
    if good_faith:
        page.get_by_label(GOOD_FAITH).check()


def send(page: Page) -> None:
    page.get_by_role("button", name="Send report").click()


def receipt_of(page: Page) -> tuple[str, str]:
    expect(page.get_by_role("heading", name="Report received", level=1)).to_be_visible()
    report_id = page.locator("#report-id").inner_text()
    token = page.locator("#receipt-token").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{26}", report_id) and len(token) >= 32
    return report_id, token


def test_a_person_reports_phishing_and_follows_it_on_the_status_page(page: Page, stack: Running):
    page.goto(stack.url + "/")
    expect(page).to_have_title("Report abuse")
    fill_report(page, name="Ada Lovelace", email="ada@example.org")
    send(page)
    report_id, token = receipt_of(page)

    page.get_by_role("button", name="Check the status of this report").click()
    expect(page.get_by_role("heading", name="Report status", level=1)).to_be_visible()
    expect(page.locator("#report-status")).to_have_text(LIVE_STATUS)
    expect(page.get_by_text(report_id)).to_be_visible()
    assert token not in page.url, "the token never goes into a URL"

    # Later, from the header link, by typing what the confirmation page gave them.
    page.get_by_role("link", name="Check a report").click()
    expect(page.get_by_role("heading", name="Check a report", level=1)).to_be_visible()
    page.get_by_label("Report reference").fill(report_id.lower())
    page.get_by_label("Receipt token").fill(token)
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#report-status")).to_have_text(LIVE_STATUS)


def test_errors_are_shown_next_to_each_field_and_what_was_typed_is_kept(page: Page, stack: Running):
    page.goto(stack.url + "/")
    fill_report(page, urls="javascript:alert(1)", explanation="", email="not-an-email", good_faith=False)
    send(page)

    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()  # autofocus, so this holds without JavaScript too
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    for link in ("Scheme 'javascript' is not allowed", "Explain what happened", "Enter an email address", "Confirm"):
        expect(summary.get_by_role("link", name=re.compile(re.escape(link)))).to_be_visible()

    # Each message sits with its field and is part of the control's description, so screen readers read it too.
    urls = page.get_by_label(URLS)
    expect(urls).to_have_attribute("aria-invalid", "true")
    expect(urls).to_have_accessible_description(re.compile(r"Error: Scheme 'javascript' is not allowed"))
    expect(page.get_by_label(WHAT)).to_have_accessible_description(re.compile("Error: Explain what happened"))
    expect(page.get_by_label("Your email address (optional)")).to_have_accessible_description(
        re.compile("Error: Enter an email address in the correct format")
    )
    expect(page.get_by_label(GOOD_FAITH)).to_have_accessible_description(re.compile("Error: Confirm that you"))

    expect(urls).to_have_value("javascript:alert(1)")
    expect(page.get_by_label("Your email address (optional)")).to_have_value("not-an-email")
    expect(page.get_by_label("Phishing", exact=True)).to_be_checked()
    expect(page.get_by_label("Your name (optional)")).to_have_value("")

    # Put right, the same page goes through.
    urls.fill("https://login.example.net/account/verify")
    page.get_by_label(WHAT).fill("A fake bank login.")
    page.get_by_label("Your email address (optional)").fill("")
    page.get_by_label(GOOD_FAITH).check()
    send(page)
    receipt_of(page)


def test_a_child_sexual_abuse_report_needs_no_name_or_email(page: Page, stack: Running):
    page.goto(stack.url + "/")
    fill_report(page, kind="Child sexual abuse material", urls="https://cdn.example.net/gallery/123.jpg")
    send(page)
    receipt_of(page)
    expect(page.get_by_text("If you know that a child is in immediate danger")).to_be_visible()


def test_sending_the_page_again_gives_the_same_report_and_receipt(page: Page, stack: Running):
    page.goto(stack.url + "/")
    fill_report(page, explanation="Sent twice by a browser retry.")
    send(page)
    first = receipt_of(page)
    page.reload()  # re-posts the same form body: the same nonce
    again = receipt_of(page)
    assert again == first
    expect(page.get_by_text("You had already sent this report")).to_be_visible()


def test_a_script_typed_into_every_field_is_shown_as_text_and_never_runs(page: Page, stack: Running):
    hostile = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">"
    page.goto(stack.url + "/")
    fill_report(page, urls=hostile, explanation=hostile, name=hostile, email=hostile)
    send(page)
    expect(page).to_have_title(re.compile(r"^Error: Report abuse$"))
    expect(page.get_by_label(WHAT)).to_have_value(hostile)
    expect(page.get_by_label("Your name (optional)")).to_have_value(hostile)
    assert page.locator("main img").count() == 0


def test_a_wrong_receipt_token_finds_nothing_and_keeps_the_reference(page: Page, stack: Running):
    page.goto(stack.url + "/")
    fill_report(page, explanation="Looked up with a typo in the token.")
    send(page)
    report_id, token = receipt_of(page)
    page.goto(stack.url + "/status")
    page.get_by_label("Report reference").fill(report_id)
    page.get_by_label("Receipt token").fill(token[:-1] + ("A" if token[-1] != "A" else "B"))
    page.get_by_role("button", name="Check status").click()
    expect(page.get_by_label("Report reference")).to_have_accessible_description(
        re.compile("We could not find a report with this reference and receipt token")
    )
    expect(page.get_by_label("Report reference")).to_have_value(report_id)


# --- what the script adds -----------------------------------------------------------------------------------------


@pytest.fixture
def berlin(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(
        java_script_enabled=request.param, timezone_id="Europe/Berlin", viewport=DESKTOP, locale="de-DE"
    )
    yield context.new_page()
    context.close()


def _berlin_wall_clock(ago: timedelta) -> str:
    return (datetime.now(ZoneInfo("Europe/Berlin")) - ago).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("berlin", [True], indirect=True, ids=["js"])
def test_with_javascript_people_give_their_local_time(berlin: Page, stack: Running):
    berlin.goto(stack.url + "/")
    expect(berlin.get_by_label(WHEN)).to_have_accessible_description(re.compile(r"your local time \(UTC\+0[12]:00\)"))
    # Berlin is ahead of UTC: read as UTC, half an hour ago there would be in the future and refused.
    fill_report(berlin, when=_berlin_wall_clock(timedelta(minutes=30)))
    send(berlin)
    receipt_of(berlin)


@pytest.mark.parametrize("berlin", [False], indirect=True, ids=["no-js"])
def test_without_javascript_the_page_asks_for_utc_and_reads_the_time_so(berlin: Page, stack: Running):
    berlin.goto(stack.url + "/")
    expect(berlin.get_by_label(WHEN)).to_have_accessible_description(re.compile(r"in UTC \(Coordinated Universal"))
    fill_report(berlin, when=_berlin_wall_clock(timedelta(minutes=30)))
    send(berlin)
    expect(berlin.get_by_label(WHEN)).to_have_accessible_description(re.compile("must be in the past"))


@pytest.mark.parametrize("javascript", [True], ids=["js"])
def test_with_javascript_an_error_summary_link_takes_focus_to_its_field(page: Page, stack: Running):
    page.goto(stack.url + "/")
    send(page)
    page.get_by_role("link", name="Enter the web address (URL) or IP address of what you are reporting").click()
    expect(page.get_by_label(URLS)).to_be_focused()
    page.get_by_role("link", name="Select what you are reporting").click()
    expect(page.get_by_label("Phishing", exact=True)).to_be_focused()


@pytest.mark.parametrize("javascript", [True], ids=["js"])
def test_with_javascript_the_explanation_counts_its_characters(page: Page, stack: Running):
    page.goto(stack.url + "/")
    count = page.locator("#explanation-count")
    expect(count).to_have_text("You have 1000 characters remaining")
    page.get_by_label(WHAT).fill("x" * 1003)
    expect(count).to_have_text("You have 3 characters too many")
