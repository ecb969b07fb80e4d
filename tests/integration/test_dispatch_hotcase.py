"""A viral resource under concurrent dispatchers: exact counts, no conflicts, convergence after injected races.

Eight threads, each a shard's dispatcher, run the real handler (CaseTable on the template's table under moto) over
batches of 90 reports about ONE object from many reporters; some batches are delivered again after they succeeded,
as Lambda may. moto answers one call at a time (a lock around its request handler, test setup only), so threads
interleave between calls the way concurrent Lambdas interleave their requests. Where a real concurrent writer would
interleave with the mechanism, botocore event hooks inject it: a mark transaction cancelled by a conflict, an ADD
refused before it reaches the table, an ADD applied whose answer is lost, a process killed between its marks and
its ADD (Lambda bisects and redelivers the halves), another shard's whole batch run between a dispatcher's marks and
its ADD.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from shared.adapters import aws
from shared.adapters.reports_table import from_item, to_item
from shared.domain.cases import MAX_REPORTERS_KEPT, case_id_for, reporter_key
from tests.conftest import ProcessKilled, drain, stream_record
from tests.integration.test_dispatch import (
    PIXEL_URI,
    _detach_stream,
    _stored_report,
    _write,
    case,
    dispatch,
    moto_copies_a_table_once_per_transaction,  # noqa: F401 - the fixture, used by name below
)

THREADS, BATCHES_PER_THREAD, BATCH = 8, 2, 90


@pytest.fixture
def moto_one_call_at_a_time(monkeypatch):
    """moto's in-process backend is not thread-safe; AWS is. A lock around its request handler: test setup only."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    real = BotocoreStubber.__call__

    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return real(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", serialised)


def _reports(world, total: int) -> list[dict[str, Any]]:
    """`total` public reports of one protected object, each its own report from its own reporter at its own time."""
    record = from_item(_stored_report(world))
    items = []
    for n in range(total):
        report_id = record.report_id[:10] + f"{n:016X}".replace("I", "J").replace("L", "M").replace("O", "P")
        received = f"2026-03-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z"
        items.append(
            to_item(
                record.model_copy(
                    update={
                        "key_hex": f"{n:020x}",
                        "report_id": report_id,
                        "principal": f"arn:aws:iam::{n:012d}:role/reporter",
                        "received_at": received,
                    }
                )
            )
        )
    return items


def _deliver(world, records: list[dict[str, Any]], log: Counter[str], attempts: int = 8) -> None:
    """Lambda's stream retries: resume at the first failed record; after a crash, bisect and retry each half."""
    pending = [records]
    while pending:
        batch = pending.pop(0)
        for _ in range(attempts):
            log["deliveries"] += 1
            try:
                failed = dispatch(batch)
            except ProcessKilled:
                log["killed"] += 1
                if len(batch) > 1:
                    pending += [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                    break
                continue
            if not failed:
                break
            log["partial failures"] += 1
            first = min(n for n, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
            batch = batch[first:]
        else:
            raise AssertionError(f"a batch still fails after {attempts} deliveries")


class Races:
    """Injected interleavings, each armed for a given number of matching calls on the product's DynamoDB client."""

    def __init__(self, world, others: list[list[dict[str, Any]]], log: Counter[str]) -> None:
        self.lock = threading.Lock()
        self.log = log
        self.world = world
        self.others = others  # batches another shard dispatches between a dispatcher's marks and its ADD
        self.budget = Counter(
            {"conflict on marks": 3, "ADD refused": 3, "ADD answer lost": 3, "killed before ADD": 2, "interleave": 2}
        )
        self.lost: set[int] = set()  # threads whose current ADD must lose its answer

    def _take(self, name: str) -> bool:
        with self.lock:
            if self.budget[name] > 0:
                self.budget[name] -= 1
                self.log[name] += 1
                return True
            return False

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and self._take("conflict on marks"):
            reasons = [{"Code": "TransactionConflict"} for _ in params["TransactItems"]]
            raise ClientError(
                {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}, model.name
            )
        is_add = model.name == "UpdateItem" and params.get("ReturnValues") == "ALL_NEW"
        if not is_add:
            return
        if self._take("interleave"):
            with self.lock:
                other = self.others.pop()
            _deliver(self.world, other, self.log)
        if self._take("killed before ADD"):
            raise ProcessKilled("between the marks and the ADD")
        if self._take("ADD refused"):
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "injected"}}, model.name)
        if self._take("ADD answer lost"):
            self.lost.add(threading.get_ident())

    def after(self, model: Any, **_: Any) -> None:
        if model.name == "UpdateItem" and threading.get_ident() in self.lost:
            self.lost.discard(threading.get_ident())
            raise EndpointConnectionError(endpoint_url="https://dynamodb.injected")


