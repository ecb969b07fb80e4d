"""CyberTipline report drafts: the XML that NCMEC's reporting API takes, built from a case and its preserved files.

Shaped after NCMEC's published schema (report.cybertip.org/ispws): a `report` root whose children come
in the order the schema requires (incidentSummary, internetDetails, reporter, additionalInfo; the optional ones we
have nothing for are left out), then one `fileDetails` per preserved file version, its children in the order the
/fileinfo call takes them. NCMEC assigns `reportId` at /submit and `fileId` at /upload, so the draft carries neither:
whoever submits it (an analyst's tool, after review) sends the `report` part to /submit, uploads each file from the
evidence bucket, and sends each `fileDetails` with the ids it got back.

Pure and deterministic: no AWS, no clock, sorted inputs. The same case and files give the same bytes, so a draft that
has not changed is never written again (every write is a new, retained version in the evidence bucket).
It never puts reporters' contacts or descriptions into a draft: the reporting person is the service's Trust & Safety
contact, and the files are named by hash and location.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

from shared.domain.cases import CaseState, is_url
from shared.domain.policy import Severity

INCIDENT_TYPE_CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
FILE_RELEVANCE_REPORTED = "Reported"
ESCALATION_REASON = (
    "Apparent child sexual abuse material reported to the provider; the provider's policy rates it P0. "
    "No person at the provider has viewed the reported files."
)


@dataclass(frozen=True, slots=True)
class DraftFile:
    """One preserved file version, as the custody log records it."""

    source_uri: str  # s3://bucket/key
    version_id: str
    sha256: str  # hex
    md5: str  # hex
    viewed_by_esp: bool = False  # US v. Wilson: did a person at the provider look at it
    publicly_available: bool = False  # not established by the service; the reviewing analyst corrects it
    # Where our copy is when the file is a payload a reporter sent (intake/sha256/<hex>) rather than the preserved
    # copy of a protected object; `source_uri` is then the URL the reporter gave, where they found it.
    evidence_key: str | None = None


def draft_key(case_id: str) -> str:
    """Where a case's one draft lives in the evidence bucket."""
    return f"ncmec/{case_id}.xml"


def https_url(uri: str) -> str:
    """An s3:// URI as the virtual-hosted HTTPS URL a reporter would have used; other URLs as they are."""
    if not uri.startswith("s3://"):
        return uri
    parts = urlsplit(uri)
    return f"https://{parts.netloc}.s3.amazonaws.com{quote(unquote(parts.path), safe='/')}"


def build(case: CaseState, files: Sequence[DraftFile], contact_email: str) -> bytes:
    """The draft for a child-safety case, as UTF-8 XML."""
    report = ET.Element("report")

    summary = ET.SubElement(report, "incidentSummary")
    ET.SubElement(summary, "incidentType").text = INCIDENT_TYPE_CHILD_PORNOGRAPHY
    if case.severity == Severity.P0:
        ET.SubElement(summary, "escalateToHighPriority").text = ESCALATION_REASON
    ET.SubElement(summary, "incidentDateTime").text = _with_zone(case.first_incident or case.first_seen)

    urls = sorted({https_url(url) for url in (case.urls | {case.resource}) if is_url(url)})
    if urls:
        page = ET.SubElement(ET.SubElement(report, "internetDetails"), "webPageIncident")
        for url in urls:
            ET.SubElement(page, "url").text = url

    person = ET.SubElement(ET.SubElement(report, "reporter"), "reportingPerson")
    ET.SubElement(person, "email").text = contact_email

    ET.SubElement(report, "additionalInfo").text = f"abuse-intake case {case.case_id}"

    for file in sorted(files, key=lambda f: (f.source_uri, f.version_id)):
        details = ET.SubElement(report, "fileDetails")
        ET.SubElement(details, "originalFileName").text = posixpath.basename(unquote(urlsplit(file.source_uri).path))
        ET.SubElement(details, "locationOfFile").text = https_url(file.source_uri)
        ET.SubElement(details, "fileViewedByEsp").text = _boolean(file.viewed_by_esp)
        ET.SubElement(details, "exifViewedByEsp").text = "false"
        ET.SubElement(details, "publiclyAvailable").text = _boolean(file.publicly_available)
        ET.SubElement(details, "fileRelevance").text = FILE_RELEVANCE_REPORTED
        ET.SubElement(details, "originalFileHash", hashType="SHA256").text = file.sha256
        ET.SubElement(details, "originalFileHash", hashType="MD5").text = file.md5

    ET.indent(report)
    return ET.tostring(report, encoding="utf-8", xml_declaration=True) + b"\n"


def _with_zone(value: str | None) -> str:
    # xs:dateTime with an explicit offset, which NCMEC requires; our times are UTC.
    if not value:
        raise ValueError("a case without reports has no incident time")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="seconds")


def _boolean(value: bool) -> str:
    return "true" if value else "false"
