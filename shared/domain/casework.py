"""Casework rules: what an analyst may see, when a case is due, who holds it, and what a decision may say.

Pure rules for the analysts' API (issue 13); the routes and the table come on top of them. Every rule here is about
people acting on cases, so each refusal is a DomainError with the status the API answers:

- **Visibility.** Child-safety cases (CSAM, CSEM) are shown to the `child-safety` group only (REPORT Act: limit who
  sees the material); everyone else is told the case does not exist, as for a case that does not, so the queue does
  not leak their existence either.
- **Due time.** A case is due a fixed time after its first report, by severity (defaults P0 1 h, P1 4 h, P2 24 h,
  P3 72 h; configurable). The queue is ordered by severity, P0 first, then by due time, earliest first: the key is
  one string, so a DynamoDB sort key can hold it and one Query serves a page.
- **Claims.** A claim is a lease (30 minutes by default), so two analysts never work one case and a claim left by
  someone who went home lapses by itself. The holder renews it by claiming again; anyone may take a lapsed one; only
  the holder gives it up early.
- **Decisions.** A reason code from the AWS Abuse Signal API's vocabulary (the one partners already read) and an
  action. RESTRICT is a decision that the content breaks the rules, so it goes with ACTIONED only and needs the
  statement of reasons the owner is owed (DSA Art. 17); RELEASE lifts a restriction, so it cannot go with ACTIONED.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from shared.domain.cases import CHILD_SAFETY_FAMILY
from shared.domain.errors import DomainError, MalformedBody, UnmetRequirement
from shared.domain.policy import Severity
from shared.domain.reports import ReasonCode, utc_timestamp

CHILD_SAFETY_GROUP = "child-safety"
ANALYSTS_GROUP = "analysts"
EVIDENCE_CUSTODIANS_GROUP = "evidence-custodians"

DEFAULT_SLA = {
    Severity.P0: timedelta(hours=1),
    Severity.P1: timedelta(hours=4),
    Severity.P2: timedelta(hours=24),
    Severity.P3: timedelta(hours=72),
}
CLAIM_LEASE = timedelta(minutes=30)
MAX_STATEMENT_CHARS = 5_000  # the DSA Transparency Database's limit on `decision_facts`, where the statement goes
MAX_NOTE_CHARS = 5_000


class NoSuchCase(DomainError):
    """No case with that id that this analyst may see (the two are not told apart). Not the escalation worker's
    CaseNotFound, which is a message to retry."""

    status = 404
    code = "rule.case.not_found"


class CaseClaimed(DomainError):
    """Another analyst holds the case's claim."""

    status = 409
    code = "rule.case.claimed"

    def __init__(self, holder: str, until: datetime) -> None:
        super().__init__(f"the case is claimed by {holder} until {utc_timestamp(until)}")
        self.holder = holder
        self.until = until


class NotClaimHolder(DomainError):
    """Only the analyst who holds a claim may give it up."""

    status = 409
    code = "rule.case.not_claim_holder"


# --- visibility -------------------------------------------------------------------------------------------------


def may_see(family: str, groups: Collection[str]) -> bool:
    if family == CHILD_SAFETY_FAMILY:
        return CHILD_SAFETY_GROUP in groups
    return ANALYSTS_GROUP in groups or CHILD_SAFETY_GROUP in groups


def visible_families(groups: Collection[str], families: Collection[str]) -> list[str]:
    """The families of `families` this analyst's queue lists (one Query per family and page)."""
    return sorted(family for family in families if may_see(family, groups))


# --- due time and the queue ------------------------------------------------------------------------------------


def due_at(severity: Severity, first_seen: datetime, sla: Mapping[Severity, timedelta] = DEFAULT_SLA) -> datetime:
    return first_seen + sla[severity]


def queue_key(severity: Severity, due: datetime) -> str:
    """The queue's sort key: severity first (P0 < P1 < ... in text order), then due time (text order is time order)."""
    return f"{severity}#{utc_timestamp(due)}"


# --- claims ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    analyst: str
    until: datetime

    def held_at(self, now: datetime) -> bool:
        return now < self.until


