"""Lambda adapter for the quarantine worker: an SQS batch of QuarantineRequests in, partial failures out. No boto3.

Each message runs `shared.domain.quarantine.quarantine` once. A message that fails (S3 or DynamoDB unavailable, a
copy that does not verify) is listed in batchItemFailures and comes back after the visibility timeout; the sequence
is safe to repeat from the start. After 5 receives the queue moves it to the DLQ, whose alarm pages someone. A body
that is not a QuarantineRequest fails the same way: it can never succeed, but the DLQ keeps it for a person to read.

A message naming a bucket outside the allow-list is acknowledged, not retried. The refusal is deterministic (the
allow-list is configuration), so retries would only repeat it five times and then park it in a DLQ whose meaning is
"could not be processed, redrive me", which would be false. Instead it is logged and counted (QuarantineRefused),
and an alarm on that metric says the dispatcher and this worker disagree about what is protected.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from shared.adapters.custody_log import CustodyLog
from shared.adapters.evidence_bucket import S3Evidence
from shared.adapters.queues import SqsEvidenceReady
from shared.config import settings
from shared.domain import quarantine
from shared.domain.messages import QuarantineRequest
from shared.domain.quarantine import Status, Vault

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")

METRIC_OF = {
    Status.REFUSED: "QuarantineRefused",
    Status.SOURCE_GONE: "QuarantineSourceGone",
    Status.PRESERVED: "ObjectsPreserved",
    Status.RESTRICTED: "ObjectsRestricted",
}


class QuarantineRecord(SqsRecordModel):
    body: Json[QuarantineRequest]


processor = BatchProcessor(event_type=EventType.SQS, model=QuarantineRecord)


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"{variable} is not set: the quarantine worker needs it")
    return value


def handle(record: QuarantineRecord, lambda_context: LambdaContext) -> str:
    request = record.body
    config = settings()
    vault = Vault(
        bucket=_required(config.evidence_bucket, "EVIDENCE_BUCKET"),
        kms_key_id=_required(config.evidence_kms_key_id, "EVIDENCE_KMS_KEY_ID"),
        retention_days=config.evidence_retention_days,
    )
    logger.append_keys(report_id=request.report_id, case_id=request.case_id, message_id=record.messageId)
    try:
        outcome = quarantine.quarantine(
            request,
            store=S3Evidence(vault, config.protected_buckets),
            custody=CustodyLog(config.table_name),
            vault=vault,
            protected_buckets=config.protected_buckets,
            ready=SqsEvidenceReady(_required(config.escalation_queue_url, "ESCALATION_QUEUE_URL")),
            actor=f"{lambda_context.function_name}/{lambda_context.aws_request_id}",
        )
    except Exception as error:
        metrics.add_metric(name="QuarantineFailures", unit=MetricUnit.Count, value=1)
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        logger.warning(
            "quarantine failed; the message will come back", extra={"error": type(error).__name__, "code": code}
        )
        raise
    metrics.add_metric(name=METRIC_OF[outcome.status], unit=MetricUnit.Count, value=1)
    if outcome.copied:
        metrics.add_metric(name="EvidenceCopies", unit=MetricUnit.Count, value=1)
    # Ids, hashes of keys and outcomes only: never the object key, never its bytes.
    extra: dict[str, Any] = {"outcome": str(outcome.status), "objectId": outcome.object_id, "copied": outcome.copied}
    if outcome.status is Status.REFUSED:
        extra["bucket"] = request.bucket
        logger.error("quarantine refused: bucket is not protected", extra=extra)
    else:
        logger.info("quarantine", extra={**extra, "verifiedBy": outcome.verified_by})
    return str(outcome.status)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
