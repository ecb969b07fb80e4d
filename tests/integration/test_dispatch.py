"""The dispatcher as Lambda runs it: the table's stream in, cases and queue messages out, under moto.

Reports are submitted through the intake handler, read back from the table and shaped into stream records the way
Lambda's DynamoDB event source shapes them. Redelivery follows Lambda's rule for streams: after a partial failure the
shard resumes at the first failed sequence number, so everything after it comes again too.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from functions.dispatcher.handler import lambda_handler as dispatcher
from functions.intake.handler import lambda_handler as intake
from local.template import event_sources, load_template
from shared.adapters.cases_table import reporter_record_key
from shared.adapters.reports_table import to_item
from shared.config import settings
from shared.domain.cases import case_id_for, reporter_key
from tests.conftest import FunctionContext, drain, load_event, report_items, stream_event, stream_record
from tests.samples import well_formed, with_fresh_timestamp, xarf

PARTNER_A = "arn:aws:iam::111111111111:role/hotline-a"
PARTNER_B = "arn:aws:iam::222222222222:role/hotline-b"
PIXEL = "https://demo-customer-content.s3.amazonaws.com/images/pixel.png"
PIXEL_URI = "s3://demo-customer-content/images/pixel.png"


@pytest.fixture
def partners(world, monkeypatch):
    monkeypatch.setenv(
        "PARTNERS",
        json.dumps({PARTNER_A: {"name": "Hotline A", "tier": 2}, PARTNER_B: {"name": "Hotline B", "tier": 2}}),
    )
    settings.cache_clear()


def submit(report: dict[str, Any], principal: str | None = PARTNER_A, token: str | None = None) -> dict[str, Any]:
    event = load_event("submit_report.json")
    envelope: dict[str, Any] = {"report": report}
    if token:
        envelope["clientToken"] = token
    event["body"] = json.dumps(envelope)
    identity = event["requestContext"]["identity"]
    identity["userArn"], identity["accessKey"] = principal, None
    answer = intake(event, FunctionContext("IntakeFunction"))
    assert answer["statusCode"] == 202, answer["body"]
    return json.loads(answer["body"])


def status_of(receipt: dict[str, Any], principal: str = PARTNER_A) -> dict[str, Any]:
    event = load_event("get_report.json")
    event["pathParameters"] = {"reportId": receipt["reportId"]}
    event["path"] = f"/v1/reports/{receipt['reportId']}"
    event["requestContext"]["identity"]["userArn"] = principal
    answer = intake(event, FunctionContext("IntakeFunction"))
    assert answer["statusCode"] == 200, answer["body"]
    return json.loads(answer["body"])


def dispatch(records: list[dict[str, Any]]) -> list[str]:
    answer = dispatcher({"Records": records}, FunctionContext("DispatcherFunction"))
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def deliver_until_done(records: list[dict[str, Any]], attempts: int = 6) -> int:
    """Deliver a batch as Lambda would, resuming at the first failure each time; the number of deliveries."""
    for delivery in range(1, attempts + 1):
        failed = dispatch(records)
        if not failed:
            return delivery
        first = min(n for n, record in enumerate(records) if record["dynamodb"]["SequenceNumber"] in failed)
        records = records[first:]
    raise AssertionError(f"still failing after {attempts} deliveries: {failed}")


def item(world, pk: str, sk: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(
        TableName=world.physical_name("ReportsTable"), Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    )["Item"]


def case(world, case_id: str) -> dict[str, Any]:
    return item(world, f"CASE#{case_id}", "CASE")


def csam(url: str = PIXEL, **fields: Any) -> dict[str, Any]:
    return {**well_formed("content", "csam"), "url": url, **fields}


def test_a_dispatched_report_shows_its_case_and_processing_to_its_submitter(world):
    receipt = submit(json.loads(with_fresh_timestamp(load_event("submit_report.json"))["body"])["report"])
    assert status_of(receipt)["status"] == "QUEUED"
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    view = status_of(receipt)
    expected = case_id_for("s3://demo-customer-content/pages/login.html", "content")
    assert (view["status"], view["caseId"]) == ("PROCESSING", expected)
    (request,) = drain(world.queue_url("QuarantineQueue"))
    assert request == {
        "report_id": receipt["reportId"],
        "case_id": expected,
        "bucket": "demo-customer-content",
        "key": "pages/login.html",
        "version_id": None,
        "restrict": False,  # a signed principal with no partner agreement does not take content down
        "category": "content",
        "type": "phishing",
    }
    assert drain(world.queue_url("EscalationQueue")) == []


def test_the_same_batch_delivered_five_times_counts_once_and_sends_once(world, partners):
    first = submit(csam(), PARTNER_A)
    second = submit(csam(source_identifier="198.51.100.23"), PARTNER_B)
    phishing = submit(xarf(url="https://login.example.net/account/verify"), PARTNER_B)
    records = stream_event(world, report_items(world))["Records"]
    for _ in range(5):
        assert dispatch(records) == []

    child_case = case_id_for(PIXEL_URI, "child_safety")
    stored = case(world, child_case)
    assert (stored["reportCount"]["N"], stored["reporterCount"]["N"], stored["severity"]["S"]) == ("2", "2", "P0")
    assert "pendingFanout" not in stored
    assert status_of(first, PARTNER_A)["caseId"] == status_of(second, PARTNER_B)["caseId"] == child_case
    assert status_of(phishing, PARTNER_B)["caseId"] != child_case

    quarantine = drain(world.queue_url("QuarantineQueue"))
    assert sorted((m["report_id"], m["key"], m["restrict"]) for m in quarantine) == sorted(
        [(first["reportId"], "images/pixel.png", True), (second["reportId"], "images/pixel.png", True)]
    )
    escalations = drain(world.queue_url("EscalationQueue"))
    assert Counter(m["report_id"] for m in escalations) == {
        first["reportId"]: 1,
        second["reportId"]: 1,
        phishing["reportId"]: 1,
    }
    assert {m["severity"] for m in escalations if m["child_safety"]} == {"P0"}


def test_escalations_are_grouped_by_case_and_deduplicated_by_report(world, partners, pipeline_calls):
    submit(csam(), PARTNER_A)
    records = stream_event(world, report_items(world))["Records"]
    sent: list[dict[str, Any]] = []
    aws_sqs = __import__("shared.adapters.aws", fromlist=["sqs"]).sqs()

    def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "SendMessageBatch" and params["QueueUrl"].endswith(".fifo"):
            sent.extend(params["Entries"])

    aws_sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", capture)
    dispatch(records)
    (entry,) = sent
    message = json.loads(entry["MessageBody"])
    assert entry["MessageGroupId"] == message["case_id"]
    assert entry["MessageDeduplicationId"] == message["report_id"]


def test_a_poison_record_fails_alone_then_lambda_resumes_there_and_nothing_is_doubled(world, partners):
    receipts = [submit(xarf(url=f"https://login.example.net/{n}"), PARTNER_A) for n in range(4)]
    records = stream_event(world, report_items(world))["Records"]
    poison = stream_record(world, {"PK": {"S": "REPORT#x"}, "SK": {"S": "REPORT"}, "entity": {"S": "report"}}, 99)
    records.insert(2, poison)
    assert dispatch(records) == [poison["dynamodb"]["SequenceNumber"]]
    # Lambda resumes at the poison record: it and everything after it come again, and only it fails again.
    assert dispatch(records[2:]) == [poison["dynamodb"]["SequenceNumber"]]
    for receipt in receipts:
        assert status_of(receipt)["status"] == "PROCESSING"
    escalations = drain(world.queue_url("EscalationQueue"))
    assert sorted(m["report_id"] for m in escalations) == sorted(r["reportId"] for r in receipts)


def test_the_event_source_takes_batches_the_counting_transaction_can_hold():
    (source,) = [s for s in event_sources(load_template()) if s.function == "DispatcherFunction"]
    assert source.batch_size <= 99, "a batch's marks and its increment item go in one 100-action transaction"
    assert source.report_batch_item_failures and source.bisect_batch_on_function_error
    assert 0 <= source.maximum_retry_attempts <= 10 and source.on_failure_destination == "DispatcherFailureQueue"


@pytest.fixture
def moto_copies_a_table_once_per_transaction(monkeypatch):
    """moto backs a table up before a transaction once per action (the same, unchanged table each time): 91 copies of
    the table for a 91-action transaction. Copying it once is the same backup, 91 times cheaper. Test setup only."""
    import copy
    import types

    import moto.dynamodb.models as models

    real = models.DynamoDBBackend.transact_write_items

    def once(self: Any, transact_items: list[dict[str, Any]]) -> None:
        copies: dict[int, Any] = {}

        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not isinstance(value, models.Table):
                return copy.deepcopy(value, memo)
            if id(value) not in copies:
                copies[id(value)] = copy.deepcopy(value)
            return copies[id(value)]

        monkeypatch.setattr(models, "copy", types.SimpleNamespace(deepcopy=deepcopy))
        try:
            real(self, transact_items)
        finally:
            monkeypatch.setattr(models, "copy", copy)

    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items", once)


def test_a_viral_url_costs_a_few_case_writes_per_batch_none_in_a_transaction_and_a_tenth_of_an_sqs_call_per_message(
    world, pipeline_calls, moto_copies_a_table_once_per_transaction
):
    """10,000 public reports of one object, in the template's stream batches.

    moto copies the whole table, stream records included, on every transaction (seconds per transaction at 10,000
    items). So each batch's report items are written just before it is dispatched and removed once checked, and the
    stream shard is detached (these records are built here, not read from it). The dispatcher reads nothing of
    earlier batches' reports, so what it does is what it would do with all 10,000 in the table. The requests are
    counted as SQS accepts them, and the queue is emptied after each batch: moto's sends and receives slow down with
    every message a queue holds.
    """
    (source,) = [s for s in event_sources(load_template()) if s.function == "DispatcherFunction"]
    ddb = boto3.client("dynamodb")
    table = world.physical_name("ReportsTable")
    stored = _stored_report(world)
    _detach_stream(world, table)
    case_writes = _count_case_writes()
    pipeline_calls.clear()
    total, batches = 10_000, 0
    requests = _count_requests(world.queue_url("QuarantineQueue"))
    for start in range(0, total, source.batch_size):
        items = [_variant(stored, n) for n in range(start, min(total, start + source.batch_size))]
        _write(ddb, table, [{"PutRequest": {"Item": i}} for i in items])
        case_writes.append(Counter())
        assert dispatch([stream_record(world, i, start + n + 1) for n, i in enumerate(items)]) == []
        batches += 1
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in items]
        answer = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        assert sorted(i["status"]["S"] for i in answer["Responses"][table]) == ["PROCESSING"] * len(items)
        _write(ddb, table, [{"DeleteRequest": {"Key": key}} for key in keys])
        _forget_deleted(world, table)
        _empty_queue(world, "QuarantineQueue")

    viral = case(world, case_id_for(PIXEL_URI, "content"))
    assert viral["reportCount"]["N"] == str(total)
    assert all(writes["TransactWriteItems"] == 0 for writes in case_writes), "the case is never in a transaction"
    # Its ADD, then its pending ids cleared with the increment's token; no settle: these reports share one receivedAt.
    assert [writes["UpdateItem"] for writes in case_writes] == [2] * batches
    assert batches == -(-total // source.batch_size)
    assert len(requests) == total and set(requests.values()) == {1}, "one quarantine request per report"
    assert pipeline_calls["SendMessageBatch"] / total <= 0.1
    assert pipeline_calls["TransactWriteItems"] == batches, "one transaction of the batch's marks"
    assert pipeline_calls["BatchGetItem"] == batches and pipeline_calls["DeleteItem"] == batches
    assert pipeline_calls["UpdateItem"] == 2 * batches


def _moto_table(world, table: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[world.account_id][world.region].tables[table]


def _detach_stream(world, table: str) -> None:
    # moto's UpdateTable(StreamEnabled=False) keeps the shard and then fails every write (it looks up the view type
    # of a disabled stream), so the shard is detached in moto's own model: test setup, never product code.
    _moto_table(world, table).stream_shard = None


def _forget_deleted(world, table: str) -> None:
    # moto keeps an empty entry per deleted partition key, and copies those too on every transaction.
    model = _moto_table(world, table)
    for partition in [key for key, items in model.items.items() if not items]:
        del model.items[partition]


def _empty_queue(world, logical_id: str) -> None:
    # PurgeQueue is once a minute (moto enforces it too), and ReceiveMessage rescans the queue per call.
    from moto.sqs.models import sqs_backends

    sqs_backends[world.account_id][world.region].queues[world.physical_name(logical_id)]._messages.clear()


def _write(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for chunk in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={table: requests[chunk : chunk + 25]})


def _stored_report(world) -> dict[str, Any]:
    """One public phishing report of a protected object, as intake stores it (it will be quarantined, not escalated)."""
    submit({**xarf(url=PIXEL)}, principal=None)
    (stored,) = report_items(world)
    boto3.client("dynamodb").delete_item(
        TableName=world.physical_name("ReportsTable"), Key={"PK": stored["PK"], "SK": stored["SK"]}
    )
    return stored


def _variant(stored: dict[str, Any], n: int) -> dict[str, Any]:
    """Another report of the same object: its own key and id, otherwise the same item."""
    from shared.adapters.reports_table import from_item

    record = from_item(stored)
    key = f"{n:020x}"
    report_id = record.report_id[:10] + f"{n:016X}".replace("I", "J").replace("L", "M").replace("O", "P")
    return to_item(record.model_copy(update={"key_hex": key, "report_id": report_id}))


def _count_requests(queue_url: str) -> Counter[str]:
    """Report ids of the messages SQS accepted for one queue, counted from the dispatcher's client."""
    from shared.adapters import aws

    sent: Counter[str] = Counter()

    def count(params: dict[str, Any], parsed: dict[str, Any], **_: Any) -> None:
        if params.get("QueueUrl") != queue_url:
            return
        accepted = {entry["Id"] for entry in parsed.get("Successful", [])}
        sent.update(json.loads(e["MessageBody"])["report_id"] for e in params["Entries"] if e["Id"] in accepted)

    calls: list[dict[str, Any]] = []
    aws.sqs().meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: calls.append(params)
    )
    aws.sqs().meta.events.register("after-call.sqs.SendMessageBatch", lambda parsed, **_: count(calls.pop(), parsed))
    return sent


