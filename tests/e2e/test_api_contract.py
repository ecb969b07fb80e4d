"""Schemathesis against the running local stack: generated requests for every operation of the OpenAPI document,
no answer a 5xx, every answer as the document describes it (status, content type, headers, body schema).

The stack runs with the partners' quota raised, so the run exercises the service, not the throttle (which has its
own test in test_intake_api.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.intake.openapi import document
from tests.e2e.stack import Running, call, local_stack

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 1000
# Locally the signature is not verified, only read for its key id: a well-formed header is a signed caller.
SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIASCHEMATHESIS0001/20261126/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host, Signature=0",
    "x-api-key": "schemathesis",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    quota = ("--parameter", "PartnerRateLimit=1000000", "--parameter", "PartnerBurstLimit=1000000")
    with local_stack(tmp_path_factory.mktemp("contract"), *quota) as running:
        yield running


# Generated from the same document the service serves (a test below holds the two equal), so the operations are
# known when tests are collected. Schemathesis' own pytest plugin does not run on this pytest; hypothesis drives it.
SCHEMA = schemathesis.openapi.from_dict(document())
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in SCHEMA.get_all_operations())}


def test_the_served_document_is_the_one_tested(contract_stack: Running) -> None:
    assert call(contract_stack.port, "GET", "/v1/openapi.json").json() == document()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_answer_conforms_to_the_document_and_none_is_a_server_error(label: str, contract_stack: Running) -> None:
    @given(case=OPERATIONS[label].as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=contract_stack.url, headers=SIGNED, checks=CHECKS)

    exercise()