def claim(current: Claim | None, analyst: str, now: datetime, lease: timedelta = CLAIM_LEASE) -> Claim:
    """The claim after `analyst` asks for the case: a new or renewed lease, or CaseClaimed naming who holds it."""
    if current is not None and current.held_at(now) and current.analyst != analyst:
        raise CaseClaimed(current.analyst, current.until)
    return Claim(analyst, now + lease)


def give_up(current: Claim | None, analyst: str, now: datetime) -> None:
    """Check that `analyst` may end the claim early: a lapsed or absent claim ends as it is, anyone's."""
    if current is not None and current.held_at(now) and current.analyst != analyst:
        raise NotClaimHolder(f"the claim is held by {current.analyst}")


# --- decisions ---------------------------------------------------------------------------------------------------


class Action(StrEnum):
    RESTRICT = "RESTRICT"  # keep or put the quarantine restriction on every quarantined object of the case
    RELEASE = "RELEASE"  # lift it (a custody event per object)
    NONE = "NONE"


class DecisionRequest(BaseModel):
    """`POST /v1/cases/{caseId}/decisions`: what the analyst decided, as sent."""

    # defer_build: workers that load this module for the claim rules never pay for the schema.
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )

    reason_code: ReasonCode
    action: Action = Action.NONE
    statement: str | None = Field(default=None, max_length=MAX_STATEMENT_CHARS)  # for the content's owner
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)  # internal, never sent to anyone

    @model_validator(mode="after")
    def _action_fits_reason(self) -> DecisionRequest:
        if self.action is Action.RESTRICT and self.reason_code is not ReasonCode.ACTIONED:
            raise ValueError("RESTRICT is a decision that the content breaks the rules: its reason is ACTIONED")
        if self.action is Action.RESTRICT and not (self.statement or "").strip():
            raise ValueError("a restriction needs a statement of reasons for the content's owner (DSA Art. 17)")
        if self.action is Action.RELEASE and self.reason_code is ReasonCode.ACTIONED:
            raise ValueError("RELEASE lifts a restriction: it cannot go with ACTIONED")
        return self


@dataclass(frozen=True)
class Decision:
    """A decision as recorded: the request, who took it and when."""

    decision_id: str
    case_id: str
    analyst: str
    decided_at: datetime
    reason_code: ReasonCode
    action: Action
    statement: str | None
    note: str | None
    family: str | None = None  # the case's family, as the decision item records it (child_safety: a CyberTip follows)

    @property
    def stands_for_new_reports(self) -> bool:
        """While a restriction stands, a new report about the case completes at once with this decision's reason;
        after any other decision a new report reopens the case (someone has to look again)."""
        return self.action is Action.RESTRICT


def decide(
    case_id: str,
    request: DecisionRequest,
    analyst: str,
    current: Claim | None,
    now: datetime,
    decision_id: str,
) -> Decision:
    """The decision, if `analyst` may take it: with the case's claim, or on a case nobody holds (a decision is work on
    the case, so it follows the claim rule; it does not take the claim for later)."""
    if current is not None and current.held_at(now) and current.analyst != analyst:
        raise CaseClaimed(current.analyst, current.until)
    return Decision(
        decision_id=decision_id,
        case_id=case_id,
        analyst=analyst,
        decided_at=now,
        reason_code=request.reason_code,
        action=request.action,
        statement=request.statement,
        note=request.note,
    )


# What a reporter is told of the outcome (DSA Art. 16(5)), in plain words: nothing of the content, the case or who
# decided; the redress is said by the email that carries it.
OUTCOME_WORDS = {
    ReasonCode.ACTIONED: "We found that the content broke our rules or the law, and we acted on it.",
    ReasonCode.REVIEWED_NO_AWS_ACTION: "We reviewed the content and found no reason to act on it.",
    ReasonCode.NEED_MORE_INFORMATION: "We could not decide from what we have: please send more detail in a new report.",
    ReasonCode.NOT_RESOLVABLE_TO_AWS: "The content you reported is not hosted with us, so we cannot act on it.",
    ReasonCode.CONTENT_DOWN_OR_INACCESSIBLE: "The content was already gone or could not be reached when we looked.",
}


