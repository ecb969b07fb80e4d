"""Feed the template's functions from their DynamoDB streams and SQS queues, as Lambda's event source mappings do.

One poller (a daemon thread) per enabled ``SQS`` or ``DynamoDB`` event of a function (``local.template.event_sources``),
calling ``runtime.invoke`` with the event Lambda builds and honouring the mapping's settings.

DynamoDB streams: every shard through the ``dynamodbstreams`` API (children after their parent is read to its end),
records in Lambda's shape (``eventVersion`` 1.1, epoch-seconds ``ApproximateCreationDateTime``, binary in base64),
FilterCriteria (records that match no pattern are dropped and checkpointed past), BatchSize and
MaximumBatchingWindowInSeconds. On failure the batch is retried; BisectBatchOnFunctionError halves it first (at no
retry's cost); ReportBatchItemFailures checkpoints before the lowest reported sequence number; after
MaximumRetryAttempts (-1: forever) or MaximumRecordAgeInSeconds, Lambda's invocation record (``DDBStreamBatchInfo``,
never the records) goes to the OnFailure queue or topic. Positions are checkpointed after every finished batch
(``local.checkpoints``): a restart against the same endpoint resumes after it, at least once, never skipped.

SQS: long polls (1 s, so stop is prompt) for min(BatchSize, 10) messages with all attributes, deletes messages no
filter lets through, and after the call the batch (with ReportBatchItemFailures all but the reported ones; nothing
when the function raised: the redrive policy moves it to its DLQ after maxReceiveCount receives). One batch at a
time per queue, so a FIFO queue's groups keep their order.

Deliberate differences from Lambda: one batch at a time per mapping (no ParallelizationFactor, no scaling); an SQS
batch is one ReceiveMessage (at most 10 messages, no batching window); no function Timeout; anything but a JSON object
(or null) is an invalid ReportBatchItemFailures answer; retries back off 0.2 s doubling to 5 s.

It never logs bodies, keys or images (only counts, ids, sequence numbers, function names, and a function's own
traceback as Lambda logs it), never deletes or changes what Lambda would not, and never crashes the process: an error
in a loop (AWS unreachable, a bad checkpoint file) is logged and retried with backoff while the rest keeps serving.
"""

from __future__ import annotations

import base64
import copy
import enum
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import boto3
from botocore.exceptions import ClientError

from local.checkpoints import CheckpointKey, CheckpointStore, ShardPosition, StreamCheckpoint
from local.template import DynamoDbEventSource, SqsEventSource, TemplateError, event_sources
from local.world import World

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

log = logging.getLogger(__name__)

STREAM_IDLE_SECONDS = 0.2  # Lambda polls a shard 4 times a second
SQS_WAIT_SECONDS = 1  # long poll; short so that stop() returns promptly
STOP_TIMEOUT_SECONDS = 5.0
_SHARD_REFRESH_SECONDS = 5.0  # how often to look for new shards (DynamoDB rotates them every few hours)
_BACKOFF_FIRST_SECONDS = 0.2
_BACKOFF_MAX_SECONDS = 5.0
_SQS_MAX_BATCH = 10  # ReceiveMessage's limit
_GET_RECORDS_MAX = 1000  # GetRecords' limit


class Invoker(Protocol):
    """What the pollers need of ``local.runtime.FunctionRuntime`` (tests pass a stub)."""

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any: ...


class Outcome(enum.IntEnum):
    """What one ``poll_once`` did, from the loop's point of view (how long to wait before the next one)."""

    IDLE = 0  # nothing new: wait the idle interval
    DELIVERED = 1  # a batch is done (delivered, filtered out or given up on): poll again at once
    FAILED = 2  # the function failed (or answered with failures); the batch will be retried: back off


# --- filter criteria -----------------------------------------------------------------------------------------------

_COMPARISONS = ("=", "<", "<=", ">", ">=")
_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")


