"""The reports table: one DynamoDB table, single-table design, and the only code that speaks to it.

Items
-----
Report (one per accepted report)
    PK = "REPORT#<key>"  where <key> is the 20-hex-digit dedupe-key digest (shared/domain/dedupe.py)
    SK = "REPORT"
    entity = "report", reportId (ULID; its random part is <key>), status, receivedAt (ISO 8601, UTC, ms),
    principal ("anonymous" or the IAM principal), partner?, trustTier (N), category, type,
    resources (L of canonical strings), s3Objects? (L of canonical s3 URIs in protected buckets, for the
    quarantine worker), outOfScope? (L of canonical s3 URIs in other buckets: recorded, never touched),
    description?, incidentTime, reporterOrg?, reporterContact?, reporterDomain?, evidence? (L of M: sha256, md5,
    size, contentType, evidenceId (the payload's key in the evidence bucket), declaredHashMatches?, legalHold,
    viewedByHuman), details? (JSON of the type-specific XARF fields), sourceFormat, externalId?, correlationId?,
    contentFingerprint (hex SHA-256), receiptHash (hex SHA-256 of the receipt token; the token is never stored),
    caseId?, reasonCode? (both set later by the pipeline), queuedShard? ("QUEUED#0".."QUEUED#9", by <key>; only while
    QUEUED: the intake writes it, the dispatcher's mark removes it).

Access patterns
---------------
- Submit: one PutItem with `attribute_not_exists(PK)` and ReturnValuesOnConditionCheckFailure=ALL_OLD. The first
  write wins; a duplicate costs the same single request and hands back the original, so the request path never
  reads. With evidence payloads, the same Put in one TransactWriteItems with their `received` custody events. (A
  failed conditional write still costs a write unit; no read is cheaper than that.)
- Status: one strongly consistent GetItem; the report id carries <key>, so no index is needed.

Indexes (both sparse and KEYS_ONLY: only items carrying their keys are in them, so they stay small)
- QueuedIndex: HASH queuedShard, RANGE receivedAt. The QUEUED reports, oldest first, in ten partitions so a burst
  of intake does not make one hot index partition. Each report costs one index write when stored and one when
  counted (not a request: DynamoDB propagates them); the request path stays one PutItem.
- AwaitingEvidenceIndex: HASH evidenceWait ("WAITING"), RANGE awaitingEvidenceSince: cases whose CyberTipline draft
  waits for evidence. One partition: few cases wait at once, and each is written when it starts and stops waiting.

Case (one per canonical resource and category family; shared/domain/cases.py says what a case is)
    PK = "CASE#<caseId>"  where <caseId> is 32 hex digits of SHA-256 over (family, resource)
    SK = "CASE"
    entity = "case", caseId, resource, family ("child_safety" or the XARF category), category, version (N: the
    dispatcher's optimistic lock), reportCount (N, exact under redelivery), reporters (SS of 16-hex principal hashes,
    at most 100), reporterCount (N, saturates at 100), types (SS), firstSeen, lastSeen (receivedAt of the earliest and
    latest report), firstIncident, severity (P0..P3), escalate (BOOL), urls? (SS, at most 20), objects? (SS of
    canonical s3 URIs of protected objects, at most 25), pendingFanout? (SS of ids of counted reports whose queue
    messages are not confirmed sent), draftSha256?, notifiedSeverity? (both written by the escalation worker).
    Bounded samples keep it at 1-3 KB, however viral the resource.

Reporter contact (one per report with contact details; the only item with a TTL)
    PK = "REPORT#<key>", SK = "CONTACT", entity = "contact", reportId, receivedAt, reporterOrg?, reporterContact?,
    reporterDomain?, expiresAt (N, epoch seconds: the table's TTL attribute; DynamoDB deletes the item, usually
    within days of it). The dispatcher writes it (BatchWriteItem) just before the transaction that marks the report
    counted, which also REMOVEs the contact attributes from the report item: the report is kept, its contact expires.

Custody event (one per quarantine step per S3 object version; append-only; shared/adapters/custody_log.py documents it)
    PK = "CUSTODY#<bucket>/<sha256 of key>/<version id>", SK = "EVENT#<step>[#<occurrence>]", entity = "custody".
    Written by the quarantine worker with `attribute_not_exists(PK)`; stream consumers skip entity != "report".
    The payloads reporters send have chains too: PK = "CUSTODY#intake/sha256/<hex>", SK = "EVENT#received#<reportId>",
    written with the report that sent them (received_events).

Pipeline access patterns
------------------------
- Dispatch, per stream batch (shared/adapters/cases_table.py has the details): one BatchGetItem (consistent) of the
  cases the batch touches; one TransactWriteItems per 99 reports that marks each report (caseId, PROCESSING and the
  token of its increment; condition attribute_not_exists(caseId), the proof it is counted once) and puts one
  increment item (`INCREMENT#<token>`) saying what those reports add to their cases; then per case one UpdateItem
  that ADDs the counts (guarded by the token, so a repeat adds nothing), a conditional settle of what only moves one
  way (severity, first and last seen), and a DeleteItem of the increment. No case item is ever in a transaction, so
  concurrent batches about one viral case never conflict. After the queue sends, the sent ids are DELETEd from
  pendingFanout; set attributes only ever take ADD and DELETE, so that clear never races with a count.
- Escalation, per message: GetItem (consistent) of the case; UpdateItem of draftSha256 and notifiedSeverity; while
  the draft lacks files, one UpdateItem sets evidenceWait, awaitingEvidenceSince (first wait) and
  awaitingEvidenceRequest (the EscalationRequest as JSON, for the sweeper to send again), and one REMOVE clears them.
- Sweep, every 5 minutes (shared/domain/sweep.py): per QueuedIndex shard one Query (receivedAt < now - 15 min), a
  consistent BatchGetItem of what it lists, then the dispatch path above for the reports still QUEUED; one Query of
  AwaitingEvidenceIndex and a consistent BatchGetItem of those cases. Never a Scan.
- No other GSI yet: an analysts' queue by severity would add one on the case item (GSI1PK = "SEVERITY#<P>", GSI1SK =
  lastSeen); it waits for the triage UI, since every case write would pay for it.

Stream: NEW_IMAGE, the outbox. Everything downstream of a write is driven from it, so a crash after the PutItem loses
nothing. A typical report item is well under 1 KB (one write unit); description is capped at 1,000 characters and
the type-specific and extension fields at 16 KB, which bounds the worst case (a few write units).

This module must never log item contents: descriptions, contacts and resources are reporters' data.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared.adapters import aws
from shared.domain.errors import StoreUnavailable
from shared.domain.reports import QUEUED_SHARD_NAMES, ReporterContact, ReportRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from shared.domain.answers import StatusView
    from shared.domain.sweep import Listed

REPORT_SK = "REPORT"
CORRELATION_INDEX = "CorrelationIndex"  # a caller's reports by the correlationId it gave (correlationKey, receivedAt)
CONTACT_SK = "CONTACT"
QUEUED_INDEX = "QueuedIndex"  # sparse: only QUEUED reports carry its keys (queuedShard, receivedAt)
MAX_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_UNPROCESSED_ATTEMPTS = 5
T = TypeVar("T")


def report_pk(key_hex: str) -> str:
    return f"REPORT#{key_hex}"


# ---------------------------------------------------------------------------------------------------------------
# Item codec. Written by hand: boto3's TypeSerializer costs more than the rest of the request path together.
# ---------------------------------------------------------------------------------------------------------------


def encode(value: Any) -> AttributeValueTypeDef | None:
    """A model's dumped value as a DynamoDB attribute; None for what is not stored (None, empty lists and maps)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(int(value))}  # int(): an IntEnum's str() is its name on some Pythons
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (list, tuple)):
        return {"L": [av for av in map(encode, value) if av is not None]} if value else None
    if isinstance(value, Mapping):
        members = {key: av for key, member in value.items() if (av := encode(member)) is not None}
        return {"M": members} if members else None
    raise TypeError(f"no DynamoDB form for {type(value).__name__}")


