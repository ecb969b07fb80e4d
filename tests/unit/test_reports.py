"""What counts as a valid report, and how refusals are explained."""

from __future__ import annotations

import base64
import hashlib
import json
import warnings

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


def test_a_field_the_type_does_not_define_is_refused():
    assert ("/report/favourite_colour", "rule.field.unknown") in refusal(body(xarf(favourite_colour="red")))


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


def test_incident_times_in_the_future_or_over_a_year_old_are_refused():
    assert refusal(body(xarf(timestamp="2999-01-01T00:00:00Z"))) == [("/report/timestamp", "rule.timestamp.in_future")]
    assert refusal(body(xarf(timestamp="2001-01-01T00:00:00Z"))) == [("/report/timestamp", "rule.timestamp.too_old")]
    assert ("/report/timestamp", "rule.timestamp.malformed") in refusal(body(xarf(timestamp="2026-11-25T10:00:00")))


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
    assert ("/report/evidence/0/hash", "rule.evidence.hash_mismatch") in refusal(body(xarf(evidence=[item])))


def test_csam_reports_never_carry_content_only_urls_and_hashes():
    report = well_formed("content", "csam")
    report["evidence"] = [{"content_type": "image/jpeg", "payload": base64.b64encode(b"\xff\xd8").decode()}]
    assert refusal(body(report)) == [("/report/evidence", "rule.evidence.payload_not_accepted")]


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
