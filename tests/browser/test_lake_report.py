"""`make report` over a synthetic year, opened in Debian's Chromium as a person opens the file they were sent.

The page must show its four charts (drawn, not broken images), say when it was made, and list each canned question
with the row count DuckDB gives for it; the workbook must have one sheet per question with every row. axe-core finds
nothing serious on the page. A screenshot goes to $REPORT_SCREENSHOTS (default: pytest's tmp dir) for review.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.sync_api import Browser

from scripts.report import CHARTS, build
from scripts.synthetic_lake import generate
from shared.lake.duck import Lake, canned_queries
from tests.browser.conftest import DESKTOP, axe_violations

REPORTS = 3_000
END = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    lake = tmp_path_factory.mktemp("report-lake")
    generate(lake, REPORTS, seed=11, end=END)
    html, workbook = build(lake, tmp_path_factory.mktemp("report"))
    return lake, html, workbook


def test_the_report_page_shows_its_charts_and_every_question_with_its_row_count(
    browser: Browser, built: tuple[Path, Path, Path], axe_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lake, html, _ = built
    with Lake(lake) as opened:
        counts = {name: len(opened.run_file(path).rows) for name, path in canned_queries().items()}
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    page.goto(html.as_uri())
    captions = page.locator("figcaption").all_inner_texts()
    assert captions == [title for title, _, _ in CHARTS.values()]
    widths = page.evaluate("[...document.images].map(image => image.complete ? image.naturalWidth : 0)")
    assert len(widths) == len(CHARTS) and all(width > 300 for width in widths), "every chart drawn"
    assert "Made " in page.locator(".meta").first.inner_text(), "the page says when it was made"
    for name, count in counts.items():
        section = page.locator(f"section[aria-labelledby='{name}']")
        assert section.locator(".meta").inner_text().startswith(f"{count} rows"), name
        assert section.locator("tbody tr").count() == min(count, 15), name
    serious = [v for v in axe_violations(page, axe_source) if v["impact"] in ("serious", "critical")]
    assert serious == []
    folder = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path_factory.mktemp("report-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    context.close()


def test_the_workbook_has_a_sheet_per_question_with_every_row_and_a_header(built: tuple[Path, Path, Path]) -> None:
    lake, _, path = built
    workbook = load_workbook(path)
    with Lake(lake) as opened:
        results = {name: opened.run_file(file) for name, file in canned_queries().items()}
    assert sorted(workbook.sheetnames) == sorted(name[:31] for name in results)
    for name, result in results.items():
        sheet = workbook[name[:31]]
        assert [cell.value for cell in sheet[1]] == list(result.columns), name
        assert sheet.max_row - 1 == len(result.rows), name
