"""Quarantine: preserve an S3 object version that a report names, prove the copy, and only then restrict the original.

One object version at a time, in this order, every step safe to repeat:

1. refuse anything outside the protected-bucket allow-list before any S3 request is made;
2. pin the version (HeadObject: the version the report named, else the current one); when there is none (deleted,
   never uploaded), record an `absent` custody event instead, tell the escalation worker (step 7), and stop;
3. copy that version to a deterministic evidence key, `evidence/<bucket>/<sha256 of key>/<version>`, in the
   evidence bucket (Object Lock, versioned, SSE-KMS) with a legal hold and GOVERNANCE retention, unless a copy is
   already there (a redelivery, a second report, a crash after the copy);
4. verify: the copy's SHA-256 equals the source's, sizes agree, the hold is on, retention is GOVERNANCE and reaches a
   year from now, the copy is encrypted with the evidence key; record the MD5 too (NCMEC asks for it);
5. append custody events (shared/adapters/custody_log.py) for what was done: preserved, verified;
6. only then, if policy says so, restrict the original reversibly: add the `abuse-intake:quarantine` tag to that exact
   version; a bucket-policy deny on the tag (`protected_bucket_policy`) does the enforcing;
7. for a child-safety case, tell the escalation worker the copy is verified (`EvidenceReady`), so the case's
   CyberTipline draft gets the file's hashes now rather than when a retry or the sweeper comes round. Sent on every
   delivery that gets this far: a redelivery sends it again, and the escalation worker is idempotent.

Convergence without a lock: the evidence key is a function of the source version, the copy is skipped when the key
already holds a copy and is made with `If-None-Match: *` so two concurrent workers cannot both write one; custody
events have deterministic ids and are written with `attribute_not_exists`; the tag is added only if absent. So the
same message five times, the same object in many reports, or a crash at any step ends with exactly one evidence copy
per source version, and the source is never tagged before a verified, held copy exists.

Retention is a legal hold plus GOVERNANCE mode for at least `retention_days` (REPORT Act: one year), never
COMPLIANCE: 18 U.S.C. 2258B also requires destruction on a law-enforcement request, which COMPLIANCE would make
impossible. `release` and `destroy` are the analyst's follow-ups, each with its custody event.

An analyst's decision reaches the worker as an `ObjectDecision` (one per object of the case, from the completion
worker; `carry_out`): RELEASE lifts the restriction of every preserved version (`release_by_decision`: by the
analyst, the decision as reason; the copy stays held), RESTRICT puts the tag on the object's current version after
steps 2 to 5 (`restrict_by_decision`: the decision's id is the restriction's). Both are safe to repeat, and neither
undoes what came after the decision: a release leaves a restriction newer than it.

The worker writes evidence but may not read it (infra/template.yaml denies its role s3:GetObject on the evidence
bucket, which HeadObject needs too): a copy is described by its attributes (GetObjectAttributes: version, size,
S3's SHA-256 of the bytes it wrote, its parts) and its lock state, and is verified against the source's bytes,
never its own. See `_verify` for what that proves and what the bucket guarantees instead.

This module is the domain: it imports no AWS code. S3 comes in as an `ObjectStore` (shared/adapters/evidence_bucket.py)
and the custody log as a `CustodyRecorder` (shared/adapters/custody_log.py). It never reads an object's body itself,
never logs keys or contents, and never sets `viewedByHuman` to anything but false: no person sees a file through this
code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.callers import TrustTier
from shared.domain.messages import EscalationRequest, ObjectDecision, QuarantineRequest
from shared.domain.policy import CHILD_SAFETY_TYPES, decide

QUARANTINE_TAG = "abuse-intake:quarantine"
LOCK_MODE = "GOVERNANCE"  # never COMPLIANCE, see the module docstring
EVIDENCE_PREFIX = "evidence/"
MAX_OBJECT_TAGS = 10  # S3's limit per object version
# A copy is made to be kept retention_days plus this much, so that a second report within a month does not cost a
# PutObjectRetention to push the date out by hours; a report after that extends it (a year from every report).
RETENTION_SLACK = timedelta(days=30)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------------


def key_digest(key: str) -> str:
    """Keys can be 1 KB of anything, including what the uploader wrote into them: names carry their hash instead."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def object_id(bucket: str, key: str, version_id: str) -> str:
    """One source object version: `<bucket>/<sha256 of key>/<version>`. Names its evidence and its custody log."""
    return f"{bucket}/{key_digest(key)}/{version_id}"


# The version an `absent` event names when the report named none and the key had no current version. S3 version ids
# are "null" or opaque tokens, never "-", so it cannot name a real version.
UNPINNED_VERSION = "-"


def evidence_key(bucket: str, key: str, version_id: str) -> str:
    return EVIDENCE_PREFIX + object_id(bucket, key, version_id)


def evidence_prefix(bucket: str, key: str) -> str:
    """Where the copies of every version of s3://bucket/key are: the version id follows it."""
    return f"{EVIDENCE_PREFIX}{bucket}/{key_digest(key)}/"


