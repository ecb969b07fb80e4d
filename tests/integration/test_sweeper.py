"""The sweeper under moto: what the dispatcher dropped is found through the sparse indexes and reaches its case.

The dispatch is made to fail by a botocore hook on the dispatcher's counting transaction, every time, as a hot shard
or an outage would; Lambda then gives the batch up to the on-failure queue (which holds positions, not records). The
sweeper, run 16 minutes later, must find the reports through QueuedIndex (a Query, never a Scan) and count them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.escalation.handler import lambda_handler as escalation_worker
from functions.sweeper.handler import lambda_handler as sweeper
from shared.adapters import aws
from shared.domain.cases import case_id_for
from tests.conftest import FunctionContext, drain, pipeline_clients, report_items, sqs_records, stream_event
from tests.integration.test_dispatch import (
    PARTNER_A,
    PARTNER_B,
    PIXEL_URI,
    case,
    csam,
    dispatch,
    item,
    partners,  # noqa: F401 - the fixture, used by name below
    status_of,
    submit,
)
from tests.samples import xarf


def scheduled(at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "a7c5e9e4-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"],
        "detail": {},
    }


def sweep(at: datetime) -> dict[str, Any]:
    return sweeper(scheduled(at), FunctionContext("SweeperFunction"))


class Calls:
    """Every operation the product's clients make; and, while `refuse` is set, each of those fails before AWS."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.refuse: set[str] = set()

    def before(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name in self.refuse:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, model.name)


@pytest.fixture
def calls(world):
    recorder = Calls()
    for client in pipeline_clients():
        client.meta.events.register("before-call.*.*", recorder.before)
    yield recorder
    for client in pipeline_clients():
        client.meta.events.unregister("before-call.*.*", recorder.before)


def stored_bytes(value: dict[str, Any]) -> int:
    """An attribute's size as DynamoDB bills it (names and values in UTF-8; lists and maps 3 bytes + 1 per element)."""
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return len(str(inner).encode())
    if kind == "BOOL":
        return 1
    if kind == "L":
        return 3 + sum(1 + stored_bytes(member) for member in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + stored_bytes(member) for name, member in inner.items())
    return sum(len(member.encode()) for member in inner)  # SS


def item_bytes(stored: dict[str, Any]) -> int:
    return sum(len(name.encode()) + stored_bytes(value) for name, value in stored.items())


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.usefixtures("partners")
def test_a_report_whose_dispatch_failed_is_found_by_the_sweeper_and_reaches_its_case(world, calls):
    child = submit(csam(), PARTNER_A)
    phishing = submit(xarf(url="https://login.example.net/account/verify"), PARTNER_B)
    items = report_items(world)
    assert all(i["queuedShard"]["S"].startswith("QUEUED#") for i in items), "QUEUED reports are in the sweep index"
    assert max(item_bytes(i) for i in items) < 1024, "and still one write unit each"
    received = max(parsed(i["receivedAt"]["S"]) for i in items)

    calls.refuse = {"TransactWriteItems"}
    records = stream_event(world, items)["Records"]
    for _ in range(6):  # the first delivery and MaximumRetryAttempts (5): then Lambda gives the batch up
        assert dispatch(records), "the failed batch is reported failed"
    calls.refuse = set()
    assert status_of(child)["status"] == status_of(phishing, PARTNER_B)["status"] == "QUEUED"

    early = sweep(received + timedelta(minutes=14))
    assert (early["queuedFound"], early["redispatched"]) == (0, 0), "not due before 15 minutes"
    assert status_of(child)["status"] == "QUEUED"

    calls.operations.clear()
    found = sweep(received + timedelta(minutes=16))
    assert (found["queuedFound"], found["redispatched"], found["failed"]) == (2, 2, 0)
    assert found["oldestQueuedAgeSeconds"] > 15 * 60, "the event time is to the second; both are older than 15 min"
    assert calls.operations["Query"] >= 1 and calls.operations["Scan"] == 0, calls.operations

    child_case = case_id_for(PIXEL_URI, "child_safety")
    phishing_case = case_id_for("https://login.example.net/account/verify", "content")
    assert (status_of(child)["status"], status_of(child)["caseId"]) == ("PROCESSING", child_case)
    assert (status_of(phishing, PARTNER_B)["status"], status_of(phishing, PARTNER_B)["caseId"]) == (
        "PROCESSING",
        phishing_case,
    )
    assert case(world, child_case)["reportCount"]["N"] == case(world, phishing_case)["reportCount"]["N"] == "1"
    assert all("queuedShard" not in report for report in report_items(world)), "counted: out of the index"
    quarantine = drain(world.queue_url("QuarantineQueue"))
    assert [(m["report_id"], m["key"]) for m in quarantine] == [(child["reportId"], "images/pixel.png")]
    escalations = drain(world.queue_url("EscalationQueue"))
    assert Counter(m["report_id"] for m in escalations) == {child["reportId"]: 1, phishing["reportId"]: 1}

    calls.operations.clear()
    again = sweep(received + timedelta(minutes=21))
    assert (again["queuedFound"], again["redispatched"]) == (0, 0), "a second sweep finds nothing"
    assert calls.operations["Scan"] == 0 and calls.operations["TransactWriteItems"] == 0
    assert case(world, child_case)["reportCount"]["N"] == "1", "and changes nothing"
    assert drain(world.queue_url("EscalationQueue")) == [] and drain(world.queue_url("QuarantineQueue")) == []


