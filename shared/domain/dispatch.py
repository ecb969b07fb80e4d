"""The dispatcher: the table's stream in; cases counted, quarantine and escalation requests out.

For one stream batch, in this order:
1. read the records (shared.adapters.stream): report INSERTs become ReportRecords, anything else is ignored, an
   unreadable record is poison;
2. load every case the batch touches (one BatchGetItem);
3. count: commit per case one increment together with each report's caseId + PROCESSING, in transactions of at most
   100 actions. A report already counted (a replay) fails its condition and is dropped from the next attempt; a case
   another dispatcher moved on comes back as it is now and is recomputed. Trusted flaggers' reports go first;
4. fan out, in batches of ten: a QuarantineRequest per protected S3 object, an EscalationRequest (FIFO: group = case,
   deduplication id = report) when policy escalates; for reports counted now, and for replayed reports whose
   messages were never confirmed (still in the case's pendingFanout);
5. clear the sent reports from pendingFanout.

What fails is reported per record, by its sequence number; Lambda restarts the shard at the first one. Everything
before a failure stays done: a record that succeeded and is delivered again is counted zero times and sends nothing,
unless its sends were never confirmed. Queue delivery is at least once (a crash between a send and its clear sends
again); the workers are idempotent, and the FIFO queue drops a repeat within its five-minute window.

The stores come in as ports (CaseStore, Outbox) so this logic runs on fakes; the adapters are
shared.adapters.stream (records in), shared.adapters.cases_table and shared.adapters.queues. It logs nothing itself:
what went wrong is in the result's warnings (ids, counts and codes only) for the handler to log.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.cases import (
    MAX_TRANSACTION_ACTIONS,
    CaseIncrement,
    CaseState,
    CommitOutcome,
    decision_for,
    fold,
    needs_fanout,
    new_case,
    priority,
)
from shared.domain.errors import StoreUnavailable
from shared.domain.messages import EscalationRequest, QuarantineRequest
from shared.domain.reports import ReportRecord
from shared.domain.resources import InvalidResource, canonicalize

MAX_COMMIT_ROUNDS = 12  # transactions per batch beyond the ones it needs, before its remaining records fail


# ---------------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamItem:
    sequence: str
    report: ReportRecord | None = None  # None: not a report insert, nothing to do
    problem: str | None = None  # set when the record cannot be read: poison


# ---------------------------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------------------------


class CaseStore(Protocol):
    def load(self, seeds: Sequence[CaseState]) -> dict[str, CaseState]: ...

    def commit(self, increments: Sequence[CaseIncrement]) -> CommitOutcome: ...

    def clear_pending(self, sent: Mapping[str, Iterable[str]]) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    body: str
    group_id: str | None = None  # FIFO only
    deduplication_id: str | None = None  # FIFO only


class Outbox(Protocol):
    def send(self, queue_url: str, messages: Sequence[Outgoing]) -> set[int]:
        """Send them all; the indices of those that could not be sent."""
        ...


@dataclass(frozen=True, slots=True)
class Queues:
    quarantine_url: str
    escalation_url: str


# ---------------------------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    failed: list[str] = field(default_factory=list)  # sequence numbers, in batch order
    counted: int = 0  # reports counted into a case by this delivery
    replayed: int = 0  # reports this delivery found counted already
    cases: int = 0
    messages: int = 0  # messages sent
    poison: int = 0
    # What went wrong, for the handler to log: ids, counts and reasons only (the domain does not log itself).
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def warn(self, message: str, fields: dict[str, Any]) -> None:
        self.warnings.append((message, fields))

    def response(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial-batch answer for a stream: it resumes at the first failed sequence number."""
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in self.failed]}


