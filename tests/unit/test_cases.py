"""Cases: what makes two reports one case, and what counting a report into its case changes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.callers import ANONYMOUS, Caller, TrustTier
from shared.domain.cases import (
    CHILD_SAFETY_FAMILY,
    MAX_REPORTERS_KEPT,
    MAX_URLS_KEPT,
    case_id_for,
    fold,
    new_case,
    primary_resource,
    priority,
)
from shared.domain.intake import submit_json
from shared.domain.policy import Severity
from shared.domain.reports import ReportRecord
from tests.fakes import MemoryReportStore
from tests.samples import SERVER_SECRET, body, well_formed, xarf

PROTECTED = frozenset({"demo-customer-content"})
OBJECT_URL = "https://demo-customer-content.s3.amazonaws.com/uploads/item-1.jpg"


def partner(n: int, tier: TrustTier = TrustTier.PARTNER) -> Caller:
    return Caller(principal=f"arn:aws:iam::{n:012d}:role/partner", partner=f"P{n}", tier=tier)


def record(report: dict, caller: Caller = ANONYMOUS) -> ReportRecord:
    """A report as intake stores it: the same ReportRecord the stream carries."""
    store = MemoryReportStore()
    submit_json(body(report), caller, store, protected_buckets=PROTECTED, secret=SERVER_SECRET)
    (stored,) = store.items.values()
    return stored


def csam(url: str = OBJECT_URL, **fields) -> dict:
    return {**well_formed("content", "csam"), "url": url, **fields}


# --- identity ------------------------------------------------------------------------------------------------------


def test_the_most_specific_resource_names_the_case_whatever_the_order():
    resources = ["203.0.113.7", "https://login.example.net/a", "example.net", "s3://bucket-a/k?versionId=v1"]
    assert primary_resource(resources) == "s3://bucket-a/k"
    assert primary_resource(reversed(resources)) == "s3://bucket-a/k"
    assert primary_resource(["203.0.113.7", "example.net"]) == "example.net"
    assert primary_resource(["[2001:db8::1]", "198.51.100.1"]) == "198.51.100.1"
    assert primary_resource([]) is None


@given(st.permutations(["203.0.113.7", "https://b.example/x", "https://a.example/y", "a.example"]))
def test_the_case_never_depends_on_the_order_resources_were_listed(resources):
    assert primary_resource(resources) == "https://a.example/y"


def test_two_partners_reporting_one_object_in_different_spellings_share_a_case():
    first = record(csam(OBJECT_URL, source_identifier="198.51.100.1"), partner(1))
    second = record(csam("s3://demo-customer-content/uploads/item-1.jpg", source_identifier="203.0.113.9"), partner(2))
    assert new_case(first) == new_case(second)
    case = new_case(first)
    assert case is not None and case.family == CHILD_SAFETY_FAMILY
    assert re.fullmatch(r"[0-9a-f]{32}", case.case_id)


def test_csam_and_phishing_on_one_url_are_different_cases():
    url = "https://files.example.org/share/1"
    child_safety = new_case(record(csam(url)))
    phishing = new_case(record(xarf(url=url)))
    assert child_safety is not None and phishing is not None
    assert child_safety.resource == phishing.resource == url
    assert child_safety.case_id != phishing.case_id
    assert (child_safety.family, phishing.family) == (CHILD_SAFETY_FAMILY, "content")


def test_a_case_id_is_a_function_of_family_and_resource_only():
    assert case_id_for("https://a.example/", "content") == case_id_for("https://a.example/", "content")
    assert case_id_for("https://a.example/", "content") != case_id_for("https://a.example/", "connection")


# --- counting ------------------------------------------------------------------------------------------------------


def test_counting_reports_sets_counts_reporters_and_times():
    reports = [record(xarf(description=f"report {n}"), partner(n % 3)) for n in range(7)]
    seed = new_case(reports[0])
    assert seed is not None
    increment = fold(seed, reports)
    after = increment.after
    assert (after.report_count, after.reporter_count, after.version) == (7, 3, 1)
    assert after.first_seen == min(r.received_at for r in reports)
    assert after.last_seen == max(r.received_at for r in reports)
    assert after.first_incident == min(r.incident_time for r in reports)
    assert after.urls == {"https://login.example.net/account/verify"}
    assert increment.pending == {r.report_id for r in reports}, "partners' phishing reports escalate"


def test_a_second_increment_adds_only_what_is_new():
    first = [record(xarf(description="one"), partner(1)), record(xarf(description="two"), partner(2))]
    later = [record(xarf(description="three"), partner(2)), record(xarf(description="four"), partner(3))]
    seed = new_case(first[0])
    assert seed is not None
    after_first = fold(seed, first).after
    second = fold(after_first, later)
    assert second.added_reporters == second.after.reporters - after_first.reporters
    assert len(second.added_reporters) == 1
    assert (second.after.report_count, second.after.reporter_count, second.after.version) == (4, 3, 2)
    assert not second.added_urls, "the URL is known already"


def test_anonymous_reporters_are_one_reporter_however_many_reports():
    reports = [record(xarf(description=f"anonymous {n}")) for n in range(6)]
    seed = new_case(reports[0])
    assert seed is not None
    after = fold(seed, reports).after
    assert (after.report_count, after.reporter_count) == (6, 1)
    assert after.severity == Severity.P1, "anonymous floods never pass for corroboration"


def test_five_distinct_reporters_raise_a_case_one_level_and_never_to_p0():
    reports = [record(xarf("connection", "port_scan", **_scan()), partner(n)) for n in range(4)]
    seed = new_case(reports[0])
    assert seed is not None
    four = fold(seed, reports).after
    assert four.severity == Severity.P2
    fifth = fold(four, [record(xarf("connection", "port_scan", **_scan(), description="5th"), partner(9))]).after
    assert fifth.severity == Severity.P1


def test_reporters_and_urls_are_bounded_samples():
    reports = [
        record(xarf(url=f"https://viral.example/{n}", description=f"{n}"), partner(n))
        for n in range(MAX_REPORTERS_KEPT + 20)
    ]
    state = new_case(reports[0])
    assert state is not None
    for report in reports:  # one at a time, as many batches would
        state = fold(state, [report]).after
    assert state.report_count == len(reports)
    assert state.reporter_count == MAX_REPORTERS_KEPT
    assert len(state.urls) == MAX_URLS_KEPT


def test_csam_is_p0_and_escalates_whoever_reports_it():
    report = record(csam())
    seed = new_case(report)
    assert seed is not None
    increment = fold(seed, [report])
    assert (increment.after.severity, increment.after.escalate) == (Severity.P0, True)
    assert increment.after.objects == {"s3://demo-customer-content/uploads/item-1.jpg"}
    assert increment.pending == {report.report_id}


def test_a_report_with_nothing_to_send_is_not_pending():
    report = record(xarf("vulnerability", "open_service", **_open_service()))
    seed = new_case(report)
    assert seed is not None
    assert fold(seed, [report]).pending == frozenset()


def test_trusted_flaggers_come_first():
    public = record(xarf(description="public"))
    trusted = record(xarf(description="trusted"), partner(1, TrustTier.TRUSTED_FLAGGER))
    plain = record(xarf(description="partner"), partner(2))
    assert sorted([public, plain, trusted], key=priority) == [trusted, plain, public]


def _scan() -> dict:
    fields = well_formed("connection", "port_scan")
    return {k: v for k, v in fields.items() if k not in xarf("connection", "port_scan")}


def _open_service() -> dict:
    fields = well_formed("vulnerability", "open_service")
    return {k: v for k, v in fields.items() if k not in xarf("vulnerability", "open_service")}