# ---------------------------------------------------------------------------------------------------------------
# What the adapters report
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version_id: str

    @property
    def object_id(self) -> str:
        return object_id(self.bucket, self.key, self.version_id)

    @property
    def evidence_key(self) -> str:
        return evidence_key(self.bucket, self.key, self.version_id)


@dataclass(frozen=True)
class SourceObject(ObjectRef):
    """A pinned source version, as HeadObject describes it."""

    size: int
    etag: str  # without quotes
    sha256: str | None  # hex; only a full-object SHA-256 that S3 stores, else None (S3 cannot tell us)
    md5: str | None  # hex; only when S3's answer carries it (a single-part, non-KMS ETag is one)
    content_type: str | None = None


@dataclass(frozen=True)
class Part:
    """One part of a multipart copy, as S3 lists it (GetObjectAttributes ObjectParts)."""

    number: int
    size: int
    sha256: str | None  # hex; S3's SHA-256 of the part's bytes, None when S3 does not list it


@dataclass(frozen=True)
class EvidenceObject:
    """The evidence copy of one source version, as the worker may see it: attributes and lock state, no bytes.

    The version id is the copy's own; the source version it preserves is part of its key (`evidence_key`), so no
    metadata is needed to tell which version a copy is of (and the worker could not read metadata anyway).
    """

    bucket: str
    key: str
    version_id: str
    size: int
    sha256: str | None  # hex; a full-object SHA-256, else None (a multipart copy has only a composite one)
    legal_hold: bool
    lock_mode: str | None
    retain_until: datetime | None
    # A multipart copy: S3's composite SHA-256 (hex, the SHA-256 of its parts' binary SHA-256s) and its parts in
    # order. Empty parts with a composite: S3 told only how many parts there are, not their sizes.
    composite_sha256: str | None = None
    part_count: int = 0
    parts: tuple[Part, ...] = ()
    # Known only from S3's answer to a copy this worker made (GetObjectAttributes does not report encryption);
    # None for a copy found in place, whose encryption the evidence bucket itself guarantees (see `_ensure_held`).
    encryption: str | None = None
    kms_key_id: str | None = None


@dataclass(frozen=True)
class CopyAnswer:
    """What S3 answered to the copy this worker made: how it encrypted it."""

    encryption: str | None
    kms_key_id: str | None


@dataclass(frozen=True)
class Digests:
    """Hashes computed by streaming a source version's bytes (only when S3 cannot give what is needed)."""

    sha256: str
    md5: str
    size: int
    part_sha256s: tuple[str, ...] = ()  # hex, one per part of the layout asked for; empty if none was


def composite_sha256(part_sha256s: Sequence[str]) -> str:
    """S3's composite checksum of a multipart object: the SHA-256 of its parts' binary SHA-256s, concatenated (hex)."""
    return hashlib.sha256(b"".join(bytes.fromhex(part) for part in part_sha256s)).hexdigest()


@dataclass(frozen=True)
class Vault:
    """Where evidence goes and how long it stays."""

    bucket: str
    kms_key_id: str  # the key's ARN (or id): copies must be encrypted with exactly this key
    retention_days: int = 365


# ---------------------------------------------------------------------------------------------------------------
# Custody
# ---------------------------------------------------------------------------------------------------------------


class Step(StrEnum):
    PRESERVED = "preserved"  # a held copy exists in the evidence bucket
    HELD = "held"  # an existing copy's legal hold or retention had to be (re)applied, for a later report
    VERIFIED = "verified"  # the copy's SHA-256 equals the source's; MD5 recorded
    RESTRICTED = "restricted"  # the source version carries the quarantine tag
    RELEASED = "released"  # an analyst lifted a restriction
    DESTROYED = "destroyed"  # the evidence version was deleted on a law-enforcement request
    ABSENT = "absent"  # there was nothing to preserve: the version (or the key) did not exist when the report came
    REPORTED = "reported"  # the copy went to NCMEC in a finished CyberTip (the filer; occurrence: NCMEC's reportId)


@dataclass(frozen=True)
class CustodyEvent:
    """One entry of an object version's chain of custody. Its id is deterministic, so a repeat is not a second entry.

    Steps that happen once per object version (preserved, verified, destroyed) have the step as id; steps that can
    recur (restricted, released, held) carry an `occurrence`: the report whose restriction it is, or that asked.
    """

    step: Step
    source_bucket: str
    source_key: str
    source_version_id: str
    at: datetime
    by: str  # function name and request id, or the analyst
    evidence_bucket: str | None = None
    evidence_key: str | None = None
    evidence_version_id: str | None = None
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    report_id: str | None = None
    case_id: str | None = None
    occurrence: str = ""
    detail: Mapping[str, str] = field(default_factory=dict)
    viewed_by_human: bool = False  # US v. Wilson: whether a person at the provider looked at the file

    @property
    def object_id(self) -> str:
        return object_id(self.source_bucket, self.source_key, self.source_version_id)

    @property
    def event_id(self) -> str:
        return f"{self.step}#{self.occurrence}" if self.occurrence else str(self.step)


