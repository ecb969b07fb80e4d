"""The service's configuration as one pydantic-settings model. Read it through shared.config.settings()."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain.callers import TrustTier


class Partner(BaseModel):
    """A partner organisation in the registry: who they are and how far their reports are trusted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    tier: TrustTier = TrustTier.PARTNER


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3, description="The reports table (TABLE_NAME).")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Principal (IAM user/role ARN, or locally the access key id) -> partner name and trust tier, as JSON.
    partners: dict[str, Partner] = Field(default_factory=dict)
    # The only buckets the service may ever send a request about (comma-separated bucket names).
    protected_buckets: Annotated[frozenset[str], NoDecode] = frozenset()
    # Quarantine (shared/domain/quarantine.py). Only the worker needs the evidence settings; it names the variable it
    # misses.
    evidence_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    evidence_kms_key_id: str | None = Field(default=None, min_length=1)
    # REPORT Act: at least a year. Lower is refused here rather than discovered by a court.
    evidence_retention_days: int = Field(default=365, ge=365, le=3650)
    # Where the dispatcher sends QuarantineRequest messages (QUARANTINE_QUEUE_URL).
    quarantine_queue_url: str | None = None
    # Pipeline (shared/domain/dispatch.py, shared/domain/escalation.py): the FIFO escalation queue, the on-call SNS
    # topic, and the Trust & Safety contact that CyberTipline drafts name as the reporting person (a role address, not a
    # person's).
    escalation_queue_url: str | None = None
    oncall_topic_arn: str | None = None
    trust_safety_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    def required(self, *fields: str) -> tuple[str, ...]:
        """The values a function cannot run without; fails at its first invocation, naming the missing variables."""
        missing = [name.upper() for name in fields if not getattr(self, name)]
        if missing:
            raise ValueError(f"missing configuration: {', '.join(missing)}")
        return tuple(str(getattr(self, name)) for name in fields)

    @field_validator("protected_buckets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value
