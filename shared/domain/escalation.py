"""The escalation worker: one EscalationRequest in; the case's CyberTipline draft kept current, on-call told once.

For each message (the escalation queue is FIFO, grouped by case, so one case's messages never run concurrently):
1. read the case (consistent);
2. child safety: find the case's preserved files (the quarantine worker's custody log), build the draft
   (shared/domain/ncmec.py) and write it to `ncmec/<caseId>.xml` in the evidence bucket (SSE-KMS, legal hold) unless the
   case records that same draft already: one draft per case, updated as reports and files arrive;
3. notify on-call when the case was never notified, or its severity rose since: one page per case and level, not
   one per report (a viral case must not page 10,000 times);
4. record what was done on the case (draftSha256, notifiedSeverity);
5. child safety with files not preserved yet: record on the case since when it waits (awaitingEvidenceSince, with
   the request, for the sweeper: shared.domain.sweep) and finish the message all the same. The quarantine worker
   sends a request of its own into the case's message group once a copy is verified (shared.domain.quarantine), and
   that request completes the draft; waiting by failing the message would hold the whole FIFO group (every later
   report of the case, and that very request) behind it. Once the draft has every file, the wait is cleared.

Every step repeats safely. A crash between a write and its record repeats the write: the draft with the same bytes
(one more retained version of the same key, never a second draft), the page with the same notificationId. Paging
is at least once: SNS standard topics are themselves at-least-once, so subscribers dedupe on notificationId.

What on-call receives is ids and classification only: no URL, no description, no reporter, no file name or hash.
The ports keep this module testable on fakes; the S3, SNS and evidence-index adapters are at the bottom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain import ncmec
from shared.domain.cases import CaseState
from shared.domain.messages import EscalationRequest
from shared.domain.ncmec import DraftFile
from shared.domain.policy import Severity
from shared.domain.reports import utc_timestamp

if TYPE_CHECKING:
    pass


class EscalationError(Exception):
    """The message cannot be completed now; it comes back after the queue's visibility timeout."""


class CaseNotFound(EscalationError):
    """The dispatcher writes the case before it sends the message, so this is a replica lag or a bug."""


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

    def await_evidence(self, case_id: str, request: EscalationRequest, since: str) -> None: ...

    def evidence_complete(self, case_id: str) -> None: ...


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
    now: datetime | None = None,
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
        if case.awaiting_evidence_since is None:
            # Listed for the sweeper (shared.domain.sweep), in case this message never comes back to finish it.
            cases.await_evidence(case.case_id, request, utc_timestamp(now or datetime.now(UTC)))
    elif request.child_safety and case.awaiting_evidence_since is not None:
        cases.evidence_complete(case.case_id)
    return Outcome(drafted=drafted, notified=notify, files=len(found.files), pending_files=len(found.pending))
