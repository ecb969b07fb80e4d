"""The demo customer bucket that `make run` protects, and the moto gaps on the quarantine path.

`seed_demo_bucket` makes what a protected bucket looks like in production: versioned, carrying the quarantine-tag deny
(``shared.domain.quarantine.protected_bucket_policy``, the document the template installs), holding a few small objects
uploaded with a SHA-256 checksum (so quarantining them needs no read of their bytes). It is idempotent: a restart finds
the objects and writes no new versions.

`register_moto_workarounds` (moto endpoints only) makes moto answer the quarantine path as S3 does, by adjusting
requests and answers on the client, never by a branch in product code:
- CopyObject with Object Lock headers: moto wants Content-MD5 or x-amz-sdk-checksum-algorithm (S3 does not); added.
- CreateMultipartUpload: moto ignores Object Lock headers; they are applied when CompleteMultipartUpload returns.
- PutObjectTagging with an empty tag set: moto fails (500); answered with DeleteObjectTagging, S3's same meaning.
Other gaps: moto evaluates no IAM policy and gets bucket-policy Deny conditions wrong (see `seed_demo_bucket`),
ignores If-None-Match on CopyObject, and has no working GetObjectRetention (HeadObject carries the same fields).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from shared.domain.quarantine import protected_bucket_policy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEMO_BUCKET = "demo-customer-content"


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG (an orange square), made here so the repository carries no binary."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x8c\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


DEMO_OBJECTS: dict[str, tuple[str, bytes]] = {
    "pages/login.html": (
        "text/html; charset=utf-8",
        b"<!doctype html><html lang=en><title>Demo login</title>"
        b"<form><label>User <input name=user></label><button>Sign in</button></form></html>\n",
    ),
    "images/pixel.png": ("image/png", _png()),
    "notes/readme.txt": ("text/plain; charset=utf-8", b"A demo object in a protected bucket.\n"),
}


def seed_demo_bucket(
    s3: S3Client,
    name: str = DEMO_BUCKET,
    *,
    exempt_principal_arns: Sequence[str] = (),
    install_policy: bool = True,
) -> dict[str, str]:
    """Create (or find) the versioned demo bucket with the quarantine policy and its objects: key -> version id.

    Pass install_policy=False on moto (embedded or a moto server): moto answers every GET of an object in a bucket
    whose policy has a Deny on s3:GetObject with 403, whatever the statement's conditions (it returns DENIED when a
    condition does not hold, even for a Deny), so an installed policy would make every object unreadable, tags
    included, to everyone. moto enforces no tag condition either way; the document is tested against the template.
    """
    request: dict[str, Any] = {"Bucket": name}
    region = s3.meta.region_name
    if region and region != "us-east-1":  # the one region that refuses an explicit LocationConstraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    # Versioning before any object: quarantine pins and tags versions, never keys.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if install_policy:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(protected_bucket_policy(name, exempt_principal_arns)))
    versions = {}
    for key, (content_type, body) in DEMO_OBJECTS.items():
        versions[key] = (
            _existing_version(s3, name, key, body)
            or s3.put_object(Bucket=name, Key=key, Body=body, ContentType=content_type, ChecksumAlgorithm="SHA256")[
                "VersionId"
            ]
        )
    return versions


def _existing_version(s3: S3Client, bucket: str, key: str, body: bytes) -> str | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise  # 403 included: a quarantined demo object is not readable, and not ours to overwrite either
    wanted = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return str(head["VersionId"]) if head.get("ChecksumSHA256") == wanted else None


def register_moto_workarounds(s3: S3Client) -> None:
    """Make moto answer the quarantine path's requests as S3 does (see the module docstring). moto endpoints only."""
    plain = boto3.client("s3", region_name=s3.meta.region_name, endpoint_url=s3.meta.endpoint_url)
    pending: dict[tuple[str, str], dict[str, Any]] = {}

    def checksum_header_on_locked_copy(request: Any, **_: Any) -> None:
        if any(name.lower().startswith("x-amz-object-lock-") for name in request.headers):
            request.headers["x-amz-sdk-checksum-algorithm"] = "SHA256"

    def remember_lock(params: dict[str, Any], **_: Any) -> None:
        lock = {name: params[name] for name in _LOCK_PARAMS if name in params}
        if lock:
            pending[(params["Bucket"], params["Key"])] = lock

    def remember_target(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["moto_workaround_target"] = (params["Bucket"], params["Key"])  # after-call gets no params

    def apply_lock(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        target = context.get("moto_workaround_target")
        lock = pending.pop(target, None) if target else None
        if not target or not lock or "VersionId" not in parsed:
            return
        where = {"Bucket": target[0], "Key": target[1], "VersionId": parsed["VersionId"]}
        if "ObjectLockMode" in lock:
            plain.put_object_retention(
                **where,
                Retention={"Mode": lock["ObjectLockMode"], "RetainUntilDate": lock["ObjectLockRetainUntilDate"]},
            )
        if lock.get("ObjectLockLegalHoldStatus"):
            plain.put_object_legal_hold(**where, LegalHold={"Status": lock["ObjectLockLegalHoldStatus"]})

    def delete_for_an_empty_tag_set(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not params.get("Tagging", {}).get("TagSet"):
            context["moto_workaround_untag"] = {k: params[k] for k in ("Bucket", "Key", "VersionId") if k in params}

    def untag_instead(context: dict[str, Any], **_: Any) -> Any:  # a before-call answer replaces the request
        where = context.pop("moto_workaround_untag", None)
        if where is None:
            return None
        answer = dict(plain.delete_object_tagging(**where))
        return AWSResponse("", 200, HTTPHeaders(), None), {"VersionId": answer.get("VersionId", "")}

    events = s3.meta.events
    events.register("before-parameter-build.s3.PutObjectTagging", delete_for_an_empty_tag_set, unique_id="moto-tags-1")
    events.register("before-call.s3.PutObjectTagging", untag_instead, unique_id="moto-tags-2")
    events.register("before-sign.s3.CopyObject", checksum_header_on_locked_copy, unique_id="moto-copy-lock-checksum")
    events.register("before-parameter-build.s3.CreateMultipartUpload", remember_lock, unique_id="moto-mpu-lock-1")
    events.register("before-parameter-build.s3.CompleteMultipartUpload", remember_target, unique_id="moto-mpu-lock-2")
    events.register("after-call.s3.CompleteMultipartUpload", apply_lock, unique_id="moto-mpu-lock-3")


_LOCK_PARAMS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")
