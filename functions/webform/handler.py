"""Lambda adapter for the public web form: read the request, call shared.webform, answer with functions.webform.pages.
No boto3 here.

Routes (all public: no IAM, no API key; a WAF rate-based rule in the template limits POSTs per IP):
    GET  /               the report form
    POST /               send it: the confirmation page, or the form again with each error next to its field
    GET  /status         the status form: report reference + receipt token
    POST /status         the status; the token travels in the body, never in a URL (history, logs, Referer)
    GET  /assets/{name}  app.css, app.js and favicon.svg (the CSP allows no inline code)

A refusal is any DomainError: its class says the status, and pages.refusal shows the form that was sent again (kept
in the resolver's context by the route that read it) or a plain page when none was read.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.webform import pages
from shared.adapters.reports_table import ReportTable
from shared.adapters.server_secret import server_secret
from shared.config import settings
from shared.domain import webform
from shared.domain.errors import DomainError, StoreUnavailable

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")
app = APIGatewayRestResolver()


def _table() -> ReportTable:
    return ReportTable(settings().table_name)


def _base() -> str:
    return webform.base_path(app.current_event.headers.get("host"), app.current_event.request_context.stage)


def _posted() -> tuple[bytes, str | None]:
    event = app.current_event
    return webform.read_post(event.headers, event.body, base64_encoded=event.is_base64_encoded)


@app.get("/")
def show_form() -> Response[str]:
    metrics.add_metric(name="FormsShown", unit=MetricUnit.Count, value=1)  # with NewReports: how many get through
    return pages.page(200, pages.report_form(webform.ReportForm.blank(), base=_base()))


@app.post("/")
def send_form() -> Response[str]:
    form = app.context["form"] = webform.read_report_form(*_posted())
    (arn,) = settings().required("server_secret_arn")
    receipt = webform.send(form, _table(), secret=server_secret(arn), protected_buckets=settings().protected_buckets)
    logger.append_keys(report_id=receipt.report_id)
    logger.info("form report received", extra={"duplicate": receipt.duplicate, "kind": form.kind})
    metrics.add_metric(name="DuplicateReports" if receipt.duplicate else "NewReports", unit=MetricUnit.Count, value=1)
    return pages.page(200, pages.confirmation(receipt, form, base=_base()))


@app.get("/status")
def show_status_form() -> Response[str]:
    return pages.page(200, pages.status_form(webform.StatusForm(), base=_base()))


@app.post("/status")
def show_status() -> Response[str]:
    form = app.context["form"] = webform.read_status_form(*_posted())
    metrics.add_metric(name="StatusLookups", unit=MetricUnit.Count, value=1)
    view = webform.lookup(form, _table())
    return pages.page(200, pages.status_result(view, form.receipt_token.strip(), base=_base()))


@app.get("/assets/<name>")
def asset(name: str) -> Response[str]:
    return pages.asset(name, base=_base())


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return pages.page(404, pages.not_found(base=_base()))


@app.exception_handler(DomainError)
def refuse(error: DomainError) -> Response[str]:
    logger.info("request refused", extra={"status": error.status, "codes": sorted(r.code for r in error.requirements)})
    if isinstance(form := app.context.get("form"), webform.ReportForm):  # with FormsShown: where people give up
        metrics.add_metric(name="FormsRefused", unit=MetricUnit.Count, value=1)
    return pages.page(error.status, pages.refusal(error, form, base=_base()))


@app.exception_handler(StoreUnavailable)
def unavailable(error: StoreUnavailable) -> Response[str]:
    logger.warning("store unavailable", extra={"reason": str(error)})  # a DynamoDB error code, never request data
    body = pages.unavailable(app.context.get("form"), base=_base())
    return pages.page(error.status, body, {"Retry-After": str(error.retry_after_seconds)})


# clear_state: a warm container must not stamp the previous request's report id on this one's logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
