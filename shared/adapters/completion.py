"""The completion worker's table: a decided case's reports completed, their contacts read and kept a year after the
decision, the outcome-email markers, and the case's objects.

shared.domain.outcomes decides what a decision sets in motion; this module is where it is written. Stream records
come in through read_decisions (the decision item as casework_table writes it: PK "CASE#<caseId>", SK
"DECISION#<decisionId>", entity "decision").

Items this module writes
    Report (fields it sets): status = "COMPLETED", reasonCode, decisionId (the decision that completed it: a ULID, so
        text order is time order), completedAt (the decision's decidedAt).
    Reporter contact (field it sets): expiresAt = the decision's decidedAt + CONTACT_RETENTION_AFTER_CLOSE_DAYS (365
        by default), epoch seconds: the table's TTL, replacing the dispatcher's 13 months after receipt.
    Outcome-email marker (one per report and decision; never deleted once settled)
        PK = "REPORT#<key>", SK = "OUTCOME#<decisionId>", entity = "outcome", reportId, caseId, decisionId,
        reasonCode, notice ("SENDING" | "SENT" | "NOT_SENT"), claimedAt, then settledAt and either sesMessageId (SENT)
        or notSentReason (NOT_SENT: SES's error code). No address and no text of the email or the report: the marker
        says that, and when, the reporter of that report was told of that decision, which is what an appeal or a
        regulator asks. It sits in the report's partition, so it goes where the report goes.

Access patterns, per decision
- The case (RELEASE and RESTRICT only): one GetItem, strongly consistent, of its objects and its latest decisionId;
  then one SendMessageBatch per 10 objects (at most 25 objects: 3) onto the quarantine queue (shared.adapters.queues).
- The case's reports: Query CaseReportsIndex (HASH caseId, RANGE receivedAt, KEYS_ONLY; only report items carry
  both), PAGE_SIZE keys a page. Eventually consistent, as every GSI read is: a report counted into the case in the
  moment before the decision (its index entry not propagated yet, usually well under a second) is not listed, and
  nothing here comes back for it.
- Completing: one conditional UpdateItem per report, PARALLEL_WRITES at a time (the client's connection pool):
  `caseId = :case AND (attribute_not_exists(decisionId) OR decisionId < :d)`, ReturnValuesOnConditionCheckFailure
  ALL_OLD, which tells a report this decision completed before (decisionId = :d) from one a newer decision holds,
  or one that is gone, in the same round trip. Not TransactWriteItems: the reports of a case have no reason to
  change together, a transaction costs two write units an item instead of one, and one failed condition (one report
  a newer decision holds, or every report of a redelivered decision) cancels all of its 100 and costs a second
  round without them; a concurrent write to any of them (the dispatcher counting a new report in) cancels it too.
  Independent conditional writes make a redelivery harmless item by item. With ten in flight, 10,000 reports take
  seconds at DynamoDB's usual single-digit-millisecond latency (an estimate: moto, in process and CPU-bound, took
  three minutes for the whole 10,000-report case, emails included), well inside the function's 300 s; one at a
  time would take a minute or more. Each write costs the report item's size in write units (one for a typical
  report), and no index write: no index key changes.
- Contacts: BatchGetItem (strongly consistent, 100 keys a call, UnprocessedKeys retried with backoff) of the
  CONTACT items of the reports this decision completed.
- Markers: per email one PutItem with attribute_not_exists (the claim, SENDING), then one UpdateItem recording what
  SES said; a send SES may take later deletes its SENDING marker instead (DeleteItem, only while SENDING).
- Track records: the report's UpdateItem returns the report as it was (ReturnValues ALL_OLD, no read charged): a
  signed report without a decision before counts once in its reporter's record (PK "REPORTER#<reporter key>", SK
  "RECORD": ADD decided, actioned, noAction), one UpdateItem per reporter a page, right after the page's reports. A
  death between the two loses that page's counts (its redelivery finds the reports completed): never counted twice.
- Contact retention: once a page's emails are settled, one UpdateItem per contact item read (`SET expiresAt`,
  condition attribute_exists(PK): never a stub for a contact the TTL took meanwhile), PARALLEL_WRITES at a time. Not
  BatchWriteItem: it only puts whole items, which would need each contact read in full and could write back one the
  TTL deleted in between. The same value on every delivery, so a redelivery rewrites it harmlessly.

Counted under moto (tests/integration/test_completion.py, botocore's before-call hook on the product's DynamoDB,
SES and SQS clients: a 1-report case, and a 250-report one whose count per report, per contact, per email and per
object the 10,000 line scales up; `make bench` runs a 10,000-report case), a RESTRICT decision on a case without
objects, every reporter having left an email address:
    1 report        GetItem 1, Query 1, UpdateItem 1, BatchGetItem 1, PutItem 1, SendEmail 1, UpdateItem 1 + 1:
                    8 requests (it was 6 before the case read and the contact's retention)
    10,000 reports  GetItem 1, Query 10, UpdateItem 10,000 + 10,000 + 10,000, BatchGetItem 100, PutItem 10,000,
                    SendEmail 10,000: 50,111 requests (by the same count, 10,111 when nobody left contact details)
The three UpdateItems per report are its completion, its marker's record and its contact's retention: the contact's
costs one write unit per reporter with contact details, whether or not they gave an email address. A decision with
action NONE makes no GetItem; a case with objects adds one SendMessageBatch per 10 of them. (DynamoDB may answer a
full last page with a LastEvaluatedKey, and so one more, empty, Query.) A redelivery makes the same requests less the
sends and the marker records: each report's condition and each claim fails, and the retention is written again. What
bounds a big case is SES's sending rate, not DynamoDB: the domain stops before the timeout and the next delivery goes
on.

Every failure is StoreUnavailable. This module never logs, and never returns a report's contents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from shared.adapters.cases_table import case_key, reporter_record_key
from shared.adapters.reports_table import CASE_REPORTS_INDEX, CONTACT_SK, REPORT_SK, TableAdapter, decode, report_pk
from shared.domain.cases import ANONYMOUS_PRINCIPAL, reporter_key
from shared.domain.errors import StoreUnavailable
from shared.domain.outcomes import (
    CaseObjects,
    Completed,
    CompletedPage,
    Completion,
    DecisionItem,
    Delivery,
    NoticeState,
    RecordIncrement,
    Sent,
    decision_of,
)
from shared.domain.reports import ReporterContact, ReportStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

OUTCOME_SK_PREFIX = "OUTCOME#"
PAGE_SIZE = 1_000  # keys per index page: a page's writes fit well inside the time margin the domain keeps
PARALLEL_WRITES = 10  # botocore's default connection pool: more threads would only queue for a connection


def read_decisions(records: Iterable[Mapping[str, Any]]) -> list[DecisionItem]:
    """Lambda's DynamoDB stream records as the completion worker needs them, in batch order."""
    items = []
    for record in records:
        dynamodb = record.get("dynamodb") or {}
        sequence = str(dynamodb.get("SequenceNumber") or record.get("eventID") or "")
        image = dynamodb.get("NewImage") or {}
        # The event source's filter lets only decision INSERTs through; this holds without it (sam local invoke).
        if record.get("eventName") != "INSERT" or (image.get("entity") or {}).get("S") != "decision":
            items.append(DecisionItem(sequence))
            continue
        try:
            decision = decision_of({name: decode(value) for name, value in image.items()})
        except (KeyError, TypeError, ValueError) as exc:
            items.append(DecisionItem(sequence, problem=f"unreadable decision image: {type(exc).__name__}"))
            continue
        items.append(DecisionItem(sequence, decision=decision))
    return items


