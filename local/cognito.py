"""The analysts' sign-in, locally: API Gateway's Cognito user pool authorizer, the demo users, and ``sign_in``.

The casework routes take a Cognito ID token (template: the API's ``AnalystsAuthorizer``), so ``local.apigw`` asks
``UserPoolAuthorizer`` what API Gateway's COGNITO_USER_POOLS authorizer would decide: the token comes from the
``Authorization`` header, raw or as ``Bearer <token>``; its RS256 signature is checked against the pool's JWKS (moto
serves it at ``/<pool id>/.well-known/jwks.json``, the path Cognito serves under the issuer); then its issuer
(``https://cognito-idp.<region>.amazonaws.com/<pool id>``, moto's as Cognito's), ``token_use`` (``id``: a REST API
authorizer without OAuth scopes takes ID tokens only), audience (an app client of that pool) and expiry. A refusal is
401 ``{"message":"Unauthorized"}``, or ``{"message":"The incoming token has expired"}`` for an expired token, as
API Gateway answers. An accepted token's claims reach the function as a REST API passes them (``gateway_claims``):
every value a string, a list joined with commas (``"cognito:groups": "child-safety,analysts"``), booleans
``"true"``/``"false"``, ``exp`` and ``iat`` as Java's ``Date.toString()`` (``"Tue Apr 04 18:39:39 UTC 2023"``),
``auth_time`` as the number it is.

Demo users (``ensure_demo_users``, local only: the template declares none) get a password and a TOTP authenticator
the way a real client sets one up (AssociateSoftwareToken, VerifySoftwareToken with a computed code,
SetUserMFAPreference). What moto does differently from Cognito, and what this module does about it: InitiateAuth in
an MFA-ON pool signs a user without TOTP in at once instead of answering MFA_SETUP (both paths are handled);
AssociateSoftwareToken returns one fixed secret for every user; and TOTP codes are checked only when
MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true (``local.server`` sets it for its embedded moto), then only the current
30-second step's code. Every moto pool signs with the same key, so the issuer and audience checks are what tell one
pool's tokens from another's.

Passwords and TOTP secrets are kept in the state directory (``demo-users.json``, mode 0600): demo credentials of a
local stack, nothing else. Tokens are never logged; a refusal is logged with its reason only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import string
import struct
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.world import World

log = logging.getLogger(__name__)

UNAUTHORIZED = b'{"message":"Unauthorized"}'
TOKEN_EXPIRED = b'{"message":"The incoming token has expired"}'
TOTP_STEP_SECONDS = 30  # RFC 6238's default, and Cognito's
DEMO_USERS_FILE = "demo-users.json"
# Username -> groups (by GroupName). demo-child-safety is an analyst too: child-safety work is analysts' work.
DEMO_USERS: Mapping[str, tuple[str, ...]] = {
    "demo-analyst": ("analysts",),
    "demo-child-safety": ("child-safety", "analysts"),
    "demo-custodian": ("evidence-custodians",),
}
_PASSWORD_SYMBOLS = "-_.%+"  # Cognito symbols that need no quoting in a shell or in the AWS CLI's shorthand syntax
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


# --- the authorizer ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPool:
    """What the authorizer knows of one pool: whose tokens it accepts, with which keys, for which app clients."""

    pool_id: str
    issuer: str
    keys: KeySet
    client_ids: frozenset[str]


class TokenRefused(Exception):
    """No valid token: ``body`` is what API Gateway answers (401); the message says why, for the log only."""

    def __init__(self, reason: str, body: bytes = UNAUTHORIZED) -> None:
        super().__init__(reason)
        self.body = body


class UserPoolAuthorizer:
    """API Gateway's COGNITO_USER_POOLS authorizer for the pools of one API (by logical id). Thread-safe: immutable."""

    def __init__(self, pools: Mapping[str, UserPool], clock: Callable[[], float] = time.time) -> None:
        self.pools = dict(pools)
        self.clock = clock

    def claims(self, pool: str, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The claims the function gets for this request's token; TokenRefused when API Gateway would say 401."""
        user_pool = self.pools.get(pool)
        if user_pool is None:
            raise TokenRefused(f"user pool {pool} is not known to the local gateway")
        # The identity source is method.request.header.Authorization: the last value, as in the event's headers.
        value = next((value for name, value in reversed(list(headers)) if name.lower() == "authorization"), "")
        token = value[len("Bearer ") :] if value.startswith("Bearer ") else value
        if not token:
            raise TokenRefused("no token in the Authorization header")
        try:
            payload = jwt.decode(token, user_pool.keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError, TypeError) as error:  # not a JWT, not RS256, not signed by the pool's keys
            raise TokenRefused(f"not a token of the pool ({type(error).__name__})") from error
        if payload.get("iss") != user_pool.issuer:
            raise TokenRefused("issued by another pool")
        if payload.get("token_use") != "id":
            raise TokenRefused(f"a {payload.get('token_use')!r} token where an ID token is needed")
        if payload.get("aud") not in user_pool.client_ids:
            raise TokenRefused("issued to no app client of the pool")
        expires = payload.get("exp")
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise TokenRefused("no expiry")
        if expires <= self.clock():
            raise TokenRefused("expired", TOKEN_EXPIRED)
        return gateway_claims(payload)


def gateway_claims(payload: Mapping[str, Any]) -> dict[str, str]:
    """A token's claims as a REST API's Cognito authorizer puts them in ``requestContext.authorizer.claims``."""
    return {name: _claim_text(name, value) for name, value in payload.items()}


def _claim_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in ("exp", "iat") and isinstance(value, int | float):
        return _java_date(value)
    if isinstance(value, list):
        return ",".join(_claim_text("", item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _java_date(epoch: float) -> str:
    # Java's Date.toString() in UTC, spelled out here so that the process's locale cannot change it.
    when = datetime.fromtimestamp(epoch, tz=UTC)
    return f"{_WEEKDAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when:%d %H:%M:%S} UTC {when.year}"


def fetch_jwks(region: str, pool_id: str, endpoint_url: str | None) -> dict[str, Any]:
    """The pool's public keys: from the issuer on AWS, from ``/<pool id>/.well-known/jwks.json`` on a moto server."""
    if endpoint_url:
        url = f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"
        # moto's server picks the service by the signature's scope; this path alone does not name one.
        credential = f"local/20200101/{region}/cognito-idp/aws4_request"
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0"}
    else:
        url, headers = f"{issuer(region, pool_id)}/.well-known/jwks.json", {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:  # noqa: S310
        jwks: dict[str, Any] = json.load(answer)
    return jwks


def load_user_pools(world: World, logical_ids: Iterable[str], endpoint_url: str | None) -> UserPoolAuthorizer:
    """An authorizer for the given pools of the world: their keys fetched now, their app clients listed now."""
    cognito = world.client("cognito-idp")
    pools = {}
    for logical_id in sorted(set(logical_ids)):
        pool_id = str(world.ref(logical_id))
        pages = cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60)
        clients = frozenset(client["ClientId"] for page in pages for client in page["UserPoolClients"])
        keys = KeySet.import_key_set(fetch_jwks(world.region, pool_id, endpoint_url))  # type: ignore[arg-type]
        pools[logical_id] = UserPool(pool_id, issuer(world.region, pool_id), keys, clients)
    return UserPoolAuthorizer(pools)


# --- signing in ----------------------------------------------------------------------------------------------------


class SignInError(Exception):
    """Cognito asked for something a script cannot give (a new password, an MFA set-up, a code without a secret)."""


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238's code for a base32 secret (what AssociateSoftwareToken returns): HMAC-SHA1, 30-second steps,
    6 digits, what an authenticator app shows."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // TOTP_STEP_SECONDS)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def _fresh_totp(secret: str) -> str:
    # moto accepts the current step's code only (Cognito the neighbours' too): a code computed in the last moments of
    # a step could arrive in the next one, so wait for that step instead.
    left = TOTP_STEP_SECONDS - time.time() % TOTP_STEP_SECONDS
    if left < 2:
        time.sleep(left)
    return totp(secret)


def _user_client(endpoint_url: str | None, region: str | None) -> Any:
    # The calls a user's own app makes (InitiateAuth, the challenges, the software token) carry no AWS credentials.
    chosen = region or boto3.Session().region_name or "us-east-1"
    config = Config(signature_version=UNSIGNED)
    return boto3.client("cognito-idp", endpoint_url=endpoint_url, region_name=chosen, config=config)


def authenticate(
    endpoint_url: str,
    client_id: str,
    username: str,
    password: str,
    totp_secret: str | None = None,
    *,
    region: str | None = None,
) -> dict[str, Any]:
    """USER_PASSWORD_AUTH, then the SOFTWARE_TOKEN_MFA challenge answered with a code from ``totp_secret``: the
    AuthenticationResult (IdToken, AccessToken, RefreshToken, ExpiresIn)."""
    cognito = _user_client(endpoint_url, region)
    answer = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if answer.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
        if totp_secret is None:
            raise SignInError(f"{username}: the pool asks for a TOTP code; pass the user's totp_secret")
        answer = cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=answer["Session"],
            ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": _fresh_totp(totp_secret)},
        )
    if "AuthenticationResult" not in answer:
        raise SignInError(f"{username}: sign-in stopped at the {answer.get('ChallengeName')} challenge")
    result: dict[str, Any] = answer["AuthenticationResult"]
    return result


def sign_in(
    endpoint_url: str,
    client_id: str,
    username: str,
    password: str,
    totp_secret: str | None = None,
    *,
    region: str | None = None,
) -> str:
    """An ID token for ``username``, signed in as a script would: ``endpoint_url`` is the Cognito endpoint (the
    running stack's AWS_ENDPOINT_URL, which ``make run`` prints), ``client_id`` an app client that allows
    USER_PASSWORD_AUTH, ``totp_secret`` the user's authenticator secret (``make run`` prints the demo users')."""
    return str(authenticate(endpoint_url, client_id, username, password, totp_secret, region=region)["IdToken"])


# --- demo users ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    groups: tuple[str, ...]
    password: str
    totp_secret: str


@dataclass(frozen=True)
class DemoSignIn:
    """What a person needs to sign the demo users in: the pool, the app client, the endpoint, the users."""

    pool_id: str
    client_id: str
    endpoint_url: str
    region: str
    users: Sequence[DemoUser]
    state_file: Path


def password_client(world: World, pool: str) -> str | None:
    """The logical id of the first app client of the pool that allows USER_PASSWORD_AUTH (what scripts need)."""
    pool_id = world.ref(pool)
    for logical_id, resource in world.resources.items():
        if resource.type != "AWS::Cognito::UserPoolClient":
            continue
        props = world.resolve(world.template.properties(logical_id))
        if props.get("UserPoolId") == pool_id and "ALLOW_USER_PASSWORD_AUTH" in (props.get("ExplicitAuthFlows") or []):
            return logical_id
    return None


def ensure_demo_users(world: World, pool: str, endpoint_url: str, state_dir: Path) -> DemoSignIn | None:
    """One user per group of ``DEMO_USERS`` in the pool (logical id), each with a permanent password and a TOTP
    authenticator, kept across runs in ``state_dir`` as long as the pool is the same. None when the pool has no app
    client for scripts. A user the state directory has no secret for is deleted and made afresh: its TOTP cannot be
    answered otherwise."""
    client = password_client(world, pool)
    if client is None:
        log.warning("%s has no app client with ALLOW_USER_PASSWORD_AUTH: no demo users", pool)
        return None
    cognito = world.client("cognito-idp")
    pool_id, client_id = str(world.ref(pool)), str(world.ref(client))
    groups = _group_names(world, pool_id)
    state_file = state_dir / DEMO_USERS_FILE
    state = _read_state(state_file)
    passwords: dict[str, str] = state.setdefault("passwords", {})
    # Secrets of pools that are gone (every embedded moto makes its pool afresh) are of no use: only live pools' stay.
    live = {str(r.ref) for r in world.resources.values() if r.type == "AWS::Cognito::UserPool"}
    state["totp"] = {known: users for known, users in (state.get("totp") or {}).items() if known in live}
    secrets_of_pool: dict[str, str] = state["totp"].setdefault(pool_id, {})
    policy = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"].get("Policies", {}).get("PasswordPolicy", {})
    users = []
    for username, wanted_groups in DEMO_USERS.items():
        password = passwords.setdefault(username, _new_password(int(policy.get("MinimumLength", 8))))
        secret = secrets_of_pool.get(username)
        exists = _user_exists(cognito, pool_id, username)
        if exists and secret is None:
            cognito.admin_delete_user(UserPoolId=pool_id, Username=username)
            exists = False
        if not exists:
            cognito.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                UserAttributes=[
                    {"Name": "email", "Value": f"{username}@example.com"},
                    {"Name": "email_verified", "Value": "true"},
                ],
                TemporaryPassword=password,
                MessageAction="SUPPRESS",
            )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        for group in wanted_groups:
            if group in groups:
                cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
            else:
                log.warning("demo user %s: the pool has no group %s", username, group)
        if secret is None:
            secret = _set_up_totp(endpoint_url, world.region, client_id, username, password)
            secrets_of_pool[username] = secret
        users.append(DemoUser(username, tuple(g for g in wanted_groups if g in groups), password, secret))
    _write_state(state_file, state)
    return DemoSignIn(pool_id, client_id, endpoint_url, world.region, users, state_file)


def _group_names(world: World, pool_id: str) -> set[str]:
    return {
        resource.name
        for logical_id, resource in world.resources.items()
        if resource.type == "AWS::Cognito::UserPoolGroup"
        and world.resolve(world.template.properties(logical_id)).get("UserPoolId") == pool_id
    }


def _user_exists(cognito: Any, pool_id: str, username: str) -> bool:
    try:
        cognito.admin_get_user(UserPoolId=pool_id, Username=username)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UserNotFoundException":
            raise
        return False
    return True


def _set_up_totp(endpoint_url: str, region: str, client_id: str, username: str, password: str) -> str:
    """Sign in, associate a software token, verify it with a computed code and make it the user's MFA: what the
    console's first sign-in does. Returns the authenticator secret."""
    cognito = _user_client(endpoint_url, region)
    answer = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters={"USERNAME": username, "PASSWORD": password}
    )
    if answer.get("ChallengeName") == "MFA_SETUP":  # Cognito: an MFA-ON pool's user without an authenticator
        associated = cognito.associate_software_token(Session=answer["Session"])
        secret = str(associated["SecretCode"])
        verified = cognito.verify_software_token(
            Session=associated["Session"], UserCode=_fresh_totp(secret), FriendlyDeviceName="make run"
        )
        answer = cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="MFA_SETUP",
            Session=verified["Session"],
            ChallengeResponses={"USERNAME": username},
        )
        access_token = answer["AuthenticationResult"]["AccessToken"]
    elif "AuthenticationResult" in answer:  # moto: signed in without being asked to set MFA up
        access_token = answer["AuthenticationResult"]["AccessToken"]
        secret = str(cognito.associate_software_token(AccessToken=access_token)["SecretCode"])
        cognito.verify_software_token(
            AccessToken=access_token, UserCode=_fresh_totp(secret), FriendlyDeviceName="make run"
        )
    else:
        raise SignInError(f"{username}: setting up TOTP stopped at the {answer.get('ChallengeName')} challenge")
    cognito.set_user_mfa_preference(
        AccessToken=access_token, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
    )
    return secret


