"""Lambda adapter for the escalation worker: FIFO SQS batches of EscalationRequests in, partial failures out.

No boto3 here. Powertools' FIFO processor keeps a case's order: when a message fails, the later messages of the same
case (message group) in the batch are handed back unprocessed, other cases go on. A failed message returns after
the visibility timeout and, after the queue's maxReceiveCount, lands in the DLQ, whose alarm pages someone. A body
that is not an EscalationRequest fails the same way (it is kept there for a person to read).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from shared.adapters.cases_table import CaseTable
from shared.adapters.custody_log import CustodyEvidenceIndex, CustodyLog
from shared.adapters.evidence_bucket import S3Drafts
from shared.adapters.topic import SnsOnCall
from shared.config import settings
from shared.domain import escalation
from shared.domain.messages import EscalationRequest

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")


class EscalationRecord(SqsRecordModel):
    body: Json[EscalationRequest]


processor = SqsFifoPartialProcessor(model=EscalationRecord, skip_group_on_error=True)
# A batch whose every message failed is answered like any partial failure, not as a crash: the Errors alarm is for
# crashes, EscalationFailures for failed messages.
processor.raise_on_entire_batch_failure = False


def handle(record: EscalationRecord) -> None:
    request = record.body
    config = settings()
    bucket, key_id, topic, contact = config.required(
        "evidence_bucket", "evidence_kms_key_id", "oncall_topic_arn", "trust_safety_email"
    )
    logger.append_keys(case_id=request.case_id, report_id=request.report_id, message_id=record.messageId)
    try:
        outcome = escalation.escalate(
            request,
            cases=CaseTable(config.table_name),
            evidence=CustodyEvidenceIndex(bucket, CustodyLog(config.table_name)),
            drafts=S3Drafts(bucket, key_id),
            oncall=SnsOnCall(topic),
            contact_email=contact,
        )
    except Exception as error:
        metrics.add_metric(name="EscalationFailures", unit=MetricUnit.Count, value=1)
        logger.warning("escalation not completed; the message will come back", extra={"error": type(error).__name__})
        raise
    logger.info(
        "escalated",
        extra={
            "severity": str(request.severity),
            "drafted": outcome.drafted,
            "notified": outcome.notified,
            "pendingFiles": outcome.pending_files,
        },
    )
    if outcome.notified:
        metrics.add_metric(name="OnCallNotified", unit=MetricUnit.Count, value=1)
    if outcome.pending_files:
        # Expected for the seconds a copy takes: the quarantine worker's request for the verified copy completes the
        # draft, and the sweeper sends this request again if the case is still waiting after 15 minutes.
        metrics.add_metric(name="DraftsAwaitingEvidence", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