def test_a_healthy_pipeline_gives_the_sweeper_nothing_to_do(world, calls):
    submit(xarf(url="https://login.example.net/account/verify"), PARTNER_B)
    items = report_items(world)
    assert dispatch(stream_event(world, items)["Records"]) == []
    result = sweep(parsed(items[0]["receivedAt"]["S"]) + timedelta(hours=1))
    assert result == {
        "queuedListed": 0,
        "queuedFound": 0,
        "redispatched": 0,
        "failed": 0,
        "oldestQueuedAgeSeconds": 0,
        "waitingFound": 0,
        "resent": 0,
    }


def test_a_draft_waiting_for_its_evidence_is_sent_again_after_15_minutes(world, calls):
    """The escalation worker records the wait on the case; the quarantine worker's word that the copy is verified then
    never comes (here: the copy is never made)."""
    submit(csam(), PARTNER_A)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    drain(world.queue_url("QuarantineQueue"))  # the copy is never made: the draft waits for it
    sqs = boto3.client("sqs")
    url = world.queue_url("EscalationQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    answer = escalation_worker(
        {"Records": sqs_records(world, "EscalationQueue", messages)}, FunctionContext("EscalationFunction")
    )
    assert answer["batchItemFailures"] == [], "the draft is written without its file; the message does not wait"
    child_case = case_id_for(PIXEL_URI, "child_safety")
    since = case(world, child_case)["awaitingEvidenceSince"]["S"]
    for message in messages:  # as Lambda does with the messages a batch did not report failed
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    assert sweep(parsed(since) + timedelta(minutes=10))["waitingFound"] == 0, "not due before 15 minutes"
    result = sweep(parsed(since) + timedelta(minutes=16))
    assert (result["waitingFound"], result["resent"]) == (1, 1)
    assert calls.operations["Scan"] == 0
    (request,) = drain(world.queue_url("EscalationQueue"))
    assert (request["case_id"], request["child_safety"]) == (child_case, True)


def test_the_report_item_leaves_the_index_when_counted_and_stays_in_it_otherwise(world):
    receipt = submit(xarf(url="https://login.example.net/account/verify"), PARTNER_B)
    (stored,) = report_items(world)
    key = stored["PK"]["S"]
    answer = aws.dynamodb().query(
        TableName=world.physical_name("ReportsTable"),
        IndexName="QueuedIndex",
        KeyConditionExpression="queuedShard = :shard",
        ExpressionAttributeValues={":shard": stored["queuedShard"]},
    )
    assert [i["PK"]["S"] for i in answer["Items"]] == [key]
    assert dispatch(stream_event(world, [stored])["Records"]) == []
    assert "queuedShard" not in item(world, key, "REPORT")
    assert status_of(receipt, PARTNER_B)["status"] == "PROCESSING"
