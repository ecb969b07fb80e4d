"""What counts as a valid report, and how refusals are explained."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
import xarf as xarf_library

from shared.domain.errors import InvalidReport, MalformedBody
from shared.domain.resources import ResourceKind
from shared.domain.xarf import describe_types, parse_submission
from shared.domain.xarf_vocabulary import TYPES
from tests.samples import body, recent, well_formed, xarf

ALL_TYPES = sorted(describe_types())


def refusal(raw: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidReport) as caught:
        parse_submission(raw)
    return [(r.path, r.code) for r in caught.value.requirements]


def test_the_specification_defines_seven_categories_and_every_type_is_known():
    assert {category for category, _ in ALL_TYPES} == {
        "messaging",
        "content",
        "copyright",
        "connection",
        "vulnerability",
        "infrastructure",
        "reputation",
    }
    assert ("content", "csam") in ALL_TYPES and ("connection", "ddos") in ALL_TYPES
    assert len(ALL_TYPES) == 32


@pytest.mark.parametrize(("category", "type_"), ALL_TYPES)
def test_every_well_formed_xarf_type_is_accepted_and_the_xarf_library_agrees(category, type_):
    report = well_formed(category, type_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert xarf_library.parse(report).errors == [], "the sample itself must be valid XARF"
    submission = parse_submission(body(report))
    assert (submission.report.category, submission.report.type) == (category, type_)
    assert submission.report.resources, "every report names at least its source"


TYPES_WITH_OWN_FIELDS = [(c, t) for c, t in ALL_TYPES if TYPES[c][t]["required"]]


@pytest.mark.parametrize(("category", "type_"), TYPES_WITH_OWN_FIELDS)
def test_a_type_without_its_required_fields_is_refused_like_the_xarf_library_refuses_it(category, type_):
    report = well_formed(category, type_)
    required = TYPES[category][type_]["required"]
    del report[required[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert xarf_library.parse(report).errors, "the xarf library refuses it too"
    assert (f"/report/{required[0]}", f"rule.{required[0]}.missing") in refusal(body(report))


def test_a_well_formed_phishing_report_becomes_one_internal_report():
    submission = parse_submission(body(xarf(description="Fake bank login"), clientToken="t-1", correlationId="c-1"))
    report = submission.report
    assert report.category == "content" and report.type == "phishing"
    assert [r.canonical for r in report.resources] == ["203.0.113.7", "https://login.example.net/account/verify"]
    assert report.description == "Fake bank login"
    assert report.reporter is not None and report.reporter.contact == "abuse@cert.example"
    assert (submission.client_token, submission.correlation_id) == ("t-1", "c-1")


def test_an_s3_url_in_a_report_becomes_an_s3_object_resource():
    report = xarf(url="https://demo-customer-content.s3.us-east-1.amazonaws.com/pages/login.html")
    resources = parse_submission(body(report)).report.resources
    assert [r.kind for r in resources] == [ResourceKind.IP, ResourceKind.S3_OBJECT]
    assert resources[1].canonical == "s3://demo-customer-content/pages/login.html"


def test_a_content_report_without_url_points_at_the_missing_field():
    report = xarf()
    del report["url"]
    assert refusal(body(report)) == [("/report/url", "rule.url.missing")]


def test_an_unknown_type_names_the_types_of_its_category():
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(xarf(type_="phishingg")))
    (problem,) = caught.value.requirements
    assert (problem.path, problem.code) == ("/report/type", "rule.type.not_allowed")
    assert "phishing" in problem.message and "csam" in problem.message


def test_fields_the_type_does_not_define_are_kept_as_extensions():
    report = xarf(favourite_colour="red", vendor={"ticket": "V-1", "scores": [0.5, None]}, target_brand="Example Bank")
    details = parse_submission(body(report)).report.details
    assert details == {
        "favourite_colour": "red",
        "vendor": {"ticket": "V-1", "scores": [0.5, None]},
        "target_brand": "Example Bank",
    }
    assert "url" not in details, "the reported URL is a resource, kept in canonical form"


def test_extension_fields_over_16_kb_are_refused_at_the_largest_of_them():
    report = xarf(small="x" * 100, notes=["y" * 1000] * 17)
    ((path, code),) = refusal(body(report))
    assert (path, code) == ("/report/notes", "rule.extensions.too_large")
    assert parse_submission(body(xarf(notes=["y" * 1000] * 15))).report.details["notes"], "15 KB fits"


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"vendor_note": "looks \u202egnp.exe"}, "/report/vendor_note"),
        ({"vendor": {"steps": ["ok", "nul\u0000byte"]}}, "/report/vendor/steps/1"),
        ({"vendor": {"na\u200bme": "x"}}, "/report/vendor/na\u200bme"),
        ({"tar\u0007get": "x"}, "/report/tar\u0007get"),
    ],
)
def test_extension_fields_pass_the_same_text_screening_as_every_other_field(fields, pointer):
    problems = refusal(body(xarf(**json.loads(json.dumps(fields)))))
    assert [path for path, _ in problems] == [pointer]
    assert problems[0][1].endswith(".forbidden_characters")


def test_the_envelope_stays_strict_while_the_report_is_extensible():
    assert ("/reportz", "rule.extra.unknown") in refusal(body(clientToken="t-1", reportz=xarf()))


def test_an_enum_field_outside_its_values_is_refused():
    report = well_formed("content", "csam")
    report["classification"] = "Z9"
    assert ("/report/classification", "rule.classification.not_allowed") in refusal(body(report))


def test_every_problem_is_reported_at_once_with_a_json_pointer():
    report = xarf(source_port=70000)
    report["reporter"]["contact"] = "not-an-email"
    del report["timestamp"]
    codes = refusal(body(report))
    assert ("/report/timestamp", "rule.timestamp.missing") in codes
    assert ("/report/reporter/contact", "rule.contact.malformed") in codes
    assert ("/report/source_port", "rule.source_port.out_of_range") in codes


def test_unknown_envelope_fields_are_refused():
    assert ("/extra", "rule.extra.unknown") in refusal(body(extra=1))


def test_any_past_incident_is_accepted_and_marked_stale_when_over_a_year_old():
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert parse_submission(body(xarf(timestamp="2001-01-01T00:00:00Z")), now=now).report.stale
    assert parse_submission(body(xarf(timestamp="2025-12-01T11:59:59Z")), now=now).report.stale
    assert not parse_submission(body(xarf(timestamp="2025-12-02T12:00:01Z")), now=now).report.stale
    assert not parse_submission(body(xarf(timestamp="2026-12-02T12:14:00Z")), now=now).report.stale, "clock skew"


def test_only_times_over_15_minutes_ahead_and_malformed_ones_are_refused():
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    ahead = [("/report/timestamp", "rule.timestamp.in_future")]
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(xarf(timestamp="2026-12-02T12:16:00Z")), now=now)
    assert [(r.path, r.code) for r in caught.value.requirements] == ahead
    assert "15 minutes" in caught.value.requirements[0].message
    assert refusal(body(xarf(timestamp="2999-01-01T00:00:00+02:00"))) == ahead
    for malformed in ("2026-11-25T10:00:00", "2026-11-25", "1764064800", "next tuesday"):
        assert refusal(body(xarf(timestamp=malformed))) == [("/report/timestamp", "rule.timestamp.malformed")]


def test_evidence_is_hashed_and_its_declared_hash_checked():
    content = b"Received: from mail.example\r\nSubject: win\r\n\r\nbody"
    item = {
        "content_type": "message/rfc822",
        "payload": base64.b64encode(content).decode(),
        "hash": "sha256:" + hashlib.sha256(content).hexdigest(),
    }
    report = parse_submission(body(xarf(evidence=[item]))).report
    assert report.evidence[0].sha256 == hashlib.sha256(content).hexdigest()
    assert report.evidence[0].md5 == hashlib.md5(content).hexdigest()
    item["hash"] = "sha256:" + "0" * 64
    assert parse_submission(body(xarf(evidence=[item]))).report.evidence, "a declared hash that differs never refuses"


def test_a_csam_report_with_an_evidence_payload_is_accepted_not_lost():
    report = well_formed("content", "csam")
    report["evidence"] = [{"content_type": "image/jpeg", "payload": base64.b64encode(b"\xff\xd8").decode()}]
    assert parse_submission(body(report)).report.evidence[0].sha256 == hashlib.sha256(b"\xff\xd8").hexdigest()


def test_an_xarf_v3_report_is_converted_to_v4():
    v3 = {
        "Version": "3",
        "ReporterInfo": {"ReporterOrg": "Legacy Filter", "ReporterOrgEmail": "abuse@filter.example"},
        "Report": {
            "ReportType": "Spam",
            "Date": recent(),
            "Source": {"IP": "192.0.2.45", "Port": 25},
            "Protocol": "smtp",
            "SmtpMailFromAddress": "offers@bulk.example",
        },
    }
    report = parse_submission(json.dumps({"report": v3})).report
    assert (report.category, report.type, report.source_format) == ("messaging", "spam", "xarf3")
    assert [r.canonical for r in report.resources] == ["192.0.2.45"]


def test_an_xarf_v3_report_that_cannot_be_converted_is_explained():
    v3 = {"Version": "3", "ReporterInfo": {}, "Report": {"ReportType": "Scanning", "Source": "x"}}
    assert refusal(json.dumps({"report": v3}).encode()) == [("/report/Report", "rule.xarf_v3.not_convertible")]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{", "rule.body.malformed_json"),
        (b'{"report": {}, "report": {}}', "rule.body.duplicate_key"),
        (b"[]", "rule.body.not_object"),
        (b"\xff\xfe{}", "rule.body.malformed_json"),
    ],
)
def test_a_body_that_is_not_one_json_object_is_malformed(raw, code):
    with pytest.raises(MalformedBody) as caught:
        parse_submission(raw)
    assert [r.code for r in caught.value.requirements] == [code]


# ---------------------------------------------------------------------------------------------------------------
# Binary content only in evidence[]; URL-shaped fields of every type take http, https and s3 only
# ---------------------------------------------------------------------------------------------------------------

BLOB = base64.b64encode(bytes(range(256)) * 5).decode()  # 1,280 bytes once decoded


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"description": "see data:image/png;base64,iVBORw0KGgo="}, "/report/description"),
        ({"screenshot": "DATA:text/html,<script>x</script>"}, "/report/screenshot"),
        ({"vendor": {"attachments": ["data:,hello"]}}, "/report/vendor/attachments/0"),
        ({"raw_sample": BLOB}, "/report/raw_sample"),
        ({"vendor": {"dump": "prefix " + BLOB.replace("+", "-").replace("/", "_")}}, "/report/vendor/dump"),
        ({"source_identifier": "data:text/plain,203.0.113.7"}, "/report/source_identifier"),
    ],
)
def test_binary_content_outside_evidence_is_refused_with_a_pointer(fields, pointer):
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(xarf(**fields)))
    binary = [r for r in caught.value.requirements if r.code.endswith(".binary_content")]
    assert [r.path for r in binary] == [pointer]
    assert binary[0].message == "send files as evidence items"


def test_small_encoded_values_metadata_words_and_evidence_payloads_are_fine():
    item = {"content_type": "application/octet-stream", "payload": base64.b64encode(bytes(range(256)) * 20).decode()}
    report = xarf(
        file_hash="sha512:" + "ab" * 64,
        vendor={"token": BLOB[:1300], "note": "metadata: none, data: see the log"},
        evidence=[item],
    )
    assert parse_submission(body(report)).report.evidence[0].size == 1280 * 4


@pytest.mark.parametrize(
    ("category", "type_", "field", "value"),
    [
        ("connection", "sql_injection", "target_url", "javascript:alert(1)"),
        ("content", "phishing", "screenshot_url", "file:///etc/passwd"),
        ("content", "malware", "analysis_url", "ftp://files.example/sample.exe"),
        ("content", "phishing", "submission_url", "data:text/html,<form>"),
        ("content", "phishing", "legitimate_url", "mailto:abuse@example.com"),
    ],
)
def test_url_shaped_fields_of_every_type_take_the_schemes_url_takes(category, type_, field, value):
    report = well_formed(category, type_) | {field: value}
    problems = refusal(body(report))
    assert (f"/report/{field}", f"rule.{field}.scheme_not_allowed") in problems
    assert parse_submission(body(well_formed(category, type_) | {field: "https://example.net/a"})).report


def test_a_nested_url_field_gets_the_scheme_rules_too():
    report = xarf(vendor={"evidence_url": "javascript:void(0)", "count_url": 3})
    assert refusal(body(report)) == [("/report/vendor/evidence_url", "rule.evidence_url.scheme_not_allowed")]


# ---------------------------------------------------------------------------------------------------------------
# Every problem at once, ordered, bounded, in words
# ---------------------------------------------------------------------------------------------------------------


def test_three_distinct_problems_come_back_together_ordered_by_pointer():
    report = xarf(timestamp="yesterday")
    report["reporter"]["contact"] = "abuse at cert dot example"
    del report["url"]
    assert refusal(body(report)) == [
        ("/report/reporter/contact", "rule.contact.malformed"),
        ("/report/timestamp", "rule.timestamp.malformed"),
        ("/report/url", "rule.url.missing"),
    ]


def test_array_indexes_are_ordered_as_numbers():
    report = xarf(tags=["ok:1"] * 2 + ["Bad Tag"] * 10)
    paths = [path for path, _ in refusal(body(report))]
    assert paths == sorted(paths, key=lambda p: int(p.rsplit("/", 1)[1])) and paths[0] == "/report/tags/2"


def test_messages_are_words_with_examples_not_patterns():
    report = xarf(report_id="R-1", xarf_version="v4", tags=["Nope"], source_port="x", cve_id="nope")
    report["sender"]["domain"] = "not a host"
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(report))
    for problem in caught.value.requirements:
        assert not re.search(r"[\^$\\]|\[.*\]|Input should|String should", problem.message), problem


def test_field_names_that_look_like_digits_to_unicode_are_refused_in_pointer_order_not_with_a_5xx():
    # "²" and "٣" are digits to str.isdigit; a JSON pointer's array indexes are ASCII digits only.
    report = xarf(**{"\u00b2": "bell\u0007", "\u0663": "bell\u0007", "url": "javascript:alert(1)"})
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(report))
    paths = [problem.path for problem in caught.value.requirements]
    assert {"/report/\u00b2", "/report/\u0663", "/report/url"} <= set(paths)
    assert paths == sorted(paths, key=lambda path: path.split("/")), "ordered by pointer"


def test_a_refusal_lists_at_most_100_problems_and_counts_the_rest():
    from shared.domain.answers import Refusal

    report = xarf(**{f"field_{n:05}": "bell\u0007" for n in range(250)})
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(report))
    answer = Refusal.of(caught.value).as_json()
    assert len(answer["unmetRequirements"]) == 100 and answer["omittedRequirements"] == 150
    assert answer["unmetRequirements"][0]["path"] == "/report/field_00000", "the first ones, by pointer"


@pytest.mark.parametrize(
    "shape",
    ["many plain fields", "many bad fields", "one huge name", "huge names", "deep values", "escaped names"],
)
def test_a_5_mb_body_of_unknown_fields_answers_at_most_64_kb(shape):
    from shared.domain.answers import Refusal

    budget = 5 * 1024 * 1024 - 4096
    fields: dict[str, Any] = {
        "many plain fields": {f"f{n}": n for n in range(budget // 20)},
        "many bad fields": {f"f{n}": "\u202e" for n in range(budget // 24)},
        "one huge name": {"\u202e" + "n" * budget: 1},
        "huge names": {f"{n}\u0007" + "n" * 50_000: 1 for n in range(budget // 50_010)},
        "deep values": {"vendor": [[["data:,x"] * 1000] * 10] * 20},
        "escaped names": {"\u00e9" * 30_000 + str(n) + "\u0000": 1 for n in range(budget // 180_020)},
    }[shape]
    raw = body(xarf(**fields))
    assert len(raw) <= 5 * 1024 * 1024
    with pytest.raises(InvalidReport) as caught:
        parse_submission(raw)
    answer = json.dumps(Refusal.of(caught.value).as_json(), separators=(",", ":"))  # as the handler writes it
    assert len(answer.encode()) <= 64 * 1024
    assert json.loads(answer)["unmetRequirements"]
