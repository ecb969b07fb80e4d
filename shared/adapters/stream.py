"""The table's stream, read: Lambda's DynamoDB stream records decoded into what the dispatcher works on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.adapters.reports_table import from_item
from shared.domain.cases import (
    new_case,
)
from shared.domain.dispatch import StreamItem


def read_records(records: Iterable[Mapping[str, Any]]) -> list[StreamItem]:
    """Lambda's DynamoDB stream records as the dispatcher needs them, in batch order."""
    items = []
    for record in records:
        dynamodb = record.get("dynamodb") or {}
        sequence = str(dynamodb.get("SequenceNumber") or record.get("eventID") or "")
        image = dynamodb.get("NewImage") or {}
        # The event source's filter lets only report INSERTs through; this holds without it (sam local invoke).
        if record.get("eventName") != "INSERT" or (image.get("entity") or {}).get("S") != "report":
            items.append(StreamItem(sequence))
            continue
        try:
            report = from_item(image)
        except (KeyError, TypeError, ValueError) as exc:
            items.append(StreamItem(sequence, problem=f"unreadable report image: {type(exc).__name__}"))
            continue
        if new_case(report) is None:
            items.append(StreamItem(sequence, problem="the report names no resource"))
            continue
        items.append(StreamItem(sequence, report=report))
    return items
