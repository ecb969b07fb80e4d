"""Lambda adapter for the analysts' console: sign-in, the queue, a case, a decision and evidence views, as pages.

Routes (public at API Gateway: the console signs its people in itself, and the casework API it calls checks the token):
    GET  /console                               to the queue (or the sign-in page)
    GET  /console/sign-in, POST /console/sign-in   username, password and authenticator code -> the session cookie
    POST /console/sign-out                      clears it
    GET  /console/queue                         cases by severity and due time; filters status, severity, category,
                                                audience; `next` is the API's nextToken for the following page
    POST /console/cases/{caseId}/claim          claim, then the case page
    POST /console/cases/{caseId}/release        give the claim up (DELETE /v1/cases/{caseId}/claim), then the case
    GET  /console/cases/{caseId}                the case: resources, reports and reporters, quarantine state of each
                                                object, one timeline of custody events and decisions
    POST /console/cases/{caseId}/contacts       the case page with the reporters' contact details: the API's
                                                ?reveal=contacts, which it audits; a POST, so no link, prefetch
                                                or history entry ever asks for them, and each carries the CSRF token
    POST /console/cases/{caseId}/confirm        the decision's confirmation page (nothing is decided yet)
    POST /console/cases/{caseId}/decisions      the decision
    POST /console/evidence/{evidenceId}/view    with a purpose: the evidence, blurred and greyscale first
    GET  /console/assets/{name}                 console.css, console.js, favicon.svg

Every POST passes the web form's Origin / Sec-Fetch-Site check, and every POST after sign-in carries the session's
CSRF token (functions/console/session.py). Data comes from the casework API called as the person
(functions/console/casework_api.py), so permissions and the audit log stay there. Nothing here logs a token, a
password, a code, a note, a statement or a purpose: routes, ids and statuses only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.console import pages, session
from functions.console.casework_api import ApiRefusal, CaseworkApi, SessionEnded, api_url, fetch_text_evidence
from functions.console.sign_in import SignInRefused, sign_in
from shared.domain import webform
from shared.domain.casework import DecisionRequest
from shared.domain.errors import DomainError

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")
app = APIGatewayRestResolver()

SIGN_IN_FIELDS = ("username", "password", "code")
DECISION_FIELDS = (session.CSRF_FIELD, "reason_code", "action", "statement", "note")
VIEW_FIELDS = (session.CSRF_FIELD, "purpose", "content_type", "case_id", "sha256")
NOTICES = {
    "claimed": "You have claimed this case for 30 minutes.",
    "released": "You have released your claim: anyone may take this case now.",
    "decided": "The decision is recorded.",
}


class NoSession(Exception):
    """No session cookie: the person has not signed in (or signed out)."""


def _base() -> str:
    return webform.base_path(app.current_event.headers.get("host"), app.current_event.request_context.stage)


def _token() -> str:
    token = session.token_from(app.current_event.headers.get("cookie"))
    if token is None:
        raise NoSession
    return token


def _api(token: str) -> CaseworkApi:
    return CaseworkApi(api_url(app.current_event.request_context.domain_name, _base()), token)


def _posted(names: tuple[str, ...]) -> dict[str, str]:
    event = app.current_event
    body, content_type = webform.read_post(event.headers, event.body, base64_encoded=event.is_base64_encoded)
    return webform.read_fields(body, content_type, names)


def _posted_with_session(names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    token = _token()
    fields = _posted(names)
    session.check_csrf(token, fields.get(session.CSRF_FIELD))
    return token, fields


def _signed_in(token: str) -> dict[str, Any]:
    return {"person": session.person_of(token), "csrf": session.csrf_token(token)}


# --- signing in and out ------------------------------------------------------------------------------------------


@app.get("/console")
def start() -> Response[str]:
    target = "/queue" if session.token_from(app.current_event.headers.get("cookie")) else "/sign-in"
    return pages.redirect(f"{_base()}/console{target}")


@app.get("/console/sign-in")
def show_sign_in() -> Response[str]:
    reason = (app.current_event.query_string_parameters or {}).get("reason", "")
    return pages.page(200, pages.sign_in(base=_base(), notice=session.SIGN_IN_REASONS.get(reason)))


@app.post("/console/sign-in")
def send_sign_in() -> Response[str]:
    fields = _posted(SIGN_IN_FIELDS)
    username = fields.get("username", "").strip()
    try:
        tokens = sign_in(username, fields.get("password", ""), fields.get("code", "").strip())
    except SignInRefused as refused:
        metrics.add_metric(name="ConsoleSignInsRefused", unit=MetricUnit.Count, value=1)
        return pages.page(401, pages.sign_in(base=_base(), error=refused.message, username=username))
    metrics.add_metric(name="ConsoleSignIns", unit=MetricUnit.Count, value=1)
    cookie = session.session_cookie(tokens.id_token, base=_base(), max_age=tokens.expires_in)
    return pages.redirect(f"{_base()}/console/queue", cookie=cookie)


@app.post("/console/sign-out")
def sign_out() -> Response[str]:
    _posted_with_session((session.CSRF_FIELD,))
    return pages.redirect(f"{_base()}/console/sign-in?reason=signed_out", cookie=session.cleared_cookie(base=_base()))


# --- the queue and a case ------------------------------------------------------------------------------------------


@app.get("/console/queue")
def show_queue() -> Response[str]:
    token = _token()
    query = app.current_event.query_string_parameters or {}
    filters = {name: query.get(name, "") for name in ("status", "severity", "audience", "category")}
    filters["status"] = filters["status"] if filters["status"] in pages.STATUSES else "OPEN"
    # A value the API would refuse with 422 is dropped here instead: a stale bookmark still shows a queue.
    filters["category"] = filters["category"] if filters["category"] in pages.CATEGORY_NAMES else ""
    filters["severity"] = filters["severity"] if filters["severity"] in pages.SEVERITIES else ""
    next_token = query.get("next", "")
    answer = _api(token).queue(**filters, nextToken=next_token)
    person = session.person_of(token)
    audiences = ["child_safety", "general"] if "child-safety" in person.groups else []
    body = pages.queue(
        answer, base=_base(), filters=filters, audiences=audiences, later_page=bool(next_token), **_signed_in(token)
    )
    return pages.page(200, body)


@app.post("/console/cases/<caseId>/claim")
def claim(caseId: str) -> Response[str]:  # noqa: N803 (the route's parameter name)
    token, _ = _posted_with_session((session.CSRF_FIELD,))
    _api(token).claim(caseId)
    logger.info("case claimed from the console", extra={"case_id": caseId})
    return pages.redirect(f"{_base()}/console/cases/{caseId}?notice=claimed")


@app.post("/console/cases/<caseId>/release")
def release_claim(caseId: str) -> Response[str]:  # noqa: N803
    token, _ = _posted_with_session((session.CSRF_FIELD,))
    _api(token).release_claim(caseId)
    logger.info("claim released from the console", extra={"case_id": caseId})
    return pages.redirect(f"{_base()}/console/cases/{caseId}?notice=released")


@app.get("/console/cases/<caseId>")
def show_case(caseId: str) -> Response[str]:  # noqa: N803
    token = _token()
    notice = NOTICES.get((app.current_event.query_string_parameters or {}).get("notice", ""))
    answer = _api(token).case(caseId)
    return pages.page(200, pages.case(answer, base=_base(), notice=notice, **_signed_in(token)))


@app.post("/console/cases/<caseId>/contacts")
def reveal_contacts(caseId: str) -> Response[str]:  # noqa: N803
    token, _ = _posted_with_session((session.CSRF_FIELD,))
    answer = _api(token).case(caseId, reveal_contacts=True)
    # The case id only: the details themselves never reach a log.
    logger.info("contacts revealed from the console", extra={"case_id": caseId})
    metrics.add_metric(name="ConsoleContactReveals", unit=MetricUnit.Count, value=1)
    notice = "Reporters' contact details are shown below. Your request is recorded in the audit log."
    body = pages.case(answer, base=_base(), notice=notice, contacts_revealed=True, **_signed_in(token))
    return pages.page(200, body)


# --- deciding ------------------------------------------------------------------------------------------------------


def _decision(fields: dict[str, str]) -> tuple[dict[str, str], DecisionRequest | str]:
    """What was typed, and the request it makes, or the reason it makes none (the casework domain's own rules)."""
    typed = {name: fields.get(name, "").strip() for name in DECISION_FIELDS if name != session.CSRF_FIELD}
    typed["action"] = typed["action"] or "NONE"
    try:
        return typed, DecisionRequest(
            reason_code=typed["reason_code"],
            action=typed["action"],
            statement=typed["statement"] or None,
            note=typed["note"] or None,
        )
    except ValidationError as invalid:
        problems = [str(error["msg"]).removeprefix("Value error, ") for error in invalid.errors()]
        if not typed["reason_code"]:
            problems = ["Choose a reason"]
        return typed, "; ".join(problems)


@app.post("/console/cases/<caseId>/confirm")
def confirm_decision(caseId: str) -> Response[str]:  # noqa: N803
    token, fields = _posted_with_session(DECISION_FIELDS)
    answer = _api(token).case(caseId)
    typed, request = _decision(fields)
    if isinstance(request, str):
        body = pages.case(answer, base=_base(), error=request, decision=typed, **_signed_in(token))
        return pages.page(422, body)
    return pages.page(200, pages.confirm(answer, typed, base=_base(), **_signed_in(token)))


@app.post("/console/cases/<caseId>/decisions")
def decide(caseId: str) -> Response[str]:  # noqa: N803
    token, fields = _posted_with_session(DECISION_FIELDS)
    typed, request = _decision(fields)
    if isinstance(request, str):
        answer = _api(token).case(caseId)
        body = pages.case(answer, base=_base(), error=request, decision=typed, **_signed_in(token))
        return pages.page(422, body)
    _api(token).decide(caseId, request.model_dump(by_alias=True, exclude_none=True, mode="json"))
    metrics.add_metric(name="ConsoleDecisions", unit=MetricUnit.Count, value=1)
    return pages.redirect(f"{_base()}/console/cases/{caseId}?notice=decided")


# --- evidence ------------------------------------------------------------------------------------------------------


@app.post("/console/evidence/<evidenceId>/view")
def view_evidence(evidenceId: str) -> Response[str]:  # noqa: N803
    token, fields = _posted_with_session(VIEW_FIELDS)
    item = {name: fields.get(name, "").strip() for name in VIEW_FIELDS if name != session.CSRF_FIELD}
    item["evidence_id"] = evidenceId
    view = _api(token).view_evidence(evidenceId, item["purpose"])
    image = item["content_type"].startswith("image/")
    text = None if image else fetch_text_evidence(str(view["url"]))
    logger.info("evidence viewed from the console", extra={"evidence_id": evidenceId})
    body = pages.evidence(base=_base(), view=view, item=item, text=text, **_signed_in(token))
    return pages.page(200, body, image_url=str(view["url"]) if image else None)


@app.get("/console/assets/<name>")
def asset(name: str) -> Response[str]:
    return pages.asset(name, base=_base())


# --- refusals --------------------------------------------------------------------------------------------------------


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return pages.page(404, pages.problem("Page not found", "There is nothing at this address.", base=_base()))


@app.exception_handler(NoSession)
def no_session(_: NoSession) -> Response[str]:
    return pages.redirect(f"{_base()}/console/sign-in?reason=required")


@app.exception_handler(SessionEnded)
def session_ended(_: SessionEnded) -> Response[str]:
    # Expired or refused alike: the cookie is no use any more, and the person is told to sign in again.
    return pages.redirect(f"{_base()}/console/sign-in?reason=expired", cookie=session.cleared_cookie(base=_base()))


@app.exception_handler(ApiRefusal)
def api_refused(refusal: ApiRefusal) -> Response[str]:
    logger.info("casework API refused", extra={"status": refusal.status})
    title = "Not found" if refusal.status == 404 else "The casework service refused this"
    token = session.token_from(app.current_event.headers.get("cookie"))
    person = session.person_of(token) if token else None
    body = pages.problem(title, refusal.message, base=_base(), person=person, back=f"{_base()}/console/queue")
    return pages.page(refusal.status if 400 <= refusal.status < 600 else 502, body)


@app.exception_handler(DomainError)
def refuse(error: DomainError) -> Response[str]:
    logger.info("request refused", extra={"status": error.status, "code": error.code})
    body = pages.problem(
        "Sorry, this request was refused", error.message, base=_base(), back=f"{_base()}/console/queue"
    )
    return pages.page(error.status, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