class CustodyRecorder(Protocol):
    def append(self, event: CustodyEvent) -> bool:
        """Record the event unless one with its id exists; True if this call recorded it."""
        ...

    def find(self, object_id: str, event_id: str) -> CustodyEvent | None: ...


class EvidenceReady(Protocol):
    def send(self, request: EscalationRequest, deduplication_id: str) -> None:
        """Into the case's message group of the escalation queue; raises if SQS did not take it."""
        ...


def evidence_ready(request: QuarantineRequest, case_id: str, object_id: str) -> tuple[EscalationRequest, str]:
    """The escalation request a verified child-safety copy (or a source found absent) sends, and its FIFO
    deduplication id: one per object version (a redelivery within SQS's five minutes is dropped by SQS, a later one
    is a no-op for the worker)."""
    decision = decide(request.category, request.type, TrustTier.PUBLIC)
    message = EscalationRequest(
        case_id=case_id,
        report_id=request.report_id,
        severity=decision.severity,
        category=request.category,
        type=request.type,
        child_safety=True,
    )
    return message, hashlib.sha256(f"verified\0{case_id}\0{object_id}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# S3, as the domain needs it
# ---------------------------------------------------------------------------------------------------------------


class ObjectStore(Protocol):
    """The S3 requests the sequence makes. Implementations must refuse any source bucket not on their allow-list."""

    def head_source(self, bucket: str, key: str, version_id: str | None) -> SourceObject | None:
        """The version (the current one if version_id is None); None if it does not exist (deleted, never was)."""
        ...

    def head_evidence(self, key: str, version_id: str | None = None) -> EvidenceObject | None:
        """The copy's attributes and lock state (never its bytes); None if the key holds none."""
        ...

    def copy_to_evidence(
        self, source: SourceObject, key: str, retain_until: datetime, metadata: Mapping[str, str]
    ) -> CopyAnswer | None:
        """Copy the version under legal hold and GOVERNANCE retention; None if the key already held a copy."""
        ...

    def digest_source(self, source: SourceObject, part_sizes: Sequence[int] = ()) -> Digests:
        """Stream the source version once: its SHA-256 and MD5, and the SHA-256 of each part of `part_sizes`."""
        ...

    def hold(self, evidence: EvidenceObject) -> None: ...

    def retain(self, evidence: EvidenceObject, until: datetime) -> None: ...

    def preserved_versions(self, bucket: str, key: str) -> Sequence[str]:
        """The source versions of s3://bucket/key that have a copy in the evidence bucket (from its keys alone)."""
        ...

    def tags(self, source: ObjectRef) -> dict[str, str]:
        """The version's tags; none for a version that does not exist (any more)."""
        ...

    def put_tags(self, source: ObjectRef, tags: Mapping[str, str]) -> None: ...

    def lift_hold(self, evidence: EvidenceObject) -> None: ...

    def delete_evidence(self, evidence: EvidenceObject) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# Errors: each stops the sequence before the source is touched; the message is retried, then dead-lettered
# ---------------------------------------------------------------------------------------------------------------


class QuarantineError(Exception):
    """Something S3 reported that no retry of ours should paper over; a person has to look."""


class EvidenceMismatch(QuarantineError):
    """The evidence copy is not the source's bytes (hash, parts or size differ)."""


class CannotVerify(QuarantineError):
    """S3 describes the copy too little to compare it with the source without reading it (which the worker may not)."""


class EvidenceNotProtected(QuarantineError):
    """The copy exists but is not protected as evidence must be (wrong key or encryption, COMPLIANCE mode)."""


class CannotRestrict(QuarantineError):
    """The source version cannot take the quarantine tag (it already has S3's maximum of 10 tags)."""


class NotPreserved(QuarantineError):
    """A release or destroy named something that this service never preserved or restricted."""


class NotProtected(QuarantineError):
    """The bucket is not on the allow-list: the service never sends a request about it."""


# ---------------------------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------------------------


def should_restrict(request: QuarantineRequest) -> bool:
    """What the dispatcher decided, or what policy decides for the least trusted reporter (CSAM and CSEM: always).

    The worker cannot see the reporter's tier, but the child-safety rule holds whoever reported, so it is applied
    here again: a dispatcher that forgot it cannot leave CSAM reachable.
    """
    return request.restrict or decide(request.category, request.type, TrustTier.PUBLIC).restrict_now


def protected_bucket_policy(
    bucket: str, exempt_principal_arns: Sequence[str] = (), partition: str = "aws"
) -> dict[str, Any]:
    """The bucket-policy deny that makes the quarantine tag bite; infra/template.yaml installs this same document.

    Nobody but the exempt principals (the quarantine worker's role) may read a version that carries the tag, or
    change that version's tags (else the uploader could untag it). The worker stays exempt because HeadObject needs
    s3:GetObject and a second report about a restricted object must still be verified. `StringLike "*"` matches when
    the tag exists, whatever its value. S3 evaluates s3:ExistingObjectTag for reads and tagging calls, not for
    PutObject or DeleteObject: a new upload to the same key is a new, untagged version, and deleting one's own
    content stays possible (the evidence copy is already held).
    """
    condition: dict[str, Any] = {"StringLike": {f"s3:ExistingObjectTag/{QUARANTINE_TAG}": "*"}}
    if exempt_principal_arns:
        condition["ArnNotEquals"] = {"aws:PrincipalArn": list(exempt_principal_arns)}
    objects = f"arn:{partition}:s3:::{bucket}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "QuarantinedObjectsAreNotReadable",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": objects,
                "Condition": condition,
            },
            {
                "Sid": "QuarantineTagIsNotRemovable",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                    "s3:DeleteObjectTagging",
                    "s3:DeleteObjectVersionTagging",
                ],
                "Resource": objects,
                "Condition": condition,
            },
        ],
    }


