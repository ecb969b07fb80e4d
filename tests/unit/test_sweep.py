"""The sweep decision on in-memory stores, with the clock injected: what is due, what is sent again, what is left."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.domain.dispatch import DispatchResult
from shared.domain.messages import EscalationRequest
from shared.domain.policy import Severity
from shared.domain.reports import ReportRecord, ReportStatus, queued_shard_for, utc_timestamp
from shared.domain.sweep import (
    MAX_REPORTS_PER_SWEEP,
    Listed,
    WaitingEscalation,
    due_before,
    resend_id,
    still_queued,
    sweep,
)
from tests.samples import xarf
from tests.unit.test_cases_dispatch import QUEUES, MemoryCaseStore, MemoryOutbox, partner, record


def received(report: ReportRecord) -> datetime:
    return datetime.fromisoformat(report.received_at.replace("Z", "+00:00"))


@dataclass
class MemoryQueuedReports:
    """The table's reports, and an index that may lag them (as a GSI does)."""

    table: dict[str, ReportRecord] = field(default_factory=dict)
    index: list[Listed] = field(default_factory=list)
    asked: list[tuple[str, int]] = field(default_factory=list)

    def add(self, report: ReportRecord) -> None:
        self.table[report.key_hex] = report
        self.index.append(Listed(report.key_hex, report.received_at))

    def queued_before(self, received_before: str, limit: int) -> list[Listed]:
        self.asked.append((received_before, limit))
        return sorted((e for e in self.index if e.since < received_before), key=lambda e: e.since)[:limit]

    def reports(self, keys) -> list[ReportRecord]:
        return [self.table[key] for key in keys if key in self.table]


@dataclass
class MemoryWaitingCases:
    waiting: dict[str, WaitingEscalation] = field(default_factory=dict)

    def awaiting_evidence_before(self, since_before: str, limit: int) -> list[Listed]:
        return [Listed(w.case_id, w.since) for w in self.waiting.values() if w.since < since_before][:limit]

    def waiting_escalations(self, case_ids) -> list[WaitingEscalation]:
        return [self.waiting[case_id] for case_id in case_ids if case_id in self.waiting]


def run(now: datetime, queued: MemoryQueuedReports, store: MemoryCaseStore, outbox: MemoryOutbox, waiting=None):
    return sweep(now, queued=queued, waiting=waiting or MemoryWaitingCases(), store=store, outbox=outbox, queues=QUEUES)


def test_a_report_is_due_15_minutes_after_it_was_received_and_not_before():
    report = record(xarf(url="https://login.example.net/a"), partner(1))
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()
    queued.add(report)
    store.add_reports([report])

    early = run(received(report) + timedelta(minutes=14, seconds=59), queued, store, outbox)
    assert (early.queued_found, early.redispatched, store.reports[report.report_id]) == (0, 0, None)

    due = run(received(report) + timedelta(minutes=15, milliseconds=1), queued, store, outbox)
    assert (due.queued_found, due.redispatched, due.failed) == (1, 1, 0)
    assert store.reports[report.report_id] is not None, "counted into its case"
    assert due.oldest_queued_age > 15 * 60
    assert [body["report_id"] for body in outbox.bodies(QUEUES.escalation_url)] == [report.report_id]
    assert queued.asked[-1] == (due_before(received(report) + timedelta(minutes=15, milliseconds=1)), 900)


def test_only_reports_still_queued_when_read_are_dispatched_again():
    counted = record(xarf(url="https://login.example.net/a"), partner(1))
    stuck = record(xarf(url="https://login.example.net/b"), partner(2))
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()
    for report in (counted, stuck):
        queued.add(report)
    store.add_reports([counted, stuck])
    # The dispatcher marked this one a moment ago; the index has not caught up.
    queued.table[counted.key_hex] = counted.model_copy(update={"status": ReportStatus.PROCESSING, "case_id": "c" * 32})

    result = run(received(stuck) + timedelta(minutes=20), queued, store, outbox)
    assert (result.queued_listed, result.queued_found, result.redispatched) == (2, 1, 1)
    assert store.reports[counted.report_id] is None, "left to the dispatcher that counted it"
    assert [body["report_id"] for body in outbox.bodies(QUEUES.escalation_url)] == [stuck.report_id]


