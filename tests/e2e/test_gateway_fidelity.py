"""The local gateway answers as API Gateway does where a hostile or broken client would notice: methods it has no
route for, malformed chunked bodies, bodies that never finish arriving, ambiguous SigV4 headers. Every answer the
gateway makes itself carries the functions' security headers. Real sockets against `python -m local` (the real
template), raw ones where http.client would refuse to send what is being tested."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local.apigw import caller_access_key
from tests.e2e.stack import Running, assert_security_headers, call, local_stack, raw_exchange

pytestmark = pytest.mark.e2e

BODY_TIMEOUT_SECONDS = 1.0
MISSING_AUTHENTICATION_TOKEN = b'{"message":"Missing Authentication Token"}'
EVIL_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 X-Credential=AKIAEVIL000000000001/20260101/us-east-1/execute-api/aws4_request, "
    "Credential=AKIAPLAIN00000000001/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # A slow quota (2 at once, then one per 100 s) so that a third call with one key is throttled whatever the
    # machine's speed; every other test uses keys of its own.
    arguments = ["--body-timeout", str(BODY_TIMEOUT_SECONDS), "--parameter", "PartnerBurstLimit=2"]
    with local_stack(tmp_path_factory.mktemp("gateway"), *arguments, "--parameter", "PartnerRateLimit=0.01") as running:
        yield running


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "get", "post", "FROB"])
def test_methods_without_a_route_get_missing_authentication_token(stack: Running, method: str) -> None:
    for target in ("/", "/v1/reports", "/v1/openapi.json"):  # each one a route for GET or POST
        answer = call(stack.port, method, target)
        assert (answer.status, answer.body) == (403, MISSING_AUTHENTICATION_TOKEN), (method, target)
        assert answer.header("x-amzn-ErrorType") == ["MissingAuthenticationTokenException"]
        assert_security_headers(answer)
    assert call(stack.port, "GET", "/v1/openapi.json").status == 200  # the same route, with its own method


@pytest.mark.parametrize("size_line", [b"-1", b"0x2", b"+2", b"1_0", b" 2", b"2 ", b"zz", b""])
def test_a_malformed_chunk_size_is_refused_with_400(stack: Running, size_line: bytes) -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nab\r\n0\r\n\r\n"
    )
    answer = raw_exchange(stack.port, request)
    assert (answer.status, answer.body) == (400, b'{"message":"Bad Request"}')
    assert_security_headers(answer)
    assert answer.closed, "the rest of the body is unread: the connection cannot be reused"


def test_a_well_formed_chunked_body_reaches_the_route(stack: Running) -> None:
    request = (
        b"POST /v1/reports HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2;name=value\r\n{}\r\n0\r\n\r\n"
    )
    answer = raw_exchange(stack.port, request, check_closed=False)
    assert (answer.status, answer.body) == (403, MISSING_AUTHENTICATION_TOKEN)  # read whole, then refused: unsigned


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_that_trickles_in_is_cut_off_with_408(stack: Running, chunked: bool) -> None:
    head = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n400\r\n" if chunked else b"Content-Length: 1000\r\n\r\n"
    started = time.monotonic()
    # One byte every 0.2 s would take 200 s for the whole body: every recv is quick, the whole is not.
    answer = raw_exchange(stack.port, head + b"reason=", trickle=b"x" * 1000, deadline_seconds=15.0)
    assert time.monotonic() - started < 10.0, "cut off after the body timeout, not after the body"
    assert (answer.status, answer.body) == (408, b'{"message":"Request Timeout"}')
    assert_security_headers(answer)
    assert answer.closed


def test_a_sigv4_header_names_exactly_one_credential_or_is_refused(stack: Running) -> None:
    assert caller_access_key([("Authorization", EVIL_AUTHORIZATION)], "") is None  # not EVIL, and not PLAIN either
    for authorization in (
        EVIL_AUTHORIZATION,
        "AWS4-HMAC-SHA256 Credential=AKIAONE/x, Credential=AKIATWO/x, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAONE/x, SignedHeaders=host",
        "Bearer AKIAONE",
    ):
        answer = call(
            stack.port, "GET", "/v1/reports/R1", headers=[("Authorization", authorization), ("x-api-key", "k1")]
        )
        assert answer.status == 403, authorization
        assert answer.header("x-amzn-ErrorType") == ["IncompleteSignatureException"], authorization
        assert answer.json()["message"], authorization
        assert_security_headers(answer)
    two = [("Authorization", _signature("AKIAONE")), ("Authorization", _signature("AKIATWO")), ("x-api-key", "k1")]
    twice = call(stack.port, "GET", "/v1/reports/R1", headers=two)
    assert (twice.status, twice.header("x-amzn-ErrorType")) == (403, ["IncompleteSignatureException"])

    # A well-formed signature gets past the gateway (the function answers for an unknown report).
    signed = call(stack.port, "GET", "/v1/reports/R1", signed=True, access_key="AKIASIGNEDWELL000001")
    assert signed.header("x-amzn-ErrorType") == []
    assert signed.status != 403


def test_the_gateways_own_refusals_carry_the_security_headers(stack: Running) -> None:
    unsigned = call(stack.port, "POST", "/v1/reports", body=b"{}")
    forbidden = call(
        stack.port, "POST", "/v1/reports", body=b"{}", headers=[("Authorization", _signature("AKIANOKEY"))]
    )
    too_long = call(stack.port, "POST", "/v1/reports", headers=[("Content-Length", str(10 * 1024 * 1024 + 1))])
    assert (unsigned.status, forbidden.status, too_long.status) == (403, 403, 413)
    assert forbidden.body == b'{"message":"Forbidden"}'
    throttled = [call(stack.port, "GET", "/v1/reports/R1", signed=True, access_key="AKIATHROTTLED0000001")]
    throttled += [call(stack.port, "GET", "/v1/reports/R1", signed=True, access_key="AKIATHROTTLED0000001")]
    throttled += [call(stack.port, "GET", "/v1/reports/R1", signed=True, access_key="AKIATHROTTLED0000001")]
    assert [answer.status == 429 for answer in throttled] == [False, False, True]
    for answer in (unsigned, forbidden, too_long, throttled[-1]):
        assert_security_headers(answer)


def _signature(access_key: str) -> str:
    scope = f"{access_key}/20260101/us-east-1/execute-api/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=00"
