"""The escalation worker as Lambda runs it, at the end of the real pipeline under moto.

Reports go in through the intake handler; the dispatcher reads them from stream records; the quarantine worker
(functions/quarantine) preserves the objects in the evidence bucket and writes custody events; the escalation worker
drafts the CyberTipline report from all of that and pages on-call. Queues are driven as Lambda's SQS event source
drives them, one batch at a time.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import boto3
import pytest

from functions.escalation.handler import lambda_handler as escalation
from functions.quarantine.handler import lambda_handler as quarantine
from local.demo import DEMO_OBJECTS
from shared.adapters.custody_log import CustodyLog
from shared.config import settings
from shared.domain.cases import case_id_for
from shared.domain.ncmec import INCIDENT_TYPE_CHILD_PORNOGRAPHY
from shared.domain.quarantine import evidence_prefix, object_id
from tests.conftest import FunctionContext, drive_queue, published, report_items, sqs_records, stream_event
from tests.integration.test_dispatch import (
    PARTNER_A,
    PARTNER_B,
    PIXEL,
    PIXEL_URI,
    case,
    csam,
    deliver_until_done,
    partners,  # noqa: F401 - the fixture, used by name below
    status_of,
    submit,
)
from tests.samples import xarf

pytestmark = pytest.mark.usefixtures("partners", "demo_bucket")
CHILD_CASE = case_id_for(PIXEL_URI, "child_safety")


def run_pipeline(world) -> None:
    """Everything downstream of the table, until every queue is empty: stream, quarantine, escalation."""
    deliver_until_done(stream_event(world, report_items(world))["Records"])
    drive_queue(world, "QuarantineQueue", quarantine, "QuarantineFunction")
    drive_queue(world, "EscalationQueue", escalation, "EscalationFunction")


def s3() -> Any:
    return boto3.client("s3")


def drafts(world) -> list[dict[str, Any]]:
    bucket = world.physical_name("EvidenceBucket")
    return s3().list_object_versions(Bucket=bucket, Prefix="ncmec/").get("Versions", [])


def draft(world, case_id: str) -> ET.Element:
    body = s3().get_object(Bucket=world.physical_name("EvidenceBucket"), Key=f"ncmec/{case_id}.xml")["Body"].read()
    return ET.fromstring(body)


def test_two_partners_reporting_one_csam_object_get_one_case_and_one_draft_with_its_hashes(world):
    first = submit(csam(), PARTNER_A)
    second = submit(csam(source_identifier="198.51.100.23"), PARTNER_B)
    run_pipeline(world)

    assert status_of(first, PARTNER_A)["caseId"] == status_of(second, PARTNER_B)["caseId"] == CHILD_CASE
    (version,) = drafts(world)
    assert version["Key"] == f"ncmec/{CHILD_CASE}.xml"
    report = draft(world, CHILD_CASE)
    content = DEMO_OBJECTS["images/pixel.png"][1]
    (details,) = report.findall("fileDetails")
    assert {e.get("hashType"): e.text for e in details.findall("originalFileHash")} == {
        "SHA256": hashlib.sha256(content).hexdigest(),
        "MD5": hashlib.md5(content).hexdigest(),  # noqa: S324 - NCMEC asks for it
    }
    assert details.findtext("fileViewedByEsp") == "false"
    assert details.findtext("publiclyAvailable") in ("true", "false")
    assert report.findtext("incidentSummary/incidentType") == INCIDENT_TYPE_CHILD_PORNOGRAPHY
    assert report.findtext("incidentSummary/escalateToHighPriority")
    assert datetime.fromisoformat(report.findtext("incidentSummary/incidentDateTime") or "").tzinfo is not None
    assert PIXEL in [url.text for url in report.findall("internetDetails/webPageIncident/url")]
    assert report.findtext("reporter/reportingPerson/email") == world.parameters["TrustSafetyEmail"]

    head = s3().head_object(Bucket=world.physical_name("EvidenceBucket"), Key=f"ncmec/{CHILD_CASE}.xml")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == world.arn("EvidenceKey")
    assert head["ObjectLockLegalHoldStatus"] == "ON"

    evidence = s3().list_object_versions(Bucket=world.physical_name("EvidenceBucket"), Prefix="evidence/")
    assert len(evidence["Versions"]) == 1, "one held copy of the one object"
    (page,) = published(world)
    assert page["message"]["caseId"] == CHILD_CASE and page["message"]["severity"] == "P0"
    assert page["message"]["reportCount"] == 2 and page["attributes"]["severity"]["Value"] == "P0"
    stored = case(world, CHILD_CASE)
    assert stored["notifiedSeverity"]["S"] == "P0" and stored["draftSha256"]["S"]


def test_a_csam_object_deleted_before_its_copy_is_recorded_absent_and_its_draft_waits_for_nothing(world):
    gone = "https://demo-customer-content.s3.amazonaws.com/images/deleted-before-the-copy.png"
    submit(csam(url=gone), PARTNER_A)
    run_pipeline(world)

    gone_case = case_id_for("s3://demo-customer-content/images/deleted-before-the-copy.png", "child_safety")
    custody = [i for i in report_items_of(world, "custody") if i["step"]["S"] == "absent"]
    assert [(i["sourceKey"]["S"], i["caseId"]["S"]) for i in custody] == [
        ("images/deleted-before-the-copy.png", gone_case)
    ]
    assert "fileDetails" not in ET.tostring(draft(world, gone_case)).decode(), "a draft, with no file to describe"
    assert "awaitingEvidenceSince" not in case(world, gone_case), "nothing left for the sweeper to send again"
    evidence = s3().list_object_versions(Bucket=world.physical_name("EvidenceBucket"), Prefix="evidence/")
    assert evidence.get("Versions", []) == []


def report_items_of(world, entity: str) -> list[dict[str, Any]]:
    table = world.physical_name("ReportsTable")
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if item.get("entity", {}).get("S") == entity]


def test_on_call_hears_ids_and_classification_never_content_contacts_or_places(world):
    submit(csam(description="a description only the reporter wrote"), PARTNER_A)
    run_pipeline(world)
    (page,) = published(world)
    text = page["raw"] + (page["subject"] or "") + json.dumps(page["attributes"])
    for secret in ("description only", "abuse@cert.example", "Example CERT", "demo-customer-content", "pixel", "http"):
        assert secret not in text
    content = DEMO_OBJECTS["images/pixel.png"][1]
    assert hashlib.sha256(content).hexdigest() not in text


def test_an_escalation_delivered_five_times_writes_one_draft_and_pages_once(world):
    submit(csam(), PARTNER_A)
    deliver_until_done(stream_event(world, report_items(world))["Records"])
    drive_queue(world, "QuarantineQueue", quarantine, "QuarantineFunction")
    sqs = boto3.client("sqs")
    url = world.queue_url("EscalationQueue")
    # The dispatcher's request; the quarantine worker's (the copy is verified) waits behind it in the case's group.
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
    event = {"Records": sqs_records(world, "EscalationQueue", [message])}
    for _ in range(5):  # Lambda delivers it again, e.g. after a timeout that came after the work was done
        assert escalation(event, FunctionContext("EscalationFunction")) == {"batchItemFailures": []}
    assert len(drafts(world)) == 1
    assert len(published(world)) == 1


def test_a_later_report_with_a_new_url_updates_the_one_draft_and_does_not_page_again(world):
    submit(csam(), PARTNER_A)
    run_pipeline(world)
    submit(csam(source_identifier="https://mirror.example.org/copy.png"), PARTNER_B)
    run_pipeline(world)
    versions = drafts(world)
    assert {v["Key"] for v in versions} == {f"ncmec/{CHILD_CASE}.xml"} and len(versions) == 2
    urls = [url.text for url in draft(world, CHILD_CASE).findall("internetDetails/webPageIncident/url")]
    assert "https://mirror.example.org/copy.png" in urls and PIXEL in urls
    assert len(published(world)) == 1


def test_other_escalations_page_on_call_and_write_no_draft(world):
    phishing = submit(xarf(url="https://login.example.net/account/verify"), PARTNER_A)
    run_pipeline(world)
    (page,) = published(world)
    assert page["message"]["caseId"] == status_of(phishing)["caseId"]
    assert page["message"]["severity"] == "P1" and page["message"]["draftKey"] is None
    assert drafts(world) == []


def test_poison_messages_retry_alone_then_land_in_the_dlq(world):
    submit(xarf(url="https://login.example.net/a"), PARTNER_A)
    submit(xarf(url="https://login.example.net/b"), PARTNER_B)
    deliver_until_done(stream_event(world, report_items(world))["Records"])
    sqs = boto3.client("sqs")
    url = world.queue_url("EscalationQueue")
    for n, body in enumerate(["not json", json.dumps({"case_id": "x", "report_id": "too short"})]):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=f"poison-{n}", MessageDeduplicationId=f"p{n}")
    drive_queue(world, "EscalationQueue", escalation, "EscalationFunction")
    assert len(published(world)) == 2, "the good messages went through, once each"
    dead = sqs.receive_message(QueueUrl=world.queue_url("EscalationDLQ"), MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(
        ["not json", json.dumps({"case_id": "x", "report_id": "too short"})]
    )


def test_the_sample_escalation_event_drafts_and_pages_for_its_case(world):
    """events/escalation_csam.json, as `sam local invoke EscalationFunction -e` sends it, once its case exists."""
    from tests.conftest import load_event

    submit(csam(), PARTNER_A)
    deliver_until_done(stream_event(world, report_items(world))["Records"])
    drive_queue(world, "QuarantineQueue", quarantine, "QuarantineFunction")
    assert escalation(load_event("escalation_csam.json"), FunctionContext("EscalationFunction")) == {
        "batchItemFailures": []
    }
    assert [v["Key"] for v in drafts(world)] == [f"ncmec/{CHILD_CASE}.xml"]
    (page,) = published(world)
    assert page["message"]["reportId"] == "01KB2X3Y4Z5A6B7C8D9E0F1G2H"


def test_the_sample_filing_event_files_its_drafted_case_with_the_cybertipline(world, monkeypatch):
    """events/cybertipline_filing.json, as `sam local invoke CyberTiplineFunction -e` sends it, once its case is
    drafted: against a CyberTipline of our own holding the stack secret's credentials, one finished CyberTip."""
    from functions.cybertipline.handler import lambda_handler as filer
    from local.cybertipline import FakeCyberTipline
    from shared.adapters import filings
    from tests.conftest import load_event

    submit(csam(), PARTNER_A)
    deliver_until_done(stream_event(world, report_items(world))["Records"])
    drive_queue(world, "QuarantineQueue", quarantine, "QuarantineFunction")
    drive_queue(world, "EscalationQueue", escalation, "EscalationFunction")
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=world.ref("CyberTiplineSecret"))["SecretString"]
    )
    filings.credentials.cache_clear()
    with FakeCyberTipline(username=secret["username"], password=secret["password"]) as ncmec:
        monkeypatch.setenv("NCMEC_URL", ncmec.base_url)
        settings.cache_clear()
        event = load_event("cybertipline_filing.json")
        assert filer(event, FunctionContext("CyberTiplineFunction")) == {"batchItemFailures": []}
        (filed,) = ncmec.finished()
        assert filer(event, FunctionContext("CyberTiplineFunction")) == {"batchItemFailures": []}, "delivered again"
        assert ncmec.reports() == [filed], "one CyberTip, whatever the deliveries"
    (file,) = filed.files.values()
    assert file.md5 == hashlib.md5(DEMO_OBJECTS["images/pixel.png"][1]).hexdigest()  # noqa: S324 - NCMEC's hash
    # The copy's chain of custody says where it went: one `reported` event naming the CyberTip and NCMEC's file id.
    prefix = evidence_prefix("demo-customer-content", "images/pixel.png")
    listed = boto3.client("s3").list_objects_v2(Bucket=world.physical_name("EvidenceBucket"), Prefix=prefix)
    (version,) = [item["Key"].removeprefix(prefix) for item in listed["Contents"]]
    chain = CustodyLog(world.physical_name("ReportsTable")).chain(
        object_id("demo-customer-content", "images/pixel.png", version)
    )
    reported = [event for event in chain if event.step == "reported"]
    assert [(e.occurrence, e.detail["ncmecFileId"]) for e in reported] == [(filed.report_id, file.file_id)]
    filings.credentials.cache_clear()
