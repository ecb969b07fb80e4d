"""The sweeper: what the pipeline left behind, found through sparse indexes and sent down the same idempotent path.

Two things can be stranded with nothing left to bring them back:
- a report still QUEUED: its stream records failed past the mapping's retries and went to the on-failure queue
  (which holds shard positions, not records), or the stream's 24 hours ran out. The report item says everything the
  dispatcher needs, so the sweeper hands such reports to `shared.domain.dispatch.dispatch` as if their records came
  again: the mark's `attribute_not_exists(caseId)` still counts each once, whoever gets there first;
- a child-safety escalation waiting for its evidence: the escalation worker recorded on the case when it started
  waiting (and the request it was working on), and clears that when the draft has every file. Its message may have
  run out of receives or been lost; the sweeper sends the request again (the worker is idempotent).

Both are due after `SWEEP_AFTER`; a healthy pipeline finishes long before, so on a healthy system a sweep finds
nothing, and what it finds is reported as metrics whose alarms page.

Only reports still QUEUED (no caseId, hence no increment token) are re-dispatched. A PROCESSING report whose
increment was stored but never added (a crash between the mark and the add, its records then dropped) is not this
sweep's business: it is counted, its case is one increment short until a delivery names that token again.

The index is eventually consistent, so what it lists is read again (strongly consistent) before anything is done:
a report the dispatcher marked a moment ago is skipped, never sent twice for that reason. No AWS here: the ports
are shared.adapters.reports_table.QueuedReports, shared.adapters.cases_table.CaseTable and the SQS outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain import dispatch as dispatching
from shared.domain.messages import EscalationRequest
from shared.domain.reports import ReportRecord, ReportStatus, utc_timestamp

SWEEP_AFTER = timedelta(minutes=15)
MAX_REPORTS_PER_SWEEP = 900  # ten dispatcher-sized batches; a larger backlog is finished by the next sweeps
MAX_ESCALATIONS_PER_SWEEP = 100
DISPATCH_BATCH = 90  # the stream mapping's BatchSize: the dispatcher's limits hold for a sweep's batch too


def due_before(now: datetime) -> str:
    """What was received (or started waiting) before this is due for a sweep."""
    return utc_timestamp(now - SWEEP_AFTER)


def age_seconds(since: str, now: datetime) -> float:
    return max(0.0, (now - datetime.fromisoformat(since.replace("Z", "+00:00"))).total_seconds())


@dataclass(frozen=True, slots=True)
class Listed:
    """An index entry: which item, since when. The index may lag the table; the item is read again."""

    key: str  # a report's key_hex, or a case id
    since: str


@dataclass(frozen=True, slots=True)
class WaitingEscalation:
    case_id: str
    since: str
    request: EscalationRequest | None  # None: the case waits no more (the index lagged), or what it kept is unreadable


class QueuedReports(Protocol):
    def queued_before(self, received_before: str, limit: int) -> list[Listed]: ...

    def reports(self, keys: Sequence[str]) -> list[ReportRecord]: ...


class WaitingCases(Protocol):
    def awaiting_evidence_before(self, since_before: str, limit: int) -> list[Listed]: ...

    def waiting_escalations(self, case_ids: Sequence[str]) -> list[WaitingEscalation]: ...


def still_queued(report: ReportRecord) -> bool:
    """Whether the dispatcher never counted it: the only reports a sweep sends down the dispatch path again."""
    return report.status == ReportStatus.QUEUED and report.case_id is None


def resend_id(case_id: str, now: datetime) -> str:
    """A FIFO deduplication id that differs from the dispatcher's (the report id) and from earlier sweeps' ids.

    SQS drops a repeat of an id within five minutes; the sweep's scheduled minute keeps a retried invocation of the
    same sweep a repeat, and the next sweep (five minutes on) a new message.
    """
    return f"sweep-{case_id}-{utc_timestamp(now)[:16].replace(':', '').replace('-', '')}"


@dataclass
class SweepResult:
    queued_listed: int = 0  # index entries due
    queued_found: int = 0  # of them, reports still QUEUED when read
    redispatched: int = 0  # of those, counted into their case by this sweep (or found counted meanwhile)
    failed: int = 0  # still not in their case after this sweep: the next one tries again
    oldest_queued_age: float = 0.0  # seconds; 0 when nothing due was found
    waiting_found: int = 0
    resent: int = 0
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def sweep(
    now: datetime,
    *,
    queued: QueuedReports,
    waiting: WaitingCases,
    store: dispatching.CaseStore,
    outbox: dispatching.Outbox,
    queues: dispatching.Queues,
    dispatch: Callable[..., dispatching.DispatchResult] = dispatching.dispatch,
) -> SweepResult:
    result = SweepResult()
    cutoff = due_before(now)
    _sweep_reports(now, cutoff, queued, store, outbox, queues, dispatch, result)
    _sweep_escalations(now, cutoff, waiting, outbox, queues, result)
    return result


def _sweep_reports(
    now: datetime,
    cutoff: str,
    queued: QueuedReports,
    store: dispatching.CaseStore,
    outbox: dispatching.Outbox,
    queues: dispatching.Queues,
    dispatch: Callable[..., dispatching.DispatchResult],
    result: SweepResult,
) -> None:
    listed = queued.queued_before(cutoff, MAX_REPORTS_PER_SWEEP)
    result.queued_listed = len(listed)
    if not listed:
        return
    found = sorted(
        (report for report in queued.reports([entry.key for entry in listed]) if still_queued(report)),
        key=lambda report: report.received_at,
    )
    result.queued_found = len(found)
    if found:
        result.oldest_queued_age = age_seconds(found[0].received_at, now)
    for start in range(0, len(found), DISPATCH_BATCH):
        batch = found[start : start + DISPATCH_BATCH]
        # A sequence per report stands in for its stream record: the dispatcher reports failures by it.
        items = [dispatching.StreamItem(f"sweep-{report.report_id}", report=report) for report in batch]
        outcome = dispatch(items, store=store, outbox=outbox, queues=queues)
        result.warnings += outcome.warnings
        result.failed += len(outcome.failed)
        result.redispatched += len(batch) - len(outcome.failed)


def _sweep_escalations(
    now: datetime,
    cutoff: str,
    waiting: WaitingCases,
    outbox: dispatching.Outbox,
    queues: dispatching.Queues,
    result: SweepResult,
) -> None:
    listed = waiting.awaiting_evidence_before(cutoff, MAX_ESCALATIONS_PER_SWEEP)
    if not listed:
        return
    due = [
        escalation
        for escalation in waiting.waiting_escalations([entry.key for entry in listed])
        if escalation.request is not None and escalation.since < cutoff
    ]
    result.waiting_found = len(due)
    messages = [
        dispatching.Outgoing(
            escalation.request.model_dump_json(),
            group_id=escalation.case_id,
            deduplication_id=resend_id(escalation.case_id, now),
        )
        for escalation in due
        if escalation.request is not None
    ]
    if messages:
        failed = outbox.send(queues.escalation_url, messages)
        result.resent = len(messages) - len(failed)
        if failed:
            result.warnings.append(("escalations not sent again", {"count": len(failed)}))
