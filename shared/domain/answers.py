"""What the intake routes answer, one model each: the handlers serialize these, and the OpenAPI document
(functions/intake/openapi.py) is generated from these same classes, so the two cannot drift apart.

Field names are snake_case in Python and camelCase on the wire (the AWS Abuse Signal API's spelling). Schemas are
built on first use (`defer_build`), so a cold start pays only for the answer it gives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.errors import DomainError
from shared.domain.reports import ReasonCode, ReportStatus


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


class Requirement(Answer):
    """One reason for a refusal (the AWS Abuse Signal API's unmetRequirements entry)."""

    path: str = Field(description="JSON pointer into the request body")
    code: str = Field(description="rule-style code, e.g. rule.source_identifier.malformed")
    message: str


class Refusal(Answer):
    """Any 4xx the service itself explains."""

    message: str
    unmet_requirements: list[Requirement]

    @classmethod
    def of(cls, error: DomainError) -> Refusal:
        return cls(
            message=error.message,
            unmet_requirements=[Requirement(path=r.path, code=r.code, message=r.message) for r in error.requirements],
        )


class BatchItem(Answer):
    """One item of a batch answer: what a single POST /v1/reports would have answered for it."""

    index: int
    status: Literal[202, 409, 422, 503] = Field(description="what the item alone would have been answered")
    report_id: str | None = None
    report_status: ReportStatus | None = None
    duplicate: bool | None = None
    receipt_token: str | None = None
    unmet_requirements: list[Requirement] | None = None


class BatchAnswer(Answer):
    results: list[BatchItem]
