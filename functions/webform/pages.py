"""The web form's HTML: the report form, the confirmation, the status page and the error pages.

Every value that came from a request or from storage goes through `html()`, which escapes it (html.escape with
quotes, so it is safe in text and in quoted attributes) unless it is already `Html` that this module built. That is
the whole XSS story: there is no other way to put a value into a page, and no inline script or style (the
Content-Security-Policy forbids both), so nothing here is ever interpreted as code.

The markup follows the GOV.UK Design System's patterns, which were tested with people who use assistive technology:
one h1, a label for every control, radios in a fieldset with a legend, "(optional)" on optional fields instead of
asterisks on required ones, each error message between a field's hint and its control (referenced by
aria-describedby, with aria-invalid on the control), and an error summary at the top that takes focus and links to
each field. Browser validation is off (novalidate): its bubbles vanish, are not announced consistently and would
stop a person before the server could keep what they typed and explain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

from shared.domain import webform
from shared.domain.errors import UnmetRequirement
from shared.domain.intake import Receipt, StatusView
from shared.domain.webform import MAX_EXPLANATION_CHARS, ReportForm, StatusForm

SERVICE_NAME = "Report abuse"


class Html(str):
    """Markup this module made: inserted into a page as it is. Anything else is escaped first."""


EMPTY = Html("")


def html(template: str, **values: object) -> Html:
    """`template` with each {name} replaced by its value, escaped unless it is Html (Django's format_html idea)."""
    return Html(template.format(**{k: v if isinstance(v, Html) else escape(str(v)) for k, v in values.items()}))


def join(parts: Iterable[Html]) -> Html:
    return Html("".join(parts))


# ---------------------------------------------------------------------------------------------------------------
# Static assets: served by the function, named with their content hash so they can be cached for a year.
# ---------------------------------------------------------------------------------------------------------------

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
ASSET_TYPES = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    # Named in every page, so browsers do not ask for /favicon.ico, a route the API does not have.
    "favicon.svg": "image/svg+xml",
}
ASSETS: Mapping[str, bytes] = {name: (ASSETS_DIR / name).read_bytes() for name in ASSET_TYPES}
ASSET_VERSIONS = {name: hashlib.sha256(content).hexdigest()[:12] for name, content in ASSETS.items()}


def asset_url(base: str, name: str) -> str:
    return f"{base}/assets/{name}?v={ASSET_VERSIONS[name]}"


# ---------------------------------------------------------------------------------------------------------------
# Layout and form parts
# ---------------------------------------------------------------------------------------------------------------


def layout(title: str, main: Html, *, base: str, has_errors: bool = False) -> str:
    # "Error: " first in the title is the first thing a screen reader announces after a refused submission.
    full_title = ("Error: " if has_errors else "") + (title if title == SERVICE_NAME else f"{title} - {SERVICE_NAME}")
    return html(
        """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="icon" href="{icon}" type="image/svg+xml">
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="header">
<div class="wrap header__inner">
<a class="header__name" href="{base}/">{service}</a>
<a class="header__link" href="{base}/status">Check a report</a>
</div>
</header>
<main class="wrap main" id="main" tabindex="-1">
{main}
</main>
<footer class="footer">
<div class="wrap">
<p>If someone is in immediate danger, call your local emergency number now.</p>
</div>
</footer>
</body>
</html>
""",
        title=full_title,
        icon=asset_url(base, "favicon.svg"),
        css=asset_url(base, "app.css"),
        js=asset_url(base, "app.js"),
        base=base,
        service=SERVICE_NAME,
        main=main,
    )


def errors_by_field(problems: Sequence[UnmetRequirement]) -> dict[str, str]:
    """Field name -> its first message ("" for the form as a whole): one message per field, as GOV.UK advises."""
    found: dict[str, str] = {}
    for problem in problems:
        found.setdefault(problem.path.lstrip("/"), problem.message)
    return found


def error_summary(errors: Mapping[str, str], order: Sequence[str]) -> Html:
    if not errors:
        return EMPTY
    items = []
    for name in ["", *order]:
        if name not in errors:
            continue
        if name:
            items.append(html('<li><a href="#{name}">{message}</a></li>', name=name, message=errors[name]))
        else:
            items.append(html("<li>{message}</li>", message=errors[name]))
    # autofocus moves focus here without script, so keyboard and screen reader users start at the problems.
    return html(
        """<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus>
<h2 class="error-summary__title" id="error-summary-title">There is a problem</h2>
<ul class="error-summary__list">{items}</ul>
</div>
""",
        items=join(items),
    )


