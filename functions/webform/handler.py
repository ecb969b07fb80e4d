"""Lambda adapter for the public web form: read the request, call shared.webform, answer HTML. No boto3 here.

Routes (all public: no IAM, no API key; a WAF rate-based rule in the template limits POSTs per IP):
    GET  /               the report form
    POST /               send it: the confirmation page, or the form again with each error next to its field
    GET  /status         the status form: report reference + receipt token
    POST /status         the status; the token travels in the body, never in a URL (history, logs, Referer)
    GET  /assets/{name}  app.css and app.js (the CSP allows no inline code)

Every answer carries the security headers below. Pages are never cached: each form carries its own nonce (a cached
page would hand two people one clientToken), and the others show receipt tokens.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.webform import pages
from shared.adapters.reports_table import ReportTable
from shared.config import settings
from shared.domain import webform
from shared.domain.errors import (
    DomainError,
    InvalidReport,
    MalformedBody,
    PayloadTooLarge,
    ReportNotFound,
    StoreUnavailable,
    TokenConflict,
    UnsupportedMediaType,
    requirement,
)

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")
app = APIGatewayRestResolver()

SECURITY_HEADERS = {
    # Only this origin's own script and style; no framing, no <base>, forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
HTML = "text/html; charset=utf-8"

# Refusals that are not about one field: a plain page saying what to do.
PROBLEM_PAGES: dict[type[DomainError], tuple[int, str]] = {
    MalformedBody: (400, "Sorry, we could not read the form"),
    webform.CrossSiteRequest: (403, "Send the report from our own form"),
    PayloadTooLarge: (413, "The report is too long"),
    UnsupportedMediaType: (415, "Sorry, we could not read the form"),
}


def _table() -> ReportTable:
    return ReportTable(settings().table_name)


def _base() -> str:
    event = app.current_event
    return webform.base_path(event.headers.get("host"), event.request_context.stage)


def _page(status: int, body: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=HTML,
        body=body,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})},
    )


def _form_body() -> bytes:
    """The POSTed body, once the browser's headers say it was sent from our own page (size and media type are
    shared.domain.webform.read_fields' to check)."""
    event = app.current_event
    headers = event.headers
    webform.check_same_origin(headers.get("sec-fetch-site"), headers.get("origin"), headers.get("host"))
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise MalformedBody(
                "The body is not valid base64.", [requirement("", "rule.body.malformed_base64", "isBase64Encoded")]
            ) from None
    return body.encode("utf-8", "surrogatepass")


@app.get("/")
def show_form() -> Response[str]:
    metrics.add_metric(name="FormsShown", unit=MetricUnit.Count, value=1)  # with NewReports: how many get through
    return _page(200, pages.report_form(webform.ReportForm.blank(), base=_base()))


@app.post("/")
def send_form() -> Response[str]:
    form = webform.read_report_form(_form_body(), app.current_event.headers.get("content-type"))
    base = _base()
    try:
        receipt = webform.send(form, _table(), protected_buckets=settings().protected_buckets, now=datetime.now(UTC))
    except InvalidReport as refusal:
        logger.info("form refused", extra={"codes": sorted({r.code for r in refusal.requirements})})
        metrics.add_metric(name="FormsRefused", unit=MetricUnit.Count, value=1)
        return _page(422, pages.report_form(form.for_display(), base=base, problems=refusal.requirements))
    except TokenConflict:
        # The page was sent before with other answers (edited after Back). That report stands; these answers become
        # a new one when sent again, under a fresh nonce.
        logger.info("form nonce reused for new content")
        return _page(409, pages.report_form(form.with_new_nonce(), base=base, notice=webform.SENT_BEFORE))
    except StoreUnavailable as error:
        # Nothing was stored; the same nonce makes the retry safe, so the person just sends again.
        logger.warning("store unavailable", extra={"reason": str(error)})
        return _page(
            503, pages.report_form(form.for_display(), base=base, notice=webform.UNAVAILABLE), {"Retry-After": "1"}
        )
    logger.append_keys(report_id=receipt.report_id)
    logger.info("form report received", extra={"duplicate": receipt.duplicate, "kind": form.kind})
    metrics.add_metric(name="DuplicateReports" if receipt.duplicate else "NewReports", unit=MetricUnit.Count, value=1)
    return _page(200, pages.confirmation(receipt, form, base=base))


@app.get("/status")
def show_status_form() -> Response[str]:
    return _page(200, pages.status_form(webform.StatusForm(), base=_base()))


@app.post("/status")
def show_status() -> Response[str]:
    form = webform.read_status_form(_form_body(), app.current_event.headers.get("content-type"))
    base = _base()
    metrics.add_metric(name="StatusLookups", unit=MetricUnit.Count, value=1)
    try:
        view = webform.lookup(form, _table())
    except (InvalidReport, ReportNotFound) as refusal:
        status = 404 if isinstance(refusal, ReportNotFound) else 422
        return _page(status, pages.status_form(form, base=base, problems=refusal.requirements))
    return _page(200, pages.status_result(view, form.receipt_token.strip(), base=base))


@app.get("/assets/<name>")
def asset(name: str) -> Response[str]:
    content = pages.ASSETS.get(name)
    if content is None:
        return _page(404, pages.problem_page("Page not found", "There is nothing at this address.", base=_base()))
    # The URL carries the content's hash, so a browser may keep it for a year; a new version gets a new URL.
    return Response(
        status_code=200,
        content_type=pages.ASSET_TYPES[name],
        body=content.decode("utf-8"),
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"},
    )


@app.exception_handler(DomainError)
def refuse(error: DomainError) -> Response[str]:
    status, title = next((v for kind, v in PROBLEM_PAGES.items() if isinstance(error, kind)), (400, "Bad request"))
    logger.info("request refused", extra={"status": status, "codes": sorted({r.code for r in error.requirements})})
    return _page(status, pages.problem_page(title, error.message, base=_base()))


@app.exception_handler(StoreUnavailable)
def unavailable(error: StoreUnavailable) -> Response[str]:
    logger.warning("store unavailable", extra={"reason": str(error)})
    body = pages.problem_page("Sorry, please try again", "We could not look this up just now.", base=_base())
    return _page(503, body, {"Retry-After": "1"})


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _page(404, pages.problem_page("Page not found", "There is nothing at this address.", base=_base()))


# clear_state: a warm container must not stamp the previous request's report id on this one's logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
