"""Cases: the reports that name one thing, each counted exactly once, with no hot key.

A case is one canonical resource in one category family. The dispatcher folds every stream batch into the cases it
touches, a few writes per case per batch, so a URL reported 10,000 times costs about 300 case writes, not 10,000, and
concurrent batches about one viral case never conflict: no case item is ever part of a transaction, and every case
write commutes with every other. This module decides what a case is and what such writes say; the storage adapter
(shared/adapters/cases_table.py, CaseTable) commits them. It is pure: no AWS, no I/O, no clock. It sees ids,
canonical resources, category and type, trust tiers, principals (only to hash them) and times; never descriptions,
contacts or evidence.

Identity
- Family: CSAM and CSEM are their own family ("child_safety"): they are handled differently (P0, NCMEC draft,
  restricted staff access) and must never share a case, or an analyst's view, with a phishing report on the same URL.
  Every other report's family is its XARF category.
- Resource: the most specific thing the report names, S3 object > URL > domain > IP, ties broken by the canonical
  spelling so the order a reporter listed them in never matters. An S3 object's versionId is dropped: a case is about
  the object; the quarantine request carries the version.
- Case id: 32 hex digits of SHA-256 over (family, resource): deterministic, so a replayed batch, a second dispatcher
  and the escalation worker all name the same case without asking anyone.

Counting: mark, then add (exactly once, crash-safe, no conflicts)
1. Mark. One transaction per (at most 99) reports sets each report's caseId, PROCESSING and the increment's token,
   each conditional on the report having no caseId (the exactly-once guard), together with one increment item that
   holds what those reports add to each of their cases (a CaseAddition per case). The transaction touches only
   report items and a new item: two batches never share an item, so they never conflict. A replayed report fails its
   condition and is dropped; its stored token says which increment counted it.
2. Add. Per case one UpdateItem: `ADD reportCount :n, reporters :r, types, urls, objects, pendingFanout, version 1`
   and the increment's token, conditional on the token not being recorded yet (ADD commutes; the token makes the
   write idempotent, so a retry, a redelivery or a second dispatcher applying the same increment adds it once). The
   write that creates a case records the token as `createdBy` instead of in the `increments` set.
3. Discard the increment item, then drop its token from the case (in the settle write below, or in the pendingFanout
   clear when nothing else needs settling). In that order: a token is forgotten only once nothing can apply its
   increment again. That relies on no two deliveries of one report running at once (Lambda processes a shard's
   batches one at a time); a sweeper must re-dispatch only reports still QUEUED, which carry no token. A token whose
   item is found gone while its case still holds it (a crash after the discard) is forgotten by the redelivery.
   Crash safety: a crash after 1 leaves the increment item; the redelivered reports fail their marks, hand back
   their token, and the redelivery applies the stored increment (2, idempotent) and discards it (3). The increment
   item, not the redelivered records, says what to add, so a bisected or partial redelivery adds exactly what the
   marks counted. Exactness assumes what DynamoDB gives: a write takes effect before its client sees the answer or
   the timeout, or never; so once an attempt has failed, no earlier attempt can land after a later one was judged.
4. Settle. What cannot be added is kept by monotone conditional SETs, computed from the case as the add left it
   (ALL_NEW): severity only ever rises (`severity > :s`, "P0" < "P1" as text), reporterCount only rises, firstSeen
   only falls and lastSeen only rises (receivedAt is the intake's fixed millisecond ISO format, so text order is time
   order), firstIncident (reporters' own spellings) by an equality check on the value read. A failed condition means
   another writer moved a field the right way: the case as it is now comes back, the settle is recomputed, and
   retried. escalate is only ever SET to true. So these fields are exact whatever order concurrent batches land in.
- Distinct reporters are distinct principals, kept as short hashes, exact up to MAX_REPORTERS_KEPT and saturated
  there ("100 or more"); the policy only needs to know about five. Anonymous reporters count as one: they cannot be
  told apart, and a flood of anonymous reports must not pass for corroboration. Concurrent adds read before each
  other may overshoot a bound; the settle write DELETEs what lies beyond the bound's smallest values, which keeps
  the smallest values ever added, so the sample converges and never drops under its bound once it has reached it.
- urls, objects: bounded samples the same way, for the CyberTipline draft and the escalation worker.
- pendingFanout: ids of counted reports whose queue messages are not confirmed sent yet. Added in the counting write,
  removed after the sends; a replayed report is sent again only if it is still pending. Never set wholesale (only ADD
  and DELETE), so counting and clearing never overwrite each other.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.domain.callers import TrustTier
from shared.domain.policy import CHILD_SAFETY_TYPES, Decision, Severity, decide
from shared.domain.reports import ReportRecord

CHILD_SAFETY_FAMILY = "child_safety"
ANONYMOUS_PRINCIPAL = "anonymous"
MAX_REPORTERS_KEPT = 100
MAX_URLS_KEPT = 20
MAX_OBJECTS_KEPT = 25
CASE_ID_HEX_DIGITS = 32
MAX_TRANSACTION_ACTIONS = 100  # DynamoDB's limit for one TransactWriteItems
MAX_MARKS_PER_INCREMENT = MAX_TRANSACTION_ACTIONS - 1  # the increment item takes the last action

_RANK_S3, _RANK_URL, _RANK_DOMAIN, _RANK_IP = range(4)


# ---------------------------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------------------------


def family_of(category: str, type_: str) -> str:
    return CHILD_SAFETY_FAMILY if (category, type_) in CHILD_SAFETY_TYPES else category


def primary_resource(resources: Iterable[str]) -> str | None:
    """The resource a report's case is about, or None when it names nothing."""
    ranked = sorted((_rank(resource), _without_version(resource)) for resource in resources)
    return ranked[0][1] if ranked else None