@pytest.mark.usefixtures("moto_one_call_at_a_time", "moto_copies_a_table_once_per_transaction")
def test_concurrent_batches_about_one_object_count_every_report_once_without_conflicts(world):
    table = world.physical_name("ReportsTable")
    interleaved = 2
    total = (THREADS * BATCHES_PER_THREAD + interleaved) * BATCH
    items = _reports(world, total)
    _detach_stream(world, table)  # these records are built here; moto copies a stream shard on every transaction
    _write(boto3.client("dynamodb"), table, [{"PutRequest": {"Item": item}} for item in items])
    records = [stream_record(world, item, n + 1) for n, item in enumerate(items)]
    batches = [records[start : start + BATCH] for start in range(0, total, BATCH)]
    shards = [batches[t::THREADS][:BATCHES_PER_THREAD] for t in range(THREADS)]
    others = batches[THREADS * BATCHES_PER_THREAD :]
    log: Counter[str] = Counter()
    races = Races(world, others, log)
    aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.*", races.before)
    aws.dynamodb().meta.events.register("after-call.dynamodb.*", races.after)
    errors: list[BaseException] = []

    def shard(own: list[list[dict[str, Any]]]) -> None:
        try:
            for n, batch in enumerate(own):
                _deliver(world, batch, log)
                if n == 0:
                    _deliver(world, batch, log)  # delivered again after it succeeded: changes nothing
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=shard, args=(own,)) for own in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(races.budget.values()) == 0, f"every injected race happened: {races.budget}"
    # No conflict ever fails a batch: only the injected refusals and lost answers do, and their redelivery completes.
    assert log["partial failures"] <= log["ADD refused"] + log["ADD answer lost"], log

    viral = case(world, case_id_for(PIXEL_URI, "content"))
    assert viral["reportCount"]["N"] == str(total), log
    ddb = boto3.client("dynamodb")
    marks = []
    for start in range(0, total, 100):
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in items[start : start + 100]]
        answer = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        marks += [(i["status"]["S"], i["caseId"]["S"]) for i in answer["Responses"][table]]
    assert Counter(marks) == {("PROCESSING", case_id_for(PIXEL_URI, "content")): total}
    received = [i["receivedAt"]["S"] for i in items]
    assert (viral["firstSeen"]["S"], viral["lastSeen"]["S"]) == (min(received), max(received))
    everyone = {reporter_key(from_item(i).principal) for i in items}
    sample = set(viral["reporters"]["SS"])
    assert len(sample) == MAX_REPORTERS_KEPT and sample <= everyone, "the sample converged to its bound"
    assert viral["reporterCount"]["N"] == str(MAX_REPORTERS_KEPT)
    assert "pendingFanout" not in viral and "increments" not in viral, "every send confirmed, every token forgotten"
    leftovers = [i for i in ddb.scan(TableName=table)["Items"] if i["entity"]["S"] == "increment"]
    assert leftovers == [], "every stored increment was added and discarded"
    requested = Counter(m["report_id"] for m in drain(world.queue_url("QuarantineQueue")))
    assert set(requested) == {i["reportId"]["S"] for i in items}, "every report's quarantine request went out"
