"""The CyberTipline filer's adapters: the filing record in the table, the case's draft and files in the evidence bucket,
the NCMEC credentials in Secrets Manager, and the receipt kept beside the draft.

Items this module writes
    Filing (one per case, beside the case item so the case page's Query of the partition reads it for free)
        PK = "CASE#<caseId>", SK = "CYBERTIP", entity = "filing", version (N: the conditional write's guard), stage,
        reportId (once NCMEC gave one), state (S: the whole Filing as JSON, shared.domain.cybertipline.Filing.as_json),
        updatedAt. One PutItem per change, conditional on the version read (none at all for the first): the filing's
        whole state moves at once or not at all, so two deliveries can never both record a /submit.

Objects this module reads and writes in the evidence bucket
    ncmec/<caseId>.xml, the draft the escalation worker keeps current (read);
    evidence/<bucket>/<sha256 of key>/<version>, each preserved copy, read whole to upload (read);
    ncmec/<caseId>/receipt-<reportId>.xml, the /finish receipt, under legal hold like the draft (written once).

Every failure is Unavailable or StoreUnavailable (the message is delivered again); nothing here logs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.adapters import aws
from shared.adapters.cases_table import FILING_SK, case_pk
from shared.adapters.evidence_bucket import S3Drafts
from shared.adapters.reports_table import CUSTODY_PK_PREFIX, TableAdapter, decode
from shared.domain.cybertipline import Filing, FilingConflict, file_key
from shared.domain.errors import StoreUnavailable
from shared.domain.escalation import Unavailable
from shared.domain.ncmec import DraftFile, draft_key
from shared.domain.quarantine import evidence_key
from shared.domain.reports import utc_timestamp
from shared.domain.resources import canonicalize

if TYPE_CHECKING:
    pass


MAX_FILED_REPORTS = 100  # whose payloads a CyberTip carries; a case with more has its first hundred reports' files


def filing_key(case_id: str) -> dict[str, Any]:
    return {"PK": {"S": case_pk(case_id)}, "SK": {"S": FILING_SK}}


def receipt_key(case_id: str, report_id: str) -> str:
    return f"ncmec/{case_id}/receipt-{report_id}.xml"


class FilingTable(TableAdapter):
    """shared.domain.cybertipline.FilingStore on the reports table."""

    def load(self, case_id: str) -> Filing | None:
        try:
            answer = self.client.get_item(TableName=self.table_name, Key=filing_key(case_id), ConsistentRead=True)
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        item = answer.get("Item")
        return Filing.from_json(json.loads(item["state"]["S"])) if item else None

    def save(self, filing: Filing) -> None:
        item: dict[str, Any] = {
            **filing_key(filing.case_id),
            "entity": {"S": "filing"},
            "caseId": {"S": filing.case_id},
            "version": {"N": str(filing.version)},
            "stage": {"S": str(filing.stage)},
            "state": {"S": json.dumps(filing.as_json(), separators=(",", ":"), sort_keys=True)},
            "updatedAt": {"S": utc_timestamp(datetime.now(UTC))},
        }
        if filing.report_id:
            item["reportId"] = {"S": filing.report_id}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(PK)"}
            if filing.version == 0
            else {
                "ConditionExpression": "#version = :read",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":read": {"N": str(filing.version - 1)}},
            }
        )
        try:
            self.client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise FilingConflict(filing.case_id) from exc
            raise StoreUnavailable(_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


class FilingEvidence(S3Drafts):
    """The draft, the preserved copies and the receipt, in the evidence bucket (written as S3Drafts writes drafts)."""

    def draft(self, case_id: str) -> bytes | None:
        """The case's current draft, or None while the escalation worker has not written one."""
        return self._read(draft_key(case_id), missing_ok=True)

    def read(self, file: DraftFile) -> bytes:
        """A preserved copy's bytes, whole: /upload sends the file in one multipart body."""
        if file.evidence_key:
            content = self._read(file.evidence_key, missing_ok=False)
            assert content is not None
            return content
        resource = canonicalize(file.source_uri)
        if resource.bucket is None or resource.key is None:
            raise Unavailable(f"not an S3 object: {file.source_uri}")
        content = self._read(evidence_key(resource.bucket, resource.key, file.version_id), missing_ok=False)
        assert content is not None
        return content

    def keep_receipt(self, case_id: str, report_id: str, receipt: str) -> str:
        """Beside the draft, as the draft is kept: SSE-KMS with the evidence key, under legal hold."""
        key = receipt_key(case_id, report_id)
        self.put(key, receipt.encode())
        return key

    def _read(self, key: str, *, missing_ok: bool) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            return answer["Body"].read()
        except ClientError as exc:
            if missing_ok and _code(exc) in ("NoSuchKey", "404"):
                return None
            raise Unavailable(f"GetObject: {_code(exc)}") from exc
        except Exception as exc:
            raise Unavailable(f"GetObject: {type(exc).__name__}") from exc


