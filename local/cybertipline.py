"""A CyberTipline of our own: NCMEC's reporting API as its documentation describes it, on 127.0.0.1, for tests and
`make run`. No report ever leaves this machine.

It answers what report.cybertip.org/ispws would: HTTP Basic (401 without it, or with the wrong credentials);
GET /status; POST /submit (a `report`), /upload (multipart `id` + `file`: a fileId and the MD5 of the bytes),
/fileinfo (a `fileDetails`), /finish (the `reportDoneResponse` receipt with the report's files) and /retract; every
answer XML with a responseCode and a Request-ID header. Documents are checked as NCMEC's schema orders them:
4000 for a body that is not `text/xml`, 4110 for XML that is not well formed, 4100 for an element missing, unknown
or out of order. A call on a report that does not exist answers 5001 (a file: 5002), on a retracted one 5101, on a
finished one 5102. A report left unfinished is cancelled 24 h after it was opened (and, as a third party reads the
documentation, not before 1 h after its last change); the clock is injectable, so a test can make a day pass.

The schema's element orders are written out here again rather than imported from the domain: the fake stands in for
NCMEC, and a mistake in our own idea of the schema must show up as a 4100, not be shared by the fake.

It keeps what was filed in memory and, if given a path, in a JSON file a person can read (documents, file names,
sizes and MD5s; never a file's bytes), and reads it back when started again, as NCMEC keeps its reports whatever we
do. Faults can be injected per call (`inject`): answer 1000, answer 4100, time out (hold the request past the
client's timeout, then do it late), do it and drop the connection unanswered, or (/upload) answer a hash that is not
the file's MD5.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

REPORT_LIFETIME = timedelta(hours=24)
QUIET_LIFETIME = timedelta(hours=1)
PREFIX = "/ispws"

# NCMEC's XSD, as sequences: (child, required, repeatable).
REPORT_SCHEMA = (
    ("batchedReport", False, False),
    ("incidentSummary", True, False),
    ("internetDetails", True, True),
    ("lawEnforcement", False, False),
    ("reporter", True, False),
    ("personOrUserReported", False, False),
    ("intendedRecipient", False, True),
    ("victim", False, True),
    ("additionalInfo", False, False),
)
INCIDENT_SUMMARY_SCHEMA = (
    ("incidentType", True, False),
    ("platform", False, False),
    ("escalateToHighPriority", False, False),
    ("reportAnnotations", False, False),
    ("incidentDateTime", True, False),
    ("incidentDateTimeDescription", False, False),
)
REPORTER_SCHEMA = (
    ("reportingPerson", True, False),
    ("contactPerson", False, False),
    ("companyTemplate", False, False),
    ("termsOfService", False, False),
    ("legalURL", False, False),
)
PERSON_SCHEMA = (
    ("firstName", False, False),
    ("lastName", False, False),
    ("phone", False, True),
    ("email", False, True),
    ("address", False, True),
    ("age", False, False),
    ("dateOfBirth", False, False),
)
WEB_PAGE_INCIDENT_SCHEMA = (("url", False, True), ("additionalInfo", False, False))
INTERNET_INCIDENTS = frozenset(
    {
        "webPageIncident",
        "emailIncident",
        "newsgroupIncident",
        "chatImIncident",
        "onlineGamingIncident",
        "cellPhoneIncident",
        "nonInternetIncident",
        "peer2peerIncident",
    }
)
FILE_DETAILS_SCHEMA = (
    ("reportId", True, False),
    ("fileId", True, False),
    ("fileName", False, False),
    ("originalFileName", False, False),
    ("uploadedToEspTimestamp", False, False),
    ("locationOfFile", False, False),
    ("fileViewedByEsp", False, False),
    ("exifViewedByEsp", False, False),
    ("publiclyAvailable", False, False),
    ("fileRelevance", False, False),
    ("potentialMeme", False, False),
    ("fileAnnotations", False, False),
    ("industryClassification", False, False),
    ("originalFileHash", False, True),
    ("ipCaptureEvent", False, False),
    ("deviceId", False, True),
    ("details", False, True),
    ("additionalInfo", False, True),
)
INCIDENT_TYPES = frozenset(
    {
        "Child Pornography (possession, manufacture, and distribution)",
        "Child Sex Trafficking",
        "Child Sex Tourism",
        "Child Sexual Molestation",
        "Misleading Domain Name",
        "Misleading Words or Digital Images on the Internet",
        "Online Enticement of Children for Sexual Acts",
        "Unsolicited Obscene Material Sent to a Child",
    }
)
BOOLEANS = frozenset({"true", "false", "1", "0"})
FILE_BOOLEANS = ("fileViewedByEsp", "exifViewedByEsp", "publiclyAvailable", "potentialMeme")
FILE_RELEVANCE = frozenset({"Reported", "Supplemental Reported"})
CALLS = ("status", "submit", "upload", "fileinfo", "finish", "retract")

DESCRIPTIONS = {
    0: "Success",
    1000: "Server error",
    4000: "Invalid request",
    4100: "Validation failed",
    4110: "Malformed XML submittal",
    4200: "Malformed file submittal",
    5001: "Report does not exist",
    5002: "File does not exist",
    5101: "Report already retracted",
    5102: "Report already finished",
}


class Fault(StrEnum):
    ERROR = "error"  # answer 1000 and do nothing
    TIMEOUT = "timeout"  # hold the request past the client's timeout, then do it and answer (nobody is listening)
    DROP = "drop"  # do it, then close the connection without an answer
    WRONG_HASH = "wrong-hash"  # /upload: keep the file, answer a hash that is not its MD5
    INVALID = "invalid"  # answer 4100 (the document failed NCMEC's validation) and do nothing: a final answer


@dataclass
class FiledFile:
    file_id: str
    name: str
    size: int
    md5: str
    details: str | None = None  # the last fileDetails document sent for it


@dataclass
class FiledReport:
    report_id: str
    document: str
    opened_at: datetime
    changed_at: datetime
    files: dict[str, FiledFile] = field(default_factory=dict)
    finished_at: datetime | None = None
    retracted_at: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.finished_at:
            return "finished"
        if self.retracted_at:
            return "retracted"
        if now >= max(self.opened_at + REPORT_LIFETIME, self.changed_at + QUIET_LIFETIME):
            return "expired"
        return "open"

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "reportId": self.report_id,
            "state": self.state(now),
            "openedAt": self.opened_at.isoformat(),
            "changedAt": self.changed_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "retractedAt": self.retracted_at.isoformat() if self.retracted_at else None,
            "report": self.document,
            "files": [
                {"fileId": f.file_id, "name": f.name, "size": f.size, "md5": f.md5, "fileDetails": f.details}
                for f in self.files.values()
            ],
        }


@dataclass
class _Injection:
    fault: Fault
    times: int
    skip: int


class FakeCyberTipline:
    """The fake server. `with FakeCyberTipline() as fake:` serves on a free port; `fake.base_url` is its NCMEC_URL."""

    def __init__(
        self,
        *,
        username: str = "esp-user",
        password: str = "esp-password",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        state_file: Path | None = None,
        hold_seconds: float = 2.0,
    ) -> None:
        self.username = username
        self.password = password
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state_file = state_file
        self.hold_seconds = hold_seconds
        self.calls: Counter[str] = Counter()  # every request received, by call, faults included
        self._reports: dict[str, FiledReport] = {}
        self._next_report = 4564654
        self._injections: dict[str, list[_Injection]] = {}
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._stopping = threading.Event()
        if state_file is not None and state_file.exists():
            self._restore(json.loads(state_file.read_text(encoding="utf-8")))
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def start(self) -> FakeCyberTipline:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-cybertipline", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # held requests give up at once
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeCyberTipline:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Until no request is being handled (a held one included): what a late call does has then been done."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    # -- faults ------------------------------------------------------------------------------------------------

    def inject(self, call: str, fault: Fault, *, times: int = 1, skip: int = 0) -> None:
        """The next `times` requests of `call`, after `skip` unharmed ones, meet `fault`."""
        if call not in CALLS:
            raise ValueError(f"no call {call!r}")
        with self._lock:
            self._injections.setdefault(call, []).append(_Injection(fault, times, skip))

    def _take_fault(self, call: str) -> Fault | None:
        with self._lock:
            for injection in self._injections.get(call, []):
                if injection.skip > 0:
                    injection.skip -= 1
                    return None
                if injection.times > 0:
                    injection.times -= 1
                    return injection.fault
            return None

    # -- what was filed ----------------------------------------------------------------------------------------

    def reports(self) -> list[FiledReport]:
        with self._lock:
            return list(self._reports.values())

    def report(self, report_id: str) -> FiledReport:
        with self._lock:
            return self._reports[report_id]

    def finished(self) -> list[FiledReport]:
        return [r for r in self.reports() if r.finished_at is not None]

    def in_state(self, state: str) -> list[FiledReport]:
        now = self.clock()
        return [r for r in self.reports() if r.state(now) == state]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            return {"reports": [report.as_json(now) for report in self._reports.values()]}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        """What an earlier run kept (`make run` restarted): NCMEC does not forget its reports when we restart."""
        for saved in snapshot.get("reports", []):
            report = FiledReport(
                report_id=saved["reportId"],
                document=saved["report"],
                opened_at=datetime.fromisoformat(saved["openedAt"]),
                changed_at=datetime.fromisoformat(saved.get("changedAt") or saved["openedAt"]),
                finished_at=datetime.fromisoformat(saved["finishedAt"]) if saved.get("finishedAt") else None,
                retracted_at=datetime.fromisoformat(saved["retractedAt"]) if saved.get("retractedAt") else None,
            )
            for f in saved.get("files", []):
                report.files[f["fileId"]] = FiledFile(f["fileId"], f["name"], f["size"], f["md5"], f.get("fileDetails"))
            self._reports[report.report_id] = report
            self._next_report = max(self._next_report, int(report.report_id) + 1)

    def _changed(self) -> None:
        if self.state_file is None:
            return
        temporary = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        temporary.write_text(json.dumps(self.snapshot(), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.state_file)  # a reader never sees half a file

    # -- the calls ---------------------------------------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, f"{self.username}:{self.password}".encode())

    def handle(self, call: str, content_type: str, body: bytes, remote: str) -> bytes:
        """The answer document to one authorised call; the state changed as NCMEC's would."""
        with self._lock:
            if call == "status":
                return _response(0, f"Remote User : {self.username}, Remote Ip : {remote}")
            if call == "submit":
                return self._submit(content_type, body)
            if call == "upload":
                return self._upload(content_type, body)
            if call == "fileinfo":
                return self._fileinfo(content_type, body)
            return self._close(call, body)

    def _submit(self, content_type: str, body: bytes) -> bytes:
        if not content_type.startswith("text/xml"):
            return _response(4000)
        try:
            report = ET.fromstring(body)
        except ET.ParseError:
            return _response(4110)
        problem = _report_problem(report, self.clock())
        if problem:
            return _response(4100, f"Validation failed: {problem}")
        now = self.clock()
        report_id = str(self._next_report)
        self._next_report += 1
        self._reports[report_id] = FiledReport(report_id, body.decode("utf-8"), opened_at=now, changed_at=now)
        self._changed()
        return _response(0, report_id=report_id)

    def _upload(self, content_type: str, body: bytes, *, wrong_hash: bool = False) -> bytes:
        fields, upload = _multipart(content_type, body)
        report, refusal = self._open_report(fields.get("id"))
        if refusal:
            return refusal
        assert report is not None
        if upload is None:
            return _response(4200)
        name, content = upload
        file_id = uuid.uuid4().hex
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        report.files[file_id] = FiledFile(file_id, name, len(content), md5)
        report.changed_at = self.clock()
        self._changed()
        answered = hashlib.md5(content + b"!", usedforsecurity=False).hexdigest() if wrong_hash else md5
        return _response(0, report_id=report.report_id, file_id=file_id, md5=answered)

    def _fileinfo(self, content_type: str, body: bytes) -> bytes:
        if not content_type.startswith("text/xml"):
            return _response(4000)
        try:
            details = ET.fromstring(body)
        except ET.ParseError:
            return _response(4110)
        problem = _file_details_problem(details)
        if problem:
            return _response(4100, f"Validation failed: {problem}")
        report, refusal = self._open_report(details.findtext("reportId"))
        if refusal:
            return refusal
        assert report is not None
        filed = report.files.get((details.findtext("fileId") or "").strip())
        if filed is None:
            return _response(5002)
        filed.details = body.decode("utf-8")  # a second description of the same file replaces the first
        report.changed_at = self.clock()
        self._changed()
        return _response(0, report_id=report.report_id)

    def _close(self, call: str, body: bytes) -> bytes:
        report, refusal = self._open_report(_form_id(body))
        if refusal:
            return refusal
        assert report is not None
        now = self.clock()
        if call == "retract":
            report.retracted_at = now
            self._changed()
            return _response(0, report_id=report.report_id)
        report.finished_at = now
        self._changed()
        files = "".join(f"<fileId>{escape(file_id)}</fileId>" for file_id in report.files)
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f"<reportDoneResponse><responseCode>0</responseCode><reportId>{escape(report.report_id)}</reportId>"
            f"<files>{files}</files></reportDoneResponse>"
        ).encode()

    def _open_report(self, report_id: str | None) -> tuple[FiledReport | None, bytes | None]:
        report = self._reports.get((report_id or "").strip())
        if report is None:
            return None, _response(5001)
        state = report.state(self.clock())
        if state == "expired":  # cancelled by NCMEC: as if it never was
            return None, _response(5001)
        if state == "retracted":
            return None, _response(5101)
        if state == "finished":
            return None, _response(5102)
        return report, None

    # -- one request, with its fault -------------------------------------------------------------------------

    def serve(self, call: str, content_type: str, body: bytes, remote: str) -> bytes | None:
        """The answer to send, or None to close the connection without one."""
        with self._lock:
            self.calls[call] += 1
            self._in_flight += 1
        try:
            fault = self._take_fault(call)
            if fault == Fault.ERROR:
                return _response(1000)
            if fault == Fault.INVALID:
                return _response(4100, "Validation failed: injected")
            # TIMEOUT: the client gives up meanwhile; then the call lands, late, as a slow server's would.
            if fault == Fault.TIMEOUT and self._stopping.wait(self.hold_seconds):
                return None
            if fault == Fault.WRONG_HASH and call == "upload":
                with self._lock:
                    answer = self._upload(content_type, body, wrong_hash=True)
            else:
                answer = self.handle(call, content_type, body, remote)
            return None if fault == Fault.DROP else answer
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()


