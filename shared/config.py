"""The service's configuration: one pydantic-settings model, read from the environment once.

A missing or malformed variable fails at the first invocation with its name, never deep inside a call.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.callers import PartnerEntry


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3, description="The reports table (TABLE_NAME).")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Principal (IAM user/role ARN, or locally the access key id) -> partner name and trust tier, as JSON.
    partners: dict[str, PartnerEntry] = Field(default_factory=dict)
    # The only buckets the service may ever send a request about (comma-separated bucket names).
    protected_buckets: Annotated[frozenset[str], NoDecode] = frozenset()

    @field_validator("protected_buckets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value


@cache
def settings() -> Settings:
    return Settings()  # values come from the environment
