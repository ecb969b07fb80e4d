"""The form's HTML as a browser and a screen reader read it: escaped values, labels, errors tied to their fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from functions.webform import pages
from shared.domain import webform
from shared.domain.errors import InvalidReport
from shared.domain.intake import Receipt, StatusView
from shared.domain.webform import ReportForm, StatusForm

HOSTILE = "\"><script>alert(1)</script><img src=x onerror=alert(2)>'&amp;"


class Page(HTMLParser):
    """The parts of a page the tests look at: elements with their attributes, and the text inside each textarea."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.textareas: dict[str, str] = {}
        self.title = ""
        self._in: str | None = None
        self._textarea: str | None = None
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        self._in = tag
        if tag == "textarea":
            self._textarea = attributes["id"]
            self.textareas[self._textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.textareas[self._textarea] += data
        if self._in == "title":
            self.title += data

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        (found,) = [(t, a) for t, a in self.elements if a.get("id") == element_id]
        return found

    def controls(self) -> list[dict[str, str]]:
        inputs = [a for a in self.all("input") if a.get("type") != "hidden"]
        return inputs + self.all("textarea") + self.all("select")


def refused(form: ReportForm) -> InvalidReport:
    with pytest.raises(InvalidReport) as caught:
        webform.to_submission(form, now=datetime.now(UTC))
    return caught.value


def test_a_script_in_every_field_comes_back_as_the_text_that_was_typed():
    form = ReportForm(
        kind=HOSTILE,
        urls=HOSTILE,
        explanation=HOSTILE,
        when=HOSTILE,
        tz_offset=HOSTILE,
        name=HOSTILE,
        email=HOSTILE,
        nonce=HOSTILE,
    )
    problems = refused(form).requirements
    markup = pages.report_form(form.for_display(), base="", problems=problems)
    page = Page(markup)
    assert not page.all("script", src="") and len(page.all("script")) == 1, "only the page's own script"
    assert not page.all("img"), "no element was injected"
    assert page.textareas["urls"].removeprefix("\n") == HOSTILE
    assert page.textareas["explanation"].removeprefix("\n") == HOSTILE
    for name in ("when", "name", "email"):
        assert page.by_id(name)[1]["value"] == HOSTILE
    assert page.all("input", name="tz_offset")[0]["value"] == HOSTILE
    assert "<script>alert" not in markup and "<img" not in markup


def test_a_script_typed_into_the_status_form_comes_back_as_text():
    markup = pages.status_form(StatusForm(HOSTILE, HOSTILE), base="", problems=())
    page = Page(markup)
    assert page.by_id("report_id")[1]["value"] == HOSTILE and page.by_id("receipt_token")[1]["value"] == HOSTILE
    assert not page.all("img") and "<script>alert" not in markup


@pytest.mark.parametrize(
    "markup",
    [
        pages.report_form(ReportForm.blank(), base=""),
        pages.status_form(StatusForm(), base=""),
    ],
    ids=["report form", "status form"],
)
def test_every_control_has_a_label_and_ids_are_unique(markup: str):
    page = Page(markup)
    ids = [a["id"] for _, a in page.elements if "id" in a]
    assert len(ids) == len(set(ids))
    labelled = {a["for"] for a in page.all("label")}
    unlabelled = [c.get("name") for c in page.controls() if c.get("id") not in labelled]
    assert not unlabelled
    assert page.all("html")[0]["lang"] == "en"
    assert len(page.all("h1")) == 1


def test_the_radio_group_has_a_legend_and_every_choice():
    page = Page(pages.report_form(ReportForm.blank(), base=""))
    assert page.all("fieldset") and page.all("legend")
    assert [r["value"] for r in page.all("input", type="radio")] == [c.key for c in webform.CHOICES]


def test_each_error_is_tied_to_its_field_and_listed_in_the_summary_in_page_order():
    form = ReportForm(kind="phishing", urls="javascript:alert(1)", email="nope", nonce=webform.new_nonce())
    markup = pages.report_form(form, base="", problems=refused(form).requirements)
    page = Page(markup)
    assert page.title.startswith("Error: ")
    links = [a["href"] for a in page.all("a") if a.get("href", "").startswith("#") and a["href"] != "#main"]
    assert links == ["#urls", "#explanation", "#email", "#good_faith"]
    for link in links:
        control = page.by_id(link[1:])[1]
        assert f"{link[1:]}-error" in control["aria-describedby"].split()
        assert control["aria-invalid"] == "true"
        assert page.by_id(f"{link[1:]}-error")[0] == "p"
    assert page.textareas["urls"].removeprefix("\n") == "javascript:alert(1)", "what was typed is kept"
    assert page.all("input", name="kind", value="phishing")[0].get("checked") == ""


def test_a_form_level_notice_is_in_the_summary_without_a_link():
    page = Page(pages.report_form(ReportForm.blank(), base="", notice="We could not save your report just now."))
    assert page.all("div", role="alert") and page.title.startswith("Error: ")


def test_every_link_form_and_asset_keeps_the_stage_prefix():
    receipt = Receipt(report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2H", status="QUEUED", duplicate=False, receipt_token="tok")
    view = StatusView(report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2H", status="QUEUED", received_at="2026-11-26T10:00:00.000Z")
    for markup in (
        pages.report_form(ReportForm.blank(), base="/live"),
        pages.confirmation(receipt, ReportForm(kind="csam"), base="/live"),
        pages.status_result(view, "tok", base="/live"),
    ):
        page = Page(markup)
        targets = [a["href"] for a in page.all("a") if not a["href"].startswith("#")]
        targets += [f["action"] for f in page.all("form")] + [s["src"] for s in page.all("script")]
        targets += [link["href"] for link in page.all("link")]
        assert targets and all(t.startswith("/live/") for t in targets), targets


def test_the_confirmation_shows_the_id_and_token_and_posts_them_to_the_status_page():
    receipt = Receipt(report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2H", status="QUEUED", duplicate=True, receipt_token="tok-123")
    page = Page(pages.confirmation(receipt, ReportForm(kind="csam"), base=""))
    (status_form,) = page.all("form")
    assert (status_form["method"], status_form["action"]) == ("post", "/status")
    hidden = {i["name"]: i["value"] for i in page.all("input", type="hidden")}
    assert hidden == {"report_id": receipt.report_id, "receipt_token": "tok-123"}
    markup = pages.confirmation(receipt, ReportForm(kind="csam"), base="")
    assert "already sent this report" in markup and "immediate danger" in markup


def test_a_completed_report_shows_the_decision_and_the_redress():
    view = StatusView(
        report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2H",
        status="COMPLETED",
        received_at="2026-11-26T10:00:00.000Z",
        reason_code="ACTIONED",
        case_id="c1",
    )
    markup = pages.status_result(view, "tok", base="")
    assert "Decision made" in markup and "We took action" in markup and webform.REDRESS in markup
    assert "2026-11-26 10:00 UTC" in markup


def test_assets_are_named_by_their_content():
    assert set(pages.ASSETS) == {"app.css", "app.js", "favicon.svg"}
    assert all(len(version) == 12 for version in pages.ASSET_VERSIONS.values())
    assert pages.asset_url("/live", "app.js") == f"/live/assets/app.js?v={pages.ASSET_VERSIONS['app.js']}"


def test_every_template_escapes_what_it_is_given_and_none_turns_escaping_off():
    markup = pages.problem_page("Title", "<b title='x'>&amp;", base="")
    assert "<p>&lt;b title=&#39;x&#39;&gt;&amp;amp;</p>" in markup
    templates = sorted((Path(pages.__file__).parent / "templates").glob("*.html"))
    assert templates and all(pages.TEMPLATES.autoescape(t.name) for t in templates)  # type: ignore[operator]
    for template in templates:
        text = template.read_text()
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", text), f"{template.name} marks a value safe"
