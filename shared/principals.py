"""The principal a request was authenticated as, in the form the partner registry is keyed by."""

from __future__ import annotations

import re

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