class FilterCriteria:
    """Lambda's FilterCriteria: a record is delivered when any pattern matches it (no patterns: every record).

    Lambda's patterns are EventBridge's grammar, so moto's EventBridge matcher decides. Only what Lambda documents is
    accepted (values, prefix, suffix, equals-ignore-case, anything-but, numeric, exists, ``$or``; not EventBridge's
    wildcard or cidr): anything else is a TemplateError when the template is read, not a silent mismatch at run time.
    """

    def __init__(self, criteria: Mapping[str, Any] | None, where: str) -> None:
        from moto.events.models import EventPattern  # moto is what runs the local stack anyway

        self.patterns: list[EventPattern] = []
        for number, item in enumerate((criteria or {}).get("Filters") or []):
            raw = item.get("Pattern") if isinstance(item, Mapping) else None
            here = f"{where}: FilterCriteria pattern {number}"
            try:
                pattern = EventPattern.load(raw if isinstance(raw, str) else json.dumps(raw))
            except Exception as error:  # moto's InvalidEventPatternException: not JSON, or a bare value
                raise TemplateError(f"{here}: {getattr(error, 'message', error)}") from None
            _check_pattern(pattern.get_pattern(), here)
            self.patterns.append(pattern)

    def matches(self, record: Mapping[str, Any]) -> bool:
        return not self.patterns or any(pattern.matches_event(record) for pattern in self.patterns)  # type: ignore[arg-type]


def _check_pattern(pattern: Any, where: str) -> None:
    if not isinstance(pattern, Mapping) or not pattern:
        raise TemplateError(f"{where}: must be a non-empty JSON object")
    for key, rule in pattern.items():
        if key == "$or" or isinstance(rule, Mapping):
            for alternative in rule if key == "$or" else [rule]:
                _check_pattern(alternative, f"{where} at {key}")
        elif not isinstance(rule, list) or not all(map(_is_lambda_condition, rule)):
            raise TemplateError(f"{where} at {key}: unsupported condition in {rule!r}")


