"""What a decision sets in motion: every report of its case completed with it, each reporter who left an email
address told the outcome (DSA Art. 16(5)), their contact details kept a year after the case closes and no longer,
and the case's objects released or kept restricted as the analyst decided.

For one stream batch of new decision items (shared.adapters.completion reads them), decision after decision, in
stream order:
0. for a RELEASE or RESTRICT decision, read the case's objects and send the quarantine worker one ObjectDecision per
   object (shared.domain.quarantine carries it out: idempotent, so a redelivery's second order changes nothing);
   unless the case's latest decision is a newer one, which an older decision's late redelivery must not undo;
1. page through the case's reports (oldest first);
2. complete each one: COMPLETED, the decision's reason code and id, completedAt = the decision's time (the same value
   whichever delivery writes it). A report that carries a newer decision is left alone: decision ids are ULIDs, so
   text order is time order, and a redelivered older decision never undoes a newer one. A report that carries this
   decision was completed by an earlier delivery; it is this decision's all the same, for step 3;
   Each signed reporter's report that had no decision before counts once in their track record (decided, actioned,
   no action: DSA Art. 23), one write per reporter a page, added right after the page's reports;
3. read the contact items of this decision's reports; each contact that is a syntactically valid email address gets
   one email: the report's reference, the outcome in plain words (casework.OUTCOME_WORDS) and the redress. The email
   is rendered from the report id and the reason code alone (and the configured Trust & Safety address), so nothing
   of the content, the case, the resource, the analyst, the statement or the note can reach it;
4. per email: claim the (report, decision) marker, which must not exist yet; send; record what SES said on it;
5. once the page's emails are settled, set each of its contact items (address or not) to expire
   CONTACT_RETENTION_AFTER_CLOSE_DAYS after the decision: long enough to answer an appeal, computed from the
   decision's time so that every delivery writes the same value, and written after the email so the contact never
   goes before the email it was kept for. Until then the dispatcher's expiry (13 months after receipt) stands.

Once per report and decision, whatever the retries. The marker is claimed before the send, so a redelivery never
sends again: delivery is at most once. The window is a death between the claim and the record (a timeout, an out of
memory mid-send; or the record's write failing): that marker stays SENDING and the email may or may not have gone; a
redelivery does not send it again and reports it as in doubt (ids only; the OutcomeEmailsInDoubt metric). At most
once because the email is a courtesy copy of what the reporter can always read on the report's status page, while a
second copy of a legal notice, or a dozen after a retry storm, reads as spam and as a service that does not know
what it told whom. A send that fails in a way that says it did not go (throttling after botocore's retries, an SES
fault) releases its marker and fails the record, so the next delivery sends it. SES has no idempotency token: a send
whose answer was lost after SES took it can go twice (botocore's own retry, or a redelivery after the release);
that is the one duplicate path.

Failures are per record: the first decision that cannot finish (storage, SES or the queue unavailable, an
unreadable record, the function running out of time) is reported with every record after it, which Lambda delivers
again anyway (it resumes a shard at the first failed sequence number). Stopping there also keeps a case's decisions
in order: a newer decision is never told before an older one that has yet to finish. Everything before the failure
stays done, and a redelivered decision costs its writes again (each report's condition fails) but sends nothing
twice. A case larger than one invocation can finish (its emails are paced by SES's sending rate) stops before the
function's timeout, fails its record, and goes on where it stopped on the next delivery.

No AWS here: the store, the mailer and the object orders are ports, the adapters are shared.adapters.completion,
shared.adapters.mailer and shared.adapters.queues. It logs nothing itself; warnings carry ids, counts and codes,
never an address or any text of a report.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.domain.cases import CHILD_SAFETY_FAMILY
from shared.domain.casework import OUTCOME_WORDS, Action, Decision
from shared.domain.dedupe import ulid_bytes, ulid_text
from shared.domain.errors import StoreUnavailable
from shared.domain.messages import FilingRequest, ObjectDecision
from shared.domain.reports import CONTACT_RETENTION_AFTER_CLOSE_DAYS, ReasonCode, ReporterContact, utc_timestamp
from shared.domain.resources import InvalidResource, canonicalize

# SES takes a fixed number of sends a second (14 for a new production account); a few in flight keep up with that
# at ~100 ms a send, more would only be throttled. Raise it with the account's quota.
MAX_CONCURRENT_SENDS = 4
# Stop starting work with this much of the invocation left: one step (a page of report writes, one email) has to fit
# in it, with botocore's retries. The record fails, and its next delivery goes on from there.
TIME_MARGIN_SECONDS = 20.0

T = TypeVar("T")
R = TypeVar("R")


# ---------------------------------------------------------------------------------------------------------------
# The decision, as the stream brings it
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionItem:
    sequence: str
    decision: Decision | None = None  # None: not a new decision, nothing to do
    problem: str | None = None  # set when the record cannot be read: poison


def decision_of(attributes: Mapping[str, Any]) -> Decision:
    """A decision item's attributes (plain values) as the Decision it records; ValueError or KeyError if it is not one.

    The id must be a ULID in its canonical (upper-case) text: every report's "no newer decision" condition compares
    ids as text, which is time order only for that form."""
    decision_id = str(attributes["decisionId"])
    if ulid_text(ulid_bytes(decision_id)) != decision_id:
        raise ValueError("decisionId is not a ULID in canonical form")
    case_id = str(attributes["caseId"])
    if not case_id:
        raise ValueError("caseId is empty")
    decided_at = datetime.fromisoformat(str(attributes["decidedAt"]).replace("Z", "+00:00"))
    if decided_at.tzinfo is None:
        raise ValueError("decidedAt has no time zone")
    return Decision(
        decision_id=decision_id,
        case_id=case_id,
        analyst=str(attributes["analyst"]),
        decided_at=decided_at,
        reason_code=ReasonCode(attributes["reasonCode"]),
        action=Action(attributes.get("action", Action.NONE)),
        statement=attributes.get("statement"),
        note=attributes.get("note"),
        family=attributes.get("family"),
    )


@dataclass(frozen=True)
class Completion:
    """What a decision writes on each report of its case, and all that the rest of this module gets to see of it."""

    decision_id: str
    case_id: str
    reason_code: ReasonCode
    completed_at: str  # the table's time format
    contacts_expire_at: int  # epoch seconds: the decision's time and the retention after closing, on every delivery

    @classmethod
    def of(cls, decision: Decision, contact_retention_days: int = CONTACT_RETENTION_AFTER_CLOSE_DAYS) -> Completion:
        return cls(
            decision_id=decision.decision_id,
            case_id=decision.case_id,
            reason_code=decision.reason_code,
            completed_at=utc_timestamp(decision.decided_at),
            contacts_expire_at=int((decision.decided_at + timedelta(days=contact_retention_days)).timestamp()),
        )


class Completed(StrEnum):
    """What became of one report of the case."""

    NOW = "now"  # completed by this delivery
    BEFORE = "before"  # it carries this decision already: an earlier delivery completed it
    SUPERSEDED = "superseded"  # it carries a newer decision: left alone, and its reporter is told of that one
    GONE = "gone"  # deleted meanwhile (a destruction order), or not this case's: nothing written

    @property
    def by_this_decision(self) -> bool:
        return self in (Completed.NOW, Completed.BEFORE)


@dataclass(frozen=True)
class CompletedPage:
    """What became of a page of the case's reports, and which signed reporters' reports got their first decision."""

    states: Mapping[str, Completed]
    # Report key -> reporter id (shared.domain.cases.reporter_key): reports this delivery completed that carried no
    # decision before and came from a signed caller. Only these count in a track record, so a reopened case decided
    # again, or a redelivery, never counts a report twice.
    first_decisions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordIncrement:
    """What one page adds to one reporter's track record (DSA Art. 23: the share of their notices found unfounded)."""

    decided: int
    actioned: int
    no_action: int


