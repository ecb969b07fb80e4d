"""Filing a case with NCMEC's CyberTipline exactly once, with its files, and never silently failing.

NCMEC's reporting API (report.cybertip.org/ispws; test: exttest.cybertip.org/ispws) files one CyberTip in steps:
/submit opens a report (answer: its reportId), /upload attaches a file (answer: a fileId and NCMEC's MD5 of the bytes),
/fileinfo describes an uploaded file (a `fileDetails` document), /finish closes the report (answer: a
`reportDoneResponse`, the receipt that counts as the provider's report) and /retract cancels a report that is not
finished. An unfinished report is cancelled by NCMEC after 24 h. Every answer carries a `responseCode`.

This module is the rules of that dialogue, and nothing else: no HTTP, no AWS, no clock of its own (the caller passes
the time). A filing is a small record, one per case, that the driver (`file_case`) moves one call at a time:
read the filing, do the one call `next_step` names, record what the answer means with `apply` as a conditional write
(the filing's version must be the one read), repeat. A crash anywhere leaves a record that names the next call.

States (`Stage`) and what moves them:
    NEW --mark--> SUBMITTING(attempt n) --reportId--> SUBMITTED(reportId)
    SUBMITTED, per file in order: PENDING --mark--> UPLOADING --fileId, md5--> UPLOADED --/fileinfo--> DESCRIBED
    SUBMITTED, every file DESCRIBED --/finish--> FINISHED(receipt)          (5102 "already finished" counts too)
    SUBMITTED --(an upload's answer lost; a wrong MD5; a final error)--> RETRACTING --/retract--> NEW | FAILED
    SUBMITTED --5001 (the report expired at NCMEC)--> NEW: filed afresh; nothing was ever finished
    SUBMITTED --5101 (retracted, not by us)--> FAILED; --5102 before our /finish--> IN_DOUBT
    any --final code--> FAILED(code, reason), after retracting the open report; a person's call --> IN_DOUBT(reason)
The marks (SUBMITTING, UPLOADING) are written before the call they name, so that a crash cannot hide the call. A
retryable code undoes its mark (NCMEC said it did nothing); a lost answer keeps it, exactly as a crash would.

The reportId is recorded the moment /submit answers, before any other call (ROOST Coop's filer recorded it only after
/finish, so a crash in between filed the same CyberTip twice). A file is described only after NCMEC's MD5 of what it
received equals ours: a report whose file NCMEC got wrong is never finished; it is retracted and the filing FAILED,
because the mismatch says the evidence or its transfer is wrong, which a person must look at before anything is filed.

The crash rule: a SUBMITTING mark with no reportId means a /submit may have opened a report whose id we never learnt.
The API cannot be asked which reports exist (its calls are /status, a connectivity check, /xsd and the five filing
calls above, each addressed by a reportId), so such a report can be neither found nor retracted. It cannot become a
CyberTip either, which is what the rule rests on: only /finish makes a report count, /finish needs the reportId, the
reportId travels only in the lost /submit answer, and NCMEC cancels an unfinished report after 24 h (its
documentation: a report "may be cancelled by a reporter before the report has been finished or it has been
automatically cancelled by NCMEC after timing out"; once finished it "cannot be cancelled"). So the filing
submits again, with a new attempt id, and the report that may exist is left to expire: at most one report is ever
finished (the one whose id is recorded), and the CSAM is reported without waiting for a person. Each attempt's id
(`<caseId>/<n>`) is written into the report's `additionalInfo`, a field NCMEC keeps, so a person at NCMEC or here
can tell the attempts apart. Lost /submit answers are counted; at MAX_HIDDEN_SUBMISSIONS the filing is IN_DOUBT
(something between us and NCMEC is eating answers, and each one may leave an open report there): alarm, a person.
A /submit answer that arrives but cannot be recorded (the conditional write lost: another delivery moved the filing)
names its report, so that one is retracted at once.
An upload whose answer was lost may have attached a file we cannot name (no fileId) and so cannot describe; the open
report's id is known, so it is retracted and the report filed afresh rather than finished with a stray file.
A lost /fileinfo, /finish or /retract answer is repeated: the documentation does not say that a second /fileinfo
for the same fileId adds anything (we read it as describing the same file again), and a repeated /finish or
/retract answers 5102 or 5101 when the first one landed, which this module reads as the state it names.

Response codes, as the issue lists them (the API's own list is not exhaustive: any other code is FINAL, shown and
alarmed, never retried forever nor read as a state): 0 OK; 1000, 1100, 1110, 1111, 1300 and timeouts RETRYABLE;
2000, 3000, 3100, 3300 (authentication and authorisation) and 4000, 4100, 4110, 4200 (invalid) FINAL; 5001, 5002,
5101, 5102 ALREADY (the report or file does not exist, was retracted, was finished: state, not errors).

Nothing here logs, and no error or record carries report contents or file bytes: ids, codes and hashes only.
"""

