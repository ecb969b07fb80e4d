"""Evidence payloads over HTTP against `python -m local` on an external moto: a partner sends three, the evidence
bucket holds three objects with the payloads' SHA-256, and the same request again adds nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Endpoint, call, environment, local_stack, recording_moto
from tests.e2e.test_quarantine_pipeline import JSON, evidence_bucket
from tests.samples import xarf

pytestmark = pytest.mark.e2e

PAYLOADS = [b"Subject: you won\r\n\r\nclick", b"\x7fELF" + bytes(range(200)), "Zeugnis \u2013 ok".encode()]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with recording_moto(tmp_path_factory.mktemp("moto")) as running:
        yield running


def intake_objects(endpoint: Endpoint) -> dict[str, str]:
    """Key -> the SHA-256 S3 holds for it, for every version under intake/."""
    s3 = endpoint.client("s3")
    bucket = evidence_bucket(endpoint)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="intake/").get("Versions", [])
    found = {}
    for version in versions:
        head = s3.get_object_attributes(
            Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], ObjectAttributes=["Checksum"]
        )
        found[version["Key"]] = base64.b64decode(head["Checksum"]["ChecksumSHA256"]).hex()
    assert len(found) == len(versions)
    return found


def test_three_payloads_sent_twice_are_three_objects_with_their_hashes(endpoint: Endpoint, tmp_path: Path) -> None:
    items = [{"content_type": "text/plain", "payload": base64.b64encode(p).decode()} for p in PAYLOADS]
    body = json.dumps({"clientToken": "e2e-evidence", "report": xarf(evidence=items)}).encode()
    env = environment(AWS_ENDPOINT_URL=endpoint.url)
    with local_stack(tmp_path, env=env) as running:
        first = call(running.port, "POST", "/v1/reports", body=body, headers=JSON, signed=True)
        assert first.status == 202, first.body
        stored = intake_objects(endpoint)
        assert stored == {
            f"intake/sha256/{hashlib.sha256(p).hexdigest()}": hashlib.sha256(p).hexdigest() for p in PAYLOADS
        }

        again = call(running.port, "POST", "/v1/reports", body=body, headers=JSON, signed=True)
        assert again.status == 202 and again.json()["duplicate"] is True
        assert again.json()["reportId"] == first.json()["reportId"]
        assert intake_objects(endpoint) == stored, "nothing new"

        status = call(running.port, "GET", f"/v1/reports/{first.json()['reportId']}", signed=True)
        assert status.status == 200 and "evidence" not in status.json()
