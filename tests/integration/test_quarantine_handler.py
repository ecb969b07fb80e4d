"""The quarantine worker as Lambda runs it: SQS batches in, evidence copies, tags and custody events out, under moto.

The world is built from infra/template.yaml (evidence bucket with Object Lock and SSE-KMS, its key, the reports
table); the demo bucket is seeded as `make run` seeds it. Assertions read S3 and DynamoDB with clients of their own,
never through the product's client, so the request counts below are the product's alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from functions.quarantine import handler
from local.demo import DEMO_BUCKET, DEMO_OBJECTS, seed_demo_bucket
from local.world import World
from shared.adapters import aws
from shared.adapters.custody_log import CustodyLog
from shared.adapters.evidence_bucket import MiB, S3Evidence
from shared.config import settings
from shared.domain.messages import QuarantineRequest
from shared.domain.quarantine import (
    QUARANTINE_TAG,
    ObjectRef,
    Status,
    Vault,
    destroy,
    evidence_key,
    quarantine,
    release,
)
from tests.conftest import load_event, table_items

REPORT = "01KB2X3Y4Z5A6B7C8D9E0F1G2H"  # the report id in events/quarantine_csam.json
OTHER_REPORT = "01KB2X3Y4Z5A6B7C8D9E0F1G3Z"
UNPROTECTED = "someone-elses-bucket"


class Context:
    function_name = "QuarantineFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:QuarantineFunction"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS event shaped like events/quarantine_csam.json, one record per body."""
    template = load_event("quarantine_csam.json")["Records"][0]
    records = []
    for number, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            template | {"messageId": f"00000000-0000-4000-8000-{number:012d}", "body": text, "md5OfBody": _md5(text)}
        )
    return {"Records": records}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def request_body(key: str, **fields: Any) -> dict[str, Any]:
    body = json.loads(load_event("quarantine_csam.json")["Records"][0]["body"])
    return body | {"key": key} | fields


def deliver(event: dict[str, Any]) -> list[str]:
    """Invoke the handler as the SQS event source does; the ids of the messages that will come back."""
    try:
        answer = handler.lambda_handler(event, Context())
    except BatchProcessingError:  # every record failed: Lambda returns the whole batch to the queue
        return [record["messageId"] for record in event["Records"]]
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


@dataclass
class S3Requests:
    """Every S3 request the product's client makes: operation and the buckets it names (Bucket and CopySource)."""

    calls: list[tuple[str, set[str]]] = field(default_factory=list)

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    def naming(self, bucket: str) -> list[str]:
        return [name for name, buckets in self.calls if bucket in buckets]

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        source = params.get("CopySource")
        named = {params.get("Bucket"), source.get("Bucket") if isinstance(source, dict) else source}
        self.calls.append((model.name, {b for b in named if b}))


@pytest.fixture
def s3_requests(demo_bucket: dict[str, str]) -> Iterator[S3Requests]:
    requests = S3Requests()
    # before-parameter-build sees the API's own parameters (Bucket, CopySource), once per call.
    aws.s3().meta.events.register("before-parameter-build.s3.*", requests.record)
    yield requests
    aws.s3().meta.events.unregister("before-parameter-build.s3.*", requests.record)


def s3() -> Any:
    return boto3.client("s3")


def evidence_bucket(world: World) -> str:
    return world.physical_name("EvidenceBucket")


def evidence_versions(world: World) -> list[dict[str, Any]]:
    return s3().list_object_versions(Bucket=evidence_bucket(world)).get("Versions", [])


def custody(world: World) -> list[dict[str, Any]]:
    return sorted((i for i in table_items(world) if i["entity"]["S"] == "custody"), key=lambda i: i["SK"]["S"])


def steps(world: World) -> list[str]:
    return [item["SK"]["S"].removeprefix("EVENT#") for item in custody(world)]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the scenarios ----------------------------------------------------------------------------------------


