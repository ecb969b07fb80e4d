"""The console's pages and requests, without a network: the casework API and Cognito are replaced by fakes.

What an analyst (or an attacker's page) would notice: values from the API are escaped, a POST without this session's
CSRF token or from another origin is refused before anything is called, the session cookie has its protective
attributes, an expired token sends the person back to sign-in with the cookie cleared, and evidence images are
allowed by the CSP on the evidence page only.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.console import handler, pages, session
from functions.console.casework_api import ApiRefusal, SessionEnded, api_url
from functions.console.sign_in import SignInRefused, Tokens

HOSTILE = '<script>alert("x")</script>'


def token_for(username: str = "demo-analyst", groups: tuple[str, ...] = ("analysts",)) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'cognito:username': username, 'cognito:groups': list(groups)})}.sig"


TOKEN = token_for()


def event(method: str, path: str, *, body: dict[str, str] | None = None, cookie: str | None = None, **headers: str):
    sent = {"Host": "127.0.0.1:3000", "X-Forwarded-Proto": "http", **headers}
    if cookie:
        sent["Cookie"] = cookie
    if body is not None:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"stage": "live", "domainName": "127.0.0.1:3000", "requestId": "r", "path": path},
        "body": urlencode(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def resolve(request: dict[str, Any]) -> dict[str, Any]:
    return handler.app.resolve(request, None)  # type: ignore[arg-type]


def header(answer: dict[str, Any], name: str) -> str:
    """The one value of a header of a REST proxy answer (Powertools sends them all as multiValueHeaders)."""
    (value,) = (answer.get("multiValueHeaders") or {}).get(name) or [(answer.get("headers") or {}).get(name)]
    return str(value)


def cookie_header(answer: dict[str, Any]) -> str:
    return header(answer, "Set-Cookie")


CASE = {
    "case": {
        "caseId": "a" * 32,
        "status": "OPEN",
        "severity": "P1",
        "category": "content",
        "types": ["phishing"],
        "resource": HOSTILE,
        "reportCount": 3,
        "reporterCount": 2,
        "objects": ["s3://bucket/key.png"],
    },
    "reports": [
        {
            "reportId": "01KB2X3Y4Z5A6B7C8D9E0F1G2H",
            "status": "QUEUED",
            "category": "content",
            "type": "phishing",
            "resources": [HOSTILE],
            "description": HOSTILE,
            "reporter": {"kind": "anonymous", "tier": 0},
            "evidence": [],
            "details": {"note": HOSTILE},
        }
    ],
    "decisions": [],
    "custody": {},
}


class FakeApi:
    calls: list[tuple[str, Any]]

    def __init__(self, base_url: str, token: str) -> None:
        self.token = token
        FakeApi.calls.append(("init", base_url))

    def case(self, case_id: str) -> dict[str, Any]:
        return CASE

    def queue(self, **query: str) -> dict[str, Any]:
        FakeApi.calls.append(("queue", query))
        return {"audience": "general", "cases": [CASE["case"]], "nextToken": None}

    def claim(self, case_id: str) -> dict[str, Any]:
        FakeApi.calls.append(("claim", case_id))
        return {}

    def decide(self, case_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        FakeApi.calls.append(("decide", decision))
        return {}

    def view_evidence(self, evidence_id: str, purpose: str) -> dict[str, Any]:
        return {"url": "http://127.0.0.1:5000/bucket/intake/x?X-Amz-Signature=s", "viewId": "v", "expiresIn": 60}


@pytest.fixture(autouse=True)
def fake_api(monkeypatch: pytest.MonkeyPatch) -> type[FakeApi]:
    FakeApi.calls = []
    monkeypatch.setattr(handler, "CaseworkApi", FakeApi)
    return FakeApi


def cookie() -> str:
    return f"{session.COOKIE_NAME}={TOKEN}"


def test_values_from_the_api_are_escaped_on_the_case_page():
    answer = resolve(event("GET", f"/console/cases/{'a' * 32}", cookie=cookie()))
    assert answer["statusCode"] == 200
    assert HOSTILE not in answer["body"] and "&lt;script&gt;" in answer["body"]
    assert "Signed in as demo-analyst" in answer["body"]


def test_every_page_has_the_web_forms_security_headers_and_no_store():
    answer = resolve(event("GET", "/console/queue", cookie=cookie()))
    assert header(answer, "Content-Security-Policy").startswith("default-src 'none'; script-src 'self'")
    assert "img-src 'self';" in header(answer, "Content-Security-Policy")
    assert header(answer, "X-Frame-Options") == "DENY" and header(answer, "Cache-Control") == "no-store"


def test_a_page_without_a_session_sends_the_person_to_sign_in():
    answer = resolve(event("GET", "/console/queue"))
    assert answer["statusCode"] == 303 and header(answer, "Location") == "/console/sign-in?reason=required"


def test_a_post_without_the_sessions_csrf_token_is_refused_and_nothing_is_claimed(fake_api: type[FakeApi]):
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/claim", body={}, cookie=cookie()))
    assert answer["statusCode"] == 403
    wrong = session.csrf_token(token_for("someone-else"))
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/claim", body={"csrf": wrong}, cookie=cookie()))
    assert answer["statusCode"] == 403
    assert not [call for call in fake_api.calls if call[0] == "claim"]


def test_a_post_from_another_site_is_refused_even_with_the_token(fake_api: type[FakeApi]):
    body = {"csrf": session.csrf_token(TOKEN)}
    answer = resolve(
        event(
            "POST", f"/console/cases/{'a' * 32}/claim", body=body, cookie=cookie(), **{"Sec-Fetch-Site": "cross-site"}
        )
    )
    assert answer["statusCode"] == 403
    answer = resolve(
        event("POST", f"/console/cases/{'a' * 32}/claim", body=body, cookie=cookie(), Origin="https://evil.example")
    )
    assert answer["statusCode"] == 403
    assert not [call for call in fake_api.calls if call[0] == "claim"]


def test_a_claim_with_the_token_claims_and_redirects_to_the_case(fake_api: type[FakeApi]):
    body = {"csrf": session.csrf_token(TOKEN)}
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/claim", body=body, cookie=cookie()))
    assert answer["statusCode"] == 303 and header(answer, "Location").endswith("?notice=claimed")
    assert ("claim", "a" * 32) in fake_api.calls


def test_signing_in_sets_an_httponly_secure_strict_cookie_scoped_to_the_console(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(handler, "sign_in", lambda username, password, code: Tokens(TOKEN, 3600))
    answer = resolve(event("POST", "/console/sign-in", body={"username": "a", "password": "b", "code": "123456"}))
    assert answer["statusCode"] == 303 and header(answer, "Location") == "/console/queue"
    set_cookie = cookie_header(answer)
    assert set_cookie.startswith(f"{session.COOKIE_NAME}={TOKEN};")
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/console", "Max-Age=3600"):
        assert attribute in set_cookie


def test_the_cookie_path_carries_the_stage_on_api_gateways_own_host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(handler, "sign_in", lambda username, password, code: Tokens(TOKEN, 60))
    request = event("POST", "/console/sign-in", body={"username": "a", "password": "b", "code": "1"})
    request["headers"]["Host"] = request["multiValueHeaders"]["Host"][0] = "abc.execute-api.eu-west-1.amazonaws.com"
    answer = resolve(request)
    assert "Path=/live/console;" in cookie_header(answer) and header(answer, "Location") == "/live/console/queue"


def test_a_refused_sign_in_says_one_thing_and_sets_no_cookie(monkeypatch: pytest.MonkeyPatch):
    def refuse(username: str, password: str, code: str) -> Tokens:
        raise SignInRefused("The username, password or authenticator code is not right.")

    monkeypatch.setattr(handler, "sign_in", refuse)
    answer = resolve(event("POST", "/console/sign-in", body={"username": HOSTILE, "password": "b", "code": "1"}))
    assert answer["statusCode"] == 401 and "Set-Cookie" not in (answer.get("multiValueHeaders") or {})
    assert "is not right" in answer["body"] and HOSTILE not in answer["body"]


def test_an_expired_token_sends_the_person_to_sign_in_with_the_cookie_cleared(monkeypatch: pytest.MonkeyPatch):
    def expired(self: FakeApi, **query: str) -> dict[str, Any]:
        raise SessionEnded(expired=True)

    monkeypatch.setattr(FakeApi, "queue", expired)
    answer = resolve(event("GET", "/console/queue", cookie=cookie()))
    assert answer["statusCode"] == 303 and header(answer, "Location") == "/console/sign-in?reason=expired"
    assert cookie_header(answer).startswith(f"{session.COOKIE_NAME}=; Max-Age=0; Path=/console;")
    page = resolve(event("GET", "/console/sign-in"))
    assert page["statusCode"] == 200
    expired_page = handler.app.resolve(
        {**event("GET", "/console/sign-in"), "queryStringParameters": {"reason": "expired"}},
        None,  # type: ignore[arg-type]
    )
    assert "Your session has ended" in expired_page["body"]


def test_a_refusal_of_the_api_is_shown_escaped_with_its_status(monkeypatch: pytest.MonkeyPatch):
    def refused(self: FakeApi, case_id: str) -> dict[str, Any]:
        raise ApiRefusal(404, HOSTILE)

    monkeypatch.setattr(FakeApi, "case", refused)
    answer = resolve(event("GET", f"/console/cases/{'b' * 32}", cookie=cookie()))
    assert answer["statusCode"] == 404 and HOSTILE not in answer["body"] and "Not found" in answer["body"]


def test_the_confirmation_names_how_many_reports_complete_and_which_objects_are_restricted(fake_api):
    body = {
        "csrf": session.csrf_token(TOKEN),
        "reason_code": "ACTIONED",
        "action": "RESTRICT",
        "statement": "A copy of a bank's page.",
        "note": "",
    }
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/confirm", body=body, cookie=cookie()))
    assert answer["statusCode"] == 200
    assert "3 reports will be completed" in answer["body"] and "s3://bucket/key.png" in answer["body"]
    assert not [call for call in fake_api.calls if call[0] == "decide"], "confirming decides nothing yet"


def test_a_restriction_without_a_statement_is_refused_before_the_api_is_called(fake_api):
    body = {"csrf": session.csrf_token(TOKEN), "reason_code": "ACTIONED", "action": "RESTRICT"}
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/decisions", body=body, cookie=cookie()))
    assert answer["statusCode"] == 422 and "statement of reasons" in answer["body"]
    assert not [call for call in fake_api.calls if call[0] == "decide"]


def test_a_confirmed_decision_is_sent_as_the_apis_request(fake_api):
    body = {"csrf": session.csrf_token(TOKEN), "reason_code": "REVIEWED_NO_AWS_ACTION", "action": "NONE", "note": "n"}
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/decisions", body=body, cookie=cookie()))
    assert answer["statusCode"] == 303 and header(answer, "Location").endswith("?notice=decided")
    assert ("decide", {"reasonCode": "REVIEWED_NO_AWS_ACTION", "action": "NONE", "note": "n"}) in fake_api.calls


def test_only_the_evidence_page_lets_the_presigned_image_origin_in_and_it_starts_blurred():
    body = {"csrf": session.csrf_token(TOKEN), "purpose": "triage", "content_type": "image/png", "case_id": "a" * 32}
    answer = resolve(event("POST", "/console/evidence/ev1/view", body=body, cookie=cookie()))
    assert answer["statusCode"] == 200
    assert "img-src 'self' http://127.0.0.1:5000;" in header(answer, "Content-Security-Policy")
    assert 'class="evidence__image"' in answer["body"] and 'id="unblur"' in answer["body"]
    assert "filter: blur(24px) grayscale(1)" in pages.ASSETS["console.css"].decode()


def test_the_api_is_called_on_the_requests_own_origin_https_unless_loopback(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CONSOLE_API_URL", raising=False)
    assert api_url("127.0.0.1:3000", "") == "http://127.0.0.1:3000"
    assert api_url("abc.execute-api.eu-west-1.amazonaws.com", "/live") == (
        "https://abc.execute-api.eu-west-1.amazonaws.com/live"
    )
    assert api_url("127.0.0.1.evil.example", "") == "https://127.0.0.1.evil.example"


def test_assets_are_served_under_their_content_hash():
    answer = resolve(event("GET", "/console/assets/console.js"))
    assert answer["statusCode"] == 200 and "immutable" in header(answer, "Cache-Control")
    assert pages.asset_url("", "console.js") == f"/console/assets/console.js?v={pages.ASSET_VERSIONS['console.js']}"
