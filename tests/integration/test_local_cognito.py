"""The analysts' sign-in under `make run`: the template's user pool, groups and email identity created in moto, the
local gateway checking ID tokens as API Gateway's Cognito authorizer does, the demo users signing in through the TOTP
challenge, and each email SES accepts printed. The world is the template in moto (``world``); a moto server in this
process serves the same state over HTTP, as the embedded moto of `make run` does, for the pool's JWKS and sign-in."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.cognitoidp.models import cognitoidp_backends
from moto.server import ThreadedMotoServer

from local.apigw import GATEWAY_SECURITY_HEADERS, Gateway, HttpRequest, HttpResponse
from local.cognito import (
    DEMO_USERS,
    TOKEN_EXPIRED,
    UNAUTHORIZED,
    DemoSignIn,
    SignInError,
    authenticate,
    ensure_demo_users,
    issuer,
    load_user_pools,
    sign_in,
    totp,
)
from local.emails import EmailPrinter, in_process_outbox, moto_api_outbox
from local.template import api_routes, load_template
from local.world import DEMO_CUSTODIAN_PRINCIPAL, World, build_world

POOL = "AnalystsUserPool"
CASES = "/v1/cases"


@pytest.fixture
def moto_endpoint(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The world's moto state over HTTP, checking TOTP codes as `make run`'s embedded moto does."""
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def analysts(world: World, moto_endpoint: str, tmp_path: Path) -> DemoSignIn:
    demo = ensure_demo_users(world, POOL, moto_endpoint, tmp_path)
    assert demo is not None
    return demo


class FakeFunction:
    """Stands in for the casework function: records each event, answers 200."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any], request_id: str) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "{}"}


@pytest.fixture
def function() -> FakeFunction:
    return FakeFunction()


@pytest.fixture
def gateway(world: World, moto_endpoint: str, function: FakeFunction) -> Gateway:
    routes = api_routes(world.template, world.resolve)
    return Gateway(
        routes,
        function,
        api_ids={route.api: str(world.ref(route.api)) for route in routes},
        account_id=world.account_id,
        user_pools=load_user_pools(world, [POOL], moto_endpoint),
    )


def get(gateway: Gateway, target: str, *headers: tuple[str, str]) -> HttpResponse:
    return gateway.handle(HttpRequest("GET", target, [("Host", "localhost"), *headers], b"", "127.0.0.1", 3000))


def user(demo: DemoSignIn, username: str) -> tuple[str, str, str]:
    found = next(candidate for candidate in demo.users if candidate.username == username)
    return found.username, found.password, found.totp_secret


def pool_key(world: World) -> Any:
    """The key moto signs the pool's tokens with (every moto pool shares it)."""
    return cognitoidp_backends[world.account_id][world.region].user_pools[world.ref(POOL)].json_web_key


def claims_of(token: str, key: Any) -> dict[str, Any]:
    return dict(jwt.decode(token, key, algorithms=["RS256"]).claims)


def assert_refused(answer: HttpResponse, function: FakeFunction, body: bytes = UNAUTHORIZED) -> None:
    assert (answer.status, answer.body) == (401, body)
    assert ("x-amzn-ErrorType", "UnauthorizedException") in answer.headers
    for header in GATEWAY_SECURITY_HEADERS:
        assert header in answer.headers, header
    assert function.events == []


# --- the template's resources --------------------------------------------------------------------------------------


def test_the_analysts_pool_is_made_as_the_template_declares_it(world: World) -> None:
    cognito = boto3.client("cognito-idp")
    pool_id = world.ref(POOL)
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert world.arn(POOL) == pool["Arn"]
    assert world.get_att(POOL, "ProviderURL") == issuer(world.region, pool_id)
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 14
    mfa = cognito.get_user_pool_mfa_config(UserPoolId=pool_id)
    assert (mfa["MfaConfiguration"], mfa["SoftwareTokenMfaConfiguration"]) == ("ON", {"Enabled": True})

    client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=world.ref("AnalystsUserPoolClient"))
    flows = client["UserPoolClient"]["ExplicitAuthFlows"]
    assert sorted(flows) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert "ClientSecret" not in client["UserPoolClient"]
    groups = {group["GroupName"] for group in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    assert groups == {"analysts", "child-safety", "evidence-custodians"}
    assert world.ref("ChildSafetyGroup") == "child-safety"


def test_a_second_build_finds_the_same_pool_and_client(world: World) -> None:
    again = build_world()
    assert again.ref(POOL) == world.ref(POOL)
    assert again.ref("AnalystsUserPoolClient") == world.ref("AnalystsUserPoolClient")
    assert len(boto3.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]) == 1


