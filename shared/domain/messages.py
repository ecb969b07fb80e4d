"""The messages the pipeline passes between functions, one pydantic model each.

They carry ids and canonical resource names only: never descriptions, reporter contacts or evidence, so a message
that lands in a DLQ or a log line leaks nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.policy import Severity


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuarantineRequest(_Message):
    """Preserve one S3 object version named by a report (and restrict the original when `restrict` is set)."""

    report_id: str = Field(min_length=26, max_length=26)
    case_id: str | None = None
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None  # pinned by the worker when the report did not name one
    restrict: bool = False
    category: str
    type: str


class EscalationRequest(_Message):
    """Tell on-call about a case; for child safety, also prepare the CyberTipline report draft."""

    case_id: str
    report_id: str = Field(min_length=26, max_length=26)
    severity: Severity
    category: str
    type: str
    child_safety: bool = False
