"""The messages the pipeline passes between functions, one pydantic model each.

They carry ids and canonical resource names only: never descriptions, reporter contacts or evidence, so a message
that lands in a DLQ or a log line leaks nothing.
"""

from __future__ import annotations

from typing import Literal

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


class ObjectDecision(_Message):
    """Carry out an analyst's decision on one protected object of its case (shared/domain/quarantine.py says how).

    The completion worker sends one per object of a RELEASE or RESTRICT decision, onto the quarantine queue, beside
    the dispatcher's QuarantineRequests: the two shapes share no required field and both forbid extra ones, so each
    body reads as exactly one of them, and the messages already in the queue read as they always did. `release` lifts
    the restrictions of every preserved version of the object (the evidence stays held); `restrict` puts the
    quarantine tag on its current version, preserving that version first if it is not yet. No version: a case knows
    its objects by bucket and key, and the worker finds the versions.
    """

    analyst_action: Literal["release", "restrict"]
    decision_id: str = Field(min_length=26, max_length=26)  # a ULID: text order is time order
    case_id: str = Field(min_length=1)
    analyst: str = Field(min_length=1, max_length=256)  # who decided: the custody events say so
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)


class FilingRequest(_Message):
    """File the case with NCMEC's CyberTipline (shared/domain/cybertipline.py): a child-safety analyst confirmed
    apparent CSAM (an ACTIONED decision on a child-safety case). The completion worker sends it into the case's
    message group of the FIFO filing queue, deduplicated by the decision: a case is filed by one worker at a time."""

    case_id: str = Field(min_length=1)
    decision_id: str = Field(min_length=26, max_length=26)


class EscalationRequest(_Message):
    """Tell on-call about a case; for child safety, also prepare the CyberTipline report draft."""

    case_id: str
    report_id: str = Field(min_length=26, max_length=26)
    severity: Severity
    category: str
    type: str
    child_safety: bool = False
