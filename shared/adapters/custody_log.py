"""The chain of custody: an append-only log per source object version, kept in the reports table.

Items
-----
Custody event (one per step per object version; never updated, never deleted, no TTL: it outlives reporters' PII)
    PK = "CUSTODY#<bucket>/<sha256 of key>/<version id>"  (shared.domain.quarantine.object_id), or for a payload a
         reporter sent, "CUSTODY#intake/sha256/<hex>" (its `received` events: shared.adapters.reports_table)
    SK = "EVENT#<step>" for steps that happen once per version (preserved, verified, destroyed), or
         "EVENT#<step>#<occurrence>" for steps that can recur (restricted, released, held: the report id)
    entity = "custody", step, at (ISO 8601, UTC, ms), by (function name/request id, or the analyst),
    sourceBucket, sourceKey, sourceVersionId, evidenceBucket?, evidenceKey?, evidenceVersionId?, size? (N),
    sha256? (hex), md5? (hex), reportId?, caseId?, detail (M of S: lock state, verification method, reason,
    law-enforcement request...), viewedByHuman (BOOL; false for everything the service does itself).

Access patterns
---------------
- Append: one PutItem with `attribute_not_exists(PK)`. The SK is a function of the step and its occurrence, never
  of the time, so a redelivered message or a retried step writes nothing new; the first record of a step stands.
- One event: GetItem, strongly consistent (the worker looks for its own `verified` event before re-reading bytes;
  release and destroy look up what they undo).
- The whole chain of one version: Query on PK, ordered by `at`.

The table's stream carries these items too (NEW_IMAGE): stream consumers select `entity = "report"`.
This module must never log item contents: keys and hashes of reported files are evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.adapters.reports_table import CUSTODY_PK_PREFIX, TableAdapter
from shared.domain.errors import StoreUnavailable
from shared.domain.escalation import Evidence, Unavailable
from shared.domain.ncmec import DraftFile
from shared.domain.quarantine import UNPINNED_VERSION, CustodyEvent, Step, evidence_prefix, object_id
from shared.domain.resources import InvalidResource, canonicalize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_s3 import S3Client

PK_PREFIX = CUSTODY_PK_PREFIX  # the intake writes the first event of a payload's chain (reports_table)
SK_PREFIX = "EVENT#"

_OPTIONAL_STRINGS = {
    "evidence_bucket": "evidenceBucket",
    "evidence_key": "evidenceKey",
    "evidence_version_id": "evidenceVersionId",
    "sha256": "sha256",
    "md5": "md5",
    "report_id": "reportId",
    "case_id": "caseId",
}


def custody_pk(object_id: str) -> str:
    return PK_PREFIX + object_id


def custody_sk(event_id: str) -> str:
    return SK_PREFIX + event_id


def to_item(event: CustodyEvent) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "PK": {"S": custody_pk(event.object_id)},
        "SK": {"S": custody_sk(event.event_id)},
        "entity": {"S": "custody"},
        "step": {"S": str(event.step)},
        "at": {"S": event.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        "by": {"S": event.by},
        "sourceBucket": {"S": event.source_bucket},
        "sourceKey": {"S": event.source_key},
        "sourceVersionId": {"S": event.source_version_id},
        "detail": {"M": {name: {"S": value} for name, value in event.detail.items()}},
        "viewedByHuman": {"BOOL": event.viewed_by_human},
    }
    if event.occurrence:
        item["occurrence"] = {"S": event.occurrence}
    if event.size is not None:
        item["size"] = {"N": str(event.size)}
    for attribute, name in _OPTIONAL_STRINGS.items():
        value = getattr(event, attribute)
        if value is not None:
            item[name] = {"S": value}
    return item


def from_item(item: Mapping[str, Any]) -> CustodyEvent:
    return CustodyEvent(
        step=Step(item["step"]["S"]),
        source_bucket=item["sourceBucket"]["S"],
        source_key=item["sourceKey"]["S"],
        source_version_id=item["sourceVersionId"]["S"],
        at=datetime.fromisoformat(item["at"]["S"]),
        by=item["by"]["S"],
        size=int(item["size"]["N"]) if "size" in item else None,
        occurrence=item.get("occurrence", {}).get("S", ""),
        detail={name: value["S"] for name, value in item.get("detail", {}).get("M", {}).items()},
        viewed_by_human=bool(item["viewedByHuman"]["BOOL"]),
        **{attribute: item[name]["S"] for attribute, name in _OPTIONAL_STRINGS.items() if name in item},
    )


class CustodyLog(TableAdapter):
    """`quarantine.CustodyRecorder` on the reports table."""

    def append(self, event: CustodyEvent) -> bool:
        try:
            self.client.put_item(
                TableName=self.table_name, Item=to_item(event), ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # recorded by an earlier delivery: the first record of a step stands
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        return True

    def find(self, object_id: str, event_id: str) -> CustodyEvent | None:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"PK": {"S": custody_pk(object_id)}, "SK": {"S": custody_sk(event_id)}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        item = answer.get("Item")
        return from_item(item) if item else None

    def chain(self, object_id: str) -> list[CustodyEvent]:
        """Every event of one object version, oldest first."""
        paginator = self.client.get_paginator("query")
        events = [
            from_item(item)
            for page in paginator.paginate(
                TableName=self.table_name,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": custody_pk(object_id)}},
                ConsistentRead=True,
            )
            for item in page.get("Items", [])
        ]
        return sorted(events, key=lambda event: event.at)


class CustodyEvidenceIndex:
    """The case's verified copies, read from the quarantine worker's evidence keys and custody log.

    Contract with shared/domain/quarantine.py: a copy of source version v of s3://b/k is at
    `evidence/<b>/<sha256 of k>/<v>` in the evidence bucket, and its hashes are on the custody event
    `CUSTODY#<b>/<sha256 of k>/<v>` / `EVENT#verified`. A case knows its objects but not always their versions (the
    worker pins the current one when a report names none), so the versions come from listing that prefix: one
    ListObjectsV2 and one GetItem per object. A copy without a verified event is not a file of the draft yet. An
    object without a copy is pending unless the worker recorded it `absent` (one more GetItem): then none will come.
    """

    def __init__(self, bucket: str, custody: CustodyLog, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.custody = custody
        self._client = client

    @property
    def client(self) -> S3Client:
        return self._client or aws.s3()

    def evidence(self, objects: Iterable[str]) -> Evidence:
        files: list[DraftFile] = []
        pending: list[str] = []
        for uri in objects:
            try:
                resource = canonicalize(uri)
            except InvalidResource:
                continue
            if resource.bucket is None or resource.key is None:
                continue
            versions = (
                [resource.version_id]
                if resource.version_id
                else self._preserved_versions(resource.bucket, resource.key)
            )
            verified = [self._verified(resource.bucket, resource.key, version) for version in versions]
            found = [file for file in verified if file is not None]
            files += found
            if not found and not self._absent(resource.bucket, resource.key, resource.version_id):
                pending.append(uri)
        return Evidence(files=tuple(files), pending=tuple(pending))

    def _absent(self, bucket: str, key: str, version_id: str | None) -> bool:
        """The quarantine worker found nothing to preserve: no copy will come, so the draft waits for none."""
        return self.custody.find(object_id(bucket, key, version_id or UNPINNED_VERSION), Step.ABSENT) is not None

    def _preserved_versions(self, bucket: str, key: str) -> Sequence[str]:
        prefix = evidence_prefix(bucket, key)
        try:
            answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        except ClientError as exc:
            raise Unavailable(f"ListObjectsV2: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
        except Exception as exc:
            raise Unavailable(f"ListObjectsV2: {type(exc).__name__}") from exc
        return sorted(item["Key"].removeprefix(prefix) for item in answer.get("Contents", []))

    def _verified(self, bucket: str, key: str, version_id: str) -> DraftFile | None:
        event = self.custody.find(object_id(bucket, key, version_id), Step.VERIFIED)
        if event is None or not event.sha256 or not event.md5:
            return None
        return DraftFile(
            source_uri=f"s3://{bucket}/{quote(key, safe='/')}",
            version_id=version_id,
            sha256=event.sha256,
            md5=event.md5,
            viewed_by_esp=event.viewed_by_human,
        )