def test_the_evidence_custodian_role_exists_locally_unless_a_parameter_says_otherwise(world: World) -> None:
    assert world.parameters["EvidenceCustodianPrincipals"] == [DEMO_CUSTODIAN_PRINCIPAL]
    assert world.condition("HasEvidenceCustodians")
    assert world.function_environment("CaseworkFunction")["CUSTODIAN_ROLE_ARN"] == world.arn("EvidenceCustodianRole")
    without = World(load_template(), parameters={"EvidenceCustodianPrincipals": ""})
    assert not without.condition("HasEvidenceCustodians")


# --- the gateway's Cognito authorizer ------------------------------------------------------------------------------


def test_the_casework_routes_take_the_pools_id_tokens_and_no_iam(world: World) -> None:
    routes = api_routes(world.template, world.resolve)
    casework = [route for route in routes if route.function == "CaseworkFunction"]
    assert casework and all(route.user_pool == POOL and not route.iam_auth for route in casework)
    assert all(route.user_pool is None for route in routes if route.function != "CaseworkFunction")


def test_a_valid_id_token_reaches_the_function_with_the_users_claims_and_groups(
    gateway: Gateway, function: FakeFunction, analysts: DemoSignIn
) -> None:
    token = sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-child-safety"))

    answer = get(gateway, CASES, ("Authorization", token))

    assert answer.status == 200
    (event,) = function.events
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == "demo-child-safety"
    assert set(claims["cognito:groups"].split(",")) == {"child-safety", "analysts"}
    assert claims["email"] == "demo-child-safety@example.com"
    assert claims["token_use"] == "id"
    assert claims["aud"] == analysts.client_id
    assert all(isinstance(value, str) for value in claims.values())
    assert time.strptime(claims["exp"], "%a %b %d %H:%M:%S UTC %Y")  # as API Gateway writes it
    identity = event["requestContext"]["identity"]
    assert (identity["caller"], identity["accessKey"], identity["userArn"], identity["accountId"]) == (None,) * 4


def test_a_bearer_token_is_accepted_as_api_gateway_accepts_it(
    gateway: Gateway, function: FakeFunction, analysts: DemoSignIn
) -> None:
    token = sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst"))
    assert get(gateway, CASES, ("Authorization", f"Bearer {token}")).status == 200
    assert function.events[0]["requestContext"]["authorizer"]["claims"]["cognito:groups"] == "analysts"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "a.b.c", "Bearer ", "AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=0"],
)
def test_a_request_without_a_readable_token_gets_401_and_never_reaches_the_function(
    gateway: Gateway, function: FakeFunction, authorization: str | None
) -> None:
    headers = [] if authorization is None else [("Authorization", authorization)]
    assert_refused(get(gateway, CASES, *headers), function)


def test_a_token_re_signed_with_the_pools_key_is_accepted_so_the_forgeries_below_fail_for_their_change(
    world: World, gateway: Gateway, function: FakeFunction, analysts: DemoSignIn
) -> None:
    claims = claims_of(
        sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst")), pool_key(world)
    )
    resigned = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, pool_key(world))
    assert get(gateway, CASES, ("Authorization", resigned)).status == 200


