"""`make redrive QUEUE=<name>`: move every message of a dead-letter queue of the running `make run` back to its source.

A second process cannot find the local stack's AWS on its own: the embedded moto listens on a port chosen at start-up.
So the local stack describes itself in its state directory (``advertise``: ``running-stack.json`` in ``.local-state/``,
``--state-dir`` or $LOCAL_STATE_DIR; removed on a clean stop): the endpoint it uses (embedded moto or
AWS_ENDPOINT_URL), its region, its queues' names, URLs and ARNs, and for each dead-letter queue the queues whose
RedrivePolicy names it, resolved from the template. ``python -m local.redrive QUEUE`` reads that file, so it works
against whatever the stack runs on, and never reaches anything else (no file, no redrive).

QUEUE is a logical id (``QuarantineDLQ``) or a queue name. The move is SQS's StartMessageMoveTask when the endpoint
implements it (moto does not; its server then logs one NotImplementedError in the stack's log), otherwise batches of
10: receive, send to the source queue (a FIFO message keeps its group; its deduplication id becomes the DLQ message's
id, so running the redrive again after a crash sends nothing twice within SQS's five-minute window), delete what was
sent. The stream's on-failure queue is nobody's dead-letter queue and is refused: its records hold shard positions
only, the reports themselves are in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.checkpoints import default_state_dir
from local.world import World

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

STACK_FILE = "running-stack.json"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_BATCH = 10  # SQS's batch limit
_IN_FLIGHT_SECONDS = 60  # a received message that could not be sent is back in the DLQ after this
_MOVE_TASK_DEADLINE_SECONDS = 300.0
_MOVE_TASK_POLL_SECONDS = 1.0  # how often to look at a running move task, within the deadline above
# How an endpoint says it has no StartMessageMoveTask (moto answers 500 with a NotImplementedError page).
_NOT_IMPLEMENTED = ("InvalidAction", "UnsupportedOperation", "NotImplemented", "UnknownOperationException", "500")


class RedriveError(Exception):
    """Nothing was moved, or not everything; the message says why (exit status 1, or 2 for a queue named wrongly)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# --- the running stack describes itself ----------------------------------------------------------------------------


def advertise(world: World, state_dir: Path) -> Callable[[], None]:
    """Write the stack file for ``python -m local.redrive``; returns what removes it (call on a clean stop)."""
    queues = {
        logical_id: {"name": resource.name, "url": str(resource.ref), "arn": str(resource.attributes["Arn"])}
        for logical_id, resource in world.resources.items()
        if resource.type == "AWS::SQS::Queue"
    }
    logical_of_arn = {queue["arn"]: logical_id for logical_id, queue in queues.items()}
    sources: dict[str, list[str]] = {}
    for logical_id in queues:
        policy = world.resolve(world.template.properties(logical_id)).get("RedrivePolicy")
        if isinstance(policy, str):
            policy = json.loads(policy)
        target = logical_of_arn.get(str((policy or {}).get("deadLetterTargetArn")))
        if target:
            sources.setdefault(target, []).append(logical_id)
    description = {
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "region": world.region,
        "stackName": world.stack_name,
        "pid": os.getpid(),
        "queues": queues,
        "deadLetterSources": sources,
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STACK_FILE
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(description, indent=2) + "\n")
    os.replace(scratch, path)
    return lambda: path.unlink(missing_ok=True)


def running_stack(state_dir: Path) -> dict[str, Any]:
    path = state_dir / STACK_FILE
    try:
        description: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise RedriveError(f"no running local stack described in {path}: start `make run` first") from None
    except ValueError as error:
        raise RedriveError(f"{path} is not the local stack's description ({error}); restart `make run`") from None
    if not description.get("endpoint"):
        raise RedriveError(f"{path} names no endpoint; restart `make run`")
    return description


def stack_sqs(description: Mapping[str, Any]) -> SQSClient:
    """A client of the stack's own endpoint; a local endpoint gets dummy credentials when none are exported."""
    endpoint = str(description["endpoint"])
    session = boto3.Session(region_name=str(description["region"]))
    if urlsplit(endpoint).hostname in _LOOPBACK and not os.environ.get("AWS_ACCESS_KEY_ID"):
        session = boto3.Session(
            region_name=str(description["region"]), aws_access_key_id="testing", aws_secret_access_key="testing"
        )
    config = Config(retries={"total_max_attempts": 1})  # an answer that says "not implemented" is final
    return session.client("sqs", endpoint_url=endpoint, config=config)


