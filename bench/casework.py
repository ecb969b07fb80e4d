"""`make bench`, casework section (issue 13): AWS requests per queue page, per case view and per decision, for a
1-report and a 10,000-report case, and what a decision sets in motion (the completion worker's fan-out).

Counts, not times (but for the fan-out's wall time, info only), under moto in a world built from infra/template.yaml
(bench/pipeline.py's, whose plumbing is reused). The cases are written straight into the table as the dispatcher
leaves them, with BatchWriteItem on a plumbing client of its own (never counted): the case item on the analysts'
queue (QueueIndex), its reports PROCESSING with caseId and receivedAt (so in CaseReportsIndex), anonymous as
tests/integration/test_completion.py seeds them, and one report in CONTACT_EVERY with a contact item and an email
address. The analysts' API is driven as API Gateway does after its Cognito authorizer; the completion worker gets
the decision item as the stream record Lambda would hand it. Requests are counted with botocore's before-call hook on
every client the product makes (shared.adapters.aws and the mailer's SES v2 client).

Budgets (shared/adapters/casework_table.py lists the cost of each access pattern):
- a queue page is one Query;
- a case view is one Query of the case's partition, one of CaseReportsIndex, one BatchGetItem of the (at most 100)
  reports listed, plus one Query per custody chain listed, whatever the case's size; with signed reporters, one more
  BatchGetItem of their track records;
- a decision is one GetItem and one TransactWriteItems, whatever the case's size;
- the fan-out is info: its requests per report completed, by operation over two notes (Update = UpdateItem, Put =
  PutItem, BatchGet = BatchGetItem, SES = SendEmail), and its wall time under moto, measured on the full 10,000
  reports (about 90 s of the section's 110 s on a 2-core machine).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.pipeline import _Context, _moto_world
from bench.table import Figure

BIG = 10_000  # the large case's reports; the fan-out is measured on it
CONTACT_EVERY = 10  # one report in ten left an email address (a contact item)
QUEUE_FILLER = 60  # other open cases, so the queue page of 50 is full
NOTE_WIDTH = 36  # what a line of `make bench`'s table leaves for a note
SHORT = {"UpdateItem": "Update", "PutItem": "Put", "BatchGetItem": "BatchGet", "SendEmail": "SES", "GetItem": "Get"}
RECEIVED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SMALL_CASE = "a" * 32
BIG_CASE = "b" * 32
SIGNED_CASE = "c" * 32
ANALYST = ("ana", "analysts")
DECISION = {"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "A credential phishing page, removed."}
RESOURCE = "https://login.example.net/account/verify"


def _timestamp(moment: datetime) -> str:
    from shared.domain.reports import utc_timestamp

    return utc_timestamp(moment)


def _case(case_id: str, reports: int, reporters: int, resource: str = RESOURCE) -> dict[str, Any]:
    """A case item as the dispatcher's writes leave it: OPEN, on the general queue, P2."""
    from shared.domain.casework import CaseStatus, due_at, queue_partition, queue_sort_key
    from shared.domain.policy import Severity

    due = due_at(Severity.P2, RECEIVED)
    return {
        "PK": {"S": f"CASE#{case_id}"},
        "SK": {"S": "CASE"},
        "entity": {"S": "case"},
        "caseId": {"S": case_id},
        "resource": {"S": resource},
        "family": {"S": "content"},
        "category": {"S": "content"},
        "types": {"SS": ["phishing"]},
        "urls": {"SS": [resource]},
        "severity": {"S": str(Severity.P2)},
        "reportCount": {"N": str(reports)},
        "reporterCount": {"N": str(reporters)},
        "firstSeen": {"S": _timestamp(RECEIVED)},
        "lastSeen": {"S": _timestamp(RECEIVED + timedelta(seconds=reports))},
        "firstIncident": {"S": "2026-11-30T09:00:00.000Z"},
        "caseStatus": {"S": str(CaseStatus.OPEN)},
        "queue": {"S": queue_partition(CaseStatus.OPEN, "content")},
        "dueAt": {"S": _timestamp(due)},
        "queueKey": {"S": queue_sort_key(Severity.P2, due, case_id)},
        "version": {"N": "1"},
    }


def _report_id(n: int) -> str:
    from shared.domain.dedupe import ulid_text

    moment = RECEIVED + timedelta(seconds=n)
    return ulid_text(int(moment.timestamp() * 1000).to_bytes(6, "big") + n.to_bytes(10, "big"))


def _report(n: int, case_id: str, principal: str = "anonymous", partner: str | None = None) -> dict[str, Any]:
    """A report as the dispatcher leaves it: counted into its case, PROCESSING, its contact moved out."""
    from shared.adapters.reports_table import to_item
    from shared.domain.reports import ReportRecord

    return to_item(
        ReportRecord(
            key_hex=f"{n:020x}",
            report_id=_report_id(n),
            status="PROCESSING",
            received_at=_timestamp(RECEIVED + timedelta(seconds=n)),
            principal=principal,
            partner=partner,
            trust_tier=2 if partner else 0,
            category="content",
            type="phishing",
            resources=(RESOURCE,),
            incident_time="2026-11-30T09:00:00Z",
            content_fingerprint="f" * 64,
            receipt_hash="e" * 64,
            source_format="xarf" if partner else "form",
            description="The page at the link asks for my bank password",
            case_id=case_id,
        )
    )