@pytest.mark.parametrize(
    ("change", "with_key_of_the_pool"),
    [
        pytest.param({}, False, id="signed-by-another-key"),
        pytest.param({"aud": "an-app-client-of-nobody"}, True, id="wrong-audience"),
        pytest.param({"iss": "other-pool"}, True, id="other-pools-issuer"),
        pytest.param({"token_use": "access"}, True, id="token-use-access"),
        pytest.param({"exp": None}, True, id="no-expiry"),
    ],
)
def test_a_forged_token_gets_401_and_never_reaches_the_function(
    world: World,
    gateway: Gateway,
    function: FakeFunction,
    analysts: DemoSignIn,
    change: dict[str, Any],
    with_key_of_the_pool: bool,
) -> None:
    claims = claims_of(
        sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst")), pool_key(world)
    )
    if change.get("iss") == "other-pool":
        other = boto3.client("cognito-idp").create_user_pool(PoolName="someone-elses")["UserPool"]["Id"]
        change = {"iss": issuer(world.region, other)}  # a real pool of the same moto, signing with the same key
    claims = {name: value for name, value in {**claims, **change}.items() if value is not None}
    key = pool_key(world) if with_key_of_the_pool else RSAKey.generate_key(2048)
    forged = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key)

    assert_refused(get(gateway, CASES, ("Authorization", forged)), function)


def test_an_access_token_instead_of_the_id_token_gets_401(
    gateway: Gateway, function: FakeFunction, analysts: DemoSignIn
) -> None:
    tokens = authenticate(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst"))
    assert_refused(get(gateway, CASES, ("Authorization", tokens["AccessToken"])), function)
    assert get(gateway, CASES, ("Authorization", tokens["IdToken"])).status == 200  # the same sign-in's ID token


def test_an_expired_id_token_gets_401_with_api_gateways_expiry_message(
    world: World, gateway: Gateway, function: FakeFunction, analysts: DemoSignIn
) -> None:
    token = sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst"))
    expires = claims_of(token, pool_key(world))["exp"]
    gateway.user_pools.clock = lambda: expires + 1  # the same token, an hour later

    assert_refused(get(gateway, CASES, ("Authorization", token)), function, TOKEN_EXPIRED)


def test_a_route_whose_pool_the_gateway_does_not_know_refuses_everyone(
    world: World, function: FakeFunction, analysts: DemoSignIn
) -> None:
    routes = api_routes(world.template, world.resolve)
    blind = Gateway(routes, function, api_ids={route.api: "api" for route in routes}, account_id=world.account_id)
    token = sign_in(analysts.endpoint_url, analysts.client_id, *user(analysts, "demo-analyst"))
    assert_refused(get(blind, CASES, ("Authorization", token)), function)


# --- demo users ----------------------------------------------------------------------------------------------------


def test_each_demo_user_signs_in_through_the_totp_challenge_with_its_groups(world: World, analysts: DemoSignIn) -> None:
    assert {demo.username for demo in analysts.users} == set(DEMO_USERS)
    for username, groups in DEMO_USERS.items():
        name, password, secret = user(analysts, username)
        unsigned = boto3.client("cognito-idp", endpoint_url=analysts.endpoint_url)
        first = unsigned.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=analysts.client_id,
            AuthParameters={"USERNAME": name, "PASSWORD": password},
        )
        assert first["ChallengeName"] == "SOFTWARE_TOKEN_MFA"  # the password alone is not enough

        claims = claims_of(sign_in(analysts.endpoint_url, analysts.client_id, name, password, secret), pool_key(world))

        assert claims["cognito:username"] == username
        assert set(claims["cognito:groups"]) == set(groups)


def test_a_wrong_totp_code_or_none_is_refused(analysts: DemoSignIn) -> None:
    name, password, secret = user(analysts, "demo-custodian")
    with pytest.raises(SignInError):
        sign_in(analysts.endpoint_url, analysts.client_id, name, password)
    cognito = boto3.client("cognito-idp", endpoint_url=analysts.endpoint_url)
    challenge = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=analysts.client_id,
        AuthParameters={"USERNAME": name, "PASSWORD": password},
    )
    wrong = f"{(int(totp(secret)) + 1) % 1_000_000:06d}"
    with pytest.raises(ClientError, match="CodeMismatchException"):
        cognito.respond_to_auth_challenge(
            ClientId=analysts.client_id,
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=challenge["Session"],
            ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": wrong},
        )