# ---------------------------------------------------------------------------------------------------------------
# The sequence
# ---------------------------------------------------------------------------------------------------------------


class Status(StrEnum):
    REFUSED = "refused"  # bucket not protected: no S3 request was made
    SOURCE_GONE = "source_gone"  # the version does not exist (any more): nothing to preserve
    PRESERVED = "preserved"  # a verified, held copy exists; the source is untouched
    RESTRICTED = "restricted"  # ... and the source version carries the quarantine tag
    RELEASED = "released"  # an analyst's decision: no preserved version carries a restriction older than it


@dataclass(frozen=True)
class Outcome:
    status: Status
    object_id: str | None = None
    evidence_key: str | None = None
    evidence_version_id: str | None = None
    copied: bool = False  # this delivery made the copy (False: found one)
    sha256: str | None = None
    md5: str | None = None
    verified_by: str | None = None  # how the hashes were obtained (see _verify)


@dataclass(frozen=True)
class _Verification:
    sha256: str
    md5: str
    method: str
    source_sha256: str
    evidence_sha256: str


def quarantine(
    request: QuarantineRequest,
    *,
    store: ObjectStore,
    custody: CustodyRecorder,
    vault: Vault,
    protected_buckets: frozenset[str],
    actor: str,
    ready: EvidenceReady | None = None,
    clock: Clock = utcnow,
) -> Outcome:
    """Run the sequence for one object version; safe to repeat from the start after a failure at any step."""
    if request.bucket not in protected_buckets:
        return Outcome(Status.REFUSED)
    source = store.head_source(request.bucket, request.key, request.version_id)
    if source is None:
        return _absent(request, custody, actor, ready, clock)
    asker = _Asker(
        occurrence=request.report_id,
        report_id=request.report_id,
        case_id=request.case_id,
        metadata={"report-id": request.report_id},
    )
    preserved = _preserve(source, asker, store=store, custody=custody, vault=vault, actor=actor, clock=clock)
    status = Status.PRESERVED
    if should_restrict(request):
        _restrict(request.report_id, source, store, custody, preserved.event)
        status = Status.RESTRICTED
    _tell_escalation(request, source.object_id, ready)
    return preserved.outcome(status)


@dataclass(frozen=True)
class _Asker:
    """Whom a preservation is for: a report (the dispatcher's request) or an analyst's decision (the completion's)."""

    occurrence: str  # the id its recurring steps (held, restricted) are recorded under
    report_id: str | None
    case_id: str | None
    metadata: Mapping[str, str]  # how the copy names it (ASCII ids only: S3 metadata)


@dataclass(frozen=True)
class _Preserved:
    source: SourceObject
    evidence: EvidenceObject
    copied: bool
    verification: _Verification
    event: Callable[..., CustodyEvent]  # a custody event of this version and copy, for this asker

    def outcome(self, status: Status) -> Outcome:
        return Outcome(
            status=status,
            object_id=self.source.object_id,
            evidence_key=self.evidence.key,
            evidence_version_id=self.evidence.version_id,
            copied=self.copied,
            sha256=self.verification.sha256,
            md5=self.verification.md5,
            verified_by=self.verification.method,
        )


