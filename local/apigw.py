"""API Gateway REST (v1) in front of the functions: route matching, Lambda proxy events and proxy responses.

Plain data in, plain data out (``local.server`` reads the wire into an ``HttpRequest``; ``Gateway.handle`` answers an
``HttpResponse``), doing what API Gateway does where it differs from a plain web server: 403 "Missing Authentication
Token" for an unknown route or method, 502 when the function raises or answers a malformed proxy response, 413 over
10 MB, percent-encoded path parameters, decoded query strings, usage-plan throttling per API key.

It never logs or keeps bodies, and never verifies SigV4 signatures (there is no secret locally): the access key id a
SigV4 ``Authorization`` header (or presigned ``X-Amz-Credential``) names is taken, unverified, as the caller. Whether an
unsigned request may reach an IAM route is decided in one place, ``REQUIRE_SIGV4_ON_IAM_ROUTES``. Cognito ID tokens, on
the other hand, are verified as API Gateway does (``local.cognito``: the pool's keys are public): a route with a user
pool authorizer answers 401 without a valid one, and its function gets the token's claims and no IAM caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.cognito import TokenRefused, UserPoolAuthorizer
from local.template import ApiRoute, Throttle

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# True: an unsigned request to an IAM route is refused with 403 Missing Authentication Token, as API Gateway does.
# False would let it through as an anonymous caller (identity fields None).
REQUIRE_SIGV4_ON_IAM_ROUTES = True

# API Gateway's own error bodies, byte for byte (the 502 one really has a space after the colon).
MISSING_AUTHENTICATION_TOKEN = b'{"message":"Missing Authentication Token"}'
REQUEST_TOO_LONG = b'{"message":"Request Too Long"}'
FORBIDDEN = b'{"message":"Forbidden"}'
TOO_MANY_REQUESTS = b'{"message":"Too Many Requests"}'
INTERNAL_SERVER_ERROR = b'{"message": "Internal server error"}'

# Every answer the gateway makes itself (403, 413, 429, 502...) carries what the functions put on theirs
# (functions/webform/handler.py SECURITY_HEADERS, functions/intake/handler.py), so no answer of this API lacks them.
GATEWAY_SECURITY_HEADERS = (
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
)
# What an ANY method matches in API Gateway; any other method (TRACE, PROPFIND, `get`) finds no route.
ANY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
_SIGV4_PARTS = ("Credential", "SignedHeaders", "Signature")
_ACCESS_KEY = re.compile(r"([A-Za-z0-9]+)/")
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})
_PROXY_RESULT_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the request-target as received: path and query, still percent-encoded
    headers: Sequence[tuple[str, str]]  # in arrival order, names as sent
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0] or "/"

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes


def gateway_error(status: int, body: bytes, request_id: str, error_type: str | None = None) -> HttpResponse:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id), *GATEWAY_SECURITY_HEADERS]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return HttpResponse(status, headers, body)


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str]


class Router:
    """Resource first, then method, as API Gateway's resource tree does: literal segments beat `{param}`, which beats
    `{proxy+}`; a path whose best resource lacks the method is not retried on a less specific one."""

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self._resources: dict[str, dict[str, ApiRoute]] = {}
        for route in routes:
            self._resources.setdefault(route.path, {})[route.method] = route

    def match(self, method: str, path: str) -> RouteMatch | None:
        segments = _segments(path)
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for resource in self._resources:
            parameters = _match_resource(_segments(resource), segments)
            if parameters is not None:
                rank = tuple(_segment_rank(segment) for segment in _segments(resource))
                if best is None or rank < best[0]:
                    best = (rank, resource, parameters)
        if best is None:
            return None
        methods = self._resources[best[1]]
        route = methods.get(method) or (methods.get("ANY") if method in ANY_METHODS else None)
        return None if route is None else RouteMatch(route, best[2])


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def _segment_rank(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return 2
    return 1 if segment.startswith("{") and segment.endswith("}") else 0


def _match_resource(resource: list[str], request: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, segment in enumerate(resource):
        rank = _segment_rank(segment)
        if rank == 2:  # greedy: one or more remaining segments, kept with their slashes
            rest = request[index:]
            if not rest:
                return None
            parameters[segment[1:-2]] = "/".join(rest)
            return parameters
        if index >= len(request) or not request[index]:
            return None
        if rank == 1:
            parameters[segment[1:-1]] = request[index]  # percent-encoded, as REST APIs pass path parameters
        elif segment != request[index]:
            return None
    return parameters if len(request) == len(resource) else None


def _sigv4_parts(headers: Iterable[tuple[str, str]]) -> dict[str, str] | str | None:
    """The SigV4 Authorization header's parameters; None when there is none; a reason when it is not one, strictly:
    one header, `AWS4-HMAC-SHA256 ` then comma-separated Credential, SignedHeaders and Signature, each at most once,
    and nothing else (`X-Credential=EVIL/1, Credential=A/2` names no caller, it is refused)."""
    values = [value for name, value in headers if name.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        return "Only one Authorization header is allowed."
    scheme, _, rest = values[0].strip().partition(" ")
    parts: dict[str, str] = {}
    for item in rest.split(",") if scheme == "AWS4-HMAC-SHA256" else []:
        name, sep, value = item.strip().partition("=")
        if not sep or name not in _SIGV4_PARTS or name in parts:
            return f"'{item.strip()}' is not a valid key=value pair of the Authorization header."
        parts[name] = value
    return parts if parts else "Authorization header requires 'Credential' parameter."


def caller_access_key(headers: Iterable[tuple[str, str]], query: str) -> str | None:
    """The access key id a SigV4-signed request names (header or presigned URL); None when unsigned, or when the
    signature is malformed or ambiguous. Unverified."""
    parts = _sigv4_parts(headers)
    if isinstance(parts, dict):
        match = _ACCESS_KEY.match(parts.get("Credential", ""))
        return match.group(1) if match else None
    if parts is not None:
        return None
    credentials = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == "X-Amz-Credential"]
    match = _ACCESS_KEY.match(credentials[0]) if len(credentials) == 1 else None
    return match.group(1) if match else None


def signature_problem(headers: Iterable[tuple[str, str]]) -> str | None:
    """Why API Gateway would refuse a SigV4 Authorization header before checking the signature (None: no header,
    or a well-formed one)."""
    parts = _sigv4_parts(headers)
    if parts is None or isinstance(parts, str):
        return parts
    missing = [f"Authorization header requires '{name}' parameter." for name in _SIGV4_PARTS if name not in parts]
    if not missing and not _ACCESS_KEY.match(parts["Credential"]):
        missing.append("Credential should be scoped to a valid region, service and request type.")
    return " ".join(missing) or None


def to_rest_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    api_id: str,
    account_id: str,
    request_id: str,
    request_time_ms: int,
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway (REST, Lambda proxy integration) would send the function for this request; ``claims``
    are a Cognito authorizer's, for a route that has one."""
    route, stage = match.route, match.route.stage
    headers = _with_gateway_headers(request)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):  # decoded, `+` as space, like REST APIs
        multi_query.setdefault(name, []).append(value)
    # A user pool route's Authorization header holds a token: there is no IAM caller, whatever the query says.
    access_key = None if claims is not None else caller_access_key(request.headers, request.query)
    user_agent = next((value for name, value in reversed(request.headers) if name.lower() == "user-agent"), None)
    host = next((value for name, value in reversed(request.headers) if name.lower() == "host"), "localhost")
    try:
        body: str | None = request.body.decode("utf-8") if request.body else None
        is_base64 = False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    when = datetime.fromtimestamp(request_time_ms / 1000, tz=UTC)
    event: dict[str, Any] = {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha256(f"{api_id}{route.path}".encode()).hexdigest()[:6],
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": base64.b64encode(uuid.UUID(request_id).bytes[:12]).decode("ascii"),
            "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{request.path}",  # the stage prefix, as on the execute-api endpoint
            "accountId": account_id,
            "protocol": request.protocol,
            "stage": stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": request_time_ms,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": account_id if access_key else None,
                "cognitoIdentityId": None,
                "caller": access_key,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": access_key,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": f"arn:aws:iam::{account_id}:user/{access_key}" if access_key else None,
                "userAgent": user_agent,
                "user": access_key,
                "clientCert": None,
            },
            "domainName": host,
            "deploymentId": hashlib.sha256(api_id.encode()).hexdigest()[:6],
            "apiId": api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": dict(claims)}
    return event


