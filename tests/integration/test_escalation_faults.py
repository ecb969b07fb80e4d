"""Faults at every AWS call of the escalation worker, and a killed pipeline at every call of it, then recovery.

1. The escalation worker, one CSAM message, its clean run being: GetItem (the case), ListObjectsV2 (the preserved
   versions), GetItem (the custody event with the hashes), PutObject (the draft), Publish (on-call), UpdateItem (what
   was done). Each call fails in turn, before or after AWS did the work; the message is delivered again until it
   succeeds. One draft (a repeat writes the same bytes to the same key), one page (a repeat has the same
   notificationId, and happens only when the failure came after SNS took the first).
2. The whole pipeline behind the intake (dispatcher, quarantine worker, escalation worker) for one accepted report,
   killed at each of its AWS calls, before or after the call, then started again: the stream batch comes again (its
   checkpoint never moved), queue messages the dead process held come back (their visibility timeout runs out).
   Every report ends in its case, with exactly one held copy of its object and one draft, and on-call told once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest

from functions.dispatcher.handler import lambda_handler as dispatcher
from functions.escalation.handler import lambda_handler as escalation
from functions.quarantine.handler import lambda_handler as quarantine
from local.demo import DEMO_OBJECTS
from tests.conftest import (
    FunctionContext,
    ProcessKilled,
    drive_queue,
    published,
    report_items,
    sqs_records,
    stream_event,
)
from tests.integration.test_dispatch import PARTNER_A, case, csam, partners, status_of, submit  # noqa: F401
from tests.integration.test_escalation import CHILD_CASE, draft, drafts, run_pipeline

pytestmark = pytest.mark.usefixtures("partners", "demo_bucket")

ESCALATION_RUN = ["GetItem", "ListObjectsV2", "GetItem", "PutObject", "Publish", "UpdateItem"]
KINDS = [("before", "ClientError"), ("before", "EndpointConnectionError"), ("after", "EndpointConnectionError")]
PIXEL = DEMO_OBJECTS["images/pixel.png"][1]


def received_escalation(world) -> dict[str, Any]:
    sqs = boto3.client("sqs")
    url = world.queue_url("EscalationQueue")
    # The dispatcher's request; the quarantine worker's (the copy is verified) waits behind it in the case's group.
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
    return {"Records": sqs_records(world, "EscalationQueue", [message])}


@pytest.mark.parametrize("call", range(len(ESCALATION_RUN) + 1))
@pytest.mark.parametrize(("timing", "error"), KINDS)
def test_a_failed_call_of_the_escalation_worker_then_redelivery_gives_one_draft_and_one_incident(
    world, faults, call, timing, error
):
    submit(csam(), PARTNER_A)
    run_pipeline_until_escalation(world)
    event = received_escalation(world)

    faults.arm(call, timing, error)
    answers = [escalation(event, FunctionContext("EscalationFunction"))]
    if call < len(ESCALATION_RUN):
        assert faults.failed == ESCALATION_RUN[call], faults.operations
        assert answers[0]["batchItemFailures"], "a failed call is never reported as success"
    else:
        assert faults.operations == ESCALATION_RUN
    while answers[-1]["batchItemFailures"] and len(answers) < 5:
        answers.append(escalation(event, FunctionContext("EscalationFunction")))
    assert answers[-1] == {"batchItemFailures": []}

    versions = drafts(world)
    assert {v["Key"] for v in versions} == {f"ncmec/{CHILD_CASE}.xml"}, "one draft"
    bucket = world.physical_name("EvidenceBucket")
    bodies = {
        boto3.client("s3").get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        for v in versions
    }
    assert len(bodies) == 1, "a repeated write is the same draft"
    hashes = {e.get("hashType"): e.text for e in draft(world, CHILD_CASE).iter("originalFileHash")}
    assert hashes["SHA256"] == hashlib.sha256(PIXEL).hexdigest()

    pages = published(world)
    assert {p["message"]["notificationId"] for p in pages} == {f"{CHILD_CASE}:P0"}
    # A second page only when SNS took the first and the record of it was not written: the window between the two.
    published_unrecorded = (call, timing) in (
        (ESCALATION_RUN.index("Publish"), "after"),
        (ESCALATION_RUN.index("UpdateItem"), "before"),
    )
    assert len(pages) == (2 if published_unrecorded else 1)
    stored = case(world, CHILD_CASE)
    assert stored["notifiedSeverity"]["S"] == "P0"
    assert stored["draftSha256"]["S"] == hashlib.sha256(bodies.pop()).hexdigest()


def run_pipeline_until_escalation(world) -> None:
    deliver(stream_event(world, report_items(world))["Records"])
    drive_queue(world, "QuarantineQueue", quarantine, "QuarantineFunction")


def deliver(records: list[dict[str, Any]]) -> None:
    answer = dispatcher({"Records": records}, FunctionContext("DispatcherFunction"))
    assert answer == {"batchItemFailures": []}


# --- killed and restarted -----------------------------------------------------------------------------------------


# The AWS calls the pipeline makes for one CSAM report (dispatcher 8, quarantine worker 12 with its word that the copy
# is verified, escalation worker 6 for the dispatcher's request and 3 for the quarantine worker's, which finds the
# draft current and the case notified). A
# test below counts them on a clean run, so a pipeline that grows a call cannot leave it out of the kill matrix.
CLEAN_PIPELINE_CALLS = 29


@pytest.mark.parametrize("call", range(CLEAN_PIPELINE_CALLS))
@pytest.mark.parametrize("timing", ["before", "after"])
def test_a_pipeline_killed_at_any_call_and_restarted_ends_with_one_copy_one_draft_and_one_page(
    world, faults, call, timing
):
    receipt = submit(csam(), PARTNER_A)  # the 202: from here on the report must not be lost
    faults.arm(call, timing, "Killed")
    try:
        run_pipeline_releasing_on_death(world)
    except ProcessKilled:
        pass
    else:
        pytest.fail(f"the pipeline made only {len(faults.operations)} calls: {faults.operations}")
    killed_at = faults.failed
    faults.arm(-1, timing, "Killed")  # disarmed: the restarted stack runs clean
    run_pipeline(world)
    run_pipeline(world)  # and once more, as after a second restart: nothing changes

    assert status_of(receipt)["caseId"] == CHILD_CASE, killed_at
    assert case(world, CHILD_CASE)["reportCount"]["N"] == "1"
    bucket = world.physical_name("EvidenceBucket")
    copies = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix="evidence/")["Versions"]
    assert len(copies) == 1, f"one held copy (killed at {killed_at})"
    hold = boto3.client("s3").get_object_legal_hold(
        Bucket=bucket, Key=copies[0]["Key"], VersionId=copies[0]["VersionId"]
    )
    assert hold["LegalHold"]["Status"] == "ON"
    assert {v["Key"] for v in drafts(world)} == {f"ncmec/{CHILD_CASE}.xml"}, "one draft"
    hashes = {e.get("hashType"): e.text for e in draft(world, CHILD_CASE).iter("originalFileHash")}
    assert hashes == {"SHA256": hashlib.sha256(PIXEL).hexdigest(), "MD5": hashlib.md5(PIXEL).hexdigest()}  # noqa: S324
    assert {p["message"]["notificationId"] for p in published(world)} == {f"{CHILD_CASE}:P0"}


def test_the_kill_matrix_covers_every_call_of_a_clean_run(world, pipeline_calls):
    submit(csam(), PARTNER_A)
    pipeline_calls.clear()
    run_pipeline(world)
    assert sum(pipeline_calls.values()) == CLEAN_PIPELINE_CALLS, pipeline_calls


def run_pipeline_releasing_on_death(world) -> None:
    """The pipeline, as a process that may die: queue messages it held become visible again (their timeout ran out)."""
    deliver(stream_event(world, report_items(world))["Records"])
    for logical_id, handler, name in (
        ("QuarantineQueue", quarantine, "QuarantineFunction"),
        ("EscalationQueue", escalation, "EscalationFunction"),
    ):
        sqs = boto3.client("sqs")
        url = world.queue_url(logical_id)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        try:
            handler({"Records": sqs_records(world, logical_id, messages)}, FunctionContext(name))
        except ProcessKilled:
            for message in messages:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            raise
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