def _preserve(
    source: SourceObject,
    asker: _Asker,
    *,
    store: ObjectStore,
    custody: CustodyRecorder,
    vault: Vault,
    actor: str,
    clock: Clock,
) -> _Preserved:
    """Steps 3 to 5 for a pinned version: a held copy, verified, and the custody events that say so."""
    now = clock()
    key = source.evidence_key
    evidence = store.head_evidence(key)
    copied = False
    if evidence is None:
        metadata = {
            "source-bucket": source.bucket,
            "source-key-sha256": key_digest(source.key),  # S3 metadata is ASCII and 2 KB at most; the key may not be
            "source-version-id": source.version_id,
            "source-etag": source.etag,
            **asker.metadata,
        }
        answer = store.copy_to_evidence(
            source, key, now + timedelta(days=vault.retention_days) + RETENTION_SLACK, metadata
        )
        copied = answer is not None
        # Read back what S3 stored rather than trust what was asked: the verification below is of S3's state.
        evidence = store.head_evidence(key)
        if evidence is None:
            raise EvidenceMismatch(f"{source.object_id}: the copy is not in the evidence bucket after copying")
        if answer is not None:
            evidence = replace(evidence, encryption=answer.encryption, kms_key_id=answer.kms_key_id)

    evidence, reapplied = _ensure_held(store, evidence, vault, now, copied=copied)
    held = evidence

    def event(step: Step, **values: Any) -> CustodyEvent:
        fields: dict[str, Any] = {
            "step": step,
            "source_bucket": source.bucket,
            "source_key": source.key,
            "source_version_id": source.version_id,
            "at": clock(),
            "by": actor,
            "evidence_bucket": held.bucket,
            "evidence_key": held.key,
            "evidence_version_id": held.version_id,
            "size": source.size,
            "report_id": asker.report_id,
            "case_id": asker.case_id,
        }
        return CustodyEvent(**(fields | values))

    lock = {
        "legalHold": "ON",
        "lockMode": str(evidence.lock_mode),
        "retainUntil": _iso(evidence.retain_until),
        # The key S3 named in its answer to our copy; for a copy found in place, the key the bucket enforces.
        "kmsKeyId": evidence.kms_key_id or vault.kms_key_id,
        "encryptionFrom": "copy-answer" if evidence.kms_key_id else "bucket-policy",
    }
    custody.append(event(Step.PRESERVED, detail={**lock, "copiedByThisDelivery": str(copied).lower()}))
    if reapplied:
        custody.append(event(Step.HELD, occurrence=asker.occurrence, detail={**lock, "reapplied": ",".join(reapplied)}))

    verification = _verify(store, custody, source, evidence)
    custody.append(
        event(
            Step.VERIFIED,
            sha256=verification.sha256,
            md5=verification.md5,
            detail={
                "method": verification.method,
                "sourceSha256": verification.source_sha256,
                "evidenceSha256": verification.evidence_sha256,
                "evidenceChecksumType": "COMPOSITE" if evidence.sha256 is None else "FULL_OBJECT",
            },
        )
    )
    return _Preserved(source, evidence, copied, verification, event)


def _absent(
    request: QuarantineRequest, custody: CustodyRecorder, actor: str, ready: EvidenceReady | None, clock: Clock
) -> Outcome:
    """Nothing to preserve, recorded as such: a case's draft waits for no copy that can never exist (the escalation
    worker reads this event), and the chain of custody says why there is none, once per object version."""
    event = CustodyEvent(
        step=Step.ABSENT,
        source_bucket=request.bucket,
        source_key=request.key,
        source_version_id=request.version_id or UNPINNED_VERSION,
        at=clock(),
        by=actor,
        report_id=request.report_id,
        case_id=request.case_id,
        detail={"reason": "no such version" if request.version_id else "no current version"},
    )
    custody.append(event)
    _tell_escalation(request, event.object_id, ready)
    return Outcome(Status.SOURCE_GONE, object_id=event.object_id)


def _tell_escalation(request: QuarantineRequest, object_id: str, ready: EvidenceReady | None) -> None:
    # Only child-safety cases have a draft that waits for its files.
    if ready is not None and request.case_id and (request.category, request.type) in CHILD_SAFETY_TYPES:
        ready.send(*evidence_ready(request, request.case_id, object_id))


def _ensure_held(
    store: ObjectStore, evidence: EvidenceObject, vault: Vault, now: datetime, *, copied: bool
) -> tuple[EvidenceObject, list[str]]:
    """The copy is evidence only while held: legal hold on, GOVERNANCE until a year from now, the evidence key.

    A copy made by this code already is; a copy an analyst released, or one preserved a year ago and reported again,
    gets its hold back and its retention extended (a year from every report). COMPLIANCE or a foreign key is not
    something to repair automatically: it stops the sequence.

    Encryption is checked where S3 reports it to this worker: in its answer to the copy the worker made, which must
    name SSE-KMS with the evidence key. A copy found in place (a redelivery, a second report, a copy whose answer was
    lost) is described by GetObjectAttributes, which reports no encryption, and the worker may not HeadObject it;
    for those the evidence bucket is the guarantee: its policy denies any put (CopyObject, PutObject,
    CreateMultipartUpload) that does not ask for SSE-KMS with the evidence key (EvidenceKeyOnly, EvidenceKeyIdOnly),
    and its default encryption is that key, so no copy can be in it under another. The answer's check is the
    second lock: a refusal there fails the delivery loudly (an alarm), though a redelivery then finds the copy in
    place and relies on the bucket alone.
    """
    if evidence.lock_mode == "COMPLIANCE":
        raise EvidenceNotProtected(f"{evidence.key}: COMPLIANCE mode would make lawful destruction impossible")
    if copied and (evidence.encryption != "aws:kms" or not _same_key(evidence.kms_key_id, vault.kms_key_id)):
        raise EvidenceNotProtected(f"{evidence.key}: not encrypted with the evidence key")
    reapplied = []
    if not evidence.legal_hold:
        store.hold(evidence)
        evidence = replace(evidence, legal_hold=True)
        reapplied.append("legalHold")
    required = now + timedelta(days=vault.retention_days)
    if evidence.lock_mode != LOCK_MODE or evidence.retain_until is None or evidence.retain_until < required:
        until = required + RETENTION_SLACK
        store.retain(evidence, until)
        evidence = replace(evidence, lock_mode=LOCK_MODE, retain_until=until)
        reapplied.append("retention")
    return evidence, reapplied


