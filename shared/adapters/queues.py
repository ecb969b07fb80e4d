"""The pipeline's SQS queues: batched sends for the dispatcher, the quarantine worker's evidence-ready message, and the
completion worker's orders to the quarantine worker for an analyst's decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.domain.dispatch import Outgoing
from shared.domain.messages import EscalationRequest, FilingRequest, ObjectDecision
from shared.domain.outcomes import QueueUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# A child of the function's Logger: its lines carry the function's service name and correlation id.
log = Logger(service="abuse-intake", child=True)


class SqsEvidenceReady:
    """The quarantine worker's word to the escalation worker that a child-safety copy is verified (FIFO: the case's
    group, so it runs after the case's earlier requests and never beside them)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def send(self, request: EscalationRequest, deduplication_id: str) -> None:
        # Any failure propagates: the quarantine message fails and its redelivery repeats the (idempotent) sequence,
        # this send included.
        (self._client or aws.sqs()).send_message(
            QueueUrl=self.queue_url,
            MessageBody=request.model_dump_json(),
            MessageGroupId=request.case_id,
            MessageDeduplicationId=deduplication_id,
        )


SQS_BATCH_LIMIT = 10  # entries per SendMessageBatch
SEND_ATTEMPTS = 3  # per message, for entries SQS refuses without blaming the sender (throttling, internal errors)


class SqsOutbox:
    """SendMessageBatch, ten at a time; entries SQS refused for reasons of its own are retried, and only they."""

    def __init__(self, client: SQSClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SQSClient:
        return self._client or aws.sqs()

    def send(self, queue_url: str, messages: Sequence[Outgoing]) -> set[int]:
        failed: set[int] = set()
        queue = [(index, 1) for index in range(len(messages))]  # (message index, attempt)
        while queue:
            # Retried entries join the next call with fresh ones, so a retry does not cost a call of its own.
            chunk, queue = queue[:SQS_BATCH_LIMIT], queue[SQS_BATCH_LIMIT:]
            entries: list[Any] = [_entry(str(position), messages[index]) for position, (index, _) in enumerate(chunk)]
            try:
                answer = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except ClientError as exc:
                log.warning("send failed", extra={"code": exc.response.get("Error", {}).get("Code"), "n": len(chunk)})
                failed |= {index for index, _ in chunk}
                continue
            except Exception as exc:  # connection errors after botocore's retries
                log.warning("send failed", extra={"code": type(exc).__name__, "n": len(chunk)})
                failed |= {index for index, _ in chunk}
                continue
            for entry in answer.get("Failed", []):
                index, attempt = chunk[int(entry["Id"])]
                if entry.get("SenderFault") or attempt >= SEND_ATTEMPTS:
                    log.warning(
                        "message refused", extra={"code": entry.get("Code"), "senderFault": entry.get("SenderFault")}
                    )
                    failed.add(index)
                else:
                    queue.append((index, attempt + 1))
        return failed


def _entry(entry_id: str, message: Outgoing) -> dict[str, str]:
    entry = {"Id": entry_id, "MessageBody": message.body}
    if message.group_id is not None:
        entry["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        entry["MessageDeduplicationId"] = message.deduplication_id
    return entry


class SqsObjectDecisions:
    """The completion worker's orders (one ObjectDecision per object of a RELEASE or RESTRICT decision), ten to a
    SendMessageBatch onto the quarantine queue. No deduplication id: the queue is a standard one, and the worker's
    steps have fixed custody ids and check the tag before they change it, so a second copy changes nothing."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self.outbox = SqsOutbox(client)

    def send(self, orders: Sequence[ObjectDecision]) -> int:
        return len(self.outbox.send(self.queue_url, [Outgoing(order.model_dump_json()) for order in orders]))


class SqsFilingOrders:
    """The completion worker's word that a case must be filed with the CyberTipline: one message into the case's
    group of the FIFO filing queue (one filer at a time per case), deduplicated by the decision's id."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self.outbox = SqsOutbox(client)

    def send(self, request: FilingRequest) -> None:
        message = Outgoing(request.model_dump_json(), group_id=request.case_id, deduplication_id=request.decision_id)
        if self.outbox.send(self.queue_url, [message]):
            raise QueueUnavailable(f"filing request for case {request.case_id} not sent")
