"""What a report is: the incident a reporter described (`Report`) and the report as stored (`ReportRecord`).

`ReportRecord` is the one model of a stored report: the table's item codec (shared.adapters.reports_table) writes and
reads it field by field from this model (attribute names are the fields' camelCase aliases), the status answers are
built from it, and the stream consumers decode it. Adding a field here adds it everywhere. Parsing what reporters send
(XARF, the web form) into a `Report` is shared.domain.xarf's and shared.domain.webform's job; this module is
vocabulary-free, so the workers that load it never load the XARF parser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from shared.domain.callers import TrustTier
from shared.domain.resources import Resource


class ReportStatus(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"


class ReasonCode(StrEnum):
    """Why a report was completed; the AWS Abuse Signal API's vocabulary, so partners read it the same way."""

    ACTIONED = "ACTIONED"
    NOT_RESOLVABLE_TO_AWS = "NOT_RESOLVABLE_TO_AWS"
    REVIEWED_NO_AWS_ACTION = "REVIEWED_NO_AWS_ACTION"
    CONTENT_DOWN_OR_INACCESSIBLE = "CONTENT_DOWN_OR_INACCESSIBLE"
    NEED_MORE_INFORMATION = "NEED_MORE_INFORMATION"


def utc_timestamp(moment: datetime) -> str:
    """The table's time format (receivedAt and others): ISO 8601, UTC, milliseconds, Z; text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


QUEUED_SHARDS = 10  # partitions of the sweeper's index: a burst of reports spreads over them instead of one


QUEUED_SHARD_NAMES = tuple(f"QUEUED#{shard}" for shard in range(QUEUED_SHARDS))


def queued_shard_for(key_hex: str) -> str:
    """Which partition of the sweeper's index a QUEUED report is listed under; fixed by its key."""
    return QUEUED_SHARD_NAMES[int(key_hex[:8], 16) % QUEUED_SHARDS]


# ---------------------------------------------------------------------------------------------------------------
# The internal report
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reporter:
    org: str
    contact: str
    domain: str


@dataclass(frozen=True)
class EvidenceDigest:
    """One evidence payload as received: its bytes (kept in the evidence bucket, never in a table item) and what we
    computed of them."""

    sha256: str
    md5: str
    size: int
    content_type: str
    declared_hash_matches: bool | None = None  # None: the reporter declared no hash we can check
    content: bytes = field(default=b"", repr=False, compare=False)

    @property
    def is_text(self) -> bool:
        """A notice rather than a file: a hash-match report, a header dump, a log excerpt. Anything else is media."""
        media_type = self.content_type.split(";", 1)[0].strip().lower()
        return media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES


# Non-text/* types that are text all the same. Everything else in a CSAM or CSEM report is held as media.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "message/rfc822"})
INTAKE_EVIDENCE_PREFIX = "intake/sha256/"


def intake_evidence_key(sha256: str) -> str:
    """Where a payload's bytes live in the evidence bucket: named by their SHA-256, so the same bytes sent by any
    number of reports are one object."""
    return INTAKE_EVIDENCE_PREFIX + sha256


