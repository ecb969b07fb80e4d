"""Filing a CSAM case with the CyberTipline over HTTP: the real client against our fake NCMEC (local/cybertipline.py).

1. A report with two files, filed end to end, checked field by field as NCMEC receives it.
2. A fault at every call (NCMEC answers 1000; the call times out and lands late; the call is done and its answer
   dropped), then redelivery by a restarted process that resumes from the recorded filing: every time exactly one
   finished report, with all its files, described.
3. The process killed after every answer it got and after every write it made: the same, never two finished reports.
4. What must end visibly instead: a wrong MD5, a 4100, bad credentials, answers that keep vanishing; and a report
   that NCMEC let expire is filed afresh.
The recorded filing is a plain dict of JSON records here (the DynamoDB store is the next slice).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local.cybertipline import FakeCyberTipline, Fault
from shared.adapters.cybertipline import CyberTiplineClient
from shared.domain import ncmec
from shared.domain.cybertipline import (
    MAX_HIDDEN_SUBMISSIONS,
    Answer,
    Filing,
    FilingConflict,
    FilingPaused,
    Final,
    Stage,
    file_case,
)
from tests.unit.test_ncmec import CASE

CLIENT_TIMEOUT = 0.5  # seconds: the fake holds a timed-out call a little longer, then does it
HOLD = 0.8
USER, PASSWORD = "esp-user", "esp-password"
CONTACT = "trust-and-safety@cloud.example"
CONTENT = {
    "s3://demo-customer-content/images/pixel%20one.png": b"\x89PNG first preserved file",
    "s3://demo-customer-content/images/two.jpg": b"\xff\xd8 second preserved file",
}
FILES = [
    ncmec.DraftFile(
        source_uri=uri,
        version_id="v1",
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        viewed_by_esp=uri.endswith("two.jpg"),
    )
    for uri, data in CONTENT.items()
]
DRAFT = ncmec.build(CASE, FILES, CONTACT)
CALLS = ("submit", "upload", "fileinfo", "finish")
NETWORK_FAULTS = (Fault.ERROR, Fault.TIMEOUT, Fault.DROP)


class Crash(BaseException):
    """The process died here (BaseException: nothing in the product catches it)."""


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Filings:
    """The recorded filings, as the JSON records a table would hold; a conditional write on the version."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    saves: int = 0
    crash_after_save: int | None = None

    def load(self, case_id: str) -> Filing | None:
        record = self.records.get(case_id)
        return Filing.from_json(json.loads(json.dumps(record))) if record else None

    def save(self, filing: Filing) -> None:
        record = self.records.get(filing.case_id)
        if (record["version"] if record else -1) != filing.version - 1:
            raise FilingConflict(filing.case_id)
        self.records[filing.case_id] = filing.as_json()
        self.saves += 1
        if self.saves == self.crash_after_save:
            raise Crash(f"killed after write {self.saves}")


@dataclass
class Killer:
    """Kills the process once, right after the nth answer to `call` arrived (before anything was recorded)."""

    call: str
    nth: int = 1
    seen: int = 0

    def after(self, call: str) -> None:
        if call == self.call:
            self.seen += 1
            if self.seen == self.nth:
                raise Crash(f"killed after the answer to /{call}")


class KilledAfter:
    def __init__(self, client: CyberTiplineClient, killer: Killer) -> None:
        self.client, self.killer = client, killer

    def submit(self, document: bytes) -> Answer:
        return self._then(self.client.submit(document), "submit")

    def upload(self, report_id: str, file_name: str, content: bytes) -> Answer:
        return self._then(self.client.upload(report_id, file_name, content), "upload")

    def fileinfo(self, document: bytes) -> Answer:
        return self._then(self.client.fileinfo(document), "fileinfo")

    def finish(self, report_id: str) -> Answer:
        return self._then(self.client.finish(report_id), "finish")

    def retract(self, report_id: str) -> Answer:
        return self._then(self.client.retract(report_id), "retract")

    def _then(self, answer: Answer, call: str) -> Answer:
        self.killer.after(call)
        return answer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, tmp_path: Path) -> Iterator[FakeCyberTipline]:
    with FakeCyberTipline(
        username=USER, password=PASSWORD, clock=clock, hold_seconds=HOLD, state_file=tmp_path / "cybertipline.json"
    ) as server:
        yield server