def dispatch(
    items: Sequence[StreamItem],
    *,
    store: CaseStore,
    outbox: Outbox,
    queues: Queues,
    pause: Callable[[float], None] = time.sleep,
) -> DispatchResult:
    result = DispatchResult()
    failed_reports: set[str] = set()
    sequences: dict[str, list[str]] = defaultdict(list)  # report id -> its records (a batch may repeat one)
    reports: dict[str, ReportRecord] = {}
    for item in items:
        if item.problem is not None:
            result.warn("poison stream record", {"sequence": item.sequence, "problem": item.problem})
            result.poison += 1
        elif item.report is not None:
            sequences[item.report.report_id].append(item.sequence)
            reports.setdefault(item.report.report_id, item.report)
    ordered = sorted(reports.values(), key=priority)

    seeds: dict[str, CaseState] = {}
    case_of: dict[str, str] = {}
    for report in ordered:
        seed = new_case(report)
        assert seed is not None  # the stream reader made it poison otherwise
        seeds.setdefault(seed.case_id, seed)
        case_of[report.report_id] = seed.case_id
    result.cases = len(seeds)

    to_send: list[ReportRecord] = []
    states: dict[str, CaseState] = {}
    try:
        states = store.load(list(seeds.values()))
    except StoreUnavailable as exc:
        result.warn("cases unavailable", {"reason": str(exc)})
        failed_reports.update(reports)
    else:
        counted, replayed, uncounted = _count(ordered, case_of, states, store, pause, result)
        failed_reports |= uncounted
        result.counted, result.replayed = len(counted), len(replayed)
        # A replayed report is sent again only while its case still lists it as pending: a crash came between its
        # count and the confirmation of its sends. Otherwise its messages went out with the delivery that counted it.
        to_send = [
            report
            for report in ordered
            if needs_fanout(report)
            and (
                report.report_id in counted
                or (
                    report.report_id in replayed
                    and report.report_id in states[case_of[report.report_id]].pending_fanout
                )
            )
        ]
        unsent, result.messages = _fan_out(to_send, case_of, states, outbox, queues)
        failed_reports |= unsent
        sent: dict[str, set[str]] = defaultdict(set)
        for report in to_send:
            if report.report_id not in unsent:
                sent[case_of[report.report_id]].add(report.report_id)
        if sent:
            try:
                store.clear_pending(sent)
            except StoreUnavailable as exc:
                # The messages are out, but nothing says so: deliver the records again, and they are sent again.
                result.warn("pending fan-out not cleared", {"reason": str(exc)})
                failed_reports.update(report_id for ids in sent.values() for report_id in ids)

    failed_sequences = {sequence for report_id in failed_reports for sequence in sequences[report_id]}
    failed_sequences |= {item.sequence for item in items if item.problem is not None}
    result.failed = [item.sequence for item in items if item.sequence in failed_sequences]
    return result


def _count(
    ordered: Sequence[ReportRecord],
    case_of: Mapping[str, str],
    states: dict[str, CaseState],
    store: CaseStore,
    pause: Callable[[float], None],
    result: DispatchResult,
) -> tuple[set[str], set[str], set[str]]:
    """Count every report into its case; (counted now, counted before, not counted). Updates `states` in place."""
    waiting: dict[str, list[ReportRecord]] = defaultdict(list)  # case id -> reports to count, in priority order
    for report in ordered:
        waiting[case_of[report.report_id]].append(report)
    counted: set[str] = set()
    replayed: set[str] = set()
    gone: set[str] = set()
    needed = sum(len(reports) + 1 for reports in waiting.values()) // MAX_TRANSACTION_ACTIONS + 1
    stalled = 0
    for _ in range(needed + MAX_COMMIT_ROUNDS):
        if not waiting:
            break
        increments = _pack(waiting, states)
        try:
            outcome = store.commit(increments)
        except StoreUnavailable as exc:
            result.warn("case commit failed", {"reason": str(exc), "cases": len(increments)})
            break
        if outcome.committed:
            for increment in increments:
                states[increment.after.case_id] = increment.after
                done = {report.report_id for report in increment.reports}
                counted |= done
                _drop(waiting, increment.after.case_id, done)
            continue
        if not (outcome.current or outcome.already_counted or outcome.missing):
            # Cancelled for no reason of ours to fix (another transaction on the same items, throttling): back off
            # with jitter, or concurrent dispatchers of one viral case would collide again in lockstep.
            stalled += 1
            pause(random.uniform(0, 0.025 * 2**stalled))
        for case_id, current in outcome.current.items():
            states[case_id] = current
        replayed |= outcome.already_counted
        gone |= outcome.missing
        for case_id in list(waiting):
            _drop(waiting, case_id, outcome.already_counted | outcome.missing)
    if gone:
        result.warn("reports gone before they were counted", {"count": len(gone)})
    return counted, replayed, {report.report_id for reports in waiting.values() for report in reports}


