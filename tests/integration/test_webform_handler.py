"""The web form function as Lambda runs it: the events/webform_*.json API events in, HTML out, the table from the
template in moto."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from functions.webform import handler
from functions.webform.handler import lambda_handler
from shared.domain.errors import StoreUnavailable
from tests.conftest import load_event, table_items


class Context:
    function_name = "WebFormFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebFormFunction"
    aws_request_id = "5d6e7f80-0000-4000-8000-000000000002"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def invoke(event: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
    answer = lambda_handler(event, Context())
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    headers |= {k.lower(): ",".join(v) for k, v in (answer.get("multiValueHeaders") or {}).items()}
    return answer["statusCode"], answer.get("body") or "", headers


def with_fields(event: dict[str, Any], **changes: str) -> dict[str, Any]:
    fields = dict(parse_qsl(event["body"], keep_blank_values=True))
    fields.update(changes)
    return {**event, "body": urlencode({k: v for k, v in fields.items() if v is not None})}


def with_headers(event: dict[str, Any], **headers: str) -> dict[str, Any]:
    merged = {**event["headers"], **headers}
    return {**event, "headers": merged, "multiValueHeaders": {k: [v] for k, v in merged.items()}}


def text_of(body: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', body)
    assert match, f"no #{element_id}"
    return match.group(1)


def assert_security_headers(headers: dict[str, str]) -> None:
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert "camera=()" in headers["permissions-policy"]


def test_the_form_is_served_as_html_with_security_headers_a_nonce_and_stage_links(world):
    status, body, headers = invoke(load_event("webform_form.json"))
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert_security_headers(headers)
    assert headers["cache-control"] == "no-store", "a cached form would hand two people one nonce"
    assert re.search(r'name="nonce" value="[A-Za-z0-9_-]{43}"', body)
    assert 'action="/live/"' in body and 'href="/live/status"' in body


def test_the_sample_submission_is_stored_as_an_anonymous_form_report_in_one_write(world, aws_calls):
    status, body, headers = invoke(load_event("webform_submit.json"))
    assert status == 200, body
    assert_security_headers(headers)
    assert headers["cache-control"] == "no-store", "the page shows a receipt token"
    report_id, token = text_of(body, "report-id"), text_of(body, "receipt-token")
    (item,) = table_items(world)
    assert item["reportId"]["S"] == report_id
    assert (item["principal"]["S"], item["trustTier"]["N"], item["sourceFormat"]["S"]) == ("anonymous", "0", "form")
    assert (item["category"]["S"], item["type"]["S"]) == ("content", "phishing")
    assert item["s3Objects"]["L"] == [{"S": "s3://demo-customer-content/pages/login.html"}]
    assert token not in json.dumps(item), "only the receipt's hash is stored"
    assert json.loads(item["details"]["S"])["good_faith_statement"] is True
    assert aws_calls == {"PutItem": 1}


def test_sending_the_same_page_again_answers_with_the_same_report_and_receipt(world):
    event = load_event("webform_submit.json")
    _, first, _ = invoke(event)
    status, again, _ = invoke(event)
    assert status == 200 and "already sent this report" in again
    assert (text_of(again, "report-id"), text_of(again, "receipt-token")) == (
        text_of(first, "report-id"),
        text_of(first, "receipt-token"),
    )
    assert len(table_items(world)) == 1


def test_the_status_page_shows_the_report_to_the_holder_of_its_receipt(world):
    _, confirmation, _ = invoke(load_event("webform_submit.json"))
    report_id, token = text_of(confirmation, "report-id"), text_of(confirmation, "receipt-token")
    event = with_fields(load_event("webform_status.json"), report_id=report_id, receipt_token=token)
    status, body, headers = invoke(event)
    assert status == 200 and text_of(body, "report-status") == "Received"
    assert headers["cache-control"] == "no-store"
    refused, body, _ = invoke(with_fields(event, receipt_token="wrong"))
    assert refused == 404 and "could not find a report" in body and f'value="{report_id}"' in body


def test_refused_answers_come_back_with_each_error_and_what_was_typed(world):
    event = with_fields(load_event("webform_submit.json"), urls="javascript:alert(1)", good_faith=None)
    status, body, headers = invoke(event)
    assert status == 422 and headers["cache-control"] == "no-store"
    assert 'id="urls-error"' in body and 'id="good_faith-error"' in body
    assert "javascript:alert(1)</textarea>" in body
    assert table_items(world) == []


@pytest.mark.parametrize(
    ("when", "tz_offset", "message"),
    [
        ("0001-01-01T00:00", "60", "The date must be within the last 12 months"),
        ("9999-12-31T23:59", "-60", "The date and time must be in the past"),
    ],
)
def test_a_date_at_the_end_of_the_calendar_is_refused_next_to_its_field(world, when: str, tz_offset: str, message):
    status, body, headers = invoke(with_fields(load_event("webform_submit.json"), when=when, tz_offset=tz_offset))
    assert status == 422 and headers["content-type"] == "text/html; charset=utf-8"
    assert f'<a href="#when">{message}</a>' in body, "listed in the error summary, linked to the field"
    assert 'id="when-error"' in body and f'value="{when}"' in body
    assert table_items(world) == []


def test_the_local_stacks_http_origin_is_this_sites_own_when_the_gateway_says_http(world):
    event = with_headers(
        load_event("webform_submit.json"),
        **{
            "Host": "127.0.0.1:3000",
            "Origin": "http://127.0.0.1:3000",
            "X-Forwarded-Proto": "http",
            "Sec-Fetch-Site": "",
        },
    )
    status, body, _ = invoke(event)
    assert status == 200 and text_of(body, "report-id")


def test_a_script_in_every_field_is_escaped_and_nothing_is_stored(world):
    hostile = "<script>alert(1)</script>"
    fields = dict.fromkeys(("kind", "urls", "explanation", "when", "tz_offset", "name", "email", "nonce"), hostile)
    status, body, _ = invoke(with_fields(load_event("webform_submit.json"), **fields))
    assert status == 422
    assert "<script>alert" not in body and body.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    assert table_items(world) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "", "Origin": "http://abc123.execute-api.us-east-1.amazonaws.com"}, 403),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ],
    ids=["cross-site", "foreign origin", "same host over http", "multipart"],
)
def test_posts_that_are_not_this_pages_form_get_a_plain_error_page(world, headers: dict[str, str], status: int):
    answer, body, answer_headers = invoke(with_headers(load_event("webform_submit.json"), **headers))
    assert answer == status and answer_headers["content-type"] == "text/html; charset=utf-8"
    assert_security_headers(answer_headers)
    assert "<h1" in body and table_items(world) == []


def test_a_body_api_gateway_passed_as_base64_is_read_and_broken_base64_is_a_plain_400(world):
    event = load_event("webform_submit.json")
    encoded = {**event, "isBase64Encoded": True, "body": base64.b64encode(event["body"].encode()).decode()}
    status, body, _ = invoke(encoded)
    assert status == 200 and text_of(body, "report-id")
    status, body, headers = invoke({**encoded, "body": "not base64!"})
    assert status == 400 and "Sorry, we could not read the form" in body
    assert_security_headers(headers)
    assert len(table_items(world)) == 1


def test_when_the_table_is_unavailable_the_form_comes_back_with_what_was_typed(world, monkeypatch):
    class Down:
        def put_new(self, report):
            raise StoreUnavailable("ProvisionedThroughputExceededException")

        def get(self, key_hex):
            raise StoreUnavailable("ProvisionedThroughputExceededException")

    monkeypatch.setattr(handler, "_table", Down)
    event = load_event("webform_submit.json")
    status, body, headers = invoke(event)
    assert status == 503 and headers["retry-after"] == "1"
    assert "nothing was sent" in body and "login.example.net/account/verify" in body
    nonce = dict(parse_qsl(event["body"]))["nonce"]
    assert f'value="{nonce}"' in body, "the same nonce, so sending again cannot make two reports"


@pytest.mark.parametrize(("name", "content_type"), [("app.js", "text/javascript"), ("app.css", "text/css")])
def test_assets_are_served_with_their_type_and_cached_by_version(world, name: str, content_type: str):
    event = {**load_event("webform_form.json"), "resource": "/assets/{name}", "path": f"/assets/{name}"}
    event["pathParameters"] = {"name": name}
    status, body, headers = invoke(event)
    assert status == 200 and headers["content-type"].startswith(content_type) and body
    assert headers["x-content-type-options"] == "nosniff" and "immutable" in headers["cache-control"]


def test_an_unknown_asset_is_a_404_page(world):
    event = {**load_event("webform_form.json"), "resource": "/assets/{name}", "path": "/assets/../../etc/passwd"}
    event["pathParameters"] = {"name": "..%2F..%2Fetc%2Fpasswd"}
    status, body, headers = invoke(event)
    assert status == 404 and headers["content-type"].startswith("text/html") and "Page not found" in body


def test_a_page_sent_again_with_other_answers_keeps_the_first_report_and_offers_a_fresh_nonce(world):
    event = load_event("webform_submit.json")
    invoke(event)
    status, body, _ = invoke(with_fields(event, explanation="Edited after going Back."))
    assert status == 409 and "We kept that report" in body and "Edited after going Back." in body
    old_nonce = dict(parse_qsl(event["body"]))["nonce"]
    fresh = re.search(r'name="nonce" value="([A-Za-z0-9_-]{43})"', body)
    assert fresh and fresh.group(1) != old_nonce
    status, _, _ = invoke(with_fields(event, explanation="Edited after going Back.", nonce=fresh.group(1)))
    assert status == 200 and len(table_items(world)) == 2
