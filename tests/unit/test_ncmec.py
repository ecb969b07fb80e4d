"""CyberTipline drafts, parsed back and checked field by field against NCMEC's reporting API schema."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime

import pytest

from shared.domain.cases import CHILD_SAFETY_FAMILY, CaseState, case_id_for
from shared.domain.ncmec import INCIDENT_TYPE_CHILD_PORNOGRAPHY, DraftFile, build, draft_key, https_url
from shared.domain.policy import Severity

OBJECT = "s3://demo-customer-content/images/pixel%20one.png"
CASE = CaseState(
    case_id=case_id_for(OBJECT, CHILD_SAFETY_FAMILY),
    resource=OBJECT,
    family=CHILD_SAFETY_FAMILY,
    category="content",
    version=3,
    report_count=2,
    first_seen="2026-11-25T08:31:00.000Z",
    last_seen="2026-11-25T09:00:00.000Z",
    first_incident="2026-11-25T08:30:00Z",
    severity=Severity.P0,
    escalate=True,
    types=frozenset({"csam"}),
    urls=frozenset({OBJECT, "https://mirror.example.org/a?b=1&c=2"}),
    objects=frozenset({OBJECT}),
)
FILE = DraftFile(source_uri=OBJECT, version_id="v1", sha256="ab" * 32, md5="cd" * 16)
CONTACT = "trust-and-safety@cloud.example"

# NCMEC's schema fixes the order of a report's children (its reporting API's XSD); these are the ones a draft can carry.
REPORT_ORDER = ["incidentSummary", "internetDetails", "reporter", "additionalInfo", "fileDetails"]
FILE_ORDER = [
    "originalFileName",
    "locationOfFile",
    "fileViewedByEsp",
    "exifViewedByEsp",
    "publiclyAvailable",
    "fileRelevance",
    "originalFileHash",
]


def parse(document: bytes) -> ET.Element:
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(document)


def test_the_draft_is_a_report_with_every_field_the_brief_names():
    report = parse(build(CASE, [FILE], CONTACT))
    assert report.tag == "report"
    summary = report.find("incidentSummary")
    assert summary is not None
    assert summary.findtext("incidentType") == INCIDENT_TYPE_CHILD_PORNOGRAPHY
    assert summary.findtext("escalateToHighPriority")
    when = datetime.fromisoformat(summary.findtext("incidentDateTime") or "")
    assert when.tzinfo is not None and when.isoformat() == "2026-11-25T08:30:00+00:00"
    assert [url.text for url in report.findall("internetDetails/webPageIncident/url")] == [
        "https://demo-customer-content.s3.amazonaws.com/images/pixel%20one.png",
        "https://mirror.example.org/a?b=1&c=2",
    ]
    assert report.findtext("reporter/reportingPerson/email") == CONTACT
    (details,) = report.findall("fileDetails")
    assert details.findtext("fileViewedByEsp") == "false"
    assert details.findtext("publiclyAvailable") in ("true", "false")
    assert details.findtext("originalFileName") == "pixel one.png"
    assert details.findtext("locationOfFile") == "https://demo-customer-content.s3.amazonaws.com/images/pixel%20one.png"
    assert details.findtext("fileRelevance") == "Reported"
    hashes = {element.get("hashType"): element.text for element in details.findall("originalFileHash")}
    assert hashes == {"SHA256": "ab" * 32, "MD5": "cd" * 16}


def test_elements_come_in_the_order_ncmecs_schema_requires():
    report = parse(build(CASE, [FILE, replace(FILE, version_id="v2", sha256="ef" * 32)], CONTACT))
    tags = [child.tag for child in report]
    assert tags == sorted(tags, key=REPORT_ORDER.index)
    summary = report.find("incidentSummary")
    assert summary is not None
    assert [child.tag for child in summary] == ["incidentType", "escalateToHighPriority", "incidentDateTime"]
    for details in report.findall("fileDetails"):
        children = [child.tag for child in details]
        assert children == sorted(children, key=FILE_ORDER.index)
    assert len(report.findall("fileDetails")) == 2


def test_only_p0_asks_for_high_priority():
    report = parse(build(replace(CASE, severity=Severity.P1), [FILE], CONTACT))
    assert report.find("incidentSummary/escalateToHighPriority") is None


def test_a_file_a_person_viewed_says_so():
    report = parse(build(CASE, [replace(FILE, viewed_by_esp=True)], CONTACT))
    assert report.findtext("fileDetails/fileViewedByEsp") == "true"


def test_the_same_case_and_files_give_the_same_bytes_whatever_their_order():
    other = replace(FILE, source_uri="s3://demo-customer-content/b.png", sha256="01" * 32)
    assert build(CASE, [FILE, other], CONTACT) == build(CASE, [other, FILE], CONTACT)


def test_text_that_looks_like_markup_stays_text():
    hostile = replace(CASE, urls=frozenset({"https://x.example/<a>&amp;</report>"}))
    report = parse(build(hostile, [], CONTACT))
    assert "https://x.example/<a>&amp;</report>" in [url.text for url in report.iter("url")]


def test_nothing_a_reporter_wrote_reaches_the_draft():
    text = build(CASE, [FILE], CONTACT).decode()
    for absent in ("abuse@cert.example", "Example CERT", "description"):
        assert absent not in text


def test_one_draft_per_case_in_a_fixed_place():
    assert draft_key(CASE.case_id) == f"ncmec/{CASE.case_id}.xml"
    assert https_url("https://a.example/x") == "https://a.example/x"


def test_a_case_without_a_report_has_no_draft():
    with pytest.raises(ValueError, match="incident time"):
        build(replace(CASE, first_incident=None, first_seen=None), [], CONTACT)