def _verify(
    store: ObjectStore, custody: CustodyRecorder, source: SourceObject, evidence: EvidenceObject
) -> _Verification:
    """Compare the copy with the source version without reading the copy, and read the source only when needed.

    - The copy's checksum comes from S3: the copy was made with ChecksumAlgorithm SHA256, so S3 computed it from the
      bytes it wrote, and GetObjectAttributes reports it. A single-part copy has a full-object SHA-256; a multipart
      copy (over 5 GB) only a composite one, the SHA-256 of its parts' SHA-256s, which no hash of the whole equals.
    - The source's SHA-256 comes from S3 when the uploader stored one (a full-object checksum). When that and the
      copy's full-object SHA-256 and the source's MD5 are all known, nothing is read: they are compared.
    - Otherwise the source version is streamed once, hashed whole (SHA-256, MD5) and, for a multipart copy, part by
      part along the copy's own part boundaries; the composite of those part hashes must equal the copy's, and each
      part hash the copy's part checksum where S3 lists it. The copy itself is never read: the worker has no
      s3:GetObject on evidence.
    - A redelivery that would have to stream the source again first looks for its own verified event: if the copy
      S3 describes now is the one that was verified, with the same checksum, that verification stands.
    - MD5: from the source's ETag when that is one (single part, not SSE-KMS/SSE-C), else from the streamed pass.
    """
    if evidence.sha256 is None and evidence.composite_sha256 is None:
        raise CannotVerify(f"{source.object_id}: S3 reports no SHA-256 of the evidence copy")
    evidence_checksum = evidence.sha256 or f"{evidence.composite_sha256}-{evidence.part_count}"
    if source.sha256 is not None and evidence.sha256 is not None and source.md5 is not None:
        if evidence.size != source.size or evidence.sha256 != source.sha256:
            raise EvidenceMismatch(f"{source.object_id}: the evidence copy differs from the source version")
        return _Verification(source.sha256, source.md5, "s3-checksums", source.sha256, evidence.sha256)

    prior = custody.find(source.object_id, Step.VERIFIED)
    if (
        prior is not None
        and prior.sha256
        and prior.md5
        and prior.evidence_version_id == evidence.version_id
        and prior.detail.get("evidenceSha256", prior.sha256) == evidence_checksum
        and source.sha256 in (None, prior.sha256)
    ):
        return _Verification(prior.sha256, prior.md5, "recorded", prior.sha256, evidence_checksum)

    layout = _part_sizes(source, evidence)
    streamed = store.digest_source(source, layout)
    if streamed.size != source.size:
        raise EvidenceMismatch(f"{source.object_id}: read {streamed.size} bytes of a {source.size}-byte version")
    if source.sha256 not in (None, streamed.sha256):
        raise EvidenceMismatch(f"{source.object_id}: the bytes read differ from the SHA-256 S3 stores for them")
    md5 = source.md5 or streamed.md5
    if evidence.size != source.size:
        raise EvidenceMismatch(f"{source.object_id}: the evidence copy differs from the source version")
    if evidence.sha256 is not None:
        if evidence.sha256 != streamed.sha256:
            raise EvidenceMismatch(f"{source.object_id}: the evidence copy differs from the source version")
        return _Verification(streamed.sha256, md5, "streamed-source", streamed.sha256, evidence.sha256)
    for part, sha256 in zip(evidence.parts, streamed.part_sha256s, strict=False):
        if part.sha256 is not None and part.sha256 != sha256:
            raise EvidenceMismatch(f"{source.object_id}: part {part.number} of the copy differs from the source's")
    parts = streamed.part_sha256s
    if len(parts) != len(layout) or composite_sha256(parts) != evidence.composite_sha256:
        raise EvidenceMismatch(f"{source.object_id}: the copy's composite SHA-256 is not that of the source's parts")
    return _Verification(streamed.sha256, md5, "streamed-source-parts", streamed.sha256, evidence_checksum)


def _part_sizes(source: SourceObject, evidence: EvidenceObject) -> tuple[int, ...]:
    """The copy's part boundaries, to hash the source along; () for a single-part copy."""
    if evidence.sha256 is not None:
        return ()
    sizes = tuple(part.size for part in evidence.parts)
    if not sizes or len(sizes) != evidence.part_count or sum(sizes) != source.size:
        raise CannotVerify(f"{source.object_id}: S3 does not tell the evidence copy's part boundaries")
    return sizes


def _restrict(
    restriction: str,
    source: SourceObject,
    store: ObjectStore,
    custody: CustodyRecorder,
    event: Callable[..., CustodyEvent],
    **recorded: Any,
) -> None:
    """Add the tag (keeping the owner's tags) unless present, and record the restriction under its id: the report
    whose restriction it is, or the analyst's decision.

    The tag's value is the restriction's id, so a redelivery that finds its own value (it crashed after tagging)
    still records the event, and a second report finding another's value records nothing: that restriction is
    already in the log. Tagging has no condition in S3; an owner's tag change between our read and write is lost, a
    window of milliseconds that we accept.
    """
    tags = store.tags(source)
    current = tags.get(QUARANTINE_TAG)
    if current is None:
        if len(tags) >= MAX_OBJECT_TAGS:
            raise CannotRestrict(f"{source.object_id}: already has {len(tags)} tags, S3's maximum")
        store.put_tags(source, {**tags, QUARANTINE_TAG: restriction})
        current = restriction
    if current == restriction:
        custody.append(
            event(
                Step.RESTRICTED,
                occurrence=restriction,
                **({"detail": {"tag": f"{QUARANTINE_TAG}={restriction}"}} | recorded),
            )
        )