def _rank(canonical: str) -> int:
    # Stored resources are canonical already (shared/domain/resources.py), so their spelling tells their kind.
    if canonical.startswith("s3://"):
        return _RANK_S3
    if canonical.startswith(("http://", "https://")):
        return _RANK_URL
    try:
        ipaddress.ip_address(canonical.strip("[]"))
    except ValueError:
        return _RANK_DOMAIN
    return _RANK_IP


def _without_version(canonical: str) -> str:
    # A canonical s3 URI percent-encodes "?" inside keys, so the only "?" left is the versionId query.
    return canonical.split("?", 1)[0] if canonical.startswith("s3://") else canonical


def case_id_for(resource: str, family: str) -> str:
    digest = hashlib.sha256(f"case-v1\x00{family}\x00{resource}".encode()).hexdigest()
    return digest[:CASE_ID_HEX_DIGITS]


def reporter_key(principal: str) -> str:
    """A principal as the case keeps it: 64 bits of a hash, enough to tell 100 reporters apart, and not an ARN."""
    return hashlib.sha256(f"reporter-v1\x00{principal}".encode()).hexdigest()[:16]


def is_url(canonical: str) -> bool:
    return canonical.startswith(("http://", "https://", "s3://"))


# ---------------------------------------------------------------------------------------------------------------
# State and increments
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseState:
    """A case as stored. version 0 means it does not exist yet."""

    case_id: str
    resource: str
    family: str
    category: str
    version: int = 0
    report_count: int = 0
    reporters: frozenset[str] = frozenset()
    first_seen: str | None = None  # receivedAt of the earliest report
    last_seen: str | None = None  # receivedAt of the latest report
    first_incident: str | None = None  # the earliest incident time reporters gave
    severity: Severity | None = None
    escalate: bool = False
    types: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()  # canonical s3 URIs of protected objects named by the case's reports
    pending_fanout: frozenset[str] = frozenset()
    draft_sha256: str | None = None  # set by the escalation worker: the CyberTipline draft last written
    notified_severity: Severity | None = None  # set by the escalation worker: the severity on-call was told
    awaiting_evidence_since: str | None = None  # set by the escalation worker while the draft lacks files
    increments: frozenset[str] = frozenset()  # tokens of increments added and not yet forgotten
    stored_reporter_count: int | None = None  # reporterCount as written (the settle keeps it up with `reporters`)
    # The analysts' side (shared.adapters.casework_table writes them): OPEN or DECIDED, and the latest decision.
    status: str = "OPEN"
    decision_id: str | None = None
    decision_reason: str | None = None
    decision_action: str | None = None

    @property
    def standing_restriction(self) -> bool:
        """A RESTRICT decision stands: a new report about the case completes at once with its reason."""
        return self.status == "DECIDED" and self.decision_action == "RESTRICT"

    @property
    def reporter_count(self) -> int:
        # Concurrent adds may overshoot the sample's bound until the next settle trims it: the count saturates anyway.
        return min(len(self.reporters), MAX_REPORTERS_KEPT)

    @property
    def exists(self) -> bool:
        return self.version > 0


def new_case(report: ReportRecord) -> CaseState | None:
    """The (empty) case a report belongs to; None when the report names no resource."""
    resource = primary_resource(report.resources)
    if resource is None:
        return None
    family = family_of(report.category, report.type)
    return CaseState(case_id=case_id_for(resource, family), resource=resource, family=family, category=report.category)


