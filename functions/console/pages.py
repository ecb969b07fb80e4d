"""The console's pages, rendered from functions/console/templates/, and the answers that carry them.

As the web form's (functions/webform/pages.py): Jinja2 with autoescaping on and StrictUndefined, no template marks a
value from the API or the request as safe, no inline script or style, the form's security headers on every answer and
assets under content-hashed URLs. The one difference is the evidence page: its image comes from the presigned S3 URL
the casework API just issued (60 s), so that page's img-src names that URL's origin, and no other page's does.
Nothing of the evidence is in any page until a person asks for it with a purpose, and no reporter's contact details
are in any page but the one answering an explicit request to reveal them (which the casework API audits).

What the case page derives from the API's answer, and nothing else: each object's quarantine state (the latest
state-changing custody step) and one timeline of custody events and decisions in time order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from functions.static_assets import StaticAssets
from shared.domain import webform
from shared.domain.casework import Action
from shared.domain.policy import Severity
from shared.domain.reports import ReasonCode
from shared.domain.xarf_vocabulary import CATEGORIES

SERVICE_NAME = "Casework console"
HTML = "text/html; charset=utf-8"
HERE = Path(__file__).resolve().parent

ASSET_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
STATIC = StaticAssets(HERE / "assets", ASSET_TYPES, "/console/assets")
ASSETS, ASSET_VERSIONS = STATIC.content, STATIC.versions

REASONS = {
    ReasonCode.ACTIONED: "Actioned: the content breaks the rules or the law",
    ReasonCode.REVIEWED_NO_AWS_ACTION: "Reviewed, no action",
    ReasonCode.CONTENT_DOWN_OR_INACCESSIBLE: "Content already down or not reachable",
    ReasonCode.NOT_RESOLVABLE_TO_AWS: "Not hosted with us",
    ReasonCode.NEED_MORE_INFORMATION: "Need more information",
}
ACTIONS = {
    Action.NONE: "No change to the objects",
    Action.RESTRICT: "Restrict: keep or put every quarantined object of the case under restriction",
    Action.RELEASE: "Release: lift the restriction on every quarantined object of the case",
}
SEVERITIES = tuple(str(s) for s in Severity)
STATUSES = ("OPEN", "DECIDED", "ALL")
# The casework API filters on the XARF category a case was reported under (GET /v1/cases?category=).
CATEGORY_NAMES = tuple(CATEGORIES)

# A custody step that changes what state an object is in, and the state it leaves it in. `received` (the intake
# stored a payload a reporter sent, under retention) and `held` (a hold re-applied for a later report) only say a
# held copy exists, so they never undo a restriction or a release: they set the state only when there is none yet.
# `verified` and `viewed` change nothing about where the object stands.
STATE_OF_STEP = {
    "preserved": "preserved",
    "restricted": "restricted",
    "released": "released",
    "destroyed": "destroyed",
    "absent": "absent",
}
COPY_HELD_STEPS = frozenset({"received", "held"})
STATES = {
    "preserved": ("Preserved", "a held copy is in the evidence bucket; the source is untouched"),
    "restricted": ("Restricted", "the source is quarantined; a held copy is kept"),
    "released": ("Released", "the restriction is lifted; the held copy stays"),
    "destroyed": ("Destroyed", "deleted on a legal request; the hashes are kept"),
    "absent": ("Nothing to preserve", "the object did not exist when it was reported"),
    None: ("No custody events", "nothing is recorded for this object on this case"),
}
STEP_WORDS = {
    "received": "Received with a report",
    "preserved": "Preserved",
    "held": "Hold applied",
    "verified": "Copy verified",
    "restricted": "Restricted",
    "released": "Released",
    "destroyed": "Destroyed",
    "absent": "Nothing to preserve",
    "viewed": "Viewed",
}


def asset_url(base: str, name: str) -> str:
    return STATIC.url(base, name)


def readable_time(value: Any) -> str:
    return webform.readable_time(str(value)) if value else ""


def readable_moment(value: Any) -> str:
    """A timeline's time, to the second: events of one case often fall in the same minute."""
    text = str(value or "")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 else readable_time(text)


