"""Fault injection at every AWS call the dispatcher makes, then redelivery: nothing lost, nothing counted twice.

A clean batch of these four reports in three new cases makes twelve calls: BatchGetItem (the cases),
BatchWriteItem (the partners' contact details moved into their expiring items), TransactWriteItems (the reports
marked, with their increment item), UpdateItem x3 (each case created by its ADD), DeleteItem (the increment
discarded), SendMessageBatch (quarantine), SendMessageBatch (escalation), UpdateItem x3 (each case's pending ids
cleared); no settle, as each case's first write sets what it holds. Each is failed in turn, before it reaches AWS or
after AWS did the work (the answer lost), and the batch is delivered again as Lambda would until it succeeds.

Counts and case assignments must be exact. Escalations must be exactly one per report (FIFO deduplication by report
id). Quarantine requests go to a standard queue, at least once: a request is sent twice only when its report's
sends were not all confirmed (a failure at or after the first send), and the quarantine worker is idempotent.
"""

from __future__ import annotations

from collections import Counter

import pytest

from shared.domain.cases import case_id_for
from tests.conftest import drain, report_items, stream_event
from tests.integration.test_dispatch import (
    PARTNER_A,
    PARTNER_B,
    PIXEL_URI,
    case,
    csam,
    deliver_until_done,
    dispatch,
    partners,  # noqa: F401 - the fixture, used by name below
    status_of,
    submit,
)
from tests.samples import xarf

CLEAN_RUN = [
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    *["UpdateItem"] * 3,
    "DeleteItem",
    "SendMessageBatch",
    "SendMessageBatch",
    *["UpdateItem"] * 3,
]
FIRST_SEND = CLEAN_RUN.index("SendMessageBatch")
KINDS = [("before", "ClientError"), ("before", "EndpointConnectionError"), ("after", "EndpointConnectionError")]


@pytest.mark.usefixtures("partners")
@pytest.mark.parametrize("call", range(len(CLEAN_RUN) + 1))
@pytest.mark.parametrize(("timing", "error"), KINDS)
def test_a_failed_call_then_redelivery_converges_to_exact_counts_and_every_message(world, faults, call, timing, error):
    a = submit(csam(), PARTNER_A)
    b = submit(csam(source_identifier="198.51.100.23"), PARTNER_B)
    c = submit(xarf(url="https://login.example.net/account/verify"), PARTNER_B)
    d = submit(xarf(url="https://demo-customer-content.s3.amazonaws.com/pages/login.html"), principal=None)
    records = stream_event(world, report_items(world))["Records"]

    faults.arm(call, timing, error)
    first_failures = dispatch(records)
    if call < len(CLEAN_RUN):
        assert faults.failed == CLEAN_RUN[call], faults.operations
        assert first_failures, "a failed call is never reported as success"
    else:
        assert faults.operations == CLEAN_RUN and first_failures == []
    deliver_until_done(records)
    assert dispatch(records) == [], "and a later redelivery changes nothing"

    child, phishing = (
        case_id_for(PIXEL_URI, "child_safety"),
        case_id_for("https://login.example.net/account/verify", "content"),
    )
    public = case_id_for("s3://demo-customer-content/pages/login.html", "content")
    for receipt, principal, case_id in ((a, PARTNER_A, child), (b, PARTNER_B, child), (c, PARTNER_B, phishing)):
        assert status_of(receipt, principal) | {"receivedAt": None} == {
            "reportId": receipt["reportId"],
            "status": "PROCESSING",
            "receivedAt": None,
            "caseId": case_id,
        }
    for case_id, count in ((child, "2"), (phishing, "1"), (public, "1")):
        stored = case(world, case_id)
        assert stored["reportCount"]["N"] == count
        assert "pendingFanout" not in stored, "every send confirmed in the end"

    escalations = Counter(m["report_id"] for m in drain(world.queue_url("EscalationQueue")))
    assert escalations == {a["reportId"]: 1, b["reportId"]: 1, c["reportId"]: 1}
    quarantine = Counter((m["report_id"], m["key"]) for m in drain(world.queue_url("QuarantineQueue")))
    assert set(quarantine) == {
        (a["reportId"], "images/pixel.png"),
        (b["reportId"], "images/pixel.png"),
        (d["reportId"], "pages/login.html"),
    }
    sends_unconfirmed = call > FIRST_SEND or (call == FIRST_SEND and timing == "after")
    if call < len(CLEAN_RUN) and sends_unconfirmed:
        assert max(quarantine.values()) <= 2
    else:
        assert set(quarantine.values()) == {1}
