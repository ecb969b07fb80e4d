"""Cases: the reports that name one thing, each counted exactly once.

A case is one canonical resource in one category family. The dispatcher folds every stream batch into the cases it
touches, one write per case per batch, so a URL reported 10,000 times costs 100 case writes, not 10,000. This module
decides what a case is and what such a write says; the storage adapter (shared/adapters/cases_table.py, CaseTable)
commits it. It is pure: no AWS, no I/O, no clock. It sees ids, canonical resources, category and type, trust tiers,
principals (only to hash them) and times; never descriptions, contacts or evidence.

Identity
- Family: CSAM and CSEM are their own family ("child_safety"): they are handled differently (P0, NCMEC draft,
  restricted staff access) and must never share a case, or an analyst's view, with a phishing report on the same URL.
  Every other report's family is its XARF category.
- Resource: the most specific thing the report names, S3 object > URL > domain > IP, ties broken by the canonical
  spelling so the order a reporter listed them in never matters. An S3 object's versionId is dropped: a case is about
  the object; the quarantine request carries the version.
- Case id: 32 hex digits of SHA-256 over (family, resource): deterministic, so a replayed batch, a second dispatcher
  and the escalation worker all name the same case without asking anyone.

Counting
- reportCount is exact under redelivery. The adapter commits a case's increment in one transaction with every counted
  report's `caseId`, each conditional on the report having none; a replayed report fails its condition and is
  dropped, and the case write carries a version so concurrent dispatchers never lose each other's increments.
- Distinct reporters are distinct principals, kept as short hashes, exact up to MAX_REPORTERS_KEPT and saturated
  there ("100 or more"); the policy only needs to know about five. Anonymous reporters count as one: they cannot be
  told apart, and a flood of anonymous reports must not pass for corroboration.
- urls, objects: bounded samples for the CyberTipline draft and the escalation worker.
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
MAX_TRANSACTION_ACTIONS = 100  # DynamoDB's limit for one TransactWriteItems: the most one commit may pack

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

    @property
    def reporter_count(self) -> int:
        return len(self.reporters)

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


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What the store says about one attempt to commit increments together (all of them, or none).

    When not committed, it says why, so the next attempt can do better: reports already counted (a replay) or gone,
    and the cases whose stored version was not the expected one, as they are now.
    """

    committed: bool
    already_counted: frozenset[str] = frozenset()  # report ids
    missing: frozenset[str] = frozenset()  # report ids whose item no longer exists
    current: Mapping[str, CaseState] = field(default_factory=dict)  # case id -> the case as stored now


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
    # Severity is recomputed over every type the case has seen with the new reporter count, so corroboration
    # raises the whole case, not only the reports that arrived after it.
    severities = [
        decide(state.category, type_, TrustTier.PUBLIC, after.reporter_count).severity for type_ in after.types
    ]
    after = replace(after, severity=min([*severities, *([state.severity] if state.severity else [])]))
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