# ---------------------------------------------------------------------------------------------------------------
# The analyst's follow-ups
# ---------------------------------------------------------------------------------------------------------------


def release(
    ref: ObjectRef,
    restriction: str,
    *,
    reason: str,
    store: ObjectStore,
    custody: CustodyRecorder,
    protected_buckets: frozenset[str],
    actor: str,
    clock: Clock = utcnow,
) -> bool:
    """Lift the restriction `restriction` (the report or decision id the tag carries); the evidence copy stays held.

    Releasing gives the owner their content back; it does not end preservation, which runs out with retention or
    ends by `destroy`. Safe to repeat: the event has a fixed id, and the tag is removed if it is still there.
    The event is written before the tag goes: a delivery that dies between the two leaves the tag, which names the
    restriction, so a redelivery finds it and finishes. The other order would leave an untagged version whose
    release no log records and no redelivery can find (the restriction's id went with the tag); this one can at
    worst record a release whose untagging keeps failing, and then the message fails until a person looks.
    Returns whether this call removed the tag.
    """
    if ref.bucket not in protected_buckets:
        raise NotProtected(ref.bucket)
    restricted = custody.find(ref.object_id, f"{Step.RESTRICTED}#{restriction}")
    if restricted is None:
        raise NotPreserved(f"{ref.object_id}: no restriction {restriction} was recorded")
    tags = store.tags(ref)
    current = tags.get(QUARANTINE_TAG)
    if current not in (None, restriction):
        raise QuarantineError(f"{ref.object_id}: the tag belongs to restriction {current}, not {restriction}")
    custody.append(
        CustodyEvent(
            step=Step.RELEASED,
            source_bucket=ref.bucket,
            source_key=ref.key,
            source_version_id=ref.version_id,
            at=clock(),
            by=actor,
            evidence_bucket=restricted.evidence_bucket,
            evidence_key=restricted.evidence_key,
            evidence_version_id=restricted.evidence_version_id,
            report_id=restricted.report_id,  # None for a restriction an analyst's decision put on
            case_id=restricted.case_id,
            occurrence=restriction,
            detail={"reason": reason},
        )
    )
    if current is not None:
        store.put_tags(ref, {name: value for name, value in tags.items() if name != QUARANTINE_TAG})
    return current is not None


@dataclass(frozen=True)
class Released:
    """What a RELEASE decision did to one object."""

    status: Status  # REFUSED (bucket not protected: no request made) or RELEASED
    versions: int = 0  # preserved versions of the object
    lifted: int = 0  # restrictions whose tag this delivery removed
    kept: int = 0  # restrictions newer than the decision: not its to lift


def carry_out(
    order: ObjectDecision,
    *,
    store: ObjectStore,
    custody: CustodyRecorder,
    vault: Vault,
    protected_buckets: frozenset[str],
    actor: str,
    clock: Clock = utcnow,
) -> Outcome | Released:
    """An analyst's RELEASE or RESTRICT decision, on one object of its case; safe to repeat (see the two below)."""
    if order.analyst_action == "release":
        return release_by_decision(
            order, store=store, custody=custody, protected_buckets=protected_buckets, clock=clock
        )
    return restrict_by_decision(
        order, store=store, custody=custody, vault=vault, protected_buckets=protected_buckets, actor=actor, clock=clock
    )


def release_by_decision(
    order: ObjectDecision,
    *,
    store: ObjectStore,
    custody: CustodyRecorder,
    protected_buckets: frozenset[str],
    clock: Clock = utcnow,
) -> Released:
    """Lift every restriction on the preserved versions of the object: `release` for each, by the analyst, with the
    decision as its reason. The legal hold and the copy stay: preservation ends only by `destroy`.

    Which versions: those with a copy under the object's evidence prefix (a version never preserved was never
    tagged, the tag comes after the copy). Which restriction: the one its tag names. A version carries at most one
    (a restriction tags only an untagged version, and only `release` removes the tag: the protected buckets' policy
    denies everyone else), so the tag names the one restriction still standing; the earlier ones have their
    `released` events, since `release` records before it untags. That needs no Query of the custody log, which the
    worker's role does not allow. A tag newer than the decision (a report received after it, or a later decision:
    ids are ULIDs, text order is time order) is not this decision's to lift: a redelivery or a retry that comes late
    leaves it. Safe to repeat: a lifted version has no tag, and nothing is appended for it again.
    """
    if order.bucket not in protected_buckets:
        return Released(Status.REFUSED)
    versions = store.preserved_versions(order.bucket, order.key)
    lifted = kept = 0
    for version_id in versions:
        ref = ObjectRef(order.bucket, order.key, version_id)
        restriction = store.tags(ref).get(QUARANTINE_TAG)
        if restriction is None:
            continue
        if restriction > order.decision_id:
            kept += 1
            continue
        removed = release(
            ref,
            restriction,
            reason=order.decision_id,
            store=store,
            custody=custody,
            protected_buckets=protected_buckets,
            actor=order.analyst,
            clock=clock,
        )
        lifted += 1 if removed else 0
    return Released(Status.RELEASED, versions=len(versions), lifted=lifted, kept=kept)


