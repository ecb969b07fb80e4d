"""An analyst's console in headless Chromium (Debian's), against `python -m local` with the demo users.

A phishing case reported through the partner API is found in the queue, claimed, opened and decided in the browser,
and the partner then reads COMPLETED; a child-safety analyst views a CSAM evidence image (blurred and greyscale until
they unblur it) and the custody record shows the view; an analysts-only user's queue never lists that case. axe-core
runs on every page met; screenshots go where the web form's do. Found by label, role and heading, as a person (or a
screen reader) finds things; Playwright's expect() waits, nothing sleeps but the TOTP step boundary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from local.cognito import TOTP_STEP_SECONDS, totp
from tests.browser.conftest import DESKTOP, PHONE, axe_violations
from tests.e2e.stack import Running, call, environment, eventually, local_stack
from tests.samples import well_formed

pytestmark = pytest.mark.browser

JSON = [("Content-Type", "application/json")]
PARTNER = "AKIACONSOLEPARTNER01"
PHISHING_URL = f"https://login.console-{uuid.uuid4().hex[:8]}.example/verify"


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
    with local_stack(workdir, env=environment(LOCAL_STATE_DIR=str(workdir / "state"))) as running:
        yield running


@pytest.fixture(scope="module")
def demo_users(stack: Running, workdir: Path) -> dict[str, tuple[str, str]]:
    """username -> (password, TOTP secret), as `make run` keeps them in the state directory."""
    state = json.loads((workdir / "state" / "demo-users.json").read_text())
    (secrets_of_pool,) = state["totp"].values()
    return {name: (password, secrets_of_pool[name]) for name, password in state["passwords"].items()}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.getbasetemp() / "screenshots"
    out.mkdir(exist_ok=True)
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


def no_serious_findings(page: Page, axe: Path, name: str, screenshots: Path) -> None:
    page.screenshot(path=str(screenshots / f"console-{name}.png"), full_page=True)
    serious = [v for v in axe_violations(page, axe) if v["impact"] in ("serious", "critical")]
    assert serious == [], (name, serious)


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
    no_serious_findings(page, axe_source, "sign-in", screenshots)
    page.get_by_label("Username").fill("demo-analyst")
    page.get_by_label("Password").fill(demo_users["demo-analyst"][0])
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("authenticator code is not right")
    no_serious_findings(page, axe_source, "sign-in-error", screenshots)

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
    no_serious_findings(page, axe_source, "queue", screenshots)
    page.get_by_role("row").filter(has_text="phishing").get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status").filter(has_text="You have claimed this case")).to_be_visible()
    expect(page.locator("#claimed-by")).to_contain_text("demo-analyst")
    expect(page.get_by_text(PHISHING_URL).first).to_be_visible()
    no_serious_findings(page, axe_source, "case", screenshots)

    page.get_by_label("Actioned: the content breaks the rules or the law").check()
    page.get_by_label("Restrict: keep or put every quarantined object of the case under restriction").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("statement of reasons")  # the domain's own rule, kept in place
    page.get_by_label("Statement of reasons (optional, required to restrict)").fill("A copy of a bank's sign-in page.")
    page.get_by_label("Internal note (optional)").fill("<b>seen before</b>")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Confirm the decision", level=1)).to_be_visible()
    expect(page.locator("#consequences")).to_contain_text("1 report will be completed")
    no_serious_findings(page, axe_source, "confirm", screenshots)
    page.get_by_role("button", name="Confirm decision").click()
    expect(page.get_by_role("status").filter(has_text="The decision is recorded.")).to_be_visible()
    expect(page.locator("#case-status")).to_have_text("DECIDED")
    expect(page.locator("#decisions")).to_contain_text("ACTIONED")

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
    no_serious_findings(page, axe_source, "evidence-blurred", screenshots)
    page.get_by_label("Unblur and show colour").check()
    assert image.evaluate("e => getComputedStyle(e).filter") == "none"
    page.get_by_role("link", name="Back to the case").click()
    expect(page.locator(".timeline").first).to_contain_text("viewed")
    expect(page.locator(".timeline").first).to_contain_text("by demo-child-safety: triage of a partner's report")


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
