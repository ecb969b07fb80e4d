"""Lambda adapter for the completion worker: the table's stream of new decisions in, partial-batch failures out.

No boto3 here. shared.domain.outcomes says what a decision sets in motion and why it is safe to deliver again;
Lambda resumes the shard at the lowest sequence number answered in batchItemFailures. Logs carry ids and counts
only: never a reporter's address, never a word of a report, a statement or a note.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.completion import CompletionTable, read_decisions
from shared.adapters.mailer import SesMailer
from shared.config import settings
from shared.domain import outcomes

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    (sender,) = config.required("outcome_email_sender")
    records = event.get("Records") or []
    result = outcomes.complete_decisions(
        read_decisions(records),
        store=CompletionTable(config.table_name),
        mailer=SesMailer(sender, reply_to=config.trust_safety_email),
        contest_address=config.trust_safety_email,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    counts = {
        "records": len(records),
        "decisions": result.decisions,
        "completed": result.completed,
        "completedBefore": result.completed_before,  # by an earlier delivery of the same decision
        "superseded": result.superseded,
        "gone": result.gone,
        "withoutAddress": result.without_address,
        "emailsSent": result.emails_sent,
        "emailsNotSent": result.emails_not_sent,
        "emailsBefore": result.emails_before,
        "emailsInDoubt": result.emails_in_doubt,
        "poison": result.poison,
        "failed": len(result.failed),
    }
    for message, fields in result.warnings:
        logger.warning(message, extra=fields)
    logger.info("decisions carried out", extra=counts)
    metrics.add_metric(name="ReportsCompleted", unit=MetricUnit.Count, value=result.completed)
    metrics.add_metric(name="OutcomeEmailsSent", unit=MetricUnit.Count, value=result.emails_sent)
    metrics.add_metric(name="OutcomeEmailsNotSent", unit=MetricUnit.Count, value=result.emails_not_sent)
    metrics.add_metric(name="OutcomeEmailsInDoubt", unit=MetricUnit.Count, value=result.emails_in_doubt)
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(result.failed))
    return result.response()
