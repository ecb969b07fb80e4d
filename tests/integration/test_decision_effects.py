"""What an analyst's RELEASE or RESTRICT does to the case's objects, end to end under moto: the decision item's INSERT
into the completion worker, its orders through the quarantine queue, the quarantine worker's tags and custody events.

Objects are quarantined first as the dispatcher's requests would have them (events/quarantine_*.json); the case item
names them as the dispatcher leaves it; the decision item is the one the casework API writes. Assertions read S3 and
DynamoDB with clients of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.completion.handler import lambda_handler as completion
from functions.quarantine.handler import lambda_handler as quarantine_worker
from local.demo import DEMO_BUCKET
from local.world import World
from shared.domain.dedupe import ulid_text
from shared.domain.quarantine import QUARANTINE_TAG, object_id
from tests.conftest import FunctionContext, drain, drive_queue, load_event, stream_event
from tests.integration.test_quarantine_handler import (
    REPORT,
    custody,
    deliver,
    evidence_versions,
    request_body,
    sqs_event,
)

ANALYST = "analyst-ada"
CSAM_CASE = "3f6c1d2e9a8b7c6d5e4f3a2b1c0d9e8f"  # events/quarantine_csam.json: images/pixel.png, restricted
PHISHING_CASE = "9e8f3f6c1d2e9a8b7c6d5e4f3a2b1c0d"  # events/quarantine_phishing.json: pages/login.html, not restricted
PIXEL, LOGIN = "images/pixel.png", "pages/login.html"


def s3() -> Any:
    return boto3.client("s3")


def decision_id(minutes: int) -> str:
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return ulid_text(int(at.timestamp() * 1000).to_bytes(6, "big") + (99).to_bytes(10, "big"))


def decision(case_id: str, action: str, minutes: int = 0) -> dict[str, Any]:
    """The decision item as the casework API writes it."""
    made = decision_id(minutes)
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return {
        "PK": {"S": f"CASE#{case_id}"},
        "SK": {"S": f"DECISION#{made}"},
        "entity": {"S": "decision"},
        "caseId": {"S": case_id},
        "decisionId": {"S": made},
        "analyst": {"S": ANALYST},
        "decidedAt": {"S": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        "reasonCode": {"S": "ACTIONED" if action == "RESTRICT" else "REVIEWED_NO_AWS_ACTION"},
        "action": {"S": action},
        "family": {"S": "content"},
        "category": {"S": "content"},
    }


def seed_case(world: World, case_id: str, keys: list[str], latest: str) -> None:
    """The case as the dispatcher and the decision's transaction leave it: its objects and its latest decision."""
    item: dict[str, Any] = {
        "PK": {"S": f"CASE#{case_id}"},
        "SK": {"S": "CASE"},
        "entity": {"S": "case"},
        "caseId": {"S": case_id},
        "resource": {"S": f"s3://{DEMO_BUCKET}/{keys[0]}" if keys else "https://example.org/"},
        "family": {"S": "content"},
        "category": {"S": "content"},
        "version": {"N": "1"},
        "reportCount": {"N": "1"},
        "decisionId": {"S": latest},
    }
    if keys:
        item["objects"] = {"SS": [f"s3://{DEMO_BUCKET}/{key}" for key in keys]}
    boto3.client("dynamodb").put_item(TableName=world.physical_name("ReportsTable"), Item=item)


def decide(world: World, made: dict[str, Any]) -> None:
    """The completion worker on the decision's INSERT, then the quarantine worker on what it ordered."""
    answer = completion(stream_event(world, [made]), FunctionContext("CompletionFunction"))
    assert answer == {"batchItemFailures": []}
    drive_queue(world, "QuarantineQueue", quarantine_worker, "QuarantineFunction")


def drain_orders_after(world: World, made: dict[str, Any]) -> dict[str, Any]:
    """The decision delivered to the completion worker once more; the one order it sends, taken off the queue."""
    answer = completion(stream_event(world, [made]), FunctionContext("CompletionFunction"))
    assert answer == {"batchItemFailures": []}
    (order,) = drain(world.queue_url("QuarantineQueue"))
    return order


