"""Cases in the reports table: shared.domain.cases decides what a case write says; this is where it is committed.

Items: the case (`CASE#<caseId>` / `CASE`), and per mark transaction one increment item (`INCREMENT#<token>` /
`INCREMENT`, entity "increment") holding that transaction's CaseAdditions as JSON until they are added to their
cases. A report counted by an increment carries its token (`increment`), and its mark removes `queuedShard`, taking
it out of the sweeper's QueuedIndex. No case item is ever written in a
transaction: every case write is one UpdateItem (see shared.domain.cases for why that stays exact).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError

from shared.adapters.reports_table import REPORT_SK, TableAdapter, contact_item, report_pk
from shared.domain.cases import (
    MAX_TRANSACTION_ACTIONS,
    CaseAddition,
    CaseIncrement,
    CaseSettlement,
    CaseState,
    MarkOutcome,
)
from shared.domain.casework import (
    DEFAULT_SLA,
    CaseClaimed,
    CaseStatus,
    Claim,
    NoSuchCase,
    NotClaimHolder,
    TrackRecord,
    due_at,
    queue_partition,
    queue_sort_key,
)
from shared.domain.errors import StoreUnavailable
from shared.domain.messages import EscalationRequest
from shared.domain.policy import Severity
from shared.domain.reports import (
    CONTACT_RETENTION_DAYS,
    ReporterContact,
    ReportRecord,
    ReportStatus,
    utc_timestamp,
)
from shared.domain.sweep import Listed, WaitingEscalation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------------------
# Cases: shared/domain/cases.py decides what a case write says; this is where it is committed.
# ---------------------------------------------------------------------------------------------------------------

CASE_SK = "CASE"
AWAITING_EVIDENCE_INDEX = "AwaitingEvidenceIndex"  # sparse: only cases whose draft waits for files carry its keys
EVIDENCE_WAIT = "WAITING"  # its one partition: few cases ever wait at once, and each is written once as it starts
INCREMENT_SK = "INCREMENT"
MAX_BATCH_GET_KEYS = 100  # and for one BatchGetItem
MAX_BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
_UNPROCESSED_ATTEMPTS = 5

_CASE_STRINGS = {"case_id": "caseId", "resource": "resource", "family": "family", "category": "category"}
_CASE_OPTIONAL_STRINGS = {
    "first_seen": "firstSeen",
    "last_seen": "lastSeen",
    "first_incident": "firstIncident",
    "draft_sha256": "draftSha256",
    "awaiting_evidence_since": "awaitingEvidenceSince",
    "decision_id": "decisionId",
    "decision_reason": "decisionReason",
    "decision_action": "decisionAction",
}
_CASE_SETS = {
    "reporters": "reporters",
    "types": "types",
    "urls": "urls",
    "objects": "objects",
    "pending_fanout": "pendingFanout",
    "increments": "increments",
}


def case_pk(case_id: str) -> str:
    return f"CASE#{case_id}"


def case_key(case_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": {"S": case_pk(case_id)}, "SK": {"S": CASE_SK}}


REPORTER_SK = "RECORD"
# The case's CyberTipline filing sits beside it (shared/adapters/filings.py writes it; the case page reads it).
FILING_SK = "CYBERTIP"
REPORTER_PK_PREFIX = "REPORTER#"


def reporter_record_key(reporter_id: str) -> dict[str, AttributeValueTypeDef]:
    """A reporter's track record (DSA Art. 23): PK "REPORTER#<reporter key>", SK "RECORD", entity "reporter",
    decided, actioned, noAction (N, added by the completion worker), suspended (BOOL), suspendedBy, suspendedAt,
    suspensionReason (set by an analyst through the casework API). No principal, name or contact: the key is a hash."""
    return {"PK": {"S": f"{REPORTER_PK_PREFIX}{reporter_id}"}, "SK": {"S": REPORTER_SK}}


def track_record_from_item(item: Mapping[str, Any]) -> TrackRecord:
    return TrackRecord(
        reporter_id=item["PK"]["S"].removeprefix(REPORTER_PK_PREFIX),
        decided=int(item.get("decided", {}).get("N", 0)),
        actioned=int(item.get("actioned", {}).get("N", 0)),
        no_action=int(item.get("noAction", {}).get("N", 0)),
        suspended=bool(item.get("suspended", {}).get("BOOL", False)),
    )


def increment_key(token: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": {"S": f"INCREMENT#{token}"}, "SK": {"S": INCREMENT_SK}}


def case_from_item(item: Mapping[str, Any]) -> CaseState:
    values: dict[str, Any] = {attribute: item[name]["S"] for attribute, name in _CASE_STRINGS.items()}
    values |= {attribute: item[name]["S"] for attribute, name in _CASE_OPTIONAL_STRINGS.items() if name in item}
    values |= {attribute: frozenset(item[name]["SS"]) for attribute, name in _CASE_SETS.items() if name in item}
    return CaseState(
        **values,
        version=int(item["version"]["N"]),
        report_count=int(item["reportCount"]["N"]) if "reportCount" in item else 0,
        severity=Severity(item["severity"]["S"]) if "severity" in item else None,
        notified_severity=Severity(item["notifiedSeverity"]["S"]) if "notifiedSeverity" in item else None,
        escalate=bool(item.get("escalate", {}).get("BOOL", False)),
        stored_reporter_count=int(item["reporterCount"]["N"]) if "reporterCount" in item else None,
        status=item.get("caseStatus", {}).get("S", str(CaseStatus.OPEN)),
    )


def _addition_json(addition: CaseAddition) -> dict[str, Any]:
    seed = addition.seed
    return {
        "caseId": seed.case_id,
        "resource": seed.resource,
        "family": seed.family,
        "category": seed.category,
        "newCase": addition.new_case,
        "reports": addition.reports,
        **{name: sorted(getattr(addition, name)) for name in ("reporters", "types", "urls", "objects", "pending")},
        "escalate": addition.escalate,
        "severity": str(addition.severity) if addition.severity else None,
        "firstSeen": addition.first_seen,
        "lastSeen": addition.last_seen,
        "firstIncident": addition.first_incident,
    }


def _addition_from_json(data: Mapping[str, Any]) -> CaseAddition:
    return CaseAddition(
        seed=CaseState(
            case_id=data["caseId"], resource=data["resource"], family=data["family"], category=data["category"]
        ),
        new_case=bool(data["newCase"]),
        reports=int(data["reports"]),
        **{name: frozenset(data[name]) for name in ("reporters", "types", "urls", "objects", "pending")},
        escalate=bool(data["escalate"]),
        severity=Severity(data["severity"]) if data["severity"] else None,
        first_seen=data["firstSeen"],
        last_seen=data["lastSeen"],
        first_incident=data["firstIncident"],
    )


class _Expression:
    """Names and values for one update expression; DynamoDB refuses unused ones, so only what is used is added."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValueTypeDef] = {}

    def name(self, attribute: str) -> str:
        self.names[f"#{attribute}"] = attribute
        return f"#{attribute}"

    def value(self, label: str, value: AttributeValueTypeDef) -> str:
        self.values[f":{label}"] = value
        return f":{label}"

    def assign(self, attribute: str, value: AttributeValueTypeDef) -> str:
        return f"{self.name(attribute)} = {self.value(attribute, value)}"

    def parameters(self) -> dict[str, Any]:
        return {
            "ExpressionAttributeNames": self.names,
            **({"ExpressionAttributeValues": self.values} if self.values else {}),
        }


