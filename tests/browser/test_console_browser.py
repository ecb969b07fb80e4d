"""An analyst's console in headless Chromium (Debian's), against `python -m local` with the demo users.

A phishing case reported through the partner API is found in the queue, claimed, opened and decided in the browser,
and the partner then reads COMPLETED; a child-safety analyst views a CSAM evidence image (blurred and greyscale until
they unblur it) and the custody record shows the view; an analysts-only user's queue never lists that case; an
overdue spam case is found by its category, claimed and released, and its reporters' contact details are shown only
when asked for, with the API's audit log saying so. A slow claim shows its progress and is sent once, under the
pages' real CSP.

Every page and state (sign-in, sign-in error, queue, case, confirmation, evidence, contacts revealed, problem) is
checked at 1280 and 375 px: no horizontal scroll, no serious or critical axe-core finding, a screenshot (PNG) saved
for review in $CONSOLE_SCREENSHOTS (default: pytest's tmp dir), and every control reached with Tab, each showing
where the focus is. Found by label, role and heading, as a person (or a screen reader) finds things; Playwright's
expect() waits, nothing sleeps but the TOTP step boundary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from local.cognito import TOTP_STEP_SECONDS, totp
from tests.browser.conftest import DESKTOP, PHONE, axe_violations
from tests.e2e.stack import Running, call, environment, eventually, local_stack
from tests.samples import well_formed

pytestmark = pytest.mark.browser

JSON = [("Content-Type", "application/json")]
PARTNER = "AKIACONSOLEPARTNER01"
PHISHING_URL = f"https://login.console-{uuid.uuid4().hex[:8]}.example/verify"
MALWARE_URL = f"https://downloads.console-{uuid.uuid4().hex[:8]}.example/setup.exe"
# P3 (spam) is due 0.36 s after its first report, so a spam case is overdue by the time the queue is opened; the
# other severities keep the template's default, so a phishing or malware case is not.
OVERDUE_SLA = '{"P0": 1, "P1": 4, "P2": 24, "P3": 0.0001}'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTHS = ((DESKTOP["width"], DESKTOP), (PHONE["width"], PHONE))


def png(width: int = 48, height: int = 48) -> bytes:
    """A real (decodable) PNG of stripes, so the page shows an image and its blur can be seen in a screenshot."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((200, 40, 40) if (x // 8 + y // 8) % 2 else (40, 40, 200)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


