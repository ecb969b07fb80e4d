"""The completion worker as Lambda runs it, under moto: a decision item's INSERT in, the case's reports COMPLETED and
one outcome email per reporter with an address out, whatever the redeliveries and faults.

The table is seeded as the dispatcher leaves it (reports PROCESSING with their caseId, contact items of their own)
and the decision item as the casework API writes it; the stream record is shaped as Lambda's event source shapes it.
What SES sent is read from moto's SES backend, which SES v2's SendEmail feeds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.backends import get_backend

from functions.completion.handler import lambda_handler as completion
from shared.adapters import completion as completion_table
from shared.adapters import mailer
from shared.adapters.casework_table import CaseworkTable
from shared.adapters.reports_table import contact_item, to_item
from shared.domain.cases import reporter_key
from shared.domain.casework import OUTCOME_WORDS
from shared.domain.dedupe import ulid_text
from shared.domain.reports import ReasonCode, ReporterContact, ReportRecord
from tests.conftest import FunctionContext, ProcessKilled, drain, stream_event

CASE = "5" * 32
RESOURCE = "https://demo-customer-content.s3.amazonaws.com/hidden/evil-login.html"
DESCRIPTION = "The page at the link asks for my bank password"
STATEMENT = "Phishing page impersonating a bank, removed under AUP 4.2"
NOTE = "Analyst note: same kit as case 0042"
ANALYST = "analyst-ada"
RECEIVED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ses(world) -> Iterator[list[Any]]:
    """SES's record of sent messages; the sender identity verified, as the template's OutcomeEmailIdentity is."""
    mailer.clear()
    sesv2 = boto3.client("sesv2")
    sender = os.environ["OUTCOME_EMAIL_SENDER"]
    if sender not in {i["IdentityName"] for i in sesv2.list_email_identities()["EmailIdentities"]}:
        sesv2.create_email_identity(EmailIdentity=sender)
    yield get_backend("ses")[world.account_id][world.region].sent_messages
    mailer.clear()


def ulid(moment: datetime, tail: int) -> str:
    return ulid_text(int(moment.timestamp() * 1000).to_bytes(6, "big") + tail.to_bytes(10, "big"))


def key_of(n: int) -> str:
    return f"{n:020x}"


def report_id_of(n: int) -> str:
    return ulid(RECEIVED + timedelta(seconds=n), n)


def report(n: int, case_id: str = CASE, principal: str = "anonymous") -> dict[str, Any]:
    """A report as the dispatcher leaves it: counted into the case, PROCESSING, its contact moved out."""
    record = ReportRecord(
        key_hex=key_of(n),
        report_id=report_id_of(n),
        status="PROCESSING",
        received_at=(RECEIVED + timedelta(seconds=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        principal=principal,
        trust_tier=0 if principal == "anonymous" else 2,
        category="content",
        type="phishing",
        resources=(RESOURCE,),
        incident_time="2026-11-30T09:00:00Z",
        content_fingerprint="f" * 64,
        receipt_hash="e" * 64,
        source_format="form",
        description=DESCRIPTION,
        case_id=case_id,
    )
    return to_item(record)


def contact(n: int, address: str) -> dict[str, Any]:
    return contact_item(
        ReporterContact(
            key_hex=key_of(n),
            report_id=report_id_of(n),
            received_at="2026-12-01T09:00:00.000Z",
            expires_at=1_900_000_000,
            reporter_org="Ada Reporter",
            reporter_contact=address,
        )
    )


def decision(minutes: int = 0, reason: ReasonCode = ReasonCode.ACTIONED, case_id: str = CASE) -> dict[str, Any]:
    """The decision item as the casework API writes it."""
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    decision_id = ulid(at, 99)
    return {
        "PK": {"S": f"CASE#{case_id}"},
        "SK": {"S": f"DECISION#{decision_id}"},
        "entity": {"S": "decision"},
        "caseId": {"S": case_id},
        "decisionId": {"S": decision_id},
        "analyst": {"S": ANALYST},
        "decidedAt": {"S": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        "reasonCode": {"S": reason.value},
        "action": {"S": "RESTRICT" if reason is ReasonCode.ACTIONED else "NONE"},
        "statement": {"S": STATEMENT},
        "note": {"S": NOTE},
        "family": {"S": "content"},
        "category": {"S": "content"},
    }


def put_all(world, items: list[dict[str, Any]]) -> None:
    client = boto3.client("dynamodb")
    table = world.physical_name("ReportsTable")
    for start in range(0, len(items), 25):
        requests: Any = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])


def seed_case(
    world,
    reports: int,
    addresses: dict[int, str],
    case_id: str = CASE,
    first: int = 1,
    objects: frozenset[str] = frozenset(),
    principals: dict[int, str] | None = None,
) -> None:
    case = {
        "PK": {"S": f"CASE#{case_id}"},
        "SK": {"S": "CASE"},
        "entity": {"S": "case"},
        "caseId": {"S": case_id},
        "resource": {"S": RESOURCE},
        "family": {"S": "content"},
        "category": {"S": "content"},
        "version": {"N": "1"},
        "reportCount": {"N": str(reports)},
        **({"objects": {"SS": sorted(objects)}} if objects else {}),
    }
    numbers = range(first, first + reports)
    signed = principals or {}
    put_all(world, [case, *(report(n, case_id, signed.get(n, "anonymous")) for n in numbers)])
    put_all(world, [contact(n, address) for n, address in addresses.items()])


def deliver(world, *items: dict[str, Any], first_sequence: int = 1) -> list[str]:
    event = stream_event(world, list(items), first_sequence)
    answer = completion(event, FunctionContext("CompletionFunction"))
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def stored(world, pk: str, sk: str) -> dict[str, Any] | None:
    return (
        boto3.client("dynamodb")
        .get_item(TableName=world.physical_name("ReportsTable"), Key={"PK": {"S": pk}, "SK": {"S": sk}})
        .get("Item")
    )


def report_state(world, n: int) -> tuple[str, str | None, str | None]:
    item = stored(world, f"REPORT#{key_of(n)}", "REPORT")
    assert item is not None
    return item["status"]["S"], item.get("reasonCode", {}).get("S"), item.get("decisionId", {}).get("S")


def sent_to(messages: list[Any]) -> Counter[str]:
    return Counter(address for message in messages for address in message.destinations["ToAddresses"])


def count_calls(clients: list[Any]) -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    yield calls
    for client in clients:
        client.meta.events.unregister("before-call.*.*", count)


@pytest.fixture
def calls(world, ses) -> Iterator[Counter[str]]:
    """Every request the product's DynamoDB, SES v2 and SQS clients make, by operation name."""
    from shared.adapters import aws

    yield from count_calls([aws.dynamodb(), mailer.sesv2(), aws.sqs()])