def _count_case_writes() -> list[Counter[str]]:
    """Writes of case items by the dispatcher's client, by operation; a Counter per batch, appended by the caller."""
    from shared.adapters import aws

    writes: list[Counter[str]] = []

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        keys = [params.get("Key")] + [
            (action.get("Update") or action.get("Put") or {}).get("Key") for action in params.get("TransactItems", [])
        ]
        cases = sum(1 for key in keys if key and key["SK"]["S"] == "CASE")
        if cases and writes:
            writes[-1][model.name] += cases

    for operation in ("UpdateItem", "TransactWriteItems"):
        aws.dynamodb().meta.events.register(f"before-parameter-build.dynamodb.{operation}", count)
    return writes


def test_the_sample_stream_event_counts_its_report_and_requests_its_quarantine(world):
    """events/stream_new_report.json, as `sam local invoke DispatcherFunction -e` sends it."""
    event = load_event("stream_new_report.json")
    (record,) = event["Records"]
    image = record["dynamodb"]["NewImage"]
    boto3.client("dynamodb").put_item(TableName=world.physical_name("ReportsTable"), Item=image)  # as intake wrote it
    assert dispatch(event["Records"]) == []
    stored = item(world, image["PK"]["S"], "REPORT")
    assert stored["status"]["S"] == "PROCESSING"
    assert stored["caseId"]["S"] == case_id_for("s3://demo-customer-content/pages/login.html", "content")
    (request,) = drain(world.queue_url("QuarantineQueue"))
    assert (request["report_id"], request["key"]) == (image["reportId"]["S"], "pages/login.html")


