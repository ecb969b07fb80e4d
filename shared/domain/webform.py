"""The public report form's domain: its fields, their rules and messages, and what a person typed -> a Report.

The form is the way in for people without an API client: anonymous allowed, on a phone, with a screen reader, with or
without JavaScript (README.md, "Web form"). It is not a XARF document, so it does not pretend to be one: it builds
the internal `Report` directly (source_format "form") and hands it to the same `shared.domain.intake.submit` as the API,
applying the same rules on the way: resources through `shared.resources` (so a URL typed here and the same URL in a
partner's XARF are one resource), text hygiene from `shared.domain.text`
(the same `screen` as the API's), the XARF category/type vocabulary, and the
incident-time window of `shared.reports`. XARF's per-type required fields do not apply: a person cannot be asked for
a DDoS report's `protocol`. What the form asks instead is what DSA Art. 16(2) makes a notice: the exact location
(one or more URLs), an explanation, a name and email that are optional (never required, and for child sexual abuse
material the law says so explicitly), and a good-faith statement, which is required for every report.

Refusals are `InvalidReport`s whose requirements point at form fields (`/urls`, `/email`, ... : the path is the
field's name, which is also its control's id) with messages written for the person who typed the value, in the order
the fields appear, so a page can show each next to its field and in a summary. A requirement with the path "" is about
the form as a whole.

Idempotency: every rendering of the form carries a fresh random nonce in a hidden field, sent as the submission's
clientToken. A double click, a reload of the answer page or a browser retry after a lost response repeats the nonce, so
intake answers with the same report and, because the receipt is derived from the clientToken (shared/domain/dedupe.py),
the same receipt token. Without it, a repeat would be a content duplicate whose random receipt cannot be shown again,
and two strangers reporting the same phishing URL in the same words would be folded into one report, the second getting
no receipt at all.

This module never imports AWS code, never renders HTML (functions/webform/templates/ do, autoescaped) and never logs
what people typed. It holds what the pages say that is not markup: the wording of notices, problems and statuses, and
the security headers every page is served with.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.domain import intake
from shared.domain.callers import ANONYMOUS
from shared.domain.errors import (
    DomainError,
    InvalidReport,
    MalformedBody,
    PayloadTooLarge,
    ReportNotFound,
    TokenConflict,
    UnmetRequirement,
    UnsupportedMediaType,
    requirement,
)
from shared.domain.reports import ReasonCode, Report, Reporter, ReportStatus, Submission
from shared.domain.resources import InvalidResource, Resource, ResourceKind, canonicalize
from shared.domain.text import forbidden_character, kind_of, screen
from shared.domain.xarf import MAX_CLOCK_SKEW, MAX_INCIDENT_AGE
from shared.domain.xarf_vocabulary import TYPES

# ---------------------------------------------------------------------------------------------------------------
# What the form offers
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One answer to "What are you reporting?": XARF's vocabulary, worded for people."""

    key: str  # the radio button's value
    label: str
    hint: str
    category: str
    type: str

    @property
    def child_safety(self) -> bool:
        return (self.category, self.type) == ("content", "csam")


# A human subset of XARF v4, in the order people are most likely to need it. There is no "Other": XARF has no such type,
# and every report must land on a row of the policy table (shared/domain/policy.py); the explanation carries what the
# closest choice does not say.
CHOICES: tuple[Choice, ...] = (
    Choice(
        "phishing",
        "Phishing",
        "A page that imitates a real site to steal passwords, payment details or other personal information.",
        "content",
        "phishing",
    ),
    Choice(
        "malware",
        "Malware",
        "A site or file that spreads viruses, ransomware or other harmful software.",
        "content",
        "malware",
    ),
    Choice(
        "csam",
        "Child sexual abuse material",
        "Images or videos of the sexual abuse of children. Never download, copy or send the material: give its web "
        "address only. You do not have to give your name or email.",
        "content",
        "csam",
    ),
    Choice(
        "fraud",
        "Fraud or scam",
        "A fake shop, an investment scam or another attempt to trick people out of money.",
        "content",
        "fraud",
    ),
    Choice(
        "spam",
        "Spam",
        "Unwanted bulk email or messages sent from, or advertising, something we host.",
        "messaging",
        "spam",
    ),
    Choice(
        "copyright",
        "Copyright infringement",
        "Your copyrighted work published without your permission.",
        "copyright",
        "copyright",
    ),
    Choice(
        "ddos",
        "DDoS attack source",
        "Floods of traffic coming from a server we host.",
        "connection",
        "ddos",
    ),
    Choice(
        "exposed_data",
        "Exposed personal data",
        "Personal or confidential information published without consent.",
        "content",
        "exposed_data",
    ),
    Choice(
        "compromised",
        "Hacked website or server",
        "A site or server that someone has broken into and is misusing.",
        "infrastructure",
        "compromised_server",
    ),
)
CHOICE_BY_KEY = {choice.key: choice for choice in CHOICES}
_NOT_XARF = [c.key for c in CHOICES if c.type not in TYPES.get(c.category, {})]
if _NOT_XARF:  # a regenerated vocabulary that drops a type must stop the deploy, not mislabel reports
    raise RuntimeError(f"form choices outside the XARF vocabulary: {_NOT_XARF}")

