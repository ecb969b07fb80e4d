"""The escalation worker: one EscalationRequest in; the case's CyberTipline draft kept current, on-call told once.

For each message (the escalation queue is FIFO, grouped by case, so one case's messages never run concurrently):
1. read the case (consistent);
2. child safety: find the case's preserved files (the quarantine worker's custody log), build the draft
   (shared/ncmec.py) and write it to `ncmec/<caseId>.xml` in the evidence bucket (SSE-KMS, legal hold) unless the
   case records that same draft already: one draft per case, updated as reports and files arrive;
3. notify on-call when the case was never notified, or its severity rose since: one page per case and level, not
   one per report (a viral case must not page 10,000 times);
4. record what was done on the case (draftSha256, notifiedSeverity);
5. child safety with files not preserved yet: fail the message, so it comes back and completes the draft (after
   the queue's maxReceiveCount it lands in the DLQ, whose alarm says a draft lacks its files).

Every step repeats safely. A crash between a write and its record repeats the write: the draft with the same bytes
(one more retained version of the same key, never a second draft), the page with the same notificationId. Paging
is at least once: SNS standard topics are themselves at-least-once, so subscribers dedupe on notificationId.

What on-call receives is ids and classification only: no URL, no description, no reporter, no file name or hash.
The ports keep this module testable on fakes; the S3, SNS and evidence-index adapters are at the bottom.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws, ncmec
from shared.cases import CaseState
from shared.custody import CustodyLog
from shared.messages import EscalationRequest
from shared.ncmec import DraftFile
from shared.policy import Severity
from shared.quarantine import EVIDENCE_PREFIX, Step, key_digest, object_id
from shared.resources import InvalidResource, canonicalize

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient


class EscalationError(Exception):
    """The message cannot be completed now; it comes back after the queue's visibility timeout."""


class CaseNotFound(EscalationError):
    """The dispatcher writes the case before it sends the message, so this is a replica lag or a bug."""


class EvidencePending(EscalationError):
    """Some of the case's objects have no verified copy yet; the draft is written without them until they do."""


class Unavailable(EscalationError):
    """S3 or SNS did not take a request after the client's retries."""


# ---------------------------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------------------------