# --- completing ------------------------------------------------------------------------------------------------


def test_a_decision_completes_every_report_of_its_case_with_its_reason_and_id(world, ses):
    seed_case(world, 7, {1: "ada@example.org"})
    seed_case(world, 2, {}, case_id="6" * 32, first=100)  # another case: untouched
    made = decision(reason=ReasonCode.REVIEWED_NO_AWS_ACTION)
    assert deliver(world, made) == []
    for n in range(1, 8):
        assert report_state(world, n) == ("COMPLETED", "REVIEWED_NO_AWS_ACTION", made["decisionId"]["S"])
        item = stored(world, f"REPORT#{key_of(n)}", "REPORT")
        assert item is not None and item["completedAt"]["S"] == made["decidedAt"]["S"]
        assert item["description"]["S"] == DESCRIPTION, "the rest of the report is as it was"
    assert report_state(world, 100) == ("PROCESSING", None, None)


def test_an_older_decision_redelivered_after_a_newer_one_changes_nothing(world, ses):
    seed_case(world, 3, {1: "ada@example.org"})
    older, newer = decision(0, ReasonCode.REVIEWED_NO_AWS_ACTION), decision(30, ReasonCode.ACTIONED)
    assert deliver(world, older) == [] and deliver(world, newer) == []
    assert deliver(world, older) == []
    for n in range(1, 4):
        assert report_state(world, n) == ("COMPLETED", "ACTIONED", newer["decisionId"]["S"])
    assert [OUTCOME_WORDS[ReasonCode.REVIEWED_NO_AWS_ACTION] in m.body for m in ses] == [True, False]
    assert len(ses) == 2, "each decision told once, the late redelivery told nobody"


