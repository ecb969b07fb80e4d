"""AWS clients, created on first use and cached, so tests can start moto first and `cache_clear()` after.

The clients come from one botocore session, not from boto3: boto3 adds nothing the adapters use (no resources, no
managed transfers on the request path), and importing it also imports s3transfer and multiprocessing, a tenth of the
intake's cold start. The quarantine worker's managed copy imports boto3's transfer module itself (evidence_bucket.py).
botocore reads AWS_ENDPOINT_URL and AWS_DEFAULT_REGION itself, which is how the same code talks to moto, a local
endpoint or AWS.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader
from botocore.session import Session

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


SERVICES = ("dynamodb", "s3", "sqs", "sns", "secretsmanager", "sts", "cognito-idp")


class _ServiceLoader(Loader):
    """botocore's data loader, told which services this module creates clients for.

    Before it loads a model, botocore checks the service's name against every service it ships: about 450 folders
    listed and stat'ed, twice per client (the model, then its endpoint rules), a tenth of a client's creation. The
    session below only ever creates clients for SERVICES, so those (with data of the asked type) are the list.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        available = []
        for name in SERVICES:
            try:
                if self.list_api_versions(name, type_name):  # cached: botocore asks again for the latest version
                    available.append(name)
            except DataNotFoundError:
                continue
        return sorted(available)


@cache
def _session() -> Session:
    # One session for all clients, as boto3's default session was: credentials and the region are resolved once.
    session = Session()
    data_path = session.get_config_variable("data_path")  # AWS_DATA_PATH, honoured as botocore's own loader does
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    session.register_component("data_loader", _ServiceLoader(extra_search_paths=extra))
    return session


@cache
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", _session().create_client("dynamodb", config=_CONFIG))


@cache
def s3() -> S3Client:
    return cast("S3Client", _session().create_client("s3", config=_S3_CONFIG))


@cache
def s3_request_path() -> S3Client:
    """S3 for the request path (reporters' evidence payloads, at most 5 MB a request): the request path's timeouts."""
    return cast("S3Client", _session().create_client("s3", config=_CONFIG))


@cache
def sqs() -> SQSClient:
    return cast("SQSClient", _session().create_client("sqs", config=_CONFIG))


@cache
def sns() -> SNSClient:
    return cast("SNSClient", _session().create_client("sns", config=_CONFIG))


@cache
def secretsmanager() -> Any:  # one call is made with it (GetSecretValue): no stubs package pinned for it
    return _session().create_client("secretsmanager", config=_CONFIG)


@cache
def sts() -> Any:  # AssumeRole only (destruction orders): no stubs package pinned for it
    return _session().create_client("sts", config=_CONFIG)


@cache
def cognito_idp() -> Any:  # the console's sign-in (InitiateAuth, RespondToAuthChallenge): no stubs package pinned
    # A user's own sign-in carries no AWS credentials (a public app client): unsigned, so the console's role needs
    # no Cognito permission at all, and what a person can do is exactly what their password and TOTP allow.
    return _session().create_client("cognito-idp", config=_CONFIG.merge(Config(signature_version=UNSIGNED)))


def s3_as(role_arn: str, session_name: str) -> S3Client:
    """S3 with a role's short-lived credentials (not cached: each destruction order assumes the role afresh, so its
    CloudTrail entries name the session, and the credentials outlive nothing)."""
    credentials = sts().assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=900)["Credentials"]
    return cast(
        "S3Client",
        _session().create_client(
            "s3",
            config=_CONFIG,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        ),
    )


def clear() -> None:
    cognito_idp.cache_clear()
    sts.cache_clear()
    dynamodb.cache_clear()
    s3.cache_clear()
    s3_request_path.cache_clear()
    sqs.cache_clear()
    sns.cache_clear()
    secretsmanager.cache_clear()
    _session.cache_clear()
