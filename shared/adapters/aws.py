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
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# Fail fast and let the caller's retry (a partner's, or Lambda's for async work) decide: a hung request path is
# worse than a prompt 503. Standard mode retries throttling and transient faults with backoff.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    tcp_keepalive=True,
)


# S3 answers a CopyObject only when the copy is done (up to 5 GB, server side), and a streamed GetObject may pause
# between chunks: a 5 s read timeout would abandon work S3 is still doing. Async workers only; never the request path.
_S3_CONFIG = _CONFIG.merge(Config(read_timeout=120, max_pool_connections=20))


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def s3() -> S3Client:
    return boto3.client("s3", config=_S3_CONFIG)


@cache
def sqs() -> SQSClient:
    return boto3.client("sqs", config=_CONFIG)


@cache
def sns() -> SNSClient:
    return boto3.client("sns", config=_CONFIG)


def clear() -> None:
    dynamodb.cache_clear()
    s3.cache_clear()
    sqs.cache_clear()
    sns.cache_clear()