def tags(demo_bucket: dict[str, str], key: str) -> list[dict[str, str]]:
    return s3().get_object_tagging(Bucket=DEMO_BUCKET, Key=key, VersionId=demo_bucket[key])["TagSet"]


def chain(demo_bucket: dict[str, str], world: World, key: str) -> dict[str, dict[str, Any]]:
    pk = "CUSTODY#" + object_id(DEMO_BUCKET, key, demo_bucket[key])
    return {item["SK"]["S"].removeprefix("EVENT#"): item for item in custody(world) if item["PK"]["S"] == pk}


@pytest.fixture
def quarantined(world: World, demo_bucket: dict[str, str]) -> dict[str, str]:
    """pixel.png preserved and restricted by its report; login.html preserved and left untagged (public phishing)."""
    assert deliver(load_event("quarantine_csam.json")) == []
    assert deliver(load_event("quarantine_phishing.json")) == []
    assert tags(demo_bucket, PIXEL) == [{"Key": QUARANTINE_TAG, "Value": REPORT}]
    assert tags(demo_bucket, LOGIN) == []
    return demo_bucket


def test_a_restrict_decision_on_a_case_with_a_quarantined_object_leaves_it_tagged(world, quarantined):
    made = decision(CSAM_CASE, "RESTRICT")
    seed_case(world, CSAM_CASE, [PIXEL], made["decisionId"]["S"])
    before = chain(quarantined, world, PIXEL)

    decide(world, made)

    assert tags(quarantined, PIXEL) == [{"Key": QUARANTINE_TAG, "Value": REPORT}]
    assert chain(quarantined, world, PIXEL).keys() == before.keys(), "its restriction was there: nothing appended"


def test_a_restrict_decision_tags_a_preserved_object_that_policy_left_untagged(world, quarantined):
    made = decision(PHISHING_CASE, "RESTRICT")
    seed_case(world, PHISHING_CASE, [LOGIN], made["decisionId"]["S"])

    decide(world, made)

    assert tags(quarantined, LOGIN) == [{"Key": QUARANTINE_TAG, "Value": made["decisionId"]["S"]}]
    restricted = chain(quarantined, world, LOGIN)[f"restricted#{made['decisionId']['S']}"]
    assert restricted["by"]["S"] == ANALYST and restricted["caseId"]["S"] == PHISHING_CASE
    assert len(evidence_versions(world)) == 2, "no second copy: the one preserved is the one tagged"


def test_a_release_decision_removes_the_tag_and_records_the_analyst_and_keeps_the_copy_held(world, quarantined):
    made = decision(CSAM_CASE, "RELEASE")
    seed_case(world, CSAM_CASE, [PIXEL], made["decisionId"]["S"])

    decide(world, made)

    assert tags(quarantined, PIXEL) == []
    released = chain(quarantined, world, PIXEL)[f"released#{REPORT}"]
    assert released["by"]["S"] == ANALYST
    assert released["detail"]["M"]["reason"]["S"] == made["decisionId"]["S"]
    copy = next(v for v in evidence_versions(world) if v["Key"].endswith(f"/{quarantined[PIXEL]}"))
    head = s3().head_object(Bucket=world.physical_name("EvidenceBucket"), Key=copy["Key"], VersionId=copy["VersionId"])
    assert head["ObjectLockLegalHoldStatus"] == "ON", "releasing never ends preservation"


@pytest.mark.parametrize("action", ["RELEASE", "RESTRICT"])
def test_repeating_the_delivery_changes_nothing_and_appends_nothing(world, quarantined, action):
    made = decision(PHISHING_CASE if action == "RESTRICT" else CSAM_CASE, action)
    seed_case(world, made["caseId"]["S"], [LOGIN if action == "RESTRICT" else PIXEL], made["decisionId"]["S"])
    decide(world, made)
    events, copies = custody(world), evidence_versions(world)
    tagged = (tags(quarantined, PIXEL), tags(quarantined, LOGIN))

    decide(world, made)  # the stream record again: a second order per object
    order = drain_orders_after(world, made)
    assert deliver(sqs_event(order, order)) == []  # and the same order twice in one batch

    assert custody(world) == events and evidence_versions(world) == copies
    assert (tags(quarantined, PIXEL), tags(quarantined, LOGIN)) == tagged