MAX_URLS = 10  # one incident per report (XARF); a longer list is several reports
MAX_EXPLANATION_CHARS = 1000  # as the API's description, so a form report fits the same item budget
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_FORM_BYTES = 64 * 1024  # ten 2 KB URLs percent-encoded and the explanation fit; anything bigger is not a person
_MAX_FIELDS = 32
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

# The same email shape the API accepts (shared.domain.xarf.Email).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# secrets.token_urlsafe(32): 256 bits, so nobody guesses another reporter's nonce and with it their receipt.
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CLIENT_TOKEN_PREFIX = "form:"  # anonymous API callers share the scope; the prefix keeps the two apart
# What <input type="datetime-local"> sends (seconds only when the step asks for them); a space is what people type
# where a browser shows a plain text box instead.
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$")
_MAX_OFFSET_MINUTES = 14 * 60  # UTC-12:00 .. UTC+14:00 are the zones in use

REPORT_FIELDS = ("kind", "urls", "explanation", "when", "tz_offset", "name", "email", "good_faith", "nonce")
STATUS_FIELDS = ("report_id", "receipt_token")
REFUSED = "There is a problem with the report."
SENT_BEFORE = (
    "You already sent a report from this page with different answers. We kept that report. "
    "Check these answers and send them again to make a new report."
)
UNAVAILABLE = "We could not save your report just now, and nothing was sent. Please try again in a moment."
# What a refused form says above its fields, by the refusal's code; any other refusal lists its problems instead.
NOTICES = {TokenConflict.code: SENT_BEFORE}


@dataclass(frozen=True)
class ReportForm:
    """What the person sent, exactly as typed, so that a refusal can show it back to them."""

    kind: str = ""
    urls: str = ""
    explanation: str = ""
    when: str = ""
    tz_offset: str = ""  # minutes east of UTC, filled in by the page's script; empty: the time is UTC
    name: str = ""
    email: str = ""
    good_faith: bool = False
    nonce: str = ""

    @classmethod
    def blank(cls) -> ReportForm:
        return cls(nonce=new_nonce())

    @property
    def choice(self) -> Choice | None:
        return CHOICE_BY_KEY.get(self.kind)

    def for_display(self) -> ReportForm:
        """The form to show again: same values, and a nonce that can still be submitted."""
        return self if _NONCE.fullmatch(self.nonce) else replace(self, nonce=new_nonce())

    def with_new_nonce(self) -> ReportForm:
        return replace(self, nonce=new_nonce())

    def after_refusal(self, code: str) -> ReportForm:
        """The form to show again after a refusal: a nonce already spent on another report is replaced, so these
        answers become a new report when sent again."""
        return self.with_new_nonce() if code == TokenConflict.code else self.for_display()


@dataclass(frozen=True)
class StatusForm:
    report_id: str = ""
    receipt_token: str = ""


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------------------------------------------
# The request around the form
# ---------------------------------------------------------------------------------------------------------------


class CrossSiteRequest(DomainError):
    """A browser says this POST came from another site's page."""

    status = 403
    code = "rule.request.cross_site"


