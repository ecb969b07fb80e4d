"""XARF v4 (or v3, converted) in, one internal `Report` (shared.domain.reports) out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import jiter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.domain.errors import InvalidReport, MalformedBody, UnmetRequirement, requirement
from shared.domain.reports import EvidenceDigest, ReasonCode, Report, Reporter, ReportRecord, ReportStatus, Submission
from shared.domain.resources import InvalidResource, Resource, ResourceKind, canonicalize, canonicalize_url
from shared.domain.text import FORBIDDEN_IN_TEXT, LINE_PATTERN, TEXT_PATTERN, screen
from shared.domain.xarf_vocabulary import CATEGORIES, SPEC_VERSION, TYPES

MAX_INCIDENT_AGE = timedelta(days=365)
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_DETAILS_CHARS = 4096  # type-specific fields kept on the item; the item must stay small
URL_FIELDS = ("url", "infringing_url")
MAX_BATCH = 100  # submissions per batch request

# CSAM bytes are never transmitted (the AWS Abuse Signal API's rule): such reports carry URLs and hashes only.
PAYLOAD_FORBIDDEN_TYPES = frozenset({("content", "csam"), ("content", "csem")})


# ---------------------------------------------------------------------------------------------------------------
# Field types
# ---------------------------------------------------------------------------------------------------------------


# RFC 1123 host names, as XARF's `format: hostname` asks (ASCII: an IDN travels in its xn-- form).
_HOSTNAME = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"

OneLine = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=LINE_PATTERN)]
LongLine = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=LINE_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=1000, pattern=TEXT_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Hostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=_HOSTNAME)]
Tag = Annotated[str, StringConstraints(max_length=128, pattern=r"^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+-]*$")]
ClientToken = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
_HYGIENE_PATTERNS = {LINE_PATTERN, TEXT_PATTERN}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ContactIn(_Strict):
    org: Annotated[OneLine, StringConstraints(max_length=200)]
    contact: Email
    domain: Hostname


class EvidenceIn(_Strict):
    content_type: OneLine
    payload: str = Field(max_length=7_000_000)  # base64 of at most 5 MB
    description: Annotated[Text, StringConstraints(max_length=500)] | None = None
    hash: Annotated[str, StringConstraints(pattern=r"^(md5|sha1|sha256|sha512):[a-fA-F0-9]+$")] | None = None
    size: int | None = Field(default=None, ge=0, le=5 * 1024 * 1024)


class XarfReportIn(BaseModel):
    """The XARF v4 core. Type-specific fields arrive as extras and are checked against the generated rules."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    xarf_version: Annotated[str, StringConstraints(pattern=r"^4\.[0-9]+\.[0-9]+$", max_length=16)]
    report_id: UUID
    timestamp: AwareDatetime
    reporter: ContactIn
    sender: ContactIn
    source_identifier: LongLine
    source_port: int | None = Field(default=None, ge=1, le=65535)
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    type: Annotated[OneLine, StringConstraints(max_length=64)]
    evidence_source: OneLine | None = None
    evidence: list[EvidenceIn] | None = Field(default=None, max_length=50)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    confidence: float | None = Field(default=None, ge=0, le=1)
    description: Text | None = None
    legacy_version: Literal["3"] | None = None
    internal: dict[str, Any] | None = Field(default=None, alias="_internal")


class SubmissionIn(_Strict):
    """The body of POST /v1/reports, as the AWS Abuse Signal API shapes it."""

    clientToken: ClientToken | None = None  # noqa: N815  (the wire name)
    correlationId: Annotated[OneLine, StringConstraints(max_length=128)] | None = None  # noqa: N815
    report: XarfReportIn


# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------


def parse_submission(body: bytes | str, *, now: datetime | None = None) -> Submission:
    """Turn a request body into a Submission, or raise MalformedBody / InvalidReport with every reason found."""
    return submission_from(load_json_object(body), now=now)


def parse_batch(body: bytes | str, *, now: datetime | None = None) -> list[Submission | InvalidReport]:
    """A batch body: each item becomes a Submission or the InvalidReport explaining it, in request order.

    Only a body that is not a batch at all (no `reports` list, more than MAX_BATCH items) is refused as a whole.
    """
    data = load_json_object(body)
    items = data.get("reports")
    problems = [
        requirement(f"/{_escape(name)}", "rule.extra.unknown", "not a batch field")
        for name in data
        if name != "reports"
    ]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        problems.append(requirement("/reports", "rule.reports.malformed", f"a list of 1 to {MAX_BATCH} submissions"))
    if problems or not isinstance(items, list):
        raise InvalidReport("The batch does not meet the requirements.", problems)
    results: list[Submission | InvalidReport] = []
    for index, item in enumerate(items):
        try:
            results.append(submission_from(item, now=now, pointer=f"/reports/{index}"))
        except InvalidReport as refusal:
            results.append(refusal)
    return results