def epoch_time(value: Any) -> str:
    """A DynamoDB TTL (epoch seconds) as a readable UTC date: when a reporter's contact details are deleted."""
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def parsed_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def overdue(case: Mapping[str, Any], now: datetime | None = None) -> bool:
    due = parsed_time(case.get("dueAt")) if case.get("dueAt") else None
    return case.get("status") == "OPEN" and due is not None and due < (now or datetime.now(UTC))


def late_by(case: Mapping[str, Any], now: datetime | None = None) -> str:
    """How long past its due time an open case is, in words ("" when it is not): said, not only coloured."""
    now = now or datetime.now(UTC)
    due = parsed_time(case.get("dueAt")) if case.get("dueAt") else None
    if not overdue(case, now) or due is None:
        return ""
    late = now - due
    if late < timedelta(minutes=1):
        return "less than a minute"
    if late < timedelta(hours=1):
        return f"{int(late.total_seconds() // 60)} min"
    if late < timedelta(days=2):
        return f"{int(late.total_seconds() // 3600)} h"
    return f"{late.days} days"


def claim_holder(case: Mapping[str, Any], now: datetime | None = None) -> str:
    """Who holds the case's claim now ("" when nobody does: never claimed, released, or the lease ran out).

    The queue's rows carry `claimedBy` but not `claimUntil`, so there a claim that may have lapsed still names its
    holder; the case page has both and can tell."""
    holder = str(case.get("claimedBy") or "")
    if not holder or not case.get("claimUntil"):
        return holder
    until = parsed_time(case.get("claimUntil"))
    return holder if until is not None and until > (now or datetime.now(UTC)) else ""


def text_of(value: Any) -> str:
    """A resource or extension value as one line of text (the template escapes it)."""
    if isinstance(value, Mapping):
        for name in ("canonical", "value", "url", "uri"):
            if value.get(name):
                return str(value[name])
        return ", ".join(f"{k}: {text_of(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(text_of(item) for item in value)
    return "" if value is None else str(value)


TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)
TEMPLATES.globals.update(asset_url=asset_url, service=SERVICE_NAME, late_by=late_by, claim_holder=claim_holder)
TEMPLATES.filters.update(
    readable_time=readable_time, readable_moment=readable_moment, epoch_time=epoch_time, text_of=text_of
)


# ---------------------------------------------------------------------------------------------------------------
# What the case page derives
# ---------------------------------------------------------------------------------------------------------------


EARLIEST = datetime.min.replace(tzinfo=UTC)


def _when(value: Any) -> datetime:
    # An event without a readable time goes first rather than vanish; sorted() is stable, so the API's order breaks
    # ties between events of the same millisecond.
    return parsed_time(value) or EARLIEST


def quarantine_state(chain: Sequence[Mapping[str, Any]]) -> tuple[str | None, Mapping[str, Any] | None]:
    """The object's state after its custody chain (the latest state-changing step wins) and the event that set it."""
    state: str | None = None
    setter: Mapping[str, Any] | None = None
    for event in sorted(chain, key=lambda event: _when(event.get("at"))):
        step = str(event.get("step") or "")
        if step in STATE_OF_STEP:
            state, setter = STATE_OF_STEP[step], event
        elif step in COPY_HELD_STEPS and state in (None, "absent"):
            state, setter = "preserved", event
    return state, setter


@dataclass(frozen=True)
class ObjectState:
    """One row of the case page's quarantine table."""

    kind: str  # "evidence" (a payload a reporter sent) or "object" (a protected object the case names)
    name: str  # the object's URI, or the evidence's content type
    sha256: str
    state: str | None
    label: str
    explanation: str
    since: str
    by: str