def test_demo_users_keep_their_passwords_across_runs_and_are_remade_without_their_secrets(
    world: World, moto_endpoint: str, analysts: DemoSignIn, tmp_path: Path
) -> None:
    again = ensure_demo_users(world, POOL, moto_endpoint, tmp_path)
    assert again is not None and again.users == analysts.users
    assert (
        json.loads((tmp_path / "demo-users.json").read_text())["passwords"]["demo-analyst"]
        == analysts.users[0].password
    )
    assert (tmp_path / "demo-users.json").stat().st_mode & 0o077 == 0

    elsewhere = ensure_demo_users(world, POOL, moto_endpoint, tmp_path / "other")  # a new data dir knows no secret
    assert elsewhere is not None
    name, password, secret = user(elsewhere, "demo-analyst")
    assert password != analysts.users[0].password
    assert sign_in(moto_endpoint, elsewhere.client_id, name, password, secret)


# --- emails --------------------------------------------------------------------------------------------------------


def send_outcome(world: World, endpoint: str) -> None:
    ses = boto3.client("sesv2", endpoint_url=endpoint)
    ses.send_email(
        FromEmailAddress=world.parameters["OutcomeEmailSender"],
        Destination={"ToAddresses": ["reporter@example.org"]},
        Content={
            "Simple": {
                "Subject": {"Data": "Your report 01J0: we acted"},
                "Body": {"Text": {"Data": "The content you reported was removed.\nThank you."}},
            }
        },
    )


def test_an_email_sent_through_ses_is_printed_as_it_is_sent(world: World, moto_endpoint: str) -> None:
    out = io.StringIO()
    printer = EmailPrinter(in_process_outbox(world.account_id, world.region), idle_seconds=0.1, out=out)
    printer.poll_once()
    assert out.getvalue() == ""

    send_outcome(world, moto_endpoint)  # from the template's OutcomeEmailIdentity, through the local endpoint
    printer.poll_once()

    printed = out.getvalue()
    assert "to:      reporter@example.org" in printed
    assert f"from:    {world.parameters['OutcomeEmailSender']}" in printed
    assert "subject: Your report 01J0: we acted" in printed
    assert "| The content you reported was removed.\n  | Thank you." in printed
    printer.poll_once()
    assert out.getvalue() == printed  # each email once


def test_a_raw_email_is_printed_with_its_subject_and_text(world: World, moto_endpoint: str) -> None:
    out = io.StringIO()
    printer = EmailPrinter(in_process_outbox(world.account_id, world.region), idle_seconds=0.1, out=out)
    sender = world.parameters["OutcomeEmailSender"]
    raw = f"From: {sender}\nTo: reporter@example.org\nSubject: Outcome\nContent-Type: text/plain\n\nNo action.\n"
    boto3.client("sesv2", endpoint_url=moto_endpoint).send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": ["reporter@example.org"]},
        Content={"Raw": {"Data": raw.encode()}},
    )
    printer.poll_once()
    assert "to:      reporter@example.org\n  subject: Outcome\n  | No action." in out.getvalue()


def test_a_moto_server_of_ones_own_has_its_emails_printed_too(world: World, moto_endpoint: str) -> None:
    out = io.StringIO()
    outbox = moto_api_outbox(moto_endpoint, boto3.client("ses", endpoint_url=moto_endpoint))
    printer = EmailPrinter(outbox, idle_seconds=0.1, out=out)
    printer.poll_once()

    send_outcome(world, moto_endpoint)
    printer.poll_once()
    printer.poll_once()

    assert out.getvalue().count("to:      reporter@example.org") == 1
    assert "subject: Your report 01J0: we acted" in out.getvalue()


def test_an_email_from_an_unverified_sender_is_refused_and_not_printed(world: World, moto_endpoint: str) -> None:
    out = io.StringIO()
    printer = EmailPrinter(in_process_outbox(world.account_id, world.region), idle_seconds=0.1, out=out)
    with pytest.raises(ClientError, match="not verified"):
        boto3.client("sesv2", endpoint_url=moto_endpoint).send_email(
            FromEmailAddress="someone@elsewhere.example",
            Destination={"ToAddresses": ["reporter@example.org"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "y"}}}},
        )
    printer.poll_once()
    assert out.getvalue() == ""
