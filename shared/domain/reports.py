"""Abuse reports: XARF v4 (or v3, converted) in, one internal `Report` out.

This module owns what a valid report is. It parses the raw body once (duplicate JSON keys refused, since two parsers
reading one document differently is how a filter gets bypassed), validates it with pydantic against the XARF v4 core
and the per-type rules generated from the XARF schemas (shared/xarf_vocabulary.py), canonicalizes every resource the
report names, and explains every refusal as `UnmetRequirement`s pointing into the body. It never imports AWS code,
never fetches anything a report names and never logs report content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

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


# Incident times outside this window are refused: the future is a clock or a typo, the distant past is not
# actionable by an intake queue (an analyst can still file it by hand).


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


@dataclass(frozen=True)
class Submission:
    report: Report
    client_token: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class ReportRecord:
    """A report as stored: the internal Report flattened, plus what intake decided about it."""

    key_hex: str
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
    evidence: tuple[Mapping[str, Any], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    external_id: str | None = None
    correlation_id: str | None = None
    case_id: str | None = None
    reason_code: str | None = None
