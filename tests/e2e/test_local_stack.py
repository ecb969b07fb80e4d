"""`python -m local` end to end: a real process on a real socket, moto inside it (or outside, via AWS_ENDPOINT_URL).

Plus the pure halves of the gateway (routing, event shaping, proxy responses), which need no process at all.
Synchronisation is by reading the process's output with a deadline, never by sleeping.
"""

from __future__ import annotations

import base64
import http.client
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.apigw import HttpRequest, MalformedProxyResponse, RouteMatch, Router, to_http_response, to_rest_event
from local.template import ApiRoute
from tests.e2e.stack import ACCESS_KEY_ID, Running, assert_security_headers, call, environment, local_stack

pytestmark = pytest.mark.e2e

APP_MODULE = """\
import base64, json, os


def echo(event, context):
    seen = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {"TABLE_NAME": os.environ.get("TABLE_NAME")},
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Single": "one"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(seen),
    }


def binary(event, context):
    return {"statusCode": 201, "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(b"\\xff\\x00raw").decode(), "isBase64Encoded": True}


def boom(event, context):
    raise RuntimeError("the handler failed")
"""

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: .
    MemorySize: 256
    Timeout: 5
    Environment:
      Variables:
        TABLE_NAME: !Ref Items
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v0
      Auth:
        DefaultAuthorizer: AWS_IAM
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_app.echo
      Events:
        GetItem: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/items/{itemId}", Method: get}}
        PostItems: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /items, Method: post}}
        Files:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/files/{proxy+}", Method: any, Auth: {Authorizer: NONE}}
  Binary:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_app.binary
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /binary, Method: get}}
  Boom:
    Type: AWS::Serverless::Function
    Properties:
      Handler: local_e2e_app.boom
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /boom, Method: get}}
"""


@pytest.fixture(scope="module")
def synthetic_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("synthetic")
    (directory / "local_e2e_app.py").write_text(APP_MODULE)
    (directory / "template.yaml").write_text(TEMPLATE)
    with local_stack(directory, "--template", str(directory / "template.yaml")) as running:
        yield running


# --- the real template ---------------------------------------------------------------------------------------------


def test_the_real_template_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    with local_stack(tmp_path) as running:
        unknown = call(running.port, "GET", "/no/such/route")
        assert unknown.status == 403
        assert unknown.body == b'{"message":"Missing Authentication Token"}'
        assert unknown.header("x-amzn-ErrorType") == ["MissingAuthenticationTokenException"]
        # A known resource with a method it does not have is just as unknown to API Gateway.
        assert call(running.port, "DELETE", "/v1/reports").status == 403

        assert running.stop(signal.SIGINT) == 0


# --- event shapes, through a synthetic template and handler ------------------------------------------------------


def test_a_signed_request_reaches_the_handler_as_api_gateway_shapes_it(synthetic_stack: Running) -> None:
    answer = call(
        synthetic_stack.port,
        "GET",
        "/items/abc%20d?x=1&x=2&y=a+b&empty",
        headers=[("X-Custom", "one"), ("X-Custom", "two"), ("User-Agent", "e2e-test")],
        signed=True,
    )
    assert answer.status == 200, synthetic_stack.stderr.read_text()
    seen = answer.json()
    event, context = seen["event"], seen["event"]["requestContext"]

    assert event["resource"] == "/items/{itemId}"
    assert event["path"] == "/items/abc%20d"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"itemId": "abc%20d"}  # REST APIs pass path parameters still encoded
    assert event["queryStringParameters"] == {"x": "2", "y": "a b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["a b"], "empty": [""]}
    assert event["headers"]["X-Custom"] == "two"
    assert event["multiValueHeaders"]["X-Custom"] == ["one", "two"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)

    assert context["stage"] == "v0"
    assert context["resourcePath"] == "/items/{itemId}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/v0/items/abc%20d"
    assert context["protocol"] == "HTTP/1.1"
    assert context["accountId"] == "123456789012"
    assert re.fullmatch(r"[0-9a-f]{10}", context["apiId"])
    assert answer.header("x-amzn-RequestId") == [str(uuid.UUID(context["requestId"]))]
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 60

    identity = context["identity"]
    assert identity["accessKey"] == identity["caller"] == identity["user"] == ACCESS_KEY_ID
    assert identity["userArn"] == f"arn:aws:iam::123456789012:user/{ACCESS_KEY_ID}"
    assert identity["sourceIp"] == "127.0.0.1"
    assert identity["userAgent"] == "e2e-test"
    assert identity["cognitoIdentityId"] is None and identity["cognitoAuthenticationType"] is None

    assert seen["context"]["function_name"] == "abuse-intake-local-Echo"
    assert seen["context"]["invoked_function_arn"].endswith(":function:abuse-intake-local-Echo")
    assert seen["context"]["memory_limit_in_mb"] == "256"
    assert seen["context"]["aws_request_id"] == context["requestId"]
    assert 0 < seen["context"]["remaining_ms"] <= 5000
    assert seen["env"] == {"TABLE_NAME": "abuse-intake-local-Items"}

    assert answer.header("X-Multi") == ["a", "b"]
    assert answer.header("X-Single") == ["one"]


def test_unsigned_requests_are_refused_on_iam_routes_and_anonymous_on_public_ones(synthetic_stack: Running) -> None:
    refused = call(synthetic_stack.port, "GET", "/items/1")
    assert (refused.status, refused.body) == (403, b'{"message":"Missing Authentication Token"}')
    answer = call(synthetic_stack.port, "PUT", "/files/public.txt", body=b"x")
    assert answer.status == 200
    event = answer.json()["event"]
    identity = event["requestContext"]["identity"]
    assert all(identity[name] is None for name in ("accessKey", "caller", "user", "userArn", "accountId"))
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_bodies_arrive_as_text_or_base64_and_greedy_paths_keep_their_slashes(synthetic_stack: Running) -> None:
    text = call(synthetic_stack.port, "POST", "/items", body='{"é": 1}'.encode(), signed=True).json()["event"]
    assert (text["body"], text["isBase64Encoded"]) == ('{"é": 1}', False)

    raw = b"\xff\xfe\x00binary"
    binary = call(synthetic_stack.port, "PUT", "/files/a/b/c.txt", body=raw).json()["event"]
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == raw
    assert (binary["resource"], binary["pathParameters"]) == ("/files/{proxy+}", {"proxy": "a/b/c.txt"})


def test_responses_are_decoded_and_failures_look_like_api_gateway(synthetic_stack: Running) -> None:
    binary = call(synthetic_stack.port, "GET", "/binary", signed=True)
    assert (binary.status, binary.body) == (201, b"\xff\x00raw")

    boom = call(synthetic_stack.port, "GET", "/boom", signed=True)
    assert (boom.status, boom.body) == (502, b'{"message": "Internal server error"}')
    assert_security_headers(boom)  # an answer the gateway makes itself
    assert "RuntimeError: the handler failed" in synthetic_stack.stderr.read_text()

    assert call(synthetic_stack.port, "GET", "/items").status == 403  # POST only


def test_keep_alive_and_the_body_limit(synthetic_stack: Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", synthetic_stack.port, timeout=30)
    try:
        first = call(synthetic_stack.port, "GET", "/items/1", connection=connection, signed=True)
        socket_after_first = connection.sock
        second = call(synthetic_stack.port, "GET", "/items/2", connection=connection, signed=True)
        assert (first.status, second.status) == (200, 200)
        assert connection.sock is socket_after_first  # the same TCP connection served both
    finally:
        connection.close()

    # Only the headers are sent: the answer must not wait for 10 MB that will never come.
    too_long = call(synthetic_stack.port, "POST", "/items", headers=[("Content-Length", str(10 * 1024 * 1024 + 1))])
    assert (too_long.status, too_long.body) == (413, b'{"message":"Request Too Long"}')
    assert too_long.header("Connection") == ["close"]


# --- against an endpoint that outlives the process ----------------------------------------------------------------


def test_restarts_against_an_external_endpoint_find_their_resources_and_data(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        key = {"PK": {"S": "REPORT#kept"}, "SK": {"S": "META"}}
        table = "abuse-intake-local-ReportsTable"

        with local_stack(tmp_path, env=environment(**aws)) as first:
            ddb.put_item(TableName=table, Item=key)
            assert first.stop(signal.SIGTERM) == 0

        with local_stack(tmp_path, env=environment(**aws)) as second:
            assert call(second.port, "GET", "/nowhere").status == 403
            assert ddb.get_item(TableName=table, Key=key).get("Item") == key
            assert second.stop(signal.SIGINT) == 0
    finally:
        moto.stop()


# --- the pure halves ----------------------------------------------------------------------------------------------


def _route(path: str, method: str = "GET", iam_auth: bool = True) -> ApiRoute:
    return ApiRoute(method, path, "Fn", "app.handler", iam_auth, False, None, "Api", "live", path)


def test_routing_prefers_literal_over_parameter_over_greedy() -> None:
    router = Router([_route("/a/{id}"), _route("/a/b"), _route("/{proxy+}", "ANY"), _route("/a/{id}/c", "POST")])

    def match(method: str, path: str) -> RouteMatch:
        found = router.match(method, path)
        assert found is not None, (method, path)
        return found

    assert match("GET", "/a/b").route.path == "/a/b"
    assert match("GET", "/a/x").path_parameters == {"id": "x"}
    assert match("DELETE", "/z/y").path_parameters == {"proxy": "z/y"}
    assert router.match("GET", "/a/x/c") is None  # the best resource has no GET; no fallback to /{proxy+}
    assert router.match("GET", "/") is None


def test_to_rest_event_is_a_pure_function_of_the_request() -> None:
    request = HttpRequest(
        method="POST",
        target="/items?q=a%2Bb",
        headers=[("Host", "localhost:3000"), ("Authorization", f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/x")],
        body=b"\x80",
        source_ip="10.0.0.1",
        server_port=3000,
    )
    match = Router([_route("/items", "POST")]).match("POST", "/items")
    assert match is not None
    request_id = str(uuid.uuid4())
    event = to_rest_event(
        request, match, api_id="abcdef1234", account_id="111122223333", request_id=request_id, request_time_ms=0
    )
    assert event["queryStringParameters"] == {"q": "a+b"}
    assert (event["body"], event["isBase64Encoded"]) == ("gA==", True)
    assert event["requestContext"]["requestTime"] == "01/Jan/1970:00:00:00 +0000"
    assert event["requestContext"]["identity"]["userArn"] == f"arn:aws:iam::111122223333:user/{ACCESS_KEY_ID}"
    assert event["requestContext"]["apiId"] == "abcdef1234" and event["requestContext"]["requestId"] == request_id


def test_proxy_results_are_checked_like_api_gateway_checks_them() -> None:
    merged = to_http_response({"statusCode": 204, "headers": {"A": "1"}, "multiValueHeaders": {"a": ["1", "2"]}}, "r")
    assert [value for name, value in merged.headers if name.lower() == "a"] == ["1", "2"]
    assert ("Content-Type", "application/json") in merged.headers

    for malformed in ({"statusCode": 200, "body": {"not": "a string"}}, {"statusCode": 200, "extra": 1}, {"body": ""}):
        with pytest.raises(MalformedProxyResponse):
            to_http_response(malformed, "r")