def _handler_for(fake: FakeCyberTipline) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeCyberTipline/1"
        protocol_version = "HTTP/1.0"  # one request a connection: a dropped answer never poisons a pooled one

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            call = self.path.removeprefix(PREFIX + "/").split("?", 1)[0]
            if not self.path.startswith(PREFIX + "/") or call not in CALLS:
                self._send(404, b"", "text/plain")
                return
            if (call == "status") != (method == "GET"):
                self._send(405, b"", "text/plain")
                return
            if not fake.authorised(self.headers.get("Authorization")):
                self._send(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="ispws"'})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = fake.serve(call, self.headers.get("Content-Type") or "", body, self.client_address[0])
            if answer is None:
                self.close_connection = True  # no status line, nothing: the connection just ends
                return
            # A client that gave up (a held request) is not there to read it: what it asked was done all the same.
            with contextlib.suppress(OSError):
                self._send(200, answer, "application/xml; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Request-ID", uuid.uuid4().hex)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass  # quiet: tests and `make run` read the state, not an access log

    return Handler


# ---------------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------------


def _response(
    code: int,
    description: str | None = None,
    *,
    report_id: str | None = None,
    file_id: str | None = None,
    md5: str | None = None,
) -> bytes:
    parts = [f"<responseCode>{code}</responseCode>"]
    parts.append(f"<responseDescription>{escape(description or DESCRIPTIONS.get(code, ''))}</responseDescription>")
    for tag, value in (("reportId", report_id), ("fileId", file_id), ("hash", md5)):
        if value is not None:
            parts.append(f"<{tag}>{escape(value)}</{tag}>")
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    return f"{declaration}<reportResponse>{''.join(parts)}</reportResponse>".encode()


def _sequence_problem(element: ET.Element, schema: tuple[tuple[str, bool, bool], ...]) -> str | None:
    """Whether element's children follow the schema's sequence: each known, in order, required ones present."""
    order = [name for name, _, _ in schema]
    position = -1
    seen: Counter[str] = Counter()
    for child in element:
        if child.tag not in order:
            return f"<{child.tag}> is not a child of <{element.tag}>"
        index = order.index(child.tag)
        if index < position:
            return f"<{child.tag}> is out of order in <{element.tag}>"
        position = index
        seen[child.tag] += 1
    for name, required, repeatable in schema:
        if required and not seen[name]:
            return f"<{element.tag}> lacks <{name}>"
        if seen[name] > 1 and not repeatable:
            return f"<{name}> repeats in <{element.tag}>"
    return None


def _report_problem(report: ET.Element, now: datetime) -> str | None:
    if report.tag != "report":
        return "the root is not <report>"
    problem = _sequence_problem(report, REPORT_SCHEMA)
    if problem:
        return problem
    summary = report.find("incidentSummary")
    assert summary is not None
    problem = _sequence_problem(summary, INCIDENT_SUMMARY_SCHEMA)
    if problem:
        return problem
    if (summary.findtext("incidentType") or "").strip() not in INCIDENT_TYPES:
        return "incidentType is not one of the eight"
    try:
        when = datetime.fromisoformat((summary.findtext("incidentDateTime") or "").strip())
    except ValueError:
        return "incidentDateTime is not a dateTime"
    if when.tzinfo is None or when > now:
        return "incidentDateTime needs a zone and must be in the past"
    for details in report.findall("internetDetails"):
        kinds = [child.tag for child in details]
        if len(kinds) != 1 or kinds[0] not in INTERNET_INCIDENTS:
            return "each <internetDetails> holds one incident"
        page = details.find("webPageIncident")
        if page is not None:
            problem = _sequence_problem(page, WEB_PAGE_INCIDENT_SCHEMA)
            if problem:
                return problem
    reporter = report.find("reporter")
    assert reporter is not None
    problem = _sequence_problem(reporter, REPORTER_SCHEMA)
    if problem:
        return problem
    person = reporter.find("reportingPerson")
    assert person is not None
    problem = _sequence_problem(person, PERSON_SCHEMA)
    if problem:
        return problem
    if not (person.findtext("email") or "").strip():
        return "reportingPerson needs an email"
    return None


def _file_details_problem(details: ET.Element) -> str | None:
    if details.tag != "fileDetails":
        return "the root is not <fileDetails>"
    problem = _sequence_problem(details, FILE_DETAILS_SCHEMA)
    if problem:
        return problem
    for name in ("reportId", "fileId"):
        if not (details.findtext(name) or "").strip():
            return f"<{name}> is empty"
    for name in FILE_BOOLEANS:
        value = details.findtext(name)
        if value is not None and value.strip() not in BOOLEANS:
            return f"<{name}> is not a boolean"
    relevance = details.findtext("fileRelevance")
    if relevance is not None and relevance.strip() not in FILE_RELEVANCE:
        return "fileRelevance is not Reported or Supplemental Reported"
    for digest in details.findall("originalFileHash"):
        if not digest.get("hashType") or not (digest.text or "").strip():
            return "originalFileHash needs a hashType and a value"
    return None


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """The form fields and the one file of a multipart/form-data body (the stdlib's email parser does MIME)."""
    if not content_type.startswith("multipart/form-data"):
        return {}, None
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        filename = part.get_filename()
        if name == "file" and filename is not None:
            upload = (filename, payload)
        else:
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields, upload


def _form_id(body: bytes) -> str | None:
    values = parse_qs(body.decode("utf-8", errors="replace")).get("id")
    return values[0] if values else None


def for_local_stack(secret_arn: str, state_dir: Path) -> FakeCyberTipline:
    """The fake `make run` starts: the credentials are the stack's CyberTiplineSecret's (so the filer authenticates
    as it would at NCMEC), and what was filed is kept in <state dir>/cybertipline.json across restarts."""
    import boto3

    value = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
    state_dir.mkdir(parents=True, exist_ok=True)
    return FakeCyberTipline(
        username=str(value["username"]), password=str(value["password"]), state_file=state_dir / "cybertipline.json"
    )