def _new_password(minimum_length: int) -> str:
    # Every class the template's policy requires, from an alphabet that is safe to paste into a shell.
    alphabet = string.ascii_letters + string.digits + _PASSWORD_SYMBOLS
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _PASSWORD_SYMBOLS)
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(max(20, minimum_length)))
        if all(any(char in chars for char in candidate) for chars in classes):
            return candidate


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        log.warning("%s is not JSON; demo users get new passwords", path)
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: Mapping[str, Any]) -> None:
    # Passwords inside: readable by this user only, and written whole (a new file renamed over the old one).
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(state, stream, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def describe_sign_in(demo: DemoSignIn, out: TextIO) -> None:
    """The banner lines `make run` prints about the analysts' sign-in (local demo credentials only)."""
    lines = [
        f"analysts sign in to user pool {demo.pool_id}, app client {demo.client_id}, at {demo.endpoint_url}",
        f"(password, then a TOTP code; kept in {demo.state_file}):",
    ]
    for user in demo.users:
        groups = ",".join(user.groups)
        lines.append(f"  {user.username:<18} password {user.password}  TOTP secret {user.totp_secret}  groups {groups}")
    if demo.users:
        first = demo.users[0]
        call = (
            f"from local.cognito import sign_in; print(sign_in({demo.endpoint_url!r}, {demo.client_id!r}, "
            f"{first.username!r}, {first.password!r}, {first.totp_secret!r}))"
        )
        code = f"from local.cognito import totp; print(totp({first.totp_secret!r}))"
        where = f"--endpoint-url {demo.endpoint_url} --region {demo.region} --client-id {demo.client_id}"
        lines += [
            "  an ID token for a script (sign-in and TOTP challenge); send it as the Authorization header:",
            f'    .venv/bin/python -c "{call}"',
            "  or with the AWS CLI, the challenge answered with the Session it returns and a code:",
            f"    aws cognito-idp initiate-auth {where} --auth-flow USER_PASSWORD_AUTH "
            f"--auth-parameters USERNAME={first.username},PASSWORD={first.password}",
            f"    aws cognito-idp respond-to-auth-challenge {where} --challenge-name SOFTWARE_TOKEN_MFA "
            f"--session <Session> --challenge-responses "
            f'USERNAME={first.username},SOFTWARE_TOKEN_MFA_CODE=$(.venv/bin/python -c "{code}")',
        ]
    print(*lines, sep="\n", file=out, flush=True)
