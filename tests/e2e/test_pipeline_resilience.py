"""The pipeline under the two stresses partners and operators actually produce: many identical retries at once, and
`make run` killed (SIGKILL) right after accepting a report, then started again against the same endpoint.

The endpoint is a moto server this test starts, so it outlives the killed process, as AWS would.
"""

from __future__ import annotations

import base64
import json
import signal
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Running, call, client, environment, eventually, evidence_bucket, local_stack
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

JSON = [("Content-Type", "application/json")]
DEMO_BUCKET = "demo-customer-content"
DEMO_KEYS = ("images/pixel.png", "pages/login.html", "notes/readme.txt")
DEADLINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's backends are global to this process, whatever server serves them: start from an empty cloud.
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"))
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_env(endpoint: str, state_dir: Path) -> dict[str, str]:
    return environment(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        LOCAL_STATE_DIR=str(state_dir),
    )


def csam(key: str, token: str | None = None) -> bytes:
    report = well_formed("content", "csam")
    report["url"] = report["source_identifier"] = f"https://{DEMO_BUCKET}.s3.amazonaws.com/{key}"
    envelope: dict[str, Any] = {"report": report}
    if token:
        envelope["clientToken"] = token
    return json.dumps(envelope).encode()


def held_copies(endpoint: str, key: str) -> list[dict[str, Any]]:
    s3 = client(endpoint, "s3")
    bucket = evidence_bucket(endpoint)
    source = s3.head_object(Bucket=DEMO_BUCKET, Key=key, ChecksumMode="ENABLED")
    prefix = f"evidence/{DEMO_BUCKET}/"
    copies = []
    for version in s3.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", []):
        head = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], ChecksumMode="ENABLED")
        if head.get("ChecksumSHA256") == source["ChecksumSHA256"] and head.get("ObjectLockLegalHoldStatus") == "ON":
            copies.append(head)
    return copies


def drafts(endpoint: str) -> dict[str, list[str]]:
    s3 = client(endpoint, "s3")
    versions = s3.list_object_versions(Bucket=evidence_bucket(endpoint), Prefix="ncmec/").get("Versions", [])
    found: dict[str, list[str]] = {}
    for version in versions:
        found.setdefault(version["Key"], []).append(version["VersionId"])
    return found


def on_call_pages(endpoint: str) -> Callable[[], list[dict[str, Any]]]:
    """Subscribe a queue to the on-call topic, as a pager would; the probe returns every escalation page received so
    far (the topic also carries CloudWatch alarms' state changes, which `make run` emulates; those are left out)."""
    sns, sqs = client(endpoint, "sns"), client(endpoint, "sqs")
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if "OnCallTopic" in t["TopicArn"]]
    queue = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    received: list[dict[str, Any]] = []

    def probe() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        bodies = [json.loads(message["Body"]) for message in messages]
        received.extend(body for body in bodies if "AlarmName" not in body)
        return list(received)

    return probe


def queues_drained(endpoint: str) -> bool:
    sqs = client(endpoint, "sqs")
    for url in sqs.list_queues()["QueueUrls"]:
        if "QuarantineQueue" in url or "EscalationQueue" in url:
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if counts["ApproximateNumberOfMessages"] != "0" or counts["ApproximateNumberOfMessagesNotVisible"] != "0":
                return False
    return True


def sha256_hex(endpoint: str, key: str) -> str:
    head = client(endpoint, "s3").head_object(Bucket=DEMO_BUCKET, Key=key, ChecksumMode="ENABLED")
    return base64.b64decode(head["ChecksumSHA256"]).hex()


def draft_text(endpoint: str, case: str) -> str:
    s3 = client(endpoint, "s3")
    return str(s3.get_object(Bucket=evidence_bucket(endpoint), Key=f"ncmec/{case}.xml")["Body"].read().decode())


def case_of(stack: Running, report_id: str) -> str | None:
    return call(stack.port, "GET", f"/v1/reports/{report_id}", signed=True).json().get("caseId")


def test_100_parallel_identical_submissions_20_rounds_make_one_report_and_one_escalation(
    endpoint: str, tmp_path: Path
) -> None:
    # The quota is raised so that every submission reaches the service: this is about races, not the throttle.
    quota = ("--parameter", "PartnerRateLimit=100000", "--parameter", "PartnerBurstLimit=100000")
    with local_stack(tmp_path, *quota, env=aws_env(endpoint, tmp_path / "state")) as stack:
        pages = on_call_pages(endpoint)
        statuses: list[int] = []
        report_ids: set[str] = set()
        payload = csam(DEMO_KEYS[1], token="parallel-identical-1")

        def submit(_: int) -> tuple[int, str | None]:
            answer = call(stack.port, "POST", "/v1/reports", body=payload, headers=JSON, signed=True)
            return answer.status, answer.json().get("reportId") if answer.status == 202 else None

        with ThreadPoolExecutor(max_workers=100) as pool:
            for _ in range(20):
                for status, report_id in pool.map(submit, range(100)):
                    statuses.append(status)
                    if report_id:
                        report_ids.add(report_id)
        assert not [s for s in statuses if s >= 500], "no 5xx"
        assert statuses == [202] * 2000
        assert len(report_ids) == 1, "one report"
        (report_id,) = report_ids
        case = eventually(lambda: case_of(stack, report_id), "the report's case")
        eventually(lambda: held_copies(endpoint, DEMO_KEYS[1]), "the held copy")
        eventually(lambda: drafts(endpoint).get(f"ncmec/{case}.xml"), "the CyberTipline draft")
        assert len(held_copies(endpoint, DEMO_KEYS[1])) == 1
        assert len(drafts(endpoint)[f"ncmec/{case}.xml"]) >= 1
        assert list(drafts(endpoint)) == [f"ncmec/{case}.xml"], "one draft, for the one case"
        eventually(pages, "the on-call page")
        eventually(lambda: queues_drained(endpoint), "the quarantine and escalation queues drained")
        page = pages()
        assert [message["caseId"] for message in page] == [case], "one escalation"
        assert "description" not in json.dumps(page) and DEMO_BUCKET not in json.dumps(page), "ids only, no content"


@pytest.mark.parametrize("round_", range(3))
def test_make_run_killed_right_after_a_202_carries_on_after_a_restart(
    endpoint: str, tmp_path: Path, round_: int
) -> None:
    key = DEMO_KEYS[round_ % len(DEMO_KEYS)]
    state = tmp_path / "state"
    with local_stack(tmp_path, env=aws_env(endpoint, state)) as first:
        answer = call(
            first.port, "POST", "/v1/reports", body=csam(key, token=f"kill-{round_}"), headers=JSON, signed=True
        )
        assert answer.status == 202
        report_id = answer.json()["reportId"]
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    with local_stack(tmp_path, env=aws_env(endpoint, state)) as second:
        case = eventually(lambda: case_of(second, report_id), "the report's case after the restart")
        eventually(lambda: held_copies(endpoint, key), "the held copy after the restart")
        eventually(lambda: drafts(endpoint).get(f"ncmec/{case}.xml"), "the draft after the restart")
        eventually(
            lambda: sha256_hex(endpoint, key) in draft_text(endpoint, case), "the draft carrying the file's hash"
        )
        again = call(
            second.port, "POST", "/v1/reports", body=csam(key, token=f"kill-{round_}"), headers=JSON, signed=True
        )
        assert again.json() == {**answer.json(), "duplicate": True, "status": again.json()["status"]}
    assert len(held_copies(endpoint, key)) == 1, "exactly one held copy"
    assert f"ncmec/{case}.xml" in drafts(endpoint), "one draft per case, under its fixed key"