# --- the move ------------------------------------------------------------------------------------------------------


def redrive(description: Mapping[str, Any], queue: str, sqs: SQSClient, out: Any = sys.stdout) -> int:
    """Move every message of the DLQ ``queue`` (logical id or name) back to its source queue; the number moved."""
    queues: Mapping[str, Mapping[str, str]] = description["queues"]
    logical_id = next((lid for lid, q in queues.items() if queue in (lid, q["name"])), None)
    if logical_id is None:
        raise RedriveError(f"{queue} is not a queue of the local stack (its queues: {', '.join(queues)})", 2)
    sources = description["deadLetterSources"].get(logical_id) or []
    if not sources:
        dlqs = ", ".join(description["deadLetterSources"]) or "none"
        raise RedriveError(
            f"{logical_id} is no queue's dead-letter queue (they are: {dlqs}). The stream's on-failure queue holds "
            "shard positions, not reports: the reports are in the table, and the sweeper re-dispatches them.",
            2,
        )
    if len(sources) > 1:
        raise RedriveError(f"{logical_id} is the dead-letter queue of {', '.join(sources)}: which one is ambiguous", 2)
    dlq, source = queues[logical_id], queues[sources[0]]
    moved = _move_task(sqs, dlq["arn"], source["arn"], out)
    if moved is None:
        moved = _move_by_batches(sqs, dlq["url"], source["url"], fifo=source["name"].endswith(".fifo"))
    print(f"moved {moved} message{'' if moved == 1 else 's'} from {dlq['name']} to {source['name']}", file=out)
    return moved


def _move_task(sqs: SQSClient, dlq_arn: str, source_arn: str, out: Any) -> int | None:
    """SQS's own redrive; None when the endpoint does not implement it."""
    try:
        handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=source_arn)["TaskHandle"]
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_IMPLEMENTED or status in ("500", "501"):
            print("StartMessageMoveTask is not implemented here; moving in batches of 10", file=out)
            return None
        raise
    deadline = time.monotonic() + _MOVE_TASK_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        for task in sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]:
            if task.get("TaskHandle") not in (None, handle):
                continue
            if task.get("Status") == "COMPLETED":
                return int(task.get("ApproximateNumberOfMessagesMoved", 0))
            if task.get("Status") in ("FAILED", "CANCELLED"):
                raise RedriveError(f"the move task {task.get('Status')}: {task.get('FailureReason', 'no reason')}")
        time.sleep(_MOVE_TASK_POLL_SECONDS)  # a poll interval within a deadline
    raise RedriveError(f"the move task did not finish within {_MOVE_TASK_DEADLINE_SECONDS:.0f}s; it may still run")


def _move_by_batches(sqs: SQSClient, dlq_url: str, source_url: str, *, fifo: bool) -> int:
    moved = failed = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=_BATCH,
            WaitTimeSeconds=1,
            VisibilityTimeout=_IN_FLIGHT_SECONDS,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        if not messages:
            break
        entries: list[Any] = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            attributes = {
                name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
                for name, value in (message.get("MessageAttributes") or {}).items()
            }
            if attributes:
                entry["MessageAttributes"] = attributes
            if fifo:
                entry["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
                entry["MessageDeduplicationId"] = message["MessageId"]
            entries.append(entry)
        answer = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        sent = {item["Id"] for item in answer.get("Successful", [])}
        failed += len(messages) - len(sent)
        if sent:
            done: Any = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
                if str(index) in sent
            ]
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
            moved += len(sent)
    if failed:
        raise RedriveError(f"moved {moved}; {failed} could not be sent (back in the DLQ in {_IN_FLIGHT_SECONDS}s)")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.redrive",
        description="Move every message of a dead-letter queue of the running `make run` back to its source queue.",
    )
    parser.add_argument("queue", help="the DLQ's logical id (e.g. QuarantineDLQ) or queue name")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="the local stack's state directory (default: as `make run`)"
    )
    args = parser.parse_args(argv)
    try:
        description = running_stack(args.state_dir or default_state_dir())
        redrive(description, args.queue, stack_sqs(description))
    except RedriveError as error:
        print(f"redrive: {error}", file=sys.stderr)
        return error.status
    except (BotoCoreError, ClientError) as error:
        print(f"redrive: the local stack's endpoint did not answer as expected ({error}); is `make run` running?",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