def submission_from(data: Any, *, now: datetime | None = None, pointer: str = "") -> Submission:
    """Validate one submission envelope (already parsed JSON); every path in a refusal starts at `pointer`."""
    if not isinstance(data, dict):
        raise InvalidReport("A submission must be a JSON object.", [requirement(pointer, "rule.body.not_object", "{}")])
    # Text hygiene and JSON's numbers first, on every string and number as sent (before v3 conversion, so pointers
    # are into the sender's body): nothing that fails them is worth checking further (shared/domain/text.py).
    if hygiene := screen(data, pointer=pointer):
        raise InvalidReport("The report does not meet the requirements.", hygiene)
    report = data.get("report")
    source_format: Literal["xarf4", "xarf3"] = "xarf4"
    if isinstance(report, dict) and _is_xarf_v3(report):
        data = {**data, "report": _convert_v3(report, pointer)}
        source_format = "xarf3"
    try:
        submission = SubmissionIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidReport("The report does not meet the requirements.", _requirements_from(exc, pointer)) from None
    report_out = to_report(submission.report, source_format=source_format, now=now, base_path=f"{pointer}/report")
    return Submission(report=report_out, client_token=submission.clientToken, correlation_id=submission.correlationId)


def load_json_object(body: bytes | str) -> dict[str, Any]:
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    try:
        data = jiter.from_json(body, catch_duplicate_keys=True)
    except ValueError as exc:
        code = "rule.body.duplicate_key" if "duplicate key" in str(exc) else "rule.body.malformed_json"
        # jiter's message names a position, never content beyond a key name.
        raise MalformedBody("The body is not valid JSON.", [requirement("", code, str(exc)[:200])]) from None
    if not isinstance(data, dict):
        raise MalformedBody("The body must be a JSON object.", [requirement("", "rule.body.not_object", "expected {")])
    return data


def to_report(
    xarf: XarfReportIn, *, source_format: Literal["xarf4", "xarf3", "form"], now: datetime | None, base_path: str
) -> Report:
    """Apply the rules pydantic cannot express (per-type fields, resources, evidence, time) and build the Report."""
    problems: list[UnmetRequirement] = []
    extras = dict(xarf.__pydantic_extra__ or {})
    problems += type_rule_violations(xarf, extras, base_path)
    resources = _resources(xarf, extras, base_path, problems)
    evidence = _evidence(xarf, base_path, problems)
    problems += _time_violations(xarf.timestamp, now or datetime.now(UTC), f"{base_path}/timestamp")
    details = {name: value for name, value in extras.items() if name not in URL_FIELDS}
    if len(compact_json(details)) > MAX_DETAILS_CHARS:
        problems.append(requirement(base_path, "rule.report.too_large", "type-specific fields exceed 4 KB in all"))
    if problems:
        raise InvalidReport("The report does not meet the requirements.", problems)
    return Report(
        category=xarf.category,
        type=xarf.type,
        resources=resources,
        incident_time=xarf.timestamp.astimezone(UTC),
        description=xarf.description,
        reporter=Reporter(org=xarf.reporter.org, contact=xarf.reporter.contact, domain=xarf.reporter.domain),
        evidence=evidence,
        details=details,
        source_format=source_format,
        external_id=str(xarf.report_id),
    )


