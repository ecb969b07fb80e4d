"""`make bench`, request-path section: DynamoDB and S3 calls per report (with and without evidence payloads),
validation cost, and the modelled price of a report.

Calls are counted with botocore's before-call hook on the product's DynamoDB and request-path S3 clients, under
moto, in a world built from infra/template.yaml: deterministic, so they compare run to run. Validation is timed in
this process (medians of 7 repeats) as a ratio to `json.loads` of the same body.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

from bench.quiet import quiet_environment
from bench.table import Figure

ROOT = Path(__file__).resolve().parent.parent
READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})

# List prices, us-east-1, on-demand (AWS pricing pages as of 2026): the model's inputs, stated so they can be checked.
PRICE_API_GATEWAY_REST_PER_MILLION = 3.50
PRICE_LAMBDA_REQUESTS_PER_MILLION = 0.20
PRICE_LAMBDA_ARM_GB_SECOND = 0.0000133334
PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625
PRICE_DYNAMODB_READ_UNITS_PER_MILLION = 0.125
WARM_INTAKE_SECONDS = 0.05  # a warm intake invocation at 512 MB; cold starts are a small share at volume


class _Context:
    function_name = "IntakeFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IntakeFunction"


def _evidence_event(event: dict[str, Any]) -> dict[str, Any]:
    """The sample event with three distinct evidence payloads of 64 KB each (the body stays a few hundred KB)."""
    import base64

    payload = json.loads(event["body"]) | {"clientToken": "bench-evidence"}  # other content: another token
    payload["report"]["evidence"] = [
        {"content_type": "application/octet-stream", "payload": base64.b64encode(bytes([n]) * 65_536).decode()}
        for n in range(3)
    ]
    return event | {"body": json.dumps(payload)}


def _calls_per_report() -> dict[str, tuple[Counter[str], Counter[str], int]]:
    """Each sample twice through the intake handler (a new report, then its duplicate): the calls each made, on the
    request path's DynamoDB and S3 clients, and how many evidence objects the duplicate created."""
    from moto import mock_aws

    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    from local.world import build_world
    from shared.adapters import aws
    from shared.config import settings
    from tests.samples import with_fresh_timestamp

    def stored_versions(bucket: str) -> int:
        return len(aws.s3().list_object_versions(Bucket=bucket).get("Versions", []))

    measured = {}
    try:
        with mock_aws():
            aws.clear()
            settings.cache_clear()
            world = build_world()
            os.environ.update(world.function_environment("IntakeFunction"))
            quiet_environment()
            handler = importlib.import_module("functions.intake.handler")
            plain = with_fresh_timestamp(json.loads((ROOT / "events" / "submit_report.json").read_text()))
            for name, event in (("plain", plain), ("evidence", _evidence_event(plain))):
                new, duplicate = Counter[str](), Counter[str]()
                created = 0
                for counter in (new, duplicate):

                    def count(model: Any, counter: Counter[str] = counter, **_: Any) -> None:
                        counter[model.name] += 1

                    before = stored_versions(os.environ["EVIDENCE_BUCKET"])
                    for client in (aws.dynamodb(), aws.s3_request_path()):
                        client.meta.events.register("before-call.*.*", count)
                    answer = handler.lambda_handler(event, _Context())
                    for client in (aws.dynamodb(), aws.s3_request_path()):
                        client.meta.events.unregister("before-call.*.*", count)
                    assert answer["statusCode"] == 202, answer
                    created = stored_versions(os.environ["EVIDENCE_BUCKET"]) - before
                measured[name] = (new, duplicate, created)
    finally:
        aws.clear()
        settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)
    return measured


def _dynamodb(calls: Counter[str]) -> Counter[str]:
    return Counter({op: n for op, n in calls.items() if op in READS | WRITES})


def _spelled(calls: Counter[str]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(calls.items())) or "none"


def _validation() -> list[Figure]:
    from shared.domain.xarf import SubmissionIn, parse_submission
    from tests.samples import body

    raw = json.loads((ROOT / "events" / "submit_report.json").read_text())["body"].encode()
    raw = body(json.loads(raw)["report"] | {"timestamp": json.loads(body())["report"]["timestamp"]}, clientToken="b-1")
    number = 20_000

    def median_seconds(call: Any) -> float:
        return statistics.median(timeit.repeat(call, number=number, repeat=7)) / number

    loads = median_seconds(lambda: json.loads(raw))
    model = median_seconds(lambda: SubmissionIn.model_validate_json(raw))
    full = median_seconds(lambda: parse_submission(raw))
    return [
        Figure("validation: json.loads of the sample body", loads * 1e6, "us", digits=1, note="the baseline"),
        Figure("validation: model_validate_json / json.loads", model / loads, "x", 2.0, "pydantic on the raw body"),
        Figure("validation: full parse / json.loads", full / loads, "x", note="dup keys, XARF rules, canonical form"),
    ]


def _cost_per_million(new: Counter[str]) -> float:
    return (
        PRICE_API_GATEWAY_REST_PER_MILLION
        + PRICE_LAMBDA_REQUESTS_PER_MILLION
        + PRICE_LAMBDA_ARM_GB_SECOND * 0.5 * WARM_INTAKE_SECONDS * 1e6
        + PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION * sum(n for op, n in new.items() if op in WRITES)
        + PRICE_DYNAMODB_READ_UNITS_PER_MILLION * sum(n for op, n in new.items() if op in READS)
    )


def measure() -> list[Figure]:
    measured = _calls_per_report()
    new, duplicate, _ = measured["plain"]
    reads = sum(n for op, n in (new + duplicate).items() if op in READS)
    with_payloads, again, created_again = measured["evidence"]
    return [
        Figure("request path: DynamoDB calls, new report", sum(new.values()), budget=1, note=_spelled(new)),
        Figure("request path: DynamoDB calls, duplicate", sum(duplicate.values()), budget=1, note=_spelled(duplicate)),
        Figure("request path: DynamoDB reads, new + duplicate", reads, budget=0),
        Figure(
            "evidence: S3 puts, 3 distinct payloads",
            with_payloads["PutObject"],
            budget=3,
            note=f"one conditional put each; S3 calls: {with_payloads.total() - _dynamodb(with_payloads).total()}",
        ),
        Figure(
            "evidence: DynamoDB calls, 3 payloads",
            sum(_dynamodb(with_payloads).values()),
            budget=1,
            note=_spelled(_dynamodb(with_payloads)) + ": the report and 3 custody events",
        ),
        Figure("evidence: objects created by the same request again", created_again, budget=0, note=_spelled(again)),
        *_validation(),
        Figure("cost per 1M reports, intake path", _cost_per_million(new), "$", note="API GW + Lambda + DynamoDB"),
    ]


if __name__ == "__main__":  # a quick look: python -m bench.request_path
    from bench.quiet import quiet_environment
    from bench.table import render

    quiet_environment()
    print(render(measure()))
