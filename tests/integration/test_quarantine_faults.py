"""A fault at every AWS call of the quarantine sequence, then redelivery: nothing lost, nothing doubled.

For each call index k of a clean run (S3 and DynamoDB calls alike, in the order the worker makes them), a fresh
object is reported, call k fails, and the message is delivered again until it succeeds, as SQS would (at most 5
receives, then the DLQ). Three kinds of fault, injected with botocore event hooks on the product's own clients:
- S3 or DynamoDB answers InternalError: the request never took effect;
- the connection cannot be made (EndpointConnectionError): the request never left;
- the answer is lost after the request took effect (ReadTimeoutError after the call): the worst case for
  idempotency, e.g. a copy that exists although the worker never heard so.
After every delivery: the source never carries the quarantine tag unless a verified, held copy exists. At the end:
exactly one evidence version, held, GOVERNANCE for a year, SSE-KMS with the evidence key, the source's SHA-256; one
custody event per step; exactly one CopyObject that reached S3.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from local.demo import DEMO_BUCKET
from local.world import World
from shared.adapters import aws
from shared.domain.quarantine import QUARANTINE_TAG, evidence_key, object_id
from tests.conftest import table_items
from tests.integration.test_quarantine_handler import REPORT, deliver, request_body, sqs_event

MAX_RECEIVES = 5  # the queue's maxReceiveCount: a message not done by then is in the DLQ, i.e. lost to this test


def internal_error(operation: str) -> Exception:
    error = {"Code": "InternalError", "Message": "We encountered an internal error. Please try again."}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)


def connection_refused(operation: str) -> Exception:
    return EndpointConnectionError(endpoint_url=f"https://aws.example/{operation}")


def answer_lost(operation: str) -> Exception:
    return ReadTimeoutError(endpoint_url=f"https://aws.example/{operation}")


# (name, make the error, raise it after the call took effect?)
FAULTS: list[tuple[str, Callable[[str], Exception], bool]] = [
    ("internal-error", internal_error, False),
    ("connection-refused", connection_refused, False),
    ("answer-lost-after-the-call", answer_lost, True),
]


@dataclass
class Faults:
    """Numbers every AWS call the product makes; makes call number `at` fail, once."""

    at: int | None = None
    after: bool = False
    make: Callable[[str], Exception] = internal_error
    calls: list[str] = field(default_factory=list)
    copies_sent: int = 0
    _armed_after: str | None = None

    def before_call(self, model: Any, **_: Any) -> None:
        index = len(self.calls)
        self.calls.append(model.name)
        if index == self.at:
            self.at = None
            if self.after:
                self._armed_after = model.name
            else:
                raise self.make(model.name)

    def after_call(self, model: Any, **_: Any) -> None:
        if self._armed_after == model.name:
            self._armed_after = None
            raise self.make(model.name)

    def copy_sent(self, **_: Any) -> None:
        self.copies_sent += 1


@pytest.fixture
def faults(demo_bucket: dict[str, str]) -> Iterator[Faults]:
    injector = Faults()
    clients = (aws.s3(), aws.dynamodb())
    for client in clients:
        client.meta.events.register("before-call.*.*", injector.before_call)
        client.meta.events.register("after-call.*.*", injector.after_call)
    # before-send: the request really goes out (not stopped by a fault before it).
    aws.s3().meta.events.register("before-send.s3.CopyObject", injector.copy_sent)
    yield injector
    for client in clients:
        client.meta.events.unregister("before-call.*.*", injector.before_call)
        client.meta.events.unregister("after-call.*.*", injector.after_call)
    aws.s3().meta.events.unregister("before-send.s3.CopyObject", injector.copy_sent)


def s3() -> Any:
    return boto3.client("s3")


def put_source(key: str, *, stores_sha256: bool) -> str:
    extra = {"ChecksumAlgorithm": "SHA256"} if stores_sha256 else {}
    return str(s3().put_object(Bucket=DEMO_BUCKET, Key=key, Body=f"reported {key}".encode(), **extra)["VersionId"])


def custody_steps(world: World, key: str, version: str) -> list[str]:
    pk = "CUSTODY#" + object_id(DEMO_BUCKET, key, version)
    return sorted(item["SK"]["S"].removeprefix("EVENT#") for item in table_items(world) if item["PK"]["S"] == pk)


def evidence_versions(world: World, key: str, version: str) -> list[dict[str, Any]]:
    prefix = evidence_key(DEMO_BUCKET, key, version)
    answer = s3().list_object_versions(Bucket=world.physical_name("EvidenceBucket"), Prefix=prefix)
    return answer.get("Versions", [])


def source_sha256(key: str, version: str) -> str:
    # A test may read the bytes; the worker may not when S3 knows the checksum.
    data = s3().get_object(Bucket=DEMO_BUCKET, Key=key, VersionId=version)["Body"].read()
    import hashlib

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def assert_never_tagged_without_a_verified_held_copy(world: World, key: str, version: str) -> None:
    tags = s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=version)["TagSet"]
    if not any(tag["Key"] == QUARANTINE_TAG for tag in tags):
        return
    (copy,) = evidence_versions(world, key, version)
    head = s3().head_object(
        Bucket=world.physical_name("EvidenceBucket"),
        Key=copy["Key"],
        VersionId=copy["VersionId"],
        ChecksumMode="ENABLED",
    )
    assert head["ObjectLockLegalHoldStatus"] == "ON", "tagged while the copy is not held"
    assert head["ChecksumSHA256"] == source_sha256(key, version), "tagged while the copy is not the source's bytes"
    assert "verified" in custody_steps(world, key, version), "tagged before the verification was recorded"


def quarantine_with_redelivery(world: World, key: str, version: str) -> int:
    """Deliver one CSAM message until it succeeds, checking the invariant after every delivery; the deliveries."""
    event = sqs_event(request_body(key, version_id=version))
    for delivery in range(1, MAX_RECEIVES + 1):
        failed = deliver(event)
        assert_never_tagged_without_a_verified_held_copy(world, key, version)
        if not failed:
            return delivery
    pytest.fail(f"{key}: still failing after {MAX_RECEIVES} receives; the message would be in the DLQ")


@pytest.mark.parametrize("stores_sha256", [True, False], ids=["sha256-stored", "no-sha256-stored"])
@pytest.mark.parametrize(("make", "after"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_a_fault_at_every_call_then_redelivery_ends_with_one_verified_held_copy(
    world, faults, make, after, stores_sha256
):
    clean_key = f"faults/clean-{stores_sha256}.bin"
    assert quarantine_with_redelivery(world, clean_key, put_source(clean_key, stores_sha256=stores_sha256)) == 1
    sequence = list(faults.calls)
    expected = {"HeadObject", "CopyObject", "PutItem", "GetObjectTagging", "PutObjectTagging"}
    expected |= {"GetObjectAttributes", "GetObjectLegalHold", "GetObjectRetention"}  # the copy, checked unread
    assert expected <= set(sequence) and ("GetObject" in sequence) is not stores_sha256

    for k, operation in enumerate(sequence):
        key = f"faults/{k}-{operation}-{stores_sha256}.bin"
        version = put_source(key, stores_sha256=stores_sha256)
        faults.calls.clear()
        faults.copies_sent = 0
        faults.at, faults.after, faults.make = k, after, make

        deliveries = quarantine_with_redelivery(world, key, version)

        where = f"fault at call {k} ({operation})"
        assert deliveries == 2, f"{where}: the first delivery should fail and the second succeed"
        (copy,) = evidence_versions(world, key, version)
        head = s3().head_object(
            Bucket=world.physical_name("EvidenceBucket"),
            Key=copy["Key"],
            VersionId=copy["VersionId"],
            ChecksumMode="ENABLED",
        )
        assert (head["ObjectLockLegalHoldStatus"], head["ObjectLockMode"]) == ("ON", "GOVERNANCE"), where
        assert head["ObjectLockRetainUntilDate"] >= datetime.now(UTC) + timedelta(days=365), where
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", world.arn("EvidenceKey")), where
        assert head["ChecksumSHA256"] == source_sha256(key, version), where
        assert faults.copies_sent == 1, f"{where}: {faults.copies_sent} CopyObject requests reached S3"
        assert custody_steps(world, key, version) == ["preserved", f"restricted#{REPORT}", "verified"], where
        tags = s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=version)["TagSet"]
        assert tags == [{"Key": QUARANTINE_TAG, "Value": REPORT}], where