def test_a_report_deleted_meanwhile_does_not_come_back_as_a_stub(world, ses):
    seed_case(world, 2, {})
    boto3.client("dynamodb").delete_item(
        TableName=world.physical_name("ReportsTable"),
        Key={"PK": {"S": f"REPORT#{key_of(2)}"}, "SK": {"S": "REPORT"}},
    )
    assert deliver(world, decision()) == []
    assert report_state(world, 1)[0] == "COMPLETED"
    assert stored(world, f"REPORT#{key_of(2)}", "REPORT") is None


PARTNER = "arn:aws:iam::111122223333:role/example-cert"
OTHER_PARTNER = "arn:aws:iam::444455556666:role/abuse-desk"


def track_record(world, principal: str) -> dict[str, object]:
    """The reporter's record as the case page shows it (the casework API's reader, on the same item)."""
    reporter = reporter_key(principal)
    return CaseworkTable(world.physical_name("ReportsTable")).track_records([reporter])[reporter].as_json()


def test_each_signed_reporters_first_decided_reports_count_once_in_their_track_record(world, ses):
    seed_case(world, 4, {}, principals={1: PARTNER, 2: PARTNER, 3: OTHER_PARTNER})  # 4: anonymous
    unfounded = decision(0, ReasonCode.REVIEWED_NO_AWS_ACTION)
    assert deliver(world, unfounded) == [] and deliver(world, unfounded) == []  # a redelivery counts nothing
    record = track_record(world, PARTNER)
    assert (record["decided"], record["actioned"], record["noAction"], record["shareActioned"]) == (2, 0, 2, 0.0)
    assert (track_record(world, OTHER_PARTNER)["decided"], track_record(world, OTHER_PARTNER)["noAction"]) == (1, 1)
    assert track_record(world, "anonymous")["decided"] == 0, "anonymous reports are nobody's record"

    # The case decided again (reopened): its reports were decided already and count no second time; a report new
    # to the case counts with the decision that decides it first.
    assert deliver(world, decision(30, ReasonCode.ACTIONED)) == []
    put_all(world, [report(5, principal=PARTNER)])
    assert deliver(world, decision(60, ReasonCode.ACTIONED)) == []
    record = track_record(world, PARTNER)
    assert (record["decided"], record["actioned"], record["noAction"]) == (3, 1, 2)
    assert record["shareActioned"] == pytest.approx(1 / 3)


# --- telling reporters -----------------------------------------------------------------------------------------


def test_each_reporter_with_an_email_address_gets_exactly_one_email_and_the_others_none(world, ses):
    addresses = {1: "ada@example.org", 3: "bob@example.org", 4: "Example CERT, +44 20 7946 0000"}
    seed_case(world, 5, addresses)  # 2 and 5: anonymous, no contact item
    assert deliver(world, decision()) == []
    assert sent_to(ses) == Counter({"ada@example.org": 1, "bob@example.org": 1})
    assert {m.source for m in ses} == {os.environ["OUTCOME_EMAIL_SENDER"]}