def test_a_csam_report_gives_one_held_encrypted_verified_copy_and_a_tagged_intact_source(world, demo_bucket):
    key = "images/pixel.png"
    version = demo_bucket[key]
    data = DEMO_OBJECTS[key][1]

    assert deliver(load_event("quarantine_csam.json")) == []

    (copy,) = evidence_versions(world)
    assert copy["Key"] == evidence_key(DEMO_BUCKET, key, version)
    head = s3().head_object(Bucket=evidence_bucket(world), Key=copy["Key"], VersionId=copy["VersionId"])
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["ObjectLockMode"] == "GOVERNANCE"  # moto has no GetObjectRetention; HeadObject carries the same
    assert head["ObjectLockRetainUntilDate"] >= datetime.now(UTC) + timedelta(days=365)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", world.arn("EvidenceKey"))
    source_head = s3().head_object(Bucket=DEMO_BUCKET, Key=key, VersionId=version, ChecksumMode="ENABLED")
    copy_head = s3().head_object(Bucket=evidence_bucket(world), Key=copy["Key"], ChecksumMode="ENABLED")
    assert copy_head["ChecksumSHA256"] == source_head["ChecksumSHA256"]
    assert base64.b64decode(copy_head["ChecksumSHA256"]).hex() == sha256_hex(data)

    tags = s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=version)["TagSet"]
    assert tags == [{"Key": QUARANTINE_TAG, "Value": REPORT}]
    assert s3().get_object(Bucket=DEMO_BUCKET, Key=key, VersionId=version)["Body"].read() == data  # not deleted

    assert steps(world) == ["preserved", f"restricted#{REPORT}", "verified"]
    verified = next(i for i in custody(world) if i["step"]["S"] == "verified")
    assert verified["sha256"]["S"] == sha256_hex(data) and verified["md5"]["S"] == hashlib.md5(data).hexdigest()
    assert verified["viewedByHuman"] == {"BOOL": False}
    assert (verified["sourceBucket"]["S"], verified["sourceKey"]["S"], verified["sourceVersionId"]["S"]) == (
        DEMO_BUCKET,
        key,
        version,
    )
    assert (verified["evidenceKey"]["S"], verified["evidenceVersionId"]["S"]) == (copy["Key"], copy["VersionId"])
    assert verified["by"]["S"].startswith("QuarantineFunction/") and verified["reportId"]["S"] == REPORT


def test_a_public_phishing_report_is_preserved_and_the_source_stays_untagged(world, demo_bucket):
    key = "pages/login.html"

    assert deliver(load_event("quarantine_phishing.json")) == []

    (copy,) = evidence_versions(world)
    assert copy["Key"] == evidence_key(DEMO_BUCKET, key, demo_bucket[key])
    assert s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=demo_bucket[key])["TagSet"] == []
    assert steps(world) == ["preserved", "verified"]


def test_a_message_naming_an_unprotected_bucket_sends_it_no_request_and_is_not_retried(world, s3_requests):
    s3().create_bucket(Bucket=UNPROTECTED)
    s3().put_object(Bucket=UNPROTECTED, Key="pages/login.html", Body=b"<form>")

    assert deliver(load_event("quarantine_unprotected_bucket.json")) == []

    assert s3_requests.naming(UNPROTECTED) == []
    assert s3_requests.calls == []
    assert evidence_versions(world) == [] and custody(world) == []


def test_five_deliveries_of_one_message_make_one_copy_request_and_one_event_per_step(world, s3_requests):
    event = load_event("quarantine_csam.json")

    for _ in range(5):
        assert deliver(event) == []

    assert s3_requests.count("CopyObject") == 1
    assert len(evidence_versions(world)) == 1
    assert steps(world) == ["preserved", f"restricted#{REPORT}", "verified"]


def test_a_second_report_from_another_partner_adds_no_copy_and_keeps_the_first_restriction(
    world, demo_bucket, s3_requests
):
    key = "images/pixel.png"
    assert deliver(load_event("quarantine_csam.json")) == []

    second = request_body(key, report_id=OTHER_REPORT, case_id="another-case", restrict=True)
    assert deliver(sqs_event(second)) == []

    assert s3_requests.count("CopyObject") == 1 and len(evidence_versions(world)) == 1
    tags = s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=demo_bucket[key])["TagSet"]
    assert tags == [{"Key": QUARANTINE_TAG, "Value": REPORT}]
    assert steps(world) == ["preserved", f"restricted#{REPORT}", "verified"]


