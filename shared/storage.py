"""The reports table: one DynamoDB table, single-table design, and the only code that speaks to it.

Items
-----
Report (one per accepted report)
    PK = "REPORT#<key>"  where <key> is the 20-hex-digit dedupe-key digest (shared/dedupe.py)
    SK = "REPORT"
    entity = "report", reportId (ULID; its random part is <key>), status, receivedAt (ISO 8601, UTC, ms),
    principal ("anonymous" or the IAM principal), partner?, trustTier (N), category, type,
    resources (L of canonical strings), s3Objects? (L of canonical s3 URIs in protected buckets, for the
    quarantine worker), outOfScope? (L of canonical s3 URIs in other buckets: recorded, never touched),
    description?, incidentTime, reporterOrg?, reporterContact?, reporterDomain?, evidence? (L of M: sha256, md5,
    size, contentType), details? (JSON of the type-specific XARF fields), sourceFormat, externalId?, correlationId?,
    contentFingerprint (hex SHA-256), receiptHash (hex SHA-256 of the receipt token; the token is never stored),
    caseId?, reasonCode? (both set later by the pipeline).

Access patterns
---------------
- Submit: one PutItem with `attribute_not_exists(PK)` and ReturnValuesOnConditionCheckFailure=ALL_OLD. The first
  write wins; a duplicate costs the same single request and hands back the original, so the request path never
  reads. (A failed conditional write still costs a write unit; no read is cheaper than that.)
- Status: one strongly consistent GetItem; the report id carries <key>, so no index is needed.

Case (one per canonical resource and category family; shared/cases.py says what a case is)
    PK = "CASE#<caseId>"  where <caseId> is 32 hex digits of SHA-256 over (family, resource)
    SK = "CASE"
    entity = "case", caseId, resource, family ("child_safety" or the XARF category), category, version (N: the
    dispatcher's optimistic lock), reportCount (N, exact under redelivery), reporters (SS of 16-hex principal hashes,
    at most 100), reporterCount (N, saturates at 100), types (SS), firstSeen, lastSeen (receivedAt of the earliest and
    latest report), firstIncident, severity (P0..P3), escalate (BOOL), urls? (SS, at most 20), objects? (SS of
    canonical s3 URIs of protected objects, at most 25), pendingFanout? (SS of ids of counted reports whose queue
    messages are not confirmed sent), draftSha256?, notifiedSeverity? (both written by the escalation worker).
    Bounded samples keep it at 1-3 KB, however viral the resource.

Custody event (one per quarantine step per S3 object version; append-only; shared/custody.py owns and documents it)
    PK = "CUSTODY#<bucket>/<sha256 of key>/<version id>", SK = "EVENT#<step>[#<occurrence>]", entity = "custody".
    Written by the quarantine worker with `attribute_not_exists(PK)`; stream consumers skip entity != "report".

Pipeline access patterns
------------------------
- Dispatch, per stream batch: one BatchGetItem (consistent) of the cases the batch touches; then TransactWriteItems
  of at most 100 actions: per case an Update of the case item (condition: the version read, or attribute_not_exists
  for a new case) and per report counted an Update of the report item setting caseId and status PROCESSING
  (condition: attribute_not_exists(caseId)). The report's caseId is the proof it was counted, committed atomically
  with the count, so a replayed batch cannot count a report twice: its condition fails, ALL_OLD says so, and the
  rest is retried without it. After the queue sends, the sent ids are DELETEd from pendingFanout (UpdateItem, or
  TransactWriteItems of up to 100 cases). Set attributes only ever take ADD and DELETE, so that clear never races
  with a count.
- Escalation, per message: GetItem (consistent) of the case; UpdateItem of draftSha256 and notifiedSeverity.
- No GSI yet: an analysts' queue by severity would add one on the case item (GSI1PK = "SEVERITY#<P>", GSI1SK =
  lastSeen); it waits for the triage UI, since every case write would pay for it.

Stream: NEW_IMAGE, the outbox. Everything downstream of a write is driven from it, so a crash after the PutItem loses
nothing. A typical report item is well under 1 KB (one write unit); description is capped at 1,000 characters and
the type-specific details at 4 KB, which bounds the worst case.

This module must never log item contents: descriptions, contacts and resources are reporters' data.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError

from shared import aws
from shared.callers import TrustTier
from shared.cases import CaseIncrement, CaseState, CommitOutcome
from shared.errors import StoreUnavailable
from shared.policy import Severity
from shared.reports import ReportRecord, ReportStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

REPORT_SK = "REPORT"
T = TypeVar("T")


def report_pk(key_hex: str) -> str:
    return f"REPORT#{key_hex}"


# ---------------------------------------------------------------------------------------------------------------
# Item codec. Written by hand: boto3's TypeSerializer costs more than the rest of the request path together.
# ---------------------------------------------------------------------------------------------------------------

_OPTIONAL_STRINGS = {
    "partner": "partner",
    "description": "description",
    "reporter_org": "reporterOrg",
    "reporter_contact": "reporterContact",
    "reporter_domain": "reporterDomain",
    "external_id": "externalId",
    "correlation_id": "correlationId",
    "case_id": "caseId",
    "reason_code": "reasonCode",
}
_REQUIRED_STRINGS = {
    "report_id": "reportId",
    "status": "status",
    "received_at": "receivedAt",
    "principal": "principal",
    "category": "category",
    "type": "type",
    "incident_time": "incidentTime",
    "content_fingerprint": "contentFingerprint",
    "receipt_hash": "receiptHash",
    "source_format": "sourceFormat",
}


def to_item(report: ReportRecord) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "PK": {"S": report_pk(report.key_hex)},
        "SK": {"S": REPORT_SK},
        "entity": {"S": "report"},
        "trustTier": {"N": str(int(report.trust_tier))},
        "resources": {"L": [{"S": value} for value in report.resources]},
    }
    for attribute, name in _REQUIRED_STRINGS.items():
        item[name] = {"S": getattr(report, attribute)}
    for attribute, name in _OPTIONAL_STRINGS.items():
        value = getattr(report, attribute)
        if value is not None:
            item[name] = {"S": value}
    if report.s3_objects:
        item["s3Objects"] = {"L": [{"S": value} for value in report.s3_objects]}
    if report.out_of_scope:
        item["outOfScope"] = {"L": [{"S": value} for value in report.out_of_scope]}
    if report.evidence:
        item["evidence"] = {"L": [{"M": _evidence_item(entry)} for entry in report.evidence]}
    if report.details:
        item["details"] = {"S": json.dumps(report.details, separators=(",", ":"), sort_keys=True)}
    return item


def _evidence_item(entry: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    return {
        "sha256": {"S": entry["sha256"]},
        "md5": {"S": entry["md5"]},
        "size": {"N": str(entry["size"])},
        "contentType": {"S": entry["contentType"]},
    }


def from_item(item: Mapping[str, Any]) -> ReportRecord:
    values: dict[str, Any] = {attribute: item[name]["S"] for attribute, name in _REQUIRED_STRINGS.items()} | {
        attribute: item[name]["S"] for attribute, name in _OPTIONAL_STRINGS.items() if name in item
    }
    return ReportRecord(
        key_hex=item["PK"]["S"].removeprefix("REPORT#"),
        trust_tier=TrustTier(int(item["trustTier"]["N"])),
        resources=tuple(entry["S"] for entry in item["resources"]["L"]),
        s3_objects=tuple(entry["S"] for entry in item.get("s3Objects", {}).get("L", [])),
        out_of_scope=tuple(entry["S"] for entry in item.get("outOfScope", {}).get("L", [])),
        evidence=tuple(
            {
                "sha256": entry["M"]["sha256"]["S"],
                "md5": entry["M"]["md5"]["S"],
                "size": int(entry["M"]["size"]["N"]),
                "contentType": entry["M"]["contentType"]["S"],
            }
            for entry in item.get("evidence", {}).get("L", [])
        ),
        details=json.loads(item["details"]["S"]) if "details" in item else {},
        **values,
    )


# ---------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------


class TableAdapter:
    """One view of the reports table; the client is created on first use unless a test hands one in."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or aws.dynamodb()


