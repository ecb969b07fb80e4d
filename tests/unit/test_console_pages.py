"""The console's pages and requests, without a network: the casework API and Cognito are replaced by fakes.

What an analyst (or an attacker's page) would notice: values from the API are escaped, a POST without this session's
CSRF token or from another origin is refused before anything is called, the session cookie has its protective
attributes, an expired token sends the person back to sign-in with the cookie cleared, and evidence images are
allowed by the CSP on the evidence page only. The queue filters by category, says "overdue" in words and pages with
the API's token; the case page shows each object's quarantine state and one timeline in time order; reporters'
contact details appear only on the answer to an explicit, CSRF-checked request to reveal them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
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

    def case(self, case_id: str, *, reveal_contacts: bool = False) -> dict[str, Any]:
        FakeApi.calls.append(("case", (case_id, reveal_contacts)))
        return CASE

    def queue(self, **query: str) -> dict[str, Any]:
        FakeApi.calls.append(("queue", query))
        return {"audience": "general", "cases": [CASE["case"]], "nextToken": None}

    def claim(self, case_id: str) -> dict[str, Any]:
        FakeApi.calls.append(("claim", case_id))
        return {}

    def release_claim(self, case_id: str) -> dict[str, Any]:
        FakeApi.calls.append(("release", case_id))
        return {"caseId": case_id, "claimedBy": None}

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
    def refused(self: FakeApi, case_id: str, *, reveal_contacts: bool = False) -> dict[str, Any]:
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


# --- the queue ------------------------------------------------------------------------------------------------------


def at(minutes_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def queue_event(**query: str) -> dict[str, Any]:
    return {**event("GET", "/console/queue", cookie=cookie()), "queryStringParameters": query or None}


def rows(body: str) -> list[str]:
    return re.findall(r"<tr class=.*?</tr>", body, flags=re.S)


def queue_page(cases: list[dict[str, Any]], **values: Any) -> str:
    defaults: dict[str, Any] = {
        "base": "",
        "person": session.person_of(TOKEN),
        "csrf": "t",
        "filters": {"status": "OPEN"},
        "audiences": [],
    }
    return pages.queue({"audience": "general", "cases": cases, "nextToken": None}, **{**defaults, **values})


def test_the_queue_asks_the_api_for_the_chosen_category_and_drops_one_it_would_refuse(fake_api: type[FakeApi]):
    answer = resolve(queue_event(category="messaging", severity="P3"))
    assert answer["statusCode"] == 200
    assert (
        "queue",
        {"status": "OPEN", "severity": "P3", "audience": "", "category": "messaging", "nextToken": ""},
    ) in (fake_api.calls)
    assert '<option value="messaging" selected>' in answer["body"]
    resolve(queue_event(category="<b>spam</b>", severity="P9"))
    assert fake_api.calls[-1] == (
        "queue",
        {"status": "OPEN", "severity": "", "audience": "", "category": "", "nextToken": ""},
    )


def test_an_overdue_case_says_so_in_words_not_only_by_colour():
    late = {**CASE["case"], "caseId": "b" * 32, "dueAt": at(-150)}
    due_later = {**CASE["case"], "caseId": "c" * 32, "dueAt": at(90)}
    decided_late = {**CASE["case"], "caseId": "d" * 32, "dueAt": at(-150), "status": "DECIDED"}
    late_row, later_row, decided_row = rows(queue_page([late, due_later, decided_late]))
    assert "Overdue by 2 h" in late_row and 'class="overdue"' in late_row
    assert "Overdue" not in later_row
    assert "Overdue" not in decided_row, "a decided case is no longer due"
    assert pages.late_by({"status": "OPEN", "dueAt": at(-0.2)}) == "less than a minute"
    assert pages.late_by({"status": "OPEN", "dueAt": at(-60 * 24 * 3)}) == "3 days"


def test_each_row_offers_a_claim_unless_someone_else_holds_one():
    free = {**CASE["case"], "caseId": "b" * 32}
    lapsed = {**CASE["case"], "caseId": "c" * 32, "claimedBy": "someone-else", "claimUntil": at(-1)}
    theirs = {**CASE["case"], "caseId": "d" * 32, "claimedBy": "someone-else", "claimUntil": at(20)}
    mine = {**CASE["case"], "caseId": "e" * 32, "claimedBy": "demo-analyst", "claimUntil": at(20)}
    # As the API's queue gives a claimed case: the holder without the lease's end, which may have passed.
    unknown_end = {**CASE["case"], "caseId": "f" * 32, "claimedBy": "someone-else"}
    free_row, lapsed_row, their_row, my_row, unknown_row = rows(queue_page([free, lapsed, theirs, mine, unknown_end]))
    assert f'aria-label="Claim case {"b" * 32}"' in free_row
    assert f'aria-label="Claim case {"c" * 32}"' in lapsed_row and "Nobody" in lapsed_row, "a lapsed claim is free"
    assert "<button" not in their_row and "someone-else" in their_row
    assert "Renew claim" in my_row
    assert "someone-else" in unknown_row and f'aria-label="Claim case {"f" * 32}"' in unknown_row


def test_the_next_page_keeps_the_filters_and_carries_the_apis_token():
    token = "eyJQSyI6ICJx+/y="  # a page token as the API may send it: characters a URL must escape
    body = pages.queue(
        {"audience": "general", "cases": [], "nextToken": token},
        base="",
        person=session.person_of(TOKEN),
        csrf="t",
        filters={"status": "ALL", "severity": "P1", "category": "content", "audience": ""},
        audiences=[],
    )
    assert "There are more cases on the next page" in body
    (link,) = re.findall(r'<a href="([^"]*)">Next page</a>', body)
    assert link == (
        "/console/queue?status=ALL&amp;severity=P1&amp;category=content&amp;audience=general"
        "&amp;next=eyJQSyI6ICJx%2B/y%3D"
    )
    assert "First page" not in body


def test_following_the_next_page_link_asks_the_api_for_that_page(fake_api: type[FakeApi]):
    answer = resolve(queue_event(status="ALL", category="content", next="eyJQSyI6ICJx+/y="))
    assert fake_api.calls[-1] == (
        "queue",
        {"status": "ALL", "severity": "", "audience": "", "category": "content", "nextToken": "eyJQSyI6ICJx+/y="},
    )
    assert ">First page</a>" in answer["body"]


# --- the case page ----------------------------------------------------------------------------------------------------

EVIDENCE_ID = "p-" + "1" * 64
OTHER_EVIDENCE_ID = "p-" + "2" * 64


def custody_event(step: str, at_: str, by: str = "quarantine", **detail: str) -> dict[str, Any]:
    return {"step": step, "at": at_, "by": by, "sha256": "ab" * 32} | ({"detail": detail} if detail else {})


def test_an_objects_quarantine_state_is_its_latest_state_changing_step():
    def state(*steps: str) -> str | None:
        chain = [custody_event(step, f"2026-12-04T10:0{n}:00.000Z") for n, step in enumerate(steps)]
        return pages.quarantine_state(list(reversed(chain)))[0]  # the API's order does not matter: the time does

    assert state("preserved", "verified", "restricted") == "restricted"
    assert state("preserved", "restricted", "released") == "released"
    assert state("preserved", "restricted", "released", "restricted") == "restricted"
    assert state("received", "viewed") == "preserved", "a payload a reporter sent is held from the start"
    assert state("preserved", "restricted", "held") == "restricted", "a hold re-applied lifts no restriction"
    assert state("received", "viewed", "destroyed") == "destroyed"
    assert state() is None


def hostile_case() -> dict[str, Any]:
    answer = copy.deepcopy(CASE)
    answer["case"]["objects"] = ["s3://bucket/key.png"]
    answer["reports"][0]["evidence"] = [
        {"evidenceId": EVIDENCE_ID, "contentType": "image/png", "sha256": "ab" * 32, "size": 10},
        {"evidenceId": OTHER_EVIDENCE_ID, "contentType": "text/plain", "sha256": "cd" * 32, "size": 5},
    ]
    answer["custody"] = {
        EVIDENCE_ID: [
            custody_event("received", "2026-12-04T10:00:00.000Z", by="intake"),
            custody_event("viewed", "2026-12-04T10:20:00.000Z", by=HOSTILE, purpose=HOSTILE),
        ],
        OTHER_EVIDENCE_ID: [
            custody_event("received", "2026-12-04T10:05:00.000Z", by="intake"),
            custody_event("destroyed", "2026-12-04T10:40:00.000Z", by="custodian", legalRequestReference="LE-7"),
        ],
    }
    answer["decisions"] = [
        {
            "decisionId": "d1",
            "analyst": "demo-analyst",
            "decidedAt": "2026-12-04T10:30:00.000Z",
            "reasonCode": "ACTIONED",
            "action": "RESTRICT",
            "statement": HOSTILE,
            "note": "internal: never on the page",
        }
    ]
    return answer


def case_page(answer: dict[str, Any], **values: Any) -> str:
    return pages.case(answer, base="", person=session.person_of(TOKEN), csrf="t", **values)


def test_the_case_page_shows_each_objects_state_and_one_timeline_oldest_first():
    body = case_page(hostile_case())
    quarantine = body[body.index('id="quarantine"') : body.index("</table>", body.index('id="quarantine"'))]
    image_row, text_row, object_row = re.findall(r"<tr>.*?</tr>", quarantine, flags=re.S)[1:]
    assert "Evidence: image/png" in image_row and ">Preserved<" in image_row
    assert "Evidence: text/plain" in text_row and ">Destroyed<" in text_row and "custodian" in text_row
    assert "s3://bucket/key.png" in object_row and ">No custody events<" in object_row, "never a guessed state"

    timeline = body[body.index('id="timeline"') : body.index("</ol>", body.index('id="timeline"'))]
    titles = re.findall(r"<strong>(.*?)</strong>", timeline)
    assert titles == ["Received with a report", "Received with a report", "Viewed", "Decision: ACTIONED", "Destroyed"]
    assert "Legal request: LE-7" in timeline and "Action: RESTRICT" in timeline
    assert "internal: never on the page" not in body


def test_hostile_text_in_custody_and_decisions_is_escaped_on_the_case_page():
    body = case_page(hostile_case())
    assert HOSTILE not in body
    assert body.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 5  # resource, description, by, purpose ...


def contact_case() -> dict[str, Any]:
    answer = copy.deepcopy(CASE)
    # As an answer could carry it by mistake: the page still shows it only when the person asked.
    answer["reports"][0]["contact"] = {
        "reporterOrg": HOSTILE,
        "reporterContact": "abuse-desk@hotline-a.example",
        "reporterDomain": "hotline-a.example",
        "expiresAt": 1830297600,
    }
    return answer


def test_no_contact_details_are_on_the_case_page_without_an_explicit_request(
    monkeypatch: pytest.MonkeyPatch, fake_api: type[FakeApi]
):
    monkeypatch.setattr(FakeApi, "case", lambda self, case_id, reveal_contacts=False: contact_case())
    answer = resolve(event("GET", f"/console/cases/{'a' * 32}", cookie=cookie()))
    assert answer["statusCode"] == 200
    assert "abuse-desk@hotline-a.example" not in answer["body"] and "hotline-a.example" not in answer["body"]
    assert "Show reporters' contact details" in answer["body"]
    assert f'action="/console/cases/{"a" * 32}/contacts"' in answer["body"]


def test_revealing_contacts_asks_the_api_to_reveal_and_shows_them_escaped(
    monkeypatch: pytest.MonkeyPatch, fake_api: type[FakeApi]
):
    def case(self: FakeApi, case_id: str, *, reveal_contacts: bool = False) -> dict[str, Any]:
        FakeApi.calls.append(("case", (case_id, reveal_contacts)))
        return contact_case() if reveal_contacts else CASE

    monkeypatch.setattr(FakeApi, "case", case)
    body = {"csrf": session.csrf_token(TOKEN)}
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/contacts", body=body, cookie=cookie()))
    assert answer["statusCode"] == 200 and ("case", ("a" * 32, True)) in fake_api.calls
    assert "abuse-desk@hotline-a.example" in answer["body"] and "Deleted after 2028-01-01 UTC" in answer["body"]
    assert HOSTILE not in answer["body"] and "recorded in the audit log" in answer["body"]
    assert header(answer, "Cache-Control") == "no-store"


def test_revealing_contacts_without_the_sessions_csrf_token_asks_for_nothing(fake_api: type[FakeApi]):
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/contacts", body={}, cookie=cookie()))
    assert answer["statusCode"] == 403
    assert not [call for call in fake_api.calls if call[0] == "case"]
    answer = resolve(event("GET", f"/console/cases/{'a' * 32}/contacts", cookie=cookie()))
    assert answer["statusCode"] == 404, "never by a link: a GET reveals nothing"


def test_releasing_the_claim_needs_the_token_and_ends_it_through_the_api(fake_api: type[FakeApi]):
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/release", body={}, cookie=cookie()))
    assert answer["statusCode"] == 403 and not [call for call in fake_api.calls if call[0] == "release"]
    body = {"csrf": session.csrf_token(TOKEN)}
    answer = resolve(event("POST", f"/console/cases/{'a' * 32}/release", body=body, cookie=cookie()))
    assert answer["statusCode"] == 303 and header(answer, "Location").endswith("?notice=released")
    assert ("release", "a" * 32) in fake_api.calls


def test_only_the_claims_holder_is_offered_to_release_it():
    mine = copy.deepcopy(CASE)
    mine["case"] |= {"claimedBy": "demo-analyst", "claimUntil": at(20)}
    theirs = copy.deepcopy(CASE)
    theirs["case"] |= {"claimedBy": HOSTILE, "claimUntil": at(20)}
    assert "Release claim" in case_page(mine) and "Renew claim" in case_page(mine)
    their_page = case_page(theirs)
    assert "Release claim" not in their_page and "Claim this case" not in their_page
    assert "holds this case's claim" in their_page and HOSTILE not in their_page
    assert "Claim this case" in case_page(CASE) and "Release claim" not in case_page(CASE)
