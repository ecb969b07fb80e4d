"""The service's configuration as one pydantic model read from the environment, through shared.config.settings().

Each field is read from the variable of the same name in upper case (names match case-insensitively); structured
values (PARTNERS) arrive as JSON. A plain model with a small environment reader, not pydantic-settings: that package
and python-dotenv, which it imports, took about a sixth of the intake's cold start, for reading a dozen variables.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.callers import TrustTier
from shared.domain.casework import ABUSE_MIN_DECIDED, ABUSE_NO_ACTION_SHARE, DEFAULT_SLA
from shared.domain.policy import Severity
from shared.domain.reports import CONTACT_RETENTION_AFTER_CLOSE_DAYS, CONTACT_RETENTION_DAYS


class Partner(BaseModel):
    """A partner organisation in the registry: who they are and how far their reports are trusted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    tier: TrustTier = TrustTier.PARTNER


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3, description="The reports table (TABLE_NAME).")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Principal (IAM user/role ARN, or locally the access key id) -> partner name and trust tier, as JSON.
    partners: dict[str, Partner] = Field(default_factory=dict)
    # The only buckets the service may ever send a request about (comma-separated bucket names).
    protected_buckets: frozenset[str] = frozenset()
    # The evidence bucket and its key: the quarantine worker's copies (shared/domain/quarantine.py; it names the
    # variable it misses) and the payloads reporters send (the intake, which takes no payload without them).
    evidence_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    evidence_kms_key_id: str | None = Field(default=None, min_length=1)
    # REPORT Act: at least a year. Lower is refused here rather than discovered by a court.
    evidence_retention_days: int = Field(default=365, ge=365, le=3650)
    # Days a reporter's contact details are kept after receipt (the dispatcher moves them to an item that expires).
    contact_retention_days: int = Field(default=CONTACT_RETENTION_DAYS, ge=30, le=3650)
    # Days they are kept once a decision closes the report's case (the completion worker resets the expiry to this).
    contact_retention_after_close_days: int = Field(default=CONTACT_RETENTION_AFTER_CLOSE_DAYS, ge=30, le=3650)
    # Where the dispatcher sends QuarantineRequest messages, and the completion worker an analyst's ObjectDecisions
    # (QUARANTINE_QUEUE_URL).
    quarantine_queue_url: str | None = None
    # Pipeline (shared/domain/dispatch.py, shared/domain/escalation.py): the FIFO escalation queue, the on-call SNS
    # topic, and the Trust & Safety contact that CyberTipline drafts name as the reporting person (a role address, not a
    # person's).
    escalation_queue_url: str | None = None
    oncall_topic_arn: str | None = None
    # The front doors' HMAC key for report ids and receipts (SERVER_SECRET_ARN): a Secrets Manager secret's ARN.
    server_secret_arn: str | None = Field(default=None, min_length=1)
    trust_safety_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # The SES identity outcome emails to reporters come from (functions/completion, DSA Art. 16(5)).
    outcome_email_sender: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # Casework (functions/casework): hours from a case's first report to its due time, by severity (CASE_SLA, JSON),
    # and the role destruction orders run as (CUSTODIAN_ROLE_ARN; empty: the stack has no custodians, nobody destroys).
    case_sla: dict[Severity, float] = Field(
        default_factory=lambda: {s: d.total_seconds() / 3600 for s, d in DEFAULT_SLA.items()}
    )
    custodian_role_arn: str | None = None
    # DSA Art. 23: a reporter is flagged for an analyst when this share of at least this many decided reports found
    # nothing to act on (REPORTER_ABUSE_SHARE, REPORTER_ABUSE_MIN_DECIDED).
    reporter_abuse_share: float = Field(default=ABUSE_NO_ACTION_SHARE, gt=0, le=1)
    reporter_abuse_min_decided: int = Field(default=ABUSE_MIN_DECIDED, ge=1)
    # NCMEC's CyberTipline (functions/cybertipline): the reporting API's base URL (NCMEC_URL; NCMEC's test environment
    # unless set), the secret holding the NCMEC-issued credentials, and the FIFO queue filings are driven from.
    ncmec_url: str = "https://exttest.cybertip.org/ispws"
    cybertipline_secret_arn: str | None = Field(default=None, min_length=1)
    cybertipline_queue_url: str | None = None

    @property
    def sla(self) -> dict[Severity, timedelta]:
        return {severity: timedelta(hours=hours) for severity, hours in self.case_sla.items()}

    @classmethod
    def from_environment(cls) -> Settings:
        return cls.model_validate({})

    def required(self, *fields: str) -> tuple[str, ...]:
        """The values a function cannot run without; fails at its first invocation, naming the missing variables."""
        missing = [name.upper() for name in fields if not getattr(self, name)]
        if missing:
            raise ValueError(f"missing configuration: {', '.join(missing)}")
        return tuple(str(getattr(self, name)) for name in fields)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, values: Any) -> Any:
        """Values given to the constructor win; every other field comes from its variable, when set."""
        if not isinstance(values, dict):
            return values
        environment = {name.lower(): value for name, value in os.environ.items()}
        found = {name: environment[name] for name in cls.model_fields if name not in values and name in environment}
        return {**found, **values}

    @field_validator("partners", "case_sla", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("not valid JSON") from None
        return value

    @field_validator("protected_buckets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value