def test_a_redelivered_decision_sends_no_second_email(world, ses):
    seed_case(world, 3, {1: "ada@example.org", 2: "bob@example.org"})
    made = decision()
    assert deliver(world, made) == [] and deliver(world, made) == [] and deliver(world, made, made) == []
    assert sent_to(ses) == Counter({"ada@example.org": 1, "bob@example.org": 1})


def test_the_email_has_the_reference_and_the_outcome_and_nothing_of_the_report_or_the_decision(world, ses):
    seed_case(world, 1, {1: "ada@example.org"})
    made = decision(reason=ReasonCode.ACTIONED)
    assert deliver(world, made) == []
    (message,) = ses
    assert report_id_of(1) in message.subject and report_id_of(1) in message.body
    assert OUTCOME_WORDS[ReasonCode.ACTIONED] in message.body
    assert "take the matter to a court" in message.body
    for private in (DESCRIPTION, RESOURCE, "evil-login", STATEMENT, NOTE, ANALYST, CASE, made["decisionId"]["S"]):
        assert private not in message.body and private not in message.subject


def test_the_marker_records_the_send_and_keeps_no_address(world, ses):
    seed_case(world, 1, {1: "ada@example.org"})
    made = decision()
    assert deliver(world, made) == []
    marker = stored(world, f"REPORT#{key_of(1)}", f"OUTCOME#{made['decisionId']['S']}")
    assert marker is not None
    assert {name: value["S"] for name, value in marker.items() if name not in ("claimedAt", "settledAt")} == {
        "PK": f"REPORT#{key_of(1)}",
        "SK": f"OUTCOME#{made['decisionId']['S']}",
        "entity": "outcome",
        "reportId": report_id_of(1),
        "caseId": CASE,
        "decisionId": made["decisionId"]["S"],
        "reasonCode": "ACTIONED",
        "notice": "SENT",
        "sesMessageId": ses[0].id,
    }


def test_an_address_ses_refuses_is_recorded_as_not_sent_and_the_record_succeeds(world, ses):
    seed_case(world, 2, {1: "ada@example.org", 2: "bob@example.org"})
    made = decision()
    boto3.client("sesv2").delete_email_identity(EmailIdentity=os.environ["OUTCOME_EMAIL_SENDER"])
    assert deliver(world, made) == [], "SES refused the messages: retrying would not change that"
    marker = stored(world, f"REPORT#{key_of(1)}", f"OUTCOME#{made['decisionId']['S']}")
    assert marker is not None
    assert (marker["notice"]["S"], marker["notSentReason"]["S"]) == ("NOT_SENT", "MessageRejected")
    assert ses == []


# --- faults ----------------------------------------------------------------------------------------------------


def test_an_ses_fault_fails_the_record_and_the_retry_sends_exactly_one(world, ses, faults):
    seed_case(world, 1, {1: "ada@example.org"})
    client = mailer.sesv2()
    client.meta.events.register("before-call.*.*", faults.before)
    client.meta.events.register("after-call.*.*", faults.after)
    made = decision()
    faults.arm(5, "before", "ClientError")  # GetItem (the case), Query, UpdateItem, BatchGetItem, PutItem, SendEmail
    assert deliver(world, made) == [stream_event(world, [made])["Records"][0]["dynamodb"]["SequenceNumber"]]
    assert faults.failed == "SendEmail" and ses == []
    assert report_state(world, 1)[0] == "COMPLETED", "what was done stays done"
    assert stored(world, f"REPORT#{key_of(1)}", f"OUTCOME#{made['decisionId']['S']}") is None, "claim released"
    assert deliver(world, made) == []
    assert sent_to(ses) == Counter({"ada@example.org": 1})
    assert deliver(world, made) == [] and len(ses) == 1