def test_a_suspended_trusted_flaggers_report_waits_for_an_analyst_and_the_others_restrict_at_once(world, monkeypatch):
    monkeypatch.setenv(
        "PARTNERS",
        json.dumps({PARTNER_A: {"name": "Hotline A", "tier": 3}, PARTNER_B: {"name": "Hotline B", "tier": 3}}),
    )
    settings.cache_clear()
    # As the casework API leaves a record an analyst suspended (POST /v1/reporters/{id}/suspension).
    boto3.client("dynamodb").put_item(
        TableName=world.physical_name("ReportsTable"),
        Item={
            **reporter_record_key(reporter_key(PARTNER_B)),
            "entity": {"S": "reporter"},
            "decided": {"N": "25"},
            "noAction": {"N": "24"},
            "actioned": {"N": "1"},
            "suspended": {"BOOL": True},
        },
    )
    for principal, page in ((PARTNER_A, "kit-a"), (PARTNER_B, "kit-b")):
        url = f"https://demo-customer-content.s3.amazonaws.com/{page}/login.html"
        submit({**well_formed("content", "phishing"), "url": url, "source_identifier": url}, principal)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    restrict = {request["key"]: request["restrict"] for request in drain(world.queue_url("QuarantineQueue"))}
    assert restrict == {"kit-a/login.html": True, "kit-b/login.html": False}
    paged = {message["case_id"] for message in drain(world.queue_url("EscalationQueue"))}
    assert paged == {case_id_for("s3://demo-customer-content/kit-a/login.html", "content")}, "on-call paged for A's"
