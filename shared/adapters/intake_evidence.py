"""The evidence bucket as the intake function writes to it: the payloads reporters send, under `intake/sha256/`.

A module of its own, apart from shared/adapters/evidence_bucket.py (the quarantine worker's), because that one loads
boto3's transfer manager and the quarantine domain, which the request path has no use for.

Each distinct payload is one PutObject, named by its SHA-256 (shared.domain.reports.intake_evidence_key), sent with
- `If-None-Match: *`, so bytes already stored (a retry, or another report of the same file) create nothing new:
  S3 answers 412 and the object that is there is the same bytes by construction;
- SSE-KMS under the evidence key, and the SHA-256 and MD5 we computed as the request's checksums, which S3 verifies
  before storing (an Object Lock bucket with default retention also refuses a put without Content-MD5 or an SDK
  checksum);
- a legal hold when the domain asks for one (media in a CSAM or CSEM report). When the bytes were already there
  without a hold, the hold is put on the object that is there. The bucket's default GOVERNANCE retention covers
  every object either way.

It never reads an object (the intake role may not), and never logs keys or bytes: a key names a payload's hash.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.domain.errors import StoreUnavailable
from shared.domain.reports import EvidenceDigest, intake_evidence_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_TAKEN = {"PreconditionFailed", "412"}
# Two requests racing to create one key: S3 lets one win and answers the other 409; the next attempt sees a 412.
_RACED = {"ConditionalRequestConflict", "409"}


class IntakeEvidence:
    def __init__(self, bucket: str, kms_key_id: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.kms_key_id = kms_key_id
        self._client = client

    @property
    def client(self) -> S3Client:
        return self._client or aws.s3_request_path()

    def keep(self, payload: EvidenceDigest, *, legal_hold: bool) -> None:
        """Store the payload's bytes once; StoreUnavailable when S3 would not, so the report is not accepted."""
        key = intake_evidence_key(payload.sha256)
        for attempt in (1, 2):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=payload.content,
                    IfNoneMatch="*",
                    ContentType=payload.content_type,
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=self.kms_key_id,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_base64(payload.sha256),
                    ContentMD5=_base64(payload.md5),
                    ObjectLockLegalHoldStatus="ON" if legal_hold else "OFF",
                )
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "Unknown")
                if code in _TAKEN:
                    if legal_hold:
                        self._hold(key)
                    return
                if code not in _RACED or attempt == 2:
                    raise StoreUnavailable(code) from exc
            except Exception as exc:  # connection errors after retries: nothing was accepted, say so
                raise StoreUnavailable(type(exc).__name__) from exc

    def _hold(self, key: str) -> None:
        # No VersionId: content-addressed, created only when absent, so the current version is the only one.
        try:
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=key, LegalHold={"Status": "ON"})
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc


def _base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