def test_a_delivery_killed_between_the_claim_and_the_send_is_not_sent_again(world, ses, faults, caplog):
    """At most once: the marker claimed before the send stays SENDING; the redelivery reports it in doubt, by ids."""
    seed_case(world, 1, {1: "ada@example.org"})
    client = mailer.sesv2()
    client.meta.events.register("before-call.*.*", faults.before)
    made = decision()
    faults.arm(5, "before", "Killed")
    with pytest.raises(ProcessKilled):
        deliver(world, made)
    assert faults.failed == "SendEmail"
    assert deliver(world, made) == [] and ses == []
    marker = stored(world, f"REPORT#{key_of(1)}", f"OUTCOME#{made['decisionId']['S']}")
    assert marker is not None and marker["notice"]["S"] == "SENDING"
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "in doubt" in warning.getMessage()
    assert (warning.reportId, warning.decisionId) == (report_id_of(1), made["decisionId"]["S"])


def test_logs_carry_ids_and_counts_never_an_address_or_a_word_of_the_report(world, ses, faults, caplog):
    seed_case(world, 3, {1: "ada@example.org", 2: "bob@example.org", 3: "eve@example.org"})
    client = mailer.sesv2()
    client.meta.events.register("before-call.*.*", faults.before)
    made = decision()
    faults.arm(8, "before", "ClientError")  # one of the emails' calls (claims, sends and records, a few at a time)
    assert len(deliver(world, made)) == 1
    assert deliver(world, made) == []
    assert len(ses) == 3
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "decisions carried out" in logged and made["decisionId"]["S"] in logged
    for private in ("@example.org", DESCRIPTION, RESOURCE, STATEMENT, NOTE):
        assert private not in logged


# The case's GetItem, a report's UpdateItem, the contacts' BatchGetItem, the claim, the contact's retention (the
# fault counter does not see SES: the marker's record is call 5)
@pytest.mark.parametrize("operation", [0, 2, 3, 4, 6])
@pytest.mark.parametrize("error", ["ClientError", "Connection"])
def test_a_table_fault_fails_the_record_and_the_retry_finishes_it_once(world, ses, faults, operation, error):
    seed_case(world, 1, {1: "ada@example.org"})
    made, later = decision(0), decision(5, case_id="6" * 32)
    seed_case(world, 1, {}, case_id="6" * 32, first=100)
    faults.arm(operation, "before", error)
    failed = deliver(world, made, later)
    assert len(failed) == 2, "the failed decision and the one after it, which Lambda delivers again anyway"
    assert report_state(world, 100)[0] == "PROCESSING", "nothing after a failure is started"
    assert deliver(world, made, later) == []
    assert report_state(world, 1)[0] == "COMPLETED" and report_state(world, 100)[0] == "COMPLETED"
    assert sent_to(ses) == Counter({"ada@example.org": 1})


def test_an_unreadable_decision_fails_its_record(world, ses):
    broken = decision()
    broken["decisionId"] = {"S": "not-a-ulid"}
    assert len(deliver(world, broken)) == 1


def test_records_that_are_not_new_decisions_are_ignored(world, ses):
    seed_case(world, 1, {1: "ada@example.org"})
    event = stream_event(world, [report(1)])
    assert completion(event, FunctionContext("CompletionFunction")) == {"batchItemFailures": []}
    assert report_state(world, 1)[0] == "PROCESSING" and ses == []


# --- contact retention after the case closes ------------------------------------------------------------------


def expiry(world, n: int) -> int:
    item = stored(world, f"REPORT#{key_of(n)}", "CONTACT")
    assert item is not None
    return int(item["expiresAt"]["N"])


