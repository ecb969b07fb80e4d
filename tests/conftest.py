"""Fixtures shared by the integration tests: the AWS world, built from infra/template.yaml under moto."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from local.world import World, build_world
from shared.adapters import aws
from shared.config import settings

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def world(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Every resource of the template, created in moto; the functions' environment set as Lambda would set it."""
    with mock_aws():
        aws.clear()
        settings.cache_clear()
        built = build_world()
        for logical_id in built.template.resources_of_type("AWS::Serverless::Function"):
            for name, value in built.function_environment(logical_id).items():
                monkeypatch.setenv(name, value)
        yield built
        aws.clear()
        settings.cache_clear()


@pytest.fixture
def aws_calls() -> Iterator[Counter[str]]:
    """Counts every AWS API call the product makes, by operation name, through botocore's event hooks."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    clients = (aws.dynamodb(), aws.s3_request_path())  # the request path's clients
    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    yield calls
    for client in clients:
        client.meta.events.unregister("before-call.*.*", count)


@pytest.fixture
def demo_bucket(world: World) -> dict[str, str]:
    """The protected demo bucket `make run` seeds (key -> version id), with moto answering the quarantine path as S3.

    The moto workarounds go on the product's own S3 client (local.demo and local.moto_gaps say which gaps and why: the
    latter are those of the evidence checks, GetObjectRetention and ObjectParts). The bucket gets no
    policy here: moto denies every GET under a Deny with conditions, so the quarantine-tag deny would lock everyone
    out; tests compare the document with the template's instead.
    """
    from local import moto_gaps
    from local.demo import register_moto_workarounds, seed_demo_bucket

    register_moto_workarounds(aws.s3())
    moto_gaps.install(aws.s3())
    return seed_demo_bucket(boto3.client("s3"), install_policy=False)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def table_items(world: World) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return client.scan(TableName=world.physical_name("ReportsTable"))["Items"]


# --- Pipeline (dispatcher, escalation): stream events, queues, call counting, fault injection ------------------------


class FunctionContext:
    """The attributes Powertools reads from a Lambda context."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = "5d6e7f80-0000-4000-8000-000000000002"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def report_items(world: World) -> list[dict[str, Any]]:
    """The report items in the table, as the intake wrote them (DynamoDB JSON), oldest first."""
    client = boto3.client("dynamodb")
    pages = client.get_paginator("scan").paginate(TableName=world.physical_name("ReportsTable"))
    items = [item for page in pages for item in page["Items"] if item.get("entity", {}).get("S") == "report"]
    return sorted(items, key=lambda item: (item["receivedAt"]["S"], item["reportId"]["S"]))


def stream_record(world: World, item: dict[str, Any], sequence: int) -> dict[str, Any]:
    """One INSERT as Lambda's DynamoDB event source shapes it (NEW_IMAGE view)."""
    received = item.get("receivedAt", {}).get("S", "2026-01-01T00:00:00.000Z")
    created = int(datetime.fromisoformat(received.replace("Z", "+00:00")).timestamp())
    return {
        "eventID": hashlib.md5(f"{sequence}".encode()).hexdigest(),  # noqa: S324 - an id, not a secret
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": world.region,
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"PK": item["PK"], "SK": item["SK"]},
            "NewImage": item,
            "SequenceNumber": f"{sequence:024d}",
            "SizeBytes": len(json.dumps(item)),
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": world.get_att("ReportsTable", "StreamArn"),
    }


def stream_event(world: World, items: list[dict[str, Any]], first_sequence: int = 1) -> dict[str, Any]:
    return {"Records": [stream_record(world, item, first_sequence + n) for n, item in enumerate(items)]}


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue (received and deleted): their bodies, parsed."""
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return bodies
        bodies += [json.loads(message["Body"]) for message in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def pipeline_clients() -> list[Any]:
    return [aws.dynamodb(), aws.sqs(), aws.s3(), aws.sns(), aws.s3_request_path()]


@pytest.fixture
def pipeline_calls(world: World) -> Iterator[Counter[str]]:
    """Every call the product's DynamoDB, SQS, S3 and SNS clients make, by operation name."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for client in pipeline_clients():
        client.meta.events.register("before-call.*.*", count)
    yield calls
    for client in pipeline_clients():
        client.meta.events.unregister("before-call.*.*", count)


