"""Lambda adapter for the analysts' API: who is asking (the Cognito authorizer's claims), then the casework rules.

Every route needs a signed-in analyst: API Gateway's Cognito authorizer has checked the ID token before the function
runs, and the user and groups are read from the claims it passes on, never from the body. What each group may do is
decided by shared.domain.casework; a refusal is a DomainError with its status, answered by the one exception handler.
Nothing here logs a report's text, an email address, a note or a statement: ids, routes and counts only.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.casework_table import MAX_EVIDENCE_LISTED, MAX_PAGE, CaseworkTable, payload_chain_or_404
from shared.adapters.evidence_access import EvidenceAccess, custodian_s3
from shared.adapters.reports_table import CUSTODY_PK_PREFIX, decode
from shared.config import settings
from shared.domain import casework
from shared.domain.answers import API_SECURITY_HEADERS, Refusal
from shared.domain.cases import ANONYMOUS_PRINCIPAL, CHILD_SAFETY_FAMILY, family_of, reporter_key
from shared.domain.casework import (
    AuditAction,
    AuditEvent,
    CaseStatus,
    Claim,
    DecisionRequest,
    DestructionRequest,
    NoSuchCase,
    NotPermitted,
    ViewRequest,
)
from shared.domain.dedupe import key_digest_of, ulid_text
from shared.domain.errors import DomainError, StoreUnavailable
from shared.domain.policy import Severity
from shared.domain.quarantine import object_id, quarantine_state
from shared.domain.reports import utc_timestamp
from shared.domain.resources import canonicalize

logger = Logger(service="abuse-intake")
metrics = Metrics(namespace="AbuseIntake", service="abuse-intake")
app = APIGatewayRestResolver()

_CASE_ID = re.compile(r"^[0-9a-f]{32}$")
_CASE_FIELDS = (
    "caseId",
    "resource",
    "family",
    "category",
    "types",
    "severity",
    "caseStatus",
    "reportCount",
    "reporterCount",
    "firstSeen",
    "lastSeen",
    "firstIncident",
    "dueAt",
    "claimedBy",
    "claimUntil",
    "urls",
    "objects",
    "decisionId",
    "decisionReason",
    "decisionAction",
    "decidedAt",
)
_DECISION_FIELDS = ("decisionId", "analyst", "decidedAt", "reasonCode", "action", "statement", "note")
_REPORT_FIELDS = (
    "reportId",
    "receivedAt",
    "status",
    "reasonCode",
    "category",
    "type",
    "resources",
    "description",
    "incidentTime",
    "sourceFormat",
    "externalId",
    "stale",
    "outOfScope",
)
_CUSTODY_FIELDS = ("step", "at", "by", "reportId", "viewedByHuman", "size", "sha256", "md5")


class Analyst(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    groups: frozenset[str]


def _groups(value: Any) -> frozenset[str]:
    # API Gateway REST passes every claim as a string: a user's groups arrive as "a,b" (or "[a b]" from some
    # authorizer versions); a test's event may carry a list.
    if isinstance(value, list):
        return frozenset(str(group) for group in value)
    text = str(value or "").strip().strip("[]")
    return frozenset(group for group in re.split(r"[,\s]+", text) if group)


def _analyst() -> Analyst:
    claims = (app.current_event.request_context.authorizer.claims or {}) if app.current_event.request_context else {}
    username = claims.get("cognito:username") or claims.get("username")
    if not username:
        # Only reachable when the function is invoked without the authorizer (a misconfigured route).
        raise NotPermitted("this route needs a signed-in analyst")
    return Analyst(username=str(username), groups=_groups(claims.get("cognito:groups")))


def _table() -> CaseworkTable:
    return CaseworkTable(settings().table_name)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(now: datetime) -> str:
    return ulid_text(int(now.timestamp() * 1000).to_bytes(6, "big") + os.urandom(10))


def _json(status: int, body: dict[str, object]) -> Response[str]:
    return Response(status, "application/json", json.dumps(body, separators=(",", ":")), headers=API_SECURITY_HEADERS)


def _audit(analyst: Analyst, action: AuditAction, family: str, now: datetime, **values: Any) -> AuditEvent:
    return AuditEvent(
        event_id=_new_id(now),
        at=now,
        actor=analyst.username,
        action=action,
        audience=casework.audience_of(family),
        **values,
    )


def _plain(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        if name in item:
            value = decode(item[name])
            values[name] = sorted(value) if isinstance(value, frozenset) else value
    return values


def _visible_case(case_id: str, analyst: Analyst, table: CaseworkTable) -> dict[str, Any]:
    """The case item, if this analyst may see it; NoSuchCase otherwise, exactly as for a case that does not exist."""
    item = table.case_item(case_id) if _CASE_ID.match(case_id) else None
    if item is None or not casework.may_see(item["family"]["S"], analyst.groups):
        raise NoSuchCase(f"no case {case_id}")
    return item


# --- the queue ---------------------------------------------------------------------------------------------------


class QueueQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["OPEN", "DECIDED", "ALL"] = "OPEN"
    severity: Severity | None = None
    category: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z_]+$")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    nextToken: str | None = Field(default=None, max_length=2048)  # noqa: N815 (the query parameter's name)
    audience: Literal["child_safety", "general"] | None = None


@app.get("/v1/cases")
def list_cases() -> Response[str]:
    analyst = _analyst()
    query = casework.parsed(QueueQuery, dict(app.current_event.query_string_parameters or {}))
    audiences = casework.audiences_for(analyst.groups)
    if not audiences:
        raise NotPermitted("no analyst group")
    audience = query.audience or audiences[0]
    if audience not in audiences:
        raise NotPermitted(f"the {audience} queue is not for this analyst's groups")
    statuses = [str(CaseStatus.OPEN), str(CaseStatus.DECIDED)] if query.status == "ALL" else [query.status]
    page = _table().queue_page(
        statuses,
        audience,
        severity=str(query.severity) if query.severity else None,
        category=query.category,
        limit=query.limit,
        next_token=query.nextToken,
    )
    cases = [{**case, "status": case.pop("caseStatus", CaseStatus.OPEN)} for case in page.cases]
    return _json(200, {"audience": audience, "cases": cases, "nextToken": page.next_token})


# --- a case ------------------------------------------------------------------------------------------------------


def _reporter(report: dict[str, Any], records: dict[str, casework.TrackRecord]) -> dict[str, Any]:
    principal = report["principal"]["S"]
    if principal == ANONYMOUS_PRINCIPAL:
        # Anonymous reporters cannot be told apart, so they have no track record of their own.
        return {"kind": "anonymous", "tier": int(report["trustTier"]["N"])}
    return {
        "kind": "partner" if "partner" in report else "signed",
        "partner": report.get("partner", {}).get("S"),
        "tier": int(report["trustTier"]["N"]),
        "trackRecord": records[reporter_key(principal)].as_json(
            settings().reporter_abuse_share, settings().reporter_abuse_min_decided
        ),
    }


def _evidence(report: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for entry in decode(report["evidence"]) if "evidence" in report else []:
        key = entry.get("evidenceId")
        items.append(
            {
                "evidenceId": casework.evidence_id_for_payload(key) if key else None,
                **{name: entry.get(name) for name in ("sha256", "md5", "size", "contentType", "legalHold")},
                "declaredHashMatches": entry.get("declaredHashMatches"),
            }
        )
    return items


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reveal: Literal["contacts"] | None = None


@app.get("/v1/cases/<caseId>")
def get_case(caseId: str) -> Response[str]:  # noqa: N803 (the route's parameter name)
    analyst = _analyst()
    table = _table()
    query = casework.parsed(CaseQuery, dict(app.current_event.query_string_parameters or {}))
    records = table.case_records(caseId) if _CASE_ID.match(caseId) else None
    if records is None or not casework.may_see(records.case["family"]["S"], analyst.groups):
        raise NoSuchCase(f"no case {caseId}")
    contacts: dict[str, dict[str, Any]] = {}
    if query.reveal == "contacts":
        # Reporters' contact details are personal data: shown only on request, and every request is in the audit log
        # before anything is shown.
        now = _now()
        table.record_audit(
            _audit(analyst, AuditAction.REVEALED_CONTACTS, records.case["family"]["S"], now, case_id=caseId)
        )
        contacts = {
            item["PK"]["S"]: _plain(item, ("reporterOrg", "reporterContact", "reporterDomain", "expiresAt"))
            for item in table.contacts([report["PK"]["S"] for report in records.reports])
        }
    reporters = [
        reporter_key(item["principal"]["S"])
        for item in records.reports
        if item["principal"]["S"] != ANONYMOUS_PRINCIPAL
    ]
    track_records = table.track_records(reporters) if reporters else {}
    reports = []
    payloads: dict[str, str] = {}
    for item in records.reports:
        evidence = _evidence(item)
        for entry, stored in zip(evidence, decode(item["evidence"]) if "evidence" in item else [], strict=True):
            if entry["evidenceId"] and len(payloads) < MAX_EVIDENCE_LISTED:
                payloads.setdefault(entry["evidenceId"], stored["evidenceId"])
        details = json.loads(item["details"]["S"]) if "details" in item and "S" in item["details"] else None
        reports.append(
            {
                **_plain(item, _REPORT_FIELDS),
                "reporter": _reporter(item, track_records),
                "evidence": evidence,
                "details": details,
            }
            | ({"contact": contacts.get(item["PK"]["S"])} if query.reveal else {})
        )
    custody = {
        evidence_id: [_plain(event, _CUSTODY_FIELDS) | _detail(event) for event in table.custody_chain(key)]
        for evidence_id, key in payloads.items()
    }
    case = _plain(records.case, _CASE_FIELDS)
    case["status"] = case.pop("caseStatus", CaseStatus.OPEN)
    return _json(
        200,
        {
            "case": case,
            "reports": reports,
            "reportsListed": len(reports),
            "decisions": [_plain(item, _DECISION_FIELDS) for item in records.decisions],
            "custody": custody,
            "objects": _objects(records.case, table),
            "cyberTipline": _filing(records.filing),
        },
    )


def _objects(case_item: dict[str, Any], table: CaseworkTable) -> list[dict[str, Any]]:
    """Each protected object of the case (at most 25, the case's sample) with its preserved versions, their
    quarantine state and custody chain: one ListObjectsV2 of the evidence bucket per object, one Query per version."""
    uris = sorted(case_item.get("objects", {}).get("SS", []))
    access = EvidenceAccess(_evidence_bucket()) if uris else None
    listed = []
    for uri in uris:
        resource = canonicalize(uri)
        if resource.bucket is None or resource.key is None:
            continue
        versions = []
        assert access is not None
        for version in access.preserved_versions(resource.bucket, resource.key):
            chain = table.custody_chain(object_id(resource.bucket, resource.key, version))
            events = [_plain(event, _CUSTODY_FIELDS) | _detail(event) for event in chain]
            state = quarantine_state([event["step"] for event in events])
            versions.append({"versionId": version, "state": state, "custody": events})
        listed.append({"uri": uri, "versions": versions, "state": versions[-1]["state"] if versions else "pending"})
    return listed


def _filing(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """The case's CyberTipline filing as an analyst needs it: NCMEC's reportId, the step, and why it stopped."""
    if item is None:
        return None
    state = json.loads(item["state"]["S"])
    files = state.get("files", [])
    return {
        "stage": state["stage"],
        "reportId": state.get("reportId"),
        "startedAt": state.get("startedAt"),
        "openedAt": state.get("openedAt"),
        "updatedAt": item.get("updatedAt", {}).get("S"),
        "files": len(files),
        "filesDescribed": sum(1 for f in files if f.get("stage") == "DESCRIBED"),
        "submissions": state.get("submissions", 0),
        "problem": state.get("problem"),
        "finished": state["stage"] == "FINISHED",
    }


def _detail(item: dict[str, Any]) -> dict[str, Any]:
    detail = item.get("detail", {}).get("M")
    return {"detail": {name: value["S"] for name, value in detail.items()}} if detail else {}


# --- claims ------------------------------------------------------------------------------------------------------


@app.post("/v1/cases/<caseId>/claim")
def claim_case(caseId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    case = _visible_case(caseId, analyst, table)
    wanted = Claim(analyst.username, now + casework.CLAIM_LEASE)
    table.take_claim(caseId, wanted, now)
    table.record_audit(_audit(analyst, AuditAction.CLAIMED, case["family"]["S"], now, case_id=caseId))
    return _json(200, {"caseId": caseId, "claimedBy": wanted.analyst, "claimUntil": utc_timestamp(wanted.until)})


@app.delete("/v1/cases/<caseId>/claim")
def end_claim(caseId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    case = _visible_case(caseId, analyst, table)
    table.end_claim(caseId, analyst.username, now)
    table.record_audit(_audit(analyst, AuditAction.CLAIM_ENDED, case["family"]["S"], now, case_id=caseId))
    return _json(200, {"caseId": caseId, "claimedBy": None})


# --- decisions ---------------------------------------------------------------------------------------------------


@app.post("/v1/cases/<caseId>/decisions")
def decide_case(caseId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    request = casework.parsed(DecisionRequest, app.current_event.body)
    case = _visible_case(caseId, analyst, table)
    family, category = case["family"]["S"], case["category"]["S"]
    claim_item = (
        Claim(case["claimedBy"]["S"], datetime.fromisoformat(case["claimUntil"]["S"]))
        if "claimedBy" in case and "claimUntil" in case
        else None
    )
    decision = casework.decide(caseId, request, analyst.username, claim_item, now, _new_id(now))
    statement = _statement_of_reasons(decision, case)
    audit = _audit(
        analyst,
        AuditAction.DECIDED,
        family,
        now,
        case_id=caseId,
        detail={"decisionId": decision.decision_id, "reasonCode": str(decision.reason_code)},
    )
    table.record_decision(decision, family, category, statement, audit)
    logger.info("case decided", extra={"case_id": caseId, "reason": str(decision.reason_code)})
    metrics.add_metric(name="CasesDecided", unit=MetricUnit.Count, value=1)
    return _json(
        201,
        {
            "decisionId": decision.decision_id,
            "caseId": caseId,
            "reasonCode": str(decision.reason_code),
            "action": str(decision.action),
            "decidedAt": utc_timestamp(now),
            "statementOfReasons": statement is not None,
        },
    )


def _statement_of_reasons(decision: casework.Decision, case: dict[str, Any]) -> dict[str, object] | None:
    from shared.domain import statements  # only decisions need the DSA vocabulary

    if not statements.statement_required(decision):
        return None
    facts = statements.CaseFacts(
        category=case["category"]["S"],
        types=frozenset(case.get("types", {}).get("SS", [])),
        first_incident=case.get("firstIncident", {}).get("S"),
        first_seen=case.get("firstSeen", {}).get("S"),
        trusted_flagger=False,
        notified=True,
        content_types=frozenset(),
    )
    return statements.statement_of_reasons(decision, facts)


# --- evidence ----------------------------------------------------------------------------------------------------


def _payload(evidence_id: str, table: CaseworkTable) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The payload's key, its custody chain and the reports that sent it (NoSuchEvidence when there is none)."""
    key = casework.payload_key_of(evidence_id)
    chain = payload_chain_or_404(table.custody_chain(key))
    report_ids = {item["reportId"]["S"] for item in chain if item.get("step", {}).get("S") == "received"}
    digests = [key_digest_of(report_id) for report_id in sorted(report_ids)]
    reports = table.reports([digest.hex() for digest in digests if digest is not None])
    return key, chain, reports


def _families(reports: list[dict[str, Any]]) -> set[str]:
    return {family_of(item["category"]["S"], item["type"]["S"]) for item in reports}


def _first_case(reports: list[dict[str, Any]]) -> str | None:
    cases = sorted(item["caseId"]["S"] for item in reports if "caseId" in item)
    return cases[0] if cases else None


@app.post("/v1/evidence/<evidenceId>/views")
def view_evidence(evidenceId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    request = casework.parsed(ViewRequest, app.current_event.body)
    key, chain, reports = _payload(evidenceId, table)
    families = _families(reports)
    if not casework.may_view_evidence(families, analyst.groups):
        raise NotPermitted("this evidence is for the child-safety group only")
    family = CHILD_SAFETY_FAMILY if CHILD_SAFETY_FAMILY in families else next(iter(families))
    received = next(item for item in chain if item["step"]["S"] == "received")
    view_id = _new_id(now)
    event: dict[str, Any] = {
        "PK": {"S": CUSTODY_PK_PREFIX + key},
        "SK": {"S": f"EVENT#viewed#{view_id}"},
        "entity": {"S": "custody"},
        "step": {"S": "viewed"},
        "at": {"S": utc_timestamp(now)},
        "by": {"S": analyst.username},
        "evidenceKey": {"S": key},
        **{name: received[name] for name in ("sha256", "md5", "size") if name in received},
        "detail": {"M": {"purpose": {"S": request.purpose}}},
        # US v. Wilson: from now on a person at the provider has looked at this file; the CyberTipline report says so.
        "viewedByHuman": {"BOOL": True},
    }
    audit = _audit(
        analyst, AuditAction.VIEWED_EVIDENCE, family, now, case_id=_first_case(reports), evidence_id=evidenceId
    )
    table.record_custody_and_audit(event, audit)
    url = EvidenceAccess(_evidence_bucket()).view_url(key, casework.VIEW_URL_SECONDS)
    logger.info("evidence viewed", extra={"evidence_id": evidenceId})
    return _json(201, {"evidenceId": evidenceId, "viewId": view_id, "url": url, "expiresIn": casework.VIEW_URL_SECONDS})


@app.post("/v1/evidence/<evidenceId>/destruction")
def destroy_evidence(evidenceId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    if not casework.may_destroy_evidence(analyst.groups):
        raise NotPermitted("destroying evidence is for the evidence-custodians group only")
    request = casework.parsed(DestructionRequest, app.current_event.body)
    key, chain, reports = _payload(evidenceId, table)
    role = settings().custodian_role_arn
    if not role:
        raise NotPermitted("this deployment has no evidence custodian role: nobody may destroy evidence")
    received = next(item for item in chain if item["step"]["S"] == "received")
    deleted = EvidenceAccess(_evidence_bucket()).destroy(key, custodian_s3(role, analyst.username))
    families = _families(reports)
    family = CHILD_SAFETY_FAMILY if CHILD_SAFETY_FAMILY in families else next(iter(families), "general")
    event: dict[str, Any] = {
        "PK": {"S": CUSTODY_PK_PREFIX + key},
        "SK": {"S": "EVENT#destroyed"},
        "entity": {"S": "custody"},
        "step": {"S": "destroyed"},
        "at": {"S": utc_timestamp(now)},
        "by": {"S": analyst.username},
        "evidenceKey": {"S": key},
        **{name: received[name] for name in ("sha256", "md5", "size") if name in received},
        "detail": {"M": {"legalRequestReference": {"S": request.legal_request_reference}}},
        "viewedByHuman": {"BOOL": False},
    }
    audit = _audit(
        analyst,
        AuditAction.DESTROYED_EVIDENCE,
        family,
        now,
        case_id=_first_case(reports),
        evidence_id=evidenceId,
        detail={"legalRequestReference": request.legal_request_reference, "versionsDeleted": str(deleted)},
    )
    already = any(item["step"]["S"] == "destroyed" for item in chain)
    if not already:
        table.record_custody_and_audit(event, audit)
    logger.info("evidence destroyed", extra={"evidence_id": evidenceId, "versions": deleted})
    return _json(
        200 if already else 201,
        {
            "evidenceId": evidenceId,
            "versionsDeleted": deleted,
            "sha256": received.get("sha256", {}).get("S"),
            "md5": received.get("md5", {}).get("S"),
        },
    )


def _evidence_bucket() -> str:
    (bucket,) = settings().required("evidence_bucket")
    return bucket


# --- reporters who abuse the channel (DSA Art. 23) ----------------------------------------------------------------

_REPORTER_ID = re.compile(r"^[0-9a-f]{16}$")


@app.post("/v1/reporters/<reporterId>/suspension")
def suspend_reporter(reporterId: str) -> Response[str]:  # noqa: N803
    analyst, table, now = _analyst(), _table(), _now()
    if not casework.audiences_for(analyst.groups):
        raise NotPermitted("no analyst group")
    request = casework.parsed(casework.SuspensionRequest, app.current_event.body)
    if not _REPORTER_ID.match(reporterId):
        raise casework.NotFlagged("no such reporter is flagged")
    record = table.track_records([reporterId])[reporterId]
    if not record.flagged(settings().reporter_abuse_share, settings().reporter_abuse_min_decided):
        raise casework.NotFlagged("this reporter's decided reports do not show a pattern of unfounded notices")
    audit = _audit(
        analyst,
        AuditAction.SUSPENDED_REPORTER,
        "general",
        now,
        detail={"reporterId": reporterId, "reason": request.reason},
    )
    table.suspend_reporter(reporterId, request.reason, audit)
    logger.info("reporter suspended", extra={"reporter_id": reporterId})
    return _json(201, {**record.as_json(settings().reporter_abuse_share), "suspended": True})


# --- the audit log -----------------------------------------------------------------------------------------------


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    caseId: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")  # noqa: N815
    actor: str | None = Field(default=None, min_length=1, max_length=128)
    evidenceId: str | None = Field(default=None, max_length=80)  # noqa: N815
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    nextToken: str | None = Field(default=None, max_length=512)  # noqa: N815


@app.get("/v1/audit")
def audit_log() -> Response[str]:
    analyst, table = _analyst(), _table()
    query = casework.parsed(AuditQuery, dict(app.current_event.query_string_parameters or {}))
    subjects = [
        f"{kind}#{value}"
        for kind, value in (("CASE", query.caseId), ("ACTOR", query.actor), ("EVIDENCE", query.evidenceId))
        if value
    ]
    if len(subjects) != 1:
        raise casework.InvalidCaseworkRequest(
            "name one of caseId, actor or evidenceId",
            [casework.UnmetRequirement("", "rule.audit.subject", "exactly one of caseId, actor, evidenceId")],
        )
    if query.caseId:
        _visible_case(query.caseId, analyst, table)
    entries, token = table.audit_log(subjects[0], query.limit, query.nextToken)
    visible = [
        entry
        for entry in entries
        if casework.may_see(
            CHILD_SAFETY_FAMILY if entry.pop("audience", None) == casework.CHILD_SAFETY_AUDIENCE else "general",
            analyst.groups,
        )
    ]
    return _json(200, {"entries": visible, "nextToken": token})


# --- errors ------------------------------------------------------------------------------------------------------


@app.exception_handler(DomainError)
def refuse(error: DomainError) -> Response[str]:
    logger.info("request refused", extra={"status": error.status, "code": error.code})
    return _json(error.status, Refusal.of(error).as_json())


@app.exception_handler(StoreUnavailable)
def unavailable(error: StoreUnavailable) -> Response[str]:
    logger.warning("store unavailable", extra={"reason": str(error)})
    return Response(
        error.status,
        "application/json",
        json.dumps({"message": "Try again shortly."}),
        headers={**API_SECURITY_HEADERS, "Retry-After": str(error.retry_after_seconds)},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
