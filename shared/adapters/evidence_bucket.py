"""The S3 adapter of the quarantine sequence (shared/domain/quarantine.py): the only code that sends S3 requests.

It implements `quarantine.ObjectStore` on a boto3 S3 client (`client or aws.s3()`), and reads S3's answers into the
domain's terms: which checksums are full-object values (a multipart object's are composite and equal nothing else),
when an ETag is an MD5 (single part and not SSE-KMS/SSE-C), when an object is gone (404; 405 for a delete marker)
and when a conditional copy found the key taken (412).

It refuses, before sending anything, a request about a source bucket that is not on the allow-list: the domain
checks first, this is the second lock on the same door. It never reads a body but a source version's, in
`digest_source`, which the domain calls only when S3 stores no usable checksum, and it never logs keys or bodies.

It sends the evidence bucket no GetObject and no HeadObject: the worker's role may not read evidence
(infra/template.yaml, `CheckEvidenceWithoutReadingIt`). A copy is described by GetObjectAttributes (version, size,
ETag, checksum, parts), GetObjectLegalHold and GetObjectRetention; its encryption by S3's answer to the copy. Which
versions of an object were preserved (an analyst's release lifts them all) is a ListObjectsV2 of its evidence
prefix: the keys name the versions (s3:ListBucket, which the role has so that a missing key answers 404).

Copies up to 5 GiB are one CopyObject (S3's limit for it), made with `If-None-Match: *` so that two workers racing
on one version cannot both write. Larger ones go through boto3's managed multipart copy; s3transfer cannot send
If-None-Match on a multipart copy, so for those the look-up before copying is the only guard (see the report).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.subscribers import BaseSubscriber

from shared.adapters import aws
from shared.domain.escalation import Unavailable
from shared.domain.quarantine import (
    LOCK_MODE,
    CopyAnswer,
    Digests,
    EvidenceObject,
    NotProtected,
    ObjectRef,
    Part,
    SourceObject,
    Vault,
    evidence_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

MiB = 1024 * 1024
GiB = 1024 * MiB
COPY_OBJECT_LIMIT = 5 * GiB  # the most one CopyObject copies
MAX_PARTS = 10_000
STREAM_CHUNK = 1 * MiB
PARTS_PER_PAGE = 1000  # GetObjectAttributes lists at most 1,000 parts per answer

# What GetObjectAttributes is asked for: enough to verify a copy without its bytes (no metadata, no encryption).
EVIDENCE_ATTRIBUTES: list[Any] = ["ETag", "Checksum", "ObjectParts", "ObjectSize"]

_GONE = {"404", "NoSuchKey", "NoSuchVersion", "405", "MethodNotAllowed"}
_NO_LOCK = {"NoSuchObjectLockConfiguration"}  # S3's answer for a version with no hold or no retention set
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")


class S3Evidence:
    def __init__(
        self,
        vault: Vault,
        protected_buckets: frozenset[str],
        client: S3Client | None = None,
        *,
        multipart_threshold: int = COPY_OBJECT_LIMIT,
        multipart_chunksize: int | None = None,
    ) -> None:
        self.vault = vault
        self.protected_buckets = protected_buckets
        self._client = client
        # Only tests lower these (S3's 5 MiB minimum part still applies), to exercise the multipart path cheaply.
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize

    @property
    def client(self) -> S3Client:
        return self._client or aws.s3()

    def _protected(self, bucket: str) -> str:
        if bucket not in self.protected_buckets:
            raise NotProtected(bucket)
        return bucket

    # --- reading ------------------------------------------------------------------------------------------------

    def head_source(self, bucket: str, key: str, version_id: str | None) -> SourceObject | None:
        request: dict[str, Any] = {"Bucket": self._protected(bucket), "Key": key, "ChecksumMode": "ENABLED"}
        if version_id is not None:
            request["VersionId"] = version_id
        try:
            answer: Mapping[str, Any] = self.client.head_object(**request)
        except ClientError as error:
            if _code(error) in _GONE or (version_id is not None and _code(error) in ("400", "InvalidArgument")):
                return None  # deleted, never existed, or a version id S3 cannot even parse: nothing to preserve
            raise
        if answer.get("DeleteMarker"):
            return None
        etag = str(answer.get("ETag", "")).strip('"')
        multipart = _is_multipart(answer, etag)
        encrypted_by_kms = str(answer.get("ServerSideEncryption", "")).startswith("aws:kms")
        md5 = _full_object(answer, "ChecksumMD5", multipart)
        if md5 is None and not multipart and not encrypted_by_kms and not answer.get("SSECustomerAlgorithm"):
            md5 = etag if _MD5_ETAG.fullmatch(etag) else None
        return SourceObject(
            bucket=bucket,
            key=key,
            # An unversioned bucket's objects have the version id "null", which S3 accepts back as one.
            version_id=str(answer.get("VersionId") or "null"),
            size=int(answer["ContentLength"]),
            etag=etag,
            sha256=_full_object(answer, "ChecksumSHA256", multipart),
            md5=md5,
            content_type=answer.get("ContentType"),
        )

    def head_evidence(self, key: str, version_id: str | None = None) -> EvidenceObject | None:
        where: dict[str, Any] = {"Bucket": self.vault.bucket, "Key": key}
        if version_id is not None:
            where["VersionId"] = version_id
        try:
            answer: Mapping[str, Any] = self.client.get_object_attributes(
                **where, ObjectAttributes=EVIDENCE_ATTRIBUTES, MaxParts=PARTS_PER_PAGE
            )
        except ClientError as error:
            if _code(error) in _GONE:  # 404, not 403, for a missing key: the worker may ListBucket
                return None
            raise
        # Lock state of this very version, even if another was written since.
        pinned = {"Bucket": self.vault.bucket, "Key": key, "VersionId": str(answer["VersionId"])}
        size = int(answer["ObjectSize"])
        etag = str(answer.get("ETag", "")).strip('"')
        checksum: Mapping[str, Any] = answer.get("Checksum") or {}
        listing: Mapping[str, Any] = answer.get("ObjectParts") or {}
        part_count = int(listing.get("TotalPartsCount") or _etag_parts(etag))
        sha256 = _hex(checksum.get("ChecksumSHA256"))
        composite = part_count > 0 or checksum.get("ChecksumType") == "COMPOSITE"
        retention = self._retention(pinned)
        return EvidenceObject(
            bucket=self.vault.bucket,
            key=key,
            version_id=pinned["VersionId"],
            size=size,
            sha256=None if composite else sha256,
            legal_hold=self._legal_hold(pinned),
            lock_mode=retention.get("Mode"),
            retain_until=retention.get("RetainUntilDate"),
            composite_sha256=sha256 if composite else None,
            part_count=part_count,
            parts=self._parts(pinned, listing, size, part_count) if composite else (),
        )

    def _legal_hold(self, pinned: Mapping[str, Any]) -> bool:
        try:
            answer = self.client.get_object_legal_hold(**pinned)
        except ClientError as error:
            if _code(error) in _NO_LOCK:
                return False
            raise
        return (answer.get("LegalHold") or {}).get("Status") == "ON"

    def _retention(self, pinned: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            answer = self.client.get_object_retention(**pinned)
        except ClientError as error:
            if _code(error) in _NO_LOCK:
                return {}
            raise
        return answer.get("Retention") or {}

    def _parts(
        self, pinned: Mapping[str, Any], listing: Mapping[str, Any], size: int, part_count: int
    ) -> tuple[Part, ...]:
        """The copy's parts as S3 lists them (1,000 per answer); else the boundaries this adapter copies along.

        S3 lists parts, with their checksums, for objects written with an additional checksum (ours are); when it
        gives only a count, the boundaries are those `_part_size` chose, which holds for every copy this service
        made with the same settings; the domain refuses to verify when the count or sizes do not add up.
        """
        parts = [_part(entry) for entry in listing.get("Parts") or []]
        page = listing
        while page.get("IsTruncated") and parts:
            answer = self.client.get_object_attributes(
                **pinned,
                ObjectAttributes=["ObjectParts"],
                MaxParts=PARTS_PER_PAGE,
                PartNumberMarker=int(page.get("NextPartNumberMarker") or parts[-1].number),
            )
            page = answer.get("ObjectParts") or {}
            parts += [_part(entry) for entry in page.get("Parts") or []]
        if parts:
            return tuple(parts)
        chunk = self._part_size(size)
        if part_count != -(-size // chunk):
            return ()
        return tuple(
            Part(number, min(chunk, size - offset), None)
            for number, offset in enumerate(range(0, size, chunk), start=1)
        )

    def digest_source(self, source: SourceObject, part_sizes: Sequence[int] = ()) -> Digests:
        # Bytes pass through hashlib and are dropped chunk by chunk: nothing is kept, written or logged.
        body = self.client.get_object(
            Bucket=self._protected(source.bucket), Key=source.key, VersionId=source.version_id
        )["Body"]
        sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        parts: list[str] = []
        boundaries = iter(part_sizes)
        part, part_left = hashlib.sha256(), next(boundaries, None)
        try:
            for chunk in body.iter_chunks(STREAM_CHUNK):
                sha256.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                while chunk and part_left is not None:
                    piece, chunk = chunk[:part_left], chunk[part_left:]
                    part.update(piece)
                    part_left -= len(piece)
                    if part_left == 0:
                        parts.append(part.hexdigest())
                        part, part_left = hashlib.sha256(), next(boundaries, None)
        finally:
            body.close()
        return Digests(sha256=sha256.hexdigest(), md5=md5.hexdigest(), size=size, part_sha256s=tuple(parts))

    def preserved_versions(self, bucket: str, key: str) -> Sequence[str]:
        # The evidence keys name the versions (shared.domain.quarantine.evidence_key): a listing, no read of a copy.
        prefix = evidence_prefix(self._protected(bucket), key)
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.vault.bucket, Prefix=prefix)
        return sorted({item["Key"].removeprefix(prefix) for page in pages for item in page.get("Contents", [])})

    def tags(self, source: ObjectRef) -> dict[str, str]:
        try:
            answer = self.client.get_object_tagging(
                Bucket=self._protected(source.bucket), Key=source.key, VersionId=source.version_id
            )
        except ClientError as error:
            if _code(error) in _GONE:
                return {}  # a version deleted since it was preserved carries nothing to lift
            raise
        return {tag["Key"]: tag["Value"] for tag in answer["TagSet"]}

    # --- writing ------------------------------------------------------------------------------------------------

    def copy_to_evidence(
        self, source: SourceObject, key: str, retain_until: datetime, metadata: Mapping[str, str]
    ) -> CopyAnswer | None:
        copy_source: CopySourceTypeDef = {
            "Bucket": self._protected(source.bucket),
            "Key": source.key,
            "VersionId": source.version_id,
        }
        args: dict[str, Any] = {
            "ObjectLockLegalHoldStatus": "ON",
            "ObjectLockMode": LOCK_MODE,
            "ObjectLockRetainUntilDate": retain_until,
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": self.vault.kms_key_id,
            # S3 computes the copy's SHA-256 from the bytes it writes: the value the verification compares.
            "ChecksumAlgorithm": "SHA256",
            "MetadataDirective": "REPLACE",
            "Metadata": dict(metadata),
            # The owner's tags are their data, not evidence; REPLACE with none also needs no tagging permission.
            "TaggingDirective": "REPLACE",
            # A version's bytes never change, but "null" (unversioned) ones can: copy only the bytes we pinned.
            "CopySourceIfMatch": f'"{source.etag}"',
        }
        if source.content_type:
            args["ContentType"] = source.content_type
        if source.size <= self.multipart_threshold:
            try:
                answer = self.client.copy_object(
                    Bucket=self.vault.bucket,
                    Key=key,
                    CopySource=copy_source,
                    IfNoneMatch="*",  # another worker got there first: theirs is the one copy
                    BucketKeyEnabled=True,
                    **args,
                )
            except ClientError as error:
                if _code(error) in ("PreconditionFailed", "412"):
                    return None
                raise
            return CopyAnswer(answer.get("ServerSideEncryption"), answer.get("SSEKMSKeyId"))
        return self._multipart_copy(copy_source, key, source, args)

    def _part_size(self, size: int) -> int:
        # Parts of at least 256 MiB and never more than S3's 10,000: a 5 TB object still fits.
        return self.multipart_chunksize or max(256 * MiB, -(-size // MAX_PARTS))

    def _multipart_copy(
        self, copy_source: CopySourceTypeDef, key: str, source: SourceObject, args: dict[str, Any]
    ) -> CopyAnswer:
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=self._part_size(source.size)
        )
        # s3transfer keeps S3's answers to itself; CreateMultipartUpload's says how the upload is encrypted.
        started: list[CopyAnswer] = []

        def upload_started(parsed: Mapping[str, Any], **_: Any) -> None:
            if parsed.get("Bucket") == self.vault.bucket and parsed.get("Key") == key:
                started.append(CopyAnswer(parsed.get("ServerSideEncryption"), parsed.get("SSEKMSKeyId")))

        events = self.client.meta.events
        events.register("after-call.s3.CreateMultipartUpload", upload_started)
        try:
            with create_transfer_manager(self.client, config) as manager:
                future = manager.copy(
                    copy_source=dict(copy_source),
                    bucket=self.vault.bucket,
                    key=key,
                    extra_args=args,
                    # We already know size and ETag: saves s3transfer its own HeadObject of the source.
                    subscribers=[_KnownSource(source.size, source.etag)],
                )
                future.result()
        finally:
            events.unregister("after-call.s3.CreateMultipartUpload", upload_started)
        return started[-1] if started else CopyAnswer(None, None)

    def hold(self, evidence: EvidenceObject) -> None:
        self.client.put_object_legal_hold(
            Bucket=evidence.bucket, Key=evidence.key, VersionId=evidence.version_id, LegalHold={"Status": "ON"}
        )

    def retain(self, evidence: EvidenceObject, until: datetime) -> None:
        # Extending GOVERNANCE retention needs no bypass permission; shortening it would, and is never done here.
        self.client.put_object_retention(
            Bucket=evidence.bucket,
            Key=evidence.key,
            VersionId=evidence.version_id,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},  # LOCK_MODE; a literal for the type checker
        )

    def put_tags(self, source: ObjectRef, tags: Mapping[str, str]) -> None:
        self.client.put_object_tagging(
            Bucket=self._protected(source.bucket),
            Key=source.key,
            VersionId=source.version_id,
            Tagging={"TagSet": [{"Key": name, "Value": value} for name, value in tags.items()]},
        )

    def lift_hold(self, evidence: EvidenceObject) -> None:
        self.client.put_object_legal_hold(
            Bucket=evidence.bucket, Key=evidence.key, VersionId=evidence.version_id, LegalHold={"Status": "OFF"}
        )

    def delete_evidence(self, evidence: EvidenceObject) -> None:
        # A versioned delete of one version removes it for good (no delete marker); GOVERNANCE needs the bypass.
        self.client.delete_object(
            Bucket=evidence.bucket, Key=evidence.key, VersionId=evidence.version_id, BypassGovernanceRetention=True
        )


class _KnownSource(BaseSubscriber):
    def __init__(self, size: int, etag: str) -> None:
        self.size, self.etag = size, etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(f'"{self.etag}"')


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _etag_parts(etag: str) -> int:
    """A multipart object's ETag is "<hex>-<parts>"; 0 for any other."""
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else 0


