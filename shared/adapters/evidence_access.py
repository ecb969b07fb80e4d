"""The two ways a person reaches stored evidence: a recorded view (a 60-second presigned URL) and a destruction order.

Neither reads or logs a byte. A view URL is signed with the casework function's role, which the evidence bucket's
policy and the evidence key name as a reader; the URL is made only after the view's custody event and audit entries are
written (functions/casework), so no look goes unrecorded. A destruction runs with EvidenceCustodianRole's credentials,
assumed for that one order: the only role that may lift a legal hold or bypass GOVERNANCE retention. It deletes every
version of the payload's key; the report items and custody events keep the payload's hashes, size and type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.domain.errors import StoreUnavailable
from shared.domain.quarantine import evidence_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


class EvidenceAccess:
    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        return self._client or aws.s3()

    def preserved_versions(self, bucket: str, key: str) -> list[str]:
        """The source versions of s3://bucket/key with a copy here: the copies' keys name them (a listing, no read)."""
        prefix = evidence_prefix(bucket, key)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(item["Key"].removeprefix(prefix) for page in pages for item in page.get("Contents", []))
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc

    def view_url(self, key: str, seconds: int) -> str:
        """A presigned GetObject URL for `key`, valid `seconds`; signing is local, nothing is fetched."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )

    def destroy(self, key: str, custodian: S3Client) -> int:
        """Delete every version of `key` with the custodian's credentials: lift each legal hold, then delete with the
        governance bypass. Returns how many versions were deleted (0: already destroyed; the order is idempotent)."""
        deleted = 0
        try:
            listed = custodian.list_object_versions(Bucket=self.bucket, Prefix=key)
            for version in listed.get("Versions", []):
                if version["Key"] != key:
                    continue  # a prefix match on a longer key: not this payload
                version_id = version["VersionId"]
                hold = custodian.get_object_legal_hold(Bucket=self.bucket, Key=key, VersionId=version_id)
                if hold.get("LegalHold", {}).get("Status") == "ON":
                    custodian.put_object_legal_hold(
                        Bucket=self.bucket, Key=key, VersionId=version_id, LegalHold={"Status": "OFF"}
                    )
                custodian.delete_object(
                    Bucket=self.bucket, Key=key, VersionId=version_id, BypassGovernanceRetention=True
                )
                deleted += 1
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        return deleted


def custodian_s3(role_arn: str, analyst: str) -> S3Client:
    """S3 as EvidenceCustodianRole, in a session named for the analyst (CloudTrail says who ordered it)."""
    session = "".join(ch if ch.isalnum() or ch in "+=,.@-_" else "-" for ch in analyst)[:48] or "custodian"
    try:
        return aws.s3_as(role_arn, f"destruction-{session}")
    except ClientError as exc:
        raise StoreUnavailable(_code(exc)) from exc