def _described_by(*ids: str | None) -> Html:
    present = " ".join(i for i in ids if i)
    return html(' aria-describedby="{ids}"', ids=present) if present else EMPTY


def _error_message(name: str, errors: Mapping[str, str]) -> Html:
    if name not in errors:
        return EMPTY
    return html(
        '<p class="error-message" id="{name}-error"><span class="visually-hidden">Error:</span> {message}</p>\n',
        name=name,
        message=errors[name],
    )


def _field_class(name: str, errors: Mapping[str, str]) -> str:
    return "field field--error" if name in errors else "field"


def _invalid(name: str, errors: Mapping[str, str]) -> Html:
    return Html(' aria-invalid="true"') if name in errors else EMPTY


def text_field(
    name: str,
    label: str,
    value: str,
    errors: Mapping[str, str],
    *,
    hint: str | None = None,
    kind: str = "text",
    attributes: str = "",
) -> Html:
    hint_id = f"{name}-hint" if hint else None
    error_id = f"{name}-error" if name in errors else None
    return html(
        """<div class="{cls}">
<label class="label" for="{name}">{label}</label>
{hint}{error}<input class="input" id="{name}" name="{name}" type="{kind}" value="{value}"{described}{invalid}{attrs}>
</div>
""",
        cls=_field_class(name, errors),
        name=name,
        label=label,
        hint=html('<p class="hint" id="{id}">{text}</p>\n', id=hint_id, text=hint) if hint else EMPTY,
        error=_error_message(name, errors),
        kind=kind,
        value=value,
        described=_described_by(hint_id, error_id),
        invalid=_invalid(name, errors),
        attrs=Html(attributes),  # constant attribute text written in this module, never a request value
    )


def textarea_field(
    name: str,
    label: str,
    value: str,
    errors: Mapping[str, str],
    *,
    hint: Html,
    rows: int,
    after_hint: Html = EMPTY,
    attributes: str = "",
) -> Html:
    described = [f"{name}-hint"]
    if after_hint:
        described.append(f"{name}-count")
    if name in errors:
        described.append(f"{name}-error")
    # The newline after <textarea> is eaten by the HTML parser, so a value that starts with one keeps it.
    return html(
        """<div class="{cls}">
<label class="label" for="{name}">{label}</label>
<p class="hint" id="{name}-hint">{hint}</p>
{error}<textarea class="textarea" id="{name}" name="{name}" rows="{rows}"{described}{invalid}{attrs}>
{value}</textarea>
{after}</div>
""",
        cls=_field_class(name, errors),
        name=name,
        label=label,
        hint=hint,
        error=_error_message(name, errors),
        rows=rows,
        described=_described_by(*described),
        invalid=_invalid(name, errors),
        attrs=Html(attributes),
        value=value,
        after=after_hint,
    )


# ---------------------------------------------------------------------------------------------------------------
# The report form
# ---------------------------------------------------------------------------------------------------------------

FORM_ORDER = ("kind", "urls", "explanation", "when", "name", "email", "good_faith")


