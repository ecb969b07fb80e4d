"""An analyst's day against `python -m local`, signed in through the local Cognito as the console and scripts are.

Two partners and a member of the public report one phishing page; an analyst finds the case in the queue, claims it
and decides; every reporter's status shows the outcome and the form reporter is emailed once. A second analyst is
refused the claimed case. Child-safety material stays out of an ordinary analyst's queue and evidence, and a
child-safety analyst's look at it is a recorded custody event; destruction is for custodians alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from local.cognito import sign_in
from tests.e2e.stack import Running, call, client, eventually, local_stack_on, moto_in_its_own_process
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

JSON = [("Content-Type", "application/json")]
PHISHING_URL = "https://login.casework-flow.example/verify"
PARTNERS = ("AKIACASEWORKPARTNER1", "AKIACASEWORKPARTNER2")
FORM_EMAIL = "reporter@casework-flow.example"
IMAGE = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 4


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_in_its_own_process() as url:
        yield url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("casework-flow")


@pytest.fixture(scope="module")
def stack(endpoint: str, workdir: Path) -> Iterator[Running]:
    with local_stack_on(endpoint, workdir) as running:
        yield running


class Analysts:
    """ID tokens of the demo users `make run` created, got as a script gets them (InitiateAuth, then TOTP)."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        state = json.loads((workdir / "state" / "demo-users.json").read_text())
        cognito = client(endpoint, "cognito-idp")
        (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
        (app,) = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=10)["UserPoolClients"]
        self.endpoint, self.client_id = endpoint, app["ClientId"]
        self.passwords, self.secrets = state["passwords"], state["totp"][pool["Id"]]
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self.tokens:
            self.tokens[username] = sign_in(
                self.endpoint, self.client_id, username, self.passwords[username], self.secrets[username]
            )
        return self.tokens[username]


@pytest.fixture(scope="module")
def analysts(stack: Running, endpoint: str, workdir: Path) -> Analysts:
    return Analysts(endpoint, workdir)


def as_analyst(stack: Running, analysts: Analysts, who: str, method: str, target: str, body: Any = None):
    answer = call(
        stack.port,
        method,
        target,
        body=json.dumps(body).encode() if body is not None else b"",
        headers=[*JSON, ("Authorization", analysts.token(who))],
    )
    return answer.status, answer.json()


def submit(stack: Running, report: dict[str, Any], access_key: str) -> dict[str, Any]:
    body = json.dumps({"report": report, "clientToken": uuid.uuid4().hex}).encode()
    answer = call(stack.port, "POST", "/v1/reports", body=body, headers=JSON, signed=True, access_key=access_key)
    assert answer.status == 202, answer.body
    return answer.json()


def status(stack: Running, receipt: dict[str, Any], access_key: str) -> dict[str, Any]:
    answer = call(stack.port, "GET", f"/v1/reports/{receipt['reportId']}", signed=True, access_key=access_key)
    assert answer.status == 200, answer.body
    return answer.json()


def report_by_form(stack: Running) -> None:
    fields = {
        "nonce": uuid.uuid4().hex + uuid.uuid4().hex[:11],
        "tz_offset": "0",
        "kind": "phishing",
        "urls": PHISHING_URL,
        "explanation": "It copies my bank's sign-in page.",
        "when": "",
        "name": "",
        "email": FORM_EMAIL,
        "good_faith": "yes",
    }
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Sec-Fetch-Site", "same-origin")]
    answer = call(stack.port, "POST", "/", body=urlencode(fields).encode(), headers=headers)
    assert answer.status == 200 and b'id="report-id"' in answer.body, answer.body[:500]


def queue(stack: Running, analysts: Analysts, who: str, query: str = "") -> list[dict[str, Any]]:
    answer_status, page = as_analyst(stack, analysts, who, "GET", f"/v1/cases{query}")
    assert answer_status == 200, page
    return list(page["cases"])


def phishing_report() -> dict[str, Any]:
    report = well_formed("content", "phishing")
    report["url"] = report["source_identifier"] = PHISHING_URL
    return report


def csam_report() -> dict[str, Any]:
    report = well_formed("content", "csam")
    report["url"] = report["source_identifier"] = f"https://files.casework-flow.example/{uuid.uuid4().hex}.png"
    digest = hashlib.sha256(IMAGE).hexdigest()
    report["evidence"] = [
        {"content_type": "image/png", "payload": base64.b64encode(IMAGE).decode(), "hash": f"sha256:{digest}"}
    ]
    return report


def test_without_a_token_the_analysts_api_answers_401_before_any_function_runs(stack: Running) -> None:
    answer = call(stack.port, "GET", "/v1/cases")
    assert answer.status == 401 and answer.json() == {"message": "Unauthorized"}
    answer = call(stack.port, "GET", "/v1/cases", headers=[("Authorization", "not-a-token")])
    assert answer.status == 401


