"""The stream and queue pollers under moto.mock_aws, one ``poll_once`` at a time, with Python callables as functions.

Resources come from a synthetic template (built by ``build_world``, as ``python -m local`` builds them); the event
sources come from the same template and are varied per test with ``dataclasses.replace``. Event shapes are checked
against Powertools' parser models of Lambda's events (an independent description of what Lambda sends).

Moto gaps written around here, in test setup only:
- botocore sends DynamoDB Streams calls that name a StreamArn to the account-based endpoint
  (``{account}.streams-ddb.{region}.amazonaws.com``), which moto 5.2 does not intercept (404 "Not yet implemented"):
  AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled keeps them on the regional endpoint. (With AWS_ENDPOINT_URL, as in
  ``python -m local``, the endpoint is explicit and this does not arise.)
- moto gives a FIFO message a SequenceNumber only when the sender names a MessageDeduplicationId, and a random one:
  order is checked on bodies, not on SequenceNumber.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
    DynamoDBStreamModel,
    SqsModel,
)
from moto import mock_aws

from local.checkpoints import CheckpointStore
from local.pollers import (
    DynamoDbStreamPoller,
    FilterCriteria,
    Outcome,
    SqsPoller,
    build_pollers,
    failure_destination,
    reported_failures,
)
from local.template import DynamoDbEventSource, SqsEventSource, TemplateError, event_sources
from local.world import World, build_world

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: .
    Handler: not_imported.handler
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  StreamFailures:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 0  # a message that is not deleted is visible again at once: no waiting in tests
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDlq.Arn, maxReceiveCount: 2}
  WorkDlq:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true, VisibilityTimeout: 0}
  Dispatcher:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        NewReports:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Items.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 4
            MaximumRetryAttempts: 2
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt StreamFailures.Arn}}
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["report"]}}}}'
        Paused:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Items.StreamArn, StartingPosition: LATEST, Enabled: false}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
  FifoWorker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Ordered: {Type: SQS, Properties: {Queue: !GetAtt Ordered.Arn, BatchSize: 4}}
"""

MAX_POLLS = 200  # a bound on drain loops, so a poller that never settles fails the test instead of hanging it


class Crash(BaseException):
    """Stands in for SIGKILL inside a function: nothing after it runs, not even the poller's bookkeeping."""


class FakeRuntime:
    """``FunctionRuntime.invoke`` with plain callables; remembers what each call received."""

    def __init__(self) -> None:
        self.functions: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        assert request_id
        self.calls.append((logical_id, copy.deepcopy(event)))
        return self.functions[logical_id](event)

    def batches(self, logical_id: str, key: Callable[[dict[str, Any]], Any]) -> list[list[Any]]:
        return [[key(record) for record in event["Records"]] for name, event in self.calls if name == logical_id]


