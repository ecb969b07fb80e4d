"""What a decision sets in motion, on in-memory fakes: every report of the case completed, each reporter with an email
address told once, whatever the redeliveries; the email says the reference, the outcome and the redress, nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.cases import reporter_key
from shared.domain.casework import OUTCOME_WORDS, Action, Decision
from shared.domain.dedupe import ulid_text
from shared.domain.errors import StoreUnavailable
from shared.domain.messages import FilingRequest, ObjectDecision
from shared.domain.outcomes import (
    CaseObjects,
    Completed,
    CompletedPage,
    Completion,
    CompletionResult,
    DecisionItem,
    Delivery,
    MailUnavailable,
    NoticeState,
    NotSent,
    OutcomeEmail,
    RecordIncrement,
    Sent,
    complete_decisions,
    decision_of,
    email_address,
    outcome_email,
    record_increments,
)
from shared.domain.reports import ReasonCode, ReporterContact

CASE = "c" * 32
DECIDED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def ulid(moment: datetime, tail: int) -> str:
    return ulid_text(int(moment.timestamp() * 1000).to_bytes(6, "big") + tail.to_bytes(10, "big"))


def key_of(n: int) -> str:
    return f"{n:020x}"


def report_id_of(n: int) -> str:
    return ulid(DECIDED - timedelta(days=1), n)


def decision(
    minutes: int = 0, reason: ReasonCode = ReasonCode.ACTIONED, statement: str = "STATEMENT", note: str = "NOTE"
) -> Decision:
    at = DECIDED + timedelta(minutes=minutes)
    return Decision(
        decision_id=ulid(at, 7),
        case_id=CASE,
        analyst="analyst-ada",
        decided_at=at,
        reason_code=reason,
        action=Action.RESTRICT if reason is ReasonCode.ACTIONED else Action.NONE,
        statement=statement,
        note=note,
    )


@dataclass
class FakeTable:
    """The table as the completion worker sees it: reports of one case, their contacts, the markers."""

    reports: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> caseId, decisionId?, reasonCode?
    contact_items: dict[str, ReporterContact] = field(default_factory=dict)
    markers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    case: CaseObjects = field(default_factory=CaseObjects)
    records: dict[str, dict[str, int]] = field(default_factory=dict)  # reporter id -> track record counts
    page_size: int = 3
    fail_complete_at: int | None = None  # the n-th report write fails (0-based), once
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int, contact: str | None = None, principal: str = "anonymous") -> str:
        key = key_of(n)
        self.reports[key] = {"caseId": CASE} | ({"principal": principal} if principal != "anonymous" else {})
        if contact is not None:
            self.contact_items[key] = ReporterContact(
                key_hex=key,
                report_id=report_id_of(n),
                received_at="2026-12-02T09:00:00.000Z",
                expires_at=1_900_000_000,
                reporter_org="Ada",
                reporter_contact=contact,
            )
        return key

    def case_reports(self, case_id: str) -> list[Sequence[str]]:
        keys = sorted(key for key, report in self.reports.items() if report["caseId"] == case_id)
        return [keys[start : start + self.page_size] for start in range(0, len(keys), self.page_size)]

    def complete(self, keys: Sequence[str], completion: Completion) -> CompletedPage:
        states, firsts = {}, {}
        for key in keys:
            if self.fail_complete_at == self.writes:
                self.fail_complete_at = None
                raise StoreUnavailable("ServiceUnavailable")
            self.writes += 1
            report = self.reports.get(key)
            if report is None or report["caseId"] != completion.case_id:
                states[key] = Completed.GONE
            elif report.get("decisionId", "") >= completion.decision_id:
                same = report["decisionId"] == completion.decision_id
                states[key] = Completed.BEFORE if same else Completed.SUPERSEDED
            else:
                if "decisionId" not in report and report.get("principal", "anonymous") != "anonymous":
                    firsts[key] = reporter_key(report["principal"])
                report |= {"status": "COMPLETED", "decisionId": completion.decision_id}
                report["reasonCode"] = completion.reason_code.value
                states[key] = Completed.NOW
        return CompletedPage(states, firsts)

    def add_to_track_records(self, increments: Mapping[str, RecordIncrement]) -> None:
        for reporter_id, increment in increments.items():
            record = self.records.setdefault(reporter_id, {"decided": 0, "actioned": 0, "noAction": 0})
            record["decided"] += increment.decided
            record["actioned"] += increment.actioned
            record["noAction"] += increment.no_action

    def contacts(self, keys: Sequence[str]) -> Sequence[ReporterContact]:
        return [self.contact_items[key] for key in keys if key in self.contact_items]

    def retain_contacts(self, keys: Sequence[str], expires_at: int) -> None:
        for key in keys:
            if key in self.contact_items:
                self.contact_items[key] = self.contact_items[key].model_copy(update={"expires_at": expires_at})

    def case_objects(self, case_id: str) -> CaseObjects:
        return self.case if case_id == CASE else CaseObjects()

    def claim_notice(self, key_hex: str, report_id: str, completion: Completion, at: str) -> NoticeState | None:
        with self.lock:
            held = self.markers.get((key_hex, completion.decision_id))
            if held is not None:
                return NoticeState(held["notice"])
            self.markers[(key_hex, completion.decision_id)] = {"notice": "SENDING", "reportId": report_id}
            return None

    def record_notice(self, key_hex: str, decision_id: str, delivery: Delivery, at: str) -> None:
        marker = self.markers[(key_hex, decision_id)]
        marker["notice"] = "SENT" if isinstance(delivery, Sent) else "NOT_SENT"
        if isinstance(delivery, NotSent):
            marker["reason"] = delivery.reason

    def release_notice(self, key_hex: str, decision_id: str) -> None:
        if self.markers[(key_hex, decision_id)]["notice"] == "SENDING":
            del self.markers[(key_hex, decision_id)]


@dataclass
class FakeMailer:
    sent: list[tuple[str, OutcomeEmail]] = field(default_factory=list)
    unavailable: int = 0  # this many sends fail as SES faults would, then they go
    refuse: frozenset[str] = frozenset()
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, email: OutcomeEmail) -> Delivery:
        with self.lock:
            if self.unavailable:
                self.unavailable -= 1
                raise MailUnavailable("TooManyRequestsException")
            if to in self.refuse:
                return NotSent("MessageRejected")
            self.sent.append((to, email))
            return Sent(f"ses-{len(self.sent)}")


@dataclass
class FakeQueue:
    """The quarantine queue as the completion worker sees it: what was sent, and how many sends SQS refuses."""

    sent: list[ObjectDecision] = field(default_factory=list)
    refuse: int = 0

    def send(self, orders: Sequence[ObjectDecision]) -> int:
        refused, self.refuse = min(self.refuse, len(orders)), max(0, self.refuse - len(orders))
        self.sent += orders[refused:]
        return refused


def run(
    table: FakeTable, mailer: FakeMailer, *decisions: Decision, queue: FakeQueue | None = None, **options: Any
) -> CompletionResult:
    items = [DecisionItem(f"{n:024d}", decision=d) for n, d in enumerate(decisions, start=1)]
    return complete_decisions(items, store=table, mailer=mailer, orders=queue or FakeQueue(), **options)


def addresses(mailer: FakeMailer) -> list[str]:
    return sorted(to for to, _ in mailer.sent)


# --- the decision, read ------------------------------------------------------------------------------------------


def attributes(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "caseId": CASE,
        "decisionId": ulid(DECIDED, 1),
        "analyst": "analyst-ada",
        "decidedAt": "2026-12-03T09:00:00.000Z",
        "reasonCode": "REVIEWED_NO_AWS_ACTION",
        "action": "NONE",
        "note": "internal",
        "family": "content",
        "category": "phishing",
    }
    return values | changes


def test_a_decision_item_reads_as_the_decision_it_records():
    read = decision_of(attributes())
    assert read.decision_id == ulid(DECIDED, 1) and read.case_id == CASE
    assert read.reason_code is ReasonCode.REVIEWED_NO_AWS_ACTION and read.action is Action.NONE
    assert read.decided_at == DECIDED and read.note == "internal" and read.statement is None
    assert Completion.of(read).completed_at == "2026-12-03T09:00:00.000Z", "the decision's time, on every delivery"


@pytest.mark.parametrize(
    "changes",
    [
        {"decisionId": ulid(DECIDED, 1).lower()},  # lower case sorts after every upper-case id: order would break
        {"decisionId": "D-1"},
        {"reasonCode": "BANNED"},
        {"action": "DELETE"},
        {"decidedAt": "yesterday"},
        {"decidedAt": "2026-12-03T09:00:00"},
        {"caseId": ""},
    ],
)
def test_a_decision_item_that_is_not_one_is_refused(changes):
    with pytest.raises(ValueError):
        decision_of(attributes(**changes))


def test_a_decision_item_without_its_reason_is_refused():
    values = attributes()
    del values["reasonCode"]
    with pytest.raises(KeyError):
        decision_of(values)


# --- the email ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(ReasonCode))
def test_the_email_says_the_reference_the_outcome_and_the_redress(reason):
    email = outcome_email(report_id_of(1), reason, "trust-safety@example.com")
    assert report_id_of(1) in email.subject
    assert f"Report reference: {report_id_of(1)}" in email.text
    assert OUTCOME_WORDS[reason] in email.text
    assert "send us a new report" in email.text, "more information: a new report"
    assert "reply to this email or write to trust-safety@example.com" in email.text, "contest it"
    assert "take the matter to a court" in email.text, "judicial redress"
    assert "\n" not in email.subject and email.text.endswith("\n")


def test_without_a_trust_and_safety_address_the_email_says_to_reply():
    email = outcome_email(report_id_of(1), ReasonCode.ACTIONED)
    assert "reply to this email, quoting your report reference" in email.text
    assert "write to" not in email.text


@pytest.mark.parametrize("report_id", ["not-a-ulid", report_id_of(1).lower(), "{{ 7*7 }}" + "0" * 17])
def test_only_a_report_id_goes_into_the_email(report_id):
    with pytest.raises(ValueError):
        outcome_email(report_id, ReasonCode.ACTIONED)


@pytest.mark.parametrize(
    ("contact", "address"),
    [
        ("ada@example.org", "ada@example.org"),
        ("  ada.lovelace+abuse@mail.example.co.uk ", "ada.lovelace+abuse@mail.example.co.uk"),
        ("o'brien@xn--bcher-kva.example", "o'brien@xn--bcher-kva.example"),
        ("abuse@cert.xn--p1ai", "abuse@cert.xn--p1ai"),
        ("Ada <ada@example.org>", None),
        ("ada@example.org, eve@example.org", None),
        ("ada@example.org\nBcc: eve@example.org", None),
        ("ada@localhost", None),
        ("ada@@example.org", None),
        ("ada..l@example.org", None),
        (".ada@example.org", None),
        ("ada@-example.org", None),
        ("ada@bücher.example", None),
        ("https://cert.example/contact", None),
        ("+44 20 7946 0000", None),
        ("a" * 65 + "@example.org", None),
        ("ada@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61 + ".org", None),
        ("", None),
        (None, None),
    ],
)
def test_only_a_syntactically_valid_address_gets_an_email(contact, address):
    assert email_address(contact) == address


# --- the fan-out -------------------------------------------------------------------------------------------------


def test_every_report_of_the_case_is_completed_and_each_address_gets_one_email():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    table.add(2)  # anonymous: no contact item
    table.add(3, "Example CERT hotline")  # a contact that is not an address
    table.add(4, "bob@example.org")
    for n in range(5, 9):
        table.add(n)
    result = run(table, mailer, decision())
    assert result.failed == [] and result.decisions == 1
    assert all(r["status"] == "COMPLETED" and r["decisionId"] == decision().decision_id for r in table.reports.values())
    assert result.completed == 8 and result.without_address == 6
    assert addresses(mailer) == ["ada@example.org", "bob@example.org"] and result.emails_sent == 2
    assert {m["notice"] for m in table.markers.values()} == {"SENT"}


def test_a_redelivered_decision_completes_the_same_reports_and_sends_nothing_again():
    table, mailer = FakeTable(), FakeMailer()
    for n in range(1, 6):
        table.add(n, f"r{n}@example.org")
    run(table, mailer, decision())
    again = run(table, mailer, decision())
    assert again.failed == [] and again.completed == 0 and again.completed_before == 5
    assert again.emails_sent == 0 and again.emails_before == 5
    assert len(mailer.sent) == 5


def test_an_older_decision_delivered_after_a_newer_one_changes_nothing_and_tells_nobody():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    older, newer = decision(0, ReasonCode.REVIEWED_NO_AWS_ACTION), decision(5, ReasonCode.ACTIONED)
    run(table, mailer, older, newer)
    late = run(table, mailer, older)
    assert late.superseded == 1 and late.completed == 0 and late.emails_sent == 0
    assert table.reports[key_of(1)] == {
        "caseId": CASE,
        "status": "COMPLETED",
        "decisionId": newer.decision_id,
        "reasonCode": "ACTIONED",
    }
    outcomes = [email.text for _, email in mailer.sent]
    assert len(outcomes) == 2, "each decision is told once"
    assert OUTCOME_WORDS[ReasonCode.REVIEWED_NO_AWS_ACTION] in outcomes[0]
    assert OUTCOME_WORDS[ReasonCode.ACTIONED] in outcomes[1]


def test_the_email_carries_nothing_of_the_decision_but_its_outcome():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    run(table, mailer, decision(statement="Breaks rule 4.2 of the AUP", note="spoke to legal"))
    ((_, email),) = mailer.sent
    for secret in ("Breaks rule 4.2", "spoke to legal", "analyst-ada", CASE, decision().decision_id):
        assert secret not in email.text and secret not in email.subject


def test_an_ses_fault_releases_the_claim_fails_the_record_and_the_retry_sends_exactly_one():
    table, mailer = FakeTable(), FakeMailer(unavailable=1)
    table.add(1, "ada@example.org")
    first = run(table, mailer, decision())
    assert first.failed == ["000000000000000000000001"] and first.emails_sent == 0
    assert table.markers == {}, "the claim of an email that did not go is released"
    assert table.reports[key_of(1)]["status"] == "COMPLETED", "what was done stays done"
    retry = run(table, mailer, decision())
    assert retry.failed == [] and retry.emails_sent == 1 and addresses(mailer) == ["ada@example.org"]


def test_a_failed_decision_fails_every_record_after_it_and_those_before_stay_done():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    table.fail_complete_at = 1  # the second decision's write
    items = [
        DecisionItem("1", decision=decision(0)),
        DecisionItem("2", decision=decision(5)),
        DecisionItem("3"),  # not a decision
        DecisionItem("4", decision=decision(9)),
    ]
    result = complete_decisions(items, store=table, mailer=mailer, orders=FakeQueue())
    assert result.failed == ["2", "3", "4"], "Lambda resumes at the first; the later ones are not told out of order"
    assert result.decisions == 1 and len(mailer.sent) == 1
    ((message, fields),) = result.warnings
    assert message == "decision not carried out in full" and fields["reason"] == "StoreUnavailable: ServiceUnavailable"


def test_an_email_ses_refuses_is_recorded_as_not_sent_and_never_tried_again():
    table, mailer = FakeTable(), FakeMailer(refuse=frozenset({"bounced@example.org"}))
    table.add(1, "bounced@example.org")
    table.add(2, "ada@example.org")
    result = run(table, mailer, decision())
    assert result.failed == [] and result.emails_not_sent == 1 and result.emails_sent == 1
    assert table.markers[(key_of(1), decision().decision_id)] == {
        "notice": "NOT_SENT",
        "reportId": report_id_of(1),
        "reason": "MessageRejected",
    }
    again = run(table, mailer, decision())
    assert again.emails_before == 2 and len(mailer.sent) == 1


def test_a_claim_left_by_a_delivery_that_died_mid_send_is_not_sent_again_and_is_reported_by_ids():
    table, mailer = FakeTable(), FakeMailer()
    key = table.add(1, "ada@example.org")
    table.markers[(key, decision().decision_id)] = {"notice": "SENDING", "reportId": report_id_of(1)}
    result = run(table, mailer, decision())
    assert result.failed == [] and result.emails_in_doubt == 1 and mailer.sent == []
    ((message, fields),) = result.warnings
    assert "in doubt" in message and fields == {"reportId": report_id_of(1), "decisionId": decision().decision_id}


def test_with_too_little_time_left_the_record_fails_before_anything_is_claimed():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    result = run(table, mailer, decision(), time_left=lambda: 5.0)
    assert result.failed == ["000000000000000000000001"] and table.markers == {} and mailer.sent == []
    assert "OutOfTime" in result.warnings[0][1]["reason"]


def test_a_big_case_that_runs_out_of_time_goes_on_where_it_stopped():
    table, mailer = FakeTable(page_size=10), FakeMailer()
    for n in range(1, 101):
        table.add(n, f"r{n}@example.org")
    budget = iter([300.0] * 40 + [5.0] * 1_000)  # the invocation's clock: enough for a part of the case
    first = run(table, mailer, decision(), time_left=lambda: next(budget))
    assert first.failed and 0 < len(mailer.sent) < 100
    retry = run(table, mailer, decision())
    assert retry.failed == [] and len(mailer.sent) == 100
    assert len(set(addresses(mailer))) == 100, "nobody twice"


def test_an_unreadable_record_is_poison_and_fails_with_what_follows():
    table, mailer = FakeTable(), FakeMailer()
    items = [DecisionItem("1"), DecisionItem("2", problem="unreadable decision image: KeyError"), DecisionItem("3")]
    result = complete_decisions(items, store=table, mailer=mailer, orders=FakeQueue())
    assert result.failed == ["2", "3"] and result.poison == 1


def test_no_warning_carries_an_address():
    table, mailer = FakeTable(), FakeMailer(unavailable=1)
    key = table.add(1, "ada@example.org")
    table.add(2, "bob@example.org")
    table.markers[(key, decision().decision_id)] = {"notice": "SENDING", "reportId": report_id_of(1)}
    result = run(table, mailer, decision())
    assert result.warnings and "@" not in repr(result.warnings)


# --- contact retention after the case closes ---------------------------------------------------------------------


def test_every_contact_of_the_decisions_reports_expires_a_year_after_the_decision():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    table.add(2, "Example CERT hotline")  # not an address: kept for an appeal all the same
    table.add(3)  # anonymous: nothing to keep
    result = run(table, mailer, decision())
    expected = int((DECIDED + timedelta(days=365)).timestamp())
    assert {key: c.expires_at for key, c in table.contact_items.items()} == {key_of(1): expected, key_of(2): expected}
    assert result.contacts_retained == 2


def test_the_retention_after_closing_is_configurable():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    run(table, mailer, decision(), contact_retention_days=90)
    assert table.contact_items[key_of(1)].expires_at == int((DECIDED + timedelta(days=90)).timestamp())


def test_a_contact_is_kept_as_it_was_until_its_email_is_settled():
    table, mailer = FakeTable(), FakeMailer(unavailable=1)
    table.add(1, "ada@example.org")
    assert run(table, mailer, decision()).failed
    assert table.contact_items[key_of(1)].expires_at == 1_900_000_000, "the email did not go: the contact waits"
    assert run(table, mailer, decision()).failed == []
    assert table.contact_items[key_of(1)].expires_at == int((DECIDED + timedelta(days=365)).timestamp())


def test_an_older_decision_delivered_late_leaves_the_newer_decisions_retention():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1, "ada@example.org")
    older, newer = decision(0), decision(60)
    run(table, mailer, older, newer)
    run(table, mailer, older)
    assert table.contact_items[key_of(1)].expires_at == int((newer.decided_at + timedelta(days=365)).timestamp())


# --- the case's objects ------------------------------------------------------------------------------------------

OBJECTS = frozenset({"s3://demo-customer-content/images/pixel.png", "s3://demo-customer-content/pages/a%20b.html"})


def with_action(made: Decision, action: Action) -> Decision:
    return replace(made, action=action)


@pytest.mark.parametrize(("action", "said"), [(Action.RESTRICT, "restrict"), (Action.RELEASE, "release")])
def test_a_release_or_restrict_decision_orders_each_object_of_its_case_once(action, said):
    table, mailer, queue = FakeTable(case=CaseObjects(OBJECTS, decision().decision_id)), FakeMailer(), FakeQueue()
    table.add(1, "ada@example.org")
    result = run(table, mailer, with_action(decision(), action), queue=queue)
    assert result.failed == [] and result.objects_ordered == 2
    assert [(o.analyst_action, o.bucket, o.key) for o in queue.sent] == [
        (said, "demo-customer-content", "images/pixel.png"),
        (said, "demo-customer-content", "pages/a b.html"),
    ]
    assert {(o.decision_id, o.case_id, o.analyst) for o in queue.sent} == {
        (decision().decision_id, CASE, "analyst-ada")
    }


def test_a_decision_without_action_orders_nothing():
    table, queue = FakeTable(case=CaseObjects(OBJECTS)), FakeQueue()
    run(table, FakeMailer(), decision(reason=ReasonCode.REVIEWED_NO_AWS_ACTION), queue=queue)
    assert queue.sent == []


def test_a_release_on_a_case_without_objects_orders_nothing():
    queue = FakeQueue()
    result = run(FakeTable(), FakeMailer(), with_action(decision(), Action.RELEASE), queue=queue)
    assert result.failed == [] and queue.sent == [] and result.objects_ordered == 0


def test_an_older_decision_delivered_after_a_newer_one_orders_nothing():
    newer = decision(30)
    table, queue = FakeTable(case=CaseObjects(OBJECTS, newer.decision_id)), FakeQueue()
    result = run(table, FakeMailer(), with_action(decision(0), Action.RELEASE), queue=queue)
    assert queue.sent == [] and result.objects_superseded == 2 and result.failed == []


def test_orders_the_queue_did_not_take_fail_the_record_and_go_again_on_the_retry():
    table, queue = FakeTable(case=CaseObjects(OBJECTS)), FakeQueue(refuse=1)
    table.add(1, "ada@example.org")
    first = run(table, FakeMailer(), decision(), queue=queue)
    assert first.failed and "QueueUnavailable" in first.warnings[0][1]["reason"]
    assert run(table, FakeMailer(), decision(), queue=queue).failed == []
    assert {o.key for o in queue.sent} == {"images/pixel.png", "pages/a b.html"}


# --- track records (DSA Art. 23) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "actioned", "no_action"),
    [
        (ReasonCode.ACTIONED, 2, 0),
        (ReasonCode.REVIEWED_NO_AWS_ACTION, 0, 2),
        (ReasonCode.NOT_RESOLVABLE_TO_AWS, 0, 0),
        (ReasonCode.NEED_MORE_INFORMATION, 0, 0),
    ],
)
def test_a_decided_page_adds_to_each_reporter_what_the_decision_found(reason, actioned, no_action):
    firsts = {"k1": "reporter-a", "k2": "reporter-a", "k3": "reporter-b"}
    assert record_increments(firsts, reason) == {
        "reporter-a": RecordIncrement(decided=2, actioned=actioned, no_action=no_action),
        "reporter-b": RecordIncrement(decided=1, actioned=actioned // 2, no_action=no_action // 2),
    }


def test_only_signed_reports_decided_for_the_first_time_count_and_a_redelivery_adds_nothing():
    table, mailer, cert = FakeTable(), FakeMailer(), "arn:aws:iam::111122223333:role/cert"
    for n in range(1, 6):
        table.add(n, principal=cert if n <= 3 else "anonymous")
    made = decision(reason=ReasonCode.REVIEWED_NO_AWS_ACTION)
    assert run(table, mailer, made).first_decisions == 3
    assert run(table, mailer, made).first_decisions == 0
    assert run(table, mailer, decision(30, ReasonCode.ACTIONED)).first_decisions == 0, "decided again: no recount"
    assert table.records == {
        reporter_key("arn:aws:iam::111122223333:role/cert"): {"decided": 3, "actioned": 0, "noAction": 3}
    }


# --- CyberTipline filing -----------------------------------------------------------------------------------------


@dataclass
class FakeFilings:
    sent: list[FilingRequest] = field(default_factory=list)

    def send(self, request: FilingRequest) -> None:
        self.sent.append(request)


def child_safety(made: Decision) -> Decision:
    return replace(made, family="child_safety")


def test_a_child_safety_case_decided_actioned_is_ordered_filed_and_the_rest_are_not():
    table, mailer, filings = FakeTable(), FakeMailer(), FakeFilings()
    table.add(1)
    confirmed = child_safety(decision(0, ReasonCode.ACTIONED))
    others = [
        decision(1, ReasonCode.ACTIONED),  # not child safety: nothing for NCMEC
        child_safety(decision(2, ReasonCode.REVIEWED_NO_AWS_ACTION)),  # not apparent CSAM after review
        child_safety(decision(3, ReasonCode.NOT_RESOLVABLE_TO_AWS)),
    ]
    result = run(table, mailer, confirmed, *others, filings=filings)
    assert result.failed == [] and result.filings_ordered == 1
    assert filings.sent == [FilingRequest(case_id=CASE, decision_id=confirmed.decision_id)]


def test_a_decision_to_file_without_a_filing_queue_fails_its_record_rather_than_pass_silently():
    table, mailer = FakeTable(), FakeMailer()
    table.add(1)
    result = run(table, mailer, child_safety(decision(0, ReasonCode.ACTIONED)))
    assert result.failed == ["000000000000000000000001"] and result.filings_ordered == 0
