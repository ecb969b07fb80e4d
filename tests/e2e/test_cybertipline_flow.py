"""A child-safety case filed with the CyberTipline, against `python -m local` and a fake CyberTipline of the test's own
(NCMEC_URL pointed at it, as a developer would point it at NCMEC's test environment).

A partner reports CSAM hosted in a protected bucket; the object is preserved and the case drafted; a child-safety
analyst decides ACTIONED. The filer submits, uploads the preserved file, describes it and finishes: one finished
CyberTip with the file NCMEC received intact, its reportId on the case page, its receipt kept in the evidence bucket.
A final answer from NCMEC (4100) stops the filing, shows on the case and pages on-call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cybertipline import FakeCyberTipline, Fault
from tests.e2e.stack import Running, call, client, eventually, evidence_bucket, local_stack_on, moto_in_its_own_process
from tests.e2e.test_casework_flow import Analysts, as_analyst, csam_report, queue, submit
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

DEMO_BUCKET = "demo-customer-content"
PARTNER = "AKIACYBERTIPPARTNER1"
FILED_WITHIN_SECONDS = 60.0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_in_its_own_process() as url:
        yield url


@pytest.fixture(scope="module")
def ncmec() -> Iterator[FakeCyberTipline]:
    with FakeCyberTipline(hold_seconds=0.5) as fake:
        yield fake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cybertipline-flow")


@pytest.fixture(scope="module")
def stack(endpoint: str, workdir: Path, ncmec: FakeCyberTipline) -> Iterator[Running]:
    with local_stack_on(endpoint, workdir, NCMEC_URL=ncmec.base_url) as running:
        # The credentials are the stack's secret's, as NCMEC's would be the ones it issued.
        secrets = client(endpoint, "secretsmanager")
        (arn,) = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "CyberTiplineSecret" in s["Name"]]
        value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
        ncmec.username, ncmec.password = value["username"], value["password"]
        yield running


@pytest.fixture(scope="module")
def analysts(stack: Running, endpoint: str, workdir: Path) -> Analysts:
    return Analysts(endpoint, workdir)


def reported_csam(stack: Running, endpoint: str) -> tuple[bytes, str]:
    """A CSAM report about an object of the protected demo bucket; the object's bytes and its case id, once the draft
    names the preserved file (the escalation worker's part: seconds)."""
    content = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 8
    key = f"images/filed-{uuid.uuid4().hex[:8]}.png"
    client(endpoint, "s3").put_object(Bucket=DEMO_BUCKET, Key=key, Body=content, ChecksumAlgorithm="SHA256")
    report = well_formed("content", "csam")
    report["url"] = report["source_identifier"] = f"https://{DEMO_BUCKET}.s3.amazonaws.com/{key}"
    receipt = submit(stack, report, PARTNER)
    s3, bucket = client(endpoint, "s3"), evidence_bucket(endpoint)

    def drafted_with_the_file() -> str | None:
        status = call(stack.port, "GET", f"/v1/reports/{receipt['reportId']}", signed=True, access_key=PARTNER)
        case_id = status.json().get("caseId") if status.status == 200 else None
        if not case_id:
            return None
        try:
            draft = s3.get_object(Bucket=bucket, Key=f"ncmec/{case_id}.xml")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return case_id if ET.fromstring(draft).find("fileDetails") is not None else None

    return content, eventually(drafted_with_the_file, "the case drafted with its preserved file", seconds=60)


def decide_actioned(stack: Running, analysts: Analysts, case_id: str) -> None:
    decision = {
        "reasonCode": "ACTIONED",
        "action": "RESTRICT",
        "statement": "Apparent child sexual abuse material, removed and reported to NCMEC.",
    }
    path = f"/v1/cases/{case_id}/decisions"
    status, answer = as_analyst(stack, analysts, "demo-child-safety", "POST", path, decision)
    assert status == 201, answer


def filing_on_the_case(stack: Running, analysts: Analysts, case_id: str) -> dict[str, Any] | None:
    status, page = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{case_id}")
    assert status == 200, page
    filing: dict[str, Any] | None = page.get("cyberTipline")
    return filing


def test_a_csam_case_decided_actioned_is_filed_once_with_its_file(
    stack: Running, analysts: Analysts, endpoint: str, ncmec: FakeCyberTipline
) -> None:
    content, case_id = reported_csam(stack, endpoint)
    assert filing_on_the_case(stack, analysts, case_id) is None, "nothing is filed before an analyst confirms"
    assert any(c["caseId"] == case_id for c in queue(stack, analysts, "demo-child-safety"))
    decide_actioned(stack, analysts, case_id)

    def finished() -> dict[str, Any] | None:
        filing = filing_on_the_case(stack, analysts, case_id)
        return filing if filing and filing["stage"] == "FINISHED" else None

    filing = eventually(finished, "the CyberTip finished", seconds=FILED_WITHIN_SECONDS)
    (filed,) = [r for r in ncmec.finished() if r.report_id == filing["reportId"]]
    assert [r for r in ncmec.reports() if case_id in r.document] == [filed], "one report for the case, finished"
    (file,) = filed.files.values()
    assert file.md5 == hashlib.md5(content).hexdigest(), "NCMEC received the preserved bytes"  # noqa: S324
    details = ET.fromstring(file.details or "")
    assert details.findtext("reportId") == filed.report_id and details.findtext("fileId") == file.file_id
    assert {h.get("hashType"): h.text for h in details.iter("originalFileHash")} == {
        "MD5": hashlib.md5(content).hexdigest(),  # noqa: S324 - NCMEC's hash of record
        "SHA256": hashlib.sha256(content).hexdigest(),
    }
    assert (filing["files"], filing["filesDescribed"], filing["problem"]) == (1, 1, None)
    receipt = client(endpoint, "s3").get_object(
        Bucket=evidence_bucket(endpoint), Key=f"ncmec/{case_id}/receipt-{filed.report_id}.xml"
    )
    assert ET.fromstring(receipt["Body"].read()).findtext("reportId") == filed.report_id


def test_a_final_answer_stops_the_filing_shows_on_the_case_and_pages_on_call(
    stack: Running, analysts: Analysts, endpoint: str, ncmec: FakeCyberTipline
) -> None:
    sns, sqs = client(endpoint, "sns"), client(endpoint, "sqs")
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if "OnCallTopic" in t["TopicArn"]]
    pager = sqs.create_queue(QueueName=f"pager-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    pager_arn = sqs.get_queue_attributes(QueueUrl=pager, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=pager_arn, Attributes={"RawMessageDelivery": "true"})

    _, case_id = reported_csam(stack, endpoint)
    ncmec.inject("submit", Fault.INVALID)
    decide_actioned(stack, analysts, case_id)

    def failed() -> dict[str, Any] | None:
        filing = filing_on_the_case(stack, analysts, case_id)
        return filing if filing and filing["stage"] == "FAILED" else None

    filing = eventually(failed, "the filing FAILED", seconds=FILED_WITHIN_SECONDS)
    assert filing["problem"]["code"] == 4100 and filing["reportId"] is None
    assert not [r for r in ncmec.reports() if case_id in r.document], "nothing was opened at NCMEC"

    def paged() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=pager, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("kind") == "abuse-intake.cybertipline" and body.get("caseId") == case_id:
                return dict(body)
        return None

    page = eventually(paged, "on-call paged about the stopped filing", seconds=30)
    assert (page["stage"], page["code"]) == ("FAILED", 4100)


def test_make_run_killed_during_finish_and_started_again_finishes_one_cybertip_not_two(tmp_path: Path) -> None:
    """The stack is killed (SIGKILL) while NCMEC holds its /finish, which lands all the same; a restarted stack resumes
    the filing from the step it recorded and asks /finish again, which NCMEC answers 5102 (already finished): one
    CyberTip. SQS gives the killed delivery's message back only after the queue's 30-minute visibility timeout, and
    holds its case's FIFO group until then; the test does not wait for that, and hands the restarted stack the same
    request in a group of its own (what the filer reads is the body alone)."""
    with moto_in_its_own_process() as endpoint, FakeCyberTipline(hold_seconds=15.0) as ncmec:
        with local_stack_on(endpoint, tmp_path, NCMEC_URL=ncmec.base_url) as first:
            secrets = client(endpoint, "secretsmanager")
            (arn,) = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "CyberTiplineSecret" in s["Name"]]
            value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
            ncmec.username, ncmec.password = value["username"], value["password"]
            analysts = Analysts(endpoint, tmp_path)
            _, case_id = reported_csam(first, endpoint)
            ncmec.inject("finish", Fault.TIMEOUT)  # held 15 s: inside the client's 30 s, so the filer waits on it
            decide_actioned(first, analysts, case_id)
            eventually(lambda: ncmec.calls["finish"] >= 1, "the filer waiting on /finish", seconds=FILED_WITHIN_SECONDS)
            first.process.kill()
            first.process.wait(timeout=10)
        assert ncmec.wait_idle(timeout=30), "the held /finish lands after the kill"
        (landed,) = [r for r in ncmec.reports() if case_id in r.document]
        assert landed.finished_at is not None, "NCMEC finished it; the stack never heard"

        with local_stack_on(endpoint, tmp_path, NCMEC_URL=ncmec.base_url) as second:
            sqs = client(endpoint, "sqs")
            (queue_url,) = [u for u in sqs.list_queues()["QueueUrls"] if "CyberTiplineQueue" in u]
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps({"case_id": case_id, "decision_id": "01KB2Y0000AAAABBBBCCCCRETR"}),
                MessageGroupId=f"{case_id}-after-restart",
                MessageDeduplicationId=uuid.uuid4().hex,
            )
            analysts = Analysts(endpoint, tmp_path)

            def finished() -> dict[str, Any] | None:
                filing = filing_on_the_case(second, analysts, case_id)
                return filing if filing and filing["stage"] == "FINISHED" else None

            filing = eventually(finished, "the filing FINISHED after the restart", seconds=FILED_WITHIN_SECONDS)
        assert filing["reportId"] == landed.report_id
        assert [r.report_id for r in ncmec.reports() if case_id in r.document] == [landed.report_id], "one, not two"
        assert ncmec.calls["submit"] == 1, "never submitted again"