def _with_gateway_headers(request: HttpRequest) -> list[tuple[str, str]]:
    # Headers API Gateway adds on the way to the integration; a client's X-Forwarded-For is extended, not replaced.
    headers = list(request.headers)
    names = {name.lower(): index for index, (name, _) in enumerate(headers)}
    if "x-forwarded-for" in names:
        name, value = headers[names["x-forwarded-for"]]
        headers[names["x-forwarded-for"]] = (name, f"{value}, {request.source_ip}")
    else:
        headers.append(("X-Forwarded-For", request.source_ip))
    headers.append(("X-Forwarded-Port", str(request.server_port)))
    headers.append(("X-Forwarded-Proto", "http"))
    if "x-amzn-trace-id" not in names:
        headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"))
    return headers


class MalformedProxyResponse(ValueError):
    """The function answered something API Gateway would reject ("Malformed Lambda proxy response")."""


def to_http_response(result: Any, request_id: str) -> HttpResponse:
    """The HTTP response API Gateway makes of a proxy integration's result."""
    if not isinstance(result, Mapping) or not set(result) <= _PROXY_RESULT_KEYS:
        raise MalformedProxyResponse(
            "not an object with only statusCode/headers/multiValueHeaders/body/isBase64Encoded"
        )
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise MalformedProxyResponse(f"statusCode {status!r} is not an integer")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse(f"body is {type(body).__name__}, not a string")
    try:
        payload = (
            base64.b64decode(body or "", validate=True) if result.get("isBase64Encoded") else (body or "").encode()
        )
    except binascii.Error as error:
        raise MalformedProxyResponse("isBase64Encoded but body is not base64") from error
    # Both maps are merged; a pair present in both appears once.
    merged: list[tuple[str, str]] = []
    for name, values in _mapping(result, "multiValueHeaders").items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] is not a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    seen = {(name.lower(), value) for name, value in merged}
    for name, value in _mapping(result, "headers").items():
        if (str(name).lower(), _header_value(value)) not in seen:
            merged.append((str(name), _header_value(value)))
    headers = [(name, value) for name, value in merged if name.lower() not in _HOP_BY_HOP]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default for proxy responses
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(int(status), headers, payload)


