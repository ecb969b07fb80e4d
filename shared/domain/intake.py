"""Intake: accept a report once, answer its status to those entitled to it.

The request path is one conditional write for a new report and the same one write for a duplicate; it never reads.
A report with evidence payloads first has each distinct payload stored (one conditional put each, named by its
SHA-256, so a retry stores nothing new), and only then the report, so no accepted report names bytes that are not
kept. The stores are passed in (`ReportStore`, `EvidenceStore`), so this module runs without AWS in unit tests.
"""

from __future__ import annotations

import base64
import hmac
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.domain.answers import MAX_LISTED_BYTES, BatchItem, Receipt, Refusal, StatusList, StatusView
from shared.domain.callers import Caller
from shared.domain.dedupe import dedupe_key, key_digest_of, receipt_hash, receipt_token_for, report_id_for
from shared.domain.errors import (
    DomainError,
    InvalidReport,
    MalformedBody,
    PayloadTooLarge,
    ReportNotFound,
    StoreUnavailable,
    TokenConflict,
    UnsupportedMediaType,
    requirement,
)
from shared.domain.policy import CHILD_SAFETY_TYPES
from shared.domain.reports import (
    EvidenceDigest,
    Report,
    ReportRecord,
    ReportStatus,
    StoredEvidence,
    Submission,
    correlation_key_for,
    intake_evidence_key,
    queued_shard_for,
    utc_timestamp,
)
from shared.domain.resources import ResourceKind
from shared.domain.xarf import parse_batch, parse_submission


class ReportStore(Protocol):
    def put_new(self, report: ReportRecord) -> ReportRecord | None: ...

    def get(self, key_hex: str) -> ReportRecord | None: ...

    def by_correlation(
        self, correlation_key: str, limit: int, next_token: str | None
    ) -> tuple[list[StatusView], str | None]: ...


class EvidenceStore(Protocol):
    def keep(self, payload: EvidenceDigest, *, legal_hold: bool) -> None: ...


EVIDENCE_CONCURRENCY = 8  # parallel puts of one report's payloads (at most 50, 5 MB in all)


def request_body(body: str | None, *, base64_encoded: bool | None) -> bytes:
    """An API Gateway event's body as the bytes the client sent."""
    if not base64_encoded:
        return (body or "").encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body or "", validate=True)
    except ValueError:
        raise MalformedBody(
            "The body is not valid base64.", [requirement("", "rule.body.malformed_base64", "isBase64Encoded body")]
        ) from None


