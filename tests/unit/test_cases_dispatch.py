"""The dispatcher's logic on in-memory stores: exact counts under redelivery, partial failures, concurrent writers.

The fakes keep DynamoDB's rules that the dispatcher relies on: a transaction is all or nothing, a failed condition
hands back the item as it is, set attributes take ADD and DELETE (so a clear and a count never overwrite each other).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.adapters.reports_table import to_item
from shared.adapters.stream import read_records
from shared.domain.callers import ANONYMOUS, Caller, TrustTier
from shared.domain.cases import (
    MAX_REPORTERS_KEPT,
    CaseAddition,
    CaseIncrement,
    CaseSettlement,
    CaseState,
    MarkOutcome,
    reporter_key,
)
from shared.domain.dispatch import DispatchResult, Outgoing, Queues
from shared.domain.dispatch import dispatch as dispatch_items
from shared.domain.errors import StoreUnavailable
from shared.domain.intake import submit_json
from shared.domain.policy import Severity
from shared.domain.reports import ReportRecord
from tests.fakes import MemoryReportStore
from tests.samples import SERVER_SECRET, body, well_formed, xarf

QUEUES = Queues(quarantine_url="quarantine", escalation_url="escalation")
PROTECTED = frozenset({"demo-customer-content"})


def dispatch(records: list[dict[str, Any]], **ports: Any) -> DispatchResult:
    """The dispatcher as its handler runs it: stream records read, then dispatched."""
    return dispatch_items(read_records(records), **ports)


@dataclass
class MemoryCaseStore:
    reports: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # report id -> (caseId, token) once marked
    cases: dict[str, CaseState] = field(default_factory=dict)
    created_by: dict[str, str] = field(default_factory=dict)  # case id -> the token of the write that created it
    increments: dict[str, tuple[CaseAddition, ...]] = field(default_factory=dict)  # stored increment items
    calls: Counter[str] = field(default_factory=Counter)
    fail: set[str] = field(default_factory=set)  # operations that fail once, then work
    before: dict[str, list] = field(default_factory=dict)  # operation -> callbacks that run once before it
    suspended: frozenset[str] = frozenset()  # reporter keys an analyst suspended (DSA Art. 23)
    conflicts: int = 0  # mark transactions cancelled by a TransactionConflict before one goes through

    def add_reports(self, reports: Iterable[ReportRecord]) -> None:
        for report in reports:
            self.reports.setdefault(report.report_id, None)

    def _call(self, operation: str) -> None:
        for callback in self.before.pop(operation, []):
            callback()
        self.calls[operation] += 1
        if operation in self.fail:
            self.fail.discard(operation)
            raise StoreUnavailable(f"{operation} injected")

    def load(
        self, seeds: Sequence[CaseState], reporters: Iterable[str] = ()
    ) -> tuple[dict[str, CaseState], frozenset[str]]:
        self._call("load")
        return {seed.case_id: self.cases.get(seed.case_id, seed) for seed in seeds}, frozenset(
            reporters
        ) & self.suspended

    def mark(self, increments: Sequence[CaseIncrement]) -> MarkOutcome:
        self._call("mark")
        if self.conflicts:  # cancelled by another transaction on the same items: nothing to learn, try again
            self.conflicts -= 1
            return MarkOutcome(None)
        already, missing = {}, set()
        for increment in increments:
            for report in increment.reports:
                if report.report_id not in self.reports:
                    missing.add(report.report_id)
                elif (mark := self.reports[report.report_id]) is not None:
                    already[report.report_id] = mark[1]
        if already or missing:
            return MarkOutcome(None, already, frozenset(missing))
        token = uuid.uuid4().hex
        for increment in increments:
            for report in increment.reports:
                self.reports[report.report_id] = (increment.after.case_id, token)
        self.increments[token] = tuple(increment.addition for increment in increments)
        return MarkOutcome(token)

    def stored_increments(self, tokens: Iterable[str]) -> dict[str, tuple[CaseAddition, ...]]:
        self._call("stored_increments")
        return {token: self.increments[token] for token in tokens if token in self.increments}

    def add(self, token: str, addition: CaseAddition) -> CaseState:
        self._call("add")
        case_id = addition.case_id
        stored = self.cases.get(case_id)
        if stored is not None and (token in stored.increments or self.created_by.get(case_id) == token):
            return stored
        if stored is None:
            self.created_by[case_id] = token
            stored = replace(
                addition.seed,
                severity=addition.severity,
                stored_reporter_count=len(addition.reporters),
                first_seen=addition.first_seen,
                last_seen=addition.last_seen,
                first_incident=addition.first_incident,
            )
        else:
            stored = replace(stored, increments=stored.increments | {token})
        self.cases[case_id] = replace(
            stored,
            version=stored.version + 1,
            report_count=stored.report_count + addition.reports,
            reporters=stored.reporters | addition.reporters,
            types=stored.types | addition.types,
            urls=stored.urls | addition.urls,
            objects=stored.objects | addition.objects,
            pending_fanout=stored.pending_fanout | addition.pending,
            escalate=stored.escalate or addition.escalate,
        )
        return self.cases[case_id]

    def discard(self, token: str) -> None:
        self._call("discard")
        self.increments.pop(token, None)

    def settle(self, settlement: CaseSettlement) -> CaseState | None:
        self._call("settle")
        stored = self.cases[settlement.case_id]
        new = settlement
        allowed = [
            new.severity is None or stored.severity is None or stored.severity > new.severity,
            new.reporter_count is None or (stored.stored_reporter_count or 0) < new.reporter_count,
            new.first_seen is None or stored.first_seen is None or stored.first_seen > new.first_seen,
            new.last_seen is None or stored.last_seen is None or stored.last_seen < new.last_seen,
            new.first_incident is None or stored.first_incident == settlement.expected.first_incident,
        ]
        if not all(allowed):
            return stored
        self.cases[settlement.case_id] = replace(settlement, expected=stored).after
        return None

    def clear_pending(
        self, sent: Mapping[str, Iterable[str]], forget: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self._call("clear_pending")
        for case_id in set(sent) | set(forget or {}):
            case = self.cases[case_id]
            self.cases[case_id] = replace(
                case,
                pending_fanout=case.pending_fanout - set(sent.get(case_id, ())),
                increments=case.increments - set((forget or {}).get(case_id, ())),
            )


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
    submit_json(body(report), caller, store, protected_buckets=PROTECTED, secret=SERVER_SECRET)
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
    store.add_reports(reports)
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
    store.add_reports(reports)
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
    assert (result.failed, result.counted, store.calls["mark"]) == ([], 0, 0)


def test_a_crash_before_the_sends_were_confirmed_sends_them_again_and_only_them():
    sent_before = record(xarf(description="sent"), partner(1))
    unconfirmed = record(xarf(description="unconfirmed"), partner(2))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports([sent_before, unconfirmed])
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
    store.add_reports(reports)
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
    store.add_reports(mine + theirs)
    # Another shard's dispatcher counts its batch between this one's marks and its add (and so after its read).
    store.before["add"] = [lambda: dispatch(stream(theirs, 50), store=store, outbox=outbox, queues=QUEUES)]
    result = dispatch(stream(mine), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == []
    (case,) = store.cases.values()
    assert (case.report_count, case.reporter_count, case.version) == (5, 5, 2)


def test_more_reports_of_one_case_than_a_transaction_takes_are_all_counted():
    reports = [record(xarf(description=f"viral {n}")) for n in range(150)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == [] and result.counted == 150
    (case,) = store.cases.values()
    assert case.report_count == 150
    assert store.calls["mark"] == 2, "99 reports and the increment item fill one transaction"
    assert store.calls["add"] == 2, "one case write per increment, not one per report"


def test_a_store_outage_fails_every_record_and_counts_nothing():
    reports = [record(xarf(description=f"{n}")) for n in range(3)]
    store, outbox = MemoryCaseStore(fail={"load"}), MemoryOutbox()
    store.add_reports(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == [r["dynamodb"]["SequenceNumber"] for r in stream(reports)]
    assert store.cases == {} and outbox.sent == {}


def test_a_report_deleted_before_it_was_counted_is_skipped():
    kept, deleted = record(xarf(description="kept")), record(xarf(description="deleted"))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports([kept])
    result = dispatch(stream([kept, deleted]), store=store, outbox=outbox, queues=QUEUES)
    assert result.failed == []
    (case,) = store.cases.values()
    assert case.report_count == 1


def test_trusted_flaggers_escalations_are_sent_first():
    public = record(csam_object(1))
    trusted = record(csam_object(2), partner(1, TrustTier.TRUSTED_FLAGGER))
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports([public, trusted])
    dispatch(stream([public, trusted]), store=store, outbox=outbox, queues=QUEUES)
    assert [m["report_id"] for m in outbox.bodies("escalation")] == [trusted.report_id, public.report_id]
    assert [m["report_id"] for m in outbox.bodies("quarantine")] == [trusted.report_id, public.report_id]


def test_transaction_conflicts_back_off_with_growing_pauses_then_count_once():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(3)]
    store, outbox, pauses = MemoryCaseStore(conflicts=3), MemoryOutbox(), []
    store.add_reports(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES, pause=pauses.append)
    assert result.failed == [] and result.counted == 3
    assert len(pauses) == 3 and all(0 <= p <= 0.025 * 2**n for n, p in enumerate(pauses, start=1))
    (case,) = store.cases.values()
    assert case.report_count == 3


def test_endless_conflicts_give_up_and_fail_the_records_for_lambda_to_retry():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(2)]
    store, outbox = MemoryCaseStore(conflicts=1_000), MemoryOutbox()
    store.add_reports(reports)
    result = dispatch(stream(reports), store=store, outbox=outbox, queues=QUEUES, pause=lambda _: None)
    assert result.failed == [r["dynamodb"]["SequenceNumber"] for r in stream(reports)]
    assert store.cases == {} and outbox.sent == {}


# --- hot cases: mark, then add; crashes between them; concurrent writers ------------------------------------------


def test_a_crash_between_the_marks_and_the_add_is_added_once_by_whatever_part_comes_again():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(6)]
    store, outbox = MemoryCaseStore(fail={"add"}), MemoryOutbox()
    store.add_reports(reports)
    records = stream(reports)
    assert dispatch(records, store=store, outbox=outbox, queues=QUEUES).failed == [r["dynamodb"]["SequenceNumber"]
                                                                                   for r in records]  # fmt: skip
    assert all(mark is not None for mark in store.reports.values()) and store.cases == {}
    # Lambda bisects a failed batch: the first half alone comes back, and adds the whole stored increment.
    half = dispatch(records[:3], store=store, outbox=outbox, queues=QUEUES)
    assert (half.failed, half.counted, half.replayed, half.recovered) == ([], 0, 3, 1)
    (case,) = store.cases.values()
    assert (case.report_count, case.reporter_count) == (6, 6)
    assert store.increments == {} and case.increments == frozenset()
    assert dispatch(records[3:], store=store, outbox=outbox, queues=QUEUES).failed == []
    assert dispatch(records, store=store, outbox=outbox, queues=QUEUES).failed == []
    (case,) = store.cases.values()
    assert case.report_count == 6
    assert sorted(m["report_id"] for m in outbox.bodies("escalation")) == sorted(r.report_id for r in reports)


def test_an_add_whose_answer_was_lost_is_not_added_again():
    reports = [record(xarf(description=f"{n}"), partner(n)) for n in range(3)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports(reports)
    first = [record(xarf(description="earlier"), partner(9))]
    store.add_reports(first)
    assert dispatch(stream(first), store=store, outbox=outbox, queues=QUEUES).failed == []

    real_add = store.add

    def applied_then_lost(token, addition):
        store.add = real_add
        real_add(token, addition)
        raise StoreUnavailable("answer lost")

    store.add = applied_then_lost
    assert dispatch(stream(reports, 10), store=store, outbox=outbox, queues=QUEUES).failed != []
    again = dispatch(stream(reports, 10), store=store, outbox=outbox, queues=QUEUES)
    assert again.failed == [] and again.recovered == 1
    (case,) = store.cases.values()
    assert (case.report_count, case.reporter_count, case.increments) == (4, 4, frozenset())
    assert store.increments == {}


def test_a_settle_beaten_by_another_writer_is_recomputed_and_the_times_stay_exact():
    early = [record(xarf(description=f"early {n}"), partner(n)) for n in range(2)]
    late = [record(xarf(description=f"late {n}"), partner(10 + n)) for n in range(2)]
    later = [record(xarf(description=f"later {n}"), partner(20 + n)) for n in range(2)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports(early + late + later)
    assert dispatch(stream(early), store=store, outbox=outbox, queues=QUEUES).failed == []
    # The batch with the latest reports settles between the other batch's add and its settle.
    store.before["settle"] = [lambda: dispatch(stream(later, 50), store=store, outbox=outbox, queues=QUEUES)]
    assert dispatch(stream(late, 20), store=store, outbox=outbox, queues=QUEUES).failed == []
    (case,) = store.cases.values()
    everything = early + late + later
    assert case.report_count == 6
    assert case.last_seen == max(r.received_at for r in everything)
    assert case.first_seen == min(r.received_at for r in everything)
    assert case.stored_reporter_count == case.reporter_count == 6
    assert case.increments == frozenset()


def test_a_stale_settle_never_lowers_a_severity_a_concurrent_batch_raised():
    scan = xarf("connection", "port_scan", **_scan())
    four = [record({**scan, "description": f"{n}"}, partner(n)) for n in range(4)]
    fifth = [record({**scan, "description": "5"}, partner(9))]
    sixth = [record({**scan, "description": "6"}, partner(9))]  # the same reporter: no new corroboration
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports(four + fifth + sixth)
    assert dispatch(stream(four), store=store, outbox=outbox, queues=QUEUES).failed == []
    assert store.cases[next(iter(store.cases))].severity == Severity.P2
    store.before["add"] = [lambda: dispatch(stream(fifth, 50), store=store, outbox=outbox, queues=QUEUES)]
    assert dispatch(stream(sixth, 60), store=store, outbox=outbox, queues=QUEUES).failed == []
    (case,) = store.cases.values()
    assert (case.report_count, case.reporter_count, case.severity) == (6, 5, Severity.P1)


def test_concurrent_adds_may_overshoot_a_sample_and_the_next_settle_trims_it_to_its_bound():
    batches = [[record(xarf(description=f"{b}-{n}"), partner(100 * b + n)) for n in range(70)] for b in range(3)]
    store, outbox = MemoryCaseStore(), MemoryOutbox()
    store.add_reports([r for batch in batches for r in batch])
    # All three batches read the case empty before any adds (each then adds 70 reporters).
    store.before["add"] = [
        lambda: dispatch(stream(batches[1], 100), store=store, outbox=outbox, queues=QUEUES),
        lambda: dispatch(stream(batches[2], 200), store=store, outbox=outbox, queues=QUEUES),
    ]
    real_load = store.load
    # as read before anyone wrote
    store.load = lambda seeds, reporters=(): ({seed.case_id: seed for seed in seeds}, frozenset())
    assert dispatch(stream(batches[0]), store=store, outbox=outbox, queues=QUEUES).failed == []
    store.load = real_load
    (case,) = store.cases.values()
    assert case.report_count == 210
    assert len(case.reporters) == MAX_REPORTERS_KEPT and case.reporter_count == MAX_REPORTERS_KEPT
    everyone = {reporter_key(r.principal) for batch in batches for r in batch}
    assert case.reporters == set(sorted(everyone)[:MAX_REPORTERS_KEPT]), "the smallest ever added are kept"


def _scan() -> dict:
    fields = well_formed("connection", "port_scan")
    return {k: v for k, v in fields.items() if k not in xarf("connection", "port_scan")}


def test_a_suspended_reporters_report_is_taken_at_the_lowest_tier_and_csam_is_still_restricted():
    from shared.domain.cases import reporter_key

    flagger = partner(41, TrustTier.TRUSTED_FLAGGER)
    phishing = record({**xarf(), "url": "https://demo-customer-content.s3.amazonaws.com/kit/login.html"}, flagger)
    child_safety = record(csam_object(41), flagger)
    for suspended in (frozenset(), frozenset({reporter_key(flagger.principal)})):
        store, outbox = MemoryCaseStore(suspended=suspended), MemoryOutbox()
        store.add_reports([phishing, child_safety])
        result = dispatch(stream([phishing, child_safety]), store=store, outbox=outbox, queues=QUEUES)
        assert result.failed == [] and result.counted == 2, "a suspended reporter's reports are still taken"
        assert store.calls["load"] == 1, "the reporters are read with the cases"
        restrict = {body["type"]: body["restrict"] for body in outbox.bodies("quarantine")}
        escalated = {body["report_id"] for body in outbox.bodies("escalation")}
        assert restrict["csam"] is True and child_safety.report_id in escalated, "CSAM whoever sends it"
        # A trusted flagger's phishing report restricts at once and pages; once suspended, it waits for an analyst.
        assert restrict["phishing"] is (not suspended)
        assert (phishing.report_id in escalated) is (not suspended)
