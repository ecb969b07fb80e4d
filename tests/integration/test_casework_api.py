"""The analysts' API under moto, driven as API Gateway would after its Cognito authorizer: the queue, a case's page,
claims, decisions, evidence views and destruction, and the audit log."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import pytest

from functions.casework.handler import lambda_handler as casework
from shared.domain.cases import case_id_for
from tests.conftest import FunctionContext, report_items, stream_event
from tests.integration.test_dispatch import (
    PARTNER_B,
    case,
    csam,
    dispatch,
    partners,  # noqa: F401 - the fixture, used by name below
    submit,
)
from tests.samples import xarf

pytestmark = pytest.mark.usefixtures("partners")
URL = "https://login.example.net/account/verify"
ANALYST = ("ana", ["analysts"])
SECOND_ANALYST = ("bo", ["analysts"])
CHILD_SAFETY = ("cy", ["child-safety", "analysts"])
CUSTODIAN = ("dee", ["evidence-custodians"])
IMAGE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def call(who: tuple[str, list[str]], method: str, path: str, body: Any = None, query: dict[str, str] | None = None):
    """An API Gateway REST proxy event as the Cognito authorizer leaves it: claims as strings, groups comma-joined."""
    username, groups = who
    resource, parameters = path, {}
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "cases":
        resource = "/v1/cases/{caseId}" + ("/" + "/".join(parts[3:]) if len(parts) > 3 else "")
        parameters = {"caseId": parts[2]}
    elif len(parts) >= 3 and parts[1] == "evidence":
        resource = "/v1/evidence/{evidenceId}/" + parts[3]
        parameters = {"evidenceId": parts[2]}
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/live{path}",
            "stage": "live",
            "requestId": "test-request",
            "identity": {"sourceIp": "192.0.2.1", "userArn": None, "accessKey": None},
            "authorizer": {
                "claims": {
                    "sub": f"sub-{username}",
                    "cognito:username": username,
                    "cognito:groups": ",".join(groups),
                    "token_use": "id",
                }
            },
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    answer = casework(event, FunctionContext("CaseworkFunction"))
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def casework_env(world, monkeypatch):
    monkeypatch.setenv("EVIDENCE_BUCKET", world.physical_name("EvidenceBucket"))
    monkeypatch.setenv("CUSTODIAN_ROLE_ARN", "arn:aws:iam::123456789012:role/custodian")
    from shared.config import settings

    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
def phishing_case(world, casework_env) -> str:
    submit(xarf(url=URL))
    submit(xarf(url=URL), PARTNER_B)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    return case_id_for(URL, "content")


def with_image(report: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(IMAGE).hexdigest()
    evidence = {"content_type": "image/png", "payload": base64.b64encode(IMAGE).decode(), "hash": f"sha256:{digest}"}
    return {**report, "evidence": [evidence]}


def test_the_queue_lists_the_case_with_its_due_time_and_a_page_is_one_query(world, phishing_case, pipeline_calls):
    pipeline_calls.clear()
    status, page = call(ANALYST, "GET", "/v1/cases")
    assert status == 200, page
    (listed,) = [entry for entry in page["cases"] if entry["caseId"] == phishing_case]
    assert listed["status"] == "OPEN" and listed["reportCount"] == 2 and listed["reporterCount"] == 2
    assert listed["dueAt"] > listed["firstSeen"]
    assert pipeline_calls["Query"] == 1 and sum(pipeline_calls.values()) == 1


def test_a_csam_case_is_not_in_an_analysts_queue_nor_its_page_and_its_evidence_is_403(world, casework_env):
    submit(with_image(csam()))
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    status, page = call(ANALYST, "GET", "/v1/cases")
    assert status == 200 and page["cases"] == [], page
    status, page = call(CHILD_SAFETY, "GET", "/v1/cases")
    assert status == 200 and len(page["cases"]) == 1
    case_id = page["cases"][0]["caseId"]
    assert call(ANALYST, "GET", f"/v1/cases/{case_id}")[0] == 404
    status, view = call(CHILD_SAFETY, "GET", f"/v1/cases/{case_id}")
    assert status == 200
    (evidence,) = view["reports"][0]["evidence"]
    assert evidence["sha256"] == hashlib.sha256(IMAGE).hexdigest() and "payload" not in evidence
    refused, body = call(ANALYST, "POST", f"/v1/evidence/{evidence['evidenceId']}/views", {"purpose": "triage"})
    assert refused == 403, body
    status, granted = call(CHILD_SAFETY, "POST", f"/v1/evidence/{evidence['evidenceId']}/views", {"purpose": "triage"})
    assert status == 201 and granted["expiresIn"] == 60
    events = call(CHILD_SAFETY, "GET", f"/v1/cases/{case_id}")[1]["custody"][evidence["evidenceId"]]
    viewed = [event for event in events if event["step"] == "viewed"]
    assert len(viewed) == 1 and viewed[0]["viewedByHuman"] is True and viewed[0]["by"] == "cy"
    log = call(CHILD_SAFETY, "GET", "/v1/audit", query={"actor": "cy"})[1]["entries"]
    assert [entry["action"] for entry in log] == ["viewed_evidence"]
    assert call(ANALYST, "GET", "/v1/audit", query={"actor": "cy"})[1]["entries"] == []


def test_a_claimed_case_refuses_a_second_analysts_decision_and_takes_the_holders(world, phishing_case):
    assert call(ANALYST, "POST", f"/v1/cases/{phishing_case}/claim")[0] == 200
    status, refused = call(SECOND_ANALYST, "POST", f"/v1/cases/{phishing_case}/claim")
    assert status == 409 and "ana" in refused["message"]
    decision = {"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "A credential phishing page."}
    status, refused = call(SECOND_ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", decision)
    assert status == 409, refused
    status, decided = call(ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", decision | {"note": "kit X"})
    assert status == 201 and decided["statementOfReasons"] is True
    stored = case(world, phishing_case)
    assert stored["caseStatus"]["S"] == "DECIDED" and stored["decisionReason"]["S"] == "ACTIONED"
    assert [c["caseId"] for c in call(ANALYST, "GET", "/v1/cases", query={"status": "DECIDED"})[1]["cases"]] == [
        phishing_case
    ]
    log = call(ANALYST, "GET", "/v1/audit", query={"caseId": phishing_case})[1]["entries"]
    assert [entry["action"] for entry in log] == ["decided", "claimed"]


def test_a_restriction_without_a_statement_is_refused_with_a_pointer_and_writes_nothing(world, phishing_case):
    status, refused = call(
        ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", {"reasonCode": "ACTIONED", "action": "RESTRICT"}
    )
    assert status == 422 and refused["unmetRequirements"], refused
    assert "decisionId" not in case(world, phishing_case)
    status, refused = call(ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", {"reasonCode": "MAYBE"})
    assert status == 422 and refused["unmetRequirements"][0]["path"] == "/reasonCode"


def test_destruction_is_for_custodians_and_leaves_the_hashes(world, casework_env):
    submit(with_image(csam()))
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    case_id = call(CHILD_SAFETY, "GET", "/v1/cases")[1]["cases"][0]["caseId"]
    (evidence,) = call(CHILD_SAFETY, "GET", f"/v1/cases/{case_id}")[1]["reports"][0]["evidence"]
    path = f"/v1/evidence/{evidence['evidenceId']}/destruction"
    order = {"legalRequestReference": "LE-2026-0042"}
    assert call(CHILD_SAFETY, "POST", path, order)[0] == 403
    status, destroyed = call(CUSTODIAN, "POST", path, order)
    assert status == 201 and destroyed["versionsDeleted"] >= 1, destroyed
    s3 = boto3.client("s3")
    key = "intake/sha256/" + evidence["sha256"]
    versions = s3.list_object_versions(Bucket=world.physical_name("EvidenceBucket"), Prefix=key).get("Versions", [])
    assert versions == []
    view = call(CHILD_SAFETY, "GET", f"/v1/cases/{case_id}")[1]
    assert view["reports"][0]["evidence"][0]["sha256"] == evidence["sha256"]
    assert [e["step"] for e in view["custody"][evidence["evidenceId"]]][-1] == "destroyed"


def test_unknown_ids_and_foreign_tokens_are_refused_without_a_5xx(world, phishing_case):
    assert call(ANALYST, "GET", "/v1/cases/" + "0" * 32)[0] == 404
    assert call(ANALYST, "GET", "/v1/cases/not-a-case")[0] == 404
    assert call(ANALYST, "POST", "/v1/evidence/sha256-zz/views", {"purpose": "triage"})[0] == 404
    assert call(ANALYST, "GET", "/v1/cases", query={"nextToken": "bm90LWEtdG9rZW4"})[0] == 400
    assert call(ANALYST, "GET", "/v1/cases", query={"limit": "0"})[0] == 422
    assert call(ANALYST, "GET", "/v1/cases", query={"audience": "child_safety"})[0] == 403


def new_reports(world, seen: set[str]) -> list[dict[str, Any]]:
    return [item for item in report_items(world) if item["reportId"]["S"] not in seen]


def test_a_report_after_a_standing_restriction_completes_at_once_with_its_reason(world, phishing_case):
    decision = {"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "A credential phishing page."}
    status, decided = call(ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", decision)
    assert status == 201
    seen = {item["reportId"]["S"] for item in report_items(world)}
    later = submit(xarf(url=URL, source_identifier="198.51.100.99"), PARTNER_B)
    assert dispatch(stream_event(world, new_reports(world, seen), first_sequence=100)["Records"]) == []
    (stored,) = [item for item in report_items(world) if item["reportId"]["S"] == later["reportId"]]
    assert stored["status"]["S"] == "COMPLETED" and stored["reasonCode"]["S"] == "ACTIONED"
    assert stored["decisionId"]["S"] == decided["decisionId"]
    assert case(world, phishing_case)["caseStatus"]["S"] == "DECIDED", "a standing restriction keeps the case decided"


def test_a_report_after_a_decision_that_did_not_restrict_reopens_the_case(world, phishing_case):
    status, _ = call(ANALYST, "POST", f"/v1/cases/{phishing_case}/decisions", {"reasonCode": "REVIEWED_NO_AWS_ACTION"})
    assert status == 201
    assert call(ANALYST, "GET", "/v1/cases")[1]["cases"] == []
    seen = {item["reportId"]["S"] for item in report_items(world)}
    later = submit(xarf(url=URL, source_identifier="198.51.100.99"), PARTNER_B)
    assert dispatch(stream_event(world, new_reports(world, seen), first_sequence=100)["Records"]) == []
    (stored,) = [item for item in report_items(world) if item["reportId"]["S"] == later["reportId"]]
    assert stored["status"]["S"] == "PROCESSING"
    (listed,) = call(ANALYST, "GET", "/v1/cases")[1]["cases"]
    assert listed["caseId"] == phishing_case and listed["status"] == "OPEN" and listed["reportCount"] == 3


def list_by_correlation(principal: str, correlation_id: str, **query: str) -> tuple[int, dict[str, Any]]:
    from functions.intake.handler import lambda_handler as intake
    from tests.conftest import load_event

    event = load_event("get_report.json")
    event["resource"] = event["requestContext"]["resourcePath"] = "/v1/reports"
    event["path"] = "/v1/reports"
    event["pathParameters"] = None
    event["queryStringParameters"] = {"correlationId": correlation_id, **query}
    event["requestContext"]["identity"].update(userArn=principal, accessKey=None)
    answer = intake(event, FunctionContext("IntakeFunction"))
    return answer["statusCode"], json.loads(answer["body"])


def test_partners_list_their_own_outcomes_by_correlation_id_a_page_at_a_time(world, casework_env):
    from tests.integration.test_dispatch import PARTNER_A

    ours = [submit_with(xarf(url=f"https://phish.example.org/{n}"), PARTNER_A, "ticket-7") for n in range(3)]
    submit_with(xarf(url="https://phish.example.org/other"), PARTNER_B, "ticket-7")
    status, first = list_by_correlation(PARTNER_A, "ticket-7", maxResults="2")
    assert status == 200 and [r["reportId"] for r in first["reports"]] == [r["reportId"] for r in ours[:2]]
    status, second = list_by_correlation(PARTNER_A, "ticket-7", nextToken=first["nextToken"])
    assert status == 200 and [r["reportId"] for r in second["reports"]] == [ours[2]["reportId"]]
    assert all(r["status"] == "QUEUED" for r in first["reports"] + second["reports"])
    assert list_by_correlation(PARTNER_A, "ticket-8")[1]["reports"] == []
    assert list_by_correlation(PARTNER_A, "ticket-7", maxResults="51")[0] == 422
    status, refused = list_by_correlation(PARTNER_B, "ticket-7", nextToken=first["nextToken"])
    assert status == 422 and refused["unmetRequirements"][0]["path"] == "/nextToken", "another caller's token"


def submit_with(report: dict[str, Any], principal: str, correlation_id: str) -> dict[str, Any]:
    from functions.intake.handler import lambda_handler as intake
    from tests.conftest import load_event

    event = load_event("submit_report.json")
    event["body"] = json.dumps({"report": report, "correlationId": correlation_id})
    event["requestContext"]["identity"].update(userArn=principal, accessKey=None)
    answer = intake(event, FunctionContext("IntakeFunction"))
    assert answer["statusCode"] == 202, answer["body"]
    return json.loads(answer["body"])


def test_a_reporters_email_is_shown_only_on_request_and_the_request_is_audited(world, casework_env):
    reported = xarf(url=URL)
    reported["reporter"] = {**reported["reporter"], "contact": "abuse-desk@hotline-a.example"}
    submit(reported)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    case_id = case_id_for(URL, "content")
    status, page = call(ANALYST, "GET", f"/v1/cases/{case_id}")
    assert status == 200 and "abuse-desk@hotline-a.example" not in json.dumps(page)
    assert call(ANALYST, "GET", "/v1/audit", query={"caseId": case_id})[1]["entries"] == []
    status, page = call(ANALYST, "GET", f"/v1/cases/{case_id}", query={"reveal": "contacts"})
    assert status == 200 and page["reports"][0]["contact"]["reporterContact"] == "abuse-desk@hotline-a.example"
    log = call(ANALYST, "GET", "/v1/audit", query={"caseId": case_id})[1]["entries"]
    assert [(entry["action"], entry["actor"]) for entry in log] == [("revealed_contacts", "ana")]
    assert call(ANALYST, "GET", f"/v1/cases/{case_id}", query={"reveal": "everything"})[0] == 422


def test_a_reporter_whose_notices_are_mostly_unfounded_is_flagged_and_an_analyst_suspends_them(world, phishing_case):
    from shared.domain.cases import reporter_key
    from tests.integration.test_dispatch import PARTNER_A

    flagged, fine = reporter_key(PARTNER_A), reporter_key(PARTNER_B)
    ddb = boto3.client("dynamodb")
    for reporter, no_action in ((flagged, 22), (fine, 2)):
        ddb.put_item(
            TableName=world.physical_name("ReportsTable"),
            Item={
                "PK": {"S": f"REPORTER#{reporter}"},
                "SK": {"S": "RECORD"},
                "entity": {"S": "reporter"},
                "decided": {"N": "25"},
                "actioned": {"N": str(25 - no_action)},
                "noAction": {"N": str(no_action)},
            },
        )
    page = call(ANALYST, "GET", f"/v1/cases/{phishing_case}")[1]
    records = {r["reporter"]["partner"]: r["reporter"]["trackRecord"] for r in page["reports"]}
    assert records["Hotline A"]["flagged"] is True and records["Hotline A"]["shareActioned"] == 3 / 25
    assert records["Hotline B"]["flagged"] is False and records["Hotline B"]["shareActioned"] == 23 / 25
    reason = {"reason": "22 of 25 notices reviewed with nothing to act on; warned on 2026-11-02"}
    status, refused = call(ANALYST, "POST", f"/v1/reporters/{fine}/suspension", reason)
    assert status == 409, refused
    status, suspended = call(ANALYST, "POST", f"/v1/reporters/{flagged}/suspension", reason)
    assert status == 201 and suspended["suspended"] is True
    page = call(ANALYST, "GET", f"/v1/cases/{phishing_case}")[1]
    assert {r["reporter"]["partner"]: r["reporter"]["trackRecord"]["suspended"] for r in page["reports"]} == {
        "Hotline A": True,
        "Hotline B": False,
    }
    log = call(ANALYST, "GET", "/v1/audit", query={"actor": "ana"})[1]["entries"]
    assert log[0]["action"] == "suspended_reporter" and log[0]["detail"]["reporterId"] == flagged
