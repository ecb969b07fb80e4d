"""What the README documents as configuration takes effect under `make run`: `python -m local` started as
`PROTECTED_BUCKETS=<a bucket of ours> MAX_BODY_BYTES=... make run` against an external moto server, with no AWS
credentials exported (a local endpoint gets dummy ones)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from local.demo import seed_demo_bucket
from tests.e2e.stack import call, environment, eventually, local_stack, recording_moto
from tests.e2e.test_quarantine_pipeline import DEMO_BUCKET, JSON, copies_of, csam_report

pytestmark = pytest.mark.e2e

CUSTOMER_BUCKET = "a-customer-of-ours"
KEY = "images/pixel.png"


def test_protected_buckets_and_the_body_limit_come_from_the_environment(tmp_path: Path) -> None:
    with recording_moto(tmp_path) as endpoint:
        s3 = endpoint.client("s3")
        seed_demo_bucket(s3, CUSTOMER_BUCKET, install_policy=False)  # versioned, objects with SHA-256 checksums
        source = s3.head_object(Bucket=CUSTOMER_BUCKET, Key=KEY, ChecksumMode="ENABLED")
        env = environment(
            AWS_ENDPOINT_URL=endpoint.url,  # and no AWS_ACCESS_KEY_ID: environment() passes no AWS_* through
            PROTECTED_BUCKETS=CUSTOMER_BUCKET,
            MAX_BODY_BYTES="4096",
            TRUST_SAFETY_EMAIL="abuse-desk@example.org",
            LOG_LEVEL="debug",
        )
        with local_stack(tmp_path, env=env) as running:
            printed = running.stderr.read_text()  # written before the URL, so complete by now
            assert re.search(rf"^  PROTECTED_BUCKETS +{CUSTOMER_BUCKET}  \(PROTECTED_BUCKETS;", printed, re.M)
            assert re.search(r"^  MAX_BODY_BYTES +4096  \(MAX_BODY_BYTES;", printed, re.M)
            assert re.search(r"^  TRUST_SAFETY_EMAIL +abuse-desk@example\.org ", printed, re.M)
            assert re.search(r"^  POWERTOOLS_LOG_LEVEL / LOG_LEVEL +DEBUG  \(LOG_LEVEL;", printed, re.M)
            assert "testing" not in printed, "no credentials in what is printed"
            assert DEMO_BUCKET not in printed, "the default bucket is replaced, not added to"

            report = csam_report(f"s3://{CUSTOMER_BUCKET}/{KEY}")
            assert len(report) < 4096
            answer = call(running.port, "POST", "/v1/reports", body=report, headers=JSON, signed=True)
            assert answer.status == 202, answer.body
            (copy,) = eventually(lambda: copies_of(endpoint, CUSTOMER_BUCKET), what="a copy in the evidence bucket")
            assert copy["ChecksumSHA256"] == source["ChecksumSHA256"]
            assert copy["ObjectLockLegalHoldStatus"] == "ON"
            assert copy["ObjectLockMode"] == "GOVERNANCE"
            assert copy["ServerSideEncryption"] == "aws:kms"
            assert DEMO_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}

            padded = report[:-1] + b', "padding": "' + b"x" * 4096 + b'"}'
            too_long = call(running.port, "POST", "/v1/reports", body=padded, headers=JSON, signed=True)
            assert too_long.status == 413, too_long.body