def type_rule_violations(xarf: XarfReportIn, extras: dict[str, Any], base_path: str) -> list[UnmetRequirement]:
    rules = TYPES.get(xarf.category, {}).get(xarf.type)
    if rules is None:
        allowed = ", ".join(sorted(TYPES.get(xarf.category, {})))
        return [requirement(f"{base_path}/type", "rule.type.not_allowed", f"{xarf.category} types are: {allowed}")]
    present = set(extras) | {name for name in xarf.model_fields_set if getattr(xarf, name) is not None}
    required = list(rules["required"])
    if rules["required_if_ip_source"] and _is_ip(xarf.source_identifier):
        required += rules["required_if_ip_source"]
    for name, value, needs in rules["required_if"]:
        if extras.get(name) == value:
            required += needs
    problems = [
        requirement(f"{base_path}/{name}", f"rule.{name}.missing", f"required for {xarf.category}/{xarf.type}")
        for name in dict.fromkeys(required)
        if name not in present
    ]
    for name, value in extras.items():
        rule = rules["fields"].get(name)
        if rule is None:
            problems.append(
                requirement(f"{base_path}/{_escape(name)}", "rule.field.unknown", "not a field of this XARF type")
            )
        elif (why := _field_violation(value, rule)) is not None:
            problems.append(requirement(f"{base_path}/{_escape(name)}", f"rule.{name}.{why[0]}", why[1]))
    return problems


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _field_violation(value: Any, rule: Mapping[str, Any]) -> tuple[str, str] | None:
    expected = rule.get("type")
    if expected and (
        not isinstance(value, _JSON_TYPES[expected]) or (isinstance(value, bool) and expected != "boolean")
    ):
        return "wrong_type", f"expected {expected}"
    if "const" in rule and value != rule["const"]:
        return "not_allowed", f"must be {rule['const']!r}"
    if "enum" in rule and value not in rule["enum"]:
        return "not_allowed", "one of: " + ", ".join(map(str, rule["enum"]))
    if isinstance(value, str):
        if FORBIDDEN_IN_TEXT.search(value):
            return "forbidden_characters", "control or bidi-override characters"
        if len(value) > rule.get("maxLength", 2048):
            return "too_long", f"at most {rule.get('maxLength', 2048)} characters"
        if "pattern" in rule and not re.search(rule["pattern"], value):
            return "malformed", f"must match {rule['pattern']}"
        if rule.get("format") == "date-time" and not _is_datetime(value):
            return "malformed", "an ISO 8601 date-time with a time zone"
    if isinstance(value, dict):
        missing = [name for name in rule.get("required", ()) if name not in value]
        if missing:
            return "incomplete", "needs " + ", ".join(missing)
        one_of = rule.get("required_one_of")
        if one_of and not any(name in value for name in one_of):
            return "incomplete", "needs one of " + ", ".join(one_of)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in rule and value < rule["minimum"]:
            return "out_of_range", f"at least {rule['minimum']}"
        if "maximum" in rule and value > rule["maximum"]:
            return "out_of_range", f"at most {rule['maximum']}"
    return None


def _resources(
    xarf: XarfReportIn, extras: dict[str, Any], base_path: str, problems: list[UnmetRequirement]
) -> tuple[Resource, ...]:
    found: dict[str, Resource] = {}

    def add(path: str, raw: Any, parse: Any) -> None:
        if not isinstance(raw, str):
            return  # already reported as a wrong type
        try:
            resource = parse(raw)
        except InvalidResource as exc:
            problems.append(requirement(path, exc.code, exc.message))
            return
        found.setdefault(resource.canonical, resource)

    add(f"{base_path}/source_identifier", xarf.source_identifier, canonicalize)
    for name in URL_FIELDS:
        if name in extras:
            add(f"{base_path}/{name}", extras[name], canonicalize_url)
    if "domain" in extras:
        add(f"{base_path}/domain", extras["domain"], _domain_resource)
    return tuple(found.values())


def _domain_resource(raw: str) -> Resource:
    resource = canonicalize(raw)
    if resource.kind is not ResourceKind.DOMAIN:
        raise InvalidResource("rule.resource.malformed", "the domain field takes a domain name")
    return resource


def _evidence(xarf: XarfReportIn, base_path: str, problems: list[UnmetRequirement]) -> tuple[EvidenceDigest, ...]:
    if not xarf.evidence:
        return ()
    if (xarf.category, xarf.type) in PAYLOAD_FORBIDDEN_TYPES:
        problems.append(
            requirement(
                f"{base_path}/evidence",
                "rule.evidence.payload_not_accepted",
                "never send CSAM or CSEM content: name it by URL and hashes (hash_values) only",
            )
        )
        return ()
    digests = []
    for index, item in enumerate(xarf.evidence):
        path = f"{base_path}/evidence/{index}"
        try:
            content = base64.b64decode(item.payload, validate=True)
        except (binascii.Error, ValueError):
            problems.append(requirement(f"{path}/payload", "rule.evidence.malformed", "payload must be base64"))
            continue
        if len(content) > 5 * 1024 * 1024:
            problems.append(requirement(f"{path}/payload", "rule.evidence.too_large", "at most 5 MB per item"))
            continue
        if item.size is not None and item.size != len(content):
            problems.append(requirement(f"{path}/size", "rule.evidence.size_mismatch", "size differs from payload"))
        if item.hash is not None:
            algorithm, expected = item.hash.split(":", 1)
            if hashlib.new(algorithm, content).hexdigest() != expected.lower():
                problems.append(requirement(f"{path}/hash", "rule.evidence.hash_mismatch", "hash differs from payload"))
        digests.append(
            EvidenceDigest(
                sha256=hashlib.sha256(content).hexdigest(),
                md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
                size=len(content),
                content_type=item.content_type,
            )
        )
    return tuple(digests)