@dataclasses.dataclass
class Stack:
    world: World
    runtime: FakeRuntime
    state_dir: Path
    ddb: Any
    sqs: Any

    def source(self, function: str, event: str) -> Any:
        for source in event_sources(self.world.template, self.world.resolve):
            if (source.function, source.event) == (function, event):
                return source
        raise KeyError(event)

    def stream_poller(self, **changes: Any) -> DynamoDbStreamPoller:
        source: DynamoDbEventSource = dataclasses.replace(self.source("Dispatcher", "NewReports"), **changes)
        return DynamoDbStreamPoller(
            source,
            stream_arn=self.stream_arn,
            function_arn=self.world.arn("Dispatcher"),
            invoker=self.runtime,
            state_dir=self.state_dir,
            region=self.world.region,
            on_failure=failure_destination(self.world, "StreamFailures", "test"),
        )

    def sqs_poller(self, function: str, event: str, **changes: Any) -> SqsPoller:
        source: SqsEventSource = dataclasses.replace(self.source(function, event), **changes)
        return SqsPoller(
            source,
            queue_url=self.world.queue_url(source.queue),
            queue_arn=self.world.arn(source.queue),
            invoker=self.runtime,
            region=self.world.region,
            wait_seconds=0,
        )

    @property
    def stream_arn(self) -> str:
        return str(self.world.get_att("Items", "StreamArn"))

    def put(self, pk: str, entity: str = "report", **extra: Any) -> None:
        self.ddb.put_item(
            TableName=self.world.physical_name("Items"), Item={"PK": {"S": pk}, "entity": {"S": entity}, **extra}
        )

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Every message in the queue, read with a zero visibility timeout (so they stay where they are)."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(5):
            for message in self.sqs.receive_message(
                QueueUrl=self.world.queue_url(logical_id), MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", []):
                seen[message["MessageId"]] = message
        return list(seen.values())

    def queue_depth(self, logical_id: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.world.queue_url(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "LOCAL_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # moto gap: see the module docstring


def _build(tmp_path: Path) -> Stack:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    return Stack(
        world=build_world(template),
        runtime=FakeRuntime(),
        state_dir=tmp_path / "state",
        ddb=boto3.client("dynamodb"),
        sqs=boto3.client("sqs"),
    )


@pytest.fixture
def stack(aws_env: None, tmp_path: Path) -> Iterator[Stack]:
    with mock_aws():
        yield _build(tmp_path)


def drain(poller: Any) -> int:
    """poll_once until there is nothing left to do; the number of polls that did something."""
    for busy in range(MAX_POLLS):
        if poller.poll_once() is Outcome.IDLE:
            return busy
    raise AssertionError(f"{poller.name} still busy after {MAX_POLLS} polls")


def pks(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["PK"]["S"])


def bodies(record: dict[str, Any]) -> str:
    return str(record["body"])


# --- wiring --------------------------------------------------------------------------------------------------------


def test_every_enabled_event_source_of_the_template_gets_a_poller(stack: Stack) -> None:
    pollers = {poller.name: poller for poller in build_pollers(stack.world, stack.runtime, state_dir=stack.state_dir)}

    assert set(pollers) == {"Dispatcher.NewReports", "Worker.Work", "FifoWorker.Ordered"}  # not the disabled one
    stream = pollers["Dispatcher.NewReports"]
    assert isinstance(stream, DynamoDbStreamPoller)
    assert stream.stream_arn == stack.stream_arn
    assert stream.on_failure is not None and stream.on_failure.arn == stack.world.arn("StreamFailures")
    assert stream.checkpoints.key.endpoint == "https://streams.dynamodb.us-east-1.amazonaws.com"
    assert stream.checkpoints.path.parent == stack.state_dir
    queue = pollers["Worker.Work"]
    assert isinstance(queue, SqsPoller) and queue.queue_url == stack.world.queue_url("Work")


def test_an_on_failure_destination_must_be_a_standard_queue_or_a_topic(stack: Stack) -> None:
    with pytest.raises(TemplateError, match="standard queue"):
        failure_destination(stack.world, "Ordered", "Dispatcher.NewReports")
    with pytest.raises(TemplateError, match="SQS queue or SNS topic"):
        failure_destination(stack.world, "Items", "Dispatcher.NewReports")


# --- DynamoDB streams: shape, order, filters -----------------------------------------------------------------------


def test_stream_records_reach_the_function_in_order_in_lambdas_shape(stack: Stack) -> None:
    stack.runtime.functions["Dispatcher"] = lambda event: None
    poller = stack.stream_poller(filter_criteria=None)
    table = stack.world.physical_name("Items")
    for number in range(5):
        stack.put(f"R{number}", blob={"B": b"\x00\xff"})
    stack.ddb.update_item(
        TableName=table,
        Key={"PK": {"S": "R0"}},
        UpdateExpression="SET entity = :e",
        ExpressionAttributeValues={":e": {"S": "case"}},
    )
    stack.ddb.delete_item(TableName=table, Key={"PK": {"S": "R1"}})

    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [["R0", "R1", "R2", "R3"], ["R4", "R0", "R1"]]
    records = [record for _, event in stack.runtime.calls for record in event["Records"]]
    assert [record["eventName"] for record in records] == ["INSERT"] * 5 + ["MODIFY", "REMOVE"]
    sequence_numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequence_numbers == sorted(sequence_numbers)
    for _, event in stack.runtime.calls:
        DynamoDBStreamModel.model_validate(event)  # Powertools' model of Lambda's event

    first = records[0]
    assert list(first) == [
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    ]
    assert (first["eventVersion"], first["eventSource"], first["awsRegion"]) == ("1.1", "aws:dynamodb", "us-east-1")
    assert first["eventSourceARN"] == stack.stream_arn
    change = first["dynamodb"]
    assert set(change) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(change["ApproximateCreationDateTime"], int)
    assert abs(change["ApproximateCreationDateTime"] - time.time()) < 300
    assert change["Keys"] == {"PK": {"S": "R0"}}
    assert change["NewImage"] == {"PK": {"S": "R0"}, "entity": {"S": "report"}, "blob": {"B": "AP8="}}  # base64
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    json.dumps([event for _, event in stack.runtime.calls])  # what Lambda sends is JSON: no bytes, no datetimes
    assert "OldImage" in records[5]["dynamodb"] and "NewImage" not in records[6]["dynamodb"]


def test_filter_criteria_pass_only_matching_records_and_checkpoint_past_the_others(stack: Stack) -> None:
    stack.runtime.functions["Dispatcher"] = lambda event: None
    poller = stack.stream_poller()  # the template's filter: INSERTs of entity "report"
    for pk, entity in [("A", "report"), ("X", "case"), ("B", "report"), ("Y", "custody"), ("Z", "case")]:
        stack.put(pk, entity)
    stack.ddb.delete_item(TableName=stack.world.physical_name("Items"), Key={"PK": {"S": "A"}})

    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B"]]
    # A batch with nothing for the function is no invocation, but the position still moves past it.
    checkpoint = CheckpointStore(stack.state_dir, poller.checkpoints.key).load()
    assert checkpoint is not None
    ((shard_id, position),) = checkpoint.shards.items()
    last = poller._streams.get_records(
        ShardIterator=poller._streams.get_shard_iterator(
            StreamArn=stack.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    )["Records"][-1]
    assert position.sequence_number == last["dynamodb"]["SequenceNumber"]


def test_filter_patterns_follow_lambdas_syntax() -> None:
    def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
        return FilterCriteria({"Filters": [{"Pattern": json.dumps(pattern)}]}, "t").matches(record)

    record = {"eventName": "INSERT", "n": 5, "tags": ["a", "b"], "s": "Report-1", "none": None, "o": {"k": "v"}}
    assert matches({"eventName": ["INSERT", "MODIFY"]}, record)
    assert not matches({"eventName": ["REMOVE"]}, record)
    assert matches({"tags": ["b"]}, record)  # an array matches when any element does
    assert matches({"none": [None]}, record) and not matches({"missing": [None]}, record)
    assert matches({"n": [5.0]}, record) and not matches({"n": ["5"]}, record)
    assert matches({"s": [{"prefix": "Rep"}]}, record) and matches({"s": [{"suffix": "-1"}]}, record)
    assert matches({"s": [{"equals-ignore-case": "report-1"}]}, record)
    assert matches({"s": [{"anything-but": ["x", "y"]}]}, record) and not matches(
        {"s": [{"anything-but": "Report-1"}]}, record
    )
    assert not matches({"s": [{"anything-but": {"prefix": "Rep"}}]}, record)
    assert matches({"n": [{"numeric": [">", 1, "<=", 5]}]}, record) and not matches(
        {"n": [{"numeric": ["<", 5]}]}, record
    )
    assert matches({"o": {"k": [{"exists": True}]}}, record) and matches({"o": {"j": [{"exists": False}]}}, record)
    assert matches({"p": {"q": [{"exists": False}]}}, record) and not matches({"p": {"q": [{"exists": True}]}}, record)
    assert matches({"$or": [{"n": [1]}, {"s": ["Report-1"]}]}, record)
    assert matches({"o": {"k": ["v"]}, "eventName": ["INSERT"]}, record) and not matches(
        {"o": {"k": ["v"]}, "n": [6]}, record
    )
    assert FilterCriteria(None, "t").matches(record)  # no criteria: everything passes
    # Several filters: any of them.
    either = {"Filters": [{"Pattern": '{"n": [6]}'}, {"Pattern": '{"n": [5]}'}]}
    assert FilterCriteria(either, "t").matches(record)

    for bad in ('{"n": 5}', '{"n": [{"wildcard": "*"}]}', "not json", '{"n": [{"numeric": ["~", 1]}]}', "{}"):
        with pytest.raises(TemplateError):
            FilterCriteria({"Filters": [{"Pattern": bad}]}, "Fn.Event")


# --- DynamoDB streams: failures ------------------------------------------------------------------------------------


def test_a_raising_function_gets_the_same_batch_again(stack: Stack) -> None:
    attempts = {"left": 2}

    def flaky(event: dict[str, Any]) -> None:
        if attempts["left"]:
            attempts["left"] -= 1
            raise RuntimeError("not yet")

    stack.runtime.functions["Dispatcher"] = flaky
    poller = stack.stream_poller(bisect_batch_on_function_error=False, maximum_retry_attempts=-1)
    for pk in "ABC":
        stack.put(pk)

    assert [poller.poll_once() for _ in range(3)] == [Outcome.FAILED, Outcome.FAILED, Outcome.DELIVERED]
    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B", "C"]] * 3


def test_a_failing_batch_is_bisected_until_the_bad_record_stands_alone(stack: Stack) -> None:
    healed = {"C": False}

    def poisoned(event: dict[str, Any]) -> None:
        if "C" in [pks(record) for record in event["Records"]] and not healed["C"]:
            raise RuntimeError("C is bad")

    stack.runtime.functions["Dispatcher"] = poisoned
    poller = stack.stream_poller(maximum_retry_attempts=-1)
    for pk in "ABCD":
        stack.put(pk)

    for _ in range(5):
        poller.poll_once()
    healed["C"] = True
    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [
        ["A", "B", "C", "D"],  # fails: halves
        ["A", "B"],  # succeeds
        ["C", "D"],  # fails: halves
        ["C"],  # fails: retried (a batch of one cannot be split)
        ["C"],
        ["C"],  # C healed
        ["D"],
    ]
    assert stack.queue_depth("StreamFailures") == 0


def test_after_maximum_retry_attempts_the_on_failure_queue_gets_lambdas_record_and_the_poller_moves_on(
    stack: Stack,
) -> None:
    def poisoned(event: dict[str, Any]) -> None:
        if "C" in [pks(record) for record in event["Records"]]:
            raise RuntimeError("C is bad")

    stack.runtime.functions["Dispatcher"] = poisoned
    poller = stack.stream_poller()  # MaximumRetryAttempts 2, bisect, on-failure queue
    for pk in "ABCD":
        stack.put(pk)

    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [
        ["A", "B", "C", "D"],
        ["A", "B"],
        ["C", "D"],
        ["C"],
        ["C"],
        ["C"],
        ["D"],
    ]
    ((message,),) = [stack.queue_messages("StreamFailures")]
    record = json.loads(message["Body"])
    DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(record)  # Powertools' model of Lambda's record
    c_call = next(event for _, event in stack.runtime.calls if [pks(r) for r in event["Records"]] == ["C"])
    c_sequence = c_call["Records"][0]["dynamodb"]["SequenceNumber"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["functionArn"] == stack.world.arn("Dispatcher")
    assert record["requestContext"]["approximateInvokeCount"] == 5  # ABCD, CD, then C three times (1 + 2 retries)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    info = record["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (c_sequence, c_sequence, 1)
    assert info["streamArn"] == stack.stream_arn and info["shardId"].startswith("shardId-")
    # Positions only, never the records themselves (Lambda sends none either).
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert "Keys" not in message["Body"] and "report" not in message["Body"]
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")

    # The shard is not stuck: later records flow, and C is never delivered again.
    stack.put("E")
    drain(poller)
    assert stack.runtime.batches("Dispatcher", pks)[-1] == ["E"]


def test_report_batch_item_failures_checkpoints_before_the_lowest_failed_record_and_retries_from_it(
    stack: Stack,
) -> None:
    answers: list[Any] = []

    def reporting(event: dict[str, Any]) -> Any:
        sequence = {pks(record): record["dynamodb"]["SequenceNumber"] for record in event["Records"]}
        if not answers:
            answers.append(sequence)
            # D before C, on purpose: Lambda resumes at the lowest sequence number, whatever the order.
            return {"batchItemFailures": [{"itemIdentifier": sequence["D"]}, {"itemIdentifier": sequence["C"]}]}
        return {"batchItemFailures": []}

    stack.runtime.functions["Dispatcher"] = reporting
    poller = stack.stream_poller(bisect_batch_on_function_error=False)
    for pk in "ABCD":
        stack.put(pk)

    assert poller.poll_once() is Outcome.FAILED
    saved = CheckpointStore(stack.state_dir, poller.checkpoints.key).load()
    assert saved is not None
    assert [position.sequence_number for position in saved.shards.values()] == [answers[0]["B"]]
    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B", "C", "D"], ["C", "D"]]


def test_an_invalid_batch_item_failures_answer_fails_the_whole_batch(stack: Stack) -> None:
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}, "not an object", None])
    stack.runtime.functions["Dispatcher"] = lambda event: next(answers)
    poller = stack.stream_poller(bisect_batch_on_function_error=False)
    for pk in "AB":
        stack.put(pk)

    drain(poller)

    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B"]] * 3
    assert reported_failures({"batchItemFailures": [{"itemIdentifier": ""}]}, [""]) is None
    assert reported_failures({"batchItemFailures": [{"id": "1"}]}, ["1"]) is None
    assert reported_failures({"statusCode": 200}, ["1"]) == []


def test_records_older_than_maximum_record_age_go_to_the_on_failure_queue_without_a_call(stack: Stack) -> None:
    stack.runtime.functions["Dispatcher"] = lambda event: None
    poller = stack.stream_poller(maximum_record_age_seconds=60)
    poller._clock = lambda: time.time() + 3600  # an hour later
    stack.put("A")

    drain(poller)

    assert stack.runtime.calls == []
    ((message,),) = [stack.queue_messages("StreamFailures")]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0


def test_a_batching_window_waits_for_a_full_batch(stack: Stack) -> None:
    stack.runtime.functions["Dispatcher"] = lambda event: None
    poller = stack.stream_poller(batch_size=2, maximum_batching_window_seconds=300)
    stack.put("A")
    assert poller.poll_once() is Outcome.IDLE and stack.runtime.calls == []
    stack.put("B")
    assert poller.poll_once() is Outcome.DELIVERED
    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B"]]


# --- DynamoDB streams: checkpoints and restarts --------------------------------------------------------------------


def test_a_restarted_poller_resumes_after_the_checkpoint_and_never_reads_earlier_batches(stack: Stack) -> None:
    stack.runtime.functions["Dispatcher"] = lambda event: None
    first = stack.stream_poller()
    for pk in "ABCD":
        stack.put(pk)
    drain(first)
    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B", "C", "D"]]

    # The checkpoint on disk: positions only, written whole (no temporary file left behind).
    saved = json.loads(first.checkpoints.path.read_text())
    assert saved["key"] == {
        "endpoint": "https://streams.dynamodb.us-east-1.amazonaws.com",
        "streamArn": stack.stream_arn,
        "functionArn": stack.world.arn("Dispatcher"),
        "event": "NewReports",
    }
    assert not any("report" in str(value) for value in saved["shards"].values())
    assert [path.name for path in stack.state_dir.iterdir()] == [first.checkpoints.path.name]

    for pk in "EF":
        stack.put(pk)
    stack.runtime.calls.clear()
    drain(stack.stream_poller())  # a new instance: what a restarted process builds
    assert stack.runtime.batches("Dispatcher", pks) == [["E", "F"]]


def test_a_batch_in_flight_when_the_process_dies_is_delivered_again(stack: Stack) -> None:
    def dies_in_the_second_batch(event: dict[str, Any]) -> None:
        if pks(event["Records"][0]) == "E":
            raise Crash

    stack.runtime.functions["Dispatcher"] = dies_in_the_second_batch
    poller = stack.stream_poller()
    for pk in "ABCDEF":
        stack.put(pk)
    with pytest.raises(Crash):
        drain(poller)

    stack.runtime.functions["Dispatcher"] = lambda event: None
    drain(stack.stream_poller())
    # At least once: E and F twice (the first delivery died with the process), A..D once, nothing skipped.
    assert stack.runtime.batches("Dispatcher", pks) == [["A", "B", "C", "D"], ["E", "F"], ["E", "F"]]


def test_a_table_created_afresh_does_not_inherit_an_old_checkpoint(aws_env: None, tmp_path: Path) -> None:
    # The embedded moto is new at every run of `python -m local`: same table name, same first sequence number.
    runs = []
    for pk in ("first-run", "second-run"):
        with mock_aws():
            stack = _build(tmp_path)  # same state directory both times
            stack.runtime.functions["Dispatcher"] = lambda event: None
            stack.put(pk)
            poller = stack.stream_poller()
            drain(poller)
            runs.append((stack.stream_arn, poller.checkpoints.path, stack.runtime.batches("Dispatcher", pks)))

    (first_arn, first_path, first_batches), (second_arn, second_path, second_batches) = runs
    assert first_batches == [["first-run"]] and second_batches == [["second-run"]]
    assert first_arn != second_arn  # moto's stream label is the table's creation time, to the microsecond
    assert first_path != second_path and first_path.exists() and second_path.exists()


def test_latest_starts_at_the_end_of_the_stream_and_a_restart_resumes_from_there(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stream records take their creation time from moto's clock: set it, so that "before" and "after" the first run
    # are seconds apart without waiting for them.
    created = {"at": datetime(2030, 1, 1, 12, 0, 0)}  # naive UTC, as moto's own utcnow()
    monkeypatch.setattr("moto.dynamodb.models.table.utcnow", lambda: created["at"])
    stack.runtime.functions["Dispatcher"] = lambda event: None
    stack.put("old")
    old_record = stack.stream_poller(filter_criteria=None)
    drain(old_record)
    old_created = stack.runtime.calls.pop()[1]["Records"][0]["dynamodb"]["ApproximateCreationDateTime"]

    first = stack.stream_poller(starting_position="LATEST", event="Latest")  # a mapping of its own
    first._clock = lambda: old_created + 10.0
    drain(first)  # starts at the end: "old" is not new
    assert stack.runtime.calls == []

    # Written while nothing ran, and no record came through the first run: the restart still knows where LATEST was.
    created["at"] = datetime(2030, 1, 1, 12, 0, 20)
    stack.put("new")
    drain(stack.stream_poller(starting_position="LATEST", event="Latest"))
    assert stack.runtime.batches("Dispatcher", pks) == [["new"]]


# --- SQS -----------------------------------------------------------------------------------------------------------


def _send(stack: Stack, queue: str, *bodies_: str, **extra: Any) -> None:
    for body in bodies_:
        stack.sqs.send_message(QueueUrl=stack.world.queue_url(queue), MessageBody=body, **extra)


def test_a_successful_batch_is_deleted_and_arrives_in_lambdas_shape(stack: Stack) -> None:
    stack.runtime.functions["Worker"] = lambda event: None
    poller = stack.sqs_poller("Worker", "Work")
    _send(stack, "Work", "one", MessageAttributes={"kind": {"DataType": "String", "StringValue": "demo"}})
    _send(stack, "Work", "two", "three")

    drain(poller)

    assert sorted(body for batch in stack.runtime.batches("Worker", bodies) for body in batch) == [
        "one",
        "three",
        "two",
    ]
    assert stack.queue_depth("Work") == 0
    (_, event), *_ = stack.runtime.calls
    SqsModel.model_validate(event)  # Powertools' model of Lambda's event
    record = next(record for record in event["Records"] if record["body"] == "one")
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == stack.world.arn("Work")
    assert record["awsRegion"] == "us-east-1" and record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "demo", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert {"messageId", "receiptHandle", "md5OfBody", "md5OfMessageAttributes"} <= set(record)


def test_partial_failure_deletes_all_but_the_reported_message_which_comes_back(stack: Stack) -> None:
    failed_once: set[str] = set()

    def reporting(event: dict[str, Any]) -> Any:
        failures = []
        for record in event["Records"]:
            if record["body"] == "bad" and record["messageId"] not in failed_once:
                failed_once.add(record["messageId"])
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    stack.runtime.functions["Worker"] = reporting
    poller = stack.sqs_poller("Worker", "Work")
    _send(stack, "Work", "good-1", "bad", "good-2")

    deadline = time.monotonic() + 10
    while sum(batch.count("bad") for batch in stack.runtime.batches("Worker", bodies)) < 2:
        assert time.monotonic() < deadline, stack.runtime.batches("Worker", bodies)
        poller.poll_once()

    delivered = [body for batch in stack.runtime.batches("Worker", bodies) for body in batch]
    assert sorted(delivered) == ["bad", "bad", "good-1", "good-2"]  # only "bad" came back
    last = stack.runtime.calls[-1][1]["Records"]
    assert [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in last] == [("bad", "2")]
    assert stack.queue_depth("Work") == 0


def test_a_raising_function_deletes_nothing_and_a_poison_message_ends_in_the_dlq(stack: Stack) -> None:
    def poisoned(event: dict[str, Any]) -> None:
        if any(record["body"] == "poison" for record in event["Records"]):
            raise RuntimeError("poison")

    stack.runtime.functions["Worker"] = poisoned
    poller = stack.sqs_poller("Worker", "Work", batch_size=1)
    _send(stack, "Work", "poison")

    deadline = time.monotonic() + 10
    while not stack.queue_messages("WorkDlq"):
        assert time.monotonic() < deadline
        poller.poll_once()

    # maxReceiveCount 2: delivered twice, then moto's redrive (on the next receive, as SQS does) moved it.
    assert stack.runtime.batches("Worker", bodies) == [["poison"], ["poison"]]
    assert [message["Body"] for message in stack.queue_messages("WorkDlq")] == ["poison"]
    assert stack.queue_depth("Work") == 0


def test_messages_that_match_no_filter_are_deleted_without_a_call(stack: Stack) -> None:
    stack.runtime.functions["Worker"] = lambda event: None
    criteria = {"Filters": [{"Pattern": '{"body": {"kind": ["work"]}}'}]}
    poller = stack.sqs_poller("Worker", "Work", filter_criteria=criteria)
    _send(stack, "Work", json.dumps({"kind": "work", "n": 1}), json.dumps({"kind": "noise"}), "not json")

    drain(poller)

    assert stack.runtime.batches("Worker", lambda r: json.loads(r["body"])["n"]) == [[1]]
    assert stack.queue_depth("Work") == 0


def test_fifo_groups_keep_their_order_through_failures(stack: Stack) -> None:
    sent = {group: [f"{group}{n}" for n in range(6)] for group in ("a", "b")}
    processed: dict[str, list[str]] = {"a": [], "b": []}
    failures = {"a2": 1, "b4": 2}  # these fail their batch this many times

    def ordered(event: dict[str, Any]) -> None:
        names = [record["body"] for record in event["Records"]]
        for name in names:
            if failures.get(name):
                failures[name] -= 1
                # Moto gap: when an in-flight FIFO batch times out, moto clears its in-flight state one message at
                # a time while receiving, and so hands out a later message of a group before an earlier one. Ending
                # the visibility of the whole batch at once (as SQS's timeout does) avoids it.
                stack.sqs.change_message_visibility_batch(
                    QueueUrl=stack.world.queue_url("Ordered"),
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                        for i, r in enumerate(event["Records"])
                    ],
                )
                raise RuntimeError(f"{name} failed")  # the whole batch comes back
        for record in event["Records"]:
            processed[record["attributes"]["MessageGroupId"]].append(record["body"])

    stack.runtime.functions["FifoWorker"] = ordered
    poller = stack.sqs_poller("FifoWorker", "Ordered")
    for a, b in zip(sent["a"], sent["b"], strict=True):
        _send(stack, "Ordered", a, MessageGroupId="a")
        _send(stack, "Ordered", b, MessageGroupId="b")

    deadline = time.monotonic() + 10
    while processed != sent:
        assert time.monotonic() < deadline, processed
        poller.poll_once()
    assert failures == {"a2": 0, "b4": 0}  # the failures did happen
    assert stack.queue_depth("Ordered") == 0


# --- the thread ----------------------------------------------------------------------------------------------------


def test_the_thread_delivers_survives_errors_and_stops_promptly(stack: Stack) -> None:
    delivered = threading.Event()
    stack.runtime.functions["Dispatcher"] = lambda event: delivered.set()
    poller = stack.stream_poller()
    broken = DynamoDbStreamPoller(
        poller.source,
        stream_arn=stack.stream_arn.replace("Items", "NoSuchTable"),
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
        invoker=stack.runtime,
        state_dir=stack.state_dir,
        region="us-east-1",
    )
    poller.start()
    broken.start()  # every poll of it fails: logged, backed off, never raised out of its thread
    try:
        stack.put("A")
        assert delivered.wait(timeout=10)
    finally:
        started = time.monotonic()
        poller.stop()
        broken.stop()
        assert time.monotonic() - started < 3
    assert stack.runtime.batches("Dispatcher", pks) == [["A"]]
