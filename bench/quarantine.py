"""`make bench`, quarantine section: AWS requests per quarantined object, counted under moto with botocore hooks.

Counts, not times: deterministic, so they can be compared run to run. The world is built from infra/template.yaml
and the demo bucket seeded as `make run` does; the worker is driven through its Lambda handler with SQS events.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Row = tuple[str, str, str]

# List prices, us-east-1, S3 Standard (the same figures as bench/__main__.py's cost model).
PRICE_S3_PUT_COPY_PER_THOUSAND = 0.005  # CopyObject, PutObjectTagging, UploadPartCopy...
PRICE_S3_GET_HEAD_PER_THOUSAND = 0.0004  # HeadObject, GetObject, GetObjectTagging
PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625
PUT_CLASS = frozenset({"CopyObject", "PutObjectTagging", "PutObjectLegalHold", "PutObjectRetention", "UploadPartCopy"})


class _Context:
    function_name = "QuarantineFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:QuarantineFunction"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@contextmanager
def _moto_world() -> Iterator[Any]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    from moto import mock_aws

    from local.world import build_world
    from shared.adapters import aws
    from shared.config import settings

    try:
        with mock_aws():
            aws.clear()
            settings.cache_clear()
            world = build_world()
            for function in world.template.resources_of_type("AWS::Serverless::Function"):
                os.environ.update(world.function_environment(function))
            yield world
    finally:
        aws.clear()
        settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def _event(body: dict[str, Any], message_id: str = "bench-1") -> dict[str, Any]:
    text = json.dumps(body)
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "bench"}
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": "bench",
                "body": text,
                "attributes": attributes | {"ApproximateFirstReceiveTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _request(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "report_id": "01KB2X3Y4Z5A6B7C8D9E0F1G2H",
        "case_id": "bench-case",
        "bucket": "demo-customer-content",
        "key": key,
        "restrict": True,
        "category": "content",
        "type": "csam",
    } | fields


def measure() -> list[Row]:
    import boto3

    from functions.quarantine.handler import lambda_handler
    from local.demo import DEMO_BUCKET, register_moto_workarounds, seed_demo_bucket
    from shared.adapters import aws

    with _moto_world():
        register_moto_workarounds(aws.s3())
        seed_demo_bucket(boto3.client("s3"), install_policy=False)  # moto and bucket-policy denies: see local/demo.py
        s3_calls: Counter[str] = Counter()
        ddb_calls: Counter[str] = Counter()
        buckets: Counter[str] = Counter()

        def count_s3(model: Any, params: dict[str, Any], **_: Any) -> None:
            s3_calls[model.name] += 1
            source = params.get("CopySource")
            for bucket in {params.get("Bucket"), source.get("Bucket") if isinstance(source, dict) else None}:
                if bucket:
                    buckets[bucket] += 1

        def count_ddb(model: Any, **_: Any) -> None:
            ddb_calls[model.name] += 1

        aws.s3().meta.events.register("before-parameter-build.s3.*", count_s3)
        aws.dynamodb().meta.events.register("before-call.dynamodb.*", count_ddb)

        def run(body: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
            s3_calls.clear()
            ddb_calls.clear()
            answer = lambda_handler(_event(body), _Context())
            assert answer["batchItemFailures"] == [], answer
            return Counter(s3_calls), Counter(ddb_calls)

        first, first_ddb = run(_request("images/pixel.png"))
        again, again_ddb = run(_request("images/pixel.png"))
        plain_key = "uploads/no-sha256.bin"
        boto3.client("s3").put_object(Bucket=DEMO_BUCKET, Key=plain_key, Body=b"stored without a SHA-256")
        unhashed, _ = run(_request(plain_key))
        unhashed_again, unhashed_again_ddb = run(_request(plain_key))

        copies = 0
        five_key = "notes/readme.txt"
        for _ in range(5):
            counted, _ = run(_request(five_key))
            copies += counted["CopyObject"]

        buckets.clear()
        run(_request("pages/login.html", bucket="someone-elses-bucket"))
        unprotected = buckets["someone-elses-bucket"]

    def spelled(calls: Counter[str]) -> str:
        return f"{sum(calls.values())} ({', '.join(f'{n} {op}' for op, n in sorted(calls.items()))})"

    puts = sum(n for op, n in first.items() if op in PUT_CLASS)
    gets = sum(first.values()) - puts
    s3_cost = (puts * PRICE_S3_PUT_COPY_PER_THOUSAND + gets * PRICE_S3_GET_HEAD_PER_THOUSAND) / 1000
    ddb_cost = first_ddb["PutItem"] * PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION / 1_000_000
    return [
        (
            "quarantine: S3 requests per object, first report",
            spelled(first),
            "pin, copy, read the copy back, tag; no body read (S3 gives the SHA-256)",
        ),
        (
            "quarantine: ... when S3 stores no SHA-256 of the source",
            spelled(unhashed),
            "one streamed GetObject of the source, only then",
        ),
        (
            "quarantine: S3 requests per repeat (redelivery, second report)",
            spelled(again),
            f"no copy, no body read (no-SHA-256 source: {sum(unhashed_again.values())}, "
            f"+{unhashed_again_ddb['GetItem']} GetItem)",
        ),
        (
            "quarantine: custody writes per object, first report / repeat",
            f"{first_ddb['PutItem']} / {again_ddb['PutItem']} PutItem",
            "one per step; a repeat's are conditional and change nothing",
        ),
        (
            "quarantine: CopyObject per object under 5 deliveries",
            str(copies),
            f"goal 1: {'met' if copies == 1 else 'NOT MET'}",
        ),
        (
            "quarantine: S3 requests naming an unprotected bucket",
            str(unprotected),
            f"goal 0: {'met' if unprotected == 0 else 'NOT MET'}",
        ),
        (
            "quarantine: modelled cost per 1M quarantined objects",
            f"${(s3_cost + ddb_cost) * 1_000_000:,.2f}",
            f"S3 {puts} PUT-class + {gets} GET-class, DynamoDB {first_ddb['PutItem']} WCU; list prices",
        ),
    ]


if __name__ == "__main__":
    for row in measure():
        print("  ".join(row))