def restrict_by_decision(
    order: ObjectDecision,
    *,
    store: ObjectStore,
    custody: CustodyRecorder,
    vault: Vault,
    protected_buckets: frozenset[str],
    actor: str,
    clock: Clock = utcnow,
) -> Outcome:
    """Make sure the object's current version carries the quarantine tag.

    The version is preserved and verified first, as for a report (steps 2 to 5; a version preserved before costs
    the checks and appends nothing, unless its hold had to be put back), so the rule that nothing is tagged before
    a verified, held copy exists holds for an analyst's restriction too. An untagged version gets the tag with the
    decision's id as its value and a `restricted` event under that id, by the analyst; a version already tagged
    keeps its restriction, and nothing is appended. A key with no current version (deleted) has nothing to
    restrict: nothing is written. Safe to repeat.
    """
    if order.bucket not in protected_buckets:
        return Outcome(Status.REFUSED)
    source = store.head_source(order.bucket, order.key, None)
    if source is None:
        return Outcome(Status.SOURCE_GONE)
    asker = _Asker(
        occurrence=order.decision_id,
        report_id=None,
        case_id=order.case_id,
        metadata={"decision-id": order.decision_id},
    )
    preserved = _preserve(source, asker, store=store, custody=custody, vault=vault, actor=actor, clock=clock)
    tag = f"{QUARANTINE_TAG}={order.decision_id}"
    detail = {"tag": tag, "decisionId": order.decision_id}
    _restrict(order.decision_id, source, store, custody, preserved.event, by=order.analyst, detail=detail)
    return preserved.outcome(Status.RESTRICTED)


def destroy(
    ref: ObjectRef,
    *,
    law_enforcement_request: str,
    store: ObjectStore,
    custody: CustodyRecorder,
    actor: str,
    clock: Clock = utcnow,
) -> bool:
    """Delete the evidence copy of `ref` on a law-enforcement request (18 U.S.C. 2258B), bypassing GOVERNANCE.

    Only the preserved version is deleted (lift its legal hold, then DeleteObject with BypassGovernanceRetention);
    the custody log keeps its hashes and this event says who destroyed it on whose request. Safe to repeat.
    Returns whether this call deleted it. The caller's role needs s3:BypassGovernanceRetention, which the
    quarantine worker deliberately lacks.
    """
    if not law_enforcement_request.strip():
        raise ValueError("destroying evidence needs the law-enforcement request it answers")
    preserved = custody.find(ref.object_id, Step.PRESERVED)
    if preserved is None or preserved.evidence_key is None or preserved.evidence_version_id is None:
        raise NotPreserved(f"{ref.object_id}: no evidence copy was recorded")
    evidence = store.head_evidence(preserved.evidence_key, preserved.evidence_version_id)
    if evidence is not None:
        if evidence.legal_hold:
            store.lift_hold(evidence)
        store.delete_evidence(evidence)
    custody.append(
        CustodyEvent(
            step=Step.DESTROYED,
            source_bucket=ref.bucket,
            source_key=ref.key,
            source_version_id=ref.version_id,
            at=clock(),
            by=actor,
            evidence_bucket=preserved.evidence_bucket,
            evidence_key=preserved.evidence_key,
            evidence_version_id=preserved.evidence_version_id,
            size=preserved.size,
            detail={"lawEnforcementRequest": law_enforcement_request},
        )
    )
    return evidence is not None


# ---------------------------------------------------------------------------------------------------------------


def _same_key(actual: str | None, configured: str) -> bool:
    # S3 reports the key's ARN; the configuration may give the ARN or the bare key id.
    if not actual:
        return False
    return actual == configured or actual.endswith(f"/{configured}") or configured.endswith(f"/{actual}")


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else ""


def quarantine_state(steps: Sequence[str]) -> str:
    """What an analyst needs to know of one object version from its custody steps, oldest first: `destroyed` (by a
    lawful order), else the latest of `restricted` / `released`, else `preserved` (a verified, held copy), `copied`
    (held, its verification still to come), `absent` (nothing to preserve) or `pending` (nothing recorded yet)."""
    if Step.DESTROYED in steps:
        return "destroyed"
    latest = next((step for step in reversed(steps) if step in (Step.RESTRICTED, Step.RELEASED)), None)
    if latest is not None:
        return str(latest)
    if Step.VERIFIED in steps:
        return "preserved"
    if Step.PRESERVED in steps:
        return "copied"
    return "absent" if Step.ABSENT in steps else "pending"