def client(fake: FakeCyberTipline, password: str = PASSWORD) -> CyberTiplineClient:
    return CyberTiplineClient(fake.base_url, USER, password, timeout=CLIENT_TIMEOUT, upload_timeout=CLIENT_TIMEOUT)


def deliver(
    fake: FakeCyberTipline,
    filings: Filings,
    clock: Clock,
    *,
    killer: Killer | None = None,
    password: str = PASSWORD,
    draft: bytes = DRAFT,
    limit: int = 12,
) -> tuple[Filing, int]:
    """The queue: deliver the case's filing work again, each time to a freshly started process, until it stops
    asking to come back. Returns the filing and how many deliveries it took."""
    for delivery in range(1, limit + 1):
        api: Any = client(fake, password)
        if killer is not None:
            api = KilledAfter(api, killer)
        try:
            return file_case(
                CASE.case_id,
                draft=draft,
                files=FILES,
                read=lambda f: CONTENT[f.source_uri],
                api=api,
                store=filings,
                clock=clock,
            ), delivery
        except (FilingPaused, FilingConflict, Crash):
            continue
    raise AssertionError(f"not settled after {limit} deliveries: {filings.records}")


def assert_filed_once(fake: FakeCyberTipline, filing: Filing) -> ET.Element:
    """Exactly one finished report at NCMEC, the filing's, holding each of our files once, each described."""
    assert fake.wait_idle(), "a held call never ended"
    assert filing.stage == Stage.FINISHED, filing.problem
    finished = fake.finished()
    assert [r.report_id for r in finished] == [filing.report_id]
    (report,) = finished
    assert sorted(f.md5 for f in report.files.values()) == sorted(f.md5 for f in FILES)
    for filed in report.files.values():
        assert filed.details is not None
        details = ET.fromstring(filed.details)
        assert (details.findtext("reportId"), details.findtext("fileId")) == (report.report_id, filed.file_id)
        assert {h.text for h in details.findall("originalFileHash")} >= {filed.md5}
    others = [r for r in fake.reports() if r.report_id != report.report_id]
    assert all(r.finished_at is None for r in others)
    return ET.fromstring(report.document)


# -- 1. end to end ---------------------------------------------------------------------------------------------