def record_increments(first_decisions: Mapping[str, str], reason: ReasonCode) -> dict[str, RecordIncrement]:
    """Per reporter, the reports of the page that this decision decided first, by what it decided."""
    counts: dict[str, int] = {}
    for reporter_id in first_decisions.values():
        counts[reporter_id] = counts.get(reporter_id, 0) + 1
    actioned = reason is ReasonCode.ACTIONED
    no_action = reason is ReasonCode.REVIEWED_NO_AWS_ACTION
    return {
        reporter_id: RecordIncrement(decided=n, actioned=n if actioned else 0, no_action=n if no_action else 0)
        for reporter_id, n in sorted(counts.items())
    }


# ---------------------------------------------------------------------------------------------------------------
# The email
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeEmail:
    subject: str
    text: str


# Built once per container, compiled on first use. Plain text, so no autoescape: what goes in is an id checked to be
# a ULID, fixed words and a configured address. StrictUndefined: a name the template expects and is not given fails.
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)
OUTCOME_TEMPLATE = "outcome_email.txt"


def outcome_email(report_id: str, reason_code: ReasonCode, contest_address: str | None = None) -> OutcomeEmail:
    """The email telling a reporter the outcome of their report: its reference, the outcome, the redress. Its
    arguments are all it can say; the decision's statement and note are not among them."""
    if ulid_text(ulid_bytes(report_id)) != report_id:
        raise ValueError("a report id is a ULID in canonical form")
    if contest_address is not None and email_address(contest_address) != contest_address:
        raise ValueError("the Trust & Safety address is not an email address")
    template = _TEMPLATES.get_template(OUTCOME_TEMPLATE)
    context = template.new_context(
        {"report_id": report_id, "outcome": OUTCOME_WORDS[reason_code], "contest_address": contest_address}
    )
    subject = "".join(template.blocks["subject"](context)).strip()
    text = "".join(template.blocks["body"](context)).strip() + "\n"
    return OutcomeEmail(subject=subject, text=text)