class CaseBook(Protocol):
    def get(self, case_id: str) -> CaseState | None: ...

    def record_escalation(
        self, case_id: str, *, draft_sha256: str | None = None, notified_severity: Severity | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    files: tuple[DraftFile, ...]  # verified copies, with their hashes
    pending: tuple[str, ...]  # objects (canonical s3 URIs) without one yet


class EvidenceIndex(Protocol):
    def evidence(self, objects: Iterable[str]) -> Evidence: ...


class DraftStore(Protocol):
    def put(self, key: str, document: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """What on-call is told: ids and classification, nothing a reporter wrote and nothing that locates content."""

    case_id: str
    report_id: str
    severity: Severity
    family: str
    category: str
    type: str
    report_count: int
    reporter_count: int
    child_safety: bool
    draft_key: str | None

    @property
    def notification_id(self) -> str:
        """Stable per case and level: a pager deduplicates on it (a repeat after a crash is the same incident)."""
        return f"{self.case_id}:{self.severity}"

    def subject(self) -> str:
        return f"[{self.severity}] abuse-intake case {self.case_id}"

    def message(self) -> dict[str, Any]:
        return {
            "kind": "abuse-intake.escalation",
            "notificationId": self.notification_id,
            "caseId": self.case_id,
            "reportId": self.report_id,
            "severity": str(self.severity),
            "family": self.family,
            "category": self.category,
            "type": self.type,
            "reportCount": self.report_count,
            "reporterCount": self.reporter_count,
            "childSafety": self.child_safety,
            "draftKey": self.draft_key,
        }


class OnCall(Protocol):
    def notify(self, notice: Notice) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# The use case
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    drafted: bool  # this delivery wrote the draft
    notified: bool  # this delivery paged on-call
    files: int
    pending_files: int


def escalate(
    request: EscalationRequest,
    *,
    cases: CaseBook,
    evidence: EvidenceIndex,
    drafts: DraftStore,
    oncall: OnCall,
    contact_email: str,
) -> Outcome:
    case = cases.get(request.case_id)
    if case is None:
        raise CaseNotFound(request.case_id)

    draft_sha = case.draft_sha256
    found = Evidence(files=(), pending=())
    drafted = False
    key = None
    if request.child_safety:
        key = ncmec.draft_key(case.case_id)
        found = evidence.evidence(sorted(case.objects))
        document = ncmec.build(case, found.files, contact_email)
        draft_sha = hashlib.sha256(document).hexdigest()
        if draft_sha != case.draft_sha256:
            drafts.put(key, document)
            drafted = True

    severity = case.severity or request.severity
    notify = case.notified_severity is None or severity < case.notified_severity
    if notify:
        oncall.notify(
            Notice(
                case_id=case.case_id,
                report_id=request.report_id,
                severity=severity,
                family=case.family,
                category=request.category,
                type=request.type,
                report_count=case.report_count,
                reporter_count=case.reporter_count,
                child_safety=request.child_safety,
                draft_key=key,
            )
        )
    if drafted or notify:
        cases.record_escalation(
            case.case_id,
            draft_sha256=draft_sha if drafted else None,
            notified_severity=severity if notify else None,
        )
    if found.pending:
        raise EvidencePending(f"{len(found.pending)} of the case's objects have no verified copy yet")
    return Outcome(drafted=drafted, notified=notify, files=len(found.files), pending_files=len(found.pending))


# ---------------------------------------------------------------------------------------------------------------
# Adapters
# ---------------------------------------------------------------------------------------------------------------


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


class SnsOnCall:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> SNSClient:
        return self._client or aws.sns()

    def notify(self, notice: Notice) -> None:
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=notice.subject(),
                Message=json.dumps(notice.message(), separators=(",", ":")),
                # Subscriptions filter on these (P0 to the phone, the rest to the queue) without parsing the body.
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": str(notice.severity)},
                    "family": {"DataType": "String", "StringValue": notice.family},
                },
            )
        except ClientError as exc:
            raise Unavailable(f"Publish: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
        except Exception as exc:
            raise Unavailable(f"Publish: {type(exc).__name__}") from exc


class CustodyEvidenceIndex:
    """The case's verified copies, read from the quarantine worker's evidence keys and custody log.

    Contract with shared/quarantine.py: a copy of source version v of s3://b/k is at
    `evidence/<b>/<sha256 of k>/<v>` in the evidence bucket, and its hashes are on the custody event
    `CUSTODY#<b>/<sha256 of k>/<v>` / `EVENT#verified`. A case knows its objects but not always their versions (the
    worker pins the current one when a report names none), so the versions come from listing that prefix: one
    ListObjectsV2 and one GetItem per object. A copy without a verified event is not a file of the draft yet.
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
            if not found:
                pending.append(uri)
        return Evidence(files=tuple(files), pending=tuple(pending))

    def _preserved_versions(self, bucket: str, key: str) -> Sequence[str]:
        prefix = f"{EVIDENCE_PREFIX}{bucket}/{key_digest(key)}/"
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


EVIDENCE_RETRY_SECONDS = 10


def retry_soon(
    queue_url: str, receipt_handle: str, *, seconds: int = EVIDENCE_RETRY_SECONDS, client: Any = None
) -> None:
    """Bring a message back in `seconds` instead of after the queue's visibility timeout.

    For a child-safety draft waiting on the quarantine worker's verified copy: that copy usually lands within seconds,
    and the draft should carry its hashes as soon as it does. Best effort: if the call fails, the visibility timeout
    brings the message back all the same.
    """
    with contextlib.suppress(ClientError, BotoCoreError):
        (client or aws.sqs()).change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