def _time_violations(timestamp: datetime, now: datetime, path: str) -> list[UnmetRequirement]:
    if timestamp > now + MAX_CLOCK_SKEW:
        return [requirement(path, "rule.timestamp.in_future", "the incident time is in the future")]
    if timestamp < now - MAX_INCIDENT_AGE:
        return [requirement(path, "rule.timestamp.too_old", "the incident is more than a year old")]
    return []


# ---------------------------------------------------------------------------------------------------------------
# XARF v3
# ---------------------------------------------------------------------------------------------------------------


def _is_xarf_v3(report: dict[str, Any]) -> bool:
    return "Version" in report and "Report" in report


def _convert_v3(report: dict[str, Any], pointer: str) -> dict[str, Any]:
    """v3 is rare: the xarf library (and its import time) is only paid for when one arrives."""
    import warnings

    from xarf import XARFParseError, convert_v3_to_v4, is_v3_report

    if not is_v3_report(report):
        raise InvalidReport(
            "Unsupported XARF version.",
            [
                requirement(
                    f"{pointer}/report/Version", "rule.xarf_version.not_supported", "XARF v3 (3, 3.0, 3.0.0) or v4"
                )
            ],
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation warning is for the sender, not our logs
            converted: dict[str, Any] = convert_v3_to_v4(report)
    except (XARFParseError, AttributeError, TypeError) as exc:
        message = str(exc).split(". Supported", 1)[0][:200]
        raise InvalidReport(
            "The XARF v3 report cannot be converted to v4.",
            [requirement(f"{pointer}/report/Report", "rule.xarf_v3.not_convertible", message)],
        ) from None
    converted.pop("_internal", None)  # conversion bookkeeping, never transmitted between systems
    return converted


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------

_KINDS = {
    "missing": "missing",
    "extra_forbidden": "unknown",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "too_long": "too_many",
    "too_short": "too_few",
    "literal_error": "not_allowed",
    "enum": "not_allowed",
    "string_pattern_mismatch": "malformed",
    "uuid_parsing": "malformed",
    "uuid_type": "wrong_type",
    "datetime_from_date_parsing": "malformed",
    "datetime_parsing": "malformed",
    "timezone_aware": "malformed",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
}


def _requirements_from(exc: ValidationError, pointer: str = "") -> list[UnmetRequirement]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        location = [part for part in error["loc"] if not _is_union_tag(part)]
        path = pointer + "".join(f"/{_escape(str(part))}" for part in location)
        named = [part for part in location if isinstance(part, str)]
        name = "extra" if error["type"] == "extra_forbidden" else (named[-1] if named else "body")
        kind = error["type"]
        if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") in _HYGIENE_PATTERNS:
            code = f"rule.{name}.forbidden_characters"
        else:
            code = f"rule.{name}.{_KINDS.get(kind, 'wrong_type' if kind.endswith('_type') else 'malformed')}"
        problems.append(requirement(path, code, error["msg"]))
    return problems


def _is_union_tag(part: str | int) -> bool:
    # pydantic names union members in locations ("function-after[...]", "str"); they are not in the body.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "list", "dict", "bool"})


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def compact_json(value: Any) -> str:
    """Compact, stable JSON, for measuring and storing the small `details` map."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def describe_types() -> Iterable[tuple[str, str]]:
    """Every (category, type) the XARF specification defines."""
    for category, types in TYPES.items():
        for type_name in types:
            yield category, type_name


__all__ = [
    "SPEC_VERSION",
    "EvidenceDigest",
    "ReasonCode",
    "Report",
    "ReportRecord",
    "ReportStatus",
    "Reporter",
    "Submission",
    "describe_types",
    "parse_submission",
]
