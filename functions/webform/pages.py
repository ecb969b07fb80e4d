"""The web form's pages, rendered from functions/webform/templates/, and the answers that carry them.

Every value goes into a page through Jinja2 with autoescaping on (markupsafe escapes text and quoted attributes
alike), and no template marks a request's or the store's value as safe; there is no inline script or style (the
Content-Security-Policy forbids both). That is the whole XSS story.

The markup follows the GOV.UK Design System's patterns, which were tested with people who use assistive technology:
one h1, a label for every control, radios in a fieldset with a legend, "(optional)" on optional fields instead of
asterisks on required ones, each error message between a field's hint and its control (referenced by
aria-describedby, with aria-invalid on the control), and an error summary at the top that takes focus and links to
each field. Browser validation is off (novalidate): its bubbles vanish, are not announced consistently and would
stop a person before the server could keep what they typed and explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from functions.static_assets import StaticAssets
from shared.domain import webform
from shared.domain.errors import DomainError, UnmetRequirement
from shared.domain.intake import Receipt, StatusView
from shared.domain.webform import ReportForm, StatusForm

SERVICE_NAME = "Report abuse"
HTML = "text/html; charset=utf-8"
HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------------------------
# Static assets: served by the function, named with their content hash so they can be cached for a year.
# ---------------------------------------------------------------------------------------------------------------

ASSET_TYPES = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    # Named in every page, so browsers do not ask for /favicon.ico, a route the API does not have.
    "favicon.svg": "image/svg+xml",
}
STATIC = StaticAssets(HERE / "assets", ASSET_TYPES, "/assets")
ASSETS, ASSET_VERSIONS = STATIC.content, STATIC.versions


def asset_url(base: str, name: str) -> str:
    return STATIC.url(base, name)


# Built once per container; each template is compiled on first use and kept (templates do not change in a deployed
# function, hence no reload checks). StrictUndefined: a name a template expects and is not given fails loudly.
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)
TEMPLATES.globals.update(asset_url=asset_url, service=SERVICE_NAME)
TEMPLATES.filters.update(thousands="{:,}".format, readable_time=webform.readable_time)


def render(template: str, *, base: str, errors: Mapping[str, str] | None = None, **values: Any) -> str:
    return TEMPLATES.get_template(template).render(base=base, errors=errors or {}, **values)


# ---------------------------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------------------------


def report_form(
    form: ReportForm, *, base: str, problems: Sequence[UnmetRequirement] = (), notice: str | None = None
) -> str:
    errors = webform.errors_by_field(problems)
    if notice:
        errors = {"": notice, **errors}
    return render(
        "report_form.html",
        base=base,
        errors=errors,
        form=form,
        choices=webform.CHOICES,
        max_explanation=webform.MAX_EXPLANATION_CHARS,
    )


def confirmation(receipt: Receipt, form: ReportForm, *, base: str) -> str:
    child_safety = form.choice is not None and form.choice.child_safety
    return render(
        "confirmation.html", base=base, receipt=receipt, token=receipt.receipt_token or "", child_safety=child_safety
    )


def status_form(form: StatusForm, *, base: str, problems: Sequence[UnmetRequirement] = ()) -> str:
    return render("status_form.html", base=base, errors=webform.errors_by_field(problems), form=form)


def status_result(view: StatusView, receipt_token: str, *, base: str) -> str:
    status, decision = webform.wording(view)
    return render(
        "status_result.html",
        base=base,
        view=view,
        status=status,
        decision=decision,
        redress=webform.REDRESS,
        receipt_token=receipt_token,
    )


def problem_page(title: str, message: str, *, base: str) -> str:
    return render("problem.html", base=base, title=title, message=message)


def not_found(*, base: str) -> str:
    return problem_page(*webform.NOT_FOUND_PAGE, base=base)


def refusal(error: DomainError, form: ReportForm | StatusForm | None, *, base: str) -> str:
    """The page for a refused request: the form it sent, shown again with what was typed and each problem next to
    its field (or the notice the refusal calls for); a plain page when the request was not one our form sends."""
    if isinstance(form, ReportForm):
        notice = webform.NOTICES.get(error.code)
        problems = () if notice else error.requirements
        return report_form(form.after_refusal(error.code), base=base, problems=problems, notice=notice)
    if isinstance(form, StatusForm):
        return status_form(form, base=base, problems=error.requirements)
    title = webform.PROBLEM_TITLES.get(error.code, "Sorry, we could not use this request")
    return problem_page(title, error.message, base=base)


def unavailable(form: ReportForm | StatusForm | None, *, base: str) -> str:
    """The store did not answer: nothing was stored, and the form keeps its nonce, so sending again is safe."""
    if isinstance(form, ReportForm):
        return report_form(form.for_display(), base=base, notice=webform.UNAVAILABLE)
    return problem_page(*webform.UNAVAILABLE_PAGE, base=base)


# ---------------------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------------------


def page(status: int, body: str, headers: Mapping[str, str] | None = None) -> Response[str]:
    # Never cached: each form carries its own nonce (a cached page would hand two people one clientToken), and the
    # other pages show receipt tokens.
    headers = {**webform.SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
    return Response(status_code=status, content_type=HTML, body=body, headers=headers)


def asset(name: str, *, base: str) -> Response[str]:
    return STATIC.response(name, webform.SECURITY_HEADERS) or page(404, not_found(base=base))
