"""What on-call would get, under `make run` as a developer runs it (embedded moto): a message on a DLQ pages through
the DLQ's alarm, a CSAM report pages through the escalation worker, each page is one line of the stack's log, and
`make redrive` puts a DLQ's messages back on their source queue.

The test reaches the embedded moto the way `make redrive` does: through the stack file in the state directory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.stack import REPO, Running, call, environment, eventually, local_stack
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

JSON = [("Content-Type", "application/json")]
DEMO_BUCKET = "demo-customer-content"
PAGE_DEADLINE_SECONDS = 30.0  # a period of 1 s below: a page takes a few seconds at most


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return environment(LOCAL_ALARM_PERIOD_SECONDS="1")


@pytest.fixture(scope="module")
def stack(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_stack(tmp_path_factory.mktemp("oncall"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def described(stack: Running, env: dict[str, str]) -> dict[str, Any]:
    description: dict[str, Any] = json.loads((Path(env["LOCAL_STATE_DIR"]) / "running-stack.json").read_text())
    return description


@pytest.fixture(scope="module")
def sqs(described: dict[str, Any]) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=described["endpoint"],
        region_name=described["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def pages(stack: Running) -> list[str]:
    return [line for line in stack.stderr.read_text().splitlines() if " page: " in line]


def depth(sqs: Any, url: str) -> int:
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"])


def visible(sqs: Any, url: str) -> int:
    attribute = "ApproximateNumberOfMessages"
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])["Attributes"][attribute])


def test_alarms_that_cannot_be_evaluated_locally_are_named_at_start_up(stack: Running) -> None:
    log = stack.stderr.read_text()
    assert re.search(r"alarm IntakeErrorsAlarm: not evaluated locally \(AWS/Lambda Errors", log), log
    assert re.search(r"alarm QuarantineFailuresAlarm: not evaluated locally \(AbuseIntake QuarantineFailures", log)
    assert re.search(r"alarms evaluated locally every 1s .*QuarantineDLQAlarm", log)


def test_a_message_on_a_dlq_pages_through_its_alarm_and_redrive_puts_it_back(
    stack: Running, described: dict[str, Any], sqs: Any, env: dict[str, str]
) -> None:
    dlq, source = described["queues"]["QuarantineDLQ"], described["queues"]["QuarantineQueue"]
    alarm = "abuse-intake-local-QuarantineDLQAlarm"
    for number in range(3):
        # Not a QuarantineRequest: the worker fails it, so a moved message stays on its queue (in flight) to count.
        sqs.send_message(QueueUrl=dlq["url"], MessageBody=json.dumps({"redrive-test": number}))

    paged = eventually(
        lambda: [line for line in pages(stack) if f'ALARM: "{alarm}"' in line and "OK -> ALARM" in line],
        "a page naming the DLQ's alarm in the local stack's log",
        PAGE_DEADLINE_SECONDS,
    )
    assert len(paged) == 1, paged
    assert f"alarm {alarm}, OK -> ALARM" in paged[0] and "redrive-test" not in stack.stderr.read_text()

    before = depth(sqs, source["url"])
    answer = subprocess.run(
        [sys.executable, "-m", "local.redrive", "QuarantineDLQ"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    assert f"moved 3 messages from {dlq['name']} to {source['name']}" in answer.stdout
    assert depth(sqs, dlq["url"]) == 0, "the DLQ is empty"
    assert depth(sqs, source["url"]) == before + 3, "every message is back on its source queue"
    eventually(
        lambda: [line for line in pages(stack) if f'OK: "{alarm}"' in line and "ALARM -> OK" in line],
        "the alarm's return to OK paged",
        PAGE_DEADLINE_SECONDS,
    )


def test_redrive_refuses_what_is_not_a_dead_letter_queue(stack: Running, env: dict[str, str]) -> None:
    for queue, expected in (
        ("DispatcherFailureQueue", "the reports are in the table"),
        ("NoSuchQueue", "is not a queue of the local stack"),
    ):
        answer = subprocess.run(
            [sys.executable, "-m", "local.redrive", queue], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert answer.returncode == 2 and expected in answer.stderr, (queue, answer.stderr)


def test_redrive_without_a_running_stack_says_so(tmp_path: Path) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "local.redrive", "QuarantineDLQ", "--state-dir", str(tmp_path)],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 1 and "start `make run` first" in answer.stderr


def test_a_csam_report_pages_on_call_in_the_log_with_ids_only(stack: Running) -> None:
    report = well_formed("content", "csam")
    report["url"] = report["source_identifier"] = f"https://{DEMO_BUCKET}.s3.amazonaws.com/images/pixel.png"
    accepted = call(stack.port, "POST", "/v1/reports", body=json.dumps({"report": report}).encode(), headers=JSON,
                    signed=True)  # fmt: skip
    assert accepted.status == 202, accepted.body
    report_id = accepted.json()["reportId"]
    case = eventually(
        lambda: call(stack.port, "GET", f"/v1/reports/{report_id}", signed=True).json().get("caseId"),
        "the report's case",
    )
    (page,) = eventually(
        lambda: [line for line in pages(stack) if f"case {case}" in line],
        "the escalation's page in the local stack's log",
        PAGE_DEADLINE_SECONDS * 2,
    )
    assert f"page: [P0] abuse-intake case {case} | severity P0, case {case}, report {report_id}" in page
    assert DEMO_BUCKET not in page and "http" not in page and "images/pixel.png" not in page, "ids only"