def report_form(
    form: ReportForm, *, base: str, problems: Sequence[UnmetRequirement] = (), notice: str | None = None
) -> str:
    errors = errors_by_field(problems)
    if notice:
        errors = {"": notice, **errors}
    radios = []
    for index, choice in enumerate(webform.CHOICES):
        # The first radio has the group's id, so the error summary's link to #kind lands on the group.
        control_id = "kind" if index == 0 else f"kind-{choice.key}"
        radios.append(
            html(
                """<div class="radio">
<input class="radio__input" type="radio" id="{id}" name="kind" value="{value}"{checked}{described}>
<label class="radio__label" for="{id}">{label}</label>
<p class="hint radio__hint" id="{id}-hint">{hint}</p>
</div>
""",
                id=control_id,
                value=choice.key,
                checked=Html(" checked") if form.kind == choice.key else EMPTY,
                described=_described_by(f"{control_id}-hint"),
                label=choice.label,
                hint=choice.hint,
            )
        )
    kind = html(
        """<div class="{cls}">
<fieldset class="fieldset"{described}>
<legend class="legend">What are you reporting?</legend>
<p class="hint" id="kind-group-hint">Choose the closest match. Tell us the rest under "What happened?".</p>
{error}<div class="radios">
{radios}</div>
</fieldset>
</div>
""",
        cls=_field_class("kind", errors),
        described=_described_by("kind-group-hint", "kind-error" if "kind" in errors else None),
        error=_error_message("kind", errors),
        radios=join(radios),
    )
    urls = textarea_field(
        "urls",
        "Web addresses (URLs) or IP addresses",
        form.urls,
        errors,
        hint=html(
            "One per line, for example https://example.com/login or 203.0.113.7. "
            "For child sexual abuse material, give the address only: never download or send the material."
        ),
        rows=3,
        attributes=' spellcheck="false" autocapitalize="none" autocomplete="off"',
    )
    explanation = textarea_field(
        "explanation",
        "What happened?",
        form.explanation,
        errors,
        hint=html(
            "Explain why you think it is abusive or illegal: what it shows or does, and anything that helps us find "
            "it. Do not include the material itself."
        ),
        rows=6,
        after_hint=html(
            '<p class="hint character-count" id="explanation-count" data-max="{max}">'
            "You can enter up to {max_text} characters</p>\n",
            max=MAX_EXPLANATION_CHARS,
            max_text=f"{MAX_EXPLANATION_CHARS:,}",
        ),
    )
    when = text_field(
        "when",
        "When did you see it? (optional)",
        form.when,
        errors,
        hint="Give the date and time in UTC (Coordinated Universal Time). Leave it empty if you are not sure.",
        kind="datetime-local",
    )
    name = text_field("name", "Your name (optional)", form.name, errors, attributes=' autocomplete="name"')
    email = text_field(
        "email",
        "Your email address (optional)",
        form.email,
        errors,
        hint="We use it only to ask about this report or tell you what we decided.",
        kind="email",
        attributes=' autocomplete="email" spellcheck="false" autocapitalize="none"',
    )
    good_faith = html(
        """<div class="{cls}">
{error}<div class="checkbox">
<input class="checkbox__input" type="checkbox" id="good_faith" name="good_faith" value="yes"\
{checked}{described}{invalid}>
<label class="checkbox__label" for="good_faith">I believe in good faith that the information in this report is \
accurate and complete.</label>
</div>
</div>
""",
        cls=_field_class("good_faith", errors),
        error=_error_message("good_faith", errors),
        checked=Html(" checked") if form.good_faith else EMPTY,
        described=_described_by("good_faith-error" if "good_faith" in errors else None),
        invalid=_invalid("good_faith", errors),
    )
    main = html(
        """{summary}<h1 class="heading-xl">Report abuse</h1>
<p class="lead">Tell us about phishing, malware, child sexual abuse material or other abuse on a website or server \
that we host.</p>
<form method="post" action="{action}" novalidate data-report-form>
<input type="hidden" name="nonce" value="{nonce}">
<input type="hidden" name="tz_offset" value="{tz_offset}">
<h2 class="heading-l">The abuse</h2>
{kind}{urls}{explanation}{when}<h2 class="heading-l">About you</h2>
<p>You can report anonymously. You never have to give your name or email to report child sexual abuse material.</p>
{name}{email}<h2 class="heading-l">Declaration</h2>
{good_faith}<button class="button" type="submit">Send report</button>
</form>
""",
        summary=error_summary(errors, FORM_ORDER),
        action=f"{base}/",
        nonce=form.nonce,
        tz_offset=form.tz_offset,
        kind=kind,
        urls=urls,
        explanation=explanation,
        when=when,
        name=name,
        email=email,
        good_faith=good_faith,
    )
    return layout("Report abuse", main, base=base, has_errors=bool(errors))


# ---------------------------------------------------------------------------------------------------------------
# After sending
# ---------------------------------------------------------------------------------------------------------------


def _status_button(base: str, report_id: str, receipt_token: str, label: str) -> Html:
    # A form, not a link: the token travels in a POST body, never in a URL (history, logs, Referer).
    return html(
        """<form method="post" action="{action}" class="inline-form">
<input type="hidden" name="report_id" value="{report_id}">
<input type="hidden" name="receipt_token" value="{token}">
<button class="button button--secondary" type="submit">{label}</button>
</form>
""",
        action=f"{base}/status",
        report_id=report_id,
        token=receipt_token,
        label=label,
    )


