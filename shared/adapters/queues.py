"""The pipeline's SQS queues: batched sends for the dispatcher, visibility changes for the workers."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters import aws
from shared.domain.dispatch import Outgoing

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# A child of the function's Logger: its lines carry the function's service name and correlation id.
log = Logger(service="abuse-intake", child=True)


EVIDENCE_RETRY_SECONDS = 10


def retry_soon(
    queue_url: str, receipt_handle: str, *, seconds: int = EVIDENCE_RETRY_SECONDS, client: Any = None
) -> None:
    """Bring a message back in `seconds` instead of after the queue's visibility timeout.

    For a child-safety draft waiting on the quarantine worker's verified copy: that copy usually lands within seconds,
    and the draft should carry its hashes as soon as it does. Best effort: if the call fails, the visibility timeout
    brings the message back all the same.
    """
    with contextlib.suppress(ClientError, BotoCoreError):
        (client or aws.sqs()).change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
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