def test_still_queued_means_never_counted():
    report = record(xarf(), partner(1))
    assert still_queued(report) and report.queued_shard == queued_shard_for(report.key_hex)
    assert not still_queued(report.model_copy(update={"status": ReportStatus.PROCESSING, "case_id": "c" * 32}))
    assert not still_queued(report.model_copy(update={"case_id": "c" * 32})), "a caseId is the proof it was counted"


def test_a_re_dispatch_that_fails_is_reported_and_left_for_the_next_sweep():
    report = record(xarf(url="https://login.example.net/a"), partner(1))
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()
    queued.add(report)
    store.add_reports([report])
    store.fail.add("load")
    now = received(report) + timedelta(minutes=16)
    failed = run(now, queued, store, outbox)
    assert (failed.queued_found, failed.redispatched, failed.failed) == (1, 0, 1)
    assert failed.warnings, "the reason is there for the handler to log"
    later = run(now + timedelta(minutes=5), queued, store, outbox)
    assert (later.queued_found, later.redispatched) == (1, 1)


def test_a_sweep_takes_at_most_its_share_oldest_first():
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()
    listed, seen = [], []
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def dispatch(items, **_):
        seen.extend(item.report.report_id for item in items)
        return DispatchResult()

    template = record(xarf(url="https://login.example.net/a"), partner(1))
    for n in range(MAX_REPORTS_PER_SWEEP + 5):
        at = utc_timestamp(base + timedelta(seconds=n))
        report = template.model_copy(update={"key_hex": f"{n:020x}", "report_id": f"{n:026d}", "received_at": at})
        queued.add(report)
        listed.append(report.report_id)
    result = sweep(
        base + timedelta(hours=1),
        queued=queued,
        waiting=MemoryWaitingCases(),
        store=store,
        outbox=outbox,
        queues=QUEUES,
        dispatch=dispatch,
    )
    assert result.queued_found == MAX_REPORTS_PER_SWEEP and seen == listed[:MAX_REPORTS_PER_SWEEP]


def test_a_draft_waiting_15_minutes_is_sent_again_with_a_new_deduplication_id_in_its_case_group():
    request = EscalationRequest(
        case_id="c" * 32,
        report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2H",
        severity=Severity.P0,
        category="content",
        type="csam",
        child_safety=True,
    )
    since = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    waiting = MemoryWaitingCases(
        {request.case_id: WaitingEscalation(request.case_id, "2026-01-01T12:00:00.000Z", request)}
    )
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()

    assert run(since + timedelta(minutes=14), queued, store, outbox, waiting).waiting_found == 0
    result = run(since + timedelta(minutes=16), queued, store, outbox, waiting)
    assert (result.waiting_found, result.resent) == (1, 1)
    (sent,) = outbox.sent[QUEUES.escalation_url]
    assert EscalationRequest.model_validate_json(sent.body) == request
    assert sent.group_id == request.case_id
    assert sent.deduplication_id != request.report_id, "the dispatcher's id would be dropped as a FIFO repeat"


def test_resend_ids_repeat_within_one_sweep_and_differ_between_sweeps():
    at = datetime(2026, 1, 1, 12, 5, 0, tzinfo=UTC)
    assert resend_id("c" * 32, at) == resend_id("c" * 32, at + timedelta(seconds=30))
    assert resend_id("c" * 32, at) != resend_id("c" * 32, at + timedelta(minutes=5))
    assert len(resend_id("c" * 32, at)) <= 128


def test_a_case_that_waits_no_more_is_not_sent_again():
    since = "2026-01-01T12:00:00.000Z"
    waiting = MemoryWaitingCases({"c" * 32: WaitingEscalation("c" * 32, since, None)})
    queued, store, outbox = MemoryQueuedReports(), MemoryCaseStore(), MemoryOutbox()
    result = run(datetime(2026, 1, 1, 13, 0, tzinfo=UTC), queued, store, outbox, waiting)
    assert (result.waiting_found, result.resent, outbox.sent) == (0, 0, {})