def _contact(n: int) -> dict[str, Any]:
    from shared.adapters.reports_table import contact_item
    from shared.domain.reports import ReporterContact

    return contact_item(
        ReporterContact(
            key_hex=f"{n:020x}",
            report_id=_report_id(n),
            received_at=_timestamp(RECEIVED + timedelta(seconds=n)),
            expires_at=1_900_000_000,
            reporter_org="Bench Reporter",
            reporter_contact=f"reporter-{n}@example.org",
        )
    )


def _put_all(world: Any, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem, 25 a call, on a plumbing client (not the product's: never counted)."""
    import boto3

    client = boto3.client("dynamodb")
    table = world.physical_name("ReportsTable")
    for start in range(0, len(items), 25):
        requests: Any = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])


def _seed(world: Any) -> None:
    from bench.pipeline import PARTNER, PARTNER_2

    small = [_case(SMALL_CASE, 1, 1), _report(1, SMALL_CASE), _contact(1)]
    first = 100
    big = [_case(BIG_CASE, BIG, BIG), *(_report(n, BIG_CASE) for n in range(first, first + BIG))]
    big += [_contact(n) for n in range(first, first + BIG, CONTACT_EVERY)]
    signed_from = first + BIG + 100
    signed = [
        _case(SIGNED_CASE, 3, 3, resource="https://login.example.net/other"),
        _report(signed_from, SIGNED_CASE, PARTNER, "Bench hotline"),
        _report(signed_from + 1, SIGNED_CASE, PARTNER_2, "Bench hotline 2"),
        _report(signed_from + 2, SIGNED_CASE),
    ]
    filler = [_case(f"{n:032x}", 1, 1, resource=f"https://login.example.net/f{n}") for n in range(QUEUE_FILLER)]
    _put_all(world, [*small, *big, *signed, *filler])


@contextmanager
def _counting() -> Iterator[Counter[str]]:
    """Requests by operation on every client the product makes; thread-safe (the completion worker writes from ten
    threads)."""
    from shared.adapters import aws, mailer

    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    clients = [aws.dynamodb(), aws.s3(), aws.s3_request_path(), aws.sqs(), aws.sns(), aws.sts(), mailer.sesv2()]
    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", count)


