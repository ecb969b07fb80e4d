"""Lambda adapter for the quarantine worker: an SQS batch of QuarantineRequests in, partial failures out. No boto3.

Each message runs `shared.domain.quarantine.quarantine` once; an ObjectDecision (the completion worker's word of an
analyst's RELEASE or RESTRICT, on one object) runs `quarantine.carry_out` instead. A message that fails (S3 or
DynamoDB unavailable, a copy that does not verify) is listed in batchItemFailures and comes back after the
visibility timeout; either sequence is safe to repeat from the start. After 5 receives the queue moves it to the
DLQ, whose alarm pages someone. A body that is neither fails the same way: it can never succeed, but the DLQ keeps
it for a person to read.

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
from shared.domain.messages import ObjectDecision, QuarantineRequest
from shared.domain.quarantine import Released, Status, Vault

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")

METRIC_OF = {
    Status.REFUSED: "QuarantineRefused",
    Status.SOURCE_GONE: "QuarantineSourceGone",
    Status.PRESERVED: "ObjectsPreserved",
    Status.RESTRICTED: "ObjectsRestricted",
    Status.RELEASED: "ObjectsReleased",
}


class QuarantineRecord(SqsRecordModel):
    # Either shape, told apart by its fields (each forbids the other's): the dispatcher's requests as they always were,
    # and the completion worker's orders for an analyst's decision.
    body: Json[QuarantineRequest | ObjectDecision]


processor = BatchProcessor(event_type=EventType.SQS, model=QuarantineRecord)


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"{variable} is not set: the quarantine worker needs it")
    return value


def handle(record: QuarantineRecord, lambda_context: LambdaContext) -> str:
    message = record.body
    config = settings()
    vault = Vault(
        bucket=_required(config.evidence_bucket, "EVIDENCE_BUCKET"),
        kms_key_id=_required(config.evidence_kms_key_id, "EVIDENCE_KMS_KEY_ID"),
        retention_days=config.evidence_retention_days,
    )
    store = S3Evidence(vault, config.protected_buckets)
    custody = CustodyLog(config.table_name)
    actor = f"{lambda_context.function_name}/{lambda_context.aws_request_id}"
    if isinstance(message, ObjectDecision):
        return _carry_out(message, record.messageId, store, custody, vault, config.protected_buckets, actor)
    request = message
    logger.append_keys(report_id=request.report_id, case_id=request.case_id, message_id=record.messageId)
    try:
        outcome = quarantine.quarantine(
            request,
            store=store,
            custody=custody,
            vault=vault,
            protected_buckets=config.protected_buckets,
            ready=SqsEvidenceReady(_required(config.escalation_queue_url, "ESCALATION_QUEUE_URL")),
            actor=actor,
        )
    except Exception as error:
        _failed(error, "quarantine failed; the message will come back")
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


def _carry_out(
    order: ObjectDecision,
    message_id: str,
    store: S3Evidence,
    custody: CustodyLog,
    vault: Vault,
    protected_buckets: frozenset[str],
    actor: str,
) -> str:
    """An analyst's RELEASE or RESTRICT on one object; failures come back like a quarantine's (the steps repeat)."""
    logger.append_keys(decision_id=order.decision_id, case_id=order.case_id, message_id=message_id)
    try:
        outcome = quarantine.carry_out(
            order, store=store, custody=custody, vault=vault, protected_buckets=protected_buckets, actor=actor
        )
    except Exception as error:
        _failed(error, "decision not carried out; the message will come back")
        raise
    extra: dict[str, Any] = {"analystAction": order.analyst_action, "outcome": str(outcome.status)}
    if isinstance(outcome, Released):
        extra |= {"versions": outcome.versions, "lifted": outcome.lifted, "kept": outcome.kept}
        metrics.add_metric(name="RestrictionsLifted", unit=MetricUnit.Count, value=outcome.lifted)
    else:
        extra |= {"objectId": outcome.object_id, "copied": outcome.copied}
        if outcome.copied:
            metrics.add_metric(name="EvidenceCopies", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=METRIC_OF[outcome.status], unit=MetricUnit.Count, value=1)
    if outcome.status is Status.REFUSED:
        logger.error("decision refused: bucket is not protected", extra={**extra, "bucket": order.bucket})
    else:
        logger.info("decision carried out", extra=extra)
    return str(outcome.status)


def _failed(error: Exception, message: str) -> None:
    metrics.add_metric(name="QuarantineFailures", unit=MetricUnit.Count, value=1)
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    logger.warning(message, extra={"error": type(error).__name__, "code": code})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