def test_an_object_without_a_stored_sha256_is_read_once_and_never_again(world, s3_requests):
    # boto3 stores a CRC32 by default: S3 then knows no SHA-256 of the object, so the worker must hash its bytes.
    version = s3().put_object(Bucket=DEMO_BUCKET, Key="uploads/plain.bin", Body=b"no sha256 stored")["VersionId"]
    body = request_body("uploads/plain.bin", version_id=version)

    assert deliver(sqs_event(body)) == []
    reads_first = s3_requests.count("GetObject")
    s3_requests.calls.clear()
    assert deliver(sqs_event(body)) == []

    assert reads_first == 1 and s3_requests.count("GetObject") == 0
    verified = next(i for i in custody(world) if i["step"]["S"] == "verified")
    assert verified["sha256"]["S"] == sha256_hex(b"no sha256 stored")
    assert verified["detail"]["M"]["method"]["S"] == "streamed-source"


def test_the_version_the_report_named_is_preserved_even_after_an_overwrite(world, demo_bucket):
    key = "notes/readme.txt"
    named = demo_bucket[key]
    s3().put_object(Bucket=DEMO_BUCKET, Key=key, Body=b"replaced by the uploader", ChecksumAlgorithm="SHA256")

    assert deliver(sqs_event(request_body(key, version_id=named))) == []

    (copy,) = evidence_versions(world)
    assert copy["Key"].endswith(f"/{named}")
    assert copy["Size"] == len(DEMO_OBJECTS[key][1])


def test_a_deleted_object_is_acknowledged_recorded_absent_and_nothing_is_preserved(world, demo_bucket, s3_requests):
    key = "notes/readme.txt"
    s3().delete_object(Bucket=DEMO_BUCKET, Key=key, VersionId=demo_bucket[key])

    assert deliver(sqs_event(request_body(key, version_id=demo_bucket[key]))) == []

    assert s3_requests.count("CopyObject") == 0 and evidence_versions(world) == []
    (event,) = custody(world)
    assert event["SK"]["S"] == "EVENT#absent" and event["sourceVersionId"]["S"] == demo_bucket[key]


def test_a_malformed_message_fails_alone_and_the_rest_of_the_batch_is_done(world, demo_bucket):
    good = request_body("notes/readme.txt")
    event = sqs_event('{"report_id": "not a quarantine request"}', good)

    assert deliver(event) == [event["Records"][0]["messageId"]]
    assert len(evidence_versions(world)) == 1


def test_a_copy_won_by_a_concurrent_worker_is_verified_and_not_repeated(world, demo_bucket, s3_requests):
    """S3 refuses our conditional copy (412) because another worker just wrote the key: theirs is the one copy.

    moto ignores If-None-Match on CopyObject, so the other worker's copy and S3's refusal are made by a hook.
    """
    other_worker = boto3.client("s3")
    from local import moto_gaps
    from local.demo import register_moto_workarounds

    register_moto_workarounds(other_worker)
    moto_gaps.install(other_worker)

    def lose_the_race(params: dict[str, Any], **_: Any) -> None:
        assert params["IfNoneMatch"] == "*"
        other_worker.copy_object(**params)
        error = {
            "Code": "PreconditionFailed",
            "Message": "At least one of the pre-conditions you specified did not hold",
        }
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}, "CopyObject")

    aws.s3().meta.events.register("before-parameter-build.s3.CopyObject", lose_the_race)
    try:
        assert deliver(load_event("quarantine_csam.json")) == []
    finally:
        aws.s3().meta.events.unregister("before-parameter-build.s3.CopyObject", lose_the_race)

    assert len(evidence_versions(world)) == 1
    preserved = next(i for i in custody(world) if i["step"]["S"] == "preserved")
    assert preserved["detail"]["M"]["copiedByThisDelivery"]["S"] == "false"
    assert f"restricted#{REPORT}" in steps(world)


