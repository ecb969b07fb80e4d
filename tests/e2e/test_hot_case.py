"""Many reporters about one thing at once, against `python -m local` on a moto server in a process of its own (as
AWS is outside a deployed stack; `AWS_ENDPOINT_URL` is how a developer points the stack at one), whose table the test
reads as it is: a viral URL reported 3,000 times by 30 partners in under a minute, and one CSAM object reported
by two partners within a second. Both are the shapes that used to strand work: a hot case whose transactions timed
out and sent stream records to the on-failure queue, and a draft written before its evidence copy existed."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.adapters.cases_table import case_key
from tests.e2e.stack import UNTHROTTLED, Running, call, client, eventually, local_stack_on, moto_in_its_own_process
from tests.samples import well_formed

pytestmark = pytest.mark.e2e

JSON = [("Content-Type", "application/json")]
DEMO_BUCKET = "demo-customer-content"
VIRAL_URL = "https://viral-login.example.org/account/verify"
CALLERS, REPORTS_PER_CALLER = 30, 100
PROCESSED_WITHIN_SECONDS = 120.0
DRAFT_WITHIN_SECONDS = 60.0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_in_its_own_process() as url:
        yield url


@pytest.fixture(scope="module")
def stack(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_stack_on(endpoint, tmp_path_factory.mktemp("hot-case"), *UNTHROTTLED) as running:
        yield running


def partner(number: int) -> str:
    return f"AKIAHOTCASEPARTNER{number:02d}"


def table_name(endpoint: str) -> str:
    (name,) = [n for n in client(endpoint, "dynamodb").list_tables()["TableNames"] if "ReportsTable" in n]
    return name


def reports_by_id(endpoint: str, report_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The stored items of these reports, read from the table itself (a scan: test-side only)."""
    ddb = client(endpoint, "dynamodb")
    found: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=table_name(endpoint),
        FilterExpression="entity = :report",
        ExpressionAttributeValues={":report": {"S": "report"}},
    ):
        for item in page["Items"]:
            if item["reportId"]["S"] in report_ids:
                found[item["reportId"]["S"]] = item
    return found


def on_failure_depth(endpoint: str) -> int:
    sqs = client(endpoint, "sqs")
    (url,) = [u for u in sqs.list_queues()["QueueUrls"] if "DispatcherFailureQueue" in u]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"])


def submit(stack: Running, report: dict[str, Any], access_key: str) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"report": report, "clientToken": uuid.uuid4().hex}).encode()
    answer = call(stack.port, "POST", "/v1/reports", body=body, headers=JSON, signed=True, access_key=access_key)
    return answer.status, answer.json()


def test_3000_reports_about_one_url_from_30_callers_reach_one_case_counted_exactly(
    stack: Running, endpoint: str
) -> None:
    def one_callers_reports(number: int) -> list[tuple[int, dict[str, Any]]]:
        answers = []
        for _ in range(REPORTS_PER_CALLER):
            report = well_formed("content", "phishing")
            report["url"] = report["source_identifier"] = VIRAL_URL
            answers.append(submit(stack, report, partner(number)))
        return answers

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        answers = [answer for batch in pool.map(one_callers_reports, range(CALLERS)) for answer in batch]
    assert sorted({status for status, _ in answers}) == [202], [a for a in answers if a[0] != 202][:3]
    report_ids = {receipt["reportId"] for _, receipt in answers}
    assert len(report_ids) == CALLERS * REPORTS_PER_CALLER, "every submission is its own report"

    def all_processed() -> dict[str, dict[str, Any]] | None:
        items = reports_by_id(endpoint, report_ids)
        done = [item for item in items.values() if item.get("status", {}).get("S") == "PROCESSING"]
        return items if len(done) == len(report_ids) else None

    items = eventually(all_processed, "all 3,000 reports PROCESSING", seconds=PROCESSED_WITHIN_SECONDS)
    case_ids = {item["caseId"]["S"] for item in items.values()}
    assert len(case_ids) == 1, f"one case for one URL, not {len(case_ids)}"
    (case_id,) = case_ids
    case = client(endpoint, "dynamodb").get_item(TableName=table_name(endpoint), Key=case_key(case_id))["Item"]
    assert int(case["reportCount"]["N"]) == CALLERS * REPORTS_PER_CALLER
    assert on_failure_depth(endpoint) == 0, "no stream records given up on"


def test_two_partners_reporting_one_csam_object_within_a_second_give_one_copy_and_one_complete_draft(
    stack: Running, endpoint: str
) -> None:
    s3 = client(endpoint, "s3")
    key = f"images/reported-twice-{uuid.uuid4().hex[:8]}.png"
    content = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes  # bytes of its own: its hashes are this object's alone
    s3.put_object(Bucket=DEMO_BUCKET, Key=key, Body=content, ContentType="image/png", ChecksumAlgorithm="SHA256")
    uri = f"https://{DEMO_BUCKET}.s3.amazonaws.com/{key}"

    def report_from(number: int) -> tuple[int, dict[str, Any]]:
        report = well_formed("content", "csam")
        report["url"] = report["source_identifier"] = uri
        return submit(stack, report, partner(90 + number))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(report_from, range(2)))
    assert time.monotonic() - started < 1.0, "both reports within a second"
    assert [status for status, _ in answers] == [202, 202]
    report_ids = {receipt["reportId"] for _, receipt in answers}
    assert len(report_ids) == 2, "two partners, two reports"

    def one_case() -> str | None:
        items = reports_by_id(endpoint, report_ids)
        cases = {item["caseId"]["S"] for item in items.values() if "caseId" in item}
        every_one_in_a_case = len(items) == 2 and all("caseId" in item for item in items.values())
        return cases.pop() if every_one_in_a_case and len(cases) == 1 else None

    deadline_start = time.monotonic()
    case_id = eventually(one_case, "both reports in one case", seconds=DRAFT_WITHIN_SECONDS)
    bucket = evidence_bucket(endpoint)
    sha256, md5 = hashlib.sha256(content).hexdigest(), hashlib.md5(content).hexdigest()

    def complete_draft() -> list[dict[str, str]] | None:
        try:
            text = s3.get_object(Bucket=bucket, Key=f"ncmec/{case_id}.xml")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        files = [
            {hash_.get("hashType", ""): hash_.text or "" for hash_ in details.iter("originalFileHash")}
            for details in ET.fromstring(text).iter("fileDetails")
        ]
        return files or None

    remaining = DRAFT_WITHIN_SECONDS - (time.monotonic() - deadline_start)
    files = eventually(complete_draft, "a draft with fileDetails", seconds=max(remaining, 1.0))
    assert files == [{"SHA256": sha256, "MD5": md5}], "the object's own hashes, once"
    copies = [
        version
        for version in s3.list_object_versions(Bucket=bucket, Prefix=f"evidence/{DEMO_BUCKET}/").get("Versions", [])
        if version["Key"].split("/")[2] == hashlib.sha256(key.encode()).hexdigest()
    ]
    assert len(copies) == 1, "one evidence copy for two reports"
    head = s3.head_object(Bucket=bucket, Key=copies[0]["Key"], VersionId=copies[0]["VersionId"], ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha256
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    drafts = s3.list_object_versions(Bucket=bucket, Prefix="ncmec/").get("Versions", [])
    assert {version["Key"] for version in drafts} == {f"ncmec/{case_id}.xml"}, "one draft, for the one case"


def evidence_bucket(endpoint: str) -> str:
    (name,) = [b["Name"] for b in client(endpoint, "s3").list_buckets()["Buckets"] if "evidence" in b["Name"]]
    return name
