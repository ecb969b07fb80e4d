"""The form's domain: what a person typed -> the Report intake stores, and every refusal next to its field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from shared.domain import webform
from shared.domain.callers import ANONYMOUS, TrustTier
from shared.domain.errors import InvalidReport, MalformedBody, PayloadTooLarge, ReportNotFound, TokenConflict
from shared.domain.intake import status
from shared.domain.reports import ReportRecord
from shared.domain.resources import ResourceKind
from shared.domain.webform import CrossSiteRequest, ReportForm, StatusForm
from shared.domain.xarf_vocabulary import TYPES
from tests.fakes import MemoryReportStore
from tests.samples import SERVER_SECRET

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"


def filled(**changes: object) -> ReportForm:
    form = ReportForm(
        kind="phishing",
        urls="HTTPS://Login.Example.NET:443/account/verify#top\r\n\r\n203.0.113.7",
        explanation="A fake bank login page.\r\nIt asks for card numbers.",
        good_faith=True,
        nonce=webform.new_nonce(),
    )
    return replace(form, **changes)  # type: ignore[arg-type]


def refusal(form: ReportForm) -> dict[str, tuple[str, str]]:
    with pytest.raises(InvalidReport) as caught:
        webform.to_submission(form, now=NOW)
    return {r.path: (r.code, r.message) for r in caught.value.requirements}


def only_record(store: MemoryReportStore) -> ReportRecord:
    (record,) = store.items.values()
    return record


# --- form -> Report ---------------------------------------------------------------------------------------------


def test_a_filled_form_becomes_a_form_report_with_canonical_resources_and_the_explanation():
    submission = webform.to_submission(filled(), now=NOW)
    report = submission.report
    assert (report.category, report.type, report.source_format) == ("content", "phishing", "form")
    assert [r.canonical for r in report.resources] == ["https://login.example.net/account/verify", "203.0.113.7"]
    assert report.description == "A fake bank login page.\nIt asks for card numbers."
    assert report.reporter is None, "nobody gave a name or email"
    assert report.details == {"good_faith_statement": True, "incident_time_basis": "time_of_report"}
    assert report.incident_time == NOW
    assert submission.client_token is not None and submission.client_token.startswith("form:")


def test_a_sent_form_is_stored_as_an_anonymous_public_report_in_one_write():
    store = MemoryReportStore()
    receipt = webform.send(filled(name="Ada Lovelace", email="ada@Example.org"), store, now=NOW, secret=SERVER_SECRET)
    record = only_record(store)
    assert (receipt.status, receipt.duplicate, bool(receipt.receipt_token)) == ("QUEUED", False, True)
    assert (record.principal, record.trust_tier, record.source_format) == ("anonymous", TrustTier.PUBLIC, "form")
    assert (record.reporter_org, record.reporter_contact, record.reporter_domain) == (
        "Ada Lovelace",
        "ada@Example.org",
        "example.org",
    )
    assert (store.writes, store.reads) == (1, 0)


def test_sending_the_same_page_twice_returns_the_same_report_and_receipt():
    store = MemoryReportStore()
    form = filled()
    first = webform.send(form, store, now=NOW, secret=SERVER_SECRET)
    again = webform.send(form, store, now=NOW + timedelta(seconds=3), secret=SERVER_SECRET)
    assert (again.report_id, again.receipt_token, again.duplicate) == (first.report_id, first.receipt_token, True)
    assert len(store.items) == 1


def test_two_people_reporting_the_same_thing_in_the_same_words_get_two_reports_and_two_receipts():
    store = MemoryReportStore()
    first = webform.send(filled(), store, now=NOW, secret=SERVER_SECRET)
    second = webform.send(filled(), store, now=NOW, secret=SERVER_SECRET)  # a fresh page: a fresh nonce
    assert first.report_id != second.report_id and second.receipt_token and not second.duplicate
    assert len(store.items) == 2


def test_a_page_sent_again_with_other_answers_is_a_conflict_not_a_silent_replay():
    store = MemoryReportStore()
    form = filled()
    webform.send(form, store, now=NOW, secret=SERVER_SECRET)
    with pytest.raises(TokenConflict):
        webform.send(replace(form, explanation="Something else entirely"), store, now=NOW, secret=SERVER_SECRET)


@pytest.mark.parametrize("choice", webform.CHOICES, ids=lambda c: c.key)
def test_every_choice_is_a_xarf_type_and_is_accepted_without_name_or_email(choice: webform.Choice):
    assert choice.type in TYPES[choice.category]
    report = webform.to_submission(filled(kind=choice.key, urls="https://example.com/x"), now=NOW).report
    assert (report.category, report.type, report.reporter) == (choice.category, choice.type, None)


def test_a_csam_report_without_name_or_email_is_accepted():
    report = webform.to_submission(filled(kind="csam", urls="https://cdn.example.com/a.jpg"), now=NOW).report
    assert (report.category, report.type, report.reporter) == ("content", "csam", None)


def test_a_csam_report_needs_the_web_address_not_only_an_ip_or_domain():
    problems = refusal(filled(kind="csam", urls="203.0.113.7\nexample.com"))
    assert problems["/urls"][0] == "rule.urls.url_required"


def test_a_csam_report_may_name_an_s3_object():
    report = webform.to_submission(filled(kind="csam", urls="s3://customer-bucket/a.jpg"), now=NOW).report
    assert report.resources[0].kind is ResourceKind.S3_OBJECT


@pytest.mark.parametrize("kind", ["csam", "phishing", "copyright"])
def test_the_good_faith_statement_is_required_whatever_is_reported(kind: str):
    problems = refusal(filled(kind=kind, urls="https://example.com/x", good_faith=False))
    assert problems["/good_faith"][0] == "rule.good_faith.missing"


def test_an_empty_form_names_every_missing_field_in_the_order_of_the_page():
    with pytest.raises(InvalidReport) as caught:
        webform.to_submission(ReportForm(nonce=webform.new_nonce()), now=NOW)
    assert [r.path for r in caught.value.requirements] == ["/kind", "/urls", "/explanation", "/good_faith"]
    assert all(r.message and not r.message.startswith("rule.") for r in caught.value.requirements)


def test_an_unknown_kind_is_refused_like_a_missing_one():
    assert refusal(filled(kind="<script>"))["/kind"][0] == "rule.kind.missing"


def test_a_bad_address_is_named_by_its_line_with_the_canonicalization_rule():
    code, message = refusal(filled(urls="https://ok.example/\njavascript:alert(1)\nftp://x.example/"))["/urls"]
    assert code == "rule.resource.scheme_not_allowed"
    assert message.startswith("Line 2: ") and "1 more line needs checking" in message


def test_a_lone_address_without_scheme_is_explained_not_guessed():
    code, message = refusal(filled(urls="example.com/login"))["/urls"]
    assert code == "rule.resource.malformed" and "https://" in message and not message.startswith("Line")


def test_the_same_address_typed_twice_is_one_resource_and_more_than_ten_are_refused():
    report = webform.to_submission(filled(urls="https://a.example/\nHTTPS://A.example:443/"), now=NOW).report
    assert [r.canonical for r in report.resources] == ["https://a.example/"]
    many = "\n".join(f"https://example.com/{n}" for n in range(webform.MAX_URLS + 1))
    assert refusal(filled(urls=many))["/urls"][0] == "rule.urls.too_many"


def test_the_explanation_is_counted_as_the_person_sees_it_and_hygiene_rules_apply():
    exactly = "a\r\n" * 333 + "a"  # 1,000 characters with LF line breaks, 1,333 as the browser sends them
    assert webform.to_submission(filled(explanation=exactly), now=NOW).report.description == "a\n" * 333 + "a"
    assert refusal(filled(explanation="x" * 1001))["/explanation"][0] == "rule.explanation.too_long"
    assert refusal(filled(explanation="pay here \u202eexe.txt"))["/explanation"][0] == (
        "rule.explanation.forbidden_characters"
    )
    assert refusal(filled(explanation="   "))["/explanation"][0] == "rule.explanation.missing"


def test_name_and_email_follow_the_apis_rules_when_given():
    assert refusal(filled(email="not an email"))["/email"][0] == "rule.email.malformed"
    assert refusal(filled(name="Eve\u200b"))["/name"][0] == "rule.name.forbidden_characters"
    assert refusal(filled(name="x" * 201))["/name"][0] == "rule.name.too_long"
    report = webform.to_submission(filled(name="  Grace  ", email=""), now=NOW).report
    assert report.reporter is not None and (report.reporter.org, report.reporter.contact) == ("Grace", "")


# --- incident time ----------------------------------------------------------------------------------------------


def test_a_local_time_with_the_browsers_offset_is_converted_to_utc():
    report = webform.to_submission(filled(when="2026-11-26T10:30", tz_offset="120"), now=NOW).report
    assert report.incident_time == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert report.details["incident_time_basis"] == "reporter_local"


def test_a_time_without_an_offset_is_read_as_utc_as_the_page_says():
    report = webform.to_submission(filled(when="2026-11-25 23:15"), now=NOW).report
    assert report.incident_time == datetime(2026, 11, 25, 23, 15, tzinfo=UTC)
    assert report.details["incident_time_basis"] == "utc_assumed"


@pytest.mark.parametrize(
    ("when", "offset", "code"),
    [
        ("2026-11-26T10:30", "", "rule.when.in_future"),
        ("2026-11-26T11:30", "60", "rule.when.in_future"),
        ("2025-11-01T10:00", "", "rule.when.too_old"),
        ("26/11/2026 10:00", "", "rule.when.malformed"),
        ("2026-02-30T10:00", "", "rule.when.malformed"),
        ("2026-11-26T09:00", "9999", "rule.when.malformed"),
        ("2026-11-26T09:00", "+1h", "rule.when.malformed"),
        # The ends of what a datetime holds, moved by an offset past them: refused, not an OverflowError (a 502).
        ("0001-01-01T00:00", "60", "rule.when.too_old"),
        ("9999-12-31T23:59", "-60", "rule.when.in_future"),
        ("0001-01-01T00:00", "", "rule.when.too_old"),
        ("9999-12-31T23:59", "-840", "rule.when.in_future"),
    ],
)
def test_times_outside_the_apis_window_or_unreadable_are_refused(when: str, offset: str, code: str):
    assert refusal(filled(when=when, tz_offset=offset))["/when"][0] == code


def test_a_time_in_the_year_before_is_converted_when_it_is_inside_the_window():
    report = webform.to_submission(filled(when="2025-12-31T23:30", tz_offset="-60"), now=NOW).report
    assert report.incident_time == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)


# --- the nonce --------------------------------------------------------------------------------------------------


def test_a_form_without_a_valid_nonce_is_sent_back_with_a_new_one():
    form = filled(nonce="forged")
    problems = refusal(form)
    assert problems[""][0] == "rule.form.expired"
    shown = form.for_display()
    assert shown.nonce != "forged" and len(shown.nonce) == 43 and shown.urls == form.urls


def test_nonces_are_unguessable_and_distinct():
    assert len({webform.new_nonce() for _ in range(100)}) == 100


# --- reading the request ----------------------------------------------------------------------------------------


def test_a_urlencoded_body_is_read_with_the_checkbox_as_a_boolean_and_unknown_fields_ignored():
    body = urlencode(
        {"kind": "csam", "urls": "https://a.example/é", "good_faith": "yes", "submit": "x", "nonce": "n"}
    ).encode()
    form = webform.read_report_form(body, FORM + "; charset=UTF-8")
    assert (form.kind, form.urls, form.good_faith, form.nonce, form.name) == (
        "csam",
        "https://a.example/é",
        True,
        "n",
        "",
    )
    assert webform.read_report_form(b"kind=spam", FORM).good_faith is False


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"kind=a&kind=b", FORM, MalformedBody),
        (b"kind=%ff", FORM, MalformedBody),
        ("kind=\u00e9".encode(), FORM, MalformedBody),
        (b"&".join([b"x=1"] * 40), FORM, MalformedBody),
        (b"x=" + b"a" * webform.MAX_FORM_BYTES, FORM, PayloadTooLarge),
    ],
    ids=["field twice", "bad percent-encoded UTF-8", "raw non-ASCII", "too many fields", "too large"],
)
def test_bodies_no_browser_would_send_are_refused(body: bytes, content_type: str, error: type[Exception]):
    with pytest.raises(error):
        webform.read_report_form(body, content_type)


@pytest.mark.parametrize(
    "content_type", [None, "multipart/form-data; boundary=x", "application/json", FORM + ";charset=latin-1"]
)
def test_only_urlencoded_utf8_forms_are_read(content_type: str | None):
    from shared.domain.errors import UnsupportedMediaType

    with pytest.raises(UnsupportedMediaType):
        webform.read_report_form(b"kind=spam", content_type)


@pytest.mark.parametrize(
    ("site", "origin", "host", "proto", "allowed"),
    [
        ("same-origin", None, "a.example", "https", True),
        ("none", None, "a.example", "https", True),
        ("cross-site", None, "a.example", "https", False),
        ("same-site", "https://b.a.example", "a.example", "https", False),
        (None, "https://a.example", "a.example", "https", True),
        (None, "http://127.0.0.1:3000", "127.0.0.1:3000", "http", True),
        (None, "https://evil.example", "a.example", "https", False),
        (None, "null", "a.example", "https", False),
        (None, None, "a.example", "https", True),  # not a browser: it could post from its own addresses anyway
        # Same host and port, another scheme: another origin (a page over plain HTTP anyone on the path can rewrite).
        (None, "http://a.example", "a.example", "https", False),
        (None, "https://127.0.0.1:3000", "127.0.0.1:3000", "http", False),
        (None, "HTTPS://A.example", "a.example", "HTTPS", True),
        # No X-Forwarded-Proto: the stage serves https only, so that is the scheme expected.
        (None, "https://a.example", "a.example", None, True),
        (None, "http://a.example", "a.example", None, False),
    ],
)
def test_posts_from_other_sites_pages_are_refused(
    site: str | None, origin: str | None, host: str, proto: str | None, allowed: bool
):
    if allowed:
        webform.check_same_origin(site, origin, host, proto)
    else:
        with pytest.raises(CrossSiteRequest):
            webform.check_same_origin(site, origin, host, proto)


@pytest.mark.parametrize(
    ("host", "stage", "base"),
    [
        ("abc123.execute-api.us-east-1.amazonaws.com", "live", "/live"),
        ("ABC123.execute-api.eu-west-1.amazonaws.com:443", "live", "/live"),
        ("report.example.org", "live", ""),
        ("127.0.0.1:3000", "live", ""),
        ("abc123.execute-api.us-east-1.amazonaws.com", "li/ve", ""),
        (None, None, ""),
    ],
)
def test_links_keep_the_stage_only_on_api_gateways_own_host(host: str | None, stage: str | None, base: str):
    assert webform.base_path(host, stage) == base


# --- the status page --------------------------------------------------------------------------------------------


def test_the_receipt_and_reference_show_the_status_whatever_case_or_spaces_they_are_typed_with():
    store = MemoryReportStore()
    receipt = webform.send(filled(), store, now=NOW, secret=SERVER_SECRET)
    assert receipt.receipt_token is not None
    view = webform.lookup(StatusForm(f"  {receipt.report_id.lower()} ", f" {receipt.receipt_token}\n"), store)
    assert (view.report_id, view.status) == (receipt.report_id, "QUEUED")
    assert webform.wording(view)[0].title == "Received"


def test_a_wrong_token_is_not_found_without_saying_which_half_is_wrong():
    store = MemoryReportStore()
    receipt = webform.send(filled(), store, now=NOW, secret=SERVER_SECRET)
    with pytest.raises(ReportNotFound) as caught:
        webform.lookup(StatusForm(receipt.report_id, "not-the-token"), store)
    (problem,) = caught.value.requirements
    assert problem.path == "/report_id" and "reference and receipt token" in problem.message


def test_an_empty_status_form_names_both_fields():
    with pytest.raises(InvalidReport) as caught:
        webform.lookup(StatusForm(), MemoryReportStore())
    assert [r.path for r in caught.value.requirements] == ["/report_id", "/receipt_token"]


def test_a_decision_is_worded_for_the_reporter():
    store = MemoryReportStore()
    receipt = webform.send(filled(), store, now=NOW, secret=SERVER_SECRET)
    record = only_record(store)
    store.items[record.key_hex] = record.model_copy(
        update={"status": "COMPLETED", "reason_code": "NOT_RESOLVABLE_TO_AWS"}
    )
    view = status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store)
    state, decision = webform.wording(view)
    assert state.title == "Decision made" and decision is not None and "not hosted by us" in decision