def _api(method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Any:
    """The analysts' API as API Gateway calls it after the Cognito authorizer (claims as strings)."""
    import json

    from functions.casework.handler import lambda_handler

    parts = path.strip("/").split("/")
    resource, parameters = path, None
    if len(parts) >= 3:
        resource = "/v1/cases/{caseId}" + "".join(f"/{part}" for part in parts[3:])
        parameters = {"caseId": parts[2]}
    username, groups = ANALYST
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/live{path}",
            "stage": "live",
            "requestId": "bench",
            "identity": {"sourceIp": "192.0.2.1", "userArn": None, "accessKey": None},
            "authorizer": {
                "claims": {"sub": f"sub-{username}", "cognito:username": username, "cognito:groups": groups}
            },
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    answer = lambda_handler(event, _Context("CaseworkFunction"))
    assert answer["statusCode"] in (200, 201), answer["body"]
    return json.loads(answer["body"])


def _decision_record(world: Any, case_id: str, sequence: int) -> dict[str, Any]:
    """The decision item the API wrote, as the table's stream hands it to the completion worker (NEW_IMAGE)."""
    import boto3

    (item,) = boto3.client("dynamodb").query(
        TableName=world.physical_name("ReportsTable"),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :decision)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{case_id}"}, ":decision": {"S": "DECISION#"}},
    )["Items"]
    return {
        "eventID": f"bench-{sequence}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": world.region,
        "dynamodb": {
            "Keys": {"PK": item["PK"], "SK": item["SK"]},
            "NewImage": item,
            "SequenceNumber": f"{sequence:024d}",
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": world.get_att("ReportsTable", "StreamArn"),
    }


def _fan_out(world: Any, case_id: str, sequence: int) -> tuple[Counter[str], float]:
    from functions.completion.handler import lambda_handler

    event = {"Records": [_decision_record(world, case_id, sequence)]}
    with _counting() as calls:
        started = time.perf_counter()
        answer = lambda_handler(event, _Context("CompletionFunction"))
        seconds = time.perf_counter() - started
    assert answer == {"batchItemFailures": []}, answer
    return calls, seconds


def _completed(world: Any, n: int) -> bool:
    import boto3

    item = boto3.client("dynamodb").get_item(
        TableName=world.physical_name("ReportsTable"), Key={"PK": {"S": f"REPORT#{n:020x}"}, "SK": {"S": "REPORT"}}
    )["Item"]
    return item["status"]["S"] == "COMPLETED"


def _spelled(calls: Counter[str]) -> str:
    return ", ".join(f"{n:,} {op}" for op, n in calls.most_common()) or "none"


def _grouped(calls: Counter[str]) -> list[str]:
    """The operations by count, largest first, those with the same count together: ["Update 2", "Query/Put 1"]."""
    by_count: dict[int, list[str]] = {}
    for op, n in calls.most_common():
        by_count.setdefault(n, []).append(SHORT.get(op, op))
    return [f"{'/'.join(ops)} {n:,}" for n, ops in by_count.items()]


def _notes(calls: Counter[str], rows: int) -> list[str]:
    """_grouped over `rows` notes of at most NOTE_WIDTH characters each (the last takes what is left)."""
    notes: list[list[str]] = [[] for _ in range(rows)]
    row = 0
    for part in _grouped(calls):
        if notes[row] and len(", ".join([*notes[row], part])) > NOTE_WIDTH and row < rows - 1:
            row += 1
        notes[row].append(part)
    return [", ".join(parts) for parts in notes]


def measure() -> list[Figure]:
    from shared.adapters import mailer

    with _moto_world() as world:
        import boto3

        mailer.clear()
        boto3.client("sesv2").create_email_identity(EmailIdentity=os.environ["OUTCOME_EMAIL_SENDER"])
        _seed(world)

        with _counting() as queue:
            page = _api("GET", "/v1/cases", query={"limit": "50"})
        assert len(page["cases"]) == 50 and page["nextToken"], page

        views: dict[str, tuple[Counter[str], Any]] = {}
        for case_id in (SMALL_CASE, BIG_CASE, SIGNED_CASE):
            with _counting() as calls:
                view = _api("GET", f"/v1/cases/{case_id}")
            views[case_id] = (calls, view)
        assert views[BIG_CASE][1]["reportsListed"] == 100, views[BIG_CASE][1]["reportsListed"]

        decisions: dict[str, Counter[str]] = {}
        for case_id in (SMALL_CASE, BIG_CASE):
            with _counting() as calls:
                _api("POST", f"/v1/cases/{case_id}/decisions", DECISION)
            decisions[case_id] = calls

        small_fan_out, _ = _fan_out(world, SMALL_CASE, 1)
        big_fan_out, seconds = _fan_out(world, BIG_CASE, 2)
        assert _completed(world, 1) and _completed(world, 100) and _completed(world, 100 + BIG - 1)
        mailer.clear()

    figures = [Figure("casework: queue page requests, 50 cases", queue.total(), budget=1, note=_spelled(queue))]
    for case_id, label in ((SMALL_CASE, "1 report"), (BIG_CASE, f"{BIG:,} reports")):
        calls, view = views[case_id]
        figures.append(
            Figure(
                f"casework: case view requests, {label}",
                calls.total(),
                budget=3 + len(view["custody"]),  # one Query per custody chain listed
                note=f"{view['reportsListed']} listed: {_spelled(calls)}",
            )
        )
    small_view, big_view, signed_view = (views[case_id][0] for case_id in (SMALL_CASE, BIG_CASE, SIGNED_CASE))
    figures += [
        Figure(
            f"casework: case view growth, {BIG:,} vs 1 report",
            big_view.total() - small_view.total(),
            budget=0,
            note="requests more for the big case",
        ),
        Figure(
            "casework: case view, signed reporters",
            signed_view.total(),
            budget=4,  # the same, and one BatchGetItem of the reporters' track records
            note=f"vs anonymous: +{_spelled(signed_view - small_view)}",
        ),
    ]
    for case_id, label in ((SMALL_CASE, "1 report"), (BIG_CASE, f"{BIG:,} reports")):
        calls = decisions[case_id]
        figures.append(Figure(f"casework: decision requests, {label}", calls.total(), budget=2, note=_spelled(calls)))
    emailed = len(range(0, BIG, CONTACT_EVERY))
    per_report, absolute = _notes(big_fan_out, 2)
    figures += [
        Figure("casework: fan-out requests, 1 report", small_fan_out.total(), note=_notes(small_fan_out, 1)[0]),
        Figure(f"casework: fan-out requests/report, {BIG:,}", big_fan_out.total() / BIG, digits=3, note=per_report),
        Figure(f"casework: fan-out requests, {BIG:,} reports", big_fan_out.total(), note=absolute),
        Figure(
            f"casework: fan-out wall time, {BIG:,} (moto)",
            seconds,
            "s",
            digits=1,
            note=f"{emailed:,} emailed; moto in-process",
        ),
    ]
    return figures


if __name__ == "__main__":  # run this section alone: python -m bench.casework
    import sys

    from bench.quiet import quiet_environment
    from bench.table import missed, render

    quiet_environment()
    measured = measure()
    print(render(measured))
    sys.exit(1 if missed(measured) else 0)