@dataclass(frozen=True)
class Report:
    """One incident, whatever format it came in. This is what is deduplicated, stored and acted on."""

    category: str
    type: str
    resources: tuple[Resource, ...]
    incident_time: datetime
    description: str | None = None
    reporter: Reporter | None = None
    evidence: tuple[EvidenceDigest, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    source_format: Literal["xarf4", "xarf3", "form"] = "xarf4"
    external_id: str | None = None  # the reporter's own id for it (XARF report_id)
    stale: bool = False  # the incident is over a year old: accepted, and weighed as such by triage


@dataclass(frozen=True)
class Submission:
    report: Report
    client_token: str | None = None
    correlation_id: str | None = None


def compact_json(value: Any) -> str:
    """Compact, stable JSON, UTF-8 as sent (no \\u escapes): the extension fields are measured against their 16 KB
    budget (shared.domain.xarf) in exactly the form they are stored in."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _json_text(value: Mapping[str, Any]) -> str | None:
    return compact_json(value) if value else None


def _from_json_text(value: Any) -> Any:
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else value


# Type-specific and unknown XARF fields (the report's extensions, at most 16 KB): stored as one JSON string, so that
# any shape a reporter sends (numbers, nulls, nesting) round-trips exactly and counts once against the item budget.
JsonText = Annotated[dict[str, Any], BeforeValidator(_from_json_text), PlainSerializer(_json_text)]


class StoredEvidence(BaseModel):
    """What the report item keeps of one evidence payload: a reference to its object and its digests, never its
    bytes. `evidence_id` is the object's key in the evidence bucket (intake_evidence_key)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    sha256: str
    md5: str
    size: int
    content_type: str
    evidence_id: str | None = None  # None only on reports stored before payloads were kept
    declared_hash_matches: bool | None = None
    legal_hold: bool = False  # media in a CSAM or CSEM report: preserved as a quarantined copy is
    viewed_by_human: bool = False  # nobody at the provider has looked at it (US v. Wilson); set by a recorded view


class ReportRecord(BaseModel):
    """A report as stored: the incident flattened, plus what intake decided about it and what the pipeline set."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    key_hex: str = Field(exclude=True)  # the item's key (PK = REPORT#<key_hex>), not an attribute of its own
    report_id: str
    status: str
    received_at: str
    principal: str
    trust_tier: TrustTier
    category: str
    type: str
    resources: tuple[str, ...]
    incident_time: str
    content_fingerprint: str
    receipt_hash: str
    source_format: str
    partner: str | None = None
    s3_objects: tuple[str, ...] = ()  # objects in protected buckets: the quarantine worker's to preserve
    out_of_scope: tuple[str, ...] = ()  # objects in any other bucket: recorded, never touched
    description: str | None = None
    # The reporter's contact details: on the report item only until the dispatcher counts it, which moves them into
    # the report's ReporterContact item, the one that expires (see there).
    reporter_org: str | None = None
    reporter_contact: str | None = None
    reporter_domain: str | None = None
    evidence: tuple[StoredEvidence, ...] = ()
    details: JsonText = Field(default_factory=dict)  # the extension fields, shown to analysts and exported
    external_id: str | None = None
    stale: bool = False
    correlation_id: str | None = None
    # "<hash of the principal>#<correlationId>": CorrelationIndex's key, so a partner lists its own reports by the id
    # it gave them (GET /v1/reports?correlationId=, the Abuse Signal API's ListAbuseReportStatuses) in one Query.
    correlation_key: str | None = None
    case_id: str | None = None
    reason_code: str | None = None
    # Only a QUEUED report carries it: the key of the sweeper's sparse index (queued_shard_for); the dispatcher
    # removes it when it marks the report counted.
    queued_shard: str | None = None


def correlation_key_for(principal: str, correlation_id: str | None) -> str | None:
    if not correlation_id:
        return None
    return hashlib.sha256(principal.encode()).hexdigest()[:16] + "#" + correlation_id


# ---------------------------------------------------------------------------------------------------------------
# Retention of reporters' personal data
# ---------------------------------------------------------------------------------------------------------------

# 13 months after receipt for a report whose case never closes; a year after closing once it does (the casework sets
# that). Long enough to tell a reporter the outcome (DSA Art. 16(5)) and to answer an appeal; no longer.
CONTACT_RETENTION_DAYS = 396
CONTACT_RETENTION_AFTER_CLOSE_DAYS = 365


class ReporterContact(BaseModel):
    """A reporter's contact details for one report, in an item of their own so that DynamoDB's TTL deletes them
    (`expires_at`, epoch seconds) and leaves the report, which is kept."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    key_hex: str = Field(exclude=True)  # the report's key: the item sits in the report's partition
    report_id: str
    received_at: str
    expires_at: int
    reporter_org: str | None = None
    reporter_contact: str | None = None
    reporter_domain: str | None = None

    @classmethod
    def of(cls, report: ReportRecord, retention_days: int = CONTACT_RETENTION_DAYS) -> ReporterContact | None:
        """The report's contact details as kept, or None when it has none (an anonymous report)."""
        if not (report.reporter_org or report.reporter_contact or report.reporter_domain):
            return None
        received = datetime.fromisoformat(report.received_at.replace("Z", "+00:00"))
        return cls(
            key_hex=report.key_hex,
            report_id=report.report_id,
            received_at=report.received_at,
            expires_at=int((received + timedelta(days=retention_days)).timestamp()),
            reporter_org=report.reporter_org,
            reporter_contact=report.reporter_contact,
            reporter_domain=report.reporter_domain,
        )
