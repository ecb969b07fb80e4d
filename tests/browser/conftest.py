"""Real headless Chromium (Debian's, driven by Playwright) against the local stack, and axe-core from npm.

Playwright's own browser downloads are not used and cannot be fetched here: the browser is /usr/bin/chromium, which
`make test` installs (scripts/preflight.sh). Without it these tests fail, never skip, so a green run always means the
form was tried in a browser. axe-core comes from node_modules (`make test` runs `npm ci` from package-lock.json first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.stack import REPO, Running, local_stack

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's chromium is not at {CHROMIUM}: `apt-get install -y chromium` (`make test` does it). "
            "The browser tests are part of the suite and do not skip.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_stack(tmp_path_factory.mktemp("webform")) as running:
        yield running


@dataclass
class Console:
    """What the page said on its console: CSP violations and script errors land here."""

    messages: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        # Chromium logs every 4xx document as "Failed to load resource"; a refused form is meant to be a 422. The
        # page's own assets are checked by status instead (see `page`).
        return [
            m
            for m in self.messages
            if m.startswith(("error", "warning")) and "Failed to load resource: the server responded" not in m
        ]


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def javascript(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def context(browser: Browser, javascript: bool) -> Iterator[BrowserContext]:
    created = browser.new_context(java_script_enabled=javascript, viewport=DESKTOP, locale="en-GB")
    yield created
    created.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(context: BrowserContext, console: Console) -> Iterator[Page]:
    opened = context.new_page()
    opened.on("console", lambda message: console.messages.append(f"{message.type}: {message.text}"))
    opened.on("pageerror", lambda error: console.messages.append(f"error: {error}"))
    opened.on(
        "response",
        lambda response: (
            console.messages.append(f"error: {response.status} for asset {response.url}")
            if response.request.resource_type in ("stylesheet", "script", "image", "font", "other")
            and response.status != 200
            else None
        ),
    )
    opened.on("requestfailed", lambda request: console.messages.append(f"error: {request.url} failed"))
    yield opened
    # The Content-Security-Policy blocks nothing the pages need, and the script never throws.
    assert console.problems() == []


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(REPO)} is missing: run `make node_modules/.installed` (npm ci)", pytrace=False)
    return AXE


def axe_violations(page: Page, axe: Path) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA and best practices, axe's defaults)."""
    page.add_script_tag(path=str(axe))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [node["target"] for node in v["nodes"]],
        }
        for v in result["violations"]
    ]
