"""API Gateway's own answers carry the same security headers on AWS as under `make run`.

The template's GatewayResponses decide them on AWS; the local gateway answers its own errors with a copy
(local/apigw.py), so the two are held equal here instead of drifting apart.
"""

from __future__ import annotations

import pytest

from local.apigw import GATEWAY_SECURITY_HEADERS
from local.template import load_template

pytestmark = pytest.mark.template


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"])
def test_gateway_answers_carry_the_local_gateways_security_headers(response_type: str) -> None:
    api = load_template().body["Resources"]["Api"]["Properties"]
    declared = api["GatewayResponses"][response_type]["ResponseParameters"]["Headers"]
    # A header value in a gateway response is a quoted literal: "'nosniff'".
    unquoted = {name: value.strip("'") for name, value in declared.items()}
    for name, value in GATEWAY_SECURITY_HEADERS:
        assert unquoted.get(name) == value, f"{response_type} lacks {name}: {value}"