from __future__ import annotations

import contextlib
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from shared.domain.ncmec import FILE_RELEVANCE_REPORTED, DraftFile, https_url
from shared.domain.quarantine import CustodyEvent, evidence_key
from shared.domain.quarantine import Step as CustodyStep

# ---------------------------------------------------------------------------------------------------------------
# Calls and response codes
# ---------------------------------------------------------------------------------------------------------------


class Call(StrEnum):
    STATUS = "status"
    SUBMIT = "submit"
    UPLOAD = "upload"
    FILEINFO = "fileinfo"
    FINISH = "finish"
    RETRACT = "retract"


class CodeClass(StrEnum):
    OK = "OK"
    RETRYABLE = "RETRYABLE"  # NCMEC did not do it; the same call may succeed later
    FINAL = "FINAL"  # the same call will fail again: credentials, permissions or our document; a person must act
    ALREADY = "ALREADY"  # the report or file is gone or finished: read as state


SUCCESS = 0
SERVER_ERROR = 1000
REPORT_DOES_NOT_EXIST = 5001
FILE_DOES_NOT_EXIST = 5002
REPORT_ALREADY_RETRACTED = 5101
REPORT_ALREADY_FINISHED = 5102

RETRYABLE_CODES = frozenset({1000, 1100, 1110, 1111, 1300})
AUTH_CODES = frozenset({2000, 3000, 3100, 3300})
INVALID_CODES = frozenset({4000, 4100, 4110, 4200})
ALREADY_CODES = frozenset(
    {REPORT_DOES_NOT_EXIST, FILE_DOES_NOT_EXIST, REPORT_ALREADY_RETRACTED, REPORT_ALREADY_FINISHED}
)


def classify(code: int) -> CodeClass:
    if code == SUCCESS:
        return CodeClass.OK
    if code in RETRYABLE_CODES:
        return CodeClass.RETRYABLE
    if code in ALREADY_CODES:
        return CodeClass.ALREADY
    # AUTH_CODES, INVALID_CODES and every code the published list does not name (1210 "resource not found" among
    # them): stop and show it. Retrying an unknown code could go on for 24 h; reading it as a state could file twice.
    return CodeClass.FINAL


@dataclass(frozen=True, slots=True)
class Answer:
    """What NCMEC answered to one call, when the code is OK or ALREADY (the client raises for the others)."""

    call: Call
    code: int
    description: str = ""
    report_id: str | None = None
    file_id: str | None = None  # /upload
    md5: str | None = None  # /upload: NCMEC's MD5 of the bytes it received, hex
    file_ids: tuple[str, ...] = ()  # /finish: the files the finished report holds
    request_id: str | None = None  # NCMEC's Request-ID header, for their support
    document: str = ""  # the answer as sent: for /finish, the receipt

    @property
    def code_class(self) -> CodeClass:
        return classify(self.code)


class CyberTiplineError(Exception):
    """A call that did not get an OK or ALREADY answer. Carries the call and code only, so it can be logged."""

    def __init__(self, call: Call, code: int | None, description: str) -> None:
        super().__init__(f"/{call}: {code if code is not None else 'no answer'}: {description}")
        self.call = call
        self.code = code
        self.description = description


class Retryable(CyberTiplineError):
    """Try the call again later. `lost` says NCMEC may have done it without our hearing (a timeout, a dropped
    connection, an unreadable answer); when False, NCMEC answered a retryable code or the request never left."""

    def __init__(self, call: Call, code: int | None, description: str, *, lost: bool) -> None:
        super().__init__(call, code, description)
        self.lost = lost


class Final(CyberTiplineError):
    """The same call would fail again: stop, show it on the case, page."""