def _pack(waiting: Mapping[str, list[ReportRecord]], states: Mapping[str, CaseState]) -> list[CaseIncrement]:
    """As many reports as one transaction takes: per case one increment (an item may appear once per transaction)."""
    room = MAX_TRANSACTION_ACTIONS
    increments = []
    for case_id, reports in waiting.items():
        if room < 2:
            break
        take = reports[: room - 1]
        increments.append(fold(states[case_id], take))
        room -= len(take) + 1
    return increments


def _drop(waiting: dict[str, list[ReportRecord]], case_id: str, report_ids: set[str] | frozenset[str]) -> None:
    remaining = [report for report in waiting[case_id] if report.report_id not in report_ids]
    if remaining:
        waiting[case_id] = remaining
    else:
        del waiting[case_id]


def messages_for(report: ReportRecord, case: CaseState) -> tuple[list[QuarantineRequest], EscalationRequest | None]:
    """What one report asks of the workers, given its case as counted."""
    decision = decision_for(report, case)
    quarantine = []
    for uri in report.s3_objects:
        try:
            resource = canonicalize(uri)
        except InvalidResource:
            continue  # intake stored it canonical; an unreadable one is not ours to guess at
        if resource.bucket is None or resource.key is None:
            continue
        quarantine.append(
            QuarantineRequest(
                report_id=report.report_id,
                case_id=case.case_id,
                bucket=resource.bucket,
                key=resource.key,
                version_id=resource.version_id,
                restrict=decision.restrict_now,
                category=report.category,
                type=report.type,
            )
        )
    escalation = None
    if decision.escalate:
        escalation = EscalationRequest(
            case_id=case.case_id,
            report_id=report.report_id,
            severity=case.severity or decision.severity,
            category=report.category,
            type=report.type,
            child_safety=decision.child_safety,
        )
    return quarantine, escalation


def _fan_out(
    reports: Sequence[ReportRecord],
    case_of: Mapping[str, str],
    states: Mapping[str, CaseState],
    outbox: Outbox,
    queues: Queues,
) -> tuple[set[str], int]:
    """Send every report's messages, trusted flaggers' first: (ids of reports not all of whose went, messages sent)."""
    quarantine: list[tuple[str, Outgoing]] = []
    escalation: list[tuple[str, Outgoing]] = []
    for report in reports:
        case = states[case_of[report.report_id]]
        requests, escalate = messages_for(report, case)
        quarantine += [(report.report_id, Outgoing(request.model_dump_json())) for request in requests]
        if escalate is not None:
            escalation.append(
                (
                    report.report_id,
                    Outgoing(escalate.model_dump_json(), group_id=case.case_id, deduplication_id=report.report_id),
                )
            )
    unsent: set[str] = set()
    sent = 0
    for queue_url, batch in ((queues.quarantine_url, quarantine), (queues.escalation_url, escalation)):
        if batch:
            failed = outbox.send(queue_url, [message for _, message in batch])
            unsent |= {batch[index][0] for index in failed}
            sent += len(batch) - len(failed)
    return unsent, sent