# --- the queue's partitions --------------------------------------------------------------------------------------


class CaseStatus(StrEnum):
    OPEN = "OPEN"  # someone has to look: new, or reopened by a report after a decision that did not restrict
    DECIDED = "DECIDED"


CHILD_SAFETY_AUDIENCE = "child_safety"
GENERAL_AUDIENCE = "general"


def audience_of(family: str) -> str:
    """Whose queue a case is in: child-safety cases form a queue of their own, so listing one group's cases is one
    Query and an analyst's page never has to filter out what they may not see."""
    return CHILD_SAFETY_AUDIENCE if family == CHILD_SAFETY_FAMILY else GENERAL_AUDIENCE


def queue_partition(status: CaseStatus | str, family: str) -> str:
    return f"{status}#{audience_of(family)}"


def audiences_for(groups: Collection[str]) -> list[str]:
    """The queues this analyst may list, their own first: a child-safety specialist starts on child-safety cases."""
    audiences = []
    if CHILD_SAFETY_GROUP in groups:
        audiences.append(CHILD_SAFETY_AUDIENCE)
    if ANALYSTS_GROUP in groups or CHILD_SAFETY_GROUP in groups:
        audiences.append(GENERAL_AUDIENCE)
    return audiences


def queue_sort_key(severity: Severity, due: datetime, case_id: str) -> str:
    """queueKey on the case item: the queue order, made unique by the case id (one index key per case)."""
    return f"{queue_key(severity, due)}#{case_id}"


# --- evidence ----------------------------------------------------------------------------------------------------


class NotPermitted(DomainError):
    """The analyst is signed in but their groups do not allow this action."""

    status = 403
    code = "rule.analyst.not_permitted"


class NoSuchEvidence(DomainError):
    """No evidence item with that id that this analyst may see (the two are not told apart)."""

    status = 404
    code = "rule.evidence.not_found"


INTAKE_EVIDENCE_PREFIX = "intake/sha256/"
_PAYLOAD_ID_PREFIX = "sha256-"
_SHA256_HEX = frozenset("0123456789abcdef")


def evidence_id_for_payload(s3_key: str) -> str:
    """The API's id for a payload a reporter sent (stored at intake/sha256/<hex>): URL-safe, one path segment."""
    return _PAYLOAD_ID_PREFIX + s3_key.removeprefix(INTAKE_EVIDENCE_PREFIX)


def payload_key_of(evidence_id: str) -> str:
    """The evidence bucket key an evidence id names; NoSuchEvidence for anything that is not one (so no id can
    reach another prefix of the bucket, such as the CyberTipline drafts)."""
    digest = evidence_id.removeprefix(_PAYLOAD_ID_PREFIX)
    if not evidence_id.startswith(_PAYLOAD_ID_PREFIX) or len(digest) != 64 or not set(digest) <= _SHA256_HEX:
        raise NoSuchEvidence("no such evidence")
    return INTAKE_EVIDENCE_PREFIX + digest


def may_view_evidence(families: Collection[str], groups: Collection[str]) -> bool:
    """Evidence sent with any child-safety report is for the child-safety group alone, whatever else sent it too."""
    return bool(families) and all(may_see(family, groups) for family in families)


def may_destroy_evidence(groups: Collection[str]) -> bool:
    return EVIDENCE_CUSTODIANS_GROUP in groups


VIEW_URL_SECONDS = 60
MAX_PURPOSE_CHARS = 500


class ViewRequest(BaseModel):
    """`POST /v1/evidence/{evidenceId}/views`: why the analyst looks (recorded with the view)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    purpose: str = Field(min_length=3, max_length=MAX_PURPOSE_CHARS)


class DestructionRequest(BaseModel):
    """`POST /v1/evidence/{evidenceId}/destruction`: the lawful request it carries out (18 U.S.C. 2258B, ...)."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )

    legal_request_reference: str = Field(min_length=3, max_length=200)


# --- the audit log -----------------------------------------------------------------------------------------------


