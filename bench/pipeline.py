"""`make bench`, pipeline section: AWS calls per report behind the intake, and SQS calls per message.

Counts, not times: deterministic, so they compare run to run. Under moto, in a world built from infra/template.yaml
with the demo bucket seeded as `make run` seeds it; reports go in through the intake handler, the dispatcher gets
them as stream records in the template's batch size, the workers get their queues' messages as SQS events. Calls are
counted on the product's own clients with botocore's before-call hook, so test plumbing is never counted.

Scenarios:
- a batch of distinct cases: partners' phishing reports, each naming its own protected object (a quarantine request
  and an escalation each): the dispatcher's everyday batch;
- a viral object: 900 public reports of one object, ten full batches: the case is written once per batch;
- one CSAM report, end to end: dispatcher, quarantine worker, escalation worker;
- a second CSAM report of the same object: what each stage costs when the case already exists.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.quiet import quiet_environment
from bench.table import Figure

ROOT = Path(__file__).resolve().parent.parent
PARTNER = "arn:aws:iam::111111111111:role/bench-hotline"
PARTNER_2 = "arn:aws:iam::222222222222:role/bench-hotline"
SQS_OPERATIONS = frozenset({"SendMessage", "SendMessageBatch"})
NOTE_WIDTH = 40  # what a line of the table leaves for a note
_SERVICE_OF: dict[str, str] = {}  # operation name -> service, as the counting hook saw them


class _Context:
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@contextmanager
def _transactions_copy_each_table_once() -> Iterator[None]:
    """moto backs a table up once per action of a transaction (the same table every time): copy it once. Plumbing:
    the calls counted are the product's and do not change; only moto's time does (minutes to seconds here)."""
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

        setattr(models, "copy", types.SimpleNamespace(deepcopy=deepcopy))  # noqa: B010 - moto's module global
        try:
            real(self, transact_items)
        finally:
            setattr(models, "copy", copy)  # noqa: B010

    setattr(models.DynamoDBBackend, "transact_write_items", once)  # noqa: B010
    try:
        yield
    finally:
        setattr(models.DynamoDBBackend, "transact_write_items", real)  # noqa: B010


@contextmanager
def _moto_world() -> Iterator[Any]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"  # _purge empties a queue after every batch
    from moto import mock_aws

    from local import moto_gaps
    from local.demo import register_moto_workarounds, seed_demo_bucket
    from local.world import build_world
    from shared.adapters import aws
    from shared.config import settings

    try:
        with mock_aws(), _transactions_copy_each_table_once():
            aws.clear()
            settings.cache_clear()
            world = build_world()
            for function in world.template.resources_of_type("AWS::Serverless::Function"):
                os.environ.update(world.function_environment(function))
            os.environ["PARTNERS"] = json.dumps(
                {PARTNER: {"name": "Bench hotline", "tier": 2}, PARTNER_2: {"name": "Bench hotline 2", "tier": 2}}
            )
            settings.cache_clear()
            quiet_environment()
            register_moto_workarounds(aws.s3())
            moto_gaps.install(aws.s3())
            import boto3

            seed_demo_bucket(boto3.client("s3"), install_policy=False)
            yield world
    finally:
        aws.clear()
        settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _counting() -> Iterator[Counter[str]]:
    from shared.adapters import aws

    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1
        _SERVICE_OF[model.name] = model.service_model.service_id

    clients = [aws.dynamodb(), aws.sqs(), aws.s3(), aws.sns()]
    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", count)


def _submit(report: dict[str, Any], principal: str | None) -> None:
    from functions.intake.handler import lambda_handler

    event = json.loads((ROOT / "events" / "submit_report.json").read_text())
    event["body"] = json.dumps({"report": report})
    event["requestContext"]["identity"].update(userArn=principal, accessKey=None)
    answer = lambda_handler(event, _Context("IntakeFunction"))
    assert answer["statusCode"] == 202, answer["body"]


def _new_report_items(world: Any, seen: set[str]) -> list[dict[str, Any]]:
    import boto3

    items = boto3.client("dynamodb").scan(TableName=world.physical_name("ReportsTable"))["Items"]
    fresh = [i for i in items if i.get("entity", {}).get("S") == "report" and i["PK"]["S"] not in seen]
    seen.update(i["PK"]["S"] for i in fresh)
    return sorted(fresh, key=lambda i: i["receivedAt"]["S"])


def _dispatch(
    world: Any, items: list[dict[str, Any]], batch_size: int, first: int = 1, purged: tuple[str, ...] = ()
) -> None:
    """The items as stream batches of the template's size; the `purged` queues emptied after each batch, so moto's
    per-call walk over the queue stays short (what the dispatcher sends is counted before it is purged)."""
    from functions.dispatcher.handler import lambda_handler

    arn = world.get_att("ReportsTable", "StreamArn")
    for start in range(0, len(items), batch_size):
        records = [
            {
                "eventID": f"{first + start + n}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": arn,
                "dynamodb": {"SequenceNumber": f"{first + start + n:024d}", "NewImage": item},
            }
            for n, item in enumerate(items[start : start + batch_size])
        ]
        answer = lambda_handler({"Records": records}, _Context("DispatcherFunction"))
        assert answer == {"batchItemFailures": []}, answer
        _purge(world, *purged)


def _drive(world: Any, logical_id: str, handler: Callable[[Any, Any], Any], name: str) -> None:
    import boto3

    sqs = boto3.client("sqs")
    url = world.queue_url(logical_id)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": world.arn(logical_id),
                "awsRegion": world.region,
            }
            for m in messages
        ]
        answer = handler({"Records": records}, _Context(name))
        assert answer == {"batchItemFailures": []}, answer
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _purge(world: Any, *logical_ids: str) -> None:
    import boto3

    # One PurgeQueue rather than receive-and-delete: moto walks the whole queue on every call, so draining 900
    # messages one batch at a time took minutes. Plumbing on a client of its own: never counted.
    sqs = boto3.client("sqs")
    for logical_id in logical_ids:
        sqs.purge_queue(QueueUrl=world.queue_url(logical_id))


def _batch_size() -> int:
    from local.template import event_sources, load_template

    (source,) = [s for s in event_sources(load_template()) if s.function == "DispatcherFunction"]
    return source.batch_size


def _csam(key: str) -> dict[str, Any]:
    from tests.samples import well_formed

    return {**well_formed("content", "csam"), "url": f"https://demo-customer-content.s3.amazonaws.com/{key}"}


def _detail(calls: Counter[str]) -> str:
    """The calls operation by operation, or service by service when that would not fit on the table's line."""
    detail = ", ".join(f"{n} {op}" for op, n in sorted(calls.items()))
    if len(detail) <= NOTE_WIDTH:
        return detail
    services = Counter[str]()
    for op, n in calls.items():
        services[_SERVICE_OF.get(op, op)] += n
    return ", ".join(f"{n} {service}" for service, n in sorted(services.items()))