@cache
def credentials(secret_arn: str) -> tuple[str, str]:
    """The NCMEC-issued username and password: the secret's JSON {"username", "password"}, read once per container
    (a rotated secret takes effect on the next cold start; NCMEC answers 2000/3000 to a stale one, which is final and
    alarmed, so nothing is filed with wrong credentials unnoticed)."""
    try:
        value = aws.secretsmanager().get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        raise Unavailable(f"GetSecretValue: {_code(exc)}") from exc
    except Exception as exc:
        raise Unavailable(f"GetSecretValue: {type(exc).__name__}") from exc
    try:
        data = json.loads(value)
        return str(data["username"]), str(data["password"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Unavailable('the CyberTipline secret is not {"username": ..., "password": ...}') from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


class CasePayloads(TableAdapter):
    """The evidence payloads reporters sent with the case's reports, as files of its CyberTip.

    One Query of CaseReportsIndex (the first MAX_FILED_REPORTS reports, oldest first), one BatchGetItem of those
    reports (their evidence and resources only), and per distinct payload one Query of its custody chain for a
    `viewed` event: whether a person here looked at it (US v. Wilson), which fileViewedByEsp must say.
    """

    def files(self, case_id: str) -> list[DraftFile]:
        reports = self.first_case_reports(case_id, MAX_FILED_REPORTS, projection="evidence, resources")
        found: dict[str, DraftFile] = {}
        for report in reports:
            urls = [r for r in decode(report["resources"]) if str(r).startswith(("http://", "https://"))]
            for entry in decode(report["evidence"]) if "evidence" in report else []:
                key = entry.get("evidenceId")
                if not key or key in found or not entry.get("sha256") or not entry.get("md5"):
                    continue
                found[key] = DraftFile(
                    source_uri=str(urls[0]) if urls else "",  # a report of a file alone names no location
                    version_id=f"payload-{entry['sha256']}",
                    sha256=str(entry["sha256"]),
                    md5=str(entry["md5"]),
                    viewed_by_esp=self._viewed(key),
                    evidence_key=key,
                )
        return [found[key] for key in sorted(found)]

    def _viewed(self, payload_key: str) -> bool:
        try:
            answer = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :viewed)",
                ExpressionAttributeValues={
                    ":pk": {"S": CUSTODY_PK_PREFIX + payload_key},
                    ":viewed": {"S": "EVENT#viewed#"},
                },
                Limit=1,
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreUnavailable(_code(exc)) from exc
        return bool(answer.get("Items"))

    def record_reported(self, filing: Filing, files: Sequence[DraftFile], actor: str) -> None:
        """A `reported` custody event on each filed payload's chain (the same item shape as the casework API's
        `viewed` events), once: its id is the CyberTip's."""
        if filing.report_id is None:
            return
        by_key = {file_key(f): f for f in files if f.evidence_key}
        for entry in filing.files:
            file = by_key.get(entry.key)
            if file is None or file.evidence_key is None:
                continue
            item: dict[str, Any] = {
                "PK": {"S": CUSTODY_PK_PREFIX + file.evidence_key},
                "SK": {"S": f"EVENT#reported#{filing.report_id}"},
                "entity": {"S": "custody"},
                "step": {"S": "reported"},
                "at": {"S": utc_timestamp(datetime.now(UTC))},
                "by": {"S": actor},
                "evidenceKey": {"S": file.evidence_key},
                "sha256": {"S": file.sha256},
                "md5": {"S": file.md5},
                "caseId": {"S": filing.case_id},
                "detail": {"M": {"ncmecReportId": {"S": filing.report_id}, "ncmecFileId": {"S": entry.file_id or ""}}},
                "viewedByHuman": {"BOOL": file.viewed_by_esp},
            }
            try:
                self.client.put_item(
                    TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(PK)"
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise StoreUnavailable(_code(exc)) from exc