class AuditAction(StrEnum):
    CLAIMED = "claimed"
    CLAIM_ENDED = "claim_ended"
    DECIDED = "decided"
    VIEWED_EVIDENCE = "viewed_evidence"
    DESTROYED_EVIDENCE = "destroyed_evidence"
    REVEALED_CONTACTS = "revealed_contacts"
    SUSPENDED_REPORTER = "suspended_reporter"


@dataclass(frozen=True)
class AuditEvent:
    """One human action, as the audit log keeps it: who, what, when, on which case or evidence, and why. Never the
    content looked at, an email address or a note."""

    event_id: str
    at: datetime
    actor: str
    action: AuditAction
    audience: str  # whose log may list it: a child-safety case's entries are for the child-safety group alone
    case_id: str | None = None
    evidence_id: str | None = None
    detail: Mapping[str, str] | None = None


# --- requests ----------------------------------------------------------------------------------------------------


class InvalidCaseworkRequest(DomainError):
    """A well-formed body or query that says something the API does not take; each problem with its pointer."""

    status = 422
    code = "rule.request.invalid"


RequestModel = TypeVar("RequestModel", bound=BaseModel)


def parsed(model: type[RequestModel], body: str | bytes | Mapping[str, object] | None) -> RequestModel:
    """The request as `model`, or a refusal naming every problem by its JSON pointer (never the value sent)."""
    try:
        if isinstance(body, Mapping):
            return model.model_validate(body)
        return model.model_validate_json(body or b"")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise MalformedBody("the body is not a JSON object") from None
        problems = [
            UnmetRequirement(
                path="".join(f"/{part}" for part in error["loc"]),
                code=f"rule.{error['loc'][-1] if error['loc'] else 'body'}.{error['type']}",
                message=str(error["msg"]),
            )
            for error in errors
        ]
        raise InvalidCaseworkRequest("the request is not one this route takes", problems) from None


# --- reporters who abuse the channel (DSA Art. 23) ----------------------------------------------------------------

# Flagged when at least ABUSE_MIN_DECIDED of a reporter's reports were decided and at least ABUSE_NO_ACTION_SHARE of
# those found nothing to act on. Configurable (REPORTER_ABUSE_SHARE, REPORTER_ABUSE_MIN_DECIDED): a flag is a prompt
# for an analyst, never a suspension by itself (Art. 23(1) asks for a warning and a decision by a person).
ABUSE_NO_ACTION_SHARE = 0.8
ABUSE_MIN_DECIDED = 20


@dataclass(frozen=True)
class TrackRecord:
    """What became of a reporter's decided reports, and whether an analyst has suspended them."""

    reporter_id: str  # shared.domain.cases.reporter_key of the principal: no principal or name in the record
    decided: int = 0
    actioned: int = 0
    no_action: int = 0  # REVIEWED_NO_AWS_ACTION: reviewed, nothing to act on
    suspended: bool = False

    @property
    def share_actioned(self) -> float | None:
        return self.actioned / self.decided if self.decided else None

    def flagged(self, share: float = ABUSE_NO_ACTION_SHARE, volume: int = ABUSE_MIN_DECIDED) -> bool:
        return self.decided >= volume and self.no_action >= share * self.decided

    def as_json(self, share: float = ABUSE_NO_ACTION_SHARE, volume: int = ABUSE_MIN_DECIDED) -> dict[str, object]:
        return {
            "reporterId": self.reporter_id,
            "decided": self.decided,
            "actioned": self.actioned,
            "noAction": self.no_action,
            "shareActioned": self.share_actioned,
            "flagged": self.flagged(share, volume),
            "suspended": self.suspended,
        }


class NotFlagged(DomainError):
    """Suspension follows a flag (a pattern of unfounded notices), not an analyst's impression."""

    status = 409
    code = "rule.reporter.not_flagged"


class SuspensionRequest(BaseModel):
    """`POST /v1/reporters/{reporterId}/suspension`: the analyst confirms the flag; the reason is recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    reason: str = Field(min_length=3, max_length=1000)
