"""The CyberTipline filing's state machine, call by call: every transition, the response codes, the crash rule, and
an MD5 that NCMEC got wrong. No network: answers are made by hand, the way the client would return or raise them."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import ncmec
from shared.domain.cybertipline import (
    MAX_HIDDEN_SUBMISSIONS,
    MAX_SUBMISSIONS,
    Answer,
    Call,
    CodeClass,
    Conclude,
    Describe,
    Done,
    FileStage,
    Filing,
    FilingConflict,
    FilingPaused,
    Final,
    Finish,
    Retract,
    Retryable,
    Stage,
    Submit,
    Upload,
    apply,
    attempt_id,
    begin,
    classify,
    file_case,
    file_details,
    file_key,
    marks,
    next_step,
    submission,
)
from tests.unit.test_ncmec import CASE

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CONTENT = {"a.png": b"first preserved file", "b.png": b"second preserved file"}
FILES = [
    ncmec.DraftFile(
        source_uri=f"s3://demo-customer-content/images/{name}",
        version_id="v1",
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        viewed_by_esp=name == "b.png",
    )
    for name, data in CONTENT.items()
]
KEY_A, KEY_B = (file_key(f) for f in FILES)
REPORT = "4564654"


def fresh() -> Filing:
    return Filing.start(CASE.case_id, FILES, NOW)


def ok(call: Call, **fields: object) -> Answer:
    return Answer(call=call, code=0, **fields)  # type: ignore[arg-type]


def already(call: Call, code: int) -> Answer:
    return Answer(call=call, code=code)


def lost(call: Call) -> Retryable:
    return Retryable(call, None, "timed out", lost=True)


def refused(call: Call, code: int = 1000) -> Retryable:
    return Retryable(call, code, "Server error", lost=False)


def run(filing: Filing, outcome: Answer | Retryable | Final | None) -> tuple[Filing, object]:
    """One turn of the driver by hand: the step the filing names, its mark, then what the call answered."""
    step = next_step(filing)
    if isinstance(step, Submit | Upload):
        filing = begin(filing, step)
    return apply(filing, step, outcome, now=NOW), step


def submitted() -> Filing:
    filing, _ = run(fresh(), ok(Call.SUBMIT, report_id=REPORT))
    return filing


def upload_ok(filing: Filing, key: str, file_id: str) -> Filing:
    md5 = filing.file(key).md5
    filing, step = run(filing, ok(Call.UPLOAD, report_id=REPORT, file_id=file_id, md5=md5.upper()))
    assert step == Upload(REPORT, key)
    return filing


def all_described() -> Filing:
    filing = submitted()
    for key, file_id in ((KEY_A, "f-a"), (KEY_B, "f-b")):
        filing = upload_ok(filing, key, file_id)
        filing, step = run(filing, ok(Call.FILEINFO, report_id=REPORT))
        assert step == Describe(REPORT, key, file_id)
    return filing


# -- response codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([0], CodeClass.OK),
        ([1000, 1100, 1110, 1111, 1300], CodeClass.RETRYABLE),
        ([2000, 3000, 3100, 3300], CodeClass.FINAL),
        ([4000, 4100, 4110, 4200], CodeClass.FINAL),
        ([5001, 5002, 5101, 5102], CodeClass.ALREADY),
        ([1210, 9999, -1], CodeClass.FINAL),  # not in the published list: shown and alarmed, never read as a state
    ],
)
def test_each_response_code_falls_in_the_class_the_issue_gives_it(codes, expected):
    assert {classify(code) for code in codes} == {expected}


# -- the clean path ----------------------------------------------------------------------------------------------


def test_a_new_filing_lists_its_files_once_each_in_a_stable_order():
    filing = Filing.start(CASE.case_id, [FILES[1], FILES[0], FILES[1]], NOW)
    assert [f.key for f in filing.files] == sorted([KEY_A, KEY_B])
    assert filing.stage == Stage.NEW and filing.version == 0
    assert filing.started_at == "2026-11-25T10:00:00+00:00"


def test_the_clean_path_submits_uploads_describes_each_file_then_finishes_with_the_receipt():
    filing = fresh()
    assert next_step(filing) == Submit(1)
    marked = begin(filing, Submit(1))
    assert marked.stage == Stage.SUBMITTING and marked.submissions == 1 and marked.version == 1
    filing = apply(marked, Submit(1), ok(Call.SUBMIT, report_id=REPORT), now=NOW)
    assert (filing.stage, filing.report_id, filing.version) == (Stage.SUBMITTED, REPORT, 2)
    assert filing.opened_at == "2026-11-25T10:00:00+00:00"
    assert filing.report_expires_at() == NOW + timedelta(hours=24)

    assert next_step(filing) == Upload(REPORT, KEY_A)
    marked = begin(filing, Upload(REPORT, KEY_A))
    assert marked.file(KEY_A).stage == FileStage.UPLOADING
    filing = apply(marked, Upload(REPORT, KEY_A), ok(Call.UPLOAD, file_id="f-a", md5=filing.file(KEY_A).md5), now=NOW)
    assert (filing.file(KEY_A).stage, filing.file(KEY_A).file_id) == (FileStage.UPLOADED, "f-a")
    assert filing.file(KEY_A).ncmec_md5 == filing.file(KEY_A).md5

    assert next_step(filing) == Describe(REPORT, KEY_A, "f-a")
    filing = apply(filing, Describe(REPORT, KEY_A, "f-a"), ok(Call.FILEINFO), now=NOW)
    assert filing.file(KEY_A).stage == FileStage.DESCRIBED
    assert next_step(filing) == Upload(REPORT, KEY_B)

    filing = all_described()
    assert next_step(filing) == Finish(REPORT)
    receipt = "<reportDoneResponse><responseCode>0</responseCode></reportDoneResponse>"
    filing = apply(filing, Finish(REPORT), ok(Call.FINISH, file_ids=("f-a", "f-b"), document=receipt), now=NOW)
    assert (filing.stage, filing.receipt, filing.receipt_file_ids) == (Stage.FINISHED, receipt, ("f-a", "f-b"))
    assert next_step(filing) == Done()
    assert filing.report_expires_at() is None


def test_every_recorded_change_is_the_next_version_and_a_done_step_records_nothing():
    filing, versions = fresh(), []
    while not filing.terminal:
        filing, _ = run(filing, _answer_for(next_step(filing), filing))
        versions.append(filing.version)
    assert versions == [2, 4, 5, 7, 8, 9]  # mark + answer for submit and each upload, one for each other call
    assert apply(filing, Done(), None) is filing


def _answer_for(step: object, filing: Filing) -> Answer:
    if isinstance(step, Submit):
        return ok(Call.SUBMIT, report_id=REPORT)
    if isinstance(step, Upload):
        return ok(Call.UPLOAD, file_id=f"f-{step.file_key[-5]}", md5=filing.file(step.file_key).md5)
    if isinstance(step, Describe):
        return ok(Call.FILEINFO)
    return ok(Call.FINISH)


def test_a_filing_without_files_is_submitted_and_finished():
    filing, _ = run(Filing.start(CASE.case_id, [], NOW), ok(Call.SUBMIT, report_id=REPORT))
    assert next_step(filing) == Finish(REPORT)


def test_only_submit_and_upload_are_marked_before_their_call():
    assert marks(Submit(1)) and marks(Upload(REPORT, KEY_A))
    assert not any(marks(s) for s in (Describe(REPORT, KEY_A, "f"), Finish(REPORT), Retract(REPORT, Stage.NEW, "")))


# -- /submit and the crash rule ---------------------------------------------------------------------------------


def test_a_retryable_code_to_submit_undoes_the_mark_and_the_next_attempt_has_a_new_id():
    filing, _ = run(fresh(), refused(Call.SUBMIT))
    assert (filing.stage, filing.hidden_submissions) == (Stage.NEW, 0)
    assert filing.problem is not None and filing.problem.code == 1000
    assert next_step(filing) == Submit(2)


def test_a_lost_submit_answer_leaves_the_mark_exactly_as_a_crash_would():
    crashed = begin(fresh(), Submit(1))  # the mark was recorded, then the process died
    timed_out, _ = run(fresh(), lost(Call.SUBMIT))
    assert timed_out.stage == crashed.stage == Stage.SUBMITTING
    assert timed_out.report_id is crashed.report_id is None
    assert next_step(timed_out) == next_step(crashed) == Submit(2)


def test_the_crash_rule_submits_again_with_a_new_attempt_and_counts_the_report_that_may_be_open():
    filing = begin(fresh(), Submit(1))
    step = next_step(filing)
    assert step == Submit(2)
    again = begin(filing, step)
    assert (again.submissions, again.hidden_submissions) == (2, 1)
    filing = apply(again, step, ok(Call.SUBMIT, report_id="2"), now=NOW)
    assert (filing.stage, filing.report_id, filing.hidden_submissions) == (Stage.SUBMITTED, "2", 1)


def test_the_attempt_id_goes_into_additional_info_so_each_submitted_report_names_its_attempt():
    document = ET.fromstring(submission(ncmec.build(CASE, FILES, "ts@example.org"), CASE.case_id, 2))
    assert document.findtext("additionalInfo") == f"abuse-intake case {CASE.case_id}; filing attempt {CASE.case_id}/2"
    assert attempt_id(CASE.case_id, 2) == f"{CASE.case_id}/2"


def test_answers_that_keep_vanishing_make_the_filing_in_doubt_for_a_person():
    filing = fresh()
    for _ in range(MAX_HIDDEN_SUBMISSIONS):
        filing, step = run(filing, lost(Call.SUBMIT))
        assert isinstance(step, Submit)
    step = next_step(filing)
    assert isinstance(step, Conclude) and step.stage == Stage.IN_DOUBT
    filing = apply(filing, step, None)
    assert filing.stage == Stage.IN_DOUBT and filing.problem is not None
    assert "lost" in filing.problem.reason and next_step(filing) == Done()


def test_a_final_answer_to_submit_fails_the_filing_with_the_code():
    filing, _ = run(fresh(), Final(Call.SUBMIT, 4100, "Validation failed"))
    assert filing.stage == Stage.FAILED and filing.problem is not None
    assert (filing.problem.call, filing.problem.code) == ("submit", 4100)
    assert next_step(filing) == Done()


def test_a_filing_that_opened_too_many_reports_stops():
    filing = replace(fresh(), submissions=MAX_SUBMISSIONS)
    step = next_step(filing)
    assert isinstance(step, Conclude) and step.stage == Stage.FAILED
    assert apply(filing, step, None).stage == Stage.FAILED


# -- /upload and the MD5 -----------------------------------------------------------------------------------------


def test_an_md5_that_differs_from_ours_retracts_the_report_and_fails_the_filing():
    filing, _ = run(submitted(), ok(Call.UPLOAD, file_id="f-a", md5="0" * 32))
    assert filing.stage == Stage.RETRACTING and filing.problem is not None
    assert "MD5" in filing.problem.reason and filing.file(KEY_A).ncmec_md5 == "0" * 32
    step = next_step(filing)
    assert step == Retract(REPORT, Stage.FAILED, filing.problem.reason)
    filing = apply(filing, step, ok(Call.RETRACT, report_id=REPORT))
    assert (filing.stage, filing.abandoned) == (Stage.FAILED, (REPORT,))
    assert "MD5" in (filing.problem.reason if filing.problem else "")


def test_ncmec_md5_in_capitals_is_the_same_md5():
    filing = upload_ok(submitted(), KEY_A, "f-a")
    assert filing.file(KEY_A).stage == FileStage.UPLOADED


def test_a_lost_upload_answer_retracts_the_report_and_files_afresh():
    filing, _ = run(submitted(), lost(Call.UPLOAD))
    assert filing.file(KEY_A).stage == FileStage.UPLOADING
    step = next_step(filing)
    assert isinstance(step, Retract) and step.then == Stage.NEW
    filing = apply(filing, step, ok(Call.RETRACT, report_id=REPORT))
    assert (filing.stage, filing.report_id, filing.abandoned) == (Stage.NEW, None, (REPORT,))
    assert {f.stage for f in filing.files} == {FileStage.PENDING}
    assert next_step(filing) == Submit(2)


def test_a_retryable_code_to_upload_sends_the_same_file_again():
    filing, _ = run(submitted(), refused(Call.UPLOAD, 1111))
    assert filing.file(KEY_A).stage == FileStage.PENDING
    assert next_step(filing) == Upload(REPORT, KEY_A)


@pytest.mark.parametrize(
    ("code", "stage"), [(5001, Stage.NEW), (5101, Stage.FAILED), (5102, Stage.IN_DOUBT), (5002, Stage.IN_DOUBT)]
)
def test_what_an_already_code_to_upload_says_about_the_open_report(code, stage):
    filing, _ = run(submitted(), already(Call.UPLOAD, code))
    assert filing.stage == stage
    if stage == Stage.NEW:  # expired at NCMEC: nothing was finished, so it is filed afresh
        assert filing.abandoned == (REPORT,) and next_step(filing) == Submit(2)


def test_a_final_answer_on_an_open_report_retracts_it_before_failing():
    filing, _ = run(submitted(), Final(Call.UPLOAD, 4200, "Malformed file submittal"))
    assert (filing.stage, filing.retract_then) == (Stage.RETRACTING, Stage.FAILED)
    filing = apply(filing, next_step(filing), ok(Call.RETRACT))
    assert filing.stage == Stage.FAILED and filing.problem is not None and filing.problem.code == 4200


# -- /fileinfo, /finish, /retract ------------------------------------------------------------------------------


def test_a_lost_or_refused_fileinfo_is_sent_again():
    filing = upload_ok(submitted(), KEY_A, "f-a")
    for outcome in (lost(Call.FILEINFO), refused(Call.FILEINFO, 1300)):
        again, step = run(filing, outcome)
        assert next_step(again) == step == Describe(REPORT, KEY_A, "f-a")


def test_a_file_ncmec_no_longer_has_is_uploaded_again():
    filing, _ = run(upload_ok(submitted(), KEY_A, "f-a"), already(Call.FILEINFO, 5002))
    assert (filing.file(KEY_A).stage, filing.file(KEY_A).file_id) == (FileStage.PENDING, None)
    assert next_step(filing) == Upload(REPORT, KEY_A)


def test_a_report_that_expired_before_fileinfo_is_filed_afresh():
    filing, _ = run(upload_ok(submitted(), KEY_A, "f-a"), already(Call.FILEINFO, 5001))
    assert (filing.stage, filing.abandoned) == (Stage.NEW, (REPORT,))


def test_a_lost_finish_is_sent_again_and_already_finished_means_it_landed():
    filing, step = run(all_described(), lost(Call.FINISH))
    assert next_step(filing) == step == Finish(REPORT)
    filing, _ = run(filing, already(Call.FINISH, 5102))
    assert (filing.stage, filing.receipt, filing.problem) == (Stage.FINISHED, None, None)


def test_a_report_that_expired_before_finish_is_filed_afresh_not_finished():
    filing, _ = run(all_described(), already(Call.FINISH, 5001))
    assert filing.stage == Stage.NEW and next_step(filing) == Submit(2)


def test_a_final_answer_to_finish_retracts_then_fails():
    filing, _ = run(all_described(), Final(Call.FINISH, 4100, "Validation failed"))
    assert next_step(filing) == Retract(REPORT, Stage.FAILED, "Validation failed")


@pytest.mark.parametrize("code", [0, 5101, 5001])
def test_retract_answered_ok_already_retracted_or_gone_all_mean_the_report_is_no_longer_open(code):
    filing, _ = run(submitted(), lost(Call.UPLOAD))
    filing = apply(filing, next_step(filing), Answer(Call.RETRACT, code))
    assert filing.stage == Stage.NEW and filing.abandoned == (REPORT,)


def test_a_lost_retract_is_sent_again():
    filing, _ = run(submitted(), lost(Call.UPLOAD))
    again, step = run(filing, lost(Call.RETRACT))
    assert isinstance(step, Retract) and next_step(again) == step
    md5_failure, _ = run(submitted(), ok(Call.UPLOAD, file_id="f-a", md5="0" * 32))
    again, step = run(md5_failure, lost(Call.RETRACT))
    assert again.stage == Stage.RETRACTING and next_step(again) == step
    failed, _ = run(again, ok(Call.RETRACT))
    assert failed.stage == Stage.FAILED and failed.problem is not None and "MD5" in failed.problem.reason


def test_a_report_finished_although_we_retracted_it_is_in_doubt():
    filing, _ = run(submitted(), lost(Call.UPLOAD))
    filing, _ = run(filing, already(Call.RETRACT, 5102))
    assert filing.stage == Stage.IN_DOUBT


def test_a_final_answer_to_retract_fails_the_filing():
    filing, _ = run(submitted(), lost(Call.UPLOAD))
    filing, _ = run(filing, Final(Call.RETRACT, 3300, "not authorised"))
    assert filing.stage == Stage.FAILED and filing.problem is not None and filing.problem.code == 3300


def test_a_retryable_fault_is_shown_on_the_filing_while_it_waits():
    filing, _ = run(all_described(), refused(Call.FINISH, 1000))
    assert filing.stage == Stage.SUBMITTED and filing.problem is not None
    assert (filing.problem.call, filing.problem.code) == ("finish", 1000)
    filing, _ = run(filing, ok(Call.FINISH, document="<reportDoneResponse/>"))
    assert filing.problem is None


# -- documents -----------------------------------------------------------------------------------------------


def test_file_details_carry_every_field_in_the_schema_order():
    details = ET.fromstring(file_details(REPORT, "f-b", FILES[1]))
    assert details.tag == "fileDetails"
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
    assert details.findtext("reportId") == REPORT and details.findtext("fileId") == "f-b"
    assert details.findtext("originalFileName") == "b.png"
    assert details.findtext("locationOfFile") == "https://demo-customer-content.s3.amazonaws.com/images/b.png"
    assert details.findtext("fileViewedByEsp") == "true"  # US v. Wilson: a person looked
    assert details.findtext("exifViewedByEsp") == "false"
    assert details.findtext("publiclyAvailable") == "false"
    assert details.findtext("fileRelevance") == "Reported"
    hashes = {h.get("hashType"): h.text for h in details.findall("originalFileHash")}
    assert hashes == {"MD5": FILES[1].md5, "SHA256": FILES[1].sha256}


def test_the_submitted_report_is_the_draft_without_its_file_details_in_the_schema_order():
    draft = ncmec.build(CASE, FILES, "ts@example.org")
    report = ET.fromstring(submission(draft, CASE.case_id, 1))
    assert [child.tag for child in report] == ["incidentSummary", "internetDetails", "reporter", "additionalInfo"]
    original = ET.fromstring(draft)
    for tag in ("incidentSummary", "internetDetails", "reporter"):
        assert ET.tostring(report.find(tag) or ET.Element("x")) == ET.tostring(original.find(tag) or ET.Element("y"))


def test_a_draft_without_additional_info_gets_one_last():
    report = ET.fromstring(submission(b"<report><incidentSummary/><reporter/></report>", "c", 1))
    assert [child.tag for child in report][-1] == "additionalInfo"
    assert report.findtext("additionalInfo") == "filing attempt c/1"


def test_a_filing_survives_its_json_record():
    filing, _ = run(submitted(), Final(Call.UPLOAD, 4200, "Malformed file submittal"))
    filing = replace(filing, abandoned=("1",), receipt_file_ids=("x",))
    assert Filing.from_json(filing.as_json()) == filing
    assert Filing.from_json(fresh().as_json()) == fresh()


# -- the driver ------------------------------------------------------------------------------------------------


@dataclass
class MemoryFilings:
    items: dict[str, Filing] = field(default_factory=dict)

    def load(self, case_id: str) -> Filing | None:
        return self.items.get(case_id)

    def save(self, filing: Filing) -> None:
        stored = self.items.get(filing.case_id)
        if (stored.version if stored else -1) != filing.version - 1:
            raise FilingConflict(filing.case_id)
        self.items[filing.case_id] = filing


@dataclass
class ScriptedApi:
    """Answers like NCMEC, records the calls, and can be told to fail one of them."""

    store: MemoryFilings
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    recorded_at_upload: list[str | None] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail.pop(name)

    def submit(self, document: bytes) -> Answer:
        self._call("submit")
        return ok(Call.SUBMIT, report_id=str(len(self.calls)))

    def upload(self, report_id: str, file_name: str, content: bytes) -> Answer:
        stored = self.store.load(CASE.case_id)
        self.recorded_at_upload.append(stored.report_id if stored else None)
        self._call("upload")
        return ok(Call.UPLOAD, file_id=file_name, md5=hashlib.md5(content).hexdigest())

    def fileinfo(self, document: bytes) -> Answer:
        self._call("fileinfo")
        return ok(Call.FILEINFO)

    def finish(self, report_id: str) -> Answer:
        self._call("finish")
        return ok(Call.FINISH, report_id=report_id, document="<reportDoneResponse/>")

    def retract(self, report_id: str) -> Answer:
        self._call(f"retract {report_id}")
        return ok(Call.RETRACT, report_id=report_id)


def drive(store: MemoryFilings, api: ScriptedApi) -> Filing:
    return file_case(
        CASE.case_id,
        draft=ncmec.build(CASE, FILES, "ts@example.org"),
        files=FILES,
        read=lambda f: CONTENT[f.source_uri.rsplit("/", 1)[1]],
        api=api,
        store=store,
        clock=lambda: NOW,
    )


def test_the_driver_records_the_report_id_before_any_other_call():
    store = MemoryFilings()
    api = ScriptedApi(store)
    filing = drive(store, api)
    assert filing.stage == Stage.FINISHED and store.items[CASE.case_id] == filing
    assert api.calls == ["submit", "upload", "fileinfo", "upload", "fileinfo", "finish"]
    assert api.recorded_at_upload == [filing.report_id, filing.report_id]


def test_the_driver_records_a_retryable_fault_then_pauses_and_a_redelivery_resumes():
    store = MemoryFilings()
    api = ScriptedApi(store, fail={"fileinfo": lost(Call.FILEINFO)})
    with pytest.raises(FilingPaused) as paused:
        drive(store, api)
    assert paused.value.filing == store.items[CASE.case_id]
    assert store.items[CASE.case_id].problem is not None
    assert drive(store, api).stage == Stage.FINISHED
    assert api.calls.count("submit") == 1 and api.calls.count("fileinfo") == 3


def test_a_submit_answer_that_cannot_be_recorded_is_retracted_at_once():
    store = MemoryFilings()

    class Racing(ScriptedApi):
        def submit(self, document: bytes) -> Answer:
            answer = super().submit(document)
            stored = store.items[CASE.case_id]
            store.items[CASE.case_id] = replace(stored, version=stored.version + 1)  # another delivery moved it
            return answer

    api = Racing(store)
    with pytest.raises(FilingConflict):
        drive(store, api)
    assert api.calls == ["submit", "retract 1"]


def test_a_final_error_on_an_open_report_is_retracted_in_the_same_delivery():
    store = MemoryFilings()
    api = ScriptedApi(store, fail={"fileinfo": Final(Call.FILEINFO, 4100, "Validation failed")})
    filing = drive(store, api)
    assert filing.stage == Stage.FAILED and filing.abandoned == ("1",)
    assert api.calls == ["submit", "upload", "fileinfo", "retract 1"]


# -- reading NCMEC's answers -------------------------------------------------------------------------------------


def test_answers_are_read_from_ncmecs_two_documents_and_nothing_else():
    from shared.adapters.cybertipline import MAX_ANSWER_BYTES, _parse

    upload = _parse(
        Call.UPLOAD,
        b"<reportResponse><responseCode>0</responseCode><reportId>4564654</reportId>"
        b"<fileId>b0754af766b426f2928a02c651ed4b99</fileId><hash>FAFA5EFEAF3CBE3B23B2748D13E629A1</hash>"
        b"</reportResponse>",
        "req-1",
    )
    assert upload == Answer(
        Call.UPLOAD,
        0,
        report_id="4564654",
        file_id="b0754af766b426f2928a02c651ed4b99",
        md5="fafa5efeaf3cbe3b23b2748d13e629a1",
        request_id="req-1",
    )
    done = _parse(
        Call.FINISH,
        b"<reportDoneResponse><responseCode>0</responseCode><reportId>1</reportId>"
        b"<files><fileId>a</fileId><fileId>b</fileId></files></reportDoneResponse>",
        None,
    )
    assert done is not None and done.file_ids == ("a", "b") and done.document.startswith("<reportDoneResponse>")
    hostile = (
        b'<!DOCTYPE r [<!ENTITY x "boom">]><reportResponse><responseCode>0</responseCode></reportResponse>',
        b"<!DOCTYPE reportResponse><reportResponse><responseCode>0</responseCode></reportResponse>",
        b"<reportResponse><responseCode>0</responseCode>" + b" " * MAX_ANSWER_BYTES + b"</reportResponse>",
        b"<html>Bad gateway</html>",
        b"<reportResponse><responseCode>zero</responseCode></reportResponse>",
        b"not xml",
    )
    assert [_parse(Call.SUBMIT, body, None) for body in hostile] == [None] * len(hostile)