def check_same_origin(
    sec_fetch_site: str | None, origin: str | None, host: str | None, forwarded_proto: str | None = None
) -> None:
    """Refuse a POST that a browser sent on another site's behalf.

    The form has no session, cookie or authority to steal, so this is not the usual CSRF defence. It is there because
    a hostile page could otherwise make every visitor's browser post reports: thousands of addresses, each under the
    WAF's per-IP rate limit, flooding the queue and burying real reports. Browsers label such a request
    (Sec-Fetch-Site: cross-site); older ones send an Origin that is not ours. A request with neither comes from a
    client that is not a browser, which could post from its own addresses anyway, so it passes. No token is needed:
    a double-submit token would cost a cookie and prove nothing these headers do not.

    An origin is scheme, host and port: http://our-host is another origin than https://our-host (a page served over
    plain HTTP, which anyone on the path can rewrite). Our scheme is the one API Gateway saw, X-Forwarded-Proto
    (https on AWS, http on the local stack); without that header, https, the only scheme the stage serves.
    """
    site = (sec_fetch_site or "").strip().lower()
    if site:
        if site in ("same-origin", "none"):  # "none": the person did it (a bookmark, the address bar)
            return
        raise CrossSiteRequest(
            "Send the report from this site's own form.",
            [requirement("", "rule.request.cross_site", f"Sec-Fetch-Site: {site[:20]}")],
        )
    if origin is None:
        return
    scheme = (forwarded_proto or "").split(",", 1)[0].strip().lower()
    ours = f"{scheme if scheme in ('http', 'https') else 'https'}://{(host or '').strip().lower()}"
    sent = urlsplit(origin.strip()) if origin.strip() != "null" else None
    if not host or sent is None or f"{sent.scheme.lower()}://{sent.netloc.lower()}" != ours:
        raise CrossSiteRequest(
            "Send the report from this site's own form.",
            [requirement("", "rule.request.cross_origin", "Origin is not this site")],
        )


def read_post(headers: Mapping[str, str], body: str | None, *, base64_encoded: bool | None) -> tuple[bytes, str | None]:
    """The POSTed body as bytes and its Content-Type, once the browser's headers say it was sent from our own page
    (size and media type are `read_fields`' to check). `headers` must look names up case-insensitively, as API
    Gateway events' do."""
    check_same_origin(
        headers.get("sec-fetch-site"), headers.get("origin"), headers.get("host"), headers.get("x-forwarded-proto")
    )
    return intake.request_body(body, base64_encoded=base64_encoded), headers.get("content-type")


# The heading of the plain page for a request that is not one our form sends, by the refusal's code.
PROBLEM_TITLES = {
    MalformedBody.code: "Sorry, we could not read the form",
    CrossSiteRequest.code: "Send the report from our own form",
    PayloadTooLarge.code: "The report is too long",
    UnsupportedMediaType.code: "Sorry, we could not read the form",
}
NOT_FOUND_PAGE = ("Page not found", "There is nothing at this address.")
UNAVAILABLE_PAGE = ("Sorry, please try again", "We could not look this up just now.")

