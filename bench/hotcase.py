"""Hot cases: the dispatcher's AWS calls and case writes per stream batch, for a viral object and for distinct cases.

Counts, not times, under moto in a world built from infra/template.yaml, the way bench/pipeline.py measures (its
plumbing is reused): reports go in through the intake handler, the dispatcher gets them as stream records in the
template's batch size, calls are counted on the product's own clients. A case write is any write whose key is a
case item; `case writes in transactions` must stay 0 (a hot case in a transaction conflicts with other batches).

`calls_per_batch()` returns the numbers; `measure()` makes them rows of `make bench`'s table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.pipeline import PARTNER, _batch_size, _counting, _dispatch, _moto_world, _new_report_items, _submit
from bench.table import Figure


@contextmanager
def _counting_case_writes() -> Iterator[Counter[str]]:
    """Writes of case items by operation; TransactWriteItems counts the case actions it carries."""
    from shared.adapters import aws

    writes: Counter[str] = Counter()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        actions = [next(iter(action.values())) for action in params.get("TransactItems", [])]
        keys = [params.get("Key"), *(action.get("Key") or action.get("Item") for action in actions)]
        writes[model.name] += sum(1 for key in keys if key and key["SK"]["S"] == "CASE")

    events = aws.dynamodb().meta.events
    operations = ("UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems")
    for operation in operations:
        events.register(f"before-parameter-build.dynamodb.{operation}", count)
    try:
        yield writes
    finally:
        for operation in operations:
            events.unregister(f"before-parameter-build.dynamodb.{operation}", count)


def _per_batch(calls: Counter[str], writes: Counter[str], batches: int) -> dict[str, float]:
    numbers = {f"calls: {operation}": count / batches for operation, count in sorted(calls.items())}
    numbers["calls"] = sum(calls.values()) / batches
    numbers["case writes"] = sum(writes.values()) / batches
    numbers["case writes in transactions"] = writes["TransactWriteItems"] / batches
    return numbers


def calls_per_batch(viral_batches: int = 5) -> dict[str, dict[str, float]]:
    """Per stream batch: AWS calls (total and by operation) and case writes, for "viral" and "distinct" batches."""
    from tests.samples import xarf

    batch = _batch_size()
    results: dict[str, dict[str, float]] = {}
    with _moto_world() as world:
        seen: set[str] = set()

        # Distinct cases: partners' phishing reports, each of its own protected object.
        for n in range(batch):
            _submit(xarf(url=f"https://demo-customer-content.s3.amazonaws.com/hot/d{n}.html"), PARTNER)
        items = _new_report_items(world, seen)
        with _counting() as calls, _counting_case_writes() as writes:
            _dispatch(world, items, batch)
        results["distinct"] = _per_batch(calls, writes, 1)

        # A viral object: full batches of anonymous public reports of one object (quarantine requests only).
        for n in range(viral_batches * batch):
            _submit(xarf(url="https://demo-customer-content.s3.amazonaws.com/hot/viral.txt", description=f"#{n}"), None)
        viral = _new_report_items(world, seen)
        with _counting() as calls, _counting_case_writes() as writes:
            _dispatch(world, viral, batch, first=10_000)
        results["viral"] = _per_batch(calls, writes, viral_batches)
    return results


def measure() -> list[Figure]:
    numbers = calls_per_batch()
    figures = []
    for kind in ("viral", "distinct"):
        values = numbers[kind]
        calls = ", ".join(
            f"{v:g} {name.removeprefix('calls: ')}" for name, v in values.items() if name.startswith("calls: ")
        )
        figures += [
            Figure(f"hot cases: AWS calls per batch, {kind}", values["calls"], note=calls),
            Figure(
                f"hot cases: case writes per batch, {kind}",
                values["case writes"],
                budget=3 if kind == "viral" else None,
                note="a few per batch however viral (issue 12)" if kind == "viral" else "two per case: add, clear",
            ),
            Figure(f"hot cases: case writes in transactions, {kind}", values["case writes in transactions"], budget=0),
        ]
    return figures


if __name__ == "__main__":
    for kind, values in calls_per_batch().items():
        print(kind, {name: round(value, 2) for name, value in values.items()})
