"""The analysts' reads and writes in the reports table: the queue, a case's page, decisions, views and the audit log.

Items this module adds (shared/adapters/reports_table.py documents the rest of the table)
    Decision   PK = "CASE#<caseId>", SK = "DECISION#<decisionId>" (a ULID: text order is time order), entity
               "decision", caseId, decisionId, analyst, decidedAt, reasonCode, action, statement?, note?, family,
               category, statementOfReasons? (JSON: the DSA Art. 17 document, for RESTRICT). Never updated. Its INSERT
               on the stream starts the completion worker (functions/completion), which completes the case's reports.
    Audit      PK = "AUDIT#ACTOR#<analyst>", and again "AUDIT#CASE#<caseId>" and/or "AUDIT#EVIDENCE#<evidenceId>",
               SK = "<at>#<eventId>", entity "audit", audience ("child_safety" | "general": whose log lists it):
               every human action once per subject, so each question the log answers ("what happened to this case",
               "what did this person do", "who looked at this file") is one Query, newest first. Written with
               `attribute_not_exists` in the same transaction as the action where there is one; never updated or
               deleted: append-only.
    Case (fields this module sets): caseStatus (OPEN | DECIDED), queue ("<status>#<audience>") and queueKey
               ("<severity>#<dueAt>#<caseId>") for QueueIndex, dueAt, claimedBy?, claimUntil?, decisionId?,
               decisionReason?, decisionAction?, decidedAt?.

Access patterns and their cost (`make bench` counts them)
- Queue page: one Query of QueueIndex (everything a row shows is projected); two at the OPEN/DECIDED boundary of a
  status=ALL listing.
- Case page: one Query of the case's partition (the case and its decisions), one Query of CaseReportsIndex and one
  BatchGetItem of those reports (at most MAX_CASE_REPORTS), one BatchGetItem of their signed reporters' track records
  (DSA Art. 23), one Query per payload's custody chain (at most MAX_EVIDENCE_LISTED).
- Decision: one TransactWriteItems (the case's update, conditional on the claim; the decision; its two audit
  entries), whatever the case's size. What it sets in motion runs from the stream.
- Evidence view: one Query of the payload's chain (which reports sent it: who may look), then one
  TransactWriteItems of its `viewed` custody event and its audit entries; the presigned URL is made only after both.
This module never logs item contents.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from shared.adapters.cases_table import (
    CASE_SK,
    FILING_SK,
    CaseTable,
    case_key,
    case_pk,
    reporter_record_key,
    track_record_from_item,
)
from shared.adapters.reports_table import CONTACT_SK, CUSTODY_PK_PREFIX, REPORT_SK, decode, report_pk
from shared.domain.casework import (
    AuditEvent,
    CaseClaimed,
    CaseStatus,
    Decision,
    NoSuchCase,
    NoSuchEvidence,
    TrackRecord,
    queue_partition,
)
from shared.domain.errors import DomainError, StoreUnavailable
from shared.domain.reports import utc_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

QUEUE_INDEX = "QueueIndex"
DECISION_SK_PREFIX = "DECISION#"
MAX_PAGE = 100
MAX_CASE_REPORTS = 100  # listed on the case page, oldest first; the page says how many there are in all
MAX_EVIDENCE_LISTED = 25
QUEUE_FIELDS = (
    "caseId",
    "severity",
    "category",
    "types",
    "caseStatus",
    "reportCount",
    "reporterCount",
    "firstSeen",
    "lastSeen",
    "dueAt",
    "claimedBy",
    "claimUntil",  # so a queue row can tell a lapsed claim from one that stands
)


class BadPageToken(DomainError):
    status = 400
    code = "rule.next_token.malformed"


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


def _plain(item: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The named attributes as JSON values (sets as sorted lists, numbers as ints)."""
    values: dict[str, Any] = {}
    for name in names:
        if name in item:
            value = decode(item[name])
            values[name] = sorted(value) if isinstance(value, set | frozenset) else value
    return values


def _token(key: Mapping[str, Any], status: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key, "s": status}, separators=(",", ":")).encode()).decode()