# The headers of every page we serve (the form's; the API docs' with their own policy), assets included.
SECURITY_HEADERS = {
    # Only this origin's own script and style; no framing, no <base>, forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}


def base_path(host: str | None, stage: str | None) -> str:
    """The path prefix in front of every link the pages make: "/live" on API Gateway's own host name, else "".

    API Gateway serves a stage under its name (https://<id>.execute-api.<region>.amazonaws.com/live/) but hands the
    function the path without it, so a page that links to "/status" from there points outside the API. Relative
    links are no cure: the form is at the stage's root, which people reach as ".../live" as often as ".../live/".
    So the stage is put back exactly when the host is API Gateway's own (the rule serverless-wsgi and Zappa use); a
    custom domain (base path mapping "(none)") and the local stack serve at the root.
    """
    name = (host or "").split(":", 1)[0].lower()
    if stage and name.endswith(".amazonaws.com") and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", stage):
        return f"/{stage}"
    return ""


def read_fields(body: bytes, content_type: str | None, names: tuple[str, ...]) -> dict[str, str]:
    """The urlencoded body as {field: value}, for the fields in `names`; anything else a browser adds is ignored.

    Refused (MalformedBody, PayloadTooLarge, UnsupportedMediaType) when it is not one form a browser would send: a
    field named twice would mean one value is checked and another stored, depending on who reads it.
    """
    media_type, _, parameters = (content_type or "").partition(";")
    charset = parameters.partition("charset=")[2].strip().strip('"').lower()
    if media_type.strip().lower() != FORM_MEDIA_TYPE or charset not in ("", "utf-8"):
        raise UnsupportedMediaType(
            "Send the form as the page sends it.",
            [requirement("", "rule.body.media_type", f"Content-Type must be {FORM_MEDIA_TYPE}")],
        )
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge(
            "The report is too long.", [requirement("", "rule.body.too_large", f"at most {MAX_FORM_BYTES} bytes")]
        )
    try:
        # A urlencoded body is ASCII; its values are percent-encoded UTF-8, decoded strictly.
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise MalformedBody(
            "The form could not be read.", [requirement("", "rule.body.malformed_form", "not a urlencoded UTF-8 form")]
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in names:
            continue
        if name in fields:
            raise MalformedBody(
                "The form could not be read.", [requirement(f"/{name}", "rule.body.duplicate_field", "sent twice")]
            )
        fields[name] = value
    return fields


def read_report_form(body: bytes, content_type: str | None) -> ReportForm:
    fields = read_fields(body, content_type, REPORT_FIELDS)
    values: dict[str, Any] = {name: fields.get(name, "") for name in REPORT_FIELDS if name != "good_faith"}
    return ReportForm(good_faith="good_faith" in fields, **values)


def read_status_form(body: bytes, content_type: str | None) -> StatusForm:
    fields = read_fields(body, content_type, STATUS_FIELDS)
    return StatusForm(report_id=fields.get("report_id", ""), receipt_token=fields.get("receipt_token", ""))


# ---------------------------------------------------------------------------------------------------------------
# Form -> Report
# ---------------------------------------------------------------------------------------------------------------


def to_submission(form: ReportForm, *, now: datetime) -> Submission:
    """The Submission intake stores, or InvalidReport with one requirement per field in trouble, in field order."""
    problems: list[UnmetRequirement] = []
    if not _NONCE.fullmatch(form.nonce):
        problems.append(
            requirement(
                "",
                "rule.form.expired",
                "This form has expired. Check your answers and send the report again.",
            )
        )
    choice = form.choice
    if choice is None:
        problems.append(requirement("/kind", "rule.kind.missing", "Select what you are reporting"))
    resources = _resources(form.urls, choice, problems)
    explanation = _explanation(form.explanation, problems)
    incident_time, time_basis = _incident_time(form.when, form.tz_offset, now, problems)
    name = _name(form.name, problems)
    email = _email(form.email, problems)
    if not form.good_faith:
        problems.append(
            requirement(
                "/good_faith",
                "rule.good_faith.missing",
                "Confirm that you believe the information in this report is accurate and complete",
            )
        )
    problems = _with_text_rules(form, problems)
    if problems or choice is None:
        raise InvalidReport(REFUSED, problems)
    reporter = None
    if name or email:
        # The form has a person, not XARF's organisation: their name goes where an analyst looks for who reported.
        domain = email.rsplit("@", 1)[1].lower() if email else ""
        reporter = Reporter(org=name, contact=email, domain=domain)
    report = Report(
        category=choice.category,
        type=choice.type,
        resources=resources,
        incident_time=incident_time,
        description=explanation,
        reporter=reporter,
        # The DSA statement is recorded as given; the time basis tells an analyst how far to trust the clock.
        details={"good_faith_statement": True, "incident_time_basis": time_basis},
        source_format="form",
    )
    return Submission(report=report, client_token=_CLIENT_TOKEN_PREFIX + form.nonce)


def send(
    form: ReportForm,
    store: intake.ReportStore,
    *,
    secret: bytes,
    protected_buckets: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> intake.Receipt:
    """Validate and store a form report as an anonymous, public-tier caller: the form proves no identity."""
    now = now or datetime.now(UTC)
    submission = to_submission(form, now=now)
    return intake.submit(submission, ANONYMOUS, store, secret=secret, protected_buckets=protected_buckets, now=now)


# The typed fields the text rules apply to, with what the page calls them and the field an error is shown next to
# (the time zone offset is the `when` field's, filled in by the page's script).
_TYPED_FIELDS = {
    "urls": ("The web addresses", "/urls"),
    "explanation": ("The explanation", "/explanation"),
    "when": ("The date and time", "/when"),
    "tz_offset": ("The date and time", "/when"),
    "name": ("The name", "/name"),
    "email": ("The email address", "/email"),
}
_FIELD_ORDER = ("", "/kind", "/urls", "/explanation", "/when", "/name", "/email", "/good_faith")


def _with_text_rules(form: ReportForm, problems: list[UnmetRequirement]) -> list[UnmetRequirement]:
    """The problems found, where a field breaking the text rules (shared/domain/text.py, the API's own) is told
    that instead of anything else about it: what it shows is not what it holds, so nothing else said would help."""
    typed = {name: getattr(form, name) for name in _TYPED_FIELDS}
    worded: dict[str, UnmetRequirement] = {}
    for hidden in screen(typed, free_text=("urls", "explanation")):
        name = hidden.path.lstrip("/")
        label, path = _TYPED_FIELDS[name]
        found = forbidden_character(typed[name], one_line=name not in ("urls", "explanation"))
        kind = kind_of(found[1]) if found else "a character that cannot be shown"
        message = f"{label} contains {kind}, which is not allowed here. Type it again rather than pasting it"
        worded.setdefault(path, requirement(path, f"rule.{path[1:]}.forbidden_characters", message))
    kept = [problem for problem in problems if problem.path not in worded]
    return sorted([*kept, *worded.values()], key=lambda problem: _order_of(problem.path))


def _order_of(path: str) -> int:
    return _FIELD_ORDER.index(path) if path in _FIELD_ORDER else len(_FIELD_ORDER)


def _resources(text: str, choice: Choice | None, problems: list[UnmetRequirement]) -> tuple[Resource, ...]:
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    csam = choice is not None and choice.child_safety
    if not lines:
        message = (
            "Enter the web address (URL) where you saw the material"
            if csam
            else "Enter the web address (URL) or IP address of what you are reporting"
        )
        problems.append(requirement("/urls", "rule.urls.missing", message))
        return ()
    found: dict[str, Resource] = {}
    bad: list[tuple[int, InvalidResource]] = []
    for number, line in lines:
        try:
            resource = canonicalize(line)
        except InvalidResource as exc:
            bad.append((number, exc))
            continue
        found.setdefault(resource.canonical, resource)  # the same address twice is one resource
    if bad:
        (number, first), more = bad[0], len(bad) - 1
        also = f" ({more} more {'line needs' if more == 1 else 'lines need'} checking too)" if more else ""
        prefix = f"Line {number}: " if len(lines) > 1 else ""
        problems.append(requirement("/urls", first.code, f"{prefix}{_sentence(first.message)}{also}"))
        return ()
    if len(found) > MAX_URLS:
        problems.append(
            requirement(
                "/urls",
                "rule.urls.too_many",
                f"Enter at most {MAX_URLS} addresses; send another report for the rest",
            )
        )
    elif csam and not any(r.kind in (ResourceKind.URL, ResourceKind.S3_OBJECT) for r in found.values()):
        # An IP or a bare domain does not say which file to preserve; NCMEC and the quarantine need the location.
        problems.append(
            requirement(
                "/urls",
                "rule.urls.url_required",
                "Enter the full web address (URL) of the page or file, starting with https://",
            )
        )
    return tuple(found.values())


def _explanation(text: str, problems: list[UnmetRequirement]) -> str:
    # Browsers send a textarea's line breaks as CRLF; counted and stored as LF, as the person sees them.
    value = text.replace("\r\n", "\n").strip()
    if not value:
        problems.append(
            requirement(
                "/explanation",
                "rule.explanation.missing",
                "Explain what happened and why you think it is abusive or illegal",
            )
        )
    elif len(value) > MAX_EXPLANATION_CHARS:
        problems.append(
            requirement(
                "/explanation",
                "rule.explanation.too_long",
                f"Explanation must be {MAX_EXPLANATION_CHARS:,} characters or fewer (it has {len(value):,})",
            )
        )
    return value


def _incident_time(when: str, tz_offset: str, now: datetime, problems: list[UnmetRequirement]) -> tuple[datetime, str]:
    """When it happened, and on what basis: the reporter's local time (the script sent the browser's UTC offset),
    UTC (no script: the page says the time is read as UTC), or the time of the report (left empty)."""
    value = when.strip()
    if not value:
        return now, "time_of_report"
    offset = tz_offset.strip()
    if not _LOCAL_TIME.fullmatch(value) or (offset and not re.fullmatch(r"[+-]?\d{1,4}", offset)):
        problems.append(requirement("/when", "rule.when.malformed", "Enter the date and time like 2025-11-26 14:30"))
        return now, "time_of_report"
    minutes = int(offset) if offset else 0
    try:
        local = datetime.fromisoformat(value)
        if abs(minutes) > _MAX_OFFSET_MINUTES:
            raise ValueError("offset out of range")
    except ValueError:  # 2025-02-30, hour 25, an offset no zone has
        problems.append(requirement("/when", "rule.when.malformed", "Enter a real date and time"))
        return now, "time_of_report"
    # The API's window (shared.reports): not in the future, not over a year old. The year is checked before any
    # arithmetic: 0001-01-01 or 9999-12-31 moved by an offset is a time no datetime can hold (OverflowError), and a
    # year either side of now is outside the window in every zone.
    if abs(local.year - now.year) > 1:
        outside = "in_future" if local.year > now.year else "too_old"
    else:
        moment = local.replace(tzinfo=timezone(timedelta(minutes=minutes))).astimezone(UTC)
        outside = "in_future" if moment > now + MAX_CLOCK_SKEW else "too_old" if moment < now - MAX_INCIDENT_AGE else ""
    if outside:
        problems.append(requirement("/when", f"rule.when.{outside}", _OUTSIDE_WINDOW[outside]))
        return now, "time_of_report"
    return moment, "reporter_local" if offset else "utc_assumed"


_OUTSIDE_WINDOW = {
    "in_future": "The date and time must be in the past",
    "too_old": "The date must be within the last 12 months",
}


def _name(text: str, problems: list[UnmetRequirement]) -> str:
    value = text.strip()
    if len(value) > MAX_NAME_CHARS:
        problems.append(
            requirement("/name", "rule.name.too_long", f"Name must be {MAX_NAME_CHARS} characters or fewer")
        )
    return value


def _email(text: str, problems: list[UnmetRequirement]) -> str:
    value = text.strip()
    if value and (len(value) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(value)):
        problems.append(
            requirement(
                "/email",
                "rule.email.malformed",
                "Enter an email address in the correct format, like name@example.com",
            )
        )
    return value


def errors_by_field(problems: Sequence[UnmetRequirement]) -> dict[str, str]:
    """Field name -> its first message ("" for the form as a whole): one message per field, as GOV.UK advises."""
    found: dict[str, str] = {}
    for problem in problems:
        found.setdefault(problem.path.lstrip("/"), problem.message)
    return found


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


# ---------------------------------------------------------------------------------------------------------------
# The status page
# ---------------------------------------------------------------------------------------------------------------

NOT_FOUND = "We could not find a report with this reference and receipt token. Check both and try again."


def lookup(form: StatusForm, store: intake.ReportStore) -> intake.StatusView:
    """The status for whoever holds the report id and its receipt token; the form proves nothing else."""
    report_id = form.report_id.strip().upper()  # ULIDs are case-insensitive; people retype them
    token = form.receipt_token.strip()
    problems = []
    if not report_id:
        problems.append(requirement("/report_id", "rule.report_id.missing", "Enter the report reference"))
    if not token:
        problems.append(requirement("/receipt_token", "rule.receipt_token.missing", "Enter the receipt token"))
    if problems:
        raise InvalidReport(REFUSED, problems)
    try:
        return intake.status(report_id, ANONYMOUS, token, store)
    except ReportNotFound:
        # Which of the two is wrong is not said: that would help someone guessing tokens.
        raise ReportNotFound(NOT_FOUND, [requirement("/report_id", "rule.report_id.not_found", NOT_FOUND)]) from None


@dataclass(frozen=True)
class StatusWording:
    title: str
    explanation: str


STATUS_WORDING: dict[str, StatusWording] = {
    ReportStatus.QUEUED: StatusWording("Received", "We have your report. It is waiting to be reviewed."),
    ReportStatus.PROCESSING: StatusWording("Being reviewed", "We are looking into your report."),
    ReportStatus.COMPLETED: StatusWording("Decision made", "We have finished looking into your report."),
}
# DSA Art. 16(5): the notifier is told the decision, and where they can turn if they disagree.
REASON_WORDING: dict[str, str] = {
    ReasonCode.ACTIONED: "We took action against the content or service you reported.",
    ReasonCode.NOT_RESOLVABLE_TO_AWS: "The address you reported is not hosted by us, so we cannot act on it. "
    "Report it to whoever hosts it.",
    ReasonCode.REVIEWED_NO_AWS_ACTION: "We reviewed your report and decided not to take action.",
    ReasonCode.CONTENT_DOWN_OR_INACCESSIBLE: "The content had already been removed, or we could not reach it.",
    ReasonCode.NEED_MORE_INFORMATION: "We need more information to act. Please send a new report with more detail.",
}
REDRESS = (
    "If you disagree with this decision, you can send a new report explaining why, or seek redress before a court."
)


def readable_time(iso: str) -> str:
    """An ISO time as "2026-11-26 10:00 UTC": unambiguous in every locale, no month names to translate."""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def wording(view: intake.StatusView) -> tuple[StatusWording, str | None]:
    """The status, and the decision once there is one, in words for the person who reported."""
    # StrEnum members hash as their strings; a status or code added later reads as "received" / no wording.
    status = STATUS_WORDING.get(view.status, STATUS_WORDING[ReportStatus.QUEUED])
    reason = REASON_WORDING.get(view.reason_code) if view.reason_code else None
    return status, reason
