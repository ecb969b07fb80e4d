"""The intake API over HTTP against `python -m local`, as a partner and as the README's reader would use it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.stack import REPO, Running, call, local_stack
from tests.samples import body, xarf

pytestmark = pytest.mark.e2e

JSON = [("Content-Type", "application/json")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_stack(tmp_path_factory.mktemp("intake")) as running:
        yield running


def readme_curl_examples() -> list[str]:
    """Every shell block of the README that calls curl, exactly as printed."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)
    return [block for block in blocks if block.lstrip().startswith("curl")]


def run_shell(command: str) -> dict:
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_the_readme_curl_examples_work_as_printed(stack: Running) -> None:
    submit, refused, lookup = (
        example.replace("http://127.0.0.1:3000", stack.url) for example in readme_curl_examples()
    )
    accepted = run_shell(submit)
    assert accepted["status"] == "QUEUED" and accepted["duplicate"] is False
    again = run_shell(submit)
    assert (again["reportId"], again["duplicate"]) == (accepted["reportId"], True)

    refusal = run_shell(refused)
    assert refusal["message"] and {"path", "code", "message"} <= set(refusal["unmetRequirements"][0])
    assert {r["path"] for r in refusal["unmetRequirements"]} >= {"/report/report_id", "/report/timestamp"}

    placeholder_id = re.search(r"/v1/reports/(\w{26})", lookup)
    assert placeholder_id is not None
    lookup = lookup.replace(placeholder_id.group(1), accepted["reportId"]).replace(
        "<receiptToken>", accepted["receiptToken"]
    )
    status = run_shell(lookup)
    assert status["reportId"] == accepted["reportId"] and status["status"] == "QUEUED"


def test_a_partner_submits_replays_and_reads_its_report(stack: Running) -> None:
    payload = body(xarf(description="e2e partner report"), clientToken="e2e-ticket-1")
    first = call(stack.port, "POST", "/v1/reports", body=payload, headers=JSON, signed=True)
    assert first.status == 202, first.body
    receipt = first.json()
    replay = call(stack.port, "POST", "/v1/reports", body=payload, headers=JSON, signed=True)
    assert replay.status == 202 and replay.json()["reportId"] == receipt["reportId"] and replay.json()["duplicate"]

    own = call(stack.port, "GET", f"/v1/reports/{receipt['reportId']}", signed=True)
    assert own.status == 200 and own.json()["status"] == "QUEUED"
    other = call(
        stack.port, "GET", f"/v1/reports/{receipt['reportId']}", signed=True, access_key="AKIAOTHERPARTNER0001"
    )
    assert other.status == 404


def test_an_anonymous_reporter_follows_the_report_with_its_receipt(stack: Running) -> None:
    answer = call(stack.port, "POST", "/v1/reports", body=body(xarf(description="anonymous e2e")), headers=JSON)
    assert answer.status == 202
    receipt = answer.json()
    target = f"/v1/reports/{receipt['reportId']}"
    assert call(stack.port, "GET", target).status == 404
    with_token = call(stack.port, "GET", target, headers=[("X-Receipt-Token", receipt["receiptToken"])])
    assert with_token.status == 200 and with_token.json()["reportId"] == receipt["reportId"]


@pytest.mark.parametrize(
    ("payload", "headers", "status"),
    [
        (b'{"report": ', JSON, 400),
        (body(), [("Content-Type", "text/plain")], 415),
        (body(xarf(description="x" * (6 * 1024 * 1024))), JSON, 413),
        (body(xarf(url="javascript:alert(1)")), JSON, 422),
    ],
    ids=["malformed JSON", "wrong media type", "over 5 MB", "javascript URL"],
)
def test_refusals_over_http_are_4xx_with_reasons(stack: Running, payload: bytes, headers, status: int) -> None:
    answer = call(stack.port, "POST", "/v1/reports", body=payload, headers=headers, signed=True)
    assert answer.status == status, answer.body[:300]
    assert answer.json()["unmetRequirements"]
    assert answer.header("Content-Type") == ["application/json"]
