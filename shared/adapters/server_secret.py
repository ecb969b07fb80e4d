"""The server secret: the HMAC key of report ids and receipt tokens (shared.domain.dedupe), kept in Secrets Manager.

Read once per cold start (one GetSecretValue of the AWSCURRENT version) and cached for the life of the process, so
the request path pays for it once. Rotation (PutSecretValue) reaches each function instance when it next starts;
lookups never need the secret, so nothing breaks meanwhile (see shared.domain.dedupe on what a rotation changes).
It never logs the value.
"""

from __future__ import annotations

from functools import cache

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters import aws
from shared.domain.errors import StoreUnavailable


@cache
def server_secret(secret_arn: str) -> bytes:
    """The current version of the secret; StoreUnavailable (a 503, nothing accepted) when it cannot be read."""
    try:
        answer = aws.secretsmanager().get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")
    except ClientError as exc:
        raise StoreUnavailable(f"GetSecretValue: {exc.response.get('Error', {}).get('Code', 'Unknown')}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"GetSecretValue: {type(exc).__name__}") from exc
    value = answer.get("SecretString")
    if not value:
        raise StoreUnavailable("GetSecretValue: the secret has no string value")
    return value.encode()
