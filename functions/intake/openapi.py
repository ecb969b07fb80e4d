"""The partner API's OpenAPI 3.1 document, generated from the same pydantic models that validate requests (rendered
for people by functions/intake/docs.py from functions/intake/templates/docs.html).

Imported only by the routes that serve it, so the schema generation never weighs on a reporter's cold start. The
response models are shared.domain.answers, the classes the handlers serialize; the schemathesis run in tests/e2e
checks every answer of the running service against this document.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from shared.domain.answers import BatchAnswer, Receipt, Refusal, StatusList, StatusView
from shared.domain.xarf import MAX_BATCH, SubmissionIn
from shared.domain.xarf_vocabulary import SPEC_VERSION


class GatewayMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[SubmissionIn] = Field(min_length=1, max_length=MAX_BATCH)


def _content(model: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}


def _responses(*codes: int, ok: tuple[int, str, str] | None = None) -> dict[str, Any]:
    meaning = {
        400: ("Refusal", "Not one JSON object: bad syntax, duplicate keys, not UTF-8."),
        403: ("GatewayMessage", "Unsigned (SigV4 required) or no API key."),
        404: ("Refusal", "No such report that this caller may see."),
        409: ("Refusal", "The clientToken was used before for different content."),
        413: ("Refusal", "The body is larger than the service accepts (5 MB)."),
        415: ("Refusal", "The body is not application/json."),
        422: ("Refusal", "The report breaks the XARF or service rules; every reason is listed."),
        429: ("GatewayMessage", "Over the partner's quota; retry after the Retry-After seconds."),
        503: ("GatewayMessage", "Storage unavailable; nothing was accepted. Retry with the same clientToken."),
    }
    answers: dict[str, Any] = {}
    if ok is not None:
        answers[str(ok[0])] = {"description": ok[2], **_content(ok[1])}
    for code in codes:
        model, description = meaning[code]
        answers[str(code)] = {"description": description, **_content(model)}
    if 429 in codes:
        answers["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return answers


DESCRIPTION = f"""Report abuse hosted on our cloud as XARF {SPEC_VERSION} documents (v3 is converted). Sign every call
with SigV4 (service execute-api) and send your API key in x-api-key.

The same report. From the same caller: the same clientToken, whatever the content (other content under a used
token is 409); without a clientToken, the same category, type, resources (in canonical form), reporter contact,
description (case and whitespace folded) and evidence payloads (the same set of SHA-256s). XARF's report_id and
timestamp are not content. A duplicate answers 202 with the original reportId, `duplicate: true` and the same
receiptToken, and writes nothing new.

What is accepted. Whatever the official `xarf` library's parse accepts, unless it breaks one of these rules:
incident times more than 15 minutes in the future (older than a year is accepted and marked stale); `data:` URIs
or base64 over 1 KB outside `evidence[]` (send files as evidence items); `url` and `*_url` fields other than http,
https or s3; control, bidi, invisible or tag characters in any string or member name; NaN or Infinity; more than
16 KB of type-specific and unknown fields, which are otherwise kept with the report.

Evidence. Each `evidence[]` payload (at most 50, 5 MB each, 5 MB per request) is stored once per distinct
content, named by its SHA-256, encrypted, under retention, with our own SHA-256 and MD5; a declared hash that does
not match is recorded, never refused. Media in a CSAM or CSEM report is also put under legal hold; send URLs and
hashes rather than such files where you can.

Refusals list every problem at once, by JSON pointer: at most 100 entries, the rest counted in
omittedRequirements, the whole answer under 64 KB. A 503 means nothing was accepted: retry with the same
clientToken."""


@cache
def document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (SubmissionIn, "validation"),
        (BatchIn, "validation"),
        (Receipt, "serialization"),
        (StatusView, "serialization"),
        (StatusList, "serialization"),
        (Refusal, "serialization"),
        (GatewayMessage, "serialization"),
        (BatchAnswer, "serialization"),
    ]
    _, schemas = models_json_schema(models, ref_template="#/components/schemas/{model}")
    signed: list[dict[str, list[str]]] = [{"sigv4": [], "apiKey": []}]
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmissionIn"}}},
    }
    batch_body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "abuse-intake partner API",
            "version": "1",
            "description": DESCRIPTION,
        },
        "paths": {
            "/v1/reports": {
                "post": {
                    "operationId": "submitReport",
                    "summary": "Submit one abuse report",
                    "security": signed,
                    "requestBody": body,
                    "responses": _responses(400, 403, 409, 413, 415, 422, 429, 503, ok=(202, "Receipt", "Accepted")),
                },
                "get": {
                    "operationId": "listReportStatuses",
                    "summary": "Your reports with one correlationId, oldest first (as ListAbuseReportStatuses)",
                    "security": signed,
                    "parameters": [
                        {
                            "name": "correlationId",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 256},
                        },
                        {
                            "name": "maxResults",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50},
                        },
                        {"name": "nextToken", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": _responses(403, 422, 429, 503, ok=(200, "StatusList", "One page of statuses")),
                },
            },
            "/v1/reports/batch": {
                "post": {
                    "operationId": "submitReports",
                    "summary": f"Submit up to {MAX_BATCH} reports; each is accepted or refused on its own",
                    "security": signed,
                    "requestBody": batch_body,
                    "responses": _responses(
                        400, 403, 413, 415, 422, 429, ok=(200, "BatchAnswer", "One result per item")
                    ),
                }
            },
            "/v1/reports/{reportId}": {
                "get": {
                    "operationId": "getReport",
                    "summary": "A report's status, for its submitter or a holder of its receipt token",
                    "security": signed,
                    "parameters": [
                        {"name": "reportId", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "X-Receipt-Token", "in": "header", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": _responses(403, 404, 429, ok=(200, "StatusView", "The report's status")),
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
            "/v1/docs": {
                "get": {
                    "operationId": "getApiDocs",
                    "summary": "This document, rendered for people",
                    "security": [],
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
                }
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4, service execute-api",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
                "apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            },
        },
    }
