"""What the intake routes answer, one model each: the handlers serialize these, and the OpenAPI document
(functions/intake/openapi.py) is generated from these same classes, so the two cannot drift apart.

Field names are snake_case in Python and camelCase on the wire (the AWS Abuse Signal API's spelling). Schemas are
built on first use (`defer_build`), so a cold start pays only for the answer it gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.errors import DomainError, UnmetRequirement
from shared.domain.reports import ReasonCode, ReportStatus

# A refusal lists at most MAX_LISTED problems and counts the rest, and its listed problems take at most
# MAX_LISTED_BYTES of JSON, so the whole answer stays under 64 KB whatever the body (Lambda's limit is 6 MB, and a
# partner's log should hold the answer). Each field of a problem is cut to a length no pointer or message needs.
MAX_LISTED = 100
MAX_LISTED_BYTES = 60_000
_MAX_PATH, _MAX_CODE, _MAX_MESSAGE = 300, 100, 400


# The headers of every JSON answer the API gives (the gateway's own answers carry the same, infra/template.yaml
# GatewayResponses): HTTPS only from the first visit on, no MIME sniffing, no framing, no Referer, nothing cached
# (receipts and statuses are a partner's own). A document that is public may relax Cache-Control.
API_SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


class Answer(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )

    def as_json(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Receipt(Answer):
    """202 to a submission."""

    report_id: str = Field(min_length=26, max_length=26, description="ULID of the report")
    status: ReportStatus
    duplicate: bool = Field(description="true when this answers a replay of an earlier submission")
    receipt_token: str | None = Field(
        default=None, description="bearer token for GET /v1/reports/{reportId} (X-Receipt-Token); only its hash is kept"
    )


class StatusView(Answer):
    """200 to GET /v1/reports/{reportId}."""

    report_id: str
    status: ReportStatus
    received_at: str
    reason_code: ReasonCode | None = None
    case_id: str | None = None


class StatusList(Answer):
    """200 to GET /v1/reports?correlationId=: the caller's reports with that id, oldest first (the Abuse Signal API's
    ListAbuseReportStatuses)."""

    reports: list[StatusView]
    next_token: str | None = Field(default=None, description="pass back as nextToken for the next page")


class Requirement(Answer):
    """One reason for a refusal (the AWS Abuse Signal API's unmetRequirements entry)."""

    path: str = Field(description="JSON pointer into the request body")
    code: str = Field(description="rule-style code, e.g. rule.source_identifier.malformed")
    message: str


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def listed(
    requirements: Sequence[UnmetRequirement], budget: int = MAX_LISTED_BYTES
) -> tuple[list[Requirement], int | None]:
    """The requirements a refusal lists (in their order, within MAX_LISTED and `budget` bytes of JSON) and how many
    more there are (None when all are listed)."""
    shown: list[Requirement] = []
    used = 0
    for problem in requirements[:MAX_LISTED]:
        entry = Requirement(
            path=_cut(problem.path, _MAX_PATH),
            code=_cut(problem.code, _MAX_CODE),
            message=_cut(problem.message, _MAX_MESSAGE),
        )
        used += len(json.dumps(entry.as_json())) + 1
        if used > budget:
            break
        shown.append(entry)
    rest = len(requirements) - len(shown)
    return shown, rest or None


class Refusal(Answer):
    """Any 4xx the service itself explains."""

    message: str
    unmet_requirements: list[Requirement] = Field(
        description=f"every problem found, ordered by pointer; at most {MAX_LISTED} (see omittedRequirements)"
    )
    omitted_requirements: int | None = Field(
        default=None, description="how many further problems were found but not listed, to keep the answer small"
    )

    @classmethod
    def of(cls, error: DomainError, budget: int = MAX_LISTED_BYTES) -> Refusal:
        shown, rest = listed(error.requirements, budget)
        return cls(message=_cut(error.message, _MAX_MESSAGE), unmet_requirements=shown, omitted_requirements=rest)


class BatchItem(Answer):
    """One item of a batch answer: what a single POST /v1/reports would have answered for it."""

    index: int
    status: Literal[202, 409, 422, 503] = Field(description="what the item alone would have been answered")
    report_id: str | None = None
    report_status: ReportStatus | None = None
    duplicate: bool | None = None
    receipt_token: str | None = None
    unmet_requirements: list[Requirement] | None = None
    omitted_requirements: int | None = None


class BatchAnswer(Answer):
    results: list[BatchItem]