def test_a_release_on_a_case_without_objects_sends_nothing(world, demo_bucket, pipeline_calls):
    made = decision("7" * 32, "RELEASE")
    seed_case(world, "7" * 32, [], made["decisionId"]["S"])

    answer = completion(stream_event(world, [made]), FunctionContext("CompletionFunction"))

    assert answer == {"batchItemFailures": []}
    assert pipeline_calls["SendMessageBatch"] == 0 and pipeline_calls["SendMessage"] == 0
    assert drain(world.queue_url("QuarantineQueue")) == []


def test_an_older_release_delivered_after_a_newer_restrict_sends_nothing(world, quarantined):
    older, newer = decision(CSAM_CASE, "RELEASE", 0), decision(CSAM_CASE, "RESTRICT", 30)
    seed_case(world, CSAM_CASE, [PIXEL], newer["decisionId"]["S"])

    answer = completion(stream_event(world, [older]), FunctionContext("CompletionFunction"))

    assert answer == {"batchItemFailures": []}
    assert drain(world.queue_url("QuarantineQueue")) == []
    assert tags(quarantined, PIXEL) == [{"Key": QUARANTINE_TAG, "Value": REPORT}]


def test_requests_and_orders_share_the_queue_and_each_reads_as_its_own(world, demo_bucket):
    """Messages already in the queue (QuarantineRequests) still read as they did, beside the new orders."""
    made = decision(PHISHING_CASE, "RESTRICT")
    order = {
        "analyst_action": "restrict",
        "decision_id": made["decisionId"]["S"],
        "case_id": PHISHING_CASE,
        "analyst": ANALYST,
        "bucket": DEMO_BUCKET,
        "key": LOGIN,
    }
    request = request_body(LOGIN, report_id=REPORT, restrict=False, type="phishing")

    assert deliver(sqs_event(request, order)) == []

    assert tags(demo_bucket, LOGIN) == [{"Key": QUARANTINE_TAG, "Value": made["decisionId"]["S"]}]
    assert {"preserved", "verified", f"restricted#{made['decisionId']['S']}"} <= chain(demo_bucket, world, LOGIN).keys()


def test_logs_carry_ids_and_counts_never_an_object_key(world, quarantined, caplog):
    made = decision(CSAM_CASE, "RELEASE")
    seed_case(world, CSAM_CASE, [PIXEL], made["decisionId"]["S"])
    caplog.clear()
    decide(world, made)
    (carried,) = [record for record in caplog.records if record.getMessage() == "decision carried out"]
    assert (carried.analystAction, carried.lifted, carried.kept) == ("release", 1, 0)
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert PIXEL not in logged and "pixel" not in logged


def test_the_case_page_shows_each_objects_quarantine_state_and_custody_as_decisions_change_it(
    world, quarantined, monkeypatch
):
    from tests.integration.test_casework_api import call

    monkeypatch.setenv("EVIDENCE_BUCKET", world.physical_name("EvidenceBucket"))

    def objects() -> dict[str, tuple[str, list[str]]]:
        status, page = call((ANALYST, ["analysts"]), "GET", f"/v1/cases/{PHISHING_CASE}")
        assert status == 200, page
        return {
            entry["uri"].rsplit("/", 1)[-1]: (entry["state"], [e["step"] for e in entry["versions"][-1]["custody"]])
            for entry in page["objects"]
        }

    seed_case(world, PHISHING_CASE, [LOGIN], latest="")
    assert objects() == {"login.html": ("preserved", ["preserved", "verified"])}, "held, verified, not restricted"
    restrict = decision(PHISHING_CASE, "RESTRICT")
    decide(world, restrict)
    assert objects() == {"login.html": ("restricted", ["preserved", "verified", "restricted"])}
    release = decision(PHISHING_CASE, "RELEASE", minutes=30)
    decide(world, release)
    assert objects()["login.html"][0] == "released", "the latest of restricted and released is the state"