def _mapping(result: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = result.get(key) or {}
    if not isinstance(value, Mapping):
        raise MalformedProxyResponse(f"{key} is not an object")
    return value


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResponse(f"header value {value!r} is not a string")


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


class TokenBuckets:
    """API Gateway's usage-plan throttling: one token bucket per API key, refilled continuously at the plan's rate.

    Thread-safe: the server answers requests on several threads.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, throttle: Throttle) -> float:
        """Take one token; 0 when the request may pass, else the seconds until a token is available."""
        with self._lock:
            now = self.clock()
            tokens, at = self._state.get(key, (float(throttle.burst), now))
            tokens = min(float(throttle.burst), tokens + (now - at) * throttle.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / throttle.rate


Invoke = Callable[[str, dict[str, Any], str], Any]  # (function logical id, event, request id) -> proxy result


class Gateway:
    """One REST API deployment: routes -> function invocations -> HTTP responses."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        invoke: Invoke,
        *,
        api_ids: Mapping[str, str],
        account_id: str,
        user_pools: UserPoolAuthorizer | None = None,
    ):
        routes = list(routes)
        self.router = Router(routes)
        self.invoke = invoke
        self.api_ids = dict(api_ids)  # API logical id -> its (local) API id
        self.account_id = account_id
        self.buckets = TokenBuckets()
        # A route whose pool is not here refuses every request (401): closed, as an authorizer that cannot check is.
        self.user_pools = user_pools or UserPoolAuthorizer({})
        for pool in sorted({route.user_pool for route in routes if route.user_pool} - set(self.user_pools.pools)):
            log.warning("user pool %s is not known to the gateway: its routes answer 401 to every request", pool)

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        match = self.router.match(request.method, request.path)
        if match is None:
            return gateway_error(403, MISSING_AUTHENTICATION_TOKEN, request_id, "MissingAuthenticationTokenException")
        route = match.route
        problem = signature_problem(request.headers) if route.iam_auth else None
        if problem:
            body = json.dumps({"message": problem}, separators=(",", ":")).encode()
            return gateway_error(403, body, request_id, "IncompleteSignatureException")
        if route.iam_auth and REQUIRE_SIGV4_ON_IAM_ROUTES and caller_access_key(request.headers, request.query) is None:
            return gateway_error(403, MISSING_AUTHENTICATION_TOKEN, request_id, "MissingAuthenticationTokenException")
        claims = None
        if route.user_pool is not None:
            try:
                claims = self.user_pools.claims(route.user_pool, request.headers)
            except TokenRefused as refusal:
                log.info("%s %s: token refused (%s)", route.method, route.path, refusal)
                return gateway_error(401, refusal.body, request_id, "UnauthorizedException")
        api_key = _header(request.headers, "x-api-key")
        if route.api_key_required and not api_key:
            # Like signatures, keys are not checked locally: a key identifies a partner's usage plan, nothing more.
            return gateway_error(403, FORBIDDEN, request_id, "ForbiddenException")
        if route.throttle is not None and api_key:
            wait = self.buckets.take(f"{route.api}/{api_key}", route.throttle)
            if wait > 0:
                throttled = gateway_error(429, TOO_MANY_REQUESTS, request_id, "TooManyRequestsException")
                retry_after = ("Retry-After", str(max(1, math.ceil(wait))))
                return HttpResponse(throttled.status, [*throttled.headers, retry_after], throttled.body)
        event = to_rest_event(
            request,
            match,
            api_id=self.api_ids[route.api],
            account_id=self.account_id,
            request_id=request_id,
            request_time_ms=int(time.time() * 1000),
            claims=claims,
        )
        try:
            result = self.invoke(route.function, event, request_id)
            return to_http_response(result, request_id)
        except MalformedProxyResponse as error:
            log.error("%s %s -> %s: malformed proxy response: %s", route.method, route.path, route.function, error)
        except Exception:
            # What Lambda would log for an unhandled error; never the event, which carries the body.
            log.exception("%s %s -> %s raised (request %s)", route.method, route.path, route.function, request_id)
        return gateway_error(502, INTERNAL_SERVER_ERROR, request_id, "InternalServerErrorException")
