"""Who is calling: the principal API Gateway authenticated, and how much we trust it.

The principal always comes from the request context that API Gateway's IAM authorizer fills in, never from the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class TrustTier(IntEnum):
    """Higher is more trusted. DSA Art. 22: trusted flaggers' notices go first."""

    PUBLIC = 0  # anonymous: the web form, an unsigned request
    AUTHENTICATED = 1  # a signed principal we have no agreement with
    PARTNER = 2
    TRUSTED_FLAGGER = 3


class PartnerEntry(Protocol):
    """One entry of the partner registry (shared/settings.py holds the model that reads it)."""

    @property
    def name(self) -> str: ...

    @property
    def tier(self) -> TrustTier: ...


@dataclass(frozen=True)
class Caller:
    principal: str | None  # None: anonymous
    partner: str | None = None
    tier: TrustTier = TrustTier.PUBLIC

    @property
    def is_anonymous(self) -> bool:
        return self.principal is None

    @property
    def scope(self) -> str:
        """The namespace a clientToken lives in: one caller's tokens never collide with another's."""
        return self.principal or "anonymous"


ANONYMOUS = Caller(principal=None)


def identify(principal: str | None, partners: Mapping[str, PartnerEntry]) -> Caller:
    if not principal:
        return ANONYMOUS
    entry = partners.get(principal)
    if entry is None:
        return Caller(principal=principal, tier=TrustTier.AUTHENTICATED)
    return Caller(principal=principal, partner=entry.name, tier=entry.tier)


# An assumed role's ARN names its session too, which changes per session; partners are registered by role.
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")


def principal_of(user_arn: str | None, access_key: str | None) -> str | None:
    """API Gateway's IAM authorizer fills in userArn; the local stack fills it in from the signing key."""
    if user_arn:
        match = _ASSUMED_ROLE.match(user_arn)
        if match:
            return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
        return user_arn
    return access_key or None
