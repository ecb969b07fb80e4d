"""Intake's promises: one write per report, duplicates answered with the original, status only to the entitled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from shared.domain.callers import ANONYMOUS, Caller, TrustTier
from shared.domain.errors import ReportNotFound, TokenConflict
from shared.domain.intake import status, submit_json
from tests.fakes import MemoryReportStore
from tests.samples import body, xarf

PARTNER_A = Caller(principal="arn:aws:iam::111111111111:role/partner-a", partner="A", tier=TrustTier.PARTNER)
PARTNER_B = Caller(principal="arn:aws:iam::222222222222:role/partner-b", partner="B", tier=TrustTier.PARTNER)


def test_a_new_report_costs_one_write_and_no_read():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store)
    assert (receipt.status, receipt.duplicate) == ("QUEUED", False)
    assert receipt.receipt_token
    assert (store.writes, store.reads, len(store.items)) == (1, 0, 1)


def test_replaying_a_client_token_returns_the_original_and_stores_nothing_new():
    store = MemoryReportStore()
    first = submit_json(body(clientToken="ticket-1"), PARTNER_A, store)
    again = submit_json(body(clientToken="ticket-1"), PARTNER_A, store, now=datetime.now(UTC) + timedelta(hours=2))
    assert again.report_id == first.report_id and again.duplicate
    assert again.receipt_token == first.receipt_token, "a retry that lost the first answer gets the receipt again"
    assert (store.writes, store.reads, len(store.items)) == (2, 0, 1)


def test_the_same_content_without_a_token_is_a_duplicate_even_with_a_new_xarf_id_and_timestamp():
    store = MemoryReportStore()
    first = submit_json(body(xarf(description="Fake  Bank login")), PARTNER_A, store)
    second = submit_json(body(xarf(description="fake bank LOGIN ")), PARTNER_A, store)
    assert second.report_id == first.report_id and second.duplicate
    assert len(store.items) == 1


def test_equivalent_spellings_of_a_resource_deduplicate():
    store = MemoryReportStore()
    first = submit_json(body(xarf(url="https://Login.Example.NET:443/account/verify#top")), PARTNER_A, store)
    second = submit_json(body(xarf(url="https://login.example.net/account/verify")), PARTNER_A, store)
    assert second.report_id == first.report_id


def test_reusing_a_client_token_for_other_content_is_a_conflict():
    store = MemoryReportStore()
    submit_json(body(xarf(description="one"), clientToken="ticket-1"), PARTNER_A, store)
    with pytest.raises(TokenConflict) as caught:
        submit_json(body(xarf(description="two"), clientToken="ticket-1"), PARTNER_A, store)
    assert caught.value.requirements[0].path == "/clientToken"
    assert len(store.items) == 1


def test_client_tokens_are_scoped_to_their_partner():
    store = MemoryReportStore()
    a = submit_json(body(clientToken="ticket-1"), PARTNER_A, store)
    b = submit_json(body(clientToken="ticket-1"), PARTNER_B, store)
    assert a.report_id != b.report_id and not b.duplicate


def test_the_same_content_from_two_partners_is_two_reports():
    store = MemoryReportStore()
    assert submit_json(body(), PARTNER_A, store).report_id != submit_json(body(), PARTNER_B, store).report_id


def test_status_is_shown_to_the_submitter_and_to_the_receipt_holder_only():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store)
    assert status(receipt.report_id, PARTNER_A, None, store).status == "QUEUED"
    assert status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store).report_id == receipt.report_id
    for caller, token in [(PARTNER_B, None), (ANONYMOUS, None), (ANONYMOUS, "forged"), (PARTNER_B, "x" * 32)]:
        with pytest.raises(ReportNotFound):
            status(receipt.report_id, caller, token, store)


def test_anonymous_reports_are_not_readable_by_other_anonymous_callers():
    store = MemoryReportStore()
    receipt = submit_json(body(), ANONYMOUS, store)
    with pytest.raises(ReportNotFound):
        status(receipt.report_id, ANONYMOUS, None, store)
    assert status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store).status == "QUEUED"


@pytest.mark.parametrize("report_id", ["", "nope", "0" * 26, "Z" * 26, "01KB" + "!" * 22])
def test_malformed_or_unknown_report_ids_are_not_found(report_id):
    with pytest.raises(ReportNotFound):
        status(report_id, PARTNER_A, None, MemoryReportStore())


def test_a_report_id_with_the_right_key_but_another_time_is_not_found():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store)
    original = bytes(ULID.from_str(receipt.report_id))
    forged = str(ULID.from_bytes((int.from_bytes(original[:6], "big") + 1).to_bytes(6, "big") + original[6:]))
    assert forged != receipt.report_id
    with pytest.raises(ReportNotFound):
        status(forged, PARTNER_A, None, store)


def test_objects_in_protected_buckets_are_queued_and_others_only_recorded():
    store = MemoryReportStore()
    report = xarf(
        source_identifier="s3://someone-elses-bucket/x.html",
        url="https://demo-customer-content.s3.amazonaws.com/pages/login.html",
    )
    submit_json(body(report), PARTNER_A, store, protected_buckets=frozenset({"demo-customer-content"}))
    (record,) = store.items.values()
    assert record.s3_objects == ("s3://demo-customer-content/pages/login.html",)
    assert record.out_of_scope == ("s3://someone-elses-bucket/x.html",)