# ---------------------------------------------------------------------------------------------------------------
# The filing
# ---------------------------------------------------------------------------------------------------------------

# A lost /submit answer may leave an open report at NCMEC (it expires): a few are tolerated, then a person looks.
MAX_HIDDEN_SUBMISSIONS = 3
# Every retract-and-refile opens a new report; past this many the filing stops rather than loop for a day.
MAX_SUBMISSIONS = 5
# NCMEC cancels an unfinished report 24 h after it was opened.
UNFINISHED_REPORT_LIFETIME = timedelta(hours=24)


class Stage(StrEnum):
    NEW = "NEW"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    RETRACTING = "RETRACTING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    IN_DOUBT = "IN_DOUBT"


TERMINAL = frozenset({Stage.FINISHED, Stage.FAILED, Stage.IN_DOUBT})


class FileStage(StrEnum):
    PENDING = "PENDING"
    UPLOADING = "UPLOADING"
    UPLOADED = "UPLOADED"
    DESCRIBED = "DESCRIBED"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a filing stopped or waits: the call, NCMEC's code (None without an answer) and a reason in our words."""

    call: str
    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class FileFiling:
    key: str  # file_key(DraftFile): the preserved version
    md5: str  # ours, from the custody log, hex
    stage: FileStage = FileStage.PENDING
    file_id: str | None = None
    ncmec_md5: str | None = None