def outcome_key(key_hex: str, decision_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": {"S": report_pk(key_hex)}, "SK": {"S": OUTCOME_SK_PREFIX + decision_id}}


class CompletionTable(TableAdapter):
    """shared.domain.outcomes.CompletionStore on the reports table."""

    def case_reports(self, case_id: str) -> Iterator[list[str]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": CASE_REPORTS_INDEX,
            "KeyConditionExpression": "#case = :case",
            "ExpressionAttributeNames": {"#case": "caseId"},
            "ExpressionAttributeValues": {":case": {"S": case_id}},
            "Limit": PAGE_SIZE,
        }
        while True:
            answer = self._call(self.client.query, **request)
            keys = [
                item["PK"]["S"].removeprefix("REPORT#")
                for item in answer.get("Items", [])
                if item.get("SK", {}).get("S") == REPORT_SK  # only reports carry both keys; this keeps it so
            ]
            if keys:
                yield keys
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def complete(self, keys: Sequence[str], completion: Completion) -> CompletedPage:
        if len(keys) <= 1:
            answers = [self._complete(key, completion) for key in keys]
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(keys))) as pool:
                # map raises the first failure, after every write has run: those that succeeded stay done.
                answers = list(pool.map(lambda key: self._complete(key, completion), keys))
        return CompletedPage(
            states={key: state for key, (state, _) in zip(keys, answers, strict=True)},
            first_decisions={key: first for key, (_, first) in zip(keys, answers, strict=True) if first is not None},
        )

    def _complete(self, key_hex: str, completion: Completion) -> tuple[Completed, str | None]:
        """What became of the report, and its signed reporter's id if this was its first decision."""
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": report_pk(key_hex)}, "SK": {"S": REPORT_SK}},
                UpdateExpression="SET #status = :completed, #reason = :reason, #decision = :decision, #at = :at",
                # caseId: never a stub for a deleted report, never another case's report (the index may be stale).
                ConditionExpression="#case = :case AND (attribute_not_exists(#decision) OR #decision < :decision)",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#reason": "reasonCode",
                    "#decision": "decisionId",
                    "#at": "completedAt",
                    "#case": "caseId",
                },
                ExpressionAttributeValues={
                    ":completed": {"S": ReportStatus.COMPLETED.value},
                    ":reason": {"S": completion.reason_code.value},
                    ":decision": {"S": completion.decision_id},
                    ":at": {"S": completion.completed_at},
                    ":case": {"S": completion.case_id},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                # The report as it was (no read is charged for it): its principal, and whether it had a decision.
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable(_error_code(exc)) from exc
            held = cast(dict[str, Any], exc.response).get("Item") or {}
            if held.get("caseId", {}).get("S") != completion.case_id:
                return Completed.GONE, None
            if held.get("decisionId", {}).get("S") == completion.decision_id:
                return Completed.BEFORE, None
            return Completed.SUPERSEDED, None
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        before = answer.get("Attributes") or {}
        principal = before.get("principal", {}).get("S", ANONYMOUS_PRINCIPAL)
        first = "decisionId" not in before and principal != ANONYMOUS_PRINCIPAL
        return Completed.NOW, reporter_key(principal) if first else None

    def add_to_track_records(self, increments: Mapping[str, RecordIncrement]) -> None:
        def add(reporter_id: str, increment: RecordIncrement) -> None:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=reporter_record_key(reporter_id),
                UpdateExpression="SET #entity = :reporter ADD #decided :d, #actioned :a, #none :n",
                ExpressionAttributeNames={
                    "#entity": "entity",
                    "#decided": "decided",
                    "#actioned": "actioned",
                    "#none": "noAction",
                },
                ExpressionAttributeValues={
                    ":reporter": {"S": "reporter"},
                    ":d": {"N": str(increment.decided)},
                    ":a": {"N": str(increment.actioned)},
                    ":n": {"N": str(increment.no_action)},
                },
            )

        if len(increments) <= 1:
            for reporter_id, increment in increments.items():
                add(reporter_id, increment)
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(increments))) as pool:
            list(pool.map(lambda pair: add(*pair), increments.items()))

    def contacts(self, keys: Sequence[str]) -> list[ReporterContact]:
        items = self.consistent_items([{"PK": {"S": report_pk(key)}, "SK": {"S": CONTACT_SK}} for key in keys])
        return [
            ReporterContact.model_validate(
                {
                    "key_hex": item["PK"]["S"].removeprefix("REPORT#"),
                    **{name: decode(value) for name, value in item.items() if name not in ("PK", "SK", "entity")},
                }
            )
            for item in items
        ]

    def retain_contacts(self, keys: Sequence[str], expires_at: int) -> None:
        if len(keys) <= 1:
            for key in keys:
                self._retain(key, expires_at)
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(keys))) as pool:
            list(pool.map(lambda key: self._retain(key, expires_at), keys))  # the first failure, after all have run

    def _retain(self, key_hex: str, expires_at: int) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": report_pk(key_hex)}, "SK": {"S": CONTACT_SK}},
                UpdateExpression="SET #expires = :at",
                ConditionExpression="attribute_exists(PK)",  # never a stub contact for one the TTL took meanwhile
                ExpressionAttributeNames={"#expires": "expiresAt"},
                ExpressionAttributeValues={":at": {"N": str(expires_at)}},
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def case_objects(self, case_id: str) -> CaseObjects:
        answer = self._call(
            self.client.get_item,
            TableName=self.table_name,
            Key=case_key(case_id),
            ConsistentRead=True,  # the decision's own write is a moment old
            ProjectionExpression="#objects, #decision",
            ExpressionAttributeNames={"#objects": "objects", "#decision": "decisionId"},
        )
        item = answer.get("Item") or {}
        return CaseObjects(
            objects=frozenset(item.get("objects", {}).get("SS", [])),
            decision_id=item.get("decisionId", {}).get("S"),
        )

    def claim_notice(self, key_hex: str, report_id: str, completion: Completion, at: str) -> NoticeState | None:
        item: dict[str, AttributeValueTypeDef] = {
            **outcome_key(key_hex, completion.decision_id),
            "entity": {"S": "outcome"},
            "reportId": {"S": report_id},
            "caseId": {"S": completion.case_id},
            "decisionId": {"S": completion.decision_id},
            "reasonCode": {"S": completion.reason_code.value},
            "notice": {"S": NoticeState.SENDING.value},
            "claimedAt": {"S": at},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable(_error_code(exc)) from exc
            held = cast(dict[str, Any], exc.response).get("Item") or {}
            # Without the old item (an endpoint that ignores ALL_OLD) the marker exists, state unknown: in doubt.
            return NoticeState(held.get("notice", {}).get("S", NoticeState.SENDING.value))
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return None

    def record_notice(self, key_hex: str, decision_id: str, delivery: Delivery, at: str) -> None:
        if isinstance(delivery, Sent):
            state, detail_name, detail = NoticeState.SENT, "sesMessageId", delivery.message_id
        else:
            state, detail_name, detail = NoticeState.NOT_SENT, "notSentReason", delivery.reason
        self._call(
            self.client.update_item,
            TableName=self.table_name,
            Key=outcome_key(key_hex, decision_id),
            UpdateExpression="SET #notice = :state, #at = :at, #detail = :detail",
            ConditionExpression="attribute_exists(PK)",  # never a marker without its claim
            ExpressionAttributeNames={"#notice": "notice", "#at": "settledAt", "#detail": detail_name},
            ExpressionAttributeValues={":state": {"S": state.value}, ":at": {"S": at}, ":detail": {"S": detail}},
        )

    def release_notice(self, key_hex: str, decision_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=outcome_key(key_hex, decision_id),
                ConditionExpression="#notice = :sending",  # a settled marker is the record of a send: kept
                ExpressionAttributeNames={"#notice": "notice"},
                ExpressionAttributeValues={":sending": {"S": NoticeState.SENDING.value}},
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    @staticmethod
    def _call(operation: Any, **request: Any) -> Any:
        try:
            return operation(**request)
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))