def confirmation(receipt: Receipt, form: ReportForm, *, base: str) -> str:
    token = receipt.receipt_token or ""
    choice = form.choice
    again = (
        html('<p class="notice">You had already sent this report. Here are its details again.</p>\n')
        if receipt.duplicate
        else EMPTY
    )
    child_safety = (
        html(
            '<p class="notice">If you know that a child is in immediate danger, call your local police now. '
            "Do not keep copies of the material.</p>\n"
        )
        if choice is not None and choice.child_safety
        else EMPTY
    )
    main = html(
        """<div class="panel">
<h1 class="panel__title">Report received</h1>
<p class="panel__body">Your report reference<br><strong class="reference" id="report-id">{report_id}</strong></p>
</div>
{again}{child_safety}<h2 class="heading-l">Keep these to check on your report</h2>
<dl class="summary">
<div class="summary__row"><dt>Report reference</dt><dd><code>{report_id}</code></dd></div>
<div class="summary__row"><dt>Receipt token</dt><dd><code id="receipt-token">{token}</code></dd></div>
</dl>
<p>The receipt token works like a password for this report: with it and the reference, anyone can see the report's \
status. We do not keep a copy of it, so save or print this page now.</p>
{status_button}<p>You can also check later on the <a href="{base}/status">report status page</a>.</p>
<h2 class="heading-l">What happens next</h2>
<p>We review every report. Reports of child sexual abuse material are handled first.</p>
<p><a href="{base}/">Report something else</a></p>
""",
        report_id=receipt.report_id,
        token=token,
        again=again,
        child_safety=child_safety,
        status_button=_status_button(base, receipt.report_id, token, "Check the status of this report"),
        base=base,
    )
    return layout("Report received", main, base=base)


# ---------------------------------------------------------------------------------------------------------------
# The status page
# ---------------------------------------------------------------------------------------------------------------

STATUS_ORDER = ("report_id", "receipt_token")


def status_form(form: StatusForm, *, base: str, problems: Sequence[UnmetRequirement] = ()) -> str:
    errors = errors_by_field(problems)
    quiet = ' autocomplete="off" spellcheck="false" autocapitalize="none"'
    main = html(
        """{summary}<h1 class="heading-xl">Check a report</h1>
<p>Enter the report reference and the receipt token you were given when you sent the report.</p>
<form method="post" action="{action}" novalidate>
{report_id}{token}<button class="button" type="submit">Check status</button>
</form>
""",
        summary=error_summary(errors, STATUS_ORDER),
        action=f"{base}/status",
        report_id=text_field(
            "report_id",
            "Report reference",
            form.report_id,
            errors,
            hint="26 letters and numbers, for example 01KB2X3Y4Z5A6B7C8D9E0F1G2H",
            attributes=quiet,
        ),
        token=text_field("receipt_token", "Receipt token", form.receipt_token, errors, attributes=quiet),
    )
    return layout("Check a report", main, base=base, has_errors=bool(errors))


def status_result(view: StatusView, receipt_token: str, *, base: str) -> str:
    status, decision = webform.wording(view)
    decision_rows = (
        html(
            '<div class="summary__row"><dt>Decision</dt><dd>{decision}</dd></div>\n',
            decision=decision,
        )
        if decision
        else EMPTY
    )
    redress = html("<p>{text}</p>\n", text=webform.REDRESS) if decision else EMPTY
    main = html(
        """<h1 class="heading-xl">Report status</h1>
<dl class="summary">
<div class="summary__row"><dt>Report reference</dt><dd><code>{report_id}</code></dd></div>
<div class="summary__row"><dt>Received</dt><dd>{received}</dd></div>
<div class="summary__row"><dt>Status</dt><dd><strong class="tag" id="report-status">{title}</strong> \
{explanation}</dd></div>
{decision}</dl>
{redress}{again}<p><a href="{base}/">Report something else</a></p>
""",
        report_id=view.report_id,
        received=_readable_time(view.received_at),
        title=status.title,
        explanation=status.explanation,
        decision=decision_rows,
        redress=redress,
        again=_status_button(base, view.report_id, receipt_token, "Check again"),
        base=base,
    )
    return layout("Report status", main, base=base)


def _readable_time(iso: str) -> str:
    # "2026-11-26T10:00:00.000Z" -> "2026-11-26 10:00 UTC": unambiguous in every locale, no month names to translate.
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


# ---------------------------------------------------------------------------------------------------------------
# Errors that are not about a field
# ---------------------------------------------------------------------------------------------------------------


def problem_page(title: str, message: str, *, base: str) -> str:
    main = html(
        """<h1 class="heading-xl">{title}</h1>
<p>{message}</p>
<p><a href="{base}/">Go to the report form</a></p>
""",
        title=title,
        message=message,
        base=base,
    )
    return layout(title, main, base=base)
