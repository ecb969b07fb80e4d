"""Lambda adapter for the partner API: routes call shared.domain.intake; a domain error answers with its status."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.intake_evidence import IntakeEvidence
from shared.adapters.reports_table import ReportTable
from shared.adapters.server_secret import server_secret
from shared.config import settings
from shared.domain import intake
from shared.domain.answers import API_SECURITY_HEADERS, BatchAnswer, Refusal
from shared.domain.callers import Caller, identify, principal_of
from shared.domain.errors import DomainError, StoreUnavailable

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")
app = APIGatewayRestResolver()


def _table() -> ReportTable:
    return ReportTable(settings().table_name)


def _evidence() -> IntakeEvidence | None:
    # None where no evidence bucket is configured: reports without payloads are still taken, those with get a 503.
    config = settings()
    if config.evidence_bucket is None or config.evidence_kms_key_id is None:
        return None
    return IntakeEvidence(config.evidence_bucket, config.evidence_kms_key_id)


def _secret() -> bytes:
    (arn,) = settings().required("server_secret_arn")
    return server_secret(arn)


def _caller() -> Caller:
    identity = app.current_event.request_context.identity
    return identify(principal_of(identity.user_arn, identity.access_key), settings().partners)


def _submitted() -> bytes:
    """The body, once its envelope (media type, size) is worth parsing."""
    event = app.current_event
    body = intake.request_body(event.body, base64_encoded=event.is_base64_encoded)
    intake.check_envelope(event.headers.get("content-type"), len(body), settings().max_body_bytes)
    return body


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Response[str]:
    headers = {**API_SECURITY_HEADERS, **(headers or {})}
    return Response(status, "application/json", json.dumps(body, separators=(",", ":")), headers=headers)


@app.post("/v1/reports")
def submit_report() -> Response[str]:
    protected = settings().protected_buckets
    receipt = intake.submit_json(
        _submitted(), _caller(), _table(), secret=_secret(), protected_buckets=protected, evidence=_evidence()
    )
    logger.append_keys(report_id=receipt.report_id)
    logger.info("report received", extra={"duplicate": receipt.duplicate})
    metrics.add_metric(name="DuplicateReports" if receipt.duplicate else "NewReports", unit=MetricUnit.Count, value=1)
    return _json(202, receipt.as_json())


@app.post("/v1/reports/batch")
def submit_batch() -> Response[str]:
    protected = settings().protected_buckets
    results = intake.submit_batch_json(
        _submitted(), _caller(), _table(), secret=_secret(), protected_buckets=protected, evidence=_evidence()
    )
    logger.info("batch received", extra={"items": len(results), "statuses": dict(Counter(r.status for r in results))})
    metrics.add_metric(name="BatchItems", unit=MetricUnit.Count, value=len(results))
    return _json(200, BatchAnswer(results=[result.answer() for result in results]).as_json())


@app.get("/v1/openapi.json")
def openapi_document() -> Response[str]:
    from functions.intake.openapi import document

    return _json(200, document(), headers={"Cache-Control": "public, max-age=300"})


@app.get("/v1/docs")
def api_docs() -> Response[str]:
    from functions.intake.docs import docs_headers, docs_page  # as above: Jinja2 only for the people reading docs

    return Response(200, "text/html; charset=utf-8", docs_page(), headers=docs_headers())


@app.get("/v1/reports/<reportId>")
def get_report(reportId: str) -> Response[str]:  # noqa: N803  (the route's parameter name)
    view = intake.status(reportId, _caller(), app.current_event.headers.get("x-receipt-token"), _table())
    return _json(200, view.as_json())


@app.get("/v1/reports")
def list_reports() -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    listed = intake.statuses_by_correlation(
        _caller(), query.get("correlationId"), query.get("maxResults"), query.get("nextToken"), _table()
    )
    return _json(200, listed.as_json())


@app.exception_handler(DomainError)
def refuse(error: DomainError) -> Response[str]:
    logger.info(
        "request refused", extra={"status": error.status, "codes": sorted({r.code for r in error.requirements})}
    )
    return _json(error.status, Refusal.of(error).as_json())


@app.exception_handler(StoreUnavailable)
def unavailable(error: StoreUnavailable) -> Response[str]:
    # Nothing was accepted; the caller retries (with its clientToken, the retry is safe).
    logger.warning("store unavailable", extra={"reason": str(error)})
    return _json(error.status, {"message": "Try again shortly."}, {"Retry-After": str(error.retry_after_seconds)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