def _untoken(token: str, partitions: Sequence[str]) -> tuple[dict[str, Any], str]:
    """A page token back into the index key to start from; refused unless it points into one of `partitions` (a
    token is the caller's to send back, so it must not open another audience's queue)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        key, status = data["k"], data["s"]
        if (
            not isinstance(key, dict)
            or key.get("queue", {}).get("S") not in partitions
            or not str(key["queue"]["S"]).startswith(f"{status}#")
            or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
            or set(key) != {"PK", "SK", "queue", "queueKey"}
        ):
            raise ValueError("foreign token")
        return key, status
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise BadPageToken("nextToken is not one this queue gave out") from exc


@dataclass(frozen=True)
class QueuePage:
    cases: list[dict[str, Any]]
    next_token: str | None


@dataclass(frozen=True)
class CaseRecords:
    """A case's page, as stored: the case, its decisions (newest first), its first reports, how many it has."""

    case: dict[str, Any]
    decisions: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    filing: dict[str, Any] | None = None  # the CyberTipline filing (SK "CYBERTIP"), read with the case's partition


class CaseworkTable(CaseTable):
    """The analysts' view of the reports table. Every AWS failure is StoreUnavailable (503, try again)."""

    # --- the queue -----------------------------------------------------------------------------------------------

    def queue_page(
        self,
        statuses: Sequence[str],
        audience: str,
        *,
        severity: str | None,
        category: str | None,
        limit: int,
        next_token: str | None,
    ) -> QueuePage:
        """One page of a queue: `statuses` in order (OPEN, then DECIDED for ALL), P0 first, then earliest due."""
        partitions = [f"{status}#{audience}" for status in statuses]
        start: dict[str, Any] | None = None
        position = 0
        if next_token:
            start, status = _untoken(next_token, partitions)
            position = list(statuses).index(status)
        cases: list[dict[str, Any]] = []
        while position < len(statuses) and len(cases) < limit:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": QUEUE_INDEX,
                "KeyConditionExpression": "#queue = :queue"
                + (" AND begins_with(#queueKey, :severity)" if severity else ""),
                "ExpressionAttributeNames": {"#queue": "queue"} | ({"#queueKey": "queueKey"} if severity else {}),
                "ExpressionAttributeValues": {":queue": {"S": partitions[position]}}
                | ({":severity": {"S": f"{severity}#"}} if severity else {}),
                "Limit": limit - len(cases),
            }
            if category:
                # A filter, not a key: a page may come back short, and its token still says where to go on.
                request["FilterExpression"] = "#category = :category"
                request["ExpressionAttributeNames"]["#category"] = "category"
                request["ExpressionAttributeValues"][":category"] = {"S": category}
            if start:
                request["ExclusiveStartKey"] = start
            try:
                answer = self.client.query(**request)
            except ClientError as exc:
                raise StoreUnavailable(_code(exc)) from exc
            cases += [_plain(item, QUEUE_FIELDS) for item in answer.get("Items", [])]
            last = answer.get("LastEvaluatedKey")
            if last:
                return QueuePage(cases, _token(last, statuses[position]))
            position, start = position + 1, None
        return QueuePage(cases, None)

    # --- a case's page -------------------------------------------------------------------------------------------

    def case_records(self, case_id: str) -> CaseRecords:
        try:
            answer = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": case_pk(case_id)}},
                ConsistentRead=True,
                ScanIndexForward=False,  # DECISION# sorts after CASE: newest decision first, the case last
            )
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        items = answer.get("Items", [])
        case = next((item for item in items if item["SK"]["S"] == CASE_SK), None)
        if case is None:
            raise NoSuchCase(f"no case {case_id}")
        decisions = [item for item in items if item["SK"]["S"].startswith(DECISION_SK_PREFIX)]
        reports = sorted(self.first_case_reports(case_id, MAX_CASE_REPORTS), key=lambda item: item["receivedAt"]["S"])
        filing = next((item for item in items if item["SK"]["S"] == FILING_SK), None)
        return CaseRecords(case=case, decisions=decisions, reports=reports, filing=filing)

    def custody_chain(self, evidence_key: str) -> list[dict[str, Any]]:
        """Every custody event of one stored payload (or copy), oldest first."""
        try:
            answer = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": CUSTODY_PK_PREFIX + evidence_key}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        return sorted(answer.get("Items", []), key=lambda item: item["at"]["S"])

    def contacts(self, report_pks: Sequence[str]) -> list[dict[str, Any]]:
        """The contact items of these reports (those that have one and whose TTL has not removed it)."""
        return self.consistent_items([{"PK": {"S": pk}, "SK": {"S": CONTACT_SK}} for pk in report_pks])

    def track_records(self, reporter_ids: Sequence[str]) -> dict[str, TrackRecord]:
        """Each reporter's record (an empty one for a reporter nothing was decided for yet): one BatchGetItem."""
        found = {
            record.reporter_id: record
            for record in map(
                track_record_from_item,
                self.consistent_items([reporter_record_key(r) for r in sorted(set(reporter_ids))]),
            )
        }
        return {reporter_id: found.get(reporter_id, TrackRecord(reporter_id)) for reporter_id in reporter_ids}

    def suspend_reporter(self, reporter_id: str, reason: str, audit: AuditEvent) -> None:
        """Suspend a flagged reporter (the caller checked the flag), with its audit entry, in one transaction."""
        update: Any = {
            "Update": {
                "TableName": self.table_name,
                "Key": reporter_record_key(reporter_id),
                "UpdateExpression": "SET suspended = :yes, suspendedBy = :by, suspendedAt = :at, "
                "suspensionReason = :reason, entity = :entity",
                "ExpressionAttributeValues": {
                    ":yes": {"BOOL": True},
                    ":by": {"S": audit.actor},
                    ":at": {"S": utc_timestamp(audit.at)},
                    ":reason": {"S": reason},
                    ":entity": {"S": "reporter"},
                },
            }
        }
        try:
            self.client.transact_write_items(TransactItems=cast(Any, [update, *self._audit_puts(audit)]))
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc

    def reports(self, report_keys: Sequence[str]) -> list[dict[str, Any]]:
        return self.consistent_items([{"PK": {"S": report_pk(key)}, "SK": {"S": REPORT_SK}} for key in report_keys])

    # --- decisions -----------------------------------------------------------------------------------------------

    def record_decision(
        self,
        decision: Decision,
        family: str,
        category: str,
        statement_of_reasons: Mapping[str, object] | None,
        audit: AuditEvent,
    ) -> None:
        """The decision, in one transaction: the case DECIDED (if the analyst may act on its claim), the decision item
        and its audit entries. Raises NoSuchCase or CaseClaimed; nothing is written unless everything is."""
        now = utc_timestamp(decision.decided_at)
        item: dict[str, AttributeValueTypeDef] = {
            "PK": {"S": case_pk(decision.case_id)},
            "SK": {"S": DECISION_SK_PREFIX + decision.decision_id},
            "entity": {"S": "decision"},
            "caseId": {"S": decision.case_id},
            "decisionId": {"S": decision.decision_id},
            "analyst": {"S": decision.analyst},
            "decidedAt": {"S": now},
            "reasonCode": {"S": str(decision.reason_code)},
            "action": {"S": str(decision.action)},
            "family": {"S": family},
            "category": {"S": category},
        }
        for name, value in (("statement", decision.statement), ("note", decision.note)):
            if value:
                item[name] = {"S": value}
        if statement_of_reasons is not None:
            item["statementOfReasons"] = {"S": json.dumps(statement_of_reasons, separators=(",", ":"))}
        case_update: Any = {
            "Update": {
                "TableName": self.table_name,
                "Key": case_key(decision.case_id),
                "UpdateExpression": "SET #status = :decided, #queue = :queue, #decisionId = :decision, "
                "#reason = :reason, #action = :action, #decidedAt = :now",
                "ConditionExpression": "attribute_exists(PK) AND "
                "(attribute_not_exists(#by) OR #by = :me OR #until <= :now)",
                "ExpressionAttributeNames": {
                    "#status": "caseStatus",
                    "#queue": "queue",
                    "#decisionId": "decisionId",
                    "#reason": "decisionReason",
                    "#action": "decisionAction",
                    "#decidedAt": "decidedAt",
                    "#by": "claimedBy",
                    "#until": "claimUntil",
                },
                "ExpressionAttributeValues": {
                    ":decided": {"S": str(CaseStatus.DECIDED)},
                    ":queue": {"S": queue_partition(CaseStatus.DECIDED, family)},
                    ":decision": {"S": decision.decision_id},
                    ":reason": {"S": str(decision.reason_code)},
                    ":action": {"S": str(decision.action)},
                    ":now": {"S": now},
                    ":me": {"S": decision.analyst},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        actions = [
            case_update,
            {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            *self._audit_puts(audit),
        ]
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise StoreUnavailable(_code(exc)) from exc
            reasons = cast(dict[str, Any], exc.response).get("CancellationReasons") or []
            if not reasons or reasons[0].get("Code") != "ConditionalCheckFailed":
                raise StoreUnavailable("TransactionCanceled") from exc
            held = reasons[0].get("Item") or self.case_item(decision.case_id)
            if not held:
                raise NoSuchCase(f"no case {decision.case_id}") from exc
            raise CaseClaimed(held["claimedBy"]["S"], datetime.fromisoformat(held["claimUntil"]["S"])) from exc

    def case_item(self, case_id: str) -> dict[str, Any] | None:
        try:
            answer = self.client.get_item(TableName=self.table_name, Key=case_key(case_id), ConsistentRead=True)
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        return answer.get("Item")

    # --- evidence ------------------------------------------------------------------------------------------------

    def record_custody_and_audit(self, custody_event: Mapping[str, AttributeValueTypeDef], audit: AuditEvent) -> None:
        """A human's custody event (a view, a destruction) and its audit entries, together or not at all."""
        actions: list[Any] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": dict(custody_event),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            *self._audit_puts(audit),
        ]
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc

    # --- the audit log -------------------------------------------------------------------------------------------

    def record_audit(self, audit: AuditEvent) -> None:
        try:
            self.client.transact_write_items(TransactItems=cast(Any, self._audit_puts(audit)))
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc

    def audit_log(self, subject: str, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One subject's entries ("CASE#<id>", "ACTOR#<name>", "EVIDENCE#<id>"), newest first."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"AUDIT#{subject}"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            try:
                sort = base64.urlsafe_b64decode(next_token.encode()).decode()
            except (ValueError, binascii.Error) as exc:
                raise BadPageToken("nextToken is not one this log gave out") from exc
            request["ExclusiveStartKey"] = {"PK": {"S": f"AUDIT#{subject}"}, "SK": {"S": sort}}
        try:
            answer = self.client.query(**request)
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        entries = [
            _plain(item, ("eventId", "at", "actor", "action", "caseId", "evidenceId", "audience")) | _detail(item)
            for item in answer.get("Items", [])
        ]
        last = answer.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(last["SK"]["S"].encode()).decode() if last else None
        return entries, token

    def _audit_puts(self, audit: AuditEvent) -> list[dict[str, Any]]:
        item: dict[str, AttributeValueTypeDef] = {
            "SK": {"S": f"{utc_timestamp(audit.at)}#{audit.event_id}"},
            "entity": {"S": "audit"},
            "eventId": {"S": audit.event_id},
            "at": {"S": utc_timestamp(audit.at)},
            "actor": {"S": audit.actor},
            "action": {"S": str(audit.action)},
        }
        if audit.case_id:
            item["caseId"] = {"S": audit.case_id}
        if audit.evidence_id:
            item["evidenceId"] = {"S": audit.evidence_id}
        if audit.detail:
            item["detail"] = {"M": {name: {"S": value} for name, value in audit.detail.items()}}
        item["audience"] = {"S": audit.audience}
        subjects = [f"ACTOR#{audit.actor}"]
        subjects += [f"CASE#{audit.case_id}"] if audit.case_id else []
        subjects += [f"EVIDENCE#{audit.evidence_id}"] if audit.evidence_id else []
        return [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {"PK": {"S": f"AUDIT#{subject}"}, **item},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for subject in subjects
        ]


def _detail(item: Mapping[str, Any]) -> dict[str, Any]:
    detail = item.get("detail", {}).get("M")
    return {"detail": {name: value["S"] for name, value in detail.items()}} if detail else {}


def payload_chain_or_404(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A payload's chain starts with its `received` events; without one, there is no such evidence."""
    if not any(item.get("step", {}).get("S") == "received" for item in chain):
        raise NoSuchEvidence("no such evidence")
    return chain