# What SES takes as a recipient: a dot-atom local part (RFC 5322 without quoted strings or comments) and a domain of
# letter-digit-hyphen labels under an alphabetic or IDNA top-level label. Anything else (a name and address, a
# list, a phone number, a partner's URL) is not an address we can write to, and is never guessed into one.
_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
_ADDRESS = re.compile(f"(?P<local>{_LOCAL_PART})@(?P<domain>{_DOMAIN})")
MAX_ADDRESS_CHARS = 254
MAX_LOCAL_PART_CHARS = 64


def email_address(contact: str | None) -> str | None:
    """The contact as an address to send to, or None when it is not one (only a syntactically valid address is)."""
    if not contact:
        return None
    candidate = contact.strip()
    match = _ADDRESS.fullmatch(candidate)
    if match is None or len(candidate) > MAX_ADDRESS_CHARS or len(match["local"]) > MAX_LOCAL_PART_CHARS:
        return None
    return candidate


# ---------------------------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------------------------


class NoticeState(StrEnum):
    """Where one (report, decision) email stands, as its marker says."""

    SENDING = "SENDING"  # claimed; the send's answer is not recorded (yet, or ever: the crash window)
    SENT = "SENT"
    NOT_SENT = "NOT_SENT"  # SES refused this message; it is not tried again


@dataclass(frozen=True)
class Sent:
    message_id: str


@dataclass(frozen=True)
class NotSent:
    reason: str  # SES's error code


Delivery = Sent | NotSent


class MailUnavailable(Exception):
    """SES did not take the message after botocore's retries, and said nothing that makes a retry pointless: the
    email did not go (as far as anyone can tell), try again."""


class OutOfTime(Exception):
    """The invocation has too little time left to start another step."""


class QueueUnavailable(Exception):
    """Some of a decision's object orders did not reach the quarantine queue: try again (the worker is idempotent)."""


@dataclass(frozen=True)
class CaseObjects:
    """What the case item says about the decision's objects."""

    objects: frozenset[str] = frozenset()  # canonical s3 URIs of protected objects (a bounded sample: at most 25)
    decision_id: str | None = None  # the case's latest decision


class CompletionStore(Protocol):
    def case_reports(self, case_id: str) -> Iterable[Sequence[str]]:
        """The keys of the case's reports, oldest first, a page at a time."""
        ...

    def complete(self, keys: Sequence[str], completion: Completion) -> CompletedPage:
        """Complete each report unless it carries this or a newer decision; what became of each."""
        ...

    def add_to_track_records(self, increments: Mapping[str, RecordIncrement]) -> None:
        """Add each reporter's counts to their track record (created at its first decided report)."""
        ...

    def contacts(self, keys: Sequence[str]) -> Sequence[ReporterContact]:
        """The contact items of these reports; reports without one are left out."""
        ...

    def retain_contacts(self, keys: Sequence[str], expires_at: int) -> None:
        """Set these reports' contact items to expire then (epoch seconds); one the TTL took meanwhile stays gone."""
        ...

    def case_objects(self, case_id: str) -> CaseObjects:
        """The case's protected objects and its latest decision (empty when there is no such case)."""
        ...

    def claim_notice(self, key_hex: str, report_id: str, completion: Completion, at: str) -> NoticeState | None:
        """Create the (report, decision) marker as SENDING; None when created, else the state it already has."""
        ...

    def record_notice(self, key_hex: str, decision_id: str, delivery: Delivery, at: str) -> None: ...

    def release_notice(self, key_hex: str, decision_id: str) -> None:
        """Delete a SENDING marker whose send did not go, so the next delivery sends it."""
        ...


