"""AWS clients, created on first use and cached, so tests can start moto first and `cache_clear()` after.

boto3 reads AWS_ENDPOINT_URL itself, which is how the same code talks to moto, a local endpoint or AWS.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Fail fast and let the caller's retry (a partner's, or Lambda's for async work) decide: a hung request path is
# worse than a prompt 503. Standard mode retries throttling and transient faults with backoff.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    tcp_keepalive=True,
)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


def clear() -> None:
    dynamodb.cache_clear()