def _parsed(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CaseTable(TableAdapter):
    """Cases and the report fields the pipeline sets, in the reports table. Every failure is StoreUnavailable."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        contact_retention_days: int = CONTACT_RETENTION_DAYS,
        sla: Mapping[Severity, timedelta] = DEFAULT_SLA,
    ) -> None:
        super().__init__(table_name, client)
        self.contact_retention_days = contact_retention_days
        self.sla = sla

    def _queue_position(self, case_id: str, severity: Severity, first_seen: str) -> tuple[str, str]:
        """dueAt and queueKey for the analysts' queue (QueueIndex), from what the case's writes keep exact."""
        due = due_at(severity, _parsed(first_seen), self.sla)
        return utc_timestamp(due), queue_sort_key(severity, due, case_id)

    def load(
        self, seeds: Sequence[CaseState], reporters: Iterable[str] = ()
    ) -> tuple[dict[str, CaseState], frozenset[str]]:
        """The stored state of each case (strongly consistent), or its seed when it does not exist yet; and which of
        the reporters an analyst suspended (DSA Art. 23). Their track records ride in the cases' BatchGetItem (100
        keys a request), so a batch of a few cases and partners still costs one request; no record: not suspended."""
        found: dict[str, CaseState] = {}
        suspended: set[str] = set()
        ids = list(dict.fromkeys(seed.case_id for seed in seeds))
        keys = [case_key(case_id) for case_id in ids] + [reporter_record_key(r) for r in sorted(set(reporters))]
        try:
            for chunk in _chunks(keys, MAX_BATCH_GET_KEYS):
                request: Any = {self.table_name: {"Keys": chunk, "ConsistentRead": True}}
                for attempt in range(_UNPROCESSED_ATTEMPTS):
                    answer = self.client.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self.table_name, []):
                        if item["PK"]["S"].startswith(REPORTER_PK_PREFIX):
                            record = track_record_from_item(item)
                            if record.suspended:
                                suspended.add(record.reporter_id)
                            continue
                        state = case_from_item(item)
                        found[state.case_id] = state
                    request = answer.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(0.02 * 2**attempt)  # DynamoDB asks for backoff before retrying unprocessed keys
                if request:
                    raise StoreUnavailable("UnprocessedKeys")
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return {seed.case_id: found.get(seed.case_id, seed) for seed in seeds}, frozenset(suspended)

    def get(self, case_id: str) -> CaseState | None:
        try:
            answer = self.client.get_item(TableName=self.table_name, Key=case_key(case_id), ConsistentRead=True)
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        item = answer.get("Item")
        return case_from_item(item) if item else None

    def mark(self, increments: Sequence[CaseIncrement]) -> MarkOutcome:
        """Mark every report of the increments counted and store their additions, in one transaction: all or none."""
        token = uuid.uuid4().hex
        reports = [report for increment in increments for report in increment.reports]
        self._keep_contacts(reports)
        actions: list[Any] = [
            {"Update": self._report_mark(report, increment.before, token)}
            for increment in increments
            for report in increment.reports
        ]
        document = json.dumps([_addition_json(increment.addition) for increment in increments], sort_keys=True)
        actions.append(
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {**increment_key(token), "entity": {"S": "increment"}, "additions": {"S": document}},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        )
        if len(actions) > MAX_TRANSACTION_ACTIONS:
            raise ValueError(f"{len(actions)} actions in one transaction; DynamoDB takes {MAX_TRANSACTION_ACTIONS}")
        try:
            # A fresh token per call: botocore's own retries of this call (same token) cannot apply it twice, and a
            # later replay (new token) is judged by the conditions, as it must be.
            self.client.transact_write_items(TransactItems=actions, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            if _error_code(exc) == "TransactionCanceledException":
                reasons = cast(dict[str, Any], exc.response).get("CancellationReasons") or []
                return self._explain(reasons, reports)
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return MarkOutcome(token=token)

    def _keep_contacts(self, reports: Sequence[ReportRecord]) -> None:
        """Each report's contact details into the item of their own that expires, before the mark removes them from
        the report: a failure here leaves the report unmarked, contact and all, for the next delivery. A replay
        writes the same item again (BatchWriteItem takes no condition; the values are a function of the report)."""
        contacts = [c for report in reports if (c := ReporterContact.of(report, self.contact_retention_days))]
        try:
            for chunk in _chunks(contacts, MAX_BATCH_WRITE_ITEMS):
                request: Any = {self.table_name: [{"PutRequest": {"Item": contact_item(c)}} for c in chunk]}
                for attempt in range(_UNPROCESSED_ATTEMPTS):
                    request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                    if not request:
                        break
                    time.sleep(0.02 * 2**attempt)  # DynamoDB asks for backoff before retrying unprocessed items
                if request:
                    raise StoreUnavailable("UnprocessedItems")
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def stored_increments(self, tokens: Iterable[str]) -> dict[str, tuple[CaseAddition, ...]]:
        found: dict[str, tuple[CaseAddition, ...]] = {}
        ordered = sorted(set(tokens))
        try:
            for chunk in _chunks(ordered, MAX_BATCH_GET_KEYS):
                request: Any = {
                    self.table_name: {"Keys": [increment_key(token) for token in chunk], "ConsistentRead": True}
                }
                for attempt in range(_UNPROCESSED_ATTEMPTS):
                    answer = self.client.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self.table_name, []):
                        token = item["PK"]["S"].removeprefix("INCREMENT#")
                        found[token] = tuple(_addition_from_json(a) for a in json.loads(item["additions"]["S"]))
                    request = answer.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(0.02 * 2**attempt)
                if request:
                    raise StoreUnavailable("UnprocessedKeys")
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return {token: found[token] for token in ordered if token in found}

    def add(self, token: str, addition: CaseAddition) -> CaseState:
        """One UpdateItem ADD, idempotent per token: creating the case (token as createdBy) or adding to it."""
        attempts = [True, False] if addition.new_case else [False]
        for create in attempts:
            try:
                answer = self.client.update_item(**self._case_add(token, addition, create=create))
            except ClientError as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise StoreUnavailable(_error_code(exc)) from exc
                current = cast(dict[str, Any], exc.response).get("Item")
                if current and (
                    current.get("createdBy", {}).get("S") == token
                    or token in current.get("increments", {}).get("SS", [])
                ):
                    return case_from_item(current)  # added before: by a crashed delivery, or this call's lost answer
                continue  # someone else created the case meanwhile: add to it
            except Exception as exc:
                raise StoreUnavailable(type(exc).__name__) from exc
            return case_from_item(answer["Attributes"])
        raise StoreUnavailable("CaseAddRefused")

    def discard(self, token: str) -> None:
        try:
            self.client.delete_item(TableName=self.table_name, Key=increment_key(token))
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def settle(self, settlement: CaseSettlement) -> CaseState | None:
        expression = _Expression()
        assignments: list[str] = []
        conditions = ["attribute_exists(PK)"]
        moves = (
            ("severity", settlement.severity and str(settlement.severity), ">"),
            ("reporterCount", settlement.reporter_count, "<"),
            ("firstSeen", settlement.first_seen, ">"),
            ("lastSeen", settlement.last_seen, "<"),
        )
        for name, value, stored_is in moves:
            if value is None:
                continue
            attribute: AttributeValueTypeDef = {"N": str(value)} if isinstance(value, int) else {"S": value}
            assignments.append(expression.assign(name, attribute))
            # Only ever one way: a writer that moved the field further makes this fail, and the settle is recomputed.
            conditions.append(
                f"(attribute_not_exists({expression.name(name)}) OR {expression.name(name)} {stored_is} :{name})"
            )
        severity = settlement.severity or settlement.expected.severity
        first_seen = settlement.first_seen or settlement.expected.first_seen
        if (settlement.severity or settlement.first_seen) and severity and first_seen:
            # The queue position follows severity and first report; the one that did not move must still be as read,
            # or a concurrent settle that moved it would be overwritten with a stale position.
            due, position = self._queue_position(settlement.case_id, severity, first_seen)
            assignments += [expression.assign("dueAt", {"S": due}), expression.assign("queueKey", {"S": position})]
            for name, moved, value in (
                ("severity", settlement.severity, str(severity)),
                ("firstSeen", settlement.first_seen, first_seen),
            ):
                if not moved:
                    conditions.append(f"{expression.name(name)} = {expression.value('read_' + name, {'S': value})}")
        if settlement.reopen:
            # Only if the decision read is still the latest: a newer one is the analyst's answer to these reports.
            assignments += [
                expression.assign("caseStatus", {"S": str(CaseStatus.OPEN)}),
                expression.assign("queue", {"S": queue_partition(CaseStatus.OPEN, settlement.expected.family)}),
            ]
            read_decision = settlement.expected.decision_id or ""
            conditions.append(
                f"{expression.name('decisionId')} = {expression.value('read_decision', {'S': read_decision})}"
            )
        if settlement.first_incident is not None:
            # Reporters spell incident times their own way, so text order is not time order: expect the value read.
            assignments.append(expression.assign("firstIncident", {"S": settlement.first_incident}))
            seen = settlement.expected.first_incident
            conditions.append(
                f"{expression.name('firstIncident')} = {expression.value('seenIncident', {'S': seen})}"
                if seen is not None
                else f"attribute_not_exists({expression.name('firstIncident')})"
            )
        removals = [
            f"{expression.name(name)} {expression.value(name, {'SS': sorted(values)})}"
            for name, values in (
                ("reporters", settlement.trim_reporters),
                ("urls", settlement.trim_urls),
                ("objects", settlement.trim_objects),
                ("increments", settlement.forget),
            )
            if values
        ]
        update = " ".join(
            part
            for part in (
                "SET " + ", ".join(assignments) if assignments else "",
                "DELETE " + ", ".join(removals) if removals else "",
            )
            if part
        )
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=case_key(settlement.case_id),
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.parameters(),
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                current = cast(dict[str, Any], exc.response).get("Item")
                if current:
                    return case_from_item(current)
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return None

    def clear_pending(
        self, sent: Mapping[str, Iterable[str]], forget: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Per case one UpdateItem: sent report ids out of pendingFanout, discarded increments' tokens forgotten."""
        forget = forget or {}
        for case_id in sorted(set(sent) | set(forget)):
            expression = _Expression()
            removals = [
                f"{expression.name(name)} {expression.value(name, {'SS': values})}"
                for name, values in (
                    ("pendingFanout", sorted(set(sent.get(case_id, ())))),
                    ("increments", sorted(set(forget.get(case_id, ())))),
                )
                if values
            ]
            if removals:
                self._update_case(case_id, "DELETE " + ", ".join(removals), expression.names, expression.values)

    def record_escalation(
        self, case_id: str, *, draft_sha256: str | None = None, notified_severity: Severity | None = None
    ) -> None:
        """What the escalation worker has done for the case: the draft it wrote, the severity it told on-call."""
        expression = _Expression()
        assignments = []
        if draft_sha256 is not None:
            assignments.append(f"{expression.name('draftSha256')} = {expression.value('draft', {'S': draft_sha256})}")
        if notified_severity is not None:
            assignments.append(
                f"{expression.name('notifiedSeverity')} = {expression.value('notified', {'S': str(notified_severity)})}"
            )
        if assignments:
            self._update_case(case_id, "SET " + ", ".join(assignments), expression.names, expression.values)

    def await_evidence(self, case_id: str, request: EscalationRequest, since: str) -> None:
        """The case's draft waits for files: listed for the sweeper from `since` (the first wait's time is kept)."""
        names = {"#wait": "evidenceWait", "#since": "awaitingEvidenceSince", "#request": "awaitingEvidenceRequest"}
        self._update_case(
            case_id,
            "SET #wait = :wait, #since = if_not_exists(#since, :since), #request = if_not_exists(#request, :request)",
            names,
            {":wait": {"S": EVIDENCE_WAIT}, ":since": {"S": since}, ":request": {"S": request.model_dump_json()}},
        )

    def evidence_complete(self, case_id: str) -> None:
        """The draft has every file: off the sweeper's index."""
        names = {"#wait": "evidenceWait", "#since": "awaitingEvidenceSince", "#request": "awaitingEvidenceRequest"}
        self._update_case(case_id, "REMOVE #wait, #since, #request", names, None)

    def awaiting_evidence_before(self, since_before: str, limit: int) -> list[Listed]:
        return self.query_index(
            AWAITING_EVIDENCE_INDEX, ("evidenceWait", EVIDENCE_WAIT), ("awaitingEvidenceSince", since_before), limit
        )

    def waiting_escalations(self, case_ids: Sequence[str]) -> list[WaitingEscalation]:
        """What each case waits with now (strongly consistent); request None when it waits no more."""
        items = self.consistent_items(
            [case_key(case_id) for case_id in case_ids],
            projection="caseId, awaitingEvidenceSince, awaitingEvidenceRequest",
        )
        found = []
        for item in items:
            request = None
            if "awaitingEvidenceRequest" in item:
                try:
                    request = EscalationRequest.model_validate_json(item["awaitingEvidenceRequest"]["S"])
                except ValueError:
                    request = None  # written by this module from the model; unreadable means a bug, not a retry
            since = item.get("awaitingEvidenceSince", {}).get("S", "")
            found.append(WaitingEscalation(case_id=item["caseId"]["S"], since=since, request=request))
        return found

    def take_claim(self, case_id: str, wanted: Claim, now: datetime) -> Claim:
        """Give the case's claim to `wanted.analyst` until `wanted.until`, if nobody else holds it at `now`.

        One conditional UpdateItem, so two analysts claiming at once cannot both win (shared.domain.casework.claim
        is the same rule, for deciding before asking). Raises NoSuchCase, or CaseClaimed naming the holder.
        """
        held = self._claim_update(
            case_id,
            "SET #by = :me, #until = :until",
            wanted.analyst,
            now,
            {":until": {"S": utc_timestamp(wanted.until)}},
        )
        if held is not None:
            raise CaseClaimed(held["claimedBy"]["S"], _parsed(held["claimUntil"]["S"]))
        return wanted

    def end_claim(self, case_id: str, analyst: str, now: datetime) -> None:
        """Remove the claim if `analyst` holds it, or it has lapsed, or there is none; else NotClaimHolder."""
        held = self._claim_update(case_id, "REMOVE #by, #until", analyst, now, {})
        if held is not None:
            raise NotClaimHolder(f"the claim is held by {held['claimedBy']['S']}")

    def _claim_update(
        self, case_id: str, update: str, analyst: str, now: datetime, values: dict[str, AttributeValueTypeDef]
    ) -> dict[str, Any] | None:
        """Apply `update` if the case exists and `analyst` may act on its claim at `now` (they hold it, it lapsed,
        or there is none). None when applied; the case as stored when someone else holds it; NoSuchCase."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=case_key(case_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK) AND "
                "(attribute_not_exists(#by) OR #by = :me OR #until <= :now)",
                ExpressionAttributeNames={"#by": "claimedBy", "#until": "claimUntil"},
                ExpressionAttributeValues={":me": {"S": analyst}, ":now": {"S": utc_timestamp(now)}, **values},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable(_error_code(exc)) from exc
            held = cast(dict[str, Any], exc.response).get("Item")
            if not held:
                raise NoSuchCase(f"no case {case_id}") from exc
            return held
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return None

    def _update_case(
        self,
        case_id: str,
        update: str,
        names: dict[str, str],
        values: dict[str, AttributeValueTypeDef] | None,
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": case_key(case_id),
            "UpdateExpression": update,
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.client.update_item(**request)
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def _case_add(self, token: str, addition: CaseAddition, *, create: bool) -> dict[str, Any]:
        expression = _Expression()
        seed = addition.seed
        assignments = [expression.assign("entity", {"S": "case"})]
        assignments += [expression.assign(name, {"S": getattr(seed, field)}) for field, name in _CASE_STRINGS.items()]
        # What does not commute is only initialised here (the case's first write wins), then kept by the settle.
        initial: list[tuple[str, AttributeValueTypeDef | None]] = [
            ("severity", {"S": str(addition.severity)} if addition.severity else None),
            ("reporterCount", {"N": str(len(addition.reporters))}),
            ("firstSeen", {"S": addition.first_seen} if addition.first_seen else None),
            ("lastSeen", {"S": addition.last_seen} if addition.last_seen else None),
            ("firstIncident", {"S": addition.first_incident} if addition.first_incident else None),
            ("escalate", None if addition.escalate else {"BOOL": False}),
            # The analysts' queue: a new case is OPEN; a decision moves it (shared.adapters.casework_table).
            ("caseStatus", {"S": str(CaseStatus.OPEN)}),
            ("queue", {"S": queue_partition(CaseStatus.OPEN, seed.family)}),
        ]
        if addition.severity and addition.first_seen:
            due, position = self._queue_position(seed.case_id, addition.severity, addition.first_seen)
            initial += [("dueAt", {"S": due}), ("queueKey", {"S": position})]
        for name, value in initial:
            if value is not None:
                assignments.append(
                    f"{expression.name(name)} = if_not_exists({expression.name(name)}, {expression.value(name, value)})"
                )
        if addition.escalate:  # only ever set to true, so it commutes
            assignments.append(expression.assign("escalate", {"BOOL": True}))
        additions = [
            f"{expression.name('reportCount')} {expression.value('added', {'N': str(addition.reports)})}",
            f"{expression.name('version')} {expression.value('one', {'N': '1'})}",
        ]
        for name, added in (
            ("reporters", addition.reporters),
            ("types", addition.types),
            ("urls", addition.urls),
            ("objects", addition.objects),
            ("pendingFanout", addition.pending),
        ):
            if added:  # a string set cannot be empty
                additions.append(f"{expression.name(name)} {expression.value('add_' + name, {'SS': sorted(added)})}")
        token_value = expression.value("token", {"S": token})
        if create:
            assignments.append(f"{expression.name('createdBy')} = {token_value}")
            condition = "attribute_not_exists(PK)"
        else:
            additions.append(f"{expression.name('increments')} {expression.value('tokens', {'SS': [token]})}")
            created_by = expression.name("createdBy")
            condition = (
                f"NOT contains({expression.name('increments')}, {token_value}) "
                f"AND (attribute_not_exists({created_by}) OR {created_by} <> {token_value})"
            )
        return {
            "TableName": self.table_name,
            "Key": case_key(seed.case_id),
            "UpdateExpression": "SET " + ", ".join(assignments) + " ADD " + ", ".join(additions),
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expression.parameters(),
        }

    def _report_mark(self, report: ReportRecord, case: CaseState, token: str) -> dict[str, Any]:
        expression = _Expression()
        case_name = expression.name("caseId")
        status = f"{expression.name('status')} = {expression.value('status', {'S': ReportStatus.PROCESSING.value})}"
        if case.standing_restriction and case.decision_id and case.decision_reason:
            # The case's restriction answers this report too: completed now, with the decision that stands.
            status = (
                f"{expression.name('status')} = {expression.value('status', {'S': ReportStatus.COMPLETED.value})}, "
                f"{expression.assign('reasonCode', {'S': case.decision_reason})}, "
                f"{expression.assign('decisionId', {'S': case.decision_id})}"
            )
        return {
            "TableName": self.table_name,
            "Key": {"PK": {"S": report_pk(report.key_hex)}, "SK": {"S": REPORT_SK}},
            "UpdateExpression": f"SET {case_name} = {expression.value('caseId', {'S': case.case_id})}, "
            f"{status}, "
            f"{expression.name('increment')} = {expression.value('increment', {'S': token})} "
            # Counted, so no longer the sweeper's business: out of its sparse index in the same write. The contact
            # details are in their own expiring item by now (_keep_contacts): the report keeps none.
            f"REMOVE {expression.name('queuedShard')}, {expression.name('reporterOrg')}, "
            f"{expression.name('reporterContact')}, {expression.name('reporterDomain')}",
            # attribute_exists: a report deleted meanwhile (a destruction order) must not come back as a stub.
            "ConditionExpression": f"attribute_exists(PK) AND attribute_not_exists({case_name})",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expression.parameters(),
        }

    @staticmethod
    def _explain(reasons: Sequence[Mapping[str, Any]], reports: Sequence[ReportRecord]) -> MarkOutcome:
        already: dict[str, str | None] = {}
        missing: set[str] = set()
        for report, reason in zip(reports, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue  # "None", or a conflict with another transaction: the next attempt may pass
            item = reason.get("Item")
            if item:
                already[report.report_id] = item.get("increment", {}).get("S")
            else:
                missing.add(report.report_id)
        return MarkOutcome(token=None, already_counted=already, missing=frozenset(missing))