def test_a_phishing_case_is_listed_claimed_decided_and_every_reporter_hears(stack: Running, analysts: Analysts) -> None:
    receipts = [submit(stack, phishing_report(), partner) for partner in PARTNERS]
    report_by_form(stack)

    def listed() -> dict[str, Any] | None:
        cases = [c for c in queue(stack, analysts, "demo-analyst") if c["reportCount"] == 3]
        return cases[0] if cases else None

    case = eventually(listed, "the phishing case with its three reports in the analyst's queue")
    assert case["status"] == "OPEN" and case["reporterCount"] == 3  # two partners and one anonymous reporter
    case_id = case["caseId"]

    claimed_status, claimed = as_analyst(stack, analysts, "demo-analyst", "POST", f"/v1/cases/{case_id}/claim")
    assert claimed_status == 200 and claimed["claimedBy"] == "demo-analyst"
    decision = {"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "A copy of a bank's sign-in page."}
    refused_status, refused = as_analyst(
        stack, analysts, "demo-child-safety", "POST", f"/v1/cases/{case_id}/decisions", decision
    )
    assert refused_status == 409 and "demo-analyst" in refused["message"]
    decided_status, decided = as_analyst(
        stack, analysts, "demo-analyst", "POST", f"/v1/cases/{case_id}/decisions", decision
    )
    assert decided_status == 201, decided

    def completed() -> list[dict[str, Any]] | None:
        views = [status(stack, receipt, partner) for receipt, partner in zip(receipts, PARTNERS, strict=True)]
        return views if all(v["status"] == "COMPLETED" for v in views) else None

    views = eventually(completed, "both partners' reports COMPLETED", seconds=60)
    assert [v["reasonCode"] for v in views] == ["ACTIONED", "ACTIONED"]

    def emailed() -> int | None:
        return stack.stderr.read_text().count(FORM_EMAIL) or None

    eventually(emailed, "the form reporter's outcome email printed by the stack", seconds=60)
    page = as_analyst(stack, analysts, "demo-analyst", "GET", f"/v1/cases/{case_id}")[1]
    assert page["case"]["status"] == "DECIDED" and page["decisions"][0]["decisionId"] == decided["decisionId"]
    recipients = re.findall(r"^\s+to:\s+(\S+)$", stack.stderr.read_text(), flags=re.MULTILINE)
    assert recipients.count(FORM_EMAIL) == 1, "one email per report and decision"


def test_child_safety_material_is_for_the_child_safety_group_and_a_look_is_recorded(
    stack: Running, analysts: Analysts, endpoint: str
) -> None:
    submit(stack, csam_report(), PARTNERS[0])

    def csam_case() -> dict[str, Any] | None:
        cases = queue(stack, analysts, "demo-child-safety")
        return cases[0] if cases else None

    case = eventually(csam_case, "the CSAM case in the child-safety queue")
    assert all(c["caseId"] != case["caseId"] for c in queue(stack, analysts, "demo-analyst", "?status=ALL"))
    assert as_analyst(stack, analysts, "demo-analyst", "GET", f"/v1/cases/{case['caseId']}")[0] == 404
    page = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{case['caseId']}")[1]
    (evidence,) = page["reports"][0]["evidence"]
    view_path = f"/v1/evidence/{evidence['evidenceId']}/views"
    refused_status, _ = as_analyst(stack, analysts, "demo-analyst", "POST", view_path, {"purpose": "triage"})
    assert refused_status == 403

    granted_status, granted = as_analyst(stack, analysts, "demo-child-safety", "POST", view_path, {"purpose": "triage"})
    assert granted_status == 201
    with urllib.request.urlopen(granted["url"], timeout=10) as fetched:  # noqa: S310 - the stack's own presigned URL
        assert fetched.read() == IMAGE
    page = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{case['caseId']}")[1]
    viewed = [e for e in page["custody"][evidence["evidenceId"]] if e["step"] == "viewed"]
    assert len(viewed) == 1 and viewed[0]["viewedByHuman"] is True and viewed[0]["by"] == "demo-child-safety"

    destruction = f"/v1/evidence/{evidence['evidenceId']}/destruction"
    order = {"legalRequestReference": "LE-2026-1204"}
    assert as_analyst(stack, analysts, "demo-child-safety", "POST", destruction, order)[0] == 403
    destroyed_status, destroyed = as_analyst(stack, analysts, "demo-custodian", "POST", destruction, order)
    assert destroyed_status == 201 and destroyed["sha256"] == evidence["sha256"]
    s3 = client(endpoint, "s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "evidencebucket" in b["Name"].lower()]
    key = f"intake/sha256/{evidence['sha256']}"
    assert s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) == []
    page = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{case['caseId']}")[1]
    assert page["reports"][0]["evidence"][0]["sha256"] == evidence["sha256"], "the hashes stay"
    assert page["custody"][evidence["evidenceId"]][-1]["step"] == "destroyed"
