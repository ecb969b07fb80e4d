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

from bench.quiet import quiet_environment
from bench.table import Figure

# List prices, us-east-1, S3 Standard (the same figures as bench/__main__.py's cost model).
PRICE_S3_PUT_COPY_PER_THOUSAND = 0.005  # CopyObject, PutObjectTagging, UploadPartCopy...
PRICE_S3_GET_HEAD_PER_THOUSAND = 0.0004  # HeadObject, GetObject, GetObjectTagging, GetObjectAttributes, -LegalHold...
PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625
NOTE_WIDTH = 40  # what a line of the table leaves for a note
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
            quiet_environment()
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


def measure() -> list[Figure]:
    import boto3

    from functions.quarantine.handler import lambda_handler
    from local import moto_gaps
    from local.demo import DEMO_BUCKET, register_moto_workarounds, seed_demo_bucket
    from shared.adapters import aws

    with _moto_world():
        register_moto_workarounds(aws.s3())
        moto_gaps.install(aws.s3())
        seed_demo_bucket(boto3.client("s3"), install_policy=False)  # moto and bucket-policy denies: see local/demo.py
        s3_calls: Counter[str] = Counter()
        ddb_calls: Counter[str] = Counter()
        buckets: Counter[str] = Counter()
        evidence_reads = 0  # GetObject/HeadObject on the evidence bucket, which the worker's role may not send
        evidence_bucket = os.environ["EVIDENCE_BUCKET"]

        def count_s3(model: Any, params: dict[str, Any], **_: Any) -> None:
            nonlocal evidence_reads
            s3_calls[model.name] += 1
            source = params.get("CopySource")
            for bucket in {params.get("Bucket"), source.get("Bucket") if isinstance(source, dict) else None}:
                if bucket:
                    buckets[bucket] += 1
            if params.get("Bucket") == evidence_bucket and model.name in ("GetObject", "HeadObject"):
                evidence_reads += 1

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
        """Operation by operation, or by price class when that would not fit on the table's line."""
        detail = ", ".join(f"{n} {op}" for op, n in sorted(calls.items()))
        if len(detail) <= NOTE_WIDTH:
            return detail
        puts = sum(n for op, n in calls.items() if op in PUT_CLASS)
        return f"{puts} PUT-class, {sum(calls.values()) - puts} GET-class ({calls['GetObject']} GetObject)"

    puts = sum(n for op, n in first.items() if op in PUT_CLASS)
    gets = sum(first.values()) - puts
    s3_cost = (puts * PRICE_S3_PUT_COPY_PER_THOUSAND + gets * PRICE_S3_GET_HEAD_PER_THOUSAND) / 1000
    ddb_cost = first_ddb["PutItem"] * PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION / 1_000_000
    return [
        # Expected 8: pin the source (HeadObject), look for a copy (GetObjectAttributes: 404), copy, describe the
        # copy without reading it (GetObjectAttributes, GetObjectLegalHold, GetObjectRetention), read and add tags;
        # no body read (S3 gives the SHA-256). Before the worker lost read access to evidence: 6, with HeadObject.
        Figure("quarantine: S3 requests/object, first report", sum(first.values()), note=spelled(first)),
        # Expected: one streamed GetObject of the source more, only then (never of the copy).
        Figure("quarantine: S3 requests/object, no SHA-256", sum(unhashed.values()), note=spelled(unhashed)),
        # Expected 5: pin, describe the copy (3), read tags; no copy, no body read.
        Figure("quarantine: S3 requests/repeat", sum(again.values()), note=spelled(again)),
        Figure(
            "quarantine: S3 requests/repeat, no SHA-256",
            sum(unhashed_again.values()),
            note=spelled(unhashed_again),
        ),
        Figure("quarantine: custody reads/repeat, no SHA-256", unhashed_again_ddb["GetItem"], note="GetItem"),
        Figure("quarantine: custody writes, first report", first_ddb["PutItem"], note="PutItem, one per step"),
        Figure("quarantine: custody writes, repeat", again_ddb["PutItem"], note="conditional, they change nothing"),
        Figure("quarantine: CopyObject/object, 5 deliveries", copies, budget=1, note="exactly 1 wanted"),
        Figure("quarantine: S3 requests to unprotected buckets", unprotected, budget=0),
        Figure("quarantine: Get/HeadObject on evidence", evidence_reads, budget=0, note="denied by IAM"),
        Figure(
            "quarantine: cost per 1M quarantined objects",
            (s3_cost + ddb_cost) * 1_000_000,
            "$",
            note=f"S3 {puts} PUT + {gets} GET, DynamoDB {first_ddb['PutItem']} WCU",
        ),
    ]


if __name__ == "__main__":
    from bench.table import render

    quiet_environment()
    print(render(measure()))