def check_envelope(content_type: str | None, body_size: int, max_body_bytes: int) -> None:
    """Refuse what is not worth parsing, before parsing it."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            "Send the report as application/json.",
            [requirement("", "rule.body.media_type", "Content-Type must be application/json")],
        )
    if body_size > max_body_bytes:
        raise PayloadTooLarge(
            "The body is too large.",
            [requirement("", "rule.body.too_large", f"at most {max_body_bytes} bytes")],
        )


def submit_json(
    body: bytes | str,
    caller: Caller,
    store: ReportStore,
    *,
    secret: bytes,
    protected_buckets: frozenset[str] = frozenset(),
    evidence: EvidenceStore | None = None,
    now: datetime | None = None,
) -> Receipt:
    now = now or datetime.now(UTC)
    submission = parse_submission(body, now=now)
    return submit(
        submission, caller, store, secret=secret, protected_buckets=protected_buckets, evidence=evidence, now=now
    )


def submit(
    submission: Submission,
    caller: Caller,
    store: ReportStore,
    *,
    secret: bytes,
    protected_buckets: frozenset[str] = frozenset(),
    evidence: EvidenceStore | None = None,
    now: datetime | None = None,
) -> Receipt:
    """Store the report once; `secret` (the server secret) keys its id and receipt. `evidence` is where payloads
    go: required when the report has any."""
    now = now or datetime.now(UTC)
    report = submission.report
    stored_evidence = keep_evidence(report, evidence)
    s3_objects = [r for r in report.resources if r.kind is ResourceKind.S3_OBJECT]
    key = dedupe_key(report, caller, submission.client_token, secret)
    receipt_token = receipt_token_for(caller, key, secret)
    record = ReportRecord(
        key_hex=key.hex,
        report_id=report_id_for(key, now),
        status=ReportStatus.QUEUED,
        received_at=utc_timestamp(now),
        principal=caller.scope,
        partner=caller.partner,
        trust_tier=caller.tier,
        category=report.category,
        type=report.type,
        resources=tuple(resource.canonical for resource in report.resources),
        s3_objects=tuple(r.canonical for r in s3_objects if r.bucket in protected_buckets),
        out_of_scope=tuple(r.canonical for r in s3_objects if r.bucket not in protected_buckets),
        incident_time=report.incident_time.isoformat().replace("+00:00", "Z"),
        description=report.description,
        reporter_org=report.reporter.org if report.reporter else None,
        reporter_contact=report.reporter.contact if report.reporter else None,
        reporter_domain=report.reporter.domain if report.reporter else None,
        evidence=stored_evidence,
        details=report.details,
        source_format=report.source_format,
        external_id=report.external_id,
        stale=report.stale,
        correlation_id=submission.correlation_id,
        correlation_key=correlation_key_for(caller.scope, submission.correlation_id),
        content_fingerprint=key.content_fingerprint,
        receipt_hash=receipt_hash(receipt_token),
        queued_shard=queued_shard_for(key.hex),
    )
    original = store.put_new(record)
    if original is None:
        return Receipt(report_id=record.report_id, status=record.status, duplicate=False, receipt_token=receipt_token)
    if key.by_token and original.content_fingerprint != key.content_fingerprint:
        raise TokenConflict(
            "This clientToken was already used for a different report.",
            [requirement("/clientToken", "rule.client_token.reused", "use a new clientToken for new content")],
        )
    # The receipt is derived from the key, which includes the caller: the same caller gets the same receipt again.
    return Receipt(report_id=original.report_id, status=original.status, duplicate=True, receipt_token=receipt_token)


def keep_evidence(report: Report, store: EvidenceStore | None) -> tuple[StoredEvidence, ...]:
    """Store every distinct payload of the report (in parallel) and answer what the report item keeps of each.

    Media in a CSAM or CSEM report (the reporter should have sent a URL and hashes) is held like a quarantined copy:
    legal hold, never viewed, never rendered. A notice in text is kept as for any other type.
    """
    if not report.evidence:
        return ()
    if store is None:
        raise StoreUnavailable("no evidence store")  # a deployment without the evidence bucket: accept nothing
    child_safety = (report.category, report.type) in CHILD_SAFETY_TYPES
    held = {e.sha256 for e in report.evidence if child_safety and not e.is_text}
    distinct = list({e.sha256: e for e in report.evidence}.values())

    def keep(payload: EvidenceDigest) -> None:
        store.keep(payload, legal_hold=payload.sha256 in held)

    if len(distinct) == 1:
        keep(distinct[0])
    else:
        with ThreadPoolExecutor(max_workers=min(EVIDENCE_CONCURRENCY, len(distinct))) as pool:
            list(pool.map(keep, distinct))  # the first failure is raised here: the report is not accepted
    return tuple(
        StoredEvidence(
            sha256=e.sha256,
            md5=e.md5,
            size=e.size,
            content_type=e.content_type,
            evidence_id=intake_evidence_key(e.sha256),
            declared_hash_matches=e.declared_hash_matches,
            legal_hold=e.sha256 in held,
        )
        for e in report.evidence
    )


@dataclass(frozen=True)
class BatchResult:
    """One item of a batch answer: what a single POST /v1/reports would have answered for it."""

    index: int
    status: int  # the HTTP status the item would have had alone: 202, 409, 422 or 503
    receipt: Receipt | None = None
    refusal: DomainError | None = None
    listing_budget: int = MAX_LISTED_BYTES  # bytes of problems this item may list: the whole answer stays bounded

    def answer(self) -> BatchItem:
        receipt = self.receipt
        refusal = Refusal.of(self.refusal, self.listing_budget) if self.refusal else None
        return BatchItem(
            index=self.index,
            status=self.status,  # 202, 409, 422 or 503 by construction: validated here all the same
            report_id=receipt.report_id if receipt else None,
            report_status=receipt.status if receipt else None,
            duplicate=receipt.duplicate if receipt else None,
            receipt_token=receipt.receipt_token if receipt else None,
            unmet_requirements=refusal.unmet_requirements if refusal else None,
            omitted_requirements=refusal.omitted_requirements if refusal else None,
        )

    def as_json(self) -> dict[str, object]:
        return self.answer().as_json()


BATCH_CONCURRENCY = 8  # parallel conditional writes; each item still costs exactly one
BATCH_LISTED_BYTES = 45_000  # problems all items of a batch answer list together; the rest of it stays under 20 KB


def submit_batch_json(
    body: bytes | str,
    caller: Caller,
    store: ReportStore,
    *,
    secret: bytes,
    protected_buckets: frozenset[str] = frozenset(),
    evidence: EvidenceStore | None = None,
    now: datetime | None = None,
) -> list[BatchResult]:
    """Every valid item is stored (one write each) even when others are refused; answers keep request order."""
    now = now or datetime.now(UTC)

    def one(index: int, item: Submission | InvalidReport) -> BatchResult:
        if isinstance(item, InvalidReport):
            return BatchResult(index, 422, refusal=item, listing_budget=budget)
        try:
            receipt = submit(
                item, caller, store, secret=secret, protected_buckets=protected_buckets, evidence=evidence, now=now
            )
            return BatchResult(index, 202, receipt=receipt)
        except TokenConflict as conflict:
            return BatchResult(index, 409, refusal=conflict, listing_budget=budget)
        except StoreUnavailable:
            return BatchResult(index, 503)

    items = parse_batch(body, now=now)
    budget = BATCH_LISTED_BYTES // len(items)  # the items share one answer's budget
    with ThreadPoolExecutor(max_workers=BATCH_CONCURRENCY) as pool:
        return list(pool.map(one, range(len(items)), items))


def status(report_id: str, caller: Caller, receipt_token: str | None, store: ReportStore) -> StatusView:
    """The report's status, for the caller who submitted it or a holder of its receipt; 'not found' to all others."""
    digest = key_digest_of(report_id)
    record = store.get(digest.hex()) if digest is not None else None
    # The same checks whether or not the item exists (no early return), so the answer's time says as little as one
    # GetItem allows about whether a report is there.
    readable = _may_read(record or _ABSENT, caller, receipt_token)
    if record is None or record.report_id != report_id or not readable:
        raise ReportNotFound(
            "No such report.", [requirement("/reportId", "rule.report_id.not_found", "no report with this id")]
        )
    return StatusView(
        report_id=record.report_id,
        status=record.status,
        received_at=record.received_at,
        reason_code=record.reason_code,
        case_id=record.case_id,
    )


