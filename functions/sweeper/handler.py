"""Lambda adapter for the sweeper: an EventBridge schedule in, stranded reports and escalations sent on. No boto3 here.

shared/domain/sweep.py says what is swept and why it is safe. The schedule's event carries the time it fired; a retried
invocation of the same sweep sees the same time, so its re-sent escalations are FIFO repeats SQS drops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.cases_table import CaseTable
from shared.adapters.queues import SqsOutbox
from shared.adapters.reports_table import QueuedReports
from shared.config import settings
from shared.domain import dispatch, sweep

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


def _fired_at(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        return datetime.now(UTC)  # invoked by hand (sam local invoke with another event): sweep as of now


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    quarantine, escalation = config.required("quarantine_queue_url", "escalation_queue_url")
    result = sweep.sweep(
        _fired_at(event),
        queued=QueuedReports(config.table_name),
        waiting=CaseTable(config.table_name),
        store=CaseTable(config.table_name, contact_retention_days=config.contact_retention_days, sla=config.sla),
        outbox=SqsOutbox(),
        queues=dispatch.Queues(quarantine_url=quarantine, escalation_url=escalation),
    )
    found = {
        "queuedListed": result.queued_listed,
        "queuedFound": result.queued_found,
        "redispatched": result.redispatched,
        "failed": result.failed,
        "oldestQueuedAgeSeconds": round(result.oldest_queued_age),
        "waitingFound": result.waiting_found,
        "resent": result.resent,
    }
    for message, fields in result.warnings:
        logger.warning(message, extra=fields)
    if result.queued_found or result.waiting_found:
        logger.warning("sweep found stranded work", extra=found)
    else:
        logger.info("sweep found nothing", extra=found)
    # Emitted every run, zeros included: an alarm on them then sees a healthy system, not missing data.
    metrics.add_metric(name="SweptQueuedReports", unit=MetricUnit.Count, value=result.queued_found)
    metrics.add_metric(name="SweptWaitingEscalations", unit=MetricUnit.Count, value=result.waiting_found)
    metrics.add_metric(name="SweepRedispatchFailures", unit=MetricUnit.Count, value=result.failed)
    metrics.add_metric(name="OldestQueuedReportAgeSeconds", unit=MetricUnit.Seconds, value=result.oldest_queued_age)
    return found
