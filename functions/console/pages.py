"""The console's pages, rendered from functions/console/templates/, and the answers that carry them.

As the web form's (functions/webform/pages.py): Jinja2 with autoescaping on and StrictUndefined, no template marks a
value from the API or the request as safe, no inline script or style, the form's security headers on every answer and
assets under content-hashed URLs. The one difference is the evidence page: its image comes from the presigned S3 URL
the casework API just issued (60 s), so that page's img-src names that URL's origin, and no other page's does.
Nothing of the evidence is in any page until a person asks for it with a purpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.domain import webform
from shared.domain.casework import Action
from shared.domain.policy import Severity
from shared.domain.reports import ReasonCode

SERVICE_NAME = "Casework console"
HTML = "text/html; charset=utf-8"
HERE = Path(__file__).resolve().parent

ASSET_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
ASSETS: Mapping[str, bytes] = {name: (HERE / "assets" / name).read_bytes() for name in ASSET_TYPES}
ASSET_VERSIONS = {name: hashlib.sha256(content).hexdigest()[:12] for name, content in ASSETS.items()}

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


def asset_url(base: str, name: str) -> str:
    return f"{base}/console/assets/{name}?v={ASSET_VERSIONS[name]}"


def readable_time(value: Any) -> str:
    return webform.readable_time(str(value)) if value else ""


def overdue(case: Mapping[str, Any], now: datetime | None = None) -> bool:
    due = case.get("dueAt")
    if not due or case.get("status") != "OPEN":
        return False
    try:
        return datetime.fromisoformat(str(due).replace("Z", "+00:00")) < (now or datetime.now(UTC))
    except ValueError:
        return False


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
TEMPLATES.globals.update(asset_url=asset_url, service=SERVICE_NAME, overdue=overdue)
TEMPLATES.filters.update(readable_time=readable_time, text_of=text_of)


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
        audiences=audiences,
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
) -> str:
    return render(
        "case.html",
        base=base,
        person=person,
        csrf=csrf,
        case=answer.get("case") or {},
        reports=answer.get("reports") or [],
        decisions=answer.get("decisions") or [],
        custody=answer.get("custody") or {},
        reasons=REASONS,
        actions=ACTIONS,
        notice=notice,
        error=error,
        decision=decision or {},
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
    content = ASSETS.get(name)
    if content is None:
        return page(404, problem("Page not found", "There is nothing at this address.", base=base))
    headers = {**webform.SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return Response(status_code=200, content_type=ASSET_TYPES[name], body=content.decode("utf-8"), headers=headers)