def object_states(
    case_item: Mapping[str, Any], reports: Sequence[Mapping[str, Any]], custody: Mapping[str, Any]
) -> list[ObjectState]:
    """Every evidence item of the listed reports, then every protected object of the case, with its state.

    The chains are keyed by evidence id, and a protected object's by its URI (`case` merges the API's `objects` in);
    an object with no chain reads "No custody events", never a guess.
    """
    rows: list[ObjectState] = []
    seen: set[str] = set()

    def row(kind: str, key: str, name: str, sha256: str) -> ObjectState:
        chain = custody.get(key) or []
        state, setter = quarantine_state(chain if isinstance(chain, list) else [])
        label, explanation = STATES.get(state, STATES[None])
        return ObjectState(
            kind=kind,
            name=name,
            sha256=sha256 or str((setter or {}).get("sha256") or ""),
            state=state,
            label=label,
            explanation=explanation,
            since=str((setter or {}).get("at") or ""),
            by=str((setter or {}).get("by") or ""),
        )

    for report in reports:
        for item in report.get("evidence") or []:
            evidence_id = str(item.get("evidenceId") or "")
            if evidence_id and evidence_id not in seen:
                seen.add(evidence_id)
                name = str(item.get("contentType") or "evidence of unknown type")
                rows.append(row("evidence", evidence_id, name, str(item.get("sha256") or "")))
    for uri in sorted(str(obj) for obj in case_item.get("objects") or []):
        rows.append(row("object", uri, uri, ""))
    return rows


@dataclass(frozen=True)
class Moment:
    """One entry of the case's timeline: a custody event or a decision."""

    at: str
    kind: str  # "custody" or "decision"
    title: str
    subject: str  # what the custody event is about ("" for a decision: it is about the whole case)
    by: str
    detail: str  # a view's purpose, a destruction's legal request, a decision's action
    statement: str  # a decision's statement of reasons; its internal note stays off the timeline, as off every page


def timeline(
    reports: Sequence[Mapping[str, Any]], decisions: Sequence[Mapping[str, Any]], custody: Mapping[str, Any]
) -> list[Moment]:
    """Custody events of every listed evidence item and the case's decisions, merged, oldest first."""
    subjects = {
        str(
            item.get("evidenceId")
        ): f"{item.get('contentType') or 'evidence'}, sha256 {str(item.get('sha256') or '')[:12]}"
        for report in reports
        for item in report.get("evidence") or []
        if item.get("evidenceId")
    }
    entries: list[Moment] = []
    for key, chain in custody.items():
        for event in chain if isinstance(chain, list) else []:
            step = str(event.get("step") or "")
            detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
            said = ""
            if detail.get("purpose"):
                said = f"Purpose: {detail['purpose']}"
            elif detail.get("legalRequestReference"):
                said = f"Legal request: {detail['legalRequestReference']}"
            entries.append(
                Moment(
                    at=str(event.get("at") or ""),
                    kind="custody",
                    title=STEP_WORDS.get(step, step.capitalize() or "Custody event"),
                    subject=subjects.get(str(key), str(key)),
                    by=str(event.get("by") or ""),
                    detail=said,
                    statement="",
                )
            )
    for decision in decisions:
        action = str(decision.get("action") or "")
        entries.append(
            Moment(
                at=str(decision.get("decidedAt") or ""),
                kind="decision",
                title=f"Decision: {decision.get('reasonCode') or ''}",
                subject="",
                by=str(decision.get("analyst") or ""),
                detail=f"Action: {action}" if action else "",
                statement=str(decision.get("statement") or ""),
            )
        )
    return sorted(entries, key=lambda moment: _when(moment.at))


def render(template: str, *, base: str, person: Any = None, csrf: str = "", **values: Any) -> str:
    return TEMPLATES.get_template(template).render(base=base, person=person, csrf=csrf, **values)


def sign_in(*, base: str, notice: str | None = None, error: str | None = None, username: str = "") -> str:
    return render("sign_in.html", base=base, notice=notice, error=error, username=username)


