"""Intake's promises: one write per report, duplicates answered with the original, status only to the entitled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from shared.domain.callers import ANONYMOUS, Caller, TrustTier
from shared.domain.errors import ReportNotFound, TokenConflict
from shared.domain.intake import status, submit_json
from tests.fakes import MemoryReportStore
from tests.samples import SERVER_SECRET, body, xarf

PARTNER_A = Caller(principal="arn:aws:iam::111111111111:role/partner-a", partner="A", tier=TrustTier.PARTNER)
PARTNER_B = Caller(principal="arn:aws:iam::222222222222:role/partner-b", partner="B", tier=TrustTier.PARTNER)


def test_a_new_report_costs_one_write_and_no_read():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET)
    assert (receipt.status, receipt.duplicate) == ("QUEUED", False)
    assert receipt.receipt_token
    assert (store.writes, store.reads, len(store.items)) == (1, 0, 1)


def test_replaying_a_client_token_returns_the_original_and_stores_nothing_new():
    store = MemoryReportStore()
    first = submit_json(body(clientToken="ticket-1"), PARTNER_A, store, secret=SERVER_SECRET)
    again = submit_json(
        body(clientToken="ticket-1"), PARTNER_A, store, now=datetime.now(UTC) + timedelta(hours=2), secret=SERVER_SECRET
    )
    assert again.report_id == first.report_id and again.duplicate
    assert again.receipt_token == first.receipt_token, "a retry that lost the first answer gets the receipt again"
    assert (store.writes, store.reads, len(store.items)) == (2, 0, 1)


def test_the_same_content_without_a_token_is_a_duplicate_even_with_a_new_xarf_id_and_timestamp():
    store = MemoryReportStore()
    first = submit_json(body(xarf(description="Fake  Bank login")), PARTNER_A, store, secret=SERVER_SECRET)
    second = submit_json(body(xarf(description="fake bank LOGIN ")), PARTNER_A, store, secret=SERVER_SECRET)
    assert second.report_id == first.report_id and second.duplicate
    assert len(store.items) == 1


def test_equivalent_spellings_of_a_resource_deduplicate():
    store = MemoryReportStore()
    first = submit_json(
        body(xarf(url="https://Login.Example.NET:443/account/verify#top")), PARTNER_A, store, secret=SERVER_SECRET
    )
    second = submit_json(
        body(xarf(url="https://login.example.net/account/verify")), PARTNER_A, store, secret=SERVER_SECRET
    )
    assert second.report_id == first.report_id


def test_reusing_a_client_token_for_other_content_is_a_conflict():
    store = MemoryReportStore()
    submit_json(body(xarf(description="one"), clientToken="ticket-1"), PARTNER_A, store, secret=SERVER_SECRET)
    with pytest.raises(TokenConflict) as caught:
        submit_json(body(xarf(description="two"), clientToken="ticket-1"), PARTNER_A, store, secret=SERVER_SECRET)
    assert caught.value.requirements[0].path == "/clientToken"
    assert len(store.items) == 1


def test_client_tokens_are_scoped_to_their_partner():
    store = MemoryReportStore()
    a = submit_json(body(clientToken="ticket-1"), PARTNER_A, store, secret=SERVER_SECRET)
    b = submit_json(body(clientToken="ticket-1"), PARTNER_B, store, secret=SERVER_SECRET)
    assert a.report_id != b.report_id and not b.duplicate


def test_the_same_content_from_two_partners_is_two_reports():
    store = MemoryReportStore()
    assert (
        submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET).report_id
        != submit_json(body(), PARTNER_B, store, secret=SERVER_SECRET).report_id
    )


def test_status_is_shown_to_the_submitter_and_to_the_receipt_holder_only():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET)
    assert status(receipt.report_id, PARTNER_A, None, store).status == "QUEUED"
    assert status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store).report_id == receipt.report_id
    for caller, token in [(PARTNER_B, None), (ANONYMOUS, None), (ANONYMOUS, "forged"), (PARTNER_B, "x" * 32)]:
        with pytest.raises(ReportNotFound):
            status(receipt.report_id, caller, token, store)


def test_anonymous_reports_are_not_readable_by_other_anonymous_callers():
    store = MemoryReportStore()
    receipt = submit_json(body(), ANONYMOUS, store, secret=SERVER_SECRET)
    with pytest.raises(ReportNotFound):
        status(receipt.report_id, ANONYMOUS, None, store)
    assert status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store).status == "QUEUED"


@pytest.mark.parametrize("report_id", ["", "nope", "0" * 26, "Z" * 26, "01KB" + "!" * 22])
def test_malformed_or_unknown_report_ids_are_not_found(report_id):
    with pytest.raises(ReportNotFound):
        status(report_id, PARTNER_A, None, MemoryReportStore())


def test_a_report_id_with_the_right_key_but_another_time_is_not_found():
    store = MemoryReportStore()
    receipt = submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET)
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
    submit_json(
        body(report), PARTNER_A, store, protected_buckets=frozenset({"demo-customer-content"}), secret=SERVER_SECRET
    )
    (record,) = store.items.values()
    assert record.s3_objects == ("s3://demo-customer-content/pages/login.html",)
    assert record.out_of_scope == ("s3://someone-elses-bucket/x.html",)


def test_a_duplicate_without_a_client_token_hands_its_caller_the_same_receipt_and_no_one_else_any():
    store = MemoryReportStore()
    first = submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET)
    again = submit_json(body(), PARTNER_A, store, secret=SERVER_SECRET)
    other = submit_json(body(), PARTNER_B, store, secret=SERVER_SECRET)
    assert again.duplicate and again.receipt_token == first.receipt_token
    assert not other.duplicate and other.receipt_token != first.receipt_token
    assert status(first.report_id, ANONYMOUS, again.receipt_token, store).report_id == first.report_id


def test_another_partners_report_id_and_receipt_cannot_be_computed_from_what_an_attacker_knows():
    """The attack of issue 11: principal, ticket-style clientToken and the submission second are known; before the
    server secret, hashing them gave the receipt and the id. 10,000 such guesses must find nothing."""
    import base64
    import hashlib

    store = MemoryReportStore()
    victim = Caller(principal="arn:aws:iam::333333333333:role/victim", partner="V", tier=TrustTier.PARTNER)
    second = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    receipt = submit_json(body(clientToken="TICKET-4711"), victim, store, secret=SERVER_SECRET, now=second)

    def unkeyed(*parts: str) -> bytes:
        return hashlib.sha256("\x00".join(parts).encode()).digest()

    found = 0
    for token in (f"TICKET-{n}" for n in range(4706, 4716)):  # the ticket number, give or take five
        guessed_receipt = base64.urlsafe_b64encode(unkeyed("receipt-v1", victim.scope, token)[:24]).decode().rstrip("=")
        seed = unkeyed("token-v1", victim.scope, token)[:10]
        for millisecond in range(1000):
            stamp = int(second.timestamp() * 1000) + millisecond
            guessed_id = str(ULID.from_bytes(stamp.to_bytes(6, "big") + seed))
            for token_guess in (guessed_receipt, None):
                try:
                    status(guessed_id, PARTNER_A, token_guess, store)
                except ReportNotFound:
                    continue
                found += 1
    assert found == 0
    assert status(receipt.report_id, ANONYMOUS, receipt.receipt_token, store).report_id == receipt.report_id


def test_ids_and_receipts_change_with_the_server_secret():
    store, other_store = MemoryReportStore(), MemoryReportStore()
    one = submit_json(body(clientToken="t-1"), PARTNER_A, store, secret=SERVER_SECRET)
    two = submit_json(body(clientToken="t-1"), PARTNER_A, other_store, secret=b"another-server-secret-0123456789abcdef")
    assert one.report_id[10:] != two.report_id[10:] and one.receipt_token != two.receipt_token