@dataclass(frozen=True, slots=True)
class Filing:
    case_id: str
    files: tuple[FileFiling, ...]
    stage: Stage = Stage.NEW
    version: int = 0  # the conditional write's guard: every recorded change is version + 1
    started_at: str | None = None
    submissions: int = 0  # /submit attempts made; attempt n carries attempt_id(case_id, n)
    hidden_submissions: int = 0  # attempts whose answer never reached the record (each may be an open report)
    report_id: str | None = None
    opened_at: str | None = None  # when report_id was recorded: NCMEC cancels it 24 h later if unfinished
    abandoned: tuple[str, ...] = ()  # reports retracted or expired on the way (never finished)
    retract_then: Stage | None = None  # RETRACTING: what follows the retract (a refile's is read off UPLOADING)
    retract_because: Problem | None = None  # RETRACTING: why (kept apart from `problem`, which a fault overwrites)
    problem: Problem | None = None  # FAILED / IN_DOUBT: why; otherwise the last retryable fault, for the case page
    receipt: str | None = None  # /finish's reportDoneResponse; None when 5102 answered a repeated /finish
    receipt_file_ids: tuple[str, ...] = ()

    @classmethod
    def start(cls, case_id: str, files: Sequence[DraftFile], now: datetime) -> Filing:
        entries = sorted({file_key(f): FileFiling(key=file_key(f), md5=f.md5.lower()) for f in files}.items())
        return cls(case_id=case_id, files=tuple(entry for _, entry in entries), started_at=_timestamp(now))

    @property
    def terminal(self) -> bool:
        return self.stage in TERMINAL

    def file(self, key: str) -> FileFiling:
        for entry in self.files:
            if entry.key == key:
                return entry
        raise KeyError(key)

    def report_expires_at(self) -> datetime | None:
        if self.opened_at is None or self.stage in TERMINAL:
            return None
        return datetime.fromisoformat(self.opened_at) + UNFINISHED_REPORT_LIFETIME

    def as_json(self) -> dict[str, Any]:
        return {
            "caseId": self.case_id,
            "stage": str(self.stage),
            "version": self.version,
            "startedAt": self.started_at,
            "submissions": self.submissions,
            "hiddenSubmissions": self.hidden_submissions,
            "reportId": self.report_id,
            "openedAt": self.opened_at,
            "abandoned": list(self.abandoned),
            "retractThen": str(self.retract_then) if self.retract_then else None,
            "retractBecause": _problem_json(self.retract_because),
            "problem": _problem_json(self.problem),
            "receipt": self.receipt,
            "receiptFileIds": list(self.receipt_file_ids),
            "files": [
                {"key": f.key, "md5": f.md5, "stage": str(f.stage), "fileId": f.file_id, "ncmecMd5": f.ncmec_md5}
                for f in self.files
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Filing:
        return cls(
            case_id=data["caseId"],
            stage=Stage(data["stage"]),
            version=int(data["version"]),
            started_at=data.get("startedAt"),
            submissions=int(data.get("submissions", 0)),
            hidden_submissions=int(data.get("hiddenSubmissions", 0)),
            report_id=data.get("reportId"),
            opened_at=data.get("openedAt"),
            abandoned=tuple(data.get("abandoned", ())),
            retract_then=Stage(data["retractThen"]) if data.get("retractThen") else None,
            retract_because=_problem_from_json(data.get("retractBecause")),
            problem=_problem_from_json(data.get("problem")),
            receipt=data.get("receipt"),
            receipt_file_ids=tuple(data.get("receiptFileIds", ())),
            files=tuple(
                FileFiling(
                    key=f["key"],
                    md5=f["md5"],
                    stage=FileStage(f["stage"]),
                    file_id=f["fileId"],
                    ncmec_md5=f["ncmecMd5"],
                )
                for f in data["files"]
            ),
        )


def _problem_json(problem: Problem | None) -> dict[str, Any] | None:
    return {"call": problem.call, "code": problem.code, "reason": problem.reason} if problem else None


def _problem_from_json(data: Mapping[str, Any] | None) -> Problem | None:
    return Problem(data["call"], data["code"], data["reason"]) if data else None


def file_key(file: DraftFile) -> str:
    """A preserved file version's name in a filing: stable across deliveries, unique per version."""
    return f"{file.source_uri}#{file.version_id}"


def attempt_id(case_id: str, attempt: int) -> str:
    return f"{case_id}/{attempt}"


# ---------------------------------------------------------------------------------------------------------------
# Steps: what the filing says to do next
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submit:
    attempt: int

    call = Call.SUBMIT


@dataclass(frozen=True, slots=True)
class Upload:
    report_id: str
    file_key: str

    call = Call.UPLOAD


@dataclass(frozen=True, slots=True)
class Describe:
    report_id: str
    file_key: str
    file_id: str

    call = Call.FILEINFO


@dataclass(frozen=True, slots=True)
class Finish:
    report_id: str

    call = Call.FINISH


@dataclass(frozen=True, slots=True)
class Retract:
    report_id: str
    then: Stage  # NEW (file afresh) or FAILED
    reason: str

    call = Call.RETRACT


@dataclass(frozen=True, slots=True)
class Conclude:
    """No call: record a verdict the filing's own history forces (too many attempts)."""

    stage: Stage
    problem: Problem


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing left to do: the filing is FINISHED, FAILED or IN_DOUBT."""


Step = Submit | Upload | Describe | Finish | Retract | Conclude | Done
CallStep = Submit | Upload | Describe | Finish | Retract


def next_step(filing: Filing) -> Step:
    if filing.terminal:
        return Done()
    if filing.stage == Stage.NEW:
        if filing.submissions >= MAX_SUBMISSIONS:
            return Conclude(
                Stage.FAILED, Problem(Call.SUBMIT, None, f"{filing.submissions} reports opened and none finished")
            )
        return Submit(filing.submissions + 1)
    if filing.stage == Stage.SUBMITTING:
        # The crash rule (module docstring): attempt n's report, if it exists, can never be finished by anyone, so
        # attempt n + 1 may go; unless answers keep vanishing, or the attempts are spent: then a person decides.
        hidden = filing.hidden_submissions + 1
        if hidden >= MAX_HIDDEN_SUBMISSIONS or filing.submissions >= MAX_SUBMISSIONS:
            reason = f"{hidden} /submit answers lost: unfinished reports may be open at NCMEC until they expire"
            return Conclude(Stage.IN_DOUBT, Problem(Call.SUBMIT, None, reason))
        return Submit(filing.submissions + 1)
    if filing.stage == Stage.RETRACTING:
        assert filing.report_id is not None and filing.retract_then is not None
        reason = filing.retract_because.reason if filing.retract_because else ""
        return Retract(filing.report_id, filing.retract_then, reason)
    assert filing.stage == Stage.SUBMITTED and filing.report_id is not None
    for entry in filing.files:
        if entry.stage == FileStage.UPLOADING:
            return Retract(filing.report_id, Stage.NEW, "an upload's answer was lost: the report may hold a stray file")
    for entry in filing.files:
        if entry.stage == FileStage.PENDING:
            return Upload(filing.report_id, entry.key)
        if entry.stage == FileStage.UPLOADED:
            assert entry.file_id is not None
            return Describe(filing.report_id, entry.key, entry.file_id)
    return Finish(filing.report_id)


def marks(step: Step) -> bool:
    """Whether the step's mark must be recorded before its call: a lost answer to these hides what NCMEC holds."""
    return isinstance(step, Submit | Upload)


def begin(filing: Filing, step: Submit | Upload) -> Filing:
    """The mark the driver records before the call."""
    if isinstance(step, Submit):
        return replace(
            filing,
            stage=Stage.SUBMITTING,
            submissions=step.attempt,
            hidden_submissions=filing.hidden_submissions + (1 if filing.stage == Stage.SUBMITTING else 0),
            version=filing.version + 1,
        )
    return replace(_with_file(filing, step.file_key, stage=FileStage.UPLOADING), version=filing.version + 1)


Outcome = Answer | CyberTiplineError | None


def apply(filing: Filing, step: Step, outcome: Outcome, *, now: datetime | None = None) -> Filing:
    """The filing after `step` was answered with `outcome` (an Answer, the error the call raised, or None for a
    Conclude). Pure: the driver records the result with a conditional write on the version."""
    result = _apply(filing, step, outcome, now)
    return result if result is filing else replace(result, version=filing.version + 1)


def _apply(filing: Filing, step: Step, outcome: Outcome, now: datetime | None) -> Filing:
    if isinstance(step, Done):
        return filing
    if isinstance(step, Conclude):
        return replace(filing, stage=step.stage, problem=step.problem)
    if isinstance(outcome, Retryable):
        problem = Problem(step.call, outcome.code, outcome.description)
        if outcome.lost:
            # We do not know what NCMEC did: the record stays where it is, exactly as after a crash (a SUBMITTING or
            # UPLOADING mark keeps saying what may be hidden), with the fault shown on the case.
            return replace(filing, problem=problem)
        # NCMEC answered "not done, try again" (or the request never left): undo the mark, nothing is hidden.
        if isinstance(step, Submit):
            return replace(filing, stage=Stage.NEW, problem=problem)
        if isinstance(step, Upload):
            return replace(_with_file(filing, step.file_key, stage=FileStage.PENDING), problem=problem)
        return replace(filing, problem=problem)
    if isinstance(outcome, Final):
        problem = Problem(step.call, outcome.code, outcome.description)
        if isinstance(step, Submit | Retract) or filing.report_id is None:
            return replace(filing, stage=Stage.FAILED, problem=problem)
        # Leave nothing open at NCMEC for a filing that has stopped.
        return replace(
            filing, stage=Stage.RETRACTING, retract_then=Stage.FAILED, retract_because=problem, problem=problem
        )
    if outcome is None or isinstance(outcome, CyberTiplineError):
        raise TypeError(f"{step!r} needs an answer")
    if isinstance(step, Submit):
        return _submitted(filing, outcome, now)
    if isinstance(step, Upload):
        return _uploaded(filing, step, outcome)
    if isinstance(step, Describe):
        return _described(filing, step, outcome)
    if isinstance(step, Finish):
        return _finished(filing, outcome)
    return _retracted(filing, step, outcome)


def _submitted(filing: Filing, answer: Answer, now: datetime | None) -> Filing:
    if answer.code != SUCCESS or not answer.report_id:
        return replace(
            filing, stage=Stage.FAILED, problem=Problem(Call.SUBMIT, answer.code, "unexpected answer to /submit")
        )
    return replace(
        filing,
        stage=Stage.SUBMITTED,
        report_id=answer.report_id,
        opened_at=_timestamp(now) if now else None,
        files=tuple(replace(f, stage=FileStage.PENDING, file_id=None, ncmec_md5=None) for f in filing.files),
        problem=None,
    )


def _uploaded(filing: Filing, step: Upload, answer: Answer) -> Filing:
    gone = _report_gone(filing, Call.UPLOAD, answer)
    if gone is not None:
        return gone
    if answer.code != SUCCESS or not answer.file_id or not answer.md5:
        return _in_doubt(filing, Call.UPLOAD, answer.code, "unexpected answer to /upload")
    ours = filing.file(step.file_key).md5
    theirs = answer.md5.lower()
    uploaded = _with_file(filing, step.file_key, stage=FileStage.UPLOADED, file_id=answer.file_id, ncmec_md5=theirs)
    if theirs != ours:
        # Never finish a report whose file NCMEC got wrong: retract it, and a person finds out why.
        problem = Problem(Call.UPLOAD, answer.code, f"NCMEC's MD5 {theirs} of {step.file_key} is not ours ({ours})")
        return replace(
            uploaded, stage=Stage.RETRACTING, retract_then=Stage.FAILED, retract_because=problem, problem=problem
        )
    return replace(uploaded, problem=None)


def _described(filing: Filing, step: Describe, answer: Answer) -> Filing:
    if answer.code == FILE_DOES_NOT_EXIST:  # NCMEC lost the file, the report is still open: upload it again
        return _with_file(filing, step.file_key, stage=FileStage.PENDING, file_id=None, ncmec_md5=None)
    gone = _report_gone(filing, Call.FILEINFO, answer)
    if gone is not None:
        return gone
    if answer.code != SUCCESS:
        return _in_doubt(filing, Call.FILEINFO, answer.code, "unexpected answer to /fileinfo")
    return replace(_with_file(filing, step.file_key, stage=FileStage.DESCRIBED), problem=None)


def _finished(filing: Filing, answer: Answer) -> Filing:
    if answer.code == REPORT_ALREADY_FINISHED:
        # A /finish that landed before, whose answer (the receipt) we never recorded: filed, receipt lost.
        return replace(filing, stage=Stage.FINISHED, problem=None)
    gone = _report_gone(filing, Call.FINISH, answer)
    if gone is not None:
        return gone
    if answer.code != SUCCESS:
        return _in_doubt(filing, Call.FINISH, answer.code, "unexpected answer to /finish")
    return replace(
        filing, stage=Stage.FINISHED, receipt=answer.document, receipt_file_ids=answer.file_ids, problem=None
    )


def _retracted(filing: Filing, step: Retract, answer: Answer) -> Filing:
    if answer.code == REPORT_ALREADY_FINISHED:
        return _in_doubt(filing, Call.RETRACT, answer.code, "the report was finished although this filing retracted it")
    if answer.code not in (SUCCESS, REPORT_ALREADY_RETRACTED, REPORT_DOES_NOT_EXIST):
        return _in_doubt(filing, Call.RETRACT, answer.code, "unexpected answer to /retract")
    # OK, 5101 (already retracted: a repeated /retract) and 5001 (gone already) all mean: no such open report.
    if step.then == Stage.FAILED:
        return replace(
            filing,
            stage=Stage.FAILED,
            abandoned=(*filing.abandoned, step.report_id),
            problem=filing.retract_because or filing.problem,
            retract_then=None,
            retract_because=None,
        )
    return _refile(filing, step.report_id, Problem(Call.RETRACT, answer.code, step.reason))


def _report_gone(filing: Filing, call: Call, answer: Answer) -> Filing | None:
    """5001/5101/5102 to a call on the open report: what they say about it, or None for any other answer."""
    assert filing.report_id is not None
    if answer.code == REPORT_DOES_NOT_EXIST:  # expired (24 h) or deleted by NCMEC: nothing was finished
        return _refile(filing, filing.report_id, Problem(call, answer.code, "the open report no longer exists"))
    if answer.code == REPORT_ALREADY_RETRACTED:
        # Not by this filing (it never calls on a report after retracting it): someone decided; a person looks.
        return replace(filing, stage=Stage.FAILED, problem=Problem(call, answer.code, "retracted outside this filing"))
    if answer.code == REPORT_ALREADY_FINISHED:
        return _in_doubt(filing, call, answer.code, "finished outside this filing before every file was described")
    return None


def _refile(filing: Filing, report_id: str, problem: Problem) -> Filing:
    return replace(
        filing,
        stage=Stage.NEW,
        report_id=None,
        opened_at=None,
        retract_then=None,
        retract_because=None,
        abandoned=(*filing.abandoned, report_id),
        files=tuple(replace(f, stage=FileStage.PENDING, file_id=None, ncmec_md5=None) for f in filing.files),
        problem=problem,
    )


def _in_doubt(filing: Filing, call: Call, code: int | None, reason: str) -> Filing:
    return replace(filing, stage=Stage.IN_DOUBT, problem=Problem(call, code, reason))


def _with_file(filing: Filing, key: str, **changes: Any) -> Filing:
    filing.file(key)  # KeyError for a file the filing does not have
    return replace(filing, files=tuple(replace(f, **changes) if f.key == key else f for f in filing.files))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------------------

# fileDetails, in the order of NCMEC's schema (the XSD's sequence): the children we send are a subsequence of
# reportId, fileId, fileName, originalFileName, uploadedToEspTimestamp, locationOfFile, fileViewedByEsp,
# exifViewedByEsp, publiclyAvailable, fileRelevance, potentialMeme, fileAnnotations, industryClassification,
# originalFileHash*, ipCaptureEvent, deviceId*, details*, additionalInfo*. Out of order answers 4100.


def submission(draft: bytes, case_id: str, attempt: int) -> bytes:
    """The `report` document for /submit from a case's draft (shared.domain.ncmec.build): the draft without its
    fileDetails (those go to /fileinfo, one per uploaded file), its additionalInfo naming the filing attempt."""
    report = ET.fromstring(draft)  # our own document, built by shared.domain.ncmec
    if report.tag != "report":
        raise ValueError("a CyberTipline draft's root is <report>")
    for details in report.findall("fileDetails"):
        report.remove(details)
    marker = f"filing attempt {attempt_id(case_id, attempt)}"
    info = report.find("additionalInfo")
    if info is None:  # additionalInfo is the last element of a report: appending keeps the schema's order
        info = ET.SubElement(report, "additionalInfo")
    info.text = f"{info.text}; {marker}" if info.text else marker
    ET.indent(report)
    return ET.tostring(report, encoding="utf-8", xml_declaration=True) + b"\n"


def file_details(report_id: str, file_id: str, file: DraftFile, *, exif_viewed_by_esp: bool = False) -> bytes:
    """The /fileinfo document for one uploaded file, its children in the schema's order."""
    details = ET.Element("fileDetails")
    ET.SubElement(details, "reportId").text = report_id
    ET.SubElement(details, "fileId").text = file_id
    ET.SubElement(details, "originalFileName").text = original_file_name(file)
    if file.source_uri:  # optional in the schema: a file reported without a URL has no location to give
        ET.SubElement(details, "locationOfFile").text = https_url(file.source_uri)
    ET.SubElement(details, "fileViewedByEsp").text = _boolean(file.viewed_by_esp)
    ET.SubElement(details, "exifViewedByEsp").text = _boolean(exif_viewed_by_esp)
    ET.SubElement(details, "publiclyAvailable").text = _boolean(file.publicly_available)
    ET.SubElement(details, "fileRelevance").text = FILE_RELEVANCE_REPORTED
    ET.SubElement(details, "originalFileHash", hashType="MD5").text = file.md5.lower()
    ET.SubElement(details, "originalFileHash", hashType="SHA256").text = file.sha256.lower()
    ET.indent(details)
    return ET.tostring(details, encoding="utf-8", xml_declaration=True) + b"\n"


def original_file_name(file: DraftFile) -> str:
    return posixpath.basename(unquote(urlsplit(file.source_uri).path)) or "file"


def _boolean(value: bool) -> str:
    return "true" if value else "false"


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------


class CyberTipline(Protocol):
    """The reporting API (shared.adapters.cybertipline.CyberTiplineClient): an Answer, or Retryable / Final."""

    def submit(self, document: bytes) -> Answer: ...

    def upload(self, report_id: str, file_name: str, content: bytes) -> Answer: ...

    def fileinfo(self, document: bytes) -> Answer: ...

    def finish(self, report_id: str) -> Answer: ...

    def retract(self, report_id: str) -> Answer: ...


class FilingConflict(Exception):
    """The stored filing is not the version this delivery read: another one moved it. Read it again."""


class FilingStore(Protocol):
    def load(self, case_id: str) -> Filing | None: ...

    def save(self, filing: Filing) -> None:
        """Store `filing` if the stored one has version `filing.version - 1` (none at all for version 0), else raise
        FilingConflict. One conditional write: the filing's whole state moves at once or not at all."""
        ...


class FilingPaused(Exception):
    """The filing waits for a retryable fault to pass; what was learnt is recorded. Deliver the work again later."""

    def __init__(self, filing: Filing, cause: CyberTiplineError | None = None) -> None:
        super().__init__(f"case {filing.case_id}: filing waits at {filing.stage}")
        self.filing = filing
        self.cause = cause


def file_case(
    case_id: str,
    *,
    draft: bytes,
    files: Sequence[DraftFile],
    read: Callable[[DraftFile], bytes],
    api: CyberTipline,
    store: FilingStore,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_calls: int = 100,
) -> Filing:
    """Move the case's filing as far as it goes now: to FINISHED, FAILED or IN_DOUBT (returned), or raise
    FilingPaused after a retryable fault (recorded first). Safe to run again at any point, after any crash."""
    filing = store.load(case_id)
    if filing is None:
        filing = Filing.start(case_id, files, clock())
        store.save(filing)
    by_key = {file_key(f): f for f in files}
    for _ in range(max_calls):
        step = next_step(filing)
        if isinstance(step, Done):
            return filing
        if isinstance(step, Conclude):
            filing = _record(store, apply(filing, step, None))
            continue
        if isinstance(step, Submit | Upload):
            filing = _record(store, begin(filing, step))
        try:
            answer = _call(api, step, filing, by_key, draft, read)
        except CyberTiplineError as error:
            filing = _record(store, apply(filing, step, error, now=clock()))
            if isinstance(error, Retryable):
                raise FilingPaused(filing, error) from error
            continue
        try:
            filing = _record(store, apply(filing, step, answer, now=clock()))
        except FilingConflict:
            if isinstance(step, Submit) and answer.report_id:
                _retract_quietly(api, answer.report_id)  # a report nobody recorded is one nobody may finish
            raise
    raise FilingPaused(filing)


def _call(
    api: CyberTipline,
    step: CallStep,
    filing: Filing,
    by_key: Mapping[str, DraftFile],
    draft: bytes,
    read: Callable[[DraftFile], bytes],
) -> Answer:
    if isinstance(step, Submit):
        return api.submit(submission(draft, filing.case_id, step.attempt))
    if isinstance(step, Upload):
        file = by_key[step.file_key]
        return api.upload(step.report_id, original_file_name(file), read(file))
    if isinstance(step, Describe):
        return api.fileinfo(file_details(step.report_id, step.file_id, by_key[step.file_key]))
    if isinstance(step, Finish):
        return api.finish(step.report_id)
    return api.retract(step.report_id)


def _record(store: FilingStore, filing: Filing) -> Filing:
    store.save(filing)
    return filing


def _retract_quietly(api: CyberTipline, report_id: str) -> None:
    # Best effort: unfinished and unrecorded, it cannot be finished by anyone, and NCMEC cancels it after 24 h.
    with contextlib.suppress(CyberTiplineError):
        api.retract(report_id)


def reported_events(
    filing: Filing, files: Sequence[DraftFile], evidence_bucket: str, *, actor: str
) -> list[CustodyEvent]:
    """A `reported` custody event for each file of a finished filing, on its preserved copy's chain: the CyberTip's
    reportId (the event's occurrence, so a repeat is the same event), NCMEC's fileId and the hashes NCMEC confirmed."""
    if filing.stage is not Stage.FINISHED or filing.report_id is None:
        return []
    by_key = {file_key(f): f for f in files}
    events = []
    for entry in filing.files:
        file = by_key.get(entry.key)
        resource = urlsplit(file.source_uri) if file else None
        if file is None or resource is None or resource.scheme != "s3":
            continue
        bucket, key = resource.netloc, unquote(resource.path.lstrip("/"))
        events.append(
            CustodyEvent(
                step=CustodyStep.REPORTED,
                source_bucket=bucket,
                source_key=key,
                source_version_id=file.version_id,
                at=datetime.now(UTC),
                by=actor,
                evidence_bucket=evidence_bucket,
                evidence_key=evidence_key(bucket, key, file.version_id),
                sha256=file.sha256,
                md5=file.md5,
                case_id=filing.case_id,
                occurrence=filing.report_id,
                detail={"ncmecReportId": filing.report_id, "ncmecFileId": entry.file_id or ""},
                viewed_by_human=file.viewed_by_esp,
            )
        )
    return events