class Mailer(Protocol):
    def send(self, to: str, email: OutcomeEmail) -> Delivery:
        """Sent, or NotSent when SES refused this message for good; MailUnavailable when it may take it later."""
        ...


class FilingOrders(Protocol):
    def send(self, request: FilingRequest) -> None:
        """Put the request on the FIFO filing queue (deduplicated by its decision); QueueUnavailable if it is not."""
        ...


class ObjectOrders(Protocol):
    def send(self, orders: Sequence[ObjectDecision]) -> int:
        """Put every order on the quarantine queue; how many could not be sent."""
        ...


# ---------------------------------------------------------------------------------------------------------------
# The fan-out
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CompletionResult:
    failed: list[str] = field(default_factory=list)  # sequence numbers, in batch order
    decisions: int = 0  # decisions carried out in full by this delivery
    completed: int = 0  # reports this delivery completed
    completed_before: int = 0  # reports an earlier delivery of the same decision completed
    superseded: int = 0  # reports that carry a newer decision: left alone
    gone: int = 0  # reports listed for the case that are not there (any more)
    without_address: int = 0  # this decision's reports with no contact, or a contact that is not an email address
    emails_sent: int = 0
    emails_not_sent: int = 0  # refused by SES for good; the reason is on the marker
    emails_before: int = 0  # sent (or refused) by an earlier delivery
    emails_in_doubt: int = 0  # an earlier delivery died mid-send: not sent again (at most once)
    contacts_retained: int = 0  # contact items set to expire a year (by default) after the decision
    first_decisions: int = 0  # signed reporters' reports decided for the first time: counted in their track records
    objects_ordered: int = 0  # RELEASE or RESTRICT orders sent to the quarantine worker, one per object
    objects_superseded: int = 0  # objects of decisions a newer decision of the case replaced: no order sent
    filings_ordered: int = 0  # child-safety cases decided ACTIONED: a CyberTipline filing requested (once per decision)
    poison: int = 0
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def warn(self, message: str, fields: dict[str, Any]) -> None:
        self.warnings.append((message, fields))

    def response(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial-batch answer for a stream: it resumes at the first failed sequence number."""
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in self.failed]}


def complete_decisions(
    items: Sequence[DecisionItem],
    *,
    store: CompletionStore,
    mailer: Mailer,
    orders: ObjectOrders,
    filings: FilingOrders | None = None,
    contest_address: str | None = None,
    contact_retention_days: int = CONTACT_RETENTION_AFTER_CLOSE_DAYS,
    time_left: Callable[[], float] = lambda: math.inf,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CompletionResult:
    """Carry out each new decision of the batch in order; stop at the first that cannot finish (see the module)."""
    result = CompletionResult()
    for position, item in enumerate(items):
        if item.problem is not None:
            result.poison += 1
            result.warn("unreadable decision record", {"sequence": item.sequence, "reason": item.problem})
        elif item.decision is None:
            continue
        elif _carried_out(
            item.decision,
            store,
            mailer,
            orders,
            filings,
            contest_address,
            contact_retention_days,
            time_left,
            now,
            result,
        ):
            result.decisions += 1
            continue
        result.failed = [later.sequence for later in items[position:]]
        break
    return result


def _carried_out(
    decision: Decision,
    store: CompletionStore,
    mailer: Mailer,
    orders: ObjectOrders,
    filings: FilingOrders | None,
    contest_address: str | None,
    contact_retention_days: int,
    time_left: Callable[[], float],
    now: Callable[[], datetime],
    result: CompletionResult,
) -> bool:
    try:
        _order_objects(decision, store, orders, result)
        _order_filing(decision, filings, result)
        completion = Completion.of(decision, contact_retention_days)
        _carry_out(completion, store, mailer, contest_address, time_left, now, result)
    except (StoreUnavailable, MailUnavailable, OutOfTime, QueueUnavailable) as exc:
        result.warn(
            "decision not carried out in full",
            {"decisionId": decision.decision_id, "caseId": decision.case_id, "reason": f"{type(exc).__name__}: {exc}"},
        )
        return False
    return True


@dataclass(frozen=True)
class _Notice:
    key_hex: str
    report_id: str
    address: str = field(repr=False)


class _Told(StrEnum):
    SENT = "sent"
    NOT_SENT = "not_sent"
    BEFORE = "before"
    IN_DOUBT = "in_doubt"
    SKIPPED = "skipped"  # another send of the page failed first: left for the next delivery


def _carry_out(
    completion: Completion,
    store: CompletionStore,
    mailer: Mailer,
    contest_address: str | None,
    time_left: Callable[[], float],
    now: Callable[[], datetime],
    result: CompletionResult,
) -> None:
    for keys in store.case_reports(completion.case_id):
        _check_time(time_left)
        page = store.complete(keys, completion)
        states = page.states
        # Right after the reports, before anything slower: the window in which a death loses the count (the reports'
        # next delivery finds them completed, BEFORE, and counts nothing) is one round trip. A count is never added
        # twice, at worst missed, which errs in the reporter's favour; an Art. 23 suspension also needs a person.
        if page.first_decisions:
            store.add_to_track_records(record_increments(page.first_decisions, completion.reason_code))
            result.first_decisions += len(page.first_decisions)
        result.completed += sum(1 for state in states.values() if state is Completed.NOW)
        result.completed_before += sum(1 for state in states.values() if state is Completed.BEFORE)
        result.superseded += sum(1 for state in states.values() if state is Completed.SUPERSEDED)
        result.gone += sum(1 for state in states.values() if state is Completed.GONE)
        ours = [key for key in keys if states.get(key, Completed.GONE).by_this_decision]
        if not ours:
            continue
        contacts = {contact.key_hex: contact for contact in store.contacts(ours)}
        notices = []
        for key in ours:
            contact = contacts.get(key)
            address = email_address(contact.reporter_contact) if contact else None
            if contact is None or address is None:
                result.without_address += 1
                continue
            notices.append(_Notice(key_hex=key, report_id=contact.report_id, address=address))
        _tell(notices, completion, store, mailer, contest_address, time_left, now, result)
        # After the emails, whatever they became: the contact is kept for the appeal, no longer, and never goes before
        # the email it is for. Contacts that are not addresses are kept the same (a phone number answers an appeal).
        if contacts:
            _check_time(time_left)
            store.retain_contacts(sorted(contacts), completion.contacts_expire_at)
            result.contacts_retained += len(contacts)


def needs_filing(decision: Decision) -> bool:
    """A child-safety case decided ACTIONED: the analyst confirmed apparent CSAM, which 18 U.S.C. 2258A obliges a
    provider to report to the CyberTipline as soon as reasonably possible."""
    return decision.reason_code is ReasonCode.ACTIONED and decision.family == CHILD_SAFETY_FAMILY


def _order_filing(decision: Decision, filings: FilingOrders | None, result: CompletionResult) -> None:
    """Before the reports too: a report to NCMEC must not wait behind a big case's emails. Every delivery sends it
    again; the FIFO queue drops a repeat of the same decision within five minutes, and the filer files a case once
    whatever it receives (the filing's state machine, shared.domain.cybertipline)."""
    if not needs_filing(decision):
        return
    if filings is None:
        raise QueueUnavailable("no filing queue is configured for a decision that must be filed")
    filings.send(FilingRequest(case_id=decision.case_id, decision_id=decision.decision_id))
    result.filings_ordered += 1


# What each analyst action asks of the quarantine worker; NONE asks nothing.
_ANALYST_ACTIONS: Mapping[Action, Literal["release", "restrict"]] = {
    Action.RELEASE: "release",
    Action.RESTRICT: "restrict",
}


def _order_objects(decision: Decision, store: CompletionStore, orders: ObjectOrders, result: CompletionResult) -> None:
    """One order per protected object of the case, for a RELEASE or RESTRICT decision that is still the case's latest.

    Before the reports: what becomes of the content should not wait behind the emails of a big case, which may take
    several invocations (each delivery sends the orders again: at most 25 messages, and the worker is idempotent).
    A decision the case's latest has replaced (a late redelivery) orders nothing: it must not undo the newer one.
    """
    action = _ANALYST_ACTIONS.get(decision.action)
    if action is None:
        return
    case = store.case_objects(decision.case_id)
    if case.decision_id is not None and case.decision_id > decision.decision_id:
        result.objects_superseded += len(case.objects)
        return
    named: set[tuple[str, str]] = set()
    for uri in case.objects:
        try:
            resource = canonicalize(uri)
        except InvalidResource:
            continue  # stored canonical by the intake; an unreadable one is not ours to guess at
        if resource.bucket is not None and resource.key is not None:
            named.add((resource.bucket, resource.key))  # versions are the worker's to find: one order per key
    wanted = [
        ObjectDecision(
            analyst_action=action,
            decision_id=decision.decision_id,
            case_id=decision.case_id,
            analyst=decision.analyst,
            bucket=bucket,
            key=key,
        )
        for bucket, key in sorted(named)
    ]
    if not wanted:
        return
    unsent = orders.send(wanted)
    if unsent:
        raise QueueUnavailable(f"{unsent} of {len(wanted)} object orders not sent")
    result.objects_ordered += len(wanted)


def _tell(
    notices: Sequence[_Notice],
    completion: Completion,
    store: CompletionStore,
    mailer: Mailer,
    contest_address: str | None,
    time_left: Callable[[], float],
    now: Callable[[], datetime],
    result: CompletionResult,
) -> None:
    stop = threading.Event()  # once one send fails, the others of the page are left for the next delivery

    def tell(notice: _Notice) -> _Told:
        if stop.is_set():
            return _Told.SKIPPED
        try:
            return _tell_one(notice, completion, store, mailer, contest_address, time_left, now)
        except BaseException:
            stop.set()
            raise

    outcomes = _in_parallel(tell, notices, MAX_CONCURRENT_SENDS)
    first_error: BaseException | None = None
    for notice, outcome in zip(notices, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            first_error = first_error or outcome
        elif outcome is _Told.SENT:
            result.emails_sent += 1
        elif outcome is _Told.NOT_SENT:
            result.emails_not_sent += 1
        elif outcome is _Told.BEFORE:
            result.emails_before += 1
        elif outcome is _Told.IN_DOUBT:
            result.emails_in_doubt += 1
            result.warn(
                "outcome email in doubt: an earlier delivery stopped mid-send; not sent again",
                {"reportId": notice.report_id, "decisionId": completion.decision_id},
            )
    if first_error is not None:
        raise first_error


def _tell_one(
    notice: _Notice,
    completion: Completion,
    store: CompletionStore,
    mailer: Mailer,
    contest_address: str | None,
    time_left: Callable[[], float],
    now: Callable[[], datetime],
) -> _Told:
    _check_time(time_left)
    # Rendered before the claim: a template that cannot be rendered is a bug, and must not leave a claimed marker.
    email = outcome_email(notice.report_id, completion.reason_code, contest_address)
    found = store.claim_notice(notice.key_hex, notice.report_id, completion, utc_timestamp(now()))
    if found is NoticeState.SENDING:
        return _Told.IN_DOUBT
    if found is not None:
        return _Told.BEFORE
    try:
        delivery = mailer.send(notice.address, email)
    except MailUnavailable:
        store.release_notice(notice.key_hex, completion.decision_id)
        raise
    store.record_notice(notice.key_hex, completion.decision_id, delivery, utc_timestamp(now()))
    return _Told.SENT if isinstance(delivery, Sent) else _Told.NOT_SENT


def _check_time(time_left: Callable[[], float]) -> None:
    if time_left() < TIME_MARGIN_SECONDS:
        raise OutOfTime("too little of the invocation left to start another step")


def _in_parallel(work: Callable[[T], R], items: Sequence[T], workers: int) -> list[R | BaseException]:
    """work(item) for each item, a few at a time; each item's result or what it raised, in the items' order."""
    if len(items) <= 1 or workers <= 1:
        return [_outcome_of(work, item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
    return [future.exception() or future.result() for future in futures]


def _outcome_of(work: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return work(item)
    except BaseException as exc:  # as a pool's future would hold it: the caller re-raises the first
        return exc
