"""The quarantine sequence as a domain: in-memory S3 and custody log, no AWS, no moto."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.messages import EscalationRequest, ObjectDecision, QuarantineRequest
from shared.domain.policy import CHILD_SAFETY_TYPES
from shared.domain.quarantine import (
    QUARANTINE_TAG,
    CannotRestrict,
    CannotVerify,
    CopyAnswer,
    CustodyEvent,
    Digests,
    EvidenceMismatch,
    EvidenceNotProtected,
    EvidenceObject,
    NotPreserved,
    ObjectRef,
    Part,
    SourceObject,
    Status,
    Vault,
    carry_out,
    composite_sha256,
    destroy,
    evidence_key,
    evidence_prefix,
    protected_bucket_policy,
    quarantine,
    release,
    should_restrict,
)
from shared.domain.xarf_vocabulary import TYPES

BUCKET = "demo-customer-content"
PROTECTED = frozenset({BUCKET})
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f0f0f0f-1111-2222-3333-444444444444"
VAULT = Vault(bucket="evidence-bucket", kms_key_id=KEY_ARN)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REPORT = "01KB2X3Y4Z5A6B7C8D9E0F1G2H"
OTHER_REPORT = "01KB2X3Y4Z5A6B7C8D9E0F1G2J"
PART_SIZE = 3  # the memory S3's multipart copies: parts of 3 bytes stand in for S3's 5 MiB and more


class Injected(Exception):
    pass


@dataclass
class Version:
    data: bytes
    stores_sha256: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Copy:
    evidence: EvidenceObject
    data: bytes


@dataclass
class MemoryS3:
    """Behaves like the S3 adapter over a versioned source bucket and an Object Lock evidence bucket."""

    versions: dict[tuple[str, str, str], Version] = field(default_factory=dict)
    current: dict[tuple[str, str], str] = field(default_factory=dict)
    copies: dict[str, list[Copy]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    buckets_named: list[str] = field(default_factory=list)
    fail_at: int | None = None  # raise on this call index (0-based), before doing anything
    multipart: bool = False  # copies get only a composite checksum, of parts of PART_SIZE bytes
    lists_parts: bool = True  # S3 lists a multipart copy's parts (False: only their count)
    copy_answer: CopyAnswer = CopyAnswer("aws:kms", KEY_ARN)  # how S3 says it encrypted a copy

    def put(self, key: str, data: bytes, *, stores_sha256: bool = True, tags: dict[str, str] | None = None) -> str:
        version = f"v{len(self.versions) + 1}"
        self.versions[(BUCKET, key, version)] = Version(data, stores_sha256, dict(tags or {}))
        self.current[(BUCKET, key)] = version
        return version

    def _call(self, name: str, bucket: str) -> None:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            self.calls.append(f"{name}!")
            raise Injected(name)
        self.calls.append(name)
        self.buckets_named.append(bucket)

    def head_source(self, bucket: str, key: str, version_id: str | None) -> SourceObject | None:
        self._call("head_source", bucket)
        version_id = version_id or self.current.get((bucket, key))
        version = self.versions.get((bucket, key, version_id or ""))
        if version is None or version_id is None:
            return None
        return SourceObject(
            bucket=bucket,
            key=key,
            version_id=version_id,
            size=len(version.data),
            etag=hashlib.md5(version.data).hexdigest(),
            sha256=hashlib.sha256(version.data).hexdigest() if version.stores_sha256 else None,
            md5=hashlib.md5(version.data).hexdigest(),
        )

    def head_evidence(self, key: str, version_id: str | None = None) -> EvidenceObject | None:
        self._call("head_evidence", VAULT.bucket)
        copies = [c for c in self.copies.get(key, []) if version_id in (None, c.evidence.version_id)]
        return copies[-1].evidence if copies else None

    def copy_to_evidence(
        self, source: SourceObject, key: str, retain_until: datetime, metadata: Mapping[str, str]
    ) -> bool:
        self._call("copy_to_evidence", source.bucket)
        if self.copies.get(key):
            return None
        self.place_copy(key, self.versions[(source.bucket, source.key, source.version_id)].data, retain_until)
        return self.copy_answer

    def place_copy(self, key: str, data: bytes, retain_until: datetime) -> None:
        """A copy as S3 stores it; described, like GetObjectAttributes does, with no encryption and no metadata."""
        parts = [data[n : n + PART_SIZE] for n in range(0, len(data), PART_SIZE)] if self.multipart else []
        part_sha256s = [hashlib.sha256(part).hexdigest() for part in parts]
        listed = tuple(
            Part(n, len(part), sha) for n, (part, sha) in enumerate(zip(parts, part_sha256s, strict=True), start=1)
        )
        evidence = EvidenceObject(
            bucket=VAULT.bucket,
            key=key,
            version_id=f"e{sum(map(len, self.copies.values())) + 1}",
            size=len(data),
            sha256=None if self.multipart else hashlib.sha256(data).hexdigest(),
            legal_hold=True,
            lock_mode="GOVERNANCE",
            retain_until=retain_until,
            composite_sha256=composite_sha256(part_sha256s) if self.multipart else None,
            part_count=len(parts),
            parts=listed if self.lists_parts else (),
        )
        self.copies.setdefault(key, []).append(Copy(evidence, data))

    def digest_source(self, source: SourceObject, part_sizes: Sequence[int] = ()) -> Digests:
        self._call("digest_source", source.bucket)
        data = self.versions[(source.bucket, source.key, source.version_id)].data
        offsets = [sum(part_sizes[:n]) for n in range(len(part_sizes) + 1)]
        parts = tuple(hashlib.sha256(data[a:b]).hexdigest() for a, b in zip(offsets, offsets[1:], strict=False))
        return Digests(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data), parts)

    def _copy(self, evidence: EvidenceObject) -> Copy:
        return next(c for c in self.copies[evidence.key] if c.evidence.version_id == evidence.version_id)

    def _update(self, evidence: EvidenceObject, **changes: Any) -> None:
        copy = self._copy(evidence)
        copy.evidence = replace(copy.evidence, **changes)

    def hold(self, evidence: EvidenceObject) -> None:
        self._call("hold", evidence.bucket)
        self._update(evidence, legal_hold=True)

    def retain(self, evidence: EvidenceObject, until: datetime) -> None:
        self._call("retain", evidence.bucket)
        self._update(evidence, lock_mode="GOVERNANCE", retain_until=until)

    def preserved_versions(self, bucket: str, key: str) -> Sequence[str]:
        self._call("preserved_versions", VAULT.bucket)
        prefix = evidence_prefix(bucket, key)
        return sorted(
            name.removeprefix(prefix) for name, copies in self.copies.items() if name.startswith(prefix) and copies
        )

    def tags(self, source: ObjectRef) -> dict[str, str]:
        self._call("tags", source.bucket)
        version = self.versions.get((source.bucket, source.key, source.version_id))
        return dict(version.tags) if version else {}

    def put_tags(self, source: ObjectRef, tags: Mapping[str, str]) -> None:
        self._call("put_tags", source.bucket)
        self.versions[(source.bucket, source.key, source.version_id)].tags = dict(tags)

    def lift_hold(self, evidence: EvidenceObject) -> None:
        self._call("lift_hold", evidence.bucket)
        self._update(evidence, legal_hold=False)

    def delete_evidence(self, evidence: EvidenceObject) -> None:
        self._call("delete_evidence", evidence.bucket)
        assert not self._copy(evidence).evidence.legal_hold, "S3 refuses to delete a version under legal hold"
        self.copies[evidence.key] = [
            c for c in self.copies[evidence.key] if c.evidence.version_id != evidence.version_id
        ]


@dataclass
class MemoryCustody:
    events: dict[tuple[str, str], CustodyEvent] = field(default_factory=dict)
    fail_at: int | None = None
    appends: int = 0

    def append(self, event: CustodyEvent) -> bool:
        if self.fail_at is not None and self.appends == self.fail_at:
            self.appends += 1
            raise Injected("append")
        self.appends += 1
        return self.events.setdefault((event.object_id, event.event_id), event) is event

    def find(self, object_id: str, event_id: str) -> CustodyEvent | None:
        return self.events.get((object_id, event_id))

    def steps(self) -> list[str]:
        return sorted(event_id for _, event_id in self.events)


def request(key: str, **fields: Any) -> QuarantineRequest:
    values: dict[str, Any] = {
        "report_id": REPORT,
        "case_id": "c" * 32,
        "bucket": BUCKET,
        "key": key,
        "category": "content",
        "type": "csam",
        "restrict": True,
    }
    return QuarantineRequest(**(values | fields))


@dataclass
class Escalations:
    """The escalation queue as the worker sees it: what was sent, or a failure to send."""

    sent: list[tuple[EscalationRequest, str]] = field(default_factory=list)
    down: bool = False

    def send(self, request: EscalationRequest, deduplication_id: str) -> None:
        if self.down:
            raise Injected("SendMessage")
        self.sent.append((request, deduplication_id))


def run(
    message: QuarantineRequest,
    s3: MemoryS3,
    custody: MemoryCustody,
    now: datetime = NOW,
    escalations: Escalations | None = None,
) -> Any:
    return quarantine(
        message,
        store=s3,
        custody=custody,
        vault=VAULT,
        protected_buckets=PROTECTED,
        actor="QuarantineFunction/req-1",
        ready=escalations,
        clock=lambda: now,
    )


def ref(key: str, version: str) -> ObjectRef:
    return ObjectRef(BUCKET, key, version)


# --- the sequence ---------------------------------------------------------------------------------------------


def test_csam_is_preserved_verified_and_restricted_in_that_order():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("images/a.png", b"\x89PNG...")

    outcome = run(request("images/a.png"), s3, custody)

    assert outcome.status is Status.RESTRICTED and outcome.copied
    assert s3.calls == ["head_source", "head_evidence", "copy_to_evidence", "head_evidence", "tags", "put_tags"]
    assert s3.versions[(BUCKET, "images/a.png", version)].tags == {QUARANTINE_TAG: REPORT}
    assert custody.steps() == ["preserved", f"restricted#{REPORT}", "verified"]
    verified = custody.find(outcome.object_id, "verified")
    assert verified is not None and verified.sha256 == hashlib.sha256(b"\x89PNG...").hexdigest()
    assert verified.md5 == hashlib.md5(b"\x89PNG...").hexdigest() and verified.viewed_by_human is False
    assert verified.by == "QuarantineFunction/req-1" and verified.report_id == REPORT


def test_a_verified_child_safety_copy_asks_for_its_draft_once_per_version_and_only_after_the_copy_is_proven():
    s3, custody, escalations = MemoryS3(), MemoryCustody(), Escalations()
    s3.put("images/a.png", b"\x89PNG...")
    first = run(request("images/a.png"), s3, custody, escalations=escalations)
    again = run(request("images/a.png", report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2J"), s3, custody, escalations=escalations)
    assert [message.case_id for message, _ in escalations.sent] == ["c" * 32, "c" * 32]
    assert all(message.child_safety and message.severity == "P0" for message, _ in escalations.sent)
    assert escalations.sent[0][1] == escalations.sent[1][1], "one deduplication id per copied version"
    assert first.object_id == again.object_id

    s3.put("images/b.png", b"other")
    run(request("images/b.png"), s3, custody, escalations=escalations)
    assert escalations.sent[2][1] != escalations.sent[0][1], "another version, another id"


def test_other_copies_and_copies_that_fail_verification_ask_for_no_draft():
    s3, custody, escalations = MemoryS3(), MemoryCustody(), Escalations()
    s3.put("pages/login.html", b"<form>")
    run(request("pages/login.html", type="phishing", restrict=False), s3, custody, escalations=escalations)
    assert escalations.sent == []
    version = s3.put("images/a.png", b"original")
    run(request("images/a.png", type="phishing", restrict=False), s3, custody)
    (copy,) = s3.copies[evidence_key(BUCKET, "images/a.png", version)]
    copy.evidence = replace(copy.evidence, sha256=hashlib.sha256(b"tampered").hexdigest())
    with pytest.raises(EvidenceMismatch):
        run(request("images/a.png", report_id=OTHER_REPORT), s3, custody, escalations=escalations)
    assert escalations.sent == []


def test_a_lost_send_fails_the_delivery_and_the_redelivery_sends_it():
    s3, custody, escalations = MemoryS3(), MemoryCustody(), Escalations(down=True)
    s3.put("images/a.png", b"\x89PNG...")
    with pytest.raises(Injected):
        run(request("images/a.png"), s3, custody, escalations=escalations)
    escalations.down = False
    run(request("images/a.png"), s3, custody, escalations=escalations)
    assert len(escalations.sent) == 1 and len(s3.copies) == 1


def test_a_public_phishing_report_preserves_but_never_restricts():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("pages/login.html", b"<form>")

    outcome = run(request("pages/login.html", type="phishing", restrict=False), s3, custody)

    assert outcome.status is Status.PRESERVED
    assert "put_tags" not in s3.calls and "tags" not in s3.calls
    assert s3.versions[(BUCKET, "pages/login.html", version)].tags == {}
    assert custody.steps() == ["preserved", "verified"]


def test_a_trusted_partners_phishing_report_restricts_when_the_dispatcher_says_so():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("pages/login.html", b"<form>")
    assert run(request("pages/login.html", type="phishing", restrict=True), s3, custody).status is Status.RESTRICTED


def test_csam_is_restricted_even_if_the_dispatcher_forgot_to_ask():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("images/a.png", b"x")
    assert run(request("images/a.png", restrict=False), s3, custody).status is Status.RESTRICTED


def test_an_unprotected_bucket_is_refused_without_any_s3_call():
    s3, custody = MemoryS3(), MemoryCustody()
    outcome = run(request("x", bucket="someone-elses-bucket"), s3, custody)
    assert outcome.status is Status.REFUSED
    assert s3.calls == [] and custody.events == {}


def test_a_deleted_object_is_recorded_absent_once_and_nothing_is_copied():
    s3, custody = MemoryS3(), MemoryCustody()
    outcome = run(request("never/uploaded"), s3, custody)
    assert outcome.status is Status.SOURCE_GONE and s3.copies == {}
    assert custody.steps() == ["absent"]
    (event,) = custody.events.values()
    assert event.source_key == "never/uploaded" and event.report_id == REPORT and event.sha256 is None
    assert event.detail == {"reason": "no current version"}
    run(request("never/uploaded", report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2J"), s3, custody)
    assert custody.steps() == ["absent"], "the first report's record stands"

    s3.put("gone/since.txt", b"bytes")
    named = run(request("gone/since.txt", version_id="v-deleted"), s3, custody)
    assert custody.find(named.object_id, "absent") is not None and named.object_id.endswith("/v-deleted")
    assert custody.find(named.object_id, "absent").detail == {"reason": "no such version"}  # type: ignore[union-attr]


def test_an_absent_child_safety_object_lets_its_draft_finish_without_it():
    s3, custody, escalations = MemoryS3(), MemoryCustody(), Escalations()
    run(request("never/uploaded"), s3, custody, escalations=escalations)
    ((message, _),) = escalations.sent
    assert message.case_id == "c" * 32 and message.child_safety
    run(request("never/uploaded", type="phishing", restrict=False), s3, custody, escalations=escalations)
    assert len(escalations.sent) == 1, "a phishing case has no draft to finish"


def test_the_named_version_is_preserved_not_the_current_one():
    s3, custody = MemoryS3(), MemoryCustody()
    reported = s3.put("a.txt", b"reported bytes")
    s3.put("a.txt", b"overwritten since")

    outcome = run(request("a.txt", version_id=reported), s3, custody)

    (copy,) = s3.copies[evidence_key(BUCKET, "a.txt", reported)]
    assert copy.data == b"reported bytes" and outcome.sha256 == hashlib.sha256(b"reported bytes").hexdigest()
    assert s3.versions[(BUCKET, "a.txt", "v2")].tags == {}  # the newer version is not what was reported


def test_five_deliveries_make_one_copy_and_one_event_per_step():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("images/a.png", b"x")
    outcomes = [run(request("images/a.png"), s3, custody) for _ in range(5)]
    assert s3.calls.count("copy_to_evidence") == 1
    assert [o.copied for o in outcomes] == [True, False, False, False, False]
    assert sum(len(c) for c in s3.copies.values()) == 1
    assert custody.steps() == ["preserved", f"restricted#{REPORT}", "verified"]


def test_a_second_report_keeps_the_first_restriction_and_records_none_of_its_own():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("images/a.png", b"x", tags={"owner": "team-a"})
    run(request("images/a.png"), s3, custody)
    run(request("images/a.png", report_id=OTHER_REPORT), s3, custody)
    assert s3.versions[(BUCKET, "images/a.png", version)].tags == {"owner": "team-a", QUARANTINE_TAG: REPORT}
    assert custody.steps() == ["preserved", f"restricted#{REPORT}", "verified"]
    assert s3.calls.count("copy_to_evidence") == 1


def test_without_a_stored_sha256_the_source_is_streamed_once_and_a_redelivery_trusts_the_record():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("notes/a.txt", b"hello", stores_sha256=False)

    first = run(request("notes/a.txt"), s3, custody)
    s3.calls.clear()
    again = run(request("notes/a.txt"), s3, custody)

    assert first.verified_by == "streamed-source" and first.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert again.verified_by == "recorded" and again.sha256 == first.sha256 and again.md5 == first.md5
    assert "digest_source" not in s3.calls


def test_a_multipart_copy_is_verified_by_hashing_the_source_along_its_parts_never_by_reading_it():
    s3, custody = MemoryS3(multipart=True), MemoryCustody()
    data = bytes(range(100))
    s3.put("big.bin", data)
    outcome = run(request("big.bin"), s3, custody)
    assert outcome.verified_by == "streamed-source-parts" and outcome.status is Status.RESTRICTED
    assert outcome.sha256 == hashlib.sha256(data).hexdigest() and outcome.md5 == hashlib.md5(data).hexdigest()
    assert s3.calls.count("digest_source") == 1  # the only bytes read are the source's, once
    verified = custody.find(outcome.object_id, "verified")
    assert verified is not None and verified.detail["evidenceChecksumType"] == "COMPOSITE"
    assert verified.detail["evidenceSha256"].endswith("-34")  # 100 bytes in parts of 3

    s3.calls.clear()
    again = run(request("big.bin"), s3, custody)
    assert again.verified_by == "recorded" and "digest_source" not in s3.calls


def test_a_multipart_copy_known_only_by_its_part_count_is_verified_along_the_boundaries_s3_used():
    s3, custody = MemoryS3(multipart=True), MemoryCustody()
    s3.put("big.bin", b"abcdefgh")
    (copy_key,) = [run(request("big.bin", type="phishing", restrict=False), s3, custody).evidence_key]
    (copy,) = s3.copies[copy_key]
    # S3 lists no parts, only their count, and the adapter gives no boundaries it cannot vouch for.
    copy.evidence = replace(copy.evidence, parts=())
    with pytest.raises(CannotVerify):
        run(request("big.bin", report_id=OTHER_REPORT), s3, MemoryCustody())
    assert s3.versions[(BUCKET, "big.bin", "v1")].tags == {}


@pytest.mark.parametrize("tamper", ["a part", "the composite"])
def test_a_multipart_copy_whose_parts_differ_from_the_source_stops_before_the_source_is_touched(tamper):
    s3, custody = MemoryS3(multipart=True), MemoryCustody()
    version = s3.put("big.bin", b"abcdefgh")
    key = evidence_key(BUCKET, "big.bin", version)
    s3.place_copy(key, b"abcdefgh", NOW + timedelta(days=400))
    (copy,) = s3.copies[key]
    if tamper == "a part":
        wrong = Part(2, 3, hashlib.sha256(b"XYZ").hexdigest())
        copy.evidence = replace(copy.evidence, parts=(copy.evidence.parts[0], wrong, copy.evidence.parts[2]))
    else:
        copy.evidence = replace(copy.evidence, composite_sha256=hashlib.sha256(b"tampered").hexdigest())
    with pytest.raises(EvidenceMismatch):
        run(request("big.bin"), s3, custody)
    assert s3.versions[(BUCKET, "big.bin", version)].tags == {} and "verified" not in custody.steps()


def test_a_copy_that_differs_from_the_source_stops_before_the_source_is_touched():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("images/a.png", b"original")
    run(request("images/a.png", type="phishing", restrict=False), s3, custody)
    (copy,) = s3.copies[evidence_key(BUCKET, "images/a.png", version)]
    copy.evidence = replace(copy.evidence, sha256=hashlib.sha256(b"tampered").hexdigest())

    with pytest.raises(EvidenceMismatch):
        run(request("images/a.png", report_id=OTHER_REPORT), s3, custody)
    assert s3.versions[(BUCKET, "images/a.png", version)].tags == {}


def test_a_copy_found_in_compliance_mode_stops_the_sequence():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a", type="phishing", restrict=False), s3, custody)
    (copy,) = s3.copies[evidence_key(BUCKET, "a", version)]
    copy.evidence = replace(copy.evidence, lock_mode="COMPLIANCE")
    with pytest.raises(EvidenceNotProtected):
        run(request("a"), s3, custody)
    assert s3.versions[(BUCKET, "a", version)].tags == {}


@pytest.mark.parametrize(
    "answer",
    [CopyAnswer("AES256", None), CopyAnswer("aws:kms", KEY_ARN.replace("0f0f", "dead")), CopyAnswer(None, None)],
    ids=["sse-s3", "another-key", "not-said"],
)
def test_a_copy_s3_says_it_did_not_encrypt_with_the_evidence_key_stops_the_sequence(answer):
    # Encryption is checked where S3 reports it: its answer to the copy the worker made.
    s3, custody = MemoryS3(copy_answer=answer), MemoryCustody()
    version = s3.put("a", b"x")
    with pytest.raises(EvidenceNotProtected):
        run(request("a"), s3, custody)
    assert s3.versions[(BUCKET, "a", version)].tags == {} and custody.steps() == []


def test_a_copy_found_in_place_relies_on_the_bucket_for_its_encryption_and_says_so():
    # Another worker made the copy (or this one, before a crash): S3's answer to it is lost, and GetObjectAttributes
    # reports no encryption; the evidence bucket's policy admits no copy under another key.
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    s3.place_copy(evidence_key(BUCKET, "a", version), b"x", NOW + timedelta(days=400))

    outcome = run(request("a"), s3, custody)

    assert outcome.status is Status.RESTRICTED and not outcome.copied
    preserved = custody.find(outcome.object_id, "preserved")
    assert preserved is not None
    assert (preserved.detail["encryptionFrom"], preserved.detail["kmsKeyId"]) == ("bucket-policy", KEY_ARN)


def test_the_preserved_event_names_the_key_s3_said_it_encrypted_the_copy_with():
    s3, custody = MemoryS3(copy_answer=CopyAnswer("aws:kms", KEY_ARN)), MemoryCustody()
    s3.put("a", b"x")
    outcome = run(request("a"), s3, custody)
    preserved = custody.find(outcome.object_id, "preserved")
    assert preserved is not None
    assert (preserved.detail["encryptionFrom"], preserved.detail["kmsKeyId"]) == ("copy-answer", KEY_ARN)


def test_a_released_hold_is_reapplied_when_the_object_is_reported_again():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a", type="phishing", restrict=False), s3, custody)
    (copy,) = s3.copies[evidence_key(BUCKET, "a", version)]
    copy.evidence = replace(copy.evidence, legal_hold=False)

    run(request("a", report_id=OTHER_REPORT, type="phishing", restrict=False), s3, custody)

    assert copy.evidence.legal_hold is True
    held = custody.find(copy.evidence.key.removeprefix("evidence/"), f"held#{OTHER_REPORT}")
    assert held is not None and held.detail["reapplied"] == "legalHold"


def test_a_report_a_year_later_extends_retention_to_a_year_from_then():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a"), s3, custody)
    later = NOW + timedelta(days=350)

    run(request("a", report_id=OTHER_REPORT), s3, custody, now=later)

    (copy,) = s3.copies[evidence_key(BUCKET, "a", version)]
    assert copy.evidence.retain_until is not None and copy.evidence.retain_until >= later + timedelta(days=365)
    assert s3.calls.count("retain") == 1 and s3.calls.count("copy_to_evidence") == 1


def test_a_redelivery_within_the_month_costs_no_retention_call():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("a", b"x")
    run(request("a"), s3, custody)
    run(request("a"), s3, custody, now=NOW + timedelta(days=29))
    assert "retain" not in s3.calls


def test_an_object_with_ten_tags_cannot_be_restricted_and_says_why():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("a", b"x", tags={f"t{i}": "v" for i in range(10)})
    with pytest.raises(CannotRestrict):
        run(request("a"), s3, custody)
    assert "verified" in custody.steps()  # preserved and verified: only the restriction needs a person


# --- convergence under faults ---------------------------------------------------------------------------------


def _sha_and_restrict() -> Any:
    return st.tuples(st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(fault=st.integers(min_value=0, max_value=12), in_custody=st.booleans(), shape=_sha_and_restrict())
def test_a_fault_at_any_step_then_redelivery_converges_to_one_verified_copy(fault, in_custody, shape):
    stores_sha, restrict, multipart = shape
    s3 = MemoryS3(multipart=multipart)
    custody = MemoryCustody()
    version = s3.put("a", b"reported", stores_sha256=stores_sha)
    if in_custody:
        custody.fail_at = fault
    else:
        s3.fail_at = fault
    message = request("a", type="csam" if restrict else "phishing", restrict=restrict)
    key = evidence_key(BUCKET, "a", version)

    for _ in range(5):
        try:
            run(message, s3, custody)
            break
        except Injected:
            s3.fail_at = custody.fail_at = None
            # The invariant, after every attempt: never a tag without a verified, held copy.
            if s3.versions[(BUCKET, "a", version)].tags:
                assert custody.find(key.removeprefix("evidence/"), "verified") is not None
                assert all(c.evidence.legal_hold for c in s3.copies[key])
    else:
        pytest.fail("did not converge in 5 deliveries")

    assert len(s3.copies[key]) == 1 and s3.copies[key][0].evidence.legal_hold
    expected = ["preserved", "verified"] + ([f"restricted#{REPORT}"] if restrict else [])
    assert custody.steps() == sorted(expected)
    assert (s3.versions[(BUCKET, "a", version)].tags == {QUARANTINE_TAG: REPORT}) is restrict


# --- policy -----------------------------------------------------------------------------------------------------


@given(st.sampled_from(sorted((category, type_) for category, types in TYPES.items() for type_ in types)))
def test_without_the_dispatchers_say_only_child_safety_restricts(category_and_type):
    category, type_ = category_and_type
    message = request("a", category=category, type=type_, restrict=False)
    assert should_restrict(message) is (category_and_type in CHILD_SAFETY_TYPES)


def test_the_bucket_policy_denies_reading_and_untagging_tagged_objects_to_all_but_the_worker():
    role = "arn:aws:iam::123456789012:role/quarantine"
    policy = protected_bucket_policy("bucket-a", [role])
    read, untag = policy["Statement"]
    assert read["Effect"] == untag["Effect"] == "Deny" and read["Principal"] == "*"
    assert read["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert "s3:DeleteObjectTagging" in untag["Action"] and "s3:PutObjectVersionTagging" in untag["Action"]
    for statement in (read, untag):
        assert statement["Resource"] == "arn:aws:s3:::bucket-a/*"
        assert statement["Condition"] == {
            "StringLike": {"s3:ExistingObjectTag/abuse-intake:quarantine": "*"},
            "ArnNotEquals": {"aws:PrincipalArn": [role]},
        }


def test_evidence_keys_hide_the_object_key_and_name_the_version():
    key = evidence_key(BUCKET, "uploads/Jane Doe passport.jpg", "3HL4kqtJ")
    assert key == f"evidence/{BUCKET}/{hashlib.sha256(b'uploads/Jane Doe passport.jpg').hexdigest()}/3HL4kqtJ"


# --- release and destroy ----------------------------------------------------------------------------------------


def test_release_removes_only_the_quarantine_tag_and_is_recorded_once():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x", tags={"owner": "team-a"})
    run(request("a"), s3, custody)

    def lift() -> bool:
        return release(
            ref("a", version),
            REPORT,
            reason="false positive: a stock photo",
            store=s3,
            custody=custody,
            protected_buckets=PROTECTED,
            actor="analyst:alice",
            clock=lambda: NOW,
        )

    assert lift() is True
    assert lift() is False  # a retry finds the tag gone and records nothing new
    assert s3.versions[(BUCKET, "a", version)].tags == {"owner": "team-a"}
    released = custody.find(ref("a", version).object_id, f"released#{REPORT}")
    assert released is not None and released.by == "analyst:alice" and released.detail["reason"].startswith("false")
    assert s3.copies[evidence_key(BUCKET, "a", version)][0].evidence.legal_hold  # the evidence stays held


def test_release_of_a_restriction_never_recorded_is_refused():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    with pytest.raises(NotPreserved):
        release(
            ref("a", version),
            REPORT,
            reason="r",
            store=s3,
            custody=custody,
            protected_buckets=PROTECTED,
            actor="analyst:alice",
        )


def test_destroy_needs_a_law_enforcement_request_and_removes_the_held_copy_for_good():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a"), s3, custody)
    with pytest.raises(ValueError):
        destroy(ref("a", version), law_enforcement_request=" ", store=s3, custody=custody, actor="analyst:bob")

    def destroy_it() -> bool:
        return destroy(
            ref("a", version),
            law_enforcement_request="LE-2026-0042",
            store=s3,
            custody=custody,
            actor="analyst:bob",
            clock=lambda: NOW,
        )

    assert destroy_it() is True and destroy_it() is False
    assert s3.copies[evidence_key(BUCKET, "a", version)] == []
    destroyed = custody.find(ref("a", version).object_id, "destroyed")
    assert destroyed is not None and destroyed.detail == {"lawEnforcementRequest": "LE-2026-0042"}
    assert custody.find(ref("a", version).object_id, "verified") is not None  # the hashes outlive the bytes


def test_destroy_of_something_never_preserved_is_refused():
    with pytest.raises(NotPreserved):
        destroy(ref("a", "v1"), law_enforcement_request="LE-1", store=MemoryS3(), custody=MemoryCustody(), actor="x")


# --- an analyst's decision, on each object of the case ------------------------------------------------------------

DECISION = "01KB3A0000000000000000000D"  # a ULID after REPORT's (text order is time order)
LATER_REPORT = "01KB3B0000000000000000000R"  # a report received after the decision


def order(key: str, action: str, decision_id: str = DECISION) -> ObjectDecision:
    return ObjectDecision(
        analyst_action=action,  # type: ignore[arg-type]
        decision_id=decision_id,
        case_id="c" * 32,
        analyst="analyst-ada",
        bucket=BUCKET,
        key=key,
    )


def decide(message: ObjectDecision, s3: MemoryS3, custody: MemoryCustody) -> Any:
    return carry_out(
        message,
        store=s3,
        custody=custody,
        vault=VAULT,
        protected_buckets=PROTECTED,
        actor="QuarantineFunction/req-2",
        clock=lambda: NOW,
    )


def test_a_release_decision_lifts_every_preserved_versions_restriction_and_keeps_the_copies_held():
    s3, custody = MemoryS3(), MemoryCustody()
    first = s3.put("a", b"first", tags={"owner": "team-a"})
    run(request("a", version_id=first), s3, custody)
    second = s3.put("a", b"second")
    run(request("a", version_id=second, report_id=OTHER_REPORT), s3, custody)

    outcome = decide(order("a", "release"), s3, custody)

    assert (outcome.status, outcome.versions, outcome.lifted) == (Status.RELEASED, 2, 2)
    assert s3.versions[(BUCKET, "a", first)].tags == {"owner": "team-a"}
    assert s3.versions[(BUCKET, "a", second)].tags == {}
    for version, restriction in ((first, REPORT), (second, OTHER_REPORT)):
        released = custody.find(ref("a", version).object_id, f"released#{restriction}")
        assert released is not None and released.by == "analyst-ada" and released.detail == {"reason": DECISION}
        assert s3.copies[evidence_key(BUCKET, "a", version)][0].evidence.legal_hold, "preservation goes on"
    assert "lift_hold" not in s3.calls and "delete_evidence" not in s3.calls


def test_a_release_decision_delivered_again_changes_nothing_and_appends_nothing():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a"), s3, custody)
    decide(order("a", "release"), s3, custody)
    events = dict(custody.events)

    again = decide(order("a", "release"), s3, custody)

    assert (again.status, again.lifted) == (Status.RELEASED, 0)
    assert custody.events == events and s3.versions[(BUCKET, "a", version)].tags == {}


def test_a_release_that_died_after_recording_finishes_on_the_redelivery():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a"), s3, custody)
    s3.fail_at = len(s3.calls) + 3  # preserved_versions, tags, tags again (release's own), then put_tags fails
    with pytest.raises(Injected):
        decide(order("a", "release"), s3, custody)
    assert custody.find(ref("a", version).object_id, f"released#{REPORT}") is not None, "recorded before the untag"
    assert s3.versions[(BUCKET, "a", version)].tags == {QUARANTINE_TAG: REPORT}, "so the tag still names it"

    assert decide(order("a", "release"), s3, custody).lifted == 1
    assert s3.versions[(BUCKET, "a", version)].tags == {}


def test_a_release_decision_leaves_a_restriction_newer_than_itself():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a", report_id=LATER_REPORT), s3, custody)

    outcome = decide(order("a", "release"), s3, custody)

    assert (outcome.lifted, outcome.kept) == (0, 1)
    assert s3.versions[(BUCKET, "a", version)].tags == {QUARANTINE_TAG: LATER_REPORT}
    assert custody.find(ref("a", version).object_id, f"released#{LATER_REPORT}") is None


def test_a_release_decision_on_an_object_never_preserved_does_nothing():
    s3, custody = MemoryS3(), MemoryCustody()
    s3.put("a", b"x")
    outcome = decide(order("a", "release"), s3, custody)
    assert (outcome.status, outcome.versions) == (Status.RELEASED, 0) and custody.events == {}


def test_a_restrict_decision_tags_an_unrestricted_preserved_object_under_the_decisions_id():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x", tags={"owner": "team-a"})
    run(request("a", type="phishing", restrict=False), s3, custody)  # preserved, left untagged
    copies = len(s3.copies[evidence_key(BUCKET, "a", version)])

    outcome = decide(order("a", "restrict"), s3, custody)

    assert outcome.status is Status.RESTRICTED and not outcome.copied
    assert len(s3.copies[evidence_key(BUCKET, "a", version)]) == copies
    assert s3.versions[(BUCKET, "a", version)].tags == {"owner": "team-a", QUARANTINE_TAG: DECISION}
    restricted = custody.find(ref("a", version).object_id, f"restricted#{DECISION}")
    assert restricted is not None and restricted.by == "analyst-ada" and restricted.report_id is None
    assert custody.steps() == ["preserved", f"restricted#{DECISION}", "verified"]


def test_a_restrict_decision_keeps_an_existing_restriction_and_appends_nothing():
    s3, custody = MemoryS3(), MemoryCustody()
    version = s3.put("a", b"x")
    run(request("a"), s3, custody)
    events = dict(custody.events)

    for _ in range(2):
        assert decide(order("a", "restrict"), s3, custody).status is Status.RESTRICTED

    assert s3.versions[(BUCKET, "a", version)].tags == {QUARANTINE_TAG: REPORT}
    assert custody.events == events


def test_a_restrict_decision_preserves_a_current_version_never_reported_before_tagging_it():
    s3, custody = MemoryS3(), MemoryCustody()
    old = s3.put("a", b"reported")
    run(request("a", version_id=old, type="phishing", restrict=False), s3, custody)
    current = s3.put("a", b"uploaded after the report")

    outcome = decide(order("a", "restrict"), s3, custody)

    assert outcome.status is Status.RESTRICTED and outcome.copied
    assert s3.calls.index("copy_to_evidence", 2) < s3.calls.index("put_tags"), "never tagged before the copy"
    assert s3.versions[(BUCKET, "a", current)].tags == {QUARANTINE_TAG: DECISION}
    assert custody.find(ref("a", current).object_id, "verified") is not None
    assert s3.versions[(BUCKET, "a", old)].tags == {}, "the current version, as decided"


def test_a_decision_on_an_unprotected_bucket_sends_no_request():
    s3, custody = MemoryS3(), MemoryCustody()
    for action in ("release", "restrict"):
        message = order("a", action).model_copy(update={"bucket": "someone-elses-bucket"})
        assert decide(message, s3, custody).status is Status.REFUSED
    assert s3.calls == [] and custody.events == {}


def test_a_restrict_decision_on_a_deleted_object_writes_nothing():
    s3, custody = MemoryS3(), MemoryCustody()
    assert decide(order("gone", "restrict"), s3, custody).status is Status.SOURCE_GONE
    assert custody.events == {}


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ([], "pending"),
        (["absent"], "absent"),
        (["preserved"], "copied"),
        (["preserved", "verified"], "preserved"),
        (["preserved", "verified", "restricted"], "restricted"),
        (["preserved", "verified", "restricted", "released"], "released"),
        (["preserved", "verified", "restricted", "released", "restricted"], "restricted"),
        (["preserved", "verified", "restricted", "destroyed"], "destroyed"),
    ],
)
def test_an_object_versions_quarantine_state_is_what_its_custody_chain_says_last(steps, state):
    from shared.domain.quarantine import quarantine_state

    assert quarantine_state(steps) == state