def quarantine_multipart(world: World, key: str, data: bytes) -> Any:
    """Quarantine an object through the multipart copy path, with the threshold lowered to S3's 5 MiB minimum part
    so that an object of a few MiB stands in for one over 5 GB."""
    version = s3().put_object(Bucket=DEMO_BUCKET, Key=key, Body=data, ChecksumAlgorithm="SHA256")["VersionId"]
    vault = Vault(bucket=evidence_bucket(world), kms_key_id=world.arn("EvidenceKey"))
    protected = settings().protected_buckets
    store = S3Evidence(vault, protected, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    return quarantine(
        QuarantineRequest(**request_body(key, version_id=version)),
        store=store,
        custody=CustodyLog(settings().table_name),
        vault=vault,
        protected_buckets=protected,
        actor="test",
    )


def test_an_object_over_the_copy_limit_goes_through_a_multipart_copy_and_is_verified(world, demo_bucket, s3_requests):
    data = bytes(range(256)) * (11 * MiB // 256)

    outcome = quarantine_multipart(world, "videos/big.mp4", data)

    assert outcome.status is Status.RESTRICTED and outcome.sha256 == sha256_hex(data)
    # A multipart copy's checksum is a composite of its parts: the source was hashed along the copy's parts (the
    # worker may not read the copy), and their composite and each part's SHA-256 matched S3's.
    assert outcome.verified_by == "streamed-source-parts"
    assert s3_requests.count("CopyObject") == 0 and s3_requests.count("UploadPartCopy") == 3
    assert s3_requests.count("HeadObject") == 1  # the source's; no extra one by s3transfer: size and ETag were given
    assert s3_requests.naming(evidence_bucket(world)).count("GetObject") == 0
    verified = next(i for i in custody(world) if i["step"]["S"] == "verified")
    assert verified["detail"]["M"]["evidenceChecksumType"]["S"] == "COMPOSITE"
    assert verified["md5"]["S"] == hashlib.md5(data).hexdigest()
    (copy,) = evidence_versions(world)
    head = s3().head_object(Bucket=evidence_bucket(world), Key=copy["Key"])
    assert (head["ObjectLockLegalHoldStatus"], head["ObjectLockMode"]) == ("ON", "GOVERNANCE")
    assert head["ServerSideEncryption"] == "aws:kms" and head["ContentLength"] == len(data)


def test_a_multipart_copy_whose_parts_s3_only_counts_is_verified_along_the_boundaries_it_was_copied_with(
    world, demo_bucket, s3_requests
):
    # S3 lists the parts of an object written with an additional checksum, but is documented to give only their
    # count at times: the adapter then hashes along the part size it copies with, and the composite must agree.
    withheld: list[int] = []

    def count_only(parsed: dict[str, Any], **_: Any) -> None:
        withheld.append(len(parsed.get("ObjectParts", {}).pop("Parts", [])))

    aws.s3().meta.events.register_last("after-call.s3.GetObjectAttributes", count_only)
    data = bytes(range(251)) * (6 * MiB // 251)
    try:
        outcome = quarantine_multipart(world, "videos/counted.mp4", data)
    finally:
        aws.s3().meta.events.unregister("after-call.s3.GetObjectAttributes", count_only)

    assert outcome.status is Status.RESTRICTED and outcome.verified_by == "streamed-source-parts"
    assert s3_requests.count("UploadPartCopy") == 2 and 2 in withheld  # S3 listed two parts; we hid them


EVIDENCE_READS = {"GetObject", "HeadObject"}


def evidence_reads(requests: S3Requests, world: World) -> list[str]:
    return [name for name in requests.naming(evidence_bucket(world)) if name in EVIDENCE_READS]


@pytest.mark.parametrize("stores_sha256", [True, False], ids=["sha256-stored", "no-sha256-stored"])
def test_the_worker_never_reads_an_evidence_copy_first_report_redelivery_or_second_report(
    world, demo_bucket, s3_requests, stores_sha256
):
    """The template denies the worker GetObject on evidence (HeadObject needs it too): no path may send either."""
    extra = {"ChecksumAlgorithm": "SHA256"} if stores_sha256 else {}
    version = s3().put_object(Bucket=DEMO_BUCKET, Key="uploads/r.bin", Body=b"reported bytes", **extra)["VersionId"]
    body = request_body("uploads/r.bin", version_id=version)

    for delivery in (body, body, body | {"report_id": OTHER_REPORT}):
        assert deliver(sqs_event(delivery)) == []

    assert evidence_reads(s3_requests, world) == []
    # What it asks instead, about the copy: attributes and lock state, every delivery.
    asked = s3_requests.naming(evidence_bucket(world))
    assert {"GetObjectAttributes", "GetObjectLegalHold", "GetObjectRetention"} <= set(asked)
    assert asked.count("CopyObject") == 1
    # Retention read back as GOVERNANCE for over a year: no delivery had to extend it, none had to re-hold.
    assert asked.count("PutObjectRetention") == 0 and asked.count("PutObjectLegalHold") == 0
    assert s3_requests.count("GetObject") == (0 if stores_sha256 else 1)  # the source's bytes, at most once
    assert steps(world) == ["preserved", f"restricted#{REPORT}", "verified"]


def test_the_worker_never_reads_an_evidence_copy_on_the_multipart_path(world, demo_bucket, s3_requests):
    data = bytes(range(256)) * (11 * MiB // 256)
    assert quarantine_multipart(world, "videos/mp.mp4", data).status is Status.RESTRICTED
    assert evidence_reads(s3_requests, world) == []
    assert s3_requests.naming(evidence_bucket(world)).count("UploadPartCopy") == 3


def test_the_worker_never_reads_an_evidence_copy_it_lost_the_race_for(world, demo_bucket, s3_requests):
    other_worker = boto3.client("s3")
    from local import moto_gaps
    from local.demo import register_moto_workarounds

    register_moto_workarounds(other_worker)
    moto_gaps.install(other_worker)

    def lose_the_race(params: dict[str, Any], **_: Any) -> None:
        other_worker.copy_object(**params)
        error = {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions did not hold"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 412}}, "CopyObject")

    aws.s3().meta.events.register("before-parameter-build.s3.CopyObject", lose_the_race)
    try:
        assert deliver(load_event("quarantine_csam.json")) == []
    finally:
        aws.s3().meta.events.unregister("before-parameter-build.s3.CopyObject", lose_the_race)

    assert evidence_reads(s3_requests, world) == []
    preserved = next(i for i in custody(world) if i["step"]["S"] == "preserved")
    # S3's answer to the copy went to the other worker: the evidence bucket's policy vouches for the key.
    assert preserved["detail"]["M"]["encryptionFrom"]["S"] == "bucket-policy"
    assert preserved["detail"]["M"]["kmsKeyId"]["S"] == world.arn("EvidenceKey")


def test_a_copy_this_worker_made_is_recorded_with_the_key_s3_said_it_used(world, demo_bucket):
    assert deliver(load_event("quarantine_csam.json")) == []
    preserved = next(i for i in custody(world) if i["step"]["S"] == "preserved")
    assert preserved["detail"]["M"]["encryptionFrom"]["S"] == "copy-answer"
    assert preserved["detail"]["M"]["kmsKeyId"]["S"] == world.arn("EvidenceKey")


def test_a_missing_evidence_bucket_setting_fails_the_message_naming_the_variable(world, monkeypatch):
    monkeypatch.delenv("EVIDENCE_BUCKET")
    settings.cache_clear()
    record = handler.QuarantineRecord.model_validate(load_event("quarantine_csam.json")["Records"][0])
    with pytest.raises(RuntimeError, match="EVIDENCE_BUCKET"):
        handler.handle(record, Context())  # type: ignore[arg-type]


# --- the analyst's follow-ups, on real (moto) S3 -----------------------------------------------------------------


def test_release_untags_the_source_and_destroy_deletes_the_held_copy_on_a_law_enforcement_request(world, demo_bucket):
    key = "images/pixel.png"
    ref = ObjectRef(DEMO_BUCKET, key, demo_bucket[key])
    assert deliver(load_event("quarantine_csam.json")) == []
    vault = Vault(bucket=evidence_bucket(world), kms_key_id=world.arn("EvidenceKey"))
    store = S3Evidence(vault, settings().protected_buckets)
    log = CustodyLog(settings().table_name)

    assert release(
        ref, REPORT, reason="false positive", store=store, custody=log, protected_buckets=store.protected_buckets,
        actor="analyst:alice",
    )  # fmt: skip
    assert s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=ref.version_id)["TagSet"] == []

    assert destroy(ref, law_enforcement_request="LE-2026-0042", store=store, custody=log, actor="analyst:bob")
    assert evidence_versions(world) == []
    assert steps(world) == ["destroyed", "preserved", f"released#{REPORT}", f"restricted#{REPORT}", "verified"]
    chain = [event.step for event in log.chain(ref.object_id)]
    assert chain == ["preserved", "verified", "restricted", "released", "destroyed"]


# --- the demo bucket and the template ------------------------------------------------------------------------------


def test_seeding_the_demo_bucket_again_writes_no_new_versions(world, demo_bucket):
    again = seed_demo_bucket(s3(), install_policy=False)
    assert again == demo_bucket
    assert len(s3().list_object_versions(Bucket=DEMO_BUCKET)["Versions"]) == len(DEMO_OBJECTS)
    assert s3().get_bucket_versioning(Bucket=DEMO_BUCKET)["Status"] == "Enabled"
    png = s3().get_object(Bucket=DEMO_BUCKET, Key="images/pixel.png")
    assert png["ContentType"] == "image/png" and png["Body"].read().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_seeded_bucket_policy_is_the_one_the_template_installs(world):
    role = world.get_att("QuarantineFunctionRole", "Arn")
    seed_demo_bucket(s3(), "demo-policy-check", exempt_principal_arns=[role])
    installed = json.loads(s3().get_bucket_policy(Bucket="demo-policy-check")["Policy"])
    declared = world.resolve(world.template.resources["ProtectedBucketPolicy"]["Properties"]["PolicyDocument"])
    declared["Statement"] = [
        statement | {"Resource": statement["Resource"].replace(DEMO_BUCKET, "demo-policy-check")}
        for statement in declared["Statement"]
    ]
    assert installed == declared


def test_the_worker_may_list_exactly_the_protected_and_evidence_buckets(world):
    statements = world.template.properties("QuarantineFunctionEvidencePolicy")["PolicyDocument"]["Statement"]
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert world.resolve(listing["Resource"]) == [f"arn:aws:s3:::{DEMO_BUCKET}", world.arn("EvidenceBucket")]


# --- from a report to a restricted object ------------------------------------------------------------------------


def test_a_csam_report_through_intake_quarantines_the_protected_object_and_never_touches_the_other(
    world, demo_bucket, s3_requests
):
    """Intake records protected and out-of-scope objects; the dispatcher's hop (issue 4) is played by hand here."""
    from functions.intake.handler import lambda_handler as intake
    from tests.samples import well_formed

    report = well_formed("content", "csam") | {
        "url": f"s3://{DEMO_BUCKET}/images/pixel.png",
        "source_identifier": f"s3://{UNPROTECTED}/mirror/pixel.png",
    }
    event = load_event("submit_report.json")
    event["body"] = json.dumps({"report": report})
    answer = intake(event, Context())
    assert answer["statusCode"] == 202, answer["body"]
    (item,) = [i for i in table_items(world) if i["entity"]["S"] == "report"]
    assert [v["S"] for v in item["outOfScope"]["L"]] == [f"s3://{UNPROTECTED}/mirror/pixel.png"]

    requests = []
    for uri in (v["S"] for v in item["s3Objects"]["L"]):
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        requests.append(request_body(key, bucket=bucket, report_id=item["reportId"]["S"], restrict=True))
    assert deliver(sqs_event(*requests)) == []

    tags = s3().get_object_tagging(Bucket=DEMO_BUCKET, Key="images/pixel.png")["TagSet"]
    assert tags == [{"Key": QUARANTINE_TAG, "Value": item["reportId"]["S"]}]
    assert len(evidence_versions(world)) == 1
    assert s3_requests.naming(UNPROTECTED) == []
