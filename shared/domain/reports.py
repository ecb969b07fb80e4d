"""What a report is: the incident a reporter described (`Report`) and the report as stored (`ReportRecord`).

`ReportRecord` is the one model of a stored report: the table's item codec (shared.adapters.reports_table) writes and
reads it field by field from this model (attribute names are the fields' camelCase aliases), the status answers are
built from it, and the stream consumers decode it. Adding a field here adds it everywhere. Parsing what reporters send
(XARF, the web form) into a `Report` is shared.domain.xarf's and shared.domain.webform's job; this module is
vocabulary-free, so the workers that load it never load the XARF parser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    sha256: str
    md5: str
    size: int
    content_type: str


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
    """What the report item keeps of one evidence payload: its digests, never its bytes."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    sha256: str
    md5: str
    size: int
    content_type: str


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
    reporter_org: str | None = None
    reporter_contact: str | None = None
    reporter_domain: str | None = None
    evidence: tuple[StoredEvidence, ...] = ()
    details: JsonText = Field(default_factory=dict)  # the extension fields, shown to analysts and exported
    external_id: str | None = None
    stale: bool = False
    correlation_id: str | None = None
    case_id: str | None = None
    reason_code: str | None = None
    # Only a QUEUED report carries it: the key of the sweeper's sparse index (queued_shard_for); the dispatcher
    # removes it when it marks the report counted.
    queued_shard: str | None = None
