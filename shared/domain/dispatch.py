"""The dispatcher: the table's stream in; cases counted, quarantine and escalation requests out.

For one stream batch, in this order (shared.domain.cases says why each step is safe):
1. read the records (shared.adapters.stream): report INSERTs become ReportRecords, anything else is ignored, an
   unreadable record is poison;
2. load every case the batch touches (one BatchGetItem);
3. mark: per at most 99 reports one transaction of their caseId + PROCESSING marks and the increment item saying
   what they add to their cases. Only report items and a new item are in it, so concurrent batches about one viral
   case never conflict. A report already counted (a replay) fails its condition, hands back the token of the
   increment that counted it, and is dropped from the next attempt. Trusted flaggers' reports go first;
4. add: every increment of this delivery, and every increment a replayed report names that is still stored (a crash
   came after its marks), is added to each of its cases by one idempotent UpdateItem ADD; then its item is discarded;
5. settle: per case at most one conditional write for what does not commute (severity, reporterCount, first/last
   seen, sample trims) and the tokens of discarded increments;
6. fan out, in batches of ten: a QuarantineRequest per protected S3 object, an EscalationRequest (FIFO: group = case,
   deduplication id = report) when policy escalates; for reports counted now, and for replayed reports whose
   messages were never confirmed (still in the case's pendingFanout);
7. clear the sent reports from pendingFanout.
So a case costs at most three writes per batch (add, settle, clear), however many of the batch's reports it counts.

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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from shared.domain.callers import TrustTier
from shared.domain.cases import (
    ANONYMOUS_PRINCIPAL,
    MAX_MARKS_PER_INCREMENT,
    CaseAddition,
    CaseIncrement,
    CaseSettlement,
    CaseState,
    MarkOutcome,
    decision_for,
    fold,
    needs_fanout,
    new_case,
    priority,
    reporter_key,
    settle,
)
from shared.domain.errors import StoreUnavailable
from shared.domain.messages import EscalationRequest, QuarantineRequest
from shared.domain.reports import ReportRecord
from shared.domain.resources import InvalidResource, canonicalize

MAX_MARK_ROUNDS = 12  # mark transactions per batch beyond the ones it needs, before its remaining records fail
MAX_SETTLE_ROUNDS = 8  # a settle that lost to other writers this often fails its records, for a redelivery to finish


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
    def load(
        self, seeds: Sequence[CaseState], reporters: Iterable[str] = ()
    ) -> tuple[dict[str, CaseState], frozenset[str]]:
        """The stored state of each case (or its seed), and which of `reporters` an analyst suspended (DSA Art. 23),
        read together."""
        ...

    def mark(self, increments: Sequence[CaseIncrement]) -> MarkOutcome:
        """Mark every report of the increments counted, and store what they add, in one transaction."""
        ...

    def stored_increments(self, tokens: Iterable[str]) -> dict[str, tuple[CaseAddition, ...]]:
        """The increments among these that are still stored (not known to be fully added): token -> additions."""
        ...

    def add(self, token: str, addition: CaseAddition) -> CaseState:
        """Add it to its case unless that increment was added already; the case as it is after."""
        ...

    def discard(self, token: str) -> None: ...

    def settle(self, settlement: CaseSettlement) -> CaseState | None:
        """Write it; None when written, else the case as it is now (a condition failed: recompute and retry)."""
        ...

    def clear_pending(
        self, sent: Mapping[str, Iterable[str]], forget: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Per case: drop sent report ids from pendingFanout, and forget tokens of discarded increments."""
        ...


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
    counted: int = 0  # reports marked counted by this delivery
    replayed: int = 0  # reports this delivery found marked already
    recovered: int = 0  # increments an earlier delivery stored and this one added
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


@dataclass
class _Counting:
    """What the batch has done so far, report by report and case by case."""

    ordered: Sequence[ReportRecord]
    case_of: Mapping[str, str]
    states: dict[str, CaseState]
    counted: set[str] = field(default_factory=set)
    replayed: dict[str, str | None] = field(default_factory=dict)  # report id -> token of the increment that counted it
    failed: set[str] = field(default_factory=set)  # report ids
    marked: dict[str, tuple[str, ...]] = field(default_factory=dict)  # token -> report ids this delivery marked
    additions: dict[str, tuple[CaseAddition, ...]] = field(default_factory=dict)  # token -> what it adds
    forget: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # case id -> tokens discarded
    forget_later: dict[str, frozenset[str]] = field(default_factory=dict)  # left to the clear write, or a write alone


