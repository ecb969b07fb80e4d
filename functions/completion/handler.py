"""Lambda adapter for the completion worker: the table's stream of new decisions in, partial-batch failures out (and,
for RELEASE and RESTRICT, one order per object of the case onto the quarantine queue).

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
from shared.adapters.queues import SqsFilingOrders, SqsObjectDecisions
from shared.config import settings
from shared.domain import outcomes

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    sender, quarantine_queue = config.required("outcome_email_sender", "quarantine_queue_url")
    records = event.get("Records") or []
    result = outcomes.complete_decisions(
        read_decisions(records),
        store=CompletionTable(config.table_name),
        mailer=SesMailer(sender, reply_to=config.trust_safety_email),
        orders=SqsObjectDecisions(quarantine_queue),
        # Child-safety cases decided ACTIONED are filed with NCMEC; without the queue such a decision fails its record.
        filings=SqsFilingOrders(config.cybertipline_queue_url) if config.cybertipline_queue_url else None,
        contest_address=config.trust_safety_email,
        contact_retention_days=config.contact_retention_after_close_days,
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
        "contactsRetained": result.contacts_retained,
        "objectsOrdered": result.objects_ordered,  # one message per object of a RELEASE or RESTRICT
        "objectsSuperseded": result.objects_superseded,
        "filingsOrdered": result.filings_ordered,  # a newer decision of the case stands: nothing ordered
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
    metrics.add_metric(name="ObjectDecisionsOrdered", unit=MetricUnit.Count, value=result.objects_ordered)
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(result.failed))
    return result.response()
