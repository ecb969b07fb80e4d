"""Evidence payloads at intake: kept in the evidence bucket once per distinct content, referenced from the report,
held when they are media in a child-safety report, and never at the cost of a report that is not accepted."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from typing import Any

import boto3

from tests.conftest import table_items
from tests.integration.test_intake_handler import invoke, lookup_event, submit_event
from tests.samples import xarf

PAYLOADS = [
    b"Received: from mail.example.net\r\nSubject: verify\r\n",
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    b"x" * 4096,
]


def evidence_item(content: bytes, content_type: str = "text/plain", **fields: Any) -> dict[str, Any]:
    return {"content_type": content_type, "payload": base64.b64encode(content).decode(), **fields}


def csam(**fields: Any) -> dict[str, Any]:
    return xarf("content", "csam", classification="A1", detection_method="hash_match", **fields)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def stored_objects(world: Any) -> dict[str, dict[str, Any]]:
    """Every version in the evidence bucket under intake/, with the SHA-256 S3 verified and stores for it."""
    s3 = boto3.client("s3")
    bucket = world.physical_name("EvidenceBucket")
    versions = s3.list_object_versions(Bucket=bucket, Prefix="intake/").get("Versions", [])
    found = {}
    for version in versions:
        attributes = s3.get_object_attributes(
            Bucket=bucket,
            Key=version["Key"],
            VersionId=version["VersionId"],
            ObjectAttributes=["Checksum", "ObjectSize"],
        )
        found[version["Key"]] = {
            "sha256": base64.b64decode(attributes["Checksum"]["ChecksumSHA256"]).hex(),
            "size": attributes["ObjectSize"],
            "hold": s3.get_object_legal_hold(Bucket=bucket, Key=version["Key"])["LegalHold"]["Status"],
        }
    assert len(found) == len(versions), "one version per content: a retry never writes a second"
    return found


def reports(world: Any) -> list[dict[str, Any]]:
    return [item for item in table_items(world) if item["entity"]["S"] == "report"]


def test_three_payloads_are_three_objects_with_their_hashes_and_one_table_write(world, aws_calls):
    report = {"clientToken": "three-payloads", "report": xarf(evidence=[evidence_item(p) for p in PAYLOADS])}
    status, receipt, _ = invoke(submit_event(report))
    assert status == 202, receipt

    objects = stored_objects(world)
    assert {o["sha256"] for o in objects.values()} == {sha256(p) for p in PAYLOADS}
    assert {key: o["size"] for key, o in objects.items()} == {f"intake/sha256/{sha256(p)}": len(p) for p in PAYLOADS}
    assert aws_calls == Counter(PutObject=3, TransactWriteItems=1), "one write for the report and its custody"

    (item,) = reports(world)
    refs = [ref["M"] for ref in item["evidence"]["L"]]
    assert [ref["evidenceId"]["S"] for ref in refs] == [f"intake/sha256/{sha256(p)}" for p in PAYLOADS]
    assert [ref["md5"]["S"] for ref in refs] == [hashlib.md5(p).hexdigest() for p in PAYLOADS]
    assert all(ref["legalHold"] == {"BOOL": False} and ref["viewedByHuman"] == {"BOOL": False} for ref in refs)
    assert not any(base64.b64encode(p).decode()[:40] in json.dumps(item) for p in PAYLOADS), "references, not bytes"

    custody = [i for i in table_items(world) if i["entity"]["S"] == "custody"]
    assert sorted(i["PK"]["S"] for i in custody) == sorted(f"CUSTODY#intake/sha256/{sha256(p)}" for p in PAYLOADS)
    assert {(i["step"]["S"], i["reportId"]["S"], i["viewedByHuman"]["BOOL"]) for i in custody} == {
        ("received", receipt["reportId"], False)
    }

    # The status answer is what it is for any report: nothing about the evidence.
    status, view, _ = invoke(lookup_event(receipt["reportId"]))
    assert status == 200 and set(view) == {"reportId", "status", "receivedAt"}

    # The same request again: the same answer, nothing new anywhere.
    aws_calls.clear()
    status, again, _ = invoke(submit_event(report))
    assert (status, again["reportId"], again["duplicate"]) == (202, receipt["reportId"], True)
    assert stored_objects(world) == objects and len(table_items(world)) == 1 + len(PAYLOADS)
    assert aws_calls == Counter(PutObject=3, TransactWriteItems=1), "conditional puts that create nothing"


def test_the_same_bytes_twice_in_one_report_or_in_two_reports_are_one_object(world, aws_calls):
    twice = [evidence_item(PAYLOADS[0]), evidence_item(PAYLOADS[0], "message/rfc822")]
    assert invoke(submit_event({"report": xarf(evidence=twice)}))[0] == 202
    assert invoke(submit_event({"report": xarf(type_="malware", evidence=twice[:1])}))[0] == 202
    assert list(stored_objects(world)) == [f"intake/sha256/{sha256(PAYLOADS[0])}"]
    assert aws_calls["PutObject"] == 2, "one put per distinct payload per report"
    custody = [i for i in table_items(world) if i["entity"]["S"] == "custody"]
    assert len(custody) == 2, "the one object's chain has a received event for each report that sent it"


def test_a_declared_hash_that_does_not_match_is_recorded_and_the_report_accepted(world):
    wrong = "sha256:" + "0" * 64
    right = f"md5:{hashlib.md5(PAYLOADS[1]).hexdigest().upper()}"
    items = [evidence_item(PAYLOADS[0], hash=wrong), evidence_item(PAYLOADS[1], "image/png", hash=right)]
    status, body, _ = invoke(submit_event({"report": xarf(evidence=items)}))
    assert status == 202, body
    (item,) = reports(world)
    assert [ref["M"]["declaredHashMatches"] for ref in item["evidence"]["L"]] == [{"BOOL": False}, {"BOOL": True}]
    assert {o["sha256"] for o in stored_objects(world).values()} == {sha256(PAYLOADS[0]), sha256(PAYLOADS[1])}


def test_media_in_a_csam_report_is_held_and_a_text_notice_is_kept_as_for_any_report(world):
    media, notice = b"\xff\xd8\xff\xe0 not really a jpeg", b"PhotoDNA match: list X, entry 42"
    items = [evidence_item(media, "image/jpeg"), evidence_item(notice, "text/plain; charset=utf-8")]
    status, body, _ = invoke(submit_event({"report": csam(evidence=items)}))
    assert status == 202, body
    objects = stored_objects(world)
    assert objects[f"intake/sha256/{sha256(media)}"]["hold"] == "ON"
    assert objects[f"intake/sha256/{sha256(notice)}"]["hold"] == "OFF"
    (item,) = reports(world)
    assert [(r["M"]["legalHold"]["BOOL"], r["M"]["viewedByHuman"]["BOOL"]) for r in item["evidence"]["L"]] == [
        (True, False),
        (False, False),
    ]


def test_bytes_first_kept_unheld_are_held_when_a_csam_report_sends_them_again(world):
    media = b"\x00\x00\x00\x18ftypmp42 a video"
    assert (
        invoke(submit_event({"report": xarf(type_="malware", evidence=[evidence_item(media, "video/mp4")])}))[0] == 202
    )
    assert stored_objects(world)[f"intake/sha256/{sha256(media)}"]["hold"] == "OFF"
    assert invoke(submit_event({"report": csam(evidence=[evidence_item(media, "video/mp4")])}))[0] == 202
    assert stored_objects(world)[f"intake/sha256/{sha256(media)}"]["hold"] == "ON"


def test_a_report_whose_payload_cannot_be_stored_is_not_accepted_and_writes_nothing(world, faults):
    faults.arm(call=1, timing="before", error="ClientError")  # the second call: the second payload's put
    report = {"clientToken": "s3-down", "report": xarf(evidence=[evidence_item(p) for p in PAYLOADS[:2]])}
    status, body, headers = invoke(submit_event(report))
    assert faults.failed == "PutObject"
    assert status == 503 and "retry-after" in headers and table_items(world) == []
    status, body, _ = invoke(submit_event(report))  # the partner's retry, with its clientToken
    assert status == 202 and body["duplicate"] is False
    assert {o["sha256"] for o in stored_objects(world).values()} == {sha256(p) for p in PAYLOADS[:2]}


def test_without_an_evidence_bucket_reports_without_payloads_are_taken_and_those_with_get_503(world, monkeypatch):
    from shared.config import settings

    monkeypatch.delenv("EVIDENCE_BUCKET")
    settings.cache_clear()
    assert invoke(submit_event({"report": xarf()}))[0] == 202
    assert invoke(submit_event({"report": xarf(evidence=[evidence_item(PAYLOADS[0])])}))[0] == 503
    assert len(reports(world)) == 1


def test_new_evidence_about_the_same_thing_is_a_new_report_and_a_reordered_retry_is_not(world):
    first = invoke(submit_event({"report": xarf(evidence=[evidence_item(PAYLOADS[0]), evidence_item(PAYLOADS[1])])}))
    reordered = invoke(
        submit_event({"report": xarf(evidence=[evidence_item(PAYLOADS[1]), evidence_item(PAYLOADS[0])])})
    )
    more = invoke(submit_event({"report": xarf(evidence=[evidence_item(PAYLOADS[2])])}))
    assert (first[0], reordered[0], more[0]) == (202, 202, 202)
    assert reordered[1]["reportId"] == first[1]["reportId"] and reordered[1]["duplicate"] is True
    assert reordered[1]["receiptToken"] == first[1]["receiptToken"]
    assert more[1]["duplicate"] is False, "its bytes are referenced by a report of their own, not dropped"
    assert len(reports(world)) == 2


def test_reusing_a_client_token_with_other_evidence_is_a_conflict(world):
    assert invoke(submit_event({"clientToken": "t-1", "report": xarf(evidence=[evidence_item(PAYLOADS[0])])}))[0] == 202
    status, body, _ = invoke(
        submit_event({"clientToken": "t-1", "report": xarf(evidence=[evidence_item(PAYLOADS[1])])})
    )
    assert status == 409 and body["unmetRequirements"][0]["code"] == "rule.client_token.reused"