def decode(value: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute as the plain value a model validates."""
    (kind, inner), *_ = value.items()
    if kind == "S" or kind == "BOOL":
        return inner
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else float(inner)
    if kind == "L":
        return [decode(member) for member in inner]
    if kind == "M":
        return {key: decode(member) for key, member in inner.items()}
    if kind == "SS":
        return frozenset(inner)
    if kind == "NULL":
        return None
    raise ValueError(f"attribute type {kind} is not used by this table")


def attributes(model: BaseModel) -> dict[str, AttributeValueTypeDef]:
    """A model's fields as item attributes, named by their aliases; what is None or empty is left out."""
    return {name: av for name, value in model.model_dump(by_alias=True).items() if (av := encode(value)) is not None}


def to_item(report: ReportRecord) -> dict[str, AttributeValueTypeDef]:
    key: dict[str, AttributeValueTypeDef] = {
        "PK": {"S": report_pk(report.key_hex)},
        "SK": {"S": REPORT_SK},
        "entity": {"S": "report"},
    }
    return key | attributes(report)


def from_item(item: Mapping[str, Any]) -> ReportRecord:
    values = {name: decode(value) for name, value in item.items() if name not in _KEY_ATTRIBUTES}
    return ReportRecord.model_validate({"key_hex": item["PK"]["S"].removeprefix("REPORT#"), **values})


_KEY_ATTRIBUTES = frozenset({"PK", "SK", "entity"})


def contact_item(contact: ReporterContact) -> dict[str, AttributeValueTypeDef]:
    key: dict[str, AttributeValueTypeDef] = {
        "PK": {"S": report_pk(contact.key_hex)},
        "SK": {"S": CONTACT_SK},
        "entity": {"S": "contact"},
    }
    return key | attributes(contact)


def received_events(report: ReportRecord) -> list[dict[str, AttributeValueTypeDef]]:
    """The first entry of each stored payload's chain of custody: received from this report's sender, by intake.

    The chain is the payload's, not the report's: PK names the payload's object (content-addressed, so every report
    that sent the same bytes adds its own `received` event to one chain), SK the report. Items as
    shared/adapters/custody_log.py documents them, with no source object (the source is the reporter).
    """
    events: dict[str, dict[str, AttributeValueTypeDef]] = {}
    for evidence in report.evidence:
        if evidence.evidence_id is None or evidence.evidence_id in events:
            continue
        detail: dict[str, AttributeValueTypeDef] = {
            "contentType": {"S": evidence.content_type},
            "legalHold": {"S": "ON" if evidence.legal_hold else "OFF"},
        }
        if evidence.declared_hash_matches is not None:
            detail["declaredHashMatches"] = {"S": str(evidence.declared_hash_matches).lower()}
        events[evidence.evidence_id] = {
            "PK": {"S": CUSTODY_PK_PREFIX + evidence.evidence_id},
            "SK": {"S": f"EVENT#received#{report.report_id}"},
            "entity": {"S": "custody"},
            "step": {"S": "received"},
            "at": {"S": report.received_at},
            "by": {"S": RECEIVED_BY},
            "evidenceKey": {"S": evidence.evidence_id},
            "sha256": {"S": evidence.sha256},
            "md5": {"S": evidence.md5},
            "size": {"N": str(evidence.size)},
            "reportId": {"S": report.report_id},
            "detail": {"M": detail},
            "viewedByHuman": {"BOOL": False},
        }
    return list(events.values())


CUSTODY_PK_PREFIX = "CUSTODY#"  # every custody chain's; shared.adapters.custody_log (the workers') has the rest
RECEIVED_BY = "intake"


# ---------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------


# The case's reports by time (HASH caseId, RANGE receivedAt, KEYS_ONLY): the case page, the fan-out, the filer.
CASE_REPORTS_INDEX = "CaseReportsIndex"


class TableAdapter:
    """One view of the reports table; the client is created on first use unless a test hands one in."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client or aws.dynamodb()

    def consistent_items(
        self, keys: Sequence[Mapping[str, AttributeValueTypeDef]], projection: str | None = None
    ) -> list[dict[str, Any]]:
        """Strongly consistent BatchGetItem of the keys, 100 at a time; what does not exist is left out."""
        found: list[dict[str, Any]] = []
        try:
            for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
                wanted: dict[str, Any] = {
                    "Keys": list(keys[start : start + MAX_BATCH_GET_KEYS]),
                    "ConsistentRead": True,
                }
                if projection:
                    wanted |= {"ProjectionExpression": projection}
                request: Any = {self.table_name: wanted}
                for attempt in range(_UNPROCESSED_ATTEMPTS):
                    answer = self.client.batch_get_item(RequestItems=request)
                    found += answer.get("Responses", {}).get(self.table_name, [])
                    request = answer.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(0.02 * 2**attempt)  # DynamoDB asks for backoff before retrying unprocessed keys
                if request:
                    raise StoreUnavailable("UnprocessedKeys")
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return found

    def first_case_reports(self, case_id: str, limit: int, projection: str | None = None) -> list[dict[str, Any]]:
        """The case's first `limit` reports, oldest first: one Query of CaseReportsIndex (KEYS_ONLY, eventually
        consistent, as every GSI read is), then the items themselves, consistently (`projection`: only those names)."""
        try:
            listed = self.client.query(
                TableName=self.table_name,
                IndexName=CASE_REPORTS_INDEX,
                KeyConditionExpression="caseId = :case",
                ExpressionAttributeValues={":case": {"S": case_id}},
                Limit=limit,
            )
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        keys = [{"PK": item["PK"], "SK": item["SK"]} for item in listed.get("Items", [])]
        return self.consistent_items(keys, projection) if keys else []

    def query_index(self, index: str, partition: tuple[str, str], sort: tuple[str, str], limit: int) -> list[Listed]:
        """Keys of one index partition whose sort key is below a bound, oldest first, at most `limit` of them."""
        # Imported here: the sweep's domain (dispatch, cases, messages) is ~17 ms of the intake's cold start, and the
        # intake, which imports this module for ReportTable, never lists an index.
        from shared.domain.sweep import Listed

        (partition_name, partition_value), (sort_name, below) = partition, sort
        listed: list[Listed] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#partition = :partition AND #sort < :below",
            "ExpressionAttributeNames": {"#partition": partition_name, "#sort": sort_name},
            "ExpressionAttributeValues": {":partition": {"S": partition_value}, ":below": {"S": below}},
        }
        try:
            while len(listed) < limit:
                answer = self.client.query(**request, Limit=limit - len(listed))
                listed += [
                    Listed(key=item["PK"]["S"].split("#", 1)[1], since=item[sort_name]["S"])
                    for item in answer.get("Items", [])
                ]
                if "LastEvaluatedKey" not in answer:
                    break
                request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return listed


class ReportTable(TableAdapter):
    def put_new(self, report: ReportRecord) -> ReportRecord | None:
        """Store a new report; None when it was stored, else the report that already holds its key.

        A report with stored evidence is one TransactWriteItems: the report and, per distinct payload, its `received`
        custody event, so neither exists without the other. Without evidence it is one PutItem."""
        item = to_item(report)
        condition = "attribute_not_exists(PK)"
        try:
            received = received_events(report)
            if received:
                puts: list[TransactWriteItemTypeDef] = [
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item,
                            "ConditionExpression": condition,
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                ]
                puts += [{"Put": {"TableName": self.table_name, "Item": event}} for event in received]
                self.client.transact_write_items(TransactItems=puts)
            else:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=condition,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            reasons = cast(dict[str, Any], exc.response).get("CancellationReasons") or [{}]
            if code == "ConditionalCheckFailedException" or reasons[0].get("Code") == "ConditionalCheckFailed":
                original = cast(dict[str, Any], exc.response).get("Item") or reasons[0].get("Item")
                if original is None:  # only an endpoint that ignores ALL_OLD gets here; a read is the fallback
                    return self.get(report.key_hex)
                return from_item(original)
            raise StoreUnavailable(code or "Unknown") from exc
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

    def by_correlation(
        self, correlation_key: str, limit: int, next_token: str | None
    ) -> tuple[list[StatusView], str | None]:
        """One Query of CorrelationIndex: a page of one caller's reports with one correlationId, oldest first."""
        from shared.domain.answers import StatusView  # the listing only: the submit path never builds one
        from shared.domain.errors import InvalidReport, UnmetRequirement

        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": CORRELATION_INDEX,
            "KeyConditionExpression": "correlationKey = :key",
            "ExpressionAttributeValues": {":key": {"S": correlation_key}},
            "Limit": limit,
        }
        if next_token:
            try:
                start = json.loads(base64.urlsafe_b64decode(next_token.encode()))
                if set(start) != {"PK", "SK", "correlationKey", "receivedAt"} or start["correlationKey"] != {
                    "S": correlation_key
                }:
                    raise ValueError("another listing's token")
            except (ValueError, TypeError, binascii.Error) as exc:
                raise InvalidReport(
                    "The listing cannot be made as asked.",
                    [UnmetRequirement("/nextToken", "rule.next_token.malformed", "not a token this listing gave out")],
                ) from exc
            request["ExclusiveStartKey"] = start
        try:
            answer = self.client.query(**request)
        except ClientError as exc:
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "Unknown")) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        reports = [
            StatusView(
                report_id=item["reportId"]["S"],
                status=item["status"]["S"],
                received_at=item["receivedAt"]["S"],
                reason_code=item.get("reasonCode", {}).get("S"),
                case_id=item.get("caseId", {}).get("S"),
            )
            for item in answer.get("Items", [])
        ]
        last = answer.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last, sort_keys=True).encode()).decode() if last else None
        return reports, token


class QueuedReports(TableAdapter):
    """The sweeper's view of the reports: those still QUEUED, by the sparse QueuedIndex; never a scan."""

    def queued_before(self, received_before: str, limit: int) -> list[Listed]:
        """The oldest QUEUED reports received before the bound, over every shard: at most `limit`, oldest first."""
        listed = [
            entry
            for shard in QUEUED_SHARD_NAMES
            for entry in self.query_index(QUEUED_INDEX, ("queuedShard", shard), ("receivedAt", received_before), limit)
        ]
        return sorted(listed, key=lambda entry: entry.since)[:limit]

    def reports(self, keys: Sequence[str]) -> list[ReportRecord]:
        """The reports as they are now (strongly consistent): the index may list one the dispatcher just marked."""
        items = self.consistent_items([{"PK": {"S": report_pk(key)}, "SK": {"S": REPORT_SK}} for key in keys])
        return [from_item(item) for item in items]