def test_the_payload_a_reporter_sent_is_filed_and_says_a_person_viewed_it(
    stack: Running, analysts: Analysts, endpoint: str, ncmec: FakeCyberTipline
) -> None:
    report = csam_report()  # an image sent with the report, about a URL outside the protected buckets
    submit(stack, report, PARTNER)

    def the_case() -> dict[str, Any] | None:
        cases = [c for c in queue(stack, analysts, "demo-child-safety") if c["reportCount"] >= 1]
        for listed in cases:
            _, page = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{listed['caseId']}")
            if report["url"] in json.dumps(page["reports"]):
                return dict(page)
        return None

    page = eventually(the_case, "the case of the report with a payload", seconds=60)
    case_id = page["case"]["caseId"]
    (item,) = page["reports"][0]["evidence"]
    view = f"/v1/evidence/{item['evidenceId']}/views"
    purpose = {"purpose": "confirm apparent CSAM"}
    assert as_analyst(stack, analysts, "demo-child-safety", "POST", view, purpose)[0] == 201
    s3, bucket = client(endpoint, "s3"), evidence_bucket(endpoint)
    eventually(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"ncmec/{case_id}.xml").get("KeyCount"), "the draft")
    decide_actioned(stack, analysts, case_id)

    def finished() -> dict[str, Any] | None:
        filing = filing_on_the_case(stack, analysts, case_id)
        return filing if filing and filing["stage"] == "FINISHED" else None

    filing = eventually(finished, "the CyberTip finished", seconds=FILED_WITHIN_SECONDS)
    (file,) = ncmec.report(filing["reportId"]).files.values()
    image = base64.b64decode(report["evidence"][0]["payload"])
    assert file.md5 == hashlib.md5(image).hexdigest(), "the bytes the reporter sent"  # noqa: S324
    details = ET.fromstring(file.details or "")
    assert details.findtext("fileViewedByEsp") == "true", "an analyst looked at it before deciding (US v. Wilson)"
    assert details.findtext("locationOfFile") == report["url"], "where the reporter found it"
    chain = as_analyst(stack, analysts, "demo-child-safety", "GET", f"/v1/cases/{case_id}")[1]["custody"]
    reported = [e for e in chain[item["evidenceId"]] if e["step"] == "reported"]
    assert len(reported) == 1 and reported[0]["detail"]["ncmecReportId"] == filing["reportId"]