@dataclass(frozen=True, slots=True)
class CaseIncrement:
    """One write to one case: what a group of reports, none counted before, adds to it."""

    before: CaseState
    after: CaseState
    reports: tuple[ReportRecord, ...]
    added_reporters: frozenset[str]
    added_types: frozenset[str]
    added_urls: frozenset[str]
    added_objects: frozenset[str]
    pending: frozenset[str]  # report ids among `reports` that have messages to send

    @property
    def addition(self) -> CaseAddition:
        return CaseAddition(
            seed=CaseState(
                case_id=self.before.case_id,
                resource=self.before.resource,
                family=self.before.family,
                category=self.before.category,
            ),
            new_case=not self.before.exists,
            reports=len(self.reports),
            reporters=self.added_reporters,
            types=self.added_types,
            urls=self.added_urls,
            objects=self.added_objects,
            pending=self.pending,
            escalate=self.after.escalate,
            severity=self.after.severity,
            first_seen=_earliest([report.received_at for report in self.reports]),
            last_seen=_latest([report.received_at for report in self.reports]),
            first_incident=_earliest([report.incident_time for report in self.reports]),
        )


@dataclass(frozen=True, slots=True)
class CaseAddition:
    """What one increment adds to one case, as it is stored in the increment item and applied by one commutative write.

    severity and the times are what the case gets when this write creates it; on an existing case the settle decides.
    """

    seed: CaseState  # identity only
    new_case: bool  # computed on a case that did not exist yet: try to create it (and record the token as createdBy)
    reports: int
    reporters: frozenset[str]
    types: frozenset[str]
    urls: frozenset[str]
    objects: frozenset[str]
    pending: frozenset[str]
    escalate: bool
    severity: Severity | None
    first_seen: str | None
    last_seen: str | None
    first_incident: str | None

    @property
    def case_id(self) -> str:
        return self.seed.case_id


@dataclass(frozen=True, slots=True)
class MarkOutcome:
    """One attempt to mark reports counted together with their increment item: all of them, or none.

    When committed, `token` names the increment. When not, it says why, so the next attempt can do better: reports
    counted already (a replay: report id -> the token of the increment that counted it, None when it predates
    tokens) or gone. Neither: a conflict or throttling, nothing to fix but to try again.
    """

    token: str | None
    already_counted: Mapping[str, str | None] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()  # report ids whose item no longer exists

    @property
    def committed(self) -> bool:
        return self.token is not None


@dataclass(frozen=True, slots=True)
class CaseSettlement:
    """The settle write: the monotone fields moved the right way, samples trimmed, applied tokens forgotten.

    `expected` is the case as read; the adapter's conditions check each moved field still allows the move.
    """

    expected: CaseState
    severity: Severity | None = None  # more severe than stored
    reporter_count: int | None = None  # more than stored
    first_seen: str | None = None  # earlier than stored
    last_seen: str | None = None  # later than stored
    first_incident: str | None = None  # earlier than stored (checked by equality with expected.first_incident)
    trim_reporters: frozenset[str] = frozenset()
    trim_urls: frozenset[str] = frozenset()
    trim_objects: frozenset[str] = frozenset()
    forget: frozenset[str] = frozenset()  # tokens whose increment items are discarded
    reopen: bool = False  # decided without a restriction, and reported again: back in the queue

    @property
    def case_id(self) -> str:
        return self.expected.case_id

    @property
    def empty(self) -> bool:
        return self == CaseSettlement(expected=self.expected)

    @property
    def after(self) -> CaseState:
        """The case as this settle leaves it (as far as its own fields go)."""
        state = self.expected
        return replace(
            state,
            severity=self.severity or state.severity,
            stored_reporter_count=self.reporter_count or state.stored_reporter_count,
            first_seen=self.first_seen or state.first_seen,
            last_seen=self.last_seen or state.last_seen,
            first_incident=self.first_incident or state.first_incident,
            reporters=state.reporters - self.trim_reporters,
            urls=state.urls - self.trim_urls,
            objects=state.objects - self.trim_objects,
            increments=state.increments - self.forget,
        )


def decision_for(report: ReportRecord, case: CaseState) -> Decision:
    return decide(report.category, report.type, report.trust_tier, case.reporter_count)


def needs_fanout(report: ReportRecord) -> bool:
    """Whether counting the report sends anything: objects to preserve, or an escalation (which no count changes)."""
    return bool(report.s3_objects) or decide(report.category, report.type, report.trust_tier).escalate


