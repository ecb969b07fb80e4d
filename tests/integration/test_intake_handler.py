"""The intake function as Lambda runs it: API Gateway events in, HTTP answers out, the table built from the template."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from functions.intake.handler import lambda_handler
from tests.conftest import load_event, table_items
from tests.samples import with_fresh_timestamp, xarf


class Context:
    function_name = "IntakeFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IntakeFunction"
    aws_request_id = "5d6e7f80-0000-4000-8000-000000000001"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = lambda_handler(event, Context())
    body = json.loads(answer["body"]) if answer.get("body") else {}
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    headers |= {k.lower(): ",".join(v) for k, v in (answer.get("multiValueHeaders") or {}).items()}
    return answer["statusCode"], body, headers


def submit_event(payload: dict[str, Any] | str | bytes, **overrides: Any) -> dict[str, Any]:
    event = load_event("submit_report.json")
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    event["body"] = payload.decode("utf-8", "surrogateescape") if isinstance(payload, bytes) else payload
    event.update(overrides)
    return event


def anonymous(event: dict[str, Any]) -> dict[str, Any]:
    identity = event["requestContext"]["identity"]
    for name in ("accessKey", "accountId", "caller", "user", "userArn"):
        identity[name] = None
    return event


def test_the_sample_event_is_accepted_with_a_report_id_and_receipt(world, aws_calls):
    status, body, headers = invoke(with_fresh_timestamp(load_event("submit_report.json")))
    assert status == 202, body
    assert body["status"] == "QUEUED" and body["duplicate"] is False
    assert len(body["reportId"]) == 26 and body["receiptToken"]
    assert headers["content-type"] == "application/json"
    (item,) = table_items(world)
    assert item["reportId"]["S"] == body["reportId"]
    assert item["resources"]["L"] == [{"S": "s3://demo-customer-content/pages/login.html"}]
    assert "receiptToken" not in json.dumps(item) and body["receiptToken"] not in json.dumps(item)
    assert aws_calls == {"PutItem": 1}


def test_the_xarf_v3_sample_event_is_converted_and_accepted(world):
    event = load_event("submit_report_xarf_v3.json")
    payload = json.loads(event["body"])
    payload["report"]["Report"]["Date"] = xarf()["timestamp"]
    event["body"] = json.dumps(payload)
    status, body, _ = invoke(event)
    assert status == 202, body
    (item,) = table_items(world)
    assert (item["category"]["S"], item["type"]["S"], item["sourceFormat"]["S"]) == ("messaging", "spam", "xarf3")


def test_a_replay_answers_with_the_original_in_one_call_and_no_read(world, aws_calls):
    event = with_fresh_timestamp(load_event("submit_report.json"))
    _, first, _ = invoke(event)
    aws_calls.clear()
    status, again, _ = invoke(event)
    assert status == 202
    assert (again["reportId"], again["duplicate"]) == (first["reportId"], True)
    assert aws_calls == {"PutItem": 1}
    assert len(table_items(world)) == 1


def test_a_reused_client_token_with_other_content_is_a_conflict(world):
    event = with_fresh_timestamp(load_event("submit_report.json"))
    invoke(event)
    payload = json.loads(event["body"])
    payload["report"]["description"] = "something else entirely"
    status, body, _ = invoke(submit_event(payload))
    assert status == 409
    assert body["unmetRequirements"][0]["code"] == "rule.client_token.reused"
    assert len(table_items(world)) == 1


def test_the_submitter_reads_the_status_and_a_stranger_gets_not_found(world, aws_calls):
    _, receipt, _ = invoke(with_fresh_timestamp(load_event("submit_report.json")))
    lookup = lookup_event(receipt["reportId"])
    aws_calls.clear()
    status, body, _ = invoke(lookup)
    assert status == 200, body
    assert body["reportId"] == receipt["reportId"] and body["status"] == "QUEUED" and body["receivedAt"]
    assert aws_calls == {"GetItem": 1}
    stranger = json.loads(json.dumps(lookup))
    stranger["requestContext"]["identity"]["userArn"] = "arn:aws:iam::999999999999:user/someone-else"
    assert invoke(stranger)[0] == 404
    assert invoke(anonymous(json.loads(json.dumps(lookup))))[0] == 404


def test_an_anonymous_reporter_reads_the_status_with_the_receipt_token(world):
    status, receipt, _ = invoke(anonymous(with_fresh_timestamp(load_event("submit_report.json"))))
    assert status == 202
    lookup = anonymous(lookup_event(receipt["reportId"]))
    lookup["headers"]["X-Receipt-Token"] = receipt["receiptToken"]
    lookup["multiValueHeaders"]["X-Receipt-Token"] = [receipt["receiptToken"]]
    assert invoke(lookup)[0] == 200
    token = receipt["receiptToken"]
    # One character changed (when the token ends in "A" already, appending "A" would leave it as it was: 1 in 64).
    lookup["headers"]["X-Receipt-Token"] = token[:-1] + ("B" if token.endswith("A") else "A")
    lookup["multiValueHeaders"]["X-Receipt-Token"] = [lookup["headers"]["X-Receipt-Token"]]
    assert invoke(lookup)[0] == 404


def test_the_sample_get_event_for_an_unknown_report_is_not_found(world):
    status, body, _ = invoke(load_event("get_report.json"))
    assert status == 404
    assert body["unmetRequirements"][0]["code"] == "rule.report_id.not_found"


def lookup_event(report_id: str) -> dict[str, Any]:
    event = load_event("get_report.json")
    event["pathParameters"] = {"reportId": report_id}
    event["path"] = f"/v1/reports/{report_id}"
    return event


def _report(**changes: Any) -> dict[str, Any]:
    return {"clientToken": "hostile-1", "report": xarf(**changes)}


def _nested(depth: int) -> str:
    return '{"report": ' + "[" * depth + "]" * depth + "}"


HOSTILE: dict[str, tuple[Any, dict[str, Any]]] = {
    "report is a string": ({"report": "phishing"}, {}),
    "report is null": ({"report": None}, {}),
    "no report": ({"clientToken": "x"}, {}),
    "clientToken is a number": ({**_report(), "clientToken": 42}, {}),
    "clientToken too long": ({**_report(), "clientToken": "t" * 65}, {}),
    "clientToken with CR/LF": ({**_report(), "clientToken": "a\r\nX-Injected: 1"}, {}),
    "unknown top-level field": ({**_report(), "priority": "urgent"}, {}),
    "source_identifier is null": (_report(source_identifier=None), {}),
    "huge description": (_report(description="x" * 200_000), {}),
    "huge org": ({"report": {**xarf(), "reporter": {**xarf()["reporter"], "org": "o" * 50_000}}}, {}),
    "NUL in description": (_report(description="before\x00after"), {}),
    "CR/LF in reporter org": ({"report": {**xarf(), "reporter": {**xarf()["reporter"], "org": "a\r\nb"}}}, {}),
    "bidi override in description": (_report(description="invoice \u202egpj.exe"), {}),
    "bidi override in source host": (_report(source_identifier="paypal\u202e.com"), {}),
    "zero-width character in url host": (_report(url="https://pay\u200bpal.com/login"), {}),
    "invalid IDNA punycode host": (_report(url="https://xn--a.example/login"), {}),
    "IDNA host with a disallowed code point": (_report(url="https://exa\u2028mple.com/"), {}),
    "homoglyph host hidden behind a soft hyphen": (_report(source_identifier="pa\u00adypal.com"), {}),
    "file: URL": (_report(url="file:///etc/passwd"), {}),
    "javascript: URL": (_report(url="javascript:alert(document.cookie)"), {}),
    "data: URL": (_report(url="data:text/html;base64,PHNjcmlwdD4="), {}),
    "decimal IP": (_report(source_identifier="3232235777"), {}),
    "hex IP": (_report(source_identifier="0xC0A80101"), {}),
    "octal IP in a URL": (_report(url="http://0300.0250.0001.0001/"), {}),
    "dot-dot in an S3 key": (_report(url="s3://demo-customer-content/public/../private/x"), {}),
    "S3 ARN": (_report(url="arn:aws:s3:::demo-customer-content/pages/login.html"), {}),
    "S3 access point": (_report(url="https://ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com/k"), {}),
    "xarf_version 5": (_report(xarf_version="5.0.0"), {}),
    "unknown category": (_report(category="everything"), {}),
    "incident in the future": (_report(timestamp="2999-01-01T00:00:00Z"), {}),
    "port as a huge number": (_report(source_port=10**30), {}),
    "evidence payload not base64": (_report(evidence=[{"content_type": "text/plain", "payload": "%%%"}]), {}),
    "duplicate keys at the top": ('{"report": {}, "report": ' + json.dumps(xarf()) + "}", {}),
    "duplicate keys in the report": (
        json.dumps({"report": xarf()})[:-2] + ', "source_identifier": "198.51.100.1"}}',
        {},
    ),
    "deep nesting": (_nested(100_000), {}),
    "NaN literal": ('{"report": NaN}', {}),
    "lone surrogate escape": ('{"report": {"description": "\\ud800"}}', {}),
    "not JSON at all": ("report=phishing&url=x", {}),
    "empty body": ("", {}),
    "top-level array": ("[1, 2, 3]", {}),
    "base64 of a valid body": (base64.b64encode(json.dumps(_report()).encode()).decode(), {}),
    "invalid base64 with isBase64Encoded": ("***", {"isBase64Encoded": True}),
    "text/plain content type": (_report(), {"headers": {"Content-Type": "text/plain"}}),
    "form content type": (_report(), {"headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    "over 5 MB": ({"report": xarf(description="x" * (5 * 1024 * 1024))}, {}),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bodies_get_a_4xx_with_reasons_and_write_nothing(world, aws_calls, name):
    payload, overrides = HOSTILE[name]
    event = submit_event(payload)
    for key, value in overrides.items():
        event[key] = {**event[key], **value} if isinstance(value, dict) else value
    status, body, _ = invoke(event)
    assert 400 <= status < 500, (status, body)
    assert body["message"]
    assert body["unmetRequirements"], body
    assert all(
        set(r) == {"path", "code", "message"} and r["code"].startswith("rule.") for r in body["unmetRequirements"]
    )
    assert "PutItem" not in aws_calls and table_items(world) == []


def test_hostile_table_is_large_enough():
    assert len(HOSTILE) >= 30


def batch_event(items: list[dict[str, Any]]) -> dict[str, Any]:
    event = submit_event({"reports": items})
    event["path"] = event["requestContext"]["path"] = "/v1/reports/batch"
    event["resource"] = event["requestContext"]["resourcePath"] = "/v1/reports/batch"
    return event


def test_a_batch_stores_its_valid_items_and_explains_the_invalid_one(world, aws_calls):
    items = [
        {"clientToken": "batch-1", "report": xarf(description="first")},
        {"clientToken": "batch-2", "report": xarf(url="javascript:alert(1)")},
        {"clientToken": "batch-3", "report": xarf(description="third")},
        {"report": xarf(description="fourth")},
    ]
    status, body, _ = invoke(batch_event(items))
    assert status == 200, body
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == [202, 422, 202, 202]
    assert results[1]["unmetRequirements"][0]["path"] == "/reports/1/report/url"
    assert all(len(r["reportId"]) == 26 and r["duplicate"] is False for r in results if r["status"] == 202)
    assert len(table_items(world)) == 3
    assert aws_calls == {"PutItem": 3}, "one conditional write per stored item, no reads"


def test_a_replayed_batch_answers_duplicates_and_stores_nothing_new(world):
    items = [{"clientToken": f"replay-{n}", "report": xarf(description=f"item {n}")} for n in range(5)]
    _, first, _ = invoke(batch_event(items))
    _, again, _ = invoke(batch_event(items))
    assert [r["reportId"] for r in again["results"]] == [r["reportId"] for r in first["results"]]
    assert all(r["duplicate"] for r in again["results"])
    assert len(table_items(world)) == 5


@pytest.mark.parametrize(
    "payload",
    [{"reports": []}, {"reports": [{"report": xarf()}] * 101}, {"reports": "x"}, {"items": []}],
    ids=["empty", "over 100", "not a list", "wrong field"],
)
def test_a_body_that_is_not_a_batch_is_refused_whole(world, payload):
    status, body, _ = invoke(batch_event(payload.get("reports", [])) | {"body": json.dumps(payload)})
    assert status == 422 and body["unmetRequirements"]
    assert table_items(world) == []


def test_the_openapi_document_describes_every_route_of_the_template(world):
    from local.template import api_routes

    event = load_event("get_report.json")
    event["path"] = event["requestContext"]["path"] = "/v1/openapi.json"
    status, document, _ = invoke(event)
    assert status == 200 and document["openapi"].startswith("3.1")
    intake_routes = {
        (route.method.lower(), route.path)
        for route in api_routes(world.template, world.resolve)
        if route.function == "IntakeFunction"
    }
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert intake_routes == documented
    refusal = document["paths"]["/v1/reports"]["post"]["responses"]["422"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/Refusal")


def test_the_docs_page_is_served_with_the_forms_security_headers_and_only_its_own_style(world):
    event = load_event("get_report.json")
    event["path"] = event["requestContext"]["path"] = "/v1/docs"
    answer = lambda_handler(event, Context())
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    headers |= {k.lower(): ",".join(v) for k, v in (answer.get("multiValueHeaders") or {}).items()}
    body = answer["body"]
    assert answer["statusCode"] == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "POST /v1/reports/batch" in body
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer" and "camera=()" in headers["permissions-policy"]
    assert headers["cache-control"].startswith("public, max-age=")
    policy = dict(directive.split(" ", 1) for directive in headers["content-security-policy"].split("; "))
    assert policy["default-src"] == "'none'" and "script-src" not in policy, "no script at all"
    assert (policy["frame-ancestors"], policy["base-uri"]) == ("'none'", "'none'")
    # The browser applies the page's style only if its hash is the one the policy names; nothing inline is allowed.
    (style,) = re.findall(r"<style>(.*?)</style>", body, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"


# --- The front door takes what real reporters send (issue 10) --------------------------------------------------------

XARF_SAMPLES = sorted((Path(__file__).parent.parent / "fixtures" / "xarf" / "v4").glob("*.json"))


def test_every_published_xarf_v4_sample_is_accepted_as_it_is_with_one_write_each(world, aws_calls):
    assert len(XARF_SAMPLES) == 32
    for path in XARF_SAMPLES:
        status, body, _ = invoke(submit_event(b'{"report": ' + path.read_bytes() + b"}"))
        assert status == 202, (path.stem, body)
    items = [item for item in table_items(world) if item["entity"]["S"] == "report"]
    with_payloads = [json.loads(path.read_bytes()).get("evidence") for path in XARF_SAMPLES]
    distinct = [{hashlib.sha256(base64.b64decode(e["payload"])).hexdigest() for e in ev} for ev in with_payloads if ev]
    assert aws_calls == Counter(  # a Counter: a count of 0 equals an absent one
        PutItem=32 - len(distinct),
        TransactWriteItems=len(distinct),  # the report and its payloads' custody events: one write
        PutObject=sum(len(hashes) for hashes in distinct),
    ), "one conditional write per report, one put per distinct payload, no reads"
    assert len(items) == 32
    assert all(item["stale"] == {"BOOL": True} for item in items), "January 2025 incidents: accepted, marked stale"
    spam = next(item for item in items if item["type"]["S"] == "spam")
    assert json.loads(spam["details"]["S"]) == {
        "protocol": "smtp",
        "smtp_from": "marketing@example.com",
        "subject": "Urgent: Claim Your Prize Now!",
    }


def test_a_typical_report_item_with_its_extensions_stays_under_one_write_unit(world):
    from tests.integration.test_sweeper import item_bytes

    invoke(submit_event({"report": xarf(target_brand="Example Bank", vendor_ticket="VT-20261202-0042")}))
    (item,) = table_items(world)
    assert item["stale"] == {"BOOL": False}
    assert json.loads(item["details"]["S"]) == {"target_brand": "Example Bank", "vendor_ticket": "VT-20261202-0042"}
    assert item_bytes(item) < 1024


def test_a_5_mb_body_of_unknown_fields_answers_at_most_64_kb_and_writes_nothing(world, aws_calls):
    fields = {f"vendor_field_{n}": "\u202e" for n in range(150_000)}
    payload = json.dumps({"report": xarf(**fields)})
    assert 4 * 1024 * 1024 < len(payload) <= 5 * 1024 * 1024
    answer = lambda_handler(submit_event(payload), Context())
    assert answer["statusCode"] == 422
    assert len(answer["body"].encode()) <= 64 * 1024
    body = json.loads(answer["body"])
    assert (
        len(body["unmetRequirements"]) == 100 and body["omittedRequirements"] == 150_000 + 1 - 100
    )  # and the 16 KB budget
    assert "PutItem" not in aws_calls and table_items(world) == []


def test_a_refusal_with_three_distinct_problems_lists_all_three(world):
    report = xarf(timestamp="2026-12-02 10:00")
    report["reporter"]["contact"] = "not an address"
    del report["url"]
    status, body, _ = invoke(submit_event({"report": report}))
    assert status == 422
    assert [(r["path"], r["code"]) for r in body["unmetRequirements"]] == [
        ("/report/reporter/contact", "rule.contact.malformed"),
        ("/report/timestamp", "rule.timestamp.malformed"),
        ("/report/url", "rule.url.missing"),
    ]