def _is_lambda_condition(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return condition is None or isinstance(condition, str | int | float | bool)
    if len(condition) != 1:
        return False
    ((operator, argument),) = condition.items()
    if operator in _STRING_OPERATORS:
        return isinstance(argument, str)
    if operator == "exists":
        return isinstance(argument, bool)
    if operator == "numeric":
        return (
            isinstance(argument, list)
            and len(argument) in (2, 4)
            and all(op in _COMPARISONS for op in argument[0::2])
            and all(isinstance(bound, int | float) and not isinstance(bound, bool) for bound in argument[1::2])
        )
    if operator == "anything-but":  # values, or one string operator
        if isinstance(argument, Mapping):
            return len(argument) == 1 and next(iter(argument)) in _STRING_OPERATORS
        return all(
            not isinstance(value, Mapping | list) for value in (argument if isinstance(argument, list) else [argument])
        )
    return False


# --- batch responses -----------------------------------------------------------------------------------------------


def reported_failures(result: Any, identifiers: Sequence[str]) -> list[str] | None:
    """The identifiers a ReportBatchItemFailures response names, in batch order; None when Lambda would treat the
    response as a failure of the whole batch (not a JSON object, or an item without a known, non-empty identifier).
    """
    if result is None:
        return []
    if not isinstance(result, Mapping):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    known = set(identifiers)
    named: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or not identifier or identifier not in known:
            return None
        named.add(identifier)
    return [identifier for identifier in identifiers if identifier in named]


# --- the poller thread ---------------------------------------------------------------------------------------------


class Poller:
    """A daemon thread that calls ``poll_once`` until stopped; tests call ``poll_once`` themselves instead."""

    idle_seconds = STREAM_IDLE_SECONDS
    source: SqsEventSource | DynamoDbEventSource

    def __init__(self, name: str, invoker: Invoker) -> None:
        self.name = name
        self._invoker = invoker
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> Outcome:
        raise NotImplementedError

    def _invoke(self, records: list[dict[str, Any]], ids: list[str], request_id: str) -> tuple[bool, list[str] | None]:
        """(whether the function returned, the ids it reported failed: None when the whole batch failed)."""
        try:
            result = self._invoker.invoke(self.source.function, {"Records": records}, request_id=request_id)
        except (Exception, SystemExit):  # sys.exit() in a handler is a function error in Lambda too (Runtime.ExitError)
            log.warning("%s raised (request %s)", self.source.function, request_id, exc_info=True)
            return False, None
        if not self.source.report_batch_item_failures:
            return True, []
        failed = reported_failures(result, ids)
        if failed is None:
            log.warning("%s answered request %s with invalid batchItemFailures", self.name, request_id)
        return True, failed

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._thread = threading.Thread(target=self._run, name=f"poller {self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False when it is still inside a function call after ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s: still busy after %.0fs; leaving it to end with the process", self.name, timeout)
            return False
        return True

    def stop(self) -> None:
        self.request_stop()
        self.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        delay = 0.0
        while not self._stop_requested.is_set():
            try:
                outcome = self.poll_once()
            except Exception:
                delay = _backoff(delay)
                log.exception("%s: polling failed; trying again in %.1fs", self.name, delay)
            else:
                if outcome is Outcome.FAILED:
                    delay = _backoff(delay)
                else:
                    delay = self.idle_seconds if outcome is Outcome.IDLE else 0.0
            if delay:
                # Event.wait, not sleep: stop() must not wait out a backoff.
                self._stop_requested.wait(delay)


def _backoff(previous: float) -> float:
    return min(_BACKOFF_MAX_SECONDS, max(_BACKOFF_FIRST_SECONDS, previous * 2))


class PollerGroup:
    """Every poller of a stack as one background worker: stop() asks all to stop first, then waits for all, so
    stopping takes as long as the slowest poller, not the sum of them."""

    def __init__(self, pollers: Sequence[Poller]) -> None:
        self.pollers = list(pollers)

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.request_stop()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for poller in self.pollers:
            poller.join(max(0.0, deadline - time.monotonic()))


# --- DynamoDB streams ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureDestination:
    """Where a stream mapping describes the batches it gave up on: a standard SQS queue or an SNS topic."""

    kind: Literal["sqs", "sns"]
    target: str  # queue URL or topic ARN
    arn: str


@dataclass
class _Chunk:
    """Records delivered together, and what the retries of exactly these records have cost so far."""

    records: list[dict[str, Any]]
    invocations: int = 0  # invocations that carried these records (bisecting keeps the parent's count)
    retries: int = 0  # counted against MaximumRetryAttempts; bisecting does not count
    request_id: str | None = None  # of the last invocation
    function_error: str | None = None  # "Unhandled" when the last invocation raised; None when it answered

    @property
    def first(self) -> str:
        return str(self.records[0]["dynamodb"]["SequenceNumber"])

    @property
    def last(self) -> str:
        return str(self.records[-1]["dynamodb"]["SequenceNumber"])


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    position: str | None = None  # checkpoint: last sequence number that is done
    finished: bool = False  # read to its end and everything done
    initial: str = "TRIM_HORIZON"  # where to start reading when there is no position
    skip_before: int | None = None  # LATEST resumed from TRIM_HORIZON: records created before this are not new
    iterator: str | None = None
    read_to: str | None = None  # last sequence number read from the shard (delivered, buffered or filtered out)
    end_reached: bool = False  # GetRecords returned no next iterator: a closed shard, read to its end
    buffer: list[dict[str, Any]] = field(default_factory=list)  # matching records gathered for the next batch
    gathering_since: float | None = None
    chunks: deque[_Chunk] = field(default_factory=deque)  # the batch being delivered (bisected: several chunks)


class DynamoDbStreamPoller(Poller):
    """One DynamoDB event source mapping: the table's stream -> one function (see the module docstring)."""

    source: DynamoDbEventSource

    def __init__(
        self,
        source: DynamoDbEventSource,
        *,
        stream_arn: str,
        function_arn: str,
        invoker: Invoker,
        state_dir: Path,
        region: str,
        on_failure: FailureDestination | None = None,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(f"{source.function}.{source.event}", invoker)
        if source.starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise TemplateError(f"{self.name}: StartingPosition must be TRIM_HORIZON or LATEST for a DynamoDB stream")
        if not 1 <= source.batch_size <= 10_000:
            raise TemplateError(f"{self.name}: BatchSize must be 1..10000")
        self.source = source
        self.stream_arn = stream_arn
        self.function_arn = function_arn
        self.region = region
        self.on_failure = on_failure
        self._clock = clock
        self._filter = FilterCriteria(source.filter_criteria, self.name)
        session = session or boto3.Session()
        self._streams: Any = session.client("dynamodbstreams", region_name=region)  # no stubs installed
        self._sqs: SQSClient = session.client("sqs", region_name=region)
        self._sns: SNSClient = session.client("sns", region_name=region)
        # The client's endpoint, not a configured string: it is where the stream actually lives.
        key = CheckpointKey(str(self._streams.meta.endpoint_url), stream_arn, function_arn, source.event)
        self.checkpoints = CheckpointStore(state_dir, key)
        self._checkpoint: StreamCheckpoint | None = None
        self._shards: dict[str, _Shard] = {}
        self._described_at = -math.inf

    def poll_once(self) -> Outcome:
        """One pass over the shards that may be read now: fetch where nothing is pending, deliver one batch each."""
        if self._checkpoint is None:
            self._start()
        elif time.monotonic() - self._described_at >= _SHARD_REFRESH_SECONDS:
            self._describe()
        outcome = Outcome.IDLE
        for shard in list(self._readable_shards()):
            outcome = max(outcome, self._poll_shard(shard))
        return outcome

    # --- shards and positions ---

    def _start(self) -> None:
        saved = self.checkpoints.load()
        self._checkpoint = saved or StreamCheckpoint(self.source.starting_position, self._clock())
        try:
            self._describe(first_run=saved is None)
        except Exception:
            # Not started: the next poll starts over (a first run must still see itself as one, for LATEST).
            self._checkpoint = None
            self._shards.clear()
            raise
        if saved is None:
            # Saved at once: a restart must know where LATEST was, even if no record has arrived by then.
            self._save()
            log.info("%s: reading %s from %s", self.name, self.stream_arn, self.source.starting_position)
        else:
            log.info("%s: resuming %s from %s", self.name, self.stream_arn, self.checkpoints.path)

    def _describe(self, first_run: bool = False) -> None:
        assert self._checkpoint is not None
        described: list[Mapping[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            described.extend(description.get("Shards") or [])
            if not description.get("LastEvaluatedShardId"):
                break
            request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        self._described_at = time.monotonic()
        latest = self._checkpoint.starting_position == "LATEST"
        for item in described:
            shard_id = str(item["ShardId"])
            if shard_id in self._shards:
                continue
            shard = _Shard(shard_id, item.get("ParentShardId"))
            saved = self._checkpoint.shards.get(shard_id)
            if saved is not None:
                shard.position, shard.finished = saved.sequence_number, saved.finished
                shard.read_to = saved.sequence_number
            elif first_run and latest and "EndingSequenceNumber" in (item.get("SequenceNumberRange") or {}):
                shard.finished = True  # LATEST: a shard closed before the mapping existed has nothing new
            elif first_run and latest:
                shard.initial = "LATEST"
            if latest and shard.position is None and shard.initial != "LATEST":
                # LATEST, but this shard has no position to resume from: read it from its start and pass over what
                # was written before the mapping first ran (creation times are whole seconds, hence the floor).
                shard.skip_before = math.floor(self._checkpoint.started_at)
            self._shards[shard_id] = shard
            self._checkpoint.shards.setdefault(shard_id, ShardPosition(shard.position, shard.finished))

    def _readable_shards(self) -> Iterator[_Shard]:
        # Lambda reads a child shard only once its parent is done, so records of one key stay in order.
        for shard in self._shards.values():
            parent = self._shards.get(shard.parent_id) if shard.parent_id else None
            if not shard.finished and (parent is None or parent.finished):
                yield shard

    def _advance(self, shard: _Shard, sequence_number: str | None, *, finished: bool = False) -> None:
        """Everything up to ``sequence_number`` is done: remember it, on disk before anything else happens."""
        assert self._checkpoint is not None
        if sequence_number is not None:
            shard.position = sequence_number
        shard.finished = shard.finished or finished
        self._checkpoint.shards[shard.shard_id] = ShardPosition(shard.position, shard.finished)
        self._save()

    def _save(self) -> None:
        assert self._checkpoint is not None
        self.checkpoints.save(self._checkpoint)

    # --- reading ---

    def _poll_shard(self, shard: _Shard) -> Outcome:
        if not shard.chunks:
            if not shard.end_reached:
                self._read(shard)
            window = self.source.maximum_batching_window_seconds
            full = len(shard.buffer) >= self.source.batch_size
            waited = shard.gathering_since is not None and time.monotonic() - shard.gathering_since >= window
            if shard.buffer and (window <= 0 or full or waited or shard.end_reached):
                shard.chunks.append(_Chunk(shard.buffer))
                shard.buffer, shard.gathering_since = [], None
            elif shard.buffer:
                return Outcome.IDLE  # gathering a batch within MaximumBatchingWindowInSeconds
            elif shard.end_reached:
                self._advance(shard, shard.read_to, finished=True)
                self._describe()  # its children may be readable now
                return Outcome.DELIVERED
            elif shard.read_to != shard.position:
                self._advance(shard, shard.read_to)  # only filtered-out records were read: checkpoint past them
                return Outcome.DELIVERED
            else:
                return Outcome.IDLE
        return self._deliver(shard)

    def _read(self, shard: _Shard) -> None:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        limit = min(_GET_RECORDS_MAX, max(1, self.source.batch_size - len(shard.buffer)))
        try:
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=limit)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ExpiredIteratorException":  # iterators last 15 minutes; a new one from where we are
                shard.iterator = None
                return
            if code == "TrimmedDataAccessException":
                log.error("%s: %s was trimmed past our position; records were lost", self.name, shard.shard_id)
                shard.iterator, shard.read_to, shard.initial = None, None, "TRIM_HORIZON"
                return
            raise
        shard.iterator = response.get("NextShardIterator")
        shard.end_reached = shard.iterator is None
        for raw in response.get("Records") or []:
            record = self._lambda_record(raw)
            shard.read_to = record["dynamodb"]["SequenceNumber"]
            if shard.skip_before is not None:
                if record["dynamodb"]["ApproximateCreationDateTime"] < shard.skip_before:
                    continue
                shard.skip_before = None  # records come in order: everything from here on is new
            if self._filter.matches(record):
                if not shard.buffer:
                    shard.gathering_since = time.monotonic()
                shard.buffer.append(record)

    def _iterator(self, shard: _Shard) -> str:
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if shard.read_to is not None:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.read_to)
        else:
            request.update(ShardIteratorType=shard.initial)
        iterator = str(self._streams.get_shard_iterator(**request)["ShardIterator"])
        if shard.initial == "LATEST":
            # LATEST is where the stream ended when the mapping first ran; if this iterator expires before a record
            # arrives, the way back there is from the start, skipping older records (as after a restart).
            assert self._checkpoint is not None
            shard.initial, shard.skip_before = "TRIM_HORIZON", math.floor(self._checkpoint.started_at)
        return iterator

    def _lambda_record(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        stream = raw["dynamodb"]
        created = stream.get("ApproximateCreationDateTime")
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": int(created.timestamp() if isinstance(created, datetime) else created or 0)
        }
        for name in ("Keys", "NewImage", "OldImage"):
            if name in stream:
                dynamodb[name] = {attribute: _wire_value(value) for attribute, value in stream[name].items()}
        dynamodb.update(
            SequenceNumber=str(stream["SequenceNumber"]),
            SizeBytes=int(stream.get("SizeBytes", 0)),
            StreamViewType=stream.get("StreamViewType"),
        )
        record: dict[str, Any] = {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
            "eventSourceARN": self.stream_arn,
        }
        if "userIdentity" in raw:  # deletions by TTL
            identity = raw["userIdentity"]
            record["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
        return record

    # --- delivering ---

    def _deliver(self, shard: _Shard) -> Outcome:
        chunk = shard.chunks[0]
        limit = self.source.maximum_retry_attempts
        if limit >= 0 and chunk.retries > limit:
            self._give_up(shard, "RetryAttemptsExhausted")  # an earlier attempt to send the record failed
            return Outcome.DELIVERED
        if self._expire(shard):
            return Outcome.DELIVERED
        chunk.invocations += 1
        chunk.request_id = str(uuid.uuid4())
        # A fresh copy per call: a handler that edits its event must not change what a retry delivers.
        ids = [r["dynamodb"]["SequenceNumber"] for r in chunk.records]
        completed, failed = self._invoke(copy.deepcopy(chunk.records), ids, chunk.request_id)
        if failed is None:
            chunk.function_error = "Unhandled" if not completed else None
            return self._whole_chunk_failed(shard, chunk)
        if not failed:
            self._done(shard)
            return Outcome.DELIVERED
        return self._partly_failed(shard, chunk, failed[0])

    def _done(self, shard: _Shard) -> None:
        chunk = shard.chunks.popleft()
        # The last chunk of a batch also covers the filtered-out records read after it.
        self._advance(shard, chunk.last if shard.chunks else shard.read_to)

    def _whole_chunk_failed(self, shard: _Shard, chunk: _Chunk) -> Outcome:
        if self.source.bisect_batch_on_function_error and len(chunk.records) > 1:
            middle = (len(chunk.records) + 1) // 2
            halves = [
                _Chunk(part, chunk.invocations, chunk.retries, chunk.request_id, chunk.function_error)
                for part in (chunk.records[:middle], chunk.records[middle:])
            ]
            shard.chunks.popleft()
            shard.chunks.extendleft(reversed(halves))
            log.info("%s: batch %s..%s failed; bisected", self.name, chunk.first, chunk.last)
            return Outcome.FAILED
        return self._retry_or_give_up(shard, chunk)

    def _partly_failed(self, shard: _Shard, chunk: _Chunk, lowest_failed: str) -> Outcome:
        index = next(i for i, r in enumerate(chunk.records) if r["dynamodb"]["SequenceNumber"] == lowest_failed)
        if index:
            self._advance(shard, chunk.records[index - 1]["dynamodb"]["SequenceNumber"])
        chunk.records = chunk.records[index:]
        chunk.function_error = None
        log.info("%s: records from %s on reported failed; retrying from there", self.name, lowest_failed)
        return self._retry_or_give_up(shard, chunk)

    def _retry_or_give_up(self, shard: _Shard, chunk: _Chunk) -> Outcome:
        chunk.retries += 1
        limit = self.source.maximum_retry_attempts
        if limit >= 0 and chunk.retries > limit:
            self._give_up(shard, "RetryAttemptsExhausted")
            return Outcome.DELIVERED
        return Outcome.FAILED

    def _expire(self, shard: _Shard) -> bool:
        """Give up on the leading records older than MaximumRecordAgeInSeconds; True if there were any."""
        max_age = self.source.maximum_record_age_seconds
        chunk = shard.chunks[0]
        if max_age < 0:
            return False
        oldest_allowed = self._clock() - max_age
        count = 0
        created = [record["dynamodb"]["ApproximateCreationDateTime"] for record in chunk.records]
        while count < len(created) and created[count] < oldest_allowed:
            count += 1
        if not count:
            return False
        expired = copy.copy(chunk)
        expired.records = chunk.records[:count]
        if count < len(chunk.records):
            chunk.records = chunk.records[count:]
            shard.chunks.appendleft(expired)
        else:
            shard.chunks[0] = expired
        self._give_up(shard, "RecordAgeExceeded")
        return True

    def _give_up(self, shard: _Shard, condition: str) -> None:
        """Describe the first chunk to the OnFailure destination (if any), then checkpoint past it."""
        chunk = shard.chunks[0]
        if self.on_failure is None:
            log.warning(
                "%s: %s; dropping records %s..%s of %s (no OnFailure destination)",
                self.name, condition, chunk.first, chunk.last, shard.shard_id,
            )  # fmt: skip
        else:
            # Sent before the checkpoint moves: if sending fails, the chunk is still first and is given up on
            # again at the next poll, so its record is never lost (it may be sent twice).
            self._send_failure(self._failure_record(shard, chunk, condition))
            log.warning(
                "%s: %s; records %s..%s of %s described to %s",
                self.name, condition, chunk.first, chunk.last, shard.shard_id, self.on_failure.arn,
            )  # fmt: skip
        self._done(shard)

    def _failure_record(self, shard: _Shard, chunk: _Chunk, condition: str) -> dict[str, Any]:
        created = [r["dynamodb"]["ApproximateCreationDateTime"] for r in chunk.records]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if chunk.function_error:
            response["functionError"] = chunk.function_error
        return {
            "requestContext": {
                "requestId": chunk.request_id or str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": chunk.invocations,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(self._clock()),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": chunk.first,
                "endSequenceNumber": chunk.last,
                "approximateArrivalOfFirstRecord": _iso(created[0]),
                "approximateArrivalOfLastRecord": _iso(created[-1]),
                "batchSize": len(chunk.records),
                "streamArn": self.stream_arn,
            },
        }

    def _send_failure(self, record: Mapping[str, Any]) -> None:
        assert self.on_failure is not None
        body = json.dumps(record)
        if self.on_failure.kind == "sqs":
            self._sqs.send_message(QueueUrl=self.on_failure.target, MessageBody=body)
        else:
            self._sns.publish(TopicArn=self.on_failure.target, Message=body)


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire_value(value: Any) -> Any:
    """A DynamoDB attribute value as JSON carries it (boto3 hands binary back as bytes; Lambda sends base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {key: _wire_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire_value(item) for item in value]
    return value


# --- SQS -----------------------------------------------------------------------------------------------------------


class SqsPoller(Poller):
    """One SQS event source mapping: a queue -> one function (see the module docstring)."""

    source: SqsEventSource

    # The long poll already waited; this only keeps an endpoint that ignores WaitTimeSeconds from spinning the loop.
    idle_seconds = 0.05

    def __init__(
        self,
        source: SqsEventSource,
        *,
        queue_url: str,
        queue_arn: str,
        invoker: Invoker,
        region: str,
        session: boto3.Session | None = None,
        wait_seconds: int = SQS_WAIT_SECONDS,
    ) -> None:
        super().__init__(f"{source.function}.{source.event}", invoker)
        if source.batch_size < 1:
            raise TemplateError(f"{self.name}: BatchSize must be at least 1")
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.wait_seconds = wait_seconds
        self._filter = FilterCriteria(source.filter_criteria, self.name)
        self._sqs: SQSClient = (session or boto3.Session()).client("sqs", region_name=region)

    def poll_once(self) -> Outcome:
        """One ReceiveMessage, one invocation, and the deletions Lambda would make."""
        messages = (
            self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(self.source.batch_size, _SQS_MAX_BATCH),
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages")
            or []
        )
        if not messages:
            return Outcome.IDLE
        records = [self._lambda_record(message) for message in messages]
        matching = [record for record in records if self._filter.matches(_filterable(record))]
        # Lambda deletes what no filter lets through; it would never reach the function anyway.
        delivered = {record["messageId"] for record in matching}
        done = [record for record in records if record["messageId"] not in delivered]
        outcome = Outcome.DELIVERED
        if matching:
            _, failed = self._invoke(matching, [record["messageId"] for record in matching], str(uuid.uuid4()))
            if failed is None:
                outcome = Outcome.FAILED  # the whole batch comes back after the visibility timeout
            else:
                done += [record for record in matching if record["messageId"] not in failed]
                outcome = Outcome.FAILED if failed else Outcome.DELIVERED
                if failed:
                    log.info("%s: %d of %d messages reported failed", self.name, len(failed), len(matching))
        self._delete(done)
        return outcome

    def _delete(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        entries: Any = [{"Id": str(i), "ReceiptHandle": record["receiptHandle"]} for i, record in enumerate(records)]
        failed = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed") or []
        for failure in failed:
            # The message will be delivered again (at least once); nothing else to do.
            log.warning("%s: could not delete a message (%s)", self.name, failure.get("Code"))

    def _lambda_record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(
            md5OfBody=message.get("MD5OfBody"),
            eventSource="aws:sqs",
            eventSourceARN=self.queue_arn,
            awsRegion=self.region,
        )
        return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda's spelling of a message attribute: camelCase, both list fields always present, binary in base64.
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _wire_value(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_wire_value(item) for item in value.get("BinaryListValues") or []]
    attribute["dataType"] = value.get("DataType")
    return attribute


def _filterable(record: Mapping[str, Any]) -> Mapping[str, Any]:
    # Lambda filters on a JSON body's fields; a body that is not JSON can only be matched as a plain string.
    try:
        body = json.loads(record["body"])
    except ValueError:
        return record
    return {**record, "body": body}


# --- wiring --------------------------------------------------------------------------------------------------------


def build_pollers(
    world: World, invoker: Invoker, *, state_dir: Path, session: boto3.Session | None = None
) -> list[Poller]:
    """A poller for every enabled SQS and DynamoDB event source of the template, created and ready to start."""
    pollers: list[Poller] = []
    for source in event_sources(world.template, world.resolve):
        where = f"{source.function}.{source.event}"
        if not source.enabled:
            log.info("%s: Enabled is false; not polled", where)
            continue
        if isinstance(source, SqsEventSource):
            pollers.append(
                SqsPoller(
                    source,
                    queue_url=world.queue_url(source.queue),
                    queue_arn=world.arn(source.queue),
                    invoker=invoker,
                    region=world.region,
                    session=session,
                )
            )
        else:
            destination = source.on_failure_destination
            pollers.append(
                DynamoDbStreamPoller(
                    source,
                    stream_arn=str(world.get_att(source.table, "StreamArn")),
                    function_arn=world.arn(source.function),
                    invoker=invoker,
                    state_dir=state_dir,
                    region=world.region,
                    on_failure=None if destination is None else failure_destination(world, destination, where),
                    session=session,
                )
            )
    return pollers


def failure_destination(world: World, logical_id: str, where: str) -> FailureDestination:
    resource = world.resource(logical_id)
    if resource.type == "AWS::SQS::Queue":
        if resource.name.endswith(".fifo"):
            raise TemplateError(f"{where}: OnFailure must be a standard queue (Lambda's rule); {logical_id} is FIFO")
        return FailureDestination("sqs", world.queue_url(logical_id), world.arn(logical_id))
    if resource.type == "AWS::SNS::Topic":
        return FailureDestination("sns", str(world.ref(logical_id)), str(world.ref(logical_id)))
    raise TemplateError(f"{where}: OnFailure must be an SQS queue or SNS topic of the template, not {resource.type}")