def dispatch(
    items: Sequence[StreamItem],
    *,
    store: CaseStore,
    outbox: Outbox,
    queues: Queues,
    pause: Callable[[float], None] = time.sleep,
) -> DispatchResult:
    result = DispatchResult()
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

    failed_reports: set[str] = set()
    identified = {reporter_key(r.principal) for r in ordered if r.principal != ANONYMOUS_PRINCIPAL}
    try:
        states, suspended = store.load(list(seeds.values()), identified)
    except StoreUnavailable as exc:
        result.warn("cases unavailable", {"reason": str(exc)})
        failed_reports.update(reports)
    else:
        if suspended:
            ordered = sorted(_demoted(ordered, suspended), key=priority)
        counting = _Counting(ordered, case_of, states)
        _mark(counting, store, pause, result)
        _add(counting, store, result)
        _settle(counting, store, result)
        failed_reports |= counting.failed
        result.counted, result.replayed = len(counting.counted), len(counting.replayed)
        # A replayed report is sent again only while its case still lists it as pending: a crash came between its
        # count and the confirmation of its sends. Otherwise its messages went out with the delivery that counted it.
        to_send = [
            report
            for report in ordered
            if needs_fanout(report)
            and report.report_id not in counting.failed
            and (
                report.report_id in counting.counted
                or (
                    report.report_id in counting.replayed
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
        forget = {case_id: tokens for case_id, tokens in counting.forget_later.items() if case_id in states}
        if sent or forget:
            try:
                store.clear_pending(sent, forget)
            except StoreUnavailable as exc:
                # The messages are out, but nothing says so: deliver the records again, and they are sent again.
                result.warn("pending fan-out not cleared", {"reason": str(exc)})
                failed_reports.update(report_id for ids in sent.values() for report_id in ids)

    failed_sequences = {sequence for report_id in failed_reports for sequence in sequences[report_id]}
    failed_sequences |= {item.sequence for item in items if item.problem is not None}
    result.failed = [item.sequence for item in items if item.sequence in failed_sequences]
    return result


def _demoted(reports: Iterable[ReportRecord], suspended: frozenset[str]) -> list[ReportRecord]:
    """Reports of reporters an analyst suspended for abusing the channel (DSA Art. 23) are still taken, counted and
    preserved (a true report among them must not be lost, and CSAM is P0 whoever sends it), but weighed as the
    lowest tier's: they never raise a case's severity, restrict or page beyond what an anonymous report would."""
    return [
        report.model_copy(update={"trust_tier": TrustTier.PUBLIC})
        if report.principal != ANONYMOUS_PRINCIPAL and reporter_key(report.principal) in suspended
        else report
        for report in reports
    ]


def _mark(counting: _Counting, store: CaseStore, pause: Callable[[float], None], result: DispatchResult) -> None:
    """Mark every report counted, in transactions with their increments; what is left unmarked fails."""
    waiting: dict[str, list[ReportRecord]] = defaultdict(list)  # case id -> reports to mark, in priority order
    for report in counting.ordered:
        waiting[counting.case_of[report.report_id]].append(report)
    # Each case's increments build on what the previous one added (for the samples' room), not on the stored case.
    estimates = dict(counting.states)
    gone: set[str] = set()
    needed = len(counting.ordered) // MAX_MARKS_PER_INCREMENT + 1
    stalled = 0
    for _ in range(needed + MAX_MARK_ROUNDS):
        if not waiting:
            break
        increments = _pack(waiting, estimates)
        try:
            outcome = store.mark(increments)
        except StoreUnavailable as exc:
            result.warn("marking failed", {"reason": str(exc), "cases": len(increments)})
            break
        if outcome.token is not None:
            counting.marked[outcome.token] = tuple(r.report_id for i in increments for r in i.reports)
            counting.additions[outcome.token] = tuple(increment.addition for increment in increments)
            for increment in increments:
                estimates[increment.after.case_id] = increment.after
                done = {report.report_id for report in increment.reports}
                counting.counted |= done
                _drop(waiting, increment.after.case_id, done)
            continue
        if not (outcome.already_counted or outcome.missing):
            # Cancelled for no reason of ours to fix (another transaction on a report, throttling): back off with
            # jitter, or two writers of the same reports would collide again in lockstep.
            stalled += 1
            pause(random.uniform(0, 0.025 * 2**stalled))
        counting.replayed.update(outcome.already_counted)
        gone |= outcome.missing
        for case_id in list(waiting):
            _drop(waiting, case_id, set(outcome.already_counted) | outcome.missing)
    if gone:
        result.warn("reports gone before they were counted", {"count": len(gone)})
    counting.failed |= {report.report_id for reports in waiting.values() for report in reports}


def _add(counting: _Counting, store: CaseStore, result: DispatchResult) -> None:
    """Add this delivery's increments, and any earlier one a replayed report names that is still stored."""
    named: dict[str, list[str]] = defaultdict(list)  # token -> replayed report ids it counted
    for report_id, token in counting.replayed.items():
        if token is not None:
            named[token].append(report_id)
    additions = dict(counting.additions)  # this delivery's own: it knows what they add
    if named:
        try:
            stored = store.stored_increments(set(named))
        except StoreUnavailable as exc:
            result.warn("increments unavailable", {"reason": str(exc)})
            counting.failed |= {report_id for ids in named.values() for report_id in ids}
            stored = {}
        else:
            for token in set(named) - set(stored):
                # Its item is gone, so it was added everywhere: a token its cases still hold is safe to forget.
                for report_id in named[token]:
                    counting.forget[counting.case_of[report_id]].add(token)
        additions |= stored
    for token, adds in additions.items():
        owners = set(counting.marked.get(token, ())) | set(named.get(token, ()))
        try:
            for addition in adds:
                counting.states[addition.case_id] = store.add(token, addition)
            store.discard(token)
        except StoreUnavailable as exc:
            # The increment stays stored: the redelivered reports name it, and it is added (once) then.
            result.warn("increment not added", {"reason": str(exc), "cases": len(adds)})
            counting.failed |= owners
            continue
        if token not in counting.marked:
            result.recovered += 1
        for addition in adds:
            counting.forget[addition.case_id].add(token)


def _settle(counting: _Counting, store: CaseStore, result: DispatchResult) -> None:
    """One settle write per case that needs one, retried on top of whatever beat it."""
    by_case: dict[str, list[ReportRecord]] = defaultdict(list)
    for report in counting.ordered:
        if report.report_id in counting.counted or report.report_id in counting.replayed:
            by_case[counting.case_of[report.report_id]].append(report)
    for case_id, reports in by_case.items():
        ids = {report.report_id for report in reports}
        if ids & counting.failed:
            continue  # not all of it is added yet: its redelivery settles it
        state = counting.states[case_id]
        if not state.exists:
            continue  # every report of it was counted by an increment this delivery could not find: nothing to do
        for _ in range(MAX_SETTLE_ROUNDS):
            settlement = settle(state, reports, counting.forget.get(case_id, ()))
            if replace(settlement, forget=frozenset()).empty:
                if settlement.forget:  # nothing else to write: the pendingFanout clear takes the tokens along
                    counting.forget_later[case_id] = settlement.forget
                break
            try:
                current = store.settle(settlement)
            except StoreUnavailable as exc:
                result.warn("case not settled", {"reason": str(exc)})
                counting.failed |= ids
                break
            if current is None:
                state = settlement.after
                break
            state = current
        else:
            result.warn("case not settled", {"reason": "contended"})
            counting.failed |= ids
        counting.states[case_id] = state


def _pack(waiting: Mapping[str, list[ReportRecord]], states: Mapping[str, CaseState]) -> list[CaseIncrement]:
    """As many reports as one mark transaction takes, per case one increment, with room for the increment item."""
    room = MAX_MARKS_PER_INCREMENT
    increments = []
    for case_id, reports in waiting.items():
        if room < 1:
            break
        take = reports[:room]
        increments.append(fold(states[case_id], take))
        room -= len(take)
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