class ReportTable(TableAdapter):
    def put_new(self, report: ReportRecord) -> ReportRecord | None:
        """Store a new report; None when it was stored, else the report that already holds its key."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(report),
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                original = cast(dict[str, Any], exc.response).get("Item")
                if original is None:  # only an endpoint that ignores ALL_OLD gets here; a read is the fallback
                    return self.get(report.key_hex)
                return from_item(original)
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except Exception as exc:  # connection errors after retries: nothing was accepted, say so
            raise StoreUnavailable(type(exc).__name__) from exc
        return None

    def get(self, key_hex: str) -> ReportRecord | None:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"PK": {"S": report_pk(key_hex)}, "SK": {"S": REPORT_SK}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        item = answer.get("Item")
        return from_item(item) if item else None


# ---------------------------------------------------------------------------------------------------------------
# Cases: shared/cases.py decides what a case write says; this is where it is committed.
# ---------------------------------------------------------------------------------------------------------------

CASE_SK = "CASE"
MAX_TRANSACTION_ACTIONS = 100  # DynamoDB's limit for one TransactWriteItems
MAX_BATCH_GET_KEYS = 100  # and for one BatchGetItem
_UNPROCESSED_ATTEMPTS = 5

_CASE_STRINGS = {"case_id": "caseId", "resource": "resource", "family": "family", "category": "category"}
_CASE_OPTIONAL_STRINGS = {
    "first_seen": "firstSeen",
    "last_seen": "lastSeen",
    "first_incident": "firstIncident",
    "draft_sha256": "draftSha256",
}
_CASE_SETS = {
    "reporters": "reporters",
    "types": "types",
    "urls": "urls",
    "objects": "objects",
    "pending_fanout": "pendingFanout",
}


def case_pk(case_id: str) -> str:
    return f"CASE#{case_id}"


def case_key(case_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": {"S": case_pk(case_id)}, "SK": {"S": CASE_SK}}


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


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CaseTable(TableAdapter):
    """Cases and the report fields the pipeline sets, in the reports table. Every failure is StoreUnavailable."""

    def load(self, seeds: Sequence[CaseState]) -> dict[str, CaseState]:
        """The stored state of each case (strongly consistent), or its seed when it does not exist yet."""
        found: dict[str, CaseState] = {}
        ids = list(dict.fromkeys(seed.case_id for seed in seeds))
        try:
            for chunk in _chunks(ids, MAX_BATCH_GET_KEYS):
                request: Any = {
                    self.table_name: {"Keys": [case_key(case_id) for case_id in chunk], "ConsistentRead": True}
                }
                for attempt in range(_UNPROCESSED_ATTEMPTS):
                    answer = self.client.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self.table_name, []):
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
        return {seed.case_id: found.get(seed.case_id, seed) for seed in seeds}

    def get(self, case_id: str) -> CaseState | None:
        try:
            answer = self.client.get_item(TableName=self.table_name, Key=case_key(case_id), ConsistentRead=True)
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        item = answer.get("Item")
        return case_from_item(item) if item else None

    def commit(self, increments: Sequence[CaseIncrement]) -> CommitOutcome:
        """Apply every increment, and mark every report in them as counted, in one transaction: all or nothing."""
        actions: list[Any] = []
        owners: list[CaseIncrement | ReportRecord] = []
        for increment in increments:
            actions.append({"Update": self._case_update(increment)})
            owners.append(increment)
            for report in increment.reports:
                actions.append({"Update": self._report_mark(report, increment.after.case_id)})
                owners.append(report)
        if len(actions) > MAX_TRANSACTION_ACTIONS:
            raise ValueError(f"{len(actions)} actions in one transaction; DynamoDB takes {MAX_TRANSACTION_ACTIONS}")
        try:
            # A fresh token per call: botocore's own retries of this call (same token) cannot apply it twice, and a
            # later replay (new token) is judged by the conditions, as it must be.
            self.client.transact_write_items(TransactItems=actions, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            if _error_code(exc) == "TransactionCanceledException":
                reasons = cast(dict[str, Any], exc.response).get("CancellationReasons") or []
                return self._explain(reasons, owners)
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return CommitOutcome(committed=True)

    def clear_pending(self, sent: Mapping[str, Iterable[str]]) -> None:
        """Forget that these reports' messages were still to send: case id -> report ids."""
        updates: list[Any] = []
        for case_id, report_ids in sorted(sent.items()):
            ids = sorted(set(report_ids))
            if not ids:
                continue
            expression = _Expression()
            updates.append(
                {
                    "TableName": self.table_name,
                    "Key": case_key(case_id),
                    "UpdateExpression": f"DELETE {expression.name('pendingFanout')} "
                    f"{expression.value('sent', {'SS': ids})}",
                    "ConditionExpression": "attribute_exists(PK)",
                    **expression.parameters(),
                }
            )
        try:
            if len(updates) == 1:
                self.client.update_item(**updates[0])
            else:  # one call for up to 100 cases instead of one each
                for chunk in _chunks(updates, MAX_TRANSACTION_ACTIONS):
                    self.client.transact_write_items(
                        TransactItems=[{"Update": update} for update in chunk], ClientRequestToken=str(uuid.uuid4())
                    )
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

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
        if not assignments:
            return
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=case_key(case_id),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_exists(PK)",
                **expression.parameters(),
            )
        except ClientError as exc:
            raise StoreUnavailable(_error_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def _case_update(self, increment: CaseIncrement) -> dict[str, Any]:
        after = increment.after
        expression = _Expression()
        assignments = [
            expression.assign("entity", {"S": "case"}),
            expression.assign("version", {"N": str(after.version)}),
            expression.assign("reporterCount", {"N": str(after.reporter_count)}),
            expression.assign("escalate", {"BOOL": after.escalate}),
        ]
        assignments += [expression.assign(name, {"S": getattr(after, field)}) for field, name in _CASE_STRINGS.items()]
        for field in ("first_seen", "last_seen", "first_incident"):
            if (value := getattr(after, field)) is not None:
                assignments.append(expression.assign(_CASE_OPTIONAL_STRINGS[field], {"S": value}))
        if after.severity is not None:
            assignments.append(expression.assign("severity", {"S": str(after.severity)}))
        additions = [
            f"{expression.name('reportCount')} {expression.value('added', {'N': str(len(increment.reports))})}"
        ]
        for name, added in (
            ("reporters", increment.added_reporters),
            ("types", increment.added_types),
            ("urls", increment.added_urls),
            ("objects", increment.added_objects),
            ("pendingFanout", increment.pending),
        ):
            if added:  # a string set cannot be empty
                additions.append(f"{expression.name(name)} {expression.value(name, {'SS': sorted(added)})}")
        if increment.before.exists:
            expected = expression.value("expected", {"N": str(increment.before.version)})
            condition = f"{expression.name('version')} = {expected}"
        else:
            condition = "attribute_not_exists(PK)"
        return {
            "TableName": self.table_name,
            "Key": case_key(after.case_id),
            "UpdateExpression": "SET " + ", ".join(assignments) + " ADD " + ", ".join(additions),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expression.parameters(),
        }

    def _report_mark(self, report: ReportRecord, case_id: str) -> dict[str, Any]:
        expression = _Expression()
        case_name = expression.name("caseId")
        return {
            "TableName": self.table_name,
            "Key": {"PK": {"S": report_pk(report.key_hex)}, "SK": {"S": REPORT_SK}},
            "UpdateExpression": f"SET {case_name} = {expression.value('caseId', {'S': case_id})}, "
            f"{expression.name('status')} = {expression.value('status', {'S': ReportStatus.PROCESSING.value})}",
            # attribute_exists: a report deleted meanwhile (a destruction order) must not come back as a stub.
            "ConditionExpression": f"attribute_exists(PK) AND attribute_not_exists({case_name})",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expression.parameters(),
        }

    @staticmethod
    def _explain(reasons: Sequence[Mapping[str, Any]], owners: Sequence[CaseIncrement | ReportRecord]) -> CommitOutcome:
        already: set[str] = set()
        missing: set[str] = set()
        current: dict[str, CaseState] = {}
        for owner, reason in zip(owners, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue  # "None", or a conflict with another transaction: the next attempt may pass
            item = reason.get("Item")
            if isinstance(owner, CaseIncrement):
                seed = owner.before
                current[seed.case_id] = (
                    case_from_item(item)
                    if item
                    else CaseState(
                        case_id=seed.case_id, resource=seed.resource, family=seed.family, category=seed.category
                    )
                )
            elif item:
                already.add(owner.report_id)
            else:
                missing.add(owner.report_id)
        return CommitOutcome(
            committed=False, already_counted=frozenset(already), missing=frozenset(missing), current=current
        )