MAX_LISTED_STATUSES = 50  # ListAbuseReportStatuses' maxResults: 1-50


def statuses_by_correlation(
    caller: Caller, correlation_id: str | None, max_results: str | None, next_token: str | None, store: ReportStore
) -> StatusList:
    """The caller's own reports that carry `correlation_id`, oldest first, a page at a time (another caller's reports
    with the same id are another key: they are never listed)."""
    problems = []
    if not correlation_id or len(correlation_id) > 256:
        problems.append(requirement("/correlationId", "rule.correlation_id.required", "1 to 256 characters"))
    limit = MAX_LISTED_STATUSES
    if max_results is not None:
        if not max_results.isdigit() or not 1 <= int(max_results) <= MAX_LISTED_STATUSES:
            problems.append(requirement("/maxResults", "rule.max_results.range", "a whole number from 1 to 50"))
        else:
            limit = int(max_results)
    if next_token is not None and len(next_token) > 1024:
        problems.append(requirement("/nextToken", "rule.next_token.malformed", "not a token this API gave out"))
    if problems:
        raise InvalidReport("The listing cannot be made as asked.", problems)
    key = correlation_key_for(caller.scope, correlation_id)
    assert key is not None  # correlation_id was checked above
    reports, token = store.by_correlation(key, limit, next_token)
    return StatusList(reports=reports, next_token=token)


# Stands in for a missing report in the authorization check; it matches no caller and no receipt.
_ABSENT = ReportRecord(
    key_hex="0" * 20,
    report_id="0" * 26,
    status=ReportStatus.QUEUED,
    received_at="",
    principal="\x00absent",
    trust_tier=0,
    category="",
    type="",
    resources=(),
    incident_time="",
    content_fingerprint="",
    receipt_hash="0" * 64,
    source_format="",
)


def _may_read(record: ReportRecord, caller: Caller, receipt_token: str | None) -> bool:
    # Both comparisons always run: which one grants access is not told by the time taken.
    by_principal = hmac.compare_digest(record.principal, caller.scope) and not caller.is_anonymous
    by_receipt = hmac.compare_digest(record.receipt_hash, receipt_hash(receipt_token or "")) and bool(receipt_token)
    return by_principal or by_receipt
