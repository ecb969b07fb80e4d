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

from shared.domain.answers import BatchAnswer, Receipt, Refusal, StatusView
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


@cache
def document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (SubmissionIn, "validation"),
        (BatchIn, "validation"),
        (Receipt, "serialization"),
        (StatusView, "serialization"),
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
            "description": (
                f"Report abuse hosted on our cloud as XARF {SPEC_VERSION} documents (v3 is converted). Sign every "
                "call with SigV4 (service execute-api) and send your API key in x-api-key. A clientToken makes a "
                "submission idempotent; without one, the same content from the same caller is the same report."
            ),
        },
        "paths": {
            "/v1/reports": {
                "post": {
                    "operationId": "submitReport",
                    "summary": "Submit one abuse report",
                    "security": signed,
                    "requestBody": body,
                    "responses": _responses(400, 403, 409, 413, 415, 422, 429, 503, ok=(202, "Receipt", "Accepted")),
                }
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
