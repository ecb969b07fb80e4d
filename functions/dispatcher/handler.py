"""Lambda adapter for the dispatcher: DynamoDB stream batches in, partial-batch failures out. No boto3 here.

Lambda resumes the shard at the lowest sequence number answered in batchItemFailures; everything before it is done.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.cases_table import CaseTable
from shared.adapters.queues import SqsOutbox
from shared.adapters.stream import read_records
from shared.config import settings
from shared.domain import dispatch

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


def _queues() -> dispatch.Queues:
    quarantine, escalation = settings().required("quarantine_queue_url", "escalation_queue_url")
    return dispatch.Queues(quarantine_url=quarantine, escalation_url=escalation)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = dispatch.dispatch(
        read_records(event.get("Records") or []),
        store=CaseTable(
            settings().table_name, contact_retention_days=settings().contact_retention_days, sla=settings().sla
        ),
        outbox=SqsOutbox(),
        queues=_queues(),
    )
    counts = {
        "records": len(event.get("Records") or []),
        "counted": result.counted,
        "replayed": result.replayed,
        "recovered": result.recovered,  # increments a crashed delivery stored and this one added
        "cases": result.cases,
        "messages": result.messages,
        "poison": result.poison,
        "failed": len(result.failed),
    }
    for message, fields in result.warnings:
        logger.warning(message, extra=fields)
    logger.info("stream batch dispatched", extra=counts)
    metrics.add_metric(name="ReportsCounted", unit=MetricUnit.Count, value=result.counted)
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=result.messages)
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(result.failed))
    return result.response()