def measure() -> list[Figure]:
    from functions.escalation.handler import lambda_handler as escalation
    from functions.quarantine.handler import lambda_handler as quarantine
    from tests.samples import xarf

    batch = _batch_size()
    with _moto_world() as world:
        seen: set[str] = set()

        # A batch of distinct cases: one quarantine request and one escalation per report.
        for n in range(batch):
            _submit(xarf(url=f"https://demo-customer-content.s3.amazonaws.com/pages/p{n}.html"), PARTNER)
        items = _new_report_items(world, seen)
        with _counting() as distinct:
            _dispatch(world, items, batch)
        messages = 2 * len(items)
        sqs = sum(distinct[op] for op in SQS_OPERATIONS)
        _purge(world, "QuarantineQueue", "EscalationQueue")

        # A viral object: ten full batches of public reports of one object (quarantine requests only).
        for n in range(10 * batch):
            _submit(
                xarf(url="https://demo-customer-content.s3.amazonaws.com/notes/readme.txt", description=f"#{n}"), None
            )
        viral_items = _new_report_items(world, seen)
        with _counting() as viral:
            _dispatch(world, viral_items, batch, first=10_000, purged=("QuarantineQueue", "EscalationQueue"))
        viral_sqs = sum(viral[op] for op in SQS_OPERATIONS)
        _purge(world, "QuarantineQueue", "EscalationQueue")

        # One CSAM report end to end, then a second report of the same object by another partner.
        stages: dict[str, list[Counter[str]]] = {"dispatcher": [], "quarantine": [], "escalation": []}
        for principal in (PARTNER, PARTNER_2):
            _submit(_csam("images/pixel.png"), principal)
            fresh = _new_report_items(world, seen)
            with _counting() as calls:
                _dispatch(world, fresh, batch, first=20_000 + len(seen))
            stages["dispatcher"].append(calls)
            with _counting() as calls:
                _drive(world, "QuarantineQueue", quarantine, "QuarantineFunction")
            stages["quarantine"].append(calls)
            with _counting() as calls:
                _drive(world, "EscalationQueue", escalation, "EscalationFunction")
            stages["escalation"].append(calls)

    first = {stage: counts[0] for stage, counts in stages.items()}
    second = {stage: counts[1] for stage, counts in stages.items()}
    figures = [
        Figure(
            f"pipeline: dispatcher calls/report, {batch} cases",
            sum(distinct.values()) / len(items),
            note=_detail(distinct),
        ),
        Figure(
            f"pipeline: dispatcher calls/report, viral {len(viral_items)}",
            sum(viral.values()) / len(viral_items),
            digits=3,
            note=_detail(viral),
        ),
        Figure("pipeline: SQS calls/message, distinct cases", sqs / messages, budget=0.1, digits=3),
        Figure("pipeline: SQS calls/message, viral object", viral_sqs / len(viral_items), budget=0.1, digits=3),
    ]
    for label, counts in (("1st of case", first), ("2nd of case", second)):
        figures.append(
            Figure(
                f"pipeline: AWS calls/CSAM report, {label}",
                sum(sum(c.values()) for c in counts.values()),
                note=", ".join(f"{sum(c.values())} {stage}" for stage, c in counts.items()),
            )
        )
        figures.append(
            Figure(
                f"pipeline: dispatcher+escalation, {label}",
                sum(counts["dispatcher"].values()) + sum(counts["escalation"].values()),
                note=_detail(counts["dispatcher"] + counts["escalation"]),
            )
        )
    dynamodb = sum(v for k, v in distinct.items() if k not in SQS_OPERATIONS)
    figures.append(
        Figure(
            "pipeline: dispatcher DynamoDB requests/report",
            dynamodb / len(items),
            digits=3,
            note=f"per batch: 1 read, {math.ceil(2 * len(items) / 100)} count txns, 1 clear",
        )
    )
    return figures


if __name__ == "__main__":  # for a quick look: python -m bench.pipeline
    from bench.quiet import quiet_environment
    from bench.table import render

    quiet_environment()
    print(render(measure()))