IMAGE = png()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
def stack(workdir: Path) -> Iterator[Running]:
    # The embedded moto: the stack turns its TOTP checks on (local/server.py), so a wrong code is refused.
    env = environment(LOCAL_STATE_DIR=str(workdir / "state"))
    with local_stack(workdir, "--parameter", f"CaseSla={OVERDUE_SLA}", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def demo_users(stack: Running, workdir: Path) -> dict[str, tuple[str, str]]:
    """username -> (password, TOTP secret), as `make run` keeps them in the state directory."""
    state = json.loads((workdir / "state" / "demo-users.json").read_text())
    (secrets_of_pool,) = state["totp"].values()
    return {name: (password, secrets_of_pool[name]) for name, password in state["passwords"].items()}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("CONSOLE_SCREENSHOTS")
    out = Path(named) if named else tmp_path_factory.mktemp("console-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def console_page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: axe is injected inline. The CSP itself is pinned by tests/unit/test_console_pages.py and by the
    # web form's browser tests, which keep it on.
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], "the console's script never throws"


# Every control a person could reach; radios of one name are one stop of the Tab key, as in every browser.
_MARK_CONTROLS = """() => {
  const controls = document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]');
  const keys = [];
  let n = 0;
  for (const el of controls) {
    if (el.disabled || el.tabIndex < 0 || el.getClientRects().length === 0) continue;
    const key = el.type === 'radio' ? 'radio ' + el.name : (el.tagName.toLowerCase() + ' ' + n++);
    el.dataset.kb = key;
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}"""
# Where the focus is and whether it shows: an outline or a ring on the control, or on the label of a control drawn
# invisible (the evidence page's unblur checkbox, whose label is what a person sees).
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const shows = (e) => {
    const s = getComputedStyle(e);
    return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
  };
  let target = el;
  if (parseFloat(getComputedStyle(el).opacity) === 0 && el.id) {
    target = document.querySelector('label[for="' + el.id + '"]') || el;
  }
  return {key: el.dataset.kb || el.tagName, shows: shows(target) && target.getClientRects().length > 0,
          html: el.outerHTML.slice(0, 120)};
}"""


def every_control_by_keyboard(page: Page, name: str) -> None:
    """Tab reaches every control of the page, and each one shows that it has the focus."""
    controls = page.evaluate(_MARK_CONTROLS)
    reached: set[str] = set()
    # Round the whole page twice at most: wherever the focus starts, every control comes by once in each round.
    for _ in range(2 * len(controls) + 4):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None:
            continue  # between the last control and the first, the focus rests on the page itself
        assert focused["shows"], f"{name}: no visible focus on {focused['html']}"
        reached.add(focused["key"])
        if reached >= set(controls):
            break
    missing = [key for key in controls if key not in reached]
    assert missing == [], f"{name}: not reachable by keyboard: {missing}"


def review(page: Page, axe: Path, name: str, screenshots: Path) -> None:
    """Every control by keyboard; then at 1280 and at 375 px: nothing to scroll sideways, a screenshot for review,
    no serious or critical axe-core finding."""
    every_control_by_keyboard(page, name)
    for width, viewport in WIDTHS:
        page.set_viewport_size(viewport)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{name} scrolls sideways at {width} px ({scroll_width} px wide)"
        shot = screenshots / f"console-{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > len(PNG_SIGNATURE), shot
        serious = [v for v in axe_violations(page, axe) if v["impact"] in ("serious", "critical")]
        assert serious == [], (name, width, serious)
    page.set_viewport_size(DESKTOP)


def submit(stack: Running, report: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"report": report, "clientToken": uuid.uuid4().hex}).encode()
    answer = call(stack.port, "POST", "/v1/reports", body=body, headers=JSON, signed=True, access_key=PARTNER)
    assert answer.status == 202, answer.body
    return dict(answer.json())


def csam_report() -> dict[str, Any]:
    report = well_formed("content", "csam")
    report["url"] = report["source_identifier"] = f"https://files.console.example/{uuid.uuid4().hex}.png"
    digest = hashlib.sha256(IMAGE).hexdigest()
    report["evidence"] = [
        {"content_type": "image/png", "payload": base64.b64encode(IMAGE).decode(), "hash": f"sha256:{digest}"}
    ]
    return report


def fresh_code(secret: str) -> str:
    # moto accepts the current 30-second step's code only: one computed at a step's very end could arrive too late.
    left = TOTP_STEP_SECONDS - time.time() % TOTP_STEP_SECONDS
    if left < 3:
        time.sleep(left)
    return totp(secret)


def sign_in(page: Page, stack: Running, users: dict[str, tuple[str, str]], username: str) -> None:
    password, secret = users[username]
    page.goto(stack.url + "/console")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Authenticator code").fill(fresh_code(secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Queue", level=1)).to_be_visible()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def wait_for_row(page: Page, text: str) -> None:
    def listed() -> bool:
        page.reload()
        return page.get_by_role("row").filter(has_text=text).count() == 1

    eventually(listed, f"a queue row with {text}")


def test_pages_need_a_session_and_a_wrong_code_is_refused(
    console_page: Page, stack: Running, demo_users: dict[str, tuple[str, str]], axe_source: Path, screenshots: Path
):
    page = console_page
    page.goto(stack.url + "/console/queue")
    expect(page.get_by_role("status")).to_have_text("Sign in to use the console.")
    review(page, axe_source, "sign-in", screenshots)
    page.get_by_label("Username").fill("demo-analyst")
    page.get_by_label("Password").fill(demo_users["demo-analyst"][0])
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("authenticator code is not right")
    review(page, axe_source, "sign-in-error", screenshots)

    # A token the API does not accept (expired, revoked, forged): back to sign-in, told why, the cookie cleared.
    page.context.add_cookies([{"name": "console_session", "value": "a.b.c", "domain": "127.0.0.1", "path": "/console"}])
    page.goto(stack.url + "/console/queue")
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Sign in again to continue.")
    assert [c for c in page.context.cookies() if c["name"] == "console_session"] == []


def test_an_analyst_claims_and_decides_a_case_and_the_partner_reads_completed(
    console_page: Page, stack: Running, demo_users: dict[str, tuple[str, str]], axe_source: Path, screenshots: Path
):
    report = well_formed("content", "phishing")
    report["url"] = report["source_identifier"] = PHISHING_URL
    receipt = submit(stack, report)
    page = console_page
    sign_in(page, stack, demo_users, "demo-analyst")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "console_session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"

    wait_for_row(page, "phishing")
    review(page, axe_source, "queue", screenshots)
    page.get_by_role("row").filter(has_text="phishing").get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status").filter(has_text="You have claimed this case")).to_be_visible()
    expect(page.locator("#claimed-by")).to_contain_text("demo-analyst")
    expect(page.get_by_text(PHISHING_URL).first).to_be_visible()
    review(page, axe_source, "case", screenshots)

    page.get_by_label("Actioned: the content breaks the rules or the law").check()
    page.get_by_label("Restrict: keep or put every quarantined object of the case under restriction").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("statement of reasons")  # the domain's own rule, kept in place
    page.get_by_label("Statement of reasons (optional, required to restrict)").fill("A copy of a bank's sign-in page.")
    page.get_by_label("Internal note (optional)").fill("<b>seen before</b>")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Confirm the decision", level=1)).to_be_visible()
    expect(page.locator("#consequences")).to_contain_text("1 report will be completed")
    review(page, axe_source, "confirm", screenshots)
    page.get_by_role("button", name="Confirm decision").click()
    expect(page.get_by_role("status").filter(has_text="The decision is recorded.")).to_be_visible()
    expect(page.locator("#case-status")).to_have_text("DECIDED")
    expect(page.locator("#timeline")).to_contain_text("Decision: ACTIONED")
    expect(page.locator("#timeline")).to_contain_text("A copy of a bank's sign-in page.")

    def completed() -> dict[str, Any] | None:
        answer = call(stack.port, "GET", f"/v1/reports/{receipt['reportId']}", signed=True, access_key=PARTNER)
        seen = answer.json()
        return seen if seen.get("status") == "COMPLETED" else None

    assert eventually(completed, "the partner's report COMPLETED", seconds=60)["reasonCode"] == "ACTIONED"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto(stack.url + "/console/queue")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


@pytest.fixture(scope="module")
def csam_case(stack: Running) -> str:
    report = csam_report()
    submit(stack, report)
    return str(report["url"])


def test_a_child_safety_analyst_views_csam_blurred_first_and_the_view_is_in_custody(
    console_page: Page,
    stack: Running,
    demo_users: dict[str, tuple[str, str]],
    csam_case: str,
    axe_source: Path,
    screenshots: Path,
):
    page = console_page
    sign_in(page, stack, demo_users, "demo-child-safety")
    wait_for_row(page, "csam")
    page.get_by_role("row").filter(has_text="csam").get_by_role("link").click()
    assert page.locator("img").count() == 0, "no evidence is loaded until asked for"
    page.get_by_label("Why do you need to view this?").fill("triage of a partner's report")
    page.get_by_role("button", name="View evidence").click()
    image = page.locator("#evidence-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.getElementById('evidence-image').naturalWidth > 0")
    assert "blur" in image.evaluate("e => getComputedStyle(e).filter")
    assert "grayscale" in image.evaluate("e => getComputedStyle(e).filter")
    review(page, axe_source, "evidence-blurred", screenshots)
    page.get_by_label("Unblur and show colour").check()
    assert image.evaluate("e => getComputedStyle(e).filter") == "none"
    page.get_by_role("link", name="Back to the case").click()
    # One timeline, oldest first: the payload came with the report, then this person looked at it, and why.
    moments = page.locator("#timeline > li")
    expect(moments.first).to_contain_text("Received with a report")
    expect(moments.last).to_contain_text("Viewed")
    expect(moments.last).to_contain_text("by demo-child-safety")
    expect(moments.last).to_contain_text("Purpose: triage of a partner's report")
    # A view changes nothing about where the evidence stands: still the held copy the intake preserved.
    expect(page.locator("#quarantine")).to_contain_text("Evidence: image/png")
    expect(page.locator("#quarantine")).to_contain_text("Preserved")
    review(page, axe_source, "case-with-evidence", screenshots)


def test_an_analysts_only_user_never_sees_the_child_safety_case(
    browser: Browser, stack: Running, demo_users: dict[str, tuple[str, str]], csam_case: str, screenshots: Path
):
    context: BrowserContext = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, stack, demo_users, "demo-analyst")
    page.get_by_label("Status").select_option("ALL")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="Queue", level=1)).to_be_visible()
    assert page.get_by_role("row").filter(has_text="csam").count() == 0
    assert page.get_by_role("row").filter(has_text="phishing").count() == 1, "the queue is listed, not empty by error"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "console-queue-phone.png"), full_page=True)
    context.close()


def spam_report() -> dict[str, Any]:
    report = well_formed("messaging", "spam")
    report["source_identifier"] = f"198.51.100.{uuid.getnode() % 200 + 20}"
    return report


@pytest.fixture(scope="module")
def overdue_and_current_cases(stack: Running) -> None:
    """An overdue spam case (messaging, P3 under OVERDUE_SLA) and a malware case that is not overdue (content, P1)."""
    submit(stack, spam_report())
    malware = well_formed("content", "malware")
    malware["url"] = malware["source_identifier"] = MALWARE_URL
    submit(stack, malware)


def api_call(stack: Running, page: Page, method: str, target: str) -> Any:
    """The casework API called as the person signed in to the page, with their ID token (the session cookie)."""
    (token,) = [c["value"] for c in page.context.cookies() if c["name"] == "console_session"]
    answer = call(stack.port, method, target, headers=[("Authorization", token)])
    assert answer.status == 200, answer.body
    return answer.json()


def test_the_queue_marks_overdue_cases_in_words_and_filters_by_category(
    console_page: Page,
    stack: Running,
    demo_users: dict[str, tuple[str, str]],
    overdue_and_current_cases: None,
):
    page = console_page
    sign_in(page, stack, demo_users, "demo-analyst")
    wait_for_row(page, "spam")
    wait_for_row(page, "malware")
    spam = page.get_by_role("row").filter(has_text="spam")
    malware = page.get_by_role("row").filter(has_text="malware")
    expect(spam).to_contain_text("Overdue by")
    expect(malware).not_to_contain_text("Overdue")

    page.get_by_label("Category").select_option("messaging")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_label("Category")).to_have_value("messaging")
    expect(page.get_by_role("row").filter(has_text="spam")).to_have_count(1)
    expect(page.get_by_role("row").filter(has_text="malware")).to_have_count(0)

    page.get_by_label("Category").select_option("content")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_label("Category")).to_have_value("content")
    expect(page.get_by_role("row").filter(has_text="malware")).to_have_count(1)
    expect(page.get_by_role("row").filter(has_text="spam")).to_have_count(0)


def test_contacts_are_shown_only_when_asked_and_audited_and_releasing_the_claim_frees_the_case(
    console_page: Page,
    stack: Running,
    demo_users: dict[str, tuple[str, str]],
    overdue_and_current_cases: None,
    axe_source: Path,
    screenshots: Path,
):
    page = console_page
    sign_in(page, stack, demo_users, "demo-analyst")
    wait_for_row(page, "spam")
    page.get_by_role("row").filter(has_text="spam").get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status").filter(has_text="You have claimed this case")).to_be_visible()
    case_id = page.url.split("/console/cases/", 1)[1].split("?", 1)[0]
    expect(page.get_by_role("heading", level=1)).to_contain_text(case_id)
    expect(page.get_by_text("Overdue by")).to_be_visible()
    contact = str(well_formed("messaging", "spam")["reporter"]["contact"])
    assert contact not in page.content(), "no contact details before the person asks"
    assert [
        e
        for e in api_call(stack, page, "GET", f"/v1/audit?caseId={case_id}")["entries"]
        if e["action"] == "revealed_contacts"
    ] == []

    page.get_by_role("button", name="Show reporters' contact details").click()
    expect(page.get_by_role("status").filter(has_text="Your request is recorded in the audit log")).to_be_visible()
    expect(page.get_by_text(contact)).to_be_visible()
    review(page, axe_source, "contacts-revealed", screenshots)
    reveals = [
        entry
        for entry in api_call(stack, page, "GET", f"/v1/audit?caseId={case_id}")["entries"]
        if entry["action"] == "revealed_contacts"
    ]
    assert [entry["actor"] for entry in reveals] == ["demo-analyst"]

    page.goto(f"{stack.url}/console/cases/{case_id}")
    assert contact not in page.content(), "opening the case again does not show them"
    expect(page.locator("#claimed-by")).to_contain_text("demo-analyst")
    page.get_by_role("button", name="Release claim").click()
    expect(page.get_by_role("status").filter(has_text="You have released your claim")).to_be_visible()
    expect(page.locator("#claimed-by")).to_have_text("Nobody")
    expect(page.get_by_role("button", name="Claim this case")).to_be_visible()
    assert "claimedBy" not in api_call(stack, page, "GET", f"/v1/cases/{case_id}")["case"]
    actions = [entry["action"] for entry in api_call(stack, page, "GET", f"/v1/audit?caseId={case_id}")["entries"]]
    assert actions[0] == "claim_ended", "newest first: the release is the last thing done to the case"

    page.get_by_role("link", name="Queue").first.click()
    expect(page.get_by_role("row").filter(has_text="spam")).to_contain_text("Nobody")
    expect(page.get_by_role("row").filter(has_text="spam")).to_contain_text("Overdue by")
    review(page, axe_source, "queue-overdue", screenshots)

    page.goto(f"{stack.url}/console/cases/{'0' * 32}")
    expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
    review(page, axe_source, "problem", screenshots)


def test_a_slow_claim_shows_its_progress_and_is_sent_once_under_the_pages_csp(
    browser: Browser, stack: Running, demo_users: dict[str, tuple[str, str]], overdue_and_current_cases: None
):
    # The pages' own Content-Security-Policy stays on here (no bypass): console.js must run under it.
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    said: list[str] = []
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: said.append(f"error: {error}"))
    sign_in(page, stack, demo_users, "demo-analyst")
    wait_for_row(page, "malware")
    # A claim whose answer never comes: the route drops the request (ERR_ABORTED, so the browser stays on the page
    # that sent it, as it does while a slow answer is on its way) and the page can be read as it is meanwhile.
    # Playwright cannot hold a request and read the page at once: every call waits while a route is unresolved.
    sent: list[str] = []

    def no_answer(route: Route) -> None:
        sent.append(route.request.url)
        route.abort("aborted")

    page.route("**/console/cases/*/claim", no_answer)
    claim = page.get_by_role("row").filter(has_text="malware").get_by_role("button", name="Claim")
    claim.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Claiming the case…")
    expect(claim).to_have_attribute("aria-disabled", "true")
    expect(claim).to_be_focused()  # aria-disabled, not disabled: a keyboard user keeps their place
    expect(page.locator("form[aria-busy=true]")).to_have_count(1)
    assert len(sent) == 1
    page.keyboard.press("Enter")  # an impatient second press while the first is out
    expect(page.get_by_role("status")).to_have_text("Claiming the case…")
    expect(page.get_by_role("heading", name="Queue", level=1)).to_be_visible()
    assert len(sent) == 1, "the claim is sent once: a second submission would have met the route too"
    page.unroute_all()
    assert [m for m in said if m.startswith("error")] == [], said
    context.close()