def test_after_a_decision_every_contact_of_its_case_expires_a_year_after_it(world, ses):
    seed_case(world, 4, {1: "ada@example.org", 2: "Example CERT, +44 20 7946 0000", 3: "bob@example.org"})
    seed_case(world, 1, {100: "eve@example.org"}, case_id="6" * 32, first=100)  # another case: untouched
    made = decision()
    assert deliver(world, made) == []
    decided = datetime.fromisoformat(made["decidedAt"]["S"].replace("Z", "+00:00"))
    a_year_after = int((decided + timedelta(days=365)).timestamp())
    assert [expiry(world, n) for n in (1, 2, 3)] == [a_year_after] * 3, "moto never expires items: the attribute"
    assert expiry(world, 100) == 1_900_000_000
    assert stored(world, f"REPORT#{key_of(4)}", "CONTACT") is None, "no contact is made up for an anonymous report"
    assert deliver(world, made) == [] and expiry(world, 1) == a_year_after, "a redelivery writes the same value"


def test_the_retention_after_closing_comes_from_the_environment(world, ses, monkeypatch):
    from shared.config import settings

    monkeypatch.setenv("CONTACT_RETENTION_AFTER_CLOSE_DAYS", "90")
    settings.cache_clear()
    seed_case(world, 1, {1: "ada@example.org"})
    made = decision()
    assert deliver(world, made) == []
    decided = datetime.fromisoformat(made["decidedAt"]["S"].replace("Z", "+00:00"))
    assert expiry(world, 1) == int((decided + timedelta(days=90)).timestamp())


# --- the case's objects ----------------------------------------------------------------------------------------

OBJECTS = frozenset(f"s3://demo-customer-content/hidden/file-{n}.bin" for n in range(12))


def test_a_restrict_decision_sends_one_order_per_object_to_the_quarantine_queue(world, ses):
    seed_case(world, 1, {}, objects=OBJECTS)
    made = decision()
    assert deliver(world, made) == []
    orders = drain(world.queue_url("QuarantineQueue"))
    assert sorted(order["key"] for order in orders) == sorted(f"hidden/file-{n}.bin" for n in range(12))
    assert {(o["analyst_action"], o["decision_id"], o["analyst"]) for o in orders} == {
        ("restrict", made["decisionId"]["S"], ANALYST)
    }


# --- what it costs ---------------------------------------------------------------------------------------------


def expected_requests(
    reports: int, emailed: int, page: int, contacts: int | None = None, objects: int = 0, case_read: bool = True
) -> Counter[str]:
    pages = -(-reports // page)  # moto ends a full last page without LastEvaluatedKey; DynamoDB may add an empty one
    contacts = emailed if contacts is None else contacts
    return +Counter(
        {
            "GetItem": 1 if case_read else 0,  # the case's objects, for a RELEASE or RESTRICT decision
            "SendMessageBatch": -(-objects // 10),
            "Query": pages,
            "UpdateItem": reports + emailed + contacts,  # each report's completion, marker's record, contact's expiry
            "BatchGetItem": -(-reports // 100),
            "PutItem": emailed,
            "SendEmail": emailed,
        }
    )


def test_a_one_report_case_costs_eight_requests(world, calls):
    seed_case(world, 1, {1: "ada@example.org"})
    assert deliver(world, decision()) == []
    assert calls == expected_requests(1, 1, completion_table.PAGE_SIZE)
    assert sum(calls.values()) == 8


def test_a_decision_without_action_does_not_read_the_case(world, calls):
    seed_case(world, 1, {1: "ada@example.org"}, objects=OBJECTS)
    assert deliver(world, decision(reason=ReasonCode.REVIEWED_NO_AWS_ACTION)) == []
    assert calls == expected_requests(1, 1, completion_table.PAGE_SIZE, case_read=False)


def test_requests_grow_by_report_by_contact_and_by_email_only(world, calls, monkeypatch, ses):
    monkeypatch.setattr(completion_table, "PAGE_SIZE", 100)
    contacts = {n: f"r{n}@example.org" for n in range(1, 251, 5)} | dict.fromkeys(range(2, 251, 25), "+44 20 7946 0000")
    seed_case(world, 250, contacts, objects=OBJECTS)
    assert deliver(world, decision()) == []
    assert calls == expected_requests(250, 50, 100, contacts=60, objects=12)
    assert len(ses) == 50