def fold(state: CaseState, reports: Sequence[ReportRecord]) -> CaseIncrement:
    """The case after counting `reports` (none of them counted before) into it."""
    principals = sorted({reporter_key(report.principal) for report in reports} - state.reporters)
    room = max(0, MAX_REPORTERS_KEPT - len(state.reporters))
    added_reporters = frozenset(principals[:room])
    added_types = frozenset(report.type for report in reports) - state.types
    urls = sorted({r for report in reports for r in report.resources if is_url(r)} - state.urls)
    added_urls = frozenset(urls[: max(0, MAX_URLS_KEPT - len(state.urls))])
    objects = sorted({o for report in reports for o in report.s3_objects} - state.objects)
    added_objects = frozenset(objects[: max(0, MAX_OBJECTS_KEPT - len(state.objects))])
    pending = frozenset(report.report_id for report in reports if needs_fanout(report))

    received = [report.received_at for report in reports]
    incidents = [report.incident_time for report in reports]
    after = replace(
        state,
        version=state.version + 1,
        report_count=state.report_count + len(reports),
        reporters=state.reporters | added_reporters,
        first_seen=_earliest([state.first_seen, *received]),
        last_seen=_latest([state.last_seen, *received]),
        first_incident=_earliest([state.first_incident, *incidents]),
        types=state.types | added_types,
        urls=state.urls | added_urls,
        objects=state.objects | added_objects,
        pending_fanout=state.pending_fanout | pending,
        escalate=state.escalate or any(decide(r.category, r.type, r.trust_tier).escalate for r in reports),
    )
    after = replace(after, severity=severity_of(after))
    return CaseIncrement(
        before=state,
        after=after,
        reports=tuple(reports),
        added_reporters=added_reporters,
        added_types=added_types,
        added_urls=added_urls,
        added_objects=added_objects,
        pending=pending,
    )


def severity_of(case: CaseState) -> Severity | None:
    """Recomputed over every type the case has seen with its reporter count, so corroboration raises the whole case,
    not only the reports that arrived after it; never below what it was."""
    severities = [decide(case.category, type_, TrustTier.PUBLIC, case.reporter_count).severity for type_ in case.types]
    known = [*severities, *([case.severity] if case.severity else [])]
    return min(known) if known else None


def settle(case: CaseState, reports: Sequence[ReportRecord], forget: Iterable[str] = ()) -> CaseSettlement:
    """What the settle write must change so that `case` (as stored now) reflects `reports` (all counted into it)."""
    trim_reporters = _beyond(case.reporters, MAX_REPORTERS_KEPT)
    trim_urls = _beyond(case.urls, MAX_URLS_KEPT)
    trim_objects = _beyond(case.objects, MAX_OBJECTS_KEPT)
    trimmed = replace(case, reporters=case.reporters - trim_reporters)
    severity = severity_of(trimmed)
    reporter_count = trimmed.reporter_count
    first_seen = _earliest([case.first_seen, *(r.received_at for r in reports)])
    last_seen = _latest([case.last_seen, *(r.received_at for r in reports)])
    first_incident = _earliest([case.first_incident, *(r.incident_time for r in reports)])
    return CaseSettlement(
        expected=case,
        severity=severity if severity is not None and (case.severity is None or severity < case.severity) else None,
        reporter_count=reporter_count if reporter_count > (case.stored_reporter_count or 0) else None,
        first_seen=first_seen if first_seen != case.first_seen else None,
        last_seen=last_seen if last_seen != case.last_seen else None,
        first_incident=first_incident if first_incident != case.first_incident else None,
        trim_reporters=trim_reporters,
        trim_urls=trim_urls,
        trim_objects=trim_objects,
        forget=frozenset(forget) & case.increments,
        # A decision that did not restrict does not answer a report made after it: someone has to look again.
        reopen=case.status == "DECIDED" and not case.standing_restriction and bool(reports),
    )


def _beyond(sample: frozenset[str], bound: int) -> frozenset[str]:
    """What a sample holds beyond its bound: all but its smallest values, so every trimmer agrees what to keep."""
    return frozenset(sorted(sample)[bound:])


def priority(report: ReportRecord) -> tuple[int, str]:
    """Sort key: trusted flaggers first (DSA Art. 22), then the most trusted tiers, then oldest first."""
    return (-int(report.trust_tier), report.received_at)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ISO 8601 strings with and without fractional seconds do not sort as text ("00.5Z" < "00Z"), so compare as times.
def _earliest(values: Sequence[str | None]) -> str | None:
    present = [value for value in values if value]
    return min(present, key=_parse) if present else None


def _latest(values: Sequence[str | None]) -> str | None:
    present = [value for value in values if value]
    return max(present, key=_parse) if present else None