def test_a_report_with_two_files_is_filed_end_to_end_field_by_field(fake, clock, tmp_path):
    filings = Filings()
    filing, deliveries = deliver(fake, filings, clock)
    assert deliveries == 1
    report = assert_filed_once(fake, filing)

    assert [child.tag for child in report] == ["incidentSummary", "internetDetails", "reporter", "additionalInfo"]
    summary = report.find("incidentSummary")
    assert summary is not None
    assert [child.tag for child in summary] == ["incidentType", "escalateToHighPriority", "incidentDateTime"]
    assert summary.findtext("incidentType") == ncmec.INCIDENT_TYPE_CHILD_PORNOGRAPHY
    assert summary.findtext("incidentDateTime") == "2026-11-25T08:30:00+00:00"
    assert [u.text for u in report.findall("internetDetails/webPageIncident/url")] == [
        "https://demo-customer-content.s3.amazonaws.com/images/pixel%20one.png",
        "https://mirror.example.org/a?b=1&c=2",
    ]
    assert report.findtext("reporter/reportingPerson/email") == CONTACT
    assert report.findtext("additionalInfo") == f"abuse-intake case {CASE.case_id}; filing attempt {CASE.case_id}/1"

    filed = fake.report(filing.report_id or "")
    by_name = {f.name: f for f in filed.files.values()}
    assert sorted(by_name) == ["pixel one.png", "two.jpg"]
    for draft_file in FILES:
        name = "two.jpg" if draft_file.source_uri.endswith("two.jpg") else "pixel one.png"
        details = ET.fromstring(by_name[name].details or "")
        assert [child.tag for child in details] == [
            "reportId",
            "fileId",
            "originalFileName",
            "locationOfFile",
            "fileViewedByEsp",
            "exifViewedByEsp",
            "publiclyAvailable",
            "fileRelevance",
            "originalFileHash",
            "originalFileHash",
        ]
        assert details.findtext("originalFileName") == name
        assert details.findtext("locationOfFile") == ncmec.https_url(draft_file.source_uri)
        assert details.findtext("fileViewedByEsp") == ("true" if name == "two.jpg" else "false")
        assert details.findtext("exifViewedByEsp") == "false"
        assert details.findtext("publiclyAvailable") == "false"
        hashes = {h.get("hashType"): h.text for h in details.findall("originalFileHash")}
        assert hashes == {"MD5": draft_file.md5, "SHA256": draft_file.sha256}
        assert by_name[name].md5 == draft_file.md5 and by_name[name].size == len(CONTENT[draft_file.source_uri])

    # The receipt is kept on the filing, and names both files.
    receipt = ET.fromstring(filing.receipt or "")
    assert receipt.tag == "reportDoneResponse" and receipt.findtext("reportId") == filing.report_id
    assert sorted(f.text or "" for f in receipt.findall("files/fileId")) == sorted(filed.files)
    assert sorted(filing.receipt_file_ids) == sorted(filed.files)
    assert fake.calls == {"submit": 1, "upload": 2, "fileinfo": 2, "finish": 1}

    # What a person can read: the JSON file, with documents and hashes, never a file's bytes.
    shown = json.loads((tmp_path / "cybertipline.json").read_text())
    assert [r["state"] for r in shown["reports"]] == ["finished"]
    text = json.dumps(shown)
    assert all(content.decode("latin-1") not in text for content in CONTENT.values())


def test_status_answers_with_a_request_id_and_only_to_ncmec_credentials(fake):
    answer = client(fake).status()
    assert answer.code == 0 and answer.request_id
    refused = urllib3.PoolManager(retries=False).request("GET", f"{fake.base_url}/status")
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")


# -- 2. a fault at every call, then redelivery -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "skip"), [("submit", 0), ("upload", 0), ("upload", 1), ("fileinfo", 0), ("fileinfo", 1), ("finish", 0)]
)
@pytest.mark.parametrize("fault", NETWORK_FAULTS)
def test_a_fault_at_any_call_still_files_exactly_one_report_with_all_its_files(fake, clock, call, skip, fault):
    fake.inject(call, fault, skip=skip)
    filings = Filings()
    filing, deliveries = deliver(fake, filings, clock)
    assert deliveries == 2  # the faulted delivery paused with what it learnt recorded; the next one finished
    assert_filed_once(fake, filing)
    if call == "submit" and fault != Fault.ERROR:
        # The crash rule: the unanswered /submit opened a report no one can finish; NCMEC cancels it after 24 h.
        (orphan,) = [r for r in fake.reports() if r.report_id != filing.report_id]
        assert orphan.files == {} and orphan.state(clock()) == "open"
        assert filing.hidden_submissions == 1
        clock.now += timedelta(hours=24)
        assert orphan.state(clock()) == "expired"
    elif call == "upload" and fault != Fault.ERROR:
        # A lost /upload answer: that report was retracted, the case filed afresh.
        assert [fake.report(r).retracted_at is not None for r in filing.abandoned] == [True]
    else:
        assert len(fake.reports()) == 1 and filing.abandoned == ()


@pytest.mark.parametrize("fault", NETWORK_FAULTS)
def test_a_fault_at_retract_still_files_exactly_one_report(fake, clock, fault):
    fake.inject("upload", Fault.DROP)  # the one way the flow retracts: an upload's answer lost
    fake.inject("retract", fault)
    filing, _ = deliver(fake, Filings(), clock)
    assert_filed_once(fake, filing)
    (abandoned,) = filing.abandoned
    assert fake.report(abandoned).retracted_at is not None