def _hex(checksum: str | None) -> str | None:
    # GetObjectAttributes gives a composite checksum bare; HeadObject appends "-<parts>". Either way, base64.
    return base64.b64decode(checksum.split("-")[0]).hex() if checksum else None


def _part(entry: Mapping[str, Any]) -> Part:
    return Part(int(entry["PartNumber"]), int(entry["Size"]), _hex(entry.get("ChecksumSHA256")))


def _is_multipart(answer: Mapping[str, Any], etag: str) -> bool:
    # A multipart object's ETag is "<hex>-<parts>" whatever its encryption; its checksums are composite unless S3
    # says FULL_OBJECT (which it only does for CRC algorithms, never SHA-256).
    return "-" in etag or answer.get("ChecksumType") == "COMPOSITE"


def _full_object(answer: Mapping[str, Any], name: str, multipart: bool) -> str | None:
    """A checksum S3 stores for the whole object, as hex; None if absent or only a composite of parts."""
    value = answer.get(name)
    if not value or "-" in value:
        return None
    if multipart and answer.get("ChecksumType") != "FULL_OBJECT":
        return None
    return base64.b64decode(value).hex()


class S3Drafts:
    """Drafts in the evidence bucket: SSE-KMS with the evidence key, under legal hold like the evidence they cite."""

    def __init__(self, bucket: str, kms_key_id: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.kms_key_id = kms_key_id
        self._client = client

    @property
    def client(self) -> S3Client:
        return self._client or aws.s3()

    def put(self, key: str, document: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=document,
                ContentType="application/xml",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.kms_key_id,
                # Object Lock refuses a put without an integrity checksum; the hold keeps the draft as long as the
                # files it names (REPORT Act preservation), and is lifted the same way on a destruction order.
                ChecksumAlgorithm="SHA256",
                ObjectLockLegalHoldStatus="ON",
            )
        except ClientError as exc:
            raise Unavailable(f"PutObject: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
        except Exception as exc:
            raise Unavailable(f"PutObject: {type(exc).__name__}") from exc
