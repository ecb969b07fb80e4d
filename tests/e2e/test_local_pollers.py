"""`python -m local` feeding functions from a DynamoDB stream and an SQS queue, across a SIGKILL and a restart.

A synthetic template with tiny handlers (written to tmp_path) that append what they receive to files and ping the
test over UDP each time, so the test wakes when something happened and reads the files with a deadline: no sleeps.
Against an endpoint that outlives the process (a ThreadedMotoServer the test starts, passed as AWS_ENDPOINT_URL),
a restart with the same state directory resumes the stream after its last checkpoint: every record at least once,
none skipped, and none of the batches finished before the kill delivered again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.stack import Running, call, environment, local_stack

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 60.0

APP_MODULE = """\
import json, os, socket, threading

MARKS = os.environ["E2E_MARKS_DIR"]


def _mark(name, line):
    with open(os.path.join(MARKS, name), "a") as marks:
        marks.write(line + "\\n")
    # Wakes the test up; the file is what it reads.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ping:
        ping.sendto(name.encode(), ("127.0.0.1", int(os.environ["E2E_PING_PORT"])))


def record_items(event, context):
    keys = [record["dynamodb"]["Keys"]["PK"]["S"] for record in event["Records"]]
    _mark("stream.log", json.dumps({"keys": keys, "request": context.aws_request_id}))
    if "item-07" in keys and not os.environ.get("E2E_GATE_OPEN"):
        _mark("blocked.log", "item-07")
        threading.Event().wait(120)  # in flight until the test kills the process (bounded, should it not)


def do_jobs(event, context):
    for record in event["Records"]:
        _mark("jobs.log", record["body"])


def put_item(event, context):
    import boto3

    item = {"PK": {"S": json.loads(event["body"])["pk"]}}
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    return {"statusCode": 201, "body": ""}
"""

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: .
    Timeout: 30
    Environment:
      Variables:
        TABLE_NAME: !Ref Items
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Jobs:
    Type: AWS::SQS::Queue
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_pollers_app.record_items
      Events:
        Changes:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Items.StreamArn, StartingPosition: TRIM_HORIZON, BatchSize: 3}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_pollers_app.do_jobs
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 10}}
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_pollers_app.put_item
      Events:
        Put: {Type: Api, Properties: {Path: /items, Method: post}}
"""


class Marks:
    """What the handlers wrote, and a way to wait for more of it without sleeping."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ping.bind(("127.0.0.1", 0))

    @property
    def ping_port(self) -> int:
        return int(self.ping.getsockname()[1])

    def lines(self, name: str) -> list[str]:
        path = self.directory / name
        return path.read_text().splitlines() if path.exists() else []

    def batches(self) -> list[list[str]]:
        return [json.loads(line)["keys"] for line in self.lines("stream.log")]

    def wait_until(self, done: Callable[[], bool], what: str, running: Running) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {what} within {DEADLINE_SECONDS}s:\n{running.stderr.read_text()[-4000:]}")
            self.ping.settimeout(min(remaining, 1.0))  # wake at least every second: some effects send no ping
            with contextlib.suppress(TimeoutError):
                self.ping.recv(64)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Path, Marks]]:
    (tmp_path / "local_e2e_pollers_app.py").write_text(APP_MODULE)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "marks").mkdir()
    marks = Marks(tmp_path / "marks")
    try:
        yield tmp_path / "template.yaml", marks
    finally:
        marks.ping.close()


def test_a_sigkill_mid_stream_and_a_restart_deliver_every_record_at_least_once(
    tmp_path: Path, app: tuple[Path, Marks]
) -> None:
    from moto.server import ThreadedMotoServer

    template, marks = app
    state_dir = tmp_path / "state"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        client: dict[str, Any] = {"endpoint_url": aws["AWS_ENDPOINT_URL"], "region_name": "us-east-1"}
        client.update(aws_access_key_id="testing", aws_secret_access_key="testing")
        ddb, sqs = boto3.client("dynamodb", **client), boto3.client("sqs", **client)
        env = environment(**aws, E2E_MARKS_DIR=str(marks.directory), E2E_PING_PORT=str(marks.ping_port))
        args = ("--template", str(template), "--state-dir", str(state_dir))
        items = [f"item-{n:02d}" for n in range(12)]

        with local_stack(tmp_path, *args, env=env) as first:
            table = "abuse-intake-local-Items"
            queue_url = sqs.get_queue_url(QueueName="abuse-intake-local-Jobs")["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody="job-1")
            for pk in items:
                ddb.put_item(TableName=table, Item={"PK": {"S": pk}})

            marks.wait_until(lambda: marks.lines("jobs.log") == ["job-1"], "SQS delivery", first)
            marks.wait_until(lambda: _queue_is_empty(sqs, queue_url), "deletion of the delivered message", first)
            marks.wait_until(lambda: bool(marks.lines("blocked.log")), "batch holding item-07", first)

            first.process.kill()  # SIGKILL while the batch with item-07 is in flight
            first.process.wait()
        before_kill = marks.batches()
        in_flight = before_kill[-1]
        assert "item-07" in in_flight
        finished = [pk for batch in before_kill[:-1] for pk in batch]
        assert finished  # BatchSize 3: item-07 cannot be in the first batch
        assert finished == items[: len(finished)]  # in order, and everything up to the batch in flight

        checkpoints = list(state_dir.glob("stream-*.json"))
        assert len(checkpoints) == 1
        saved = json.loads(checkpoints[0].read_text())
        assert saved["key"]["endpoint"] == aws["AWS_ENDPOINT_URL"]
        assert not any(pk in checkpoints[0].read_text() for pk in items)  # positions only, never keys

        env["E2E_GATE_OPEN"] = "1"
        with local_stack(tmp_path, *args, env=env) as second:
            marks.wait_until(lambda: set(items) <= {pk for b in marks.batches() for pk in b}, "every record", second)
            after_restart = marks.batches()[len(before_kill) :]
            assert second.stop(signal.SIGTERM) == 0

        redelivered = [pk for batch in after_restart for pk in batch]
        # Resumed right after the last checkpoint: the batch in flight comes again, and everything after it.
        assert redelivered[: len(in_flight)] == in_flight
        assert redelivered == items[len(finished) :]
        assert not set(finished) & set(redelivered)  # no finished batch is delivered again
        assert marks.lines("jobs.log") == ["job-1"]  # the deleted message did not come back
    finally:
        moto.stop()


def test_with_the_embedded_moto_a_write_reaches_the_stream_function_and_no_checkpoint_is_reused(
    tmp_path: Path, app: tuple[Path, Marks]
) -> None:
    # Each run has its own moto (new endpoint, new stream, sequence numbers starting over); the state directory is
    # shared, as .local-state/ is between `make run`s. A reused checkpoint would skip the second run's record.
    template, marks = app
    state_dir = tmp_path / "state"
    env = environment(E2E_MARKS_DIR=str(marks.directory), E2E_PING_PORT=str(marks.ping_port))
    for pk in ("first-run", "second-run"):
        with local_stack(tmp_path, "--template", str(template), "--state-dir", str(state_dir), env=env) as running:
            assert call(running.port, "POST", "/items", body=json.dumps({"pk": pk}).encode()).status == 201
            marks.wait_until(functools.partial(_delivered, marks, pk), f"stream delivery of {pk}", running)
            assert running.stop(signal.SIGINT) == 0

    assert marks.batches() == [["first-run"], ["second-run"]]
    assert len(list(state_dir.glob("stream-*.json"))) == 2


def _delivered(marks: Marks, pk: str) -> bool:
    return [pk] in marks.batches()


def _queue_is_empty(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
