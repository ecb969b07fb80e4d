"""The escalation worker's logic on in-memory ports: one draft per case, one page per case and level, ids only."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from shared.domain.cases import CHILD_SAFETY_FAMILY, CaseState, case_id_for
from shared.domain.escalation import CaseNotFound, Evidence, Notice, escalate
from shared.domain.messages import EscalationRequest
from shared.domain.ncmec import DraftFile, draft_key
from shared.domain.policy import Severity

OBJECT = "s3://demo-customer-content/images/pixel.png"
CHILD = CaseState(
    case_id=case_id_for(OBJECT, CHILD_SAFETY_FAMILY),
    resource=OBJECT,
    family=CHILD_SAFETY_FAMILY,
    category="content",
    version=1,
    report_count=1,
    reporters=frozenset({"r1"}),
    first_seen="2026-11-25T08:31:00.000Z",
    last_seen="2026-11-25T08:31:00.000Z",
    first_incident="2026-11-25T08:30:00Z",
    severity=Severity.P0,
    escalate=True,
    types=frozenset({"csam"}),
    urls=frozenset({OBJECT}),
    objects=frozenset({OBJECT}),
)
PHISHING = replace(
    CHILD,
    case_id=case_id_for("https://login.example.net/", "content"),
    resource="https://login.example.net/",
    family="content",
    severity=Severity.P2,
    types=frozenset({"fraud"}),
    urls=frozenset({"https://login.example.net/"}),
    objects=frozenset(),
)
FILE = DraftFile(source_uri=OBJECT, version_id="v1", sha256="ab" * 32, md5="cd" * 16)
REPORT_ID = "01KB2X3Y4Z5A6B7C8D9E0F1G2H"


@dataclass
class Book:
    cases: dict[str, CaseState] = field(default_factory=dict)
    waiting_with: EscalationRequest | None = None

    def get(self, case_id: str) -> CaseState | None:
        return self.cases.get(case_id)

    def record_escalation(
        self, case_id: str, *, draft_sha256: str | None = None, notified_severity: Severity | None = None
    ) -> None:
        case = self.cases[case_id]
        self.cases[case_id] = replace(
            case,
            draft_sha256=draft_sha256 or case.draft_sha256,
            notified_severity=notified_severity or case.notified_severity,
        )

    def await_evidence(self, case_id: str, request: EscalationRequest, since: str) -> None:
        case = self.cases[case_id]
        self.cases[case_id] = replace(case, awaiting_evidence_since=case.awaiting_evidence_since or since)
        self.waiting_with = request

    def evidence_complete(self, case_id: str) -> None:
        self.cases[case_id] = replace(self.cases[case_id], awaiting_evidence_since=None)


@dataclass
class Index:
    files: dict[str, DraftFile] = field(default_factory=dict)

    def evidence(self, objects: Iterable[str]) -> Evidence:
        wanted = list(objects)
        return Evidence(
            files=tuple(self.files[o] for o in wanted if o in self.files),
            pending=tuple(o for o in wanted if o not in self.files),
        )


@dataclass
class Drafts:
    writes: list[tuple[str, bytes]] = field(default_factory=list)

    def put(self, key: str, document: bytes) -> None:
        self.writes.append((key, document))


@dataclass
class Pager:
    notices: list[Notice] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


def request(case: CaseState, **changes) -> EscalationRequest:
    child = case.family == CHILD_SAFETY_FAMILY
    values = {
        "case_id": case.case_id,
        "report_id": REPORT_ID,
        "severity": case.severity,
        "category": "content",
        "type": "csam" if child else "fraud",
        "child_safety": child,
    }
    return EscalationRequest(**(values | changes))


def run(case_id: str, book: Book, index: Index, drafts: Drafts, pager: Pager, now=None, **changes):
    return escalate(
        request(book.cases[case_id], **changes),
        cases=book,
        evidence=index,
        drafts=drafts,
        oncall=pager,
        contact_email="trust-and-safety@cloud.example",
        now=now,
    )


def test_a_csam_case_gets_one_draft_with_its_files_and_one_page_however_often_delivered():
    book, index, drafts, pager = Book({CHILD.case_id: CHILD}), Index({OBJECT: FILE}), Drafts(), Pager()
    outcomes = [run(CHILD.case_id, book, index, drafts, pager) for _ in range(5)]
    assert [(o.drafted, o.notified) for o in outcomes] == [(True, True)] + [(False, False)] * 4
    ((key, document),) = drafts.writes
    assert key == draft_key(CHILD.case_id)
    hashes = {e.get("hashType"): e.text for e in ET.fromstring(document).iter("originalFileHash")}
    assert hashes == {"SHA256": FILE.sha256, "MD5": FILE.md5}
    assert len(pager.notices) == 1


def test_a_later_report_with_news_updates_the_one_draft_without_paging_again():
    book, index, drafts, pager = Book({CHILD.case_id: CHILD}), Index({OBJECT: FILE}), Drafts(), Pager()
    run(CHILD.case_id, book, index, drafts, pager)
    book.cases[CHILD.case_id] = replace(
        book.cases[CHILD.case_id], report_count=2, urls=CHILD.urls | {"https://mirror.example.org/x.png"}
    )
    outcome = run(CHILD.case_id, book, index, drafts, pager, report_id="01KB2X3Y4Z5A6B7C8D9E0F1G2J")
    assert (outcome.drafted, outcome.notified) == (True, False)
    assert {key for key, _ in drafts.writes} == {draft_key(CHILD.case_id)}, "updated in place, never a second draft"
    assert b"mirror.example.org" in drafts.writes[-1][1]
    assert len(pager.notices) == 1


def test_files_not_preserved_yet_leave_a_draft_without_them_that_the_copys_own_request_completes():
    book, index, drafts, pager = Book({CHILD.case_id: CHILD}), Index(), Drafts(), Pager()
    waiting = run(CHILD.case_id, book, index, drafts, pager)
    assert (waiting.files, waiting.pending_files) == (0, 1), "finished, not failed: a failure would hold the group"
    assert len(pager.notices) == 1, "P0 is paged at once; it does not wait for the copy"
    assert b"fileDetails" not in drafts.writes[-1][1]
    index.files[OBJECT] = FILE
    outcome = run(CHILD.case_id, book, index, drafts, pager)
    assert (outcome.drafted, outcome.notified, outcome.files) == (True, False, 1)
    assert b"originalFileHash" in drafts.writes[-1][1]


def test_a_draft_waiting_for_files_is_listed_from_its_first_wait_until_it_has_them():
    book, index, drafts, pager = Book({CHILD.case_id: CHILD}), Index(), Drafts(), Pager()
    first, later = datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    for now in (first, later):
        assert run(CHILD.case_id, book, index, drafts, pager, now=now).pending_files == 1
    assert book.cases[CHILD.case_id].awaiting_evidence_since == "2026-03-01T10:00:00.000Z", "the first wait counts"
    assert book.waiting_with == request(CHILD), "the sweeper can send the same request again"
    index.files[OBJECT] = FILE
    run(CHILD.case_id, book, index, drafts, pager, now=later)
    assert book.cases[CHILD.case_id].awaiting_evidence_since is None


def test_other_escalations_page_on_call_and_write_no_draft():
    book, drafts, pager = Book({PHISHING.case_id: PHISHING}), Drafts(), Pager()
    run(PHISHING.case_id, book, Index(), drafts, pager)
    assert drafts.writes == [] and len(pager.notices) == 1


def test_a_case_whose_severity_rises_pages_again_once():
    book, pager = Book({PHISHING.case_id: PHISHING}), Pager()
    run(PHISHING.case_id, book, Index(), Drafts(), pager)
    book.cases[PHISHING.case_id] = replace(book.cases[PHISHING.case_id], severity=Severity.P1)
    run(PHISHING.case_id, book, Index(), Drafts(), pager)
    run(PHISHING.case_id, book, Index(), Drafts(), pager)
    assert [n.severity for n in pager.notices] == [Severity.P2, Severity.P1]
    assert pager.notices[0].notification_id != pager.notices[1].notification_id


def test_on_call_gets_ids_and_classification_never_content_or_whereabouts():
    book, pager = Book({CHILD.case_id: CHILD}), Pager()
    run(CHILD.case_id, book, Index({OBJECT: FILE}), Drafts(), pager)
    (notice,) = pager.notices
    message = json.dumps(notice.message()) + notice.subject()
    assert set(notice.message()) == {
        "kind",
        "notificationId",
        "caseId",
        "reportId",
        "severity",
        "family",
        "category",
        "type",
        "reportCount",
        "reporterCount",
        "childSafety",
        "draftKey",
    }
    for secret in ("pixel", "demo-customer-content", "http", FILE.sha256, FILE.md5, "@"):
        assert secret not in message


def test_an_unknown_case_is_retried_not_guessed():
    with pytest.raises(CaseNotFound):
        escalate(
            request(CHILD),
            cases=Book(),
            evidence=Index(),
            drafts=Drafts(),
            oncall=Pager(),
            contact_email="trust-and-safety@cloud.example",
        )