def queue(
    answer: Mapping[str, Any],
    *,
    base: str,
    person: Any,
    csrf: str,
    filters: Mapping[str, str],
    audiences: Sequence[str],
    later_page: bool = False,
) -> str:
    return render(
        "queue.html",
        base=base,
        person=person,
        csrf=csrf,
        cases=answer.get("cases") or [],
        audience=answer.get("audience") or "",
        next_token=answer.get("nextToken") or "",
        filters=filters,
        severities=SEVERITIES,
        statuses=STATUSES,
        categories=CATEGORY_NAMES,
        audiences=audiences,
        later_page=later_page,
    )


def case(
    answer: Mapping[str, Any],
    *,
    base: str,
    person: Any,
    csrf: str,
    notice: str | None = None,
    error: str | None = None,
    decision: Mapping[str, str] | None = None,
    contacts_revealed: bool = False,
) -> str:
    """The case page. Contact details are rendered only with `contacts_revealed`, the answer to a person's explicit
    request: whatever else an answer carries, no other page of the case shows them."""
    case_item = answer.get("case") or {}
    reports = answer.get("reports") or []
    decisions = answer.get("decisions") or []
    # The API keys payload chains by evidence id and lists each protected object with its versions' chains; the
    # page reads both as one mapping, an object by its URI (its latest preserved version's chain).
    custody = dict(answer.get("custody") or {}) | {
        str(entry["uri"]): list(entry["versions"][-1]["custody"]) if entry.get("versions") else []
        for entry in answer.get("objects") or []
    }
    return render(
        "case.html",
        base=base,
        person=person,
        csrf=csrf,
        case=case_item,
        reports=reports,
        states=object_states(case_item, reports, custody),
        moments=timeline(reports, decisions, custody),
        holder=claim_holder(case_item),
        reasons=REASONS,
        actions=ACTIONS,
        notice=notice,
        error=error,
        decision=decision or {},
        contacts_revealed=contacts_revealed,
    )


def confirm(answer: Mapping[str, Any], decision: Mapping[str, str], *, base: str, person: Any, csrf: str) -> str:
    case_item = answer.get("case") or {}
    return render(
        "confirm.html",
        base=base,
        person=person,
        csrf=csrf,
        case=case_item,
        decision=decision,
        reason_label=REASONS.get(ReasonCode(decision["reason_code"]), decision["reason_code"]),
        action_label=ACTIONS.get(Action(decision["action"]), decision["action"]),
        objects=sorted(case_item.get("objects") or []),
    )


def evidence(
    *, base: str, person: Any, csrf: str, view: Mapping[str, Any], item: Mapping[str, str], text: str | None
) -> str:
    return render("evidence.html", base=base, person=person, csrf=csrf, view=view, item=item, text=text)


def problem(title: str, message: str, *, base: str, person: Any = None, back: str | None = None) -> str:
    return render("problem.html", base=base, person=person, title=title, message=message, back=back)


# ---------------------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------------------


def headers_with_image_origin(image_url: str | None) -> dict[str, str]:
    headers = {**webform.SECURITY_HEADERS, "Cache-Control": "no-store"}
    if image_url:
        parts = urlsplit(image_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "img-src 'self'", f"img-src 'self' {origin}"
        )
    return headers


def page(status: int, body: str, *, image_url: str | None = None) -> Response[str]:
    # Never cached: every page shows casework data for one person.
    return Response(status_code=status, content_type=HTML, body=body, headers=headers_with_image_origin(image_url))


def redirect(location: str, *, cookie: str | None = None) -> Response[str]:
    # 303: after a POST the browser follows with a GET, so a reload never repeats a claim or a decision. The one
    # cookie is the session's (functions/console/session.py builds it with all its attributes).
    headers = {**webform.SECURITY_HEADERS, "Cache-Control": "no-store", "Location": location}
    if cookie:
        headers["Set-Cookie"] = cookie
    return Response(status_code=303, content_type=HTML, body="", headers=headers)


def asset(name: str, *, base: str) -> Response[str]:
    found = STATIC.response(name, webform.SECURITY_HEADERS)
    return found or page(404, problem("Page not found", "There is nothing at this address.", base=base))