# -- 3. killed after every answer and after every write ---------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "nth"),
    [("submit", 1), ("upload", 1), ("upload", 2), ("fileinfo", 1), ("fileinfo", 2), ("finish", 1), ("retract", 1)],
)
def test_a_process_killed_after_any_answer_resumes_to_exactly_one_report(fake, clock, call, nth):
    if call == "retract":
        fake.inject("upload", Fault.DROP)
    filing, _ = deliver(fake, Filings(), clock, killer=Killer(call, nth))
    assert_filed_once(fake, filing)
    if call == "finish":
        assert filing.receipt is None  # 5102 told the next process it was finished; the receipt went with the dead one
    if call == "submit":
        assert len(fake.in_state("open")) == 1  # the report whose id died with the process, left to expire


def test_a_process_killed_after_each_of_its_writes_resumes_to_exactly_one_report(fake, clock):
    clean = Filings()
    deliver(fake, clean, clock)
    writes = clean.saves
    for write in range(1, writes + 1):
        with FakeCyberTipline(username=USER, password=PASSWORD, clock=clock, hold_seconds=HOLD) as server:
            filings = Filings(crash_after_save=write)
            filing, deliveries = deliver(server, filings, clock)
            assert deliveries == 2, write
            assert_filed_once(server, filing)


# -- 4. what must end visibly ----------------------------------------------------------------------------------


def test_an_md5_ncmec_got_wrong_fails_the_filing_and_retracts_the_report(fake, clock):
    fake.inject("upload", Fault.WRONG_HASH, skip=1)
    filing, _ = deliver(fake, Filings(), clock)
    assert filing.stage == Stage.FAILED and filing.problem is not None and "MD5" in filing.problem.reason
    assert fake.wait_idle() and fake.finished() == []
    (report,) = fake.reports()
    assert report.retracted_at is not None and filing.abandoned == (report.report_id,)


def test_a_report_out_of_schema_order_answers_4100_and_the_filing_fails_visibly(fake, clock):
    report = ET.fromstring(DRAFT)
    reporter = report.find("reporter")
    assert reporter is not None
    report.remove(reporter)
    report.insert(0, reporter)  # reporter before incidentSummary
    filing, _ = deliver(fake, Filings(), clock, draft=ET.tostring(report))
    assert filing.stage == Stage.FAILED and filing.problem is not None
    assert (filing.problem.call, filing.problem.code) == ("submit", 4100)
    assert fake.reports() == []


def test_wrong_credentials_fail_the_filing_without_filing_anything(fake, clock):
    filing, _ = deliver(fake, Filings(), clock, password="not-it")
    assert filing.stage == Stage.FAILED and filing.problem is not None and filing.problem.code == 2000
    assert fake.reports() == []
    with pytest.raises(Final):
        client(fake, "not-it").status()


def test_answers_that_keep_vanishing_end_in_doubt_not_in_a_second_report(fake, clock):
    fake.inject("submit", Fault.DROP, times=MAX_HIDDEN_SUBMISSIONS)
    filing, _ = deliver(fake, Filings(), clock)
    assert filing.stage == Stage.IN_DOUBT and filing.problem is not None
    assert fake.finished() == [] and len(fake.in_state("open")) == MAX_HIDDEN_SUBMISSIONS


def test_a_report_that_expired_at_ncmec_is_filed_afresh(fake, clock):
    filings = Filings(crash_after_save=3)  # the new filing, the SUBMITTING mark, the reportId: then killed
    with pytest.raises(Crash):
        file_case(
            CASE.case_id,
            draft=DRAFT,
            files=FILES,
            read=lambda f: CONTENT[f.source_uri],
            api=client(fake),
            store=filings,
            clock=clock,
        )
    first = filings.records[CASE.case_id]["reportId"]
    clock.now += timedelta(hours=25)  # the queue kept the message too long; NCMEC cancelled the report
    filings.crash_after_save = None
    filing, _ = deliver(fake, filings, clock)
    assert_filed_once(fake, filing)
    assert filing.abandoned == (first,) and fake.report(first).state(clock()) == "expired"