class ProcessKilled(BaseException):
    """SIGKILL, as far as the code under test can tell: no handler catches it, nothing after it runs."""


class Faults:
    """Fails the k-th AWS call the product makes (0-based, across its clients), once.

    "before": the request never reaches AWS (ClientError or a connection error). "after": AWS did the work and the
    answer was lost on the way back (a connection error after the call): the case that tempts code to do it twice.
    error "Killed": the process dies there (ProcessKilled), before or after AWS did the work.
    """

    def __init__(self) -> None:
        self.operations: list[str] = []
        self.fail_at: int | None = None
        self.timing = "before"
        self.error = "ClientError"
        self.failed: str | None = None  # the operation that was failed

    def arm(self, call: int, timing: str, error: str) -> None:
        self.operations, self.fail_at, self.timing, self.error, self.failed = [], call, timing, error, None

    def _raise(self, model: Any) -> None:
        self.failed = model.name
        if self.error == "Killed":
            raise ProcessKilled(model.name)
        if self.error == "ClientError":
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, model.name)
        raise EndpointConnectionError(endpoint_url=f"https://{model.service_model.endpoint_prefix}.injected")

    def before(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)
        if self.timing == "before" and self.fail_at == len(self.operations) - 1:
            self._raise(model)

    def after(self, model: Any, **_: Any) -> None:
        if self.timing == "after" and self.fail_at == len(self.operations) - 1 and self.failed is None:
            self._raise(model)


@pytest.fixture
def faults(world: World) -> Iterator[Faults]:
    injector = Faults()
    for client in pipeline_clients():
        client.meta.events.register("before-call.*.*", injector.before)
        client.meta.events.register("after-call.*.*", injector.after)
    yield injector
    for client in pipeline_clients():
        client.meta.events.unregister("before-call.*.*", injector.before)
        client.meta.events.unregister("after-call.*.*", injector.after)


def sqs_records(world: World, logical_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Received messages as Lambda's SQS event source hands them to a function."""
    return [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": world.arn(logical_id),
            "awsRegion": world.region,
        }
        for message in messages
    ]


def drive_queue(world: World, logical_id: str, handler: Any, function_name: str, *, rounds: int = 30) -> int:
    """Lambda's SQS event source, a batch of up to 10 at a time, until the queue is empty; the batches it took.

    A failed message is made visible again at once (in AWS it waits out its visibility timeout); the queue's redrive
    policy moves it to the DLQ after maxReceiveCount receives, as SQS does.
    """
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    sqs = boto3.client("sqs")
    url = world.queue_url(logical_id)
    for batch in range(rounds):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return batch
        try:
            answer = handler({"Records": sqs_records(world, logical_id, messages)}, FunctionContext(function_name))
            failed = {failure["itemIdentifier"] for failure in answer.get("batchItemFailures", [])}
        except BatchProcessingError:  # every record failed: the whole batch goes back
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError(f"{logical_id} still not empty after {rounds} batches")


def published(world: World, logical_id: str = "OnCallTopic") -> list[dict[str, Any]]:
    """What SNS accepted on a topic (moto's record of it): message (parsed), subject and attributes."""
    from moto.sns.models import sns_backends

    topic = sns_backends[world.account_id][world.region].topics[world.ref(logical_id)]
    return [
        {"message": json.loads(message), "subject": subject, "attributes": attributes, "raw": message}
        for _, message, subject, attributes, _ in topic.sent_notifications
    ]
