"""Cases in the reports table: shared.domain.cases decides what a case write says; this is where it is committed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError

from shared.adapters.reports_table import REPORT_SK, TableAdapter, report_pk
from shared.domain.cases import MAX_TRANSACTION_ACTIONS, CaseIncrement, CaseState, CommitOutcome
from shared.domain.errors import StoreUnavailable
from shared.domain.policy import Severity
from shared.domain.reports import ReportRecord, ReportStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------------------
# Cases: shared/domain/cases.py decides what a case write says; this is where it is committed.
# ---------------------------------------------------------------------------------------------------------------

CASE_SK = "CASE"
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
