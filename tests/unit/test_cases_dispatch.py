"""The dispatcher's logic on in-memory stores: exact counts under redelivery, partial failures, concurrent writers.

The fakes keep DynamoDB's rules that the dispatcher relies on: a transaction is all or nothing, a failed condition
hands back the item as it is, set attributes take ADD and DELETE (so a clear and a count never overwrite each other).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.adapters.reports_table import to_item
from shared.adapters.stream import read_records
from shared.domain.callers import ANONYMOUS, Caller, TrustTier
from shared.domain.cases import CaseIncrement, CaseState, CommitOutcome
from shared.domain.dispatch import DispatchResult, Outgoing, Queues
from shared.domain.dispatch import dispatch as dispatch_items
from shared.domain.errors import StoreUnavailable
from shared.domain.intake import submit_json
from shared.domain.reports import ReportRecord
from tests.fakes import MemoryReportStore
from tests.samples import body, well_formed, xarf

QUEUES = Queues(quarantine_url="quarantine", escalation_url="escalation")
PROTECTED = frozenset({"demo-customer-content"})


def dispatch(records: list[dict[str, Any]], **ports: Any) -> DispatchResult:
    """The dispatcher as its handler runs it: stream records read, then dispatched."""
    return dispatch_items(read_records(records), **ports)


@dataclass
class MemoryCaseStore:
    reports: dict[str, str | None] = field(default_factory=dict)  # report id -> caseId once counted
    cases: dict[str, CaseState] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    fail: set[str] = field(default_factory=set)  # operations that fail once, then work
    before_commit: list = field(default_factory=list)  # callbacks that run once before the next commit
    conflicts: int = 0  # commits cancelled by a TransactionConflict before one goes through

    def add(self, reports: Iterable[ReportRecord]) -> None:
        for report in reports:
            self.reports.setdefault(report.report_id, None)

    def _call(self, operation: str) -> None:
        self.calls[operation] += 1
        if operation in self.fail:
            self.fail.discard(operation)
            raise StoreUnavailable(f"{operation} injected")

    def load(self, seeds: Sequence[CaseState]) -> dict[str, CaseState]:
        self._call("load")
        return {seed.case_id: self.cases.get(seed.case_id, seed) for seed in seeds}

    def commit(self, increments: Sequence[CaseIncrement]) -> CommitOutcome:
        while self.before_commit:
            self.before_commit.pop(0)()
        self._call("commit")
        if self.conflicts:  # cancelled by another transaction on the same items: nothing to learn, try again
            self.conflicts -= 1
            return CommitOutcome(False)
        already, missing, current = set(), set(), {}
        for increment in increments:
            stored = self.cases.get(increment.after.case_id)
            if (stored.version if stored else 0) != increment.before.version:
                current[increment.after.case_id] = stored or replace(increment.before, version=0)
            for report in increment.reports:
                if report.report_id not in self.reports:
                    missing.add(report.report_id)
                elif self.reports[report.report_id] is not None:
                    already.add(report.report_id)
        if already or missing or current:
            return CommitOutcome(False, frozenset(already), frozenset(missing), current)
        for increment in increments:
            stored = self.cases.get(increment.after.case_id) or increment.before
            self.cases[increment.after.case_id] = replace(
                increment.after, pending_fanout=stored.pending_fanout | increment.pending
            )
            for report in increment.reports:
                self.reports[report.report_id] = increment.after.case_id
        return CommitOutcome(True)

    def clear_pending(self, sent: Mapping[str, Iterable[str]]) -> None:
        self._call("clear_pending")
        for case_id, ids in sent.items():
            case = self.cases[case_id]
            self.cases[case_id] = replace(case, pending_fanout=case.pending_fanout - set(ids))


@dataclass
class MemoryOutbox:
    sent: dict[str, list[Outgoing]] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)  # report ids whose messages fail once

    def send(self, queue_url: str, messages: Sequence[Outgoing]) -> set[int]:
        failed = set()
        for index, message in enumerate(messages):
            report_id = json.loads(message.body)["report_id"]
            if report_id in self.refuse:
                failed.add(index)
                continue
            self.sent.setdefault(queue_url, []).append(message)
        self.refuse.clear()
        return failed

    def bodies(self, queue_url: str) -> list[dict]:
        return [json.loads(message.body) for message in self.sent.get(queue_url, [])]


def partner(n: int, tier: TrustTier = TrustTier.PARTNER) -> Caller:
    return Caller(principal=f"arn:aws:iam::{n:012d}:role/partner", partner=f"P{n}", tier=tier)


def record(report: dict, caller: Caller = ANONYMOUS) -> ReportRecord:
    store = MemoryReportStore()
    submit_json(body(report), caller, store, protected_buckets=PROTECTED)
    (stored,) = store.items.values()
    return stored


def stream(reports: Sequence[ReportRecord], first: int = 1) -> list[dict]:
    return [
        {
            "eventID": f"event-{first + n}",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {"SequenceNumber": f"{first + n:021d}", "NewImage": to_item(report)},
        }
        for n, report in enumerate(reports)
    ]


def csam_object(n: int = 1) -> dict:
    return {**well_formed("content", "csam"), "url": f"https://demo-customer-content.s3.amazonaws.com/up/{n}.jpg"}


def test_the_same_batch_delivered_five_times_counts_and_sends_once():
    reports = [record(csam_object(), partner(n)) for n in range(3)] + [record(xarf(description="x"), partner(7))]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add(reports)
    results = [dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES) for _ in range(5)]
    assert all(result.failed == [] for result in results)
    assert [result.counted for result in results] == [4, 0, 0, 0, 0]
    assert sorted(case.report_count for case in store.cases.values()) == [1, 3]
    assert len(outbox.bodies("quarantine")) == 3, "one request per object and report"
    assert len(outbox.bodies("escalation")) == 4
    assert all(case.pending_fanout == frozenset() for case in store.cases.values())


def test_a_poison_record_fails_alone_and_the_rest_progress():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(4)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add(reports)
    records = stream(reports)
    records.insert(1, {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "000000000000000000099",
                                                             "NewImage": {"entity": {"S": "report"}}}})  # fmt: skip
    result = dispatch(records, store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == ["000000000000000000099"]
    assert result.counted == 4
    # Lambda resumes at the poison record: what follows it is delivered again and changes nothing.
    again = dispatch(records[1:], store=store, outbox=outbox, queues=QUEUES)
    assert again.failed == ["000000000000000000099"] and again.counted == 0
    assert len(outbox.bodies("escalation")) == 4


def test_records_that_are_not_report_inserts_are_ignored():
    report = record(xarf())
    case_insert = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "7", "NewImage": {"entity": {"S": "case"}}}}
    modify = {**stream([report])[0], "eventName": "MODIFY"}
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    result = dispatch([case_insert, modify], store=store, outbox=outbox, queues=QUEUES)
    assert (result.failed, result.counted, store.calls["commit"]) == ([], 0, 0)


def test_a_crash_before_the_sends_were_confirmed_sends_them_again_and_only_them():
    sent_before = record(xarf(description="sent"), partner(1))
    unconfirmed = record(xarf(description="unconfirmed"), partner(2))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add([sent_before, unconfirmed])
    assert dispatch(stream([sent_before]), store=store, outbox=outbox, queues=QUEUES).failed == []
    store.fail.add("clear_pending")
    failed = dispatch(stream([sent_before, unconfirmed]), store=store, outbox=outbox, queues=QUEUES).failed
    assert failed == [f"{2:021d}"], "the unconfirmed report is delivered again"
    dispatch(stream([sent_before, unconfirmed]), store=store, outbox=outbox, queues=QUEUES)
    ids = [message["report_id"] for message in outbox.bodies("escalation")]
    assert Counter(ids) == {sent_before.report_id: 1, unconfirmed.report_id: 2}, "at least once, never lost"
    (case,) = store.cases.values()
    assert case.report_count == 2 and case.pending_fanout == frozenset()


def test_a_refused_message_fails_only_its_report_and_its_retry_completes_it():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(3)]
    store, outbox = MemoryCaseStore(), MemoryOutbox(refuse={reports[1].report_id})
    store.add(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == [f"{2:021d}"]
    dispatch(stream(reports)[1:], store=store, outbox=outbox, queues=QUEUES)
    assert sorted(m["report_id"] for m in outbox.bodies("escalation")) == sorted(r.report_id for r in reports)
    (case,) = store.cases.values()
    assert case.report_count == 3 and case.pending_fanout == frozenset()


def test_a_case_moved_on_by_another_dispatcher_is_recounted_on_top_of_it():
    mine = [record(xarf(description=f"mine {n}"), partner(n)) for n in range(3)]
    theirs = [record(xarf(description=f"theirs {n}"), partner(10 + n)) for n in range(2)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add(mine + theirs)
    # Another shard's dispatcher commits between this one's read and its write.
    store.before_commit.append(lambda: dispatch(stream(theirs, 50), store=store, outbox=outbox, queues=QUEUES))
    result = dispatch(stream(mine), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == []
    (case,) = store.cases.values()
    assert (case.report_count, case.reporter_count, case.version) == (5, 5, 2)


def test_more_reports_of_one_case_than_a_transaction_takes_are_all_counted():
    reports = [record(xarf(description=f"viral {n}")) for n in range(150)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == [] and result.counted == 150
    (case,) = store.cases.values()
    assert case.report_count == 150
    assert store.calls["commit"] == 2, "99 reports and the case fill one transaction"


def test_a_store_outage_fails_every_record_and_counts_nothing():
    reports = [record(xarf(description=f"{n}")) for n in range(3)]
    store, outbox = MemoryCaseStore(fail={"load"}), MemoryOutbox()
    store.add(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == [r["dynamodb"]["SequenceNumber"] for r in stream(reports)]
    assert store.cases == {} and outbox.sent == {}


def test_a_report_deleted_before_it_was_counted_is_skipped():
    kept, deleted = record(xarf(description="kept")), record(xarf(description="deleted"))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add([kept])
    result = dispatch(stream([kept, deleted]), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == []
    (case,) = store.cases.values()
    assert case.report_count == 1


def test_trusted_flaggers_escalations_are_sent_first():
    public = record(csam_object(1))
    trusted = record(csam_object(2), partner(1, TrustTier.TRUSTED_FLAGGER))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add([public, trusted])
    dispatch(stream([public, trusted]), store=store, outbox=outbox, queues=QUEUES)
    assert [m["report_id"] for m in outbox.bodies("escalation")] == [trusted.report_id, public.report_id]
    assert [m["report_id"] for m in outbox.bodies("quarantine")] == [trusted.report_id, public.report_id]


def test_transaction_conflicts_back_off_with_growing_pauses_then_count_once():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(3)]
    store, outbox, pauses = MemoryCaseStore(conflicts=3), MemoryOutbox(), []
    store.add(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES, pause=pauses.append)
    assert result.failed == [] and result.counted == 3
    assert len(pauses) == 3 and all(0 <= p <= 0.025 * 2**n for n, p in enumerate(pauses, start=1))
    (case,) = store.cases.values()
    assert case.report_count == 3


def test_endless_conflicts_give_up_and_fail_the_records_for_lambda_to_retry():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(2)]
    store, outbox = MemoryCaseStore(conflicts=1_000), MemoryOutbox()
    store.add(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES, pause=lambda _: None)
    assert result.failed == [r["dynamodb"]["SequenceNumber"] for r in stream(reports)]
    assert store.cases == {} and outbox.sent == {}
