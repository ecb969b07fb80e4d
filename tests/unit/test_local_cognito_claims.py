"""What the local gateway hands a function for a Cognito ID token (claims as API Gateway REST renders them), the TOTP
codes the demo users answer with (RFC 6238's own test vectors), and which authorizer a route has (SAM's rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.cognito import gateway_claims, totp
from local.template import TemplateError, api_routes, load_template

# RFC 6238, Appendix B: the SHA-1 key "12345678901234567890", base32-encoded as an authenticator app takes it.
RFC_6238_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_groups_become_one_comma_separated_string_as_api_gateway_passes_them():
    claims = gateway_claims({"cognito:groups": ["child-safety", "analysts"], "sub": "u-1"})
    assert claims == {"cognito:groups": "child-safety,analysts", "sub": "u-1"}
    assert gateway_claims({"cognito:groups": ["analysts"]})["cognito:groups"] == "analysts"


def test_times_booleans_and_numbers_are_strings_the_way_api_gateway_writes_them():
    claims = gateway_claims({"exp": 1680633579, "iat": 1680629979, "auth_time": 1680629979, "email_verified": True})
    assert claims == {
        "exp": "Tue Apr 04 18:39:39 UTC 2023",
        "iat": "Tue Apr 04 17:39:39 UTC 2023",
        "auth_time": "1680629979",
        "email_verified": "true",
    }


@pytest.mark.parametrize(("at", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924")])
def test_totp_codes_are_rfc_6238s(at: int, code: str):
    assert totp(RFC_6238_SECRET, at) == code


def test_a_secret_without_base32_padding_works_as_cognito_hands_it_out():
    assert totp("asdfasdfasdf", 0) == totp("ASDFASDFASDF====", 0)


TEMPLATE = """\
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: live
      Auth:
        DefaultAuthorizer: {default}
        Authorizers:
          Users: {{UserPoolArn: !GetAtt Pool.Arn}}
          Custom: {{FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:auth}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events:
        Default: {{Type: Api, Properties: {{RestApiId: !Ref Api, Path: /a, Method: get}}}}
        Open: {{Type: Api, Properties: {{RestApiId: !Ref Api, Path: /b, Method: get, Auth: {{Authorizer: NONE}}}}}}
"""


def routes_of(tmp_path: Path, default: str) -> dict[str, str | None]:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.format(default=default))
    return {route.path: route.user_pool for route in api_routes(load_template(path))}


def test_the_default_authorizer_applies_unless_an_event_says_none(tmp_path: Path):
    assert routes_of(tmp_path, "Users") == {"/a": "Pool", "/b": None}
    assert routes_of(tmp_path, "AWS_IAM") == {"/a": None, "/b": None}


@pytest.mark.parametrize(("default", "complaint"), [("Custom", "Lambda authorizer"), ("Nobody", "not one of")])
def test_an_authorizer_the_local_gateway_cannot_honour_is_refused_by_name(tmp_path: Path, default: str, complaint: str):
    with pytest.raises(TemplateError, match=complaint):
        routes_of(tmp_path, default)
