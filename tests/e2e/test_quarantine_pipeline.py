"""A CSAM report through the whole local stack against an external endpoint (a moto server that records every
request it receives): intake -> stream -> dispatcher -> quarantine queue -> worker -> a verified, held copy and a
restricted source. What the S3 endpoint was asked is read from the endpoint's own request log, not from our code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import Endpoint, Running, call, environment, eventually, local_stack, recording_moto
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

DEMO_BUCKET = "demo-customer-content"
DEMO_KEY = "images/pixel.png"
UNPROTECTED = "someone-elses-bucket"
MUST_SHOW_SECONDS = 60.0
JSON = [("Content-Type", "application/json")]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with recording_moto(tmp_path_factory.mktemp("moto")) as running:
        yield running


@pytest.fixture(scope="module")
def stack(endpoint: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    aws = {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with local_stack(tmp_path_factory.mktemp("pipeline"), env=environment(**aws)) as running:
        yield running


def csam_report(url: str) -> bytes:
    report = well_formed("content", "csam")
    report["url"] = url
    report["source_identifier"] = f"s3://{UNPROTECTED}/mirror/pixel.png"
    return json.dumps({"report": report}).encode()


def evidence_bucket(endpoint: Endpoint) -> str:
    s3 = endpoint.client("s3")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"] if "evidence" in b["Name"]]
    assert len(names) == 1, names
    return names[0]


def copies_of(endpoint: Endpoint, source_bucket: str = DEMO_BUCKET) -> list[dict[str, Any]]:
    s3 = endpoint.client("s3")
    bucket = evidence_bucket(endpoint)
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"evidence/{source_bucket}/").get("Versions", [])
    heads = [
        s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"], ChecksumMode="ENABLED") for v in versions
    ]
    return heads


def copy_requests(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        r
        for r in endpoint.requests()
        if r["method"] == "PUT" and "x-amz-copy-source" in {h.lower() for h in r["headers"]}
    ]


def test_a_csam_report_gives_one_verified_held_copy_and_a_restricted_source(stack: Running, endpoint: Endpoint) -> None:
    s3 = endpoint.client("s3")
    source = s3.head_object(Bucket=DEMO_BUCKET, Key=DEMO_KEY, ChecksumMode="ENABLED")
    demo_url = f"https://{DEMO_BUCKET}.s3.amazonaws.com/{DEMO_KEY}"

    started = time.monotonic()
    first = call(stack.port, "POST", "/v1/reports", body=csam_report(demo_url), headers=JSON, signed=True)
    assert first.status == 202, first.body

    def restricted() -> bool:
        tags = s3.get_object_tagging(Bucket=DEMO_BUCKET, Key=DEMO_KEY, VersionId=source["VersionId"])["TagSet"]
        return any("quarantine" in tag["Key"] for tag in tags)

    eventually(restricted, what="the source version carries the quarantine tag")
    (copy,) = eventually(lambda: copies_of(endpoint), what="a copy in the evidence bucket")
    elapsed = time.monotonic() - started
    assert elapsed < MUST_SHOW_SECONDS
    assert copy["ChecksumSHA256"] == source["ChecksumSHA256"]
    assert copy["ObjectLockLegalHoldStatus"] == "ON"
    assert copy["ObjectLockMode"] == "GOVERNANCE"
    assert copy["ServerSideEncryption"] == "aws:kms"
    intact = s3.head_object(Bucket=DEMO_BUCKET, Key=DEMO_KEY, VersionId=source["VersionId"], ChecksumMode="ENABLED")
    assert intact["ChecksumSHA256"] == source["ChecksumSHA256"], "the source version itself is untouched"

    # A second partner reports the same object: same case, and still one copy, one copy request in total.
    second = call(
        stack.port,
        "POST",
        "/v1/reports",
        body=csam_report(demo_url),
        headers=JSON,
        signed=True,
        access_key="AKIASECONDPARTNER001",
    )
    assert second.status == 202
    first_case = eventually(
        lambda: call(stack.port, "GET", f"/v1/reports/{first.json()['reportId']}", signed=True).json().get("caseId"),
        what="the first report's case",
    )
    second_case = eventually(
        lambda: (
            call(
                stack.port,
                "GET",
                f"/v1/reports/{second.json()['reportId']}",
                signed=True,
                access_key="AKIASECONDPARTNER001",
            )
            .json()
            .get("caseId")
        ),
        what="the second report's case",
    )
    assert first_case == second_case
    sqs = endpoint.client("sqs")
    queue = next(u for u in sqs.list_queues()["QueueUrls"] if "QuarantineQueue" in u)

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    eventually(drained, what="the quarantine queue drained")
    assert len(copies_of(endpoint)) == 1
    assert len(copy_requests(endpoint)) == 1
    assert not [
        r for r in endpoint.requests() if UNPROTECTED in r["url"] or UNPROTECTED in r["headers"].get("Host", "")
    ]
