"""The statement of reasons a restriction owes the content's owner (DSA Art. 17), as one document.

The document is in the statement schema of the EU DSA Transparency Database (`POST /api/v1/statement`, rules in
StatementStoreRequest of github digital-services-act/transparency-database; the value lists are its API v2 schema,
in force since 1 July 2025). The database's duty is on online platforms; a hosting provider still owes the
statement itself, so we keep the database's schema as our format for it: one format, checked by the database's own
rules, ready to submit if we ever must. Pure: no AWS, no I/O, no clock (every date comes from the decision or the
case).

It must never carry the analyst's internal note, nor anything that names a person (the database forbids personal
data, Art. 24(5)): the owner reads the analyst's statement, the rest is our vocabulary.

The choices, and why:
- Restriction: RESTRICT puts a quarantine tag and a deny policy on the objects; nothing is deleted, and a release
  restores them. That is "disabling access to content" (DECISION_VISIBILITY_CONTENT_DISABLED), not removal. No end
  date: it stands until someone decides otherwise. Territorial scope: the deny policy applies everywhere, so every
  country the schema knows (EU and EEA).
- Ground: child sexual abuse material (XARF csam, csem) is illegal in every Member State, so the ground is the law
  (Directive 2011/93/EU Art. 5; in the US 18 U.S.C. 2252A, the offence; 2258A is our duty to report it, not what
  makes it illegal). Everything else (phishing, malware, spam, ...) is restricted because it breaks our acceptable
  use policy: that we can say for certain, while which national law it breaks is a court's question, not ours.
- Category: one table, TYPE_CLASSIFICATION, from XARF type to DSA category and keyword. The schema has no
  cyber-security category: "Risk for public security" means terrorism, illegal organisations, public health and the
  environment (its keywords), so malware, botnets, attacks and exposed services go to "Other violation of the
  provider's terms and conditions", which is what they are to us. Spam likewise (it is not fraud unless it is
  phishing). A case with several types leads with the most severe by our policy (shared/domain/policy.py), then the
  table's order; the others' categories go to `category_addition`, all their keywords to `category_specification`.
- Content type: from the evidence's MIME types (image/*, video/*, audio/*, text and markup, executables as APP);
  others are OTHER, named in `content_type_other`. Without evidence types, the type says what such content usually
  is: a phishing page is TEXT, malware is software, the nearest of the schema's types being APP.
- Dates: `content_date` is when the content was there, the earliest a reporter saw it (first incident), else when
  we first heard of it (first seen), else the decision's day; a reporter's date before 2000 or after the decision is
  not believed (the schema refuses dates before 2000). `application_date` is the day of the decision. All in UTC.
- Source: a trusted flagger's notice is SOURCE_TRUSTED_FLAGGER; any other notice SOURCE_ARTICLE_16 (every report
  we receive is a notice from outside); only a restriction nobody asked for is SOURCE_VOLUNTARY.
- Automation: we run no detection of our own (reporters' tools are theirs) and an analyst decides: "No" and
  AUTOMATED_DECISION_NOT_AUTOMATED.
- puid: the decision id (a ULID, Crockford base32, fits the schema's alphabet), unique by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.domain.casework import Action, Decision
from shared.domain.policy import CHILD_SAFETY_TYPES, rule_for
from shared.domain.reports import TEXT_MEDIA_TYPES

# The schema's limits (characters, as the database counts them).
MAX_LEGAL_GROUND_CHARS = 500
MAX_EXPLANATION_CHARS = 2_000
MAX_FACTS_CHARS = 5_000
MAX_OTHER_CHARS = 500
EARLIEST_CONTENT_DATE = date(2000, 1, 1)
PUID = re.compile(r"[A-Za-z0-9_-]{1,500}")

PROTECTION_OF_MINORS = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
SCAMS_AND_FRAUD = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
INTELLECTUAL_PROPERTY = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
DATA_PROTECTION = "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
OTHER_VIOLATION_OF_TERMS = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"

APP = "CONTENT_TYPE_APP"
AUDIO = "CONTENT_TYPE_AUDIO"
IMAGE = "CONTENT_TYPE_IMAGE"
TEXT = "CONTENT_TYPE_TEXT"
VIDEO = "CONTENT_TYPE_VIDEO"
OTHER = "CONTENT_TYPE_OTHER"

CHILD_SEXUAL_ABUSE_LEGAL_GROUND = (
    "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children and child pornography, "
    "Art. 5 (offences concerning child pornography), as transposed in every Member State; 18 U.S.C. 2252A."
)
ACCEPTABLE_USE_POLICY = "Acceptable Use Policy of the service: prohibited content and activities"

# Every country the schema accepts in `territorial_scope`: the EU and the EEA.
EEA_COUNTRIES = (
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT", "LI"),
    *("LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"),
)


@dataclass(frozen=True)
class CaseFacts:
    """What the statement needs to know of the case behind a decision (never the reports' text or who sent them)."""

    category: str  # XARF category, e.g. "content"
    types: frozenset[str]  # XARF types, e.g. {"phishing"}
    first_incident: str | None  # ISO 8601, the earliest incident time a reporter gave
    first_seen: str | None  # ISO 8601, when the earliest report was received
    trusted_flagger: bool  # any report came from a trusted-flagger tier
    notified: bool  # any report came from a notice (an outside reporter)
    content_types: frozenset[str] = frozenset()  # MIME types of the evidence


@dataclass(frozen=True)
class Classification:
    category: str
    keyword: str | None  # for `category_specification`
    content_type: str  # when no evidence says otherwise
    content_type_other: str | None = None  # the schema asks for it with CONTENT_TYPE_OTHER


_NETWORK_ACTIVITY = Classification(OTHER_VIOLATION_OF_TERMS, None, OTHER, "network traffic from a hosted resource")
_HOSTED_SYSTEM = Classification(OTHER_VIOLATION_OF_TERMS, None, OTHER, "hosted server or service")
_COPYRIGHT = Classification(INTELLECTUAL_PROPERTY, "KEYWORD_COPYRIGHT_INFRINGEMENT", OTHER, "copyrighted work")
_MESSAGES = Classification(OTHER_VIOLATION_OF_TERMS, None, TEXT)

# XARF type -> what the statement says of it. The order is the precedence among equally severe types.
TYPE_CLASSIFICATION: dict[str, Classification] = {
    "csam": Classification(PROTECTION_OF_MINORS, "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL", IMAGE),
    "csem": Classification(PROTECTION_OF_MINORS, "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL", IMAGE),
    "phishing": Classification(SCAMS_AND_FRAUD, "KEYWORD_PHISHING", TEXT),
    "fraud": Classification(SCAMS_AND_FRAUD, None, TEXT),
    "suspicious_registration": Classification(SCAMS_AND_FRAUD, None, TEXT),
    "exposed_data": Classification(DATA_PROTECTION, None, OTHER, "stored data files"),
    "brand_infringement": Classification(INTELLECTUAL_PROPERTY, "KEYWORD_TRADEMARK_INFRINGEMENT", TEXT),
    "copyright": _COPYRIGHT,
    "cyberlocker": _COPYRIGHT,
    "link_site": _COPYRIGHT,
    "p2p": _COPYRIGHT,
    "ugc_platform": _COPYRIGHT,
    "usenet": _COPYRIGHT,
    "malware": Classification(OTHER_VIOLATION_OF_TERMS, None, APP),
    "remote_compromise": Classification(OTHER_VIOLATION_OF_TERMS, None, APP),
    "botnet": _HOSTED_SYSTEM,
    "compromised_server": _HOSTED_SYSTEM,
    "ddos": _NETWORK_ACTIVITY,
    "infected_host": _NETWORK_ACTIVITY,
    "login_attack": _NETWORK_ACTIVITY,
    "port_scan": _NETWORK_ACTIVITY,
    "reconnaissance": _NETWORK_ACTIVITY,
    "scraping": _NETWORK_ACTIVITY,
    "sql_injection": _NETWORK_ACTIVITY,
    "vulnerability_scan": _NETWORK_ACTIVITY,
    "cve": _HOSTED_SYSTEM,
    "misconfiguration": _HOSTED_SYSTEM,
    "open_service": _HOSTED_SYSTEM,
    "spam": _MESSAGES,
    "bulk_messaging": _MESSAGES,
    "blocklist": _HOSTED_SYSTEM,
    "threat_intelligence": _HOSTED_SYSTEM,
}
UNKNOWN_TYPE = Classification(OTHER_VIOLATION_OF_TERMS, None, OTHER, "resource hosted on the service")

_EXECUTABLE_MEDIA_TYPES = frozenset(
    {
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/vnd.microsoft.portable-executable",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-binary",
        "application/x-msdownload",
    }
)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_TYPE_NAME = re.compile(r"[a-z0-9_]{1,40}")  # what of an unknown type's name we repeat to the owner


def statement_required(decision: Decision) -> bool:
    """A restriction owes its owner a statement of reasons; lifting one or doing nothing does not."""
    return decision.action is Action.RESTRICT


def statement_of_reasons(decision: Decision, case: CaseFacts) -> dict[str, object]:
    """The statement of reasons for a restriction, as a statement of the DSA Transparency Database."""
    if not statement_required(decision):
        raise ValueError(f"a {decision.action} decision owes no statement of reasons")
    reasons = (decision.statement or "").strip()
    if not reasons:
        raise ValueError("a restriction needs the analyst's statement of reasons")
    if not PUID.fullmatch(decision.decision_id):
        raise ValueError("the decision id does not fit the schema's puid")

    ordered = _by_precedence(case)
    leading = _classify(ordered[0]) if ordered else UNKNOWN_TYPE
    application_day = _utc_day(decision.decided_at)
    statement: dict[str, object] = {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
        "territorial_scope": list(EEA_COUNTRIES),
        **_ground(case, reasons),
        **_content_types(case, ordered),
        "category": leading.category,
        "content_date": _content_day(case, application_day).isoformat(),
        "application_date": application_day.isoformat(),
        "decision_facts": _shorten(reasons, MAX_FACTS_CHARS),
        "source_type": _source_type(case),
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": decision.decision_id,
    }
    additions = sorted({_classify(type_).category for type_ in ordered} - {leading.category})
    if additions:
        statement["category_addition"] = additions
    keywords = sorted({keyword for type_ in ordered if (keyword := _classify(type_).keyword)})
    if keywords:
        statement["category_specification"] = keywords
    return statement


def _classify(type_: str) -> Classification:
    return TYPE_CLASSIFICATION.get(type_, UNKNOWN_TYPE)


def _by_precedence(case: CaseFacts) -> list[str]:
    """The case's types, the one the statement leads with first: most severe by our policy, then the table's order
    (unknown types last, by name, so the same case always reads the same)."""
    known = list(TYPE_CLASSIFICATION)

    def precedence(type_: str) -> tuple[str, int, str]:
        rank = known.index(type_) if type_ in TYPE_CLASSIFICATION else len(known)
        return (rule_for(case.category, type_).severity, rank, type_)

    return sorted(case.types, key=precedence)


def _ground(case: CaseFacts, reasons: str) -> dict[str, object]:
    explanation = _shorten(reasons, MAX_EXPLANATION_CHARS)
    if any((case.category, type_) in CHILD_SAFETY_TYPES for type_ in case.types):
        return {
            "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
            "illegal_content_legal_ground": CHILD_SEXUAL_ABUSE_LEGAL_GROUND,
            "illegal_content_explanation": explanation,
        }
    named = [type_.replace("_", " ") for type_ in sorted(case.types) if _TYPE_NAME.fullmatch(type_)]
    ground = f"{ACCEPTABLE_USE_POLICY} ({', '.join(named)})" if named else ACCEPTABLE_USE_POLICY
    return {
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": _shorten(ground, MAX_LEGAL_GROUND_CHARS),
        "incompatible_content_explanation": explanation,
    }


def _content_types(case: CaseFacts, ordered: list[str]) -> dict[str, object]:
    """What the evidence is, or, without evidence types, what content of these types usually is."""
    kinds: set[str] = set()
    unnamed: set[str] = set()
    for declared in case.content_types:
        media_type = declared.split(";", 1)[0].strip().lower()
        kind = _kind_of(media_type)
        kinds.add(kind)
        if kind == OTHER:
            unnamed.add(media_type if _MEDIA_TYPE.fullmatch(media_type) else "unidentified file type")
    if not kinds:
        for classification in [_classify(type_) for type_ in ordered] or [UNKNOWN_TYPE]:
            kinds.add(classification.content_type)
            if classification.content_type_other:
                unnamed.add(classification.content_type_other)
    document: dict[str, object] = {"content_type": sorted(kinds)}
    if OTHER in kinds:
        document["content_type_other"] = _shorten(", ".join(sorted(unnamed)), MAX_OTHER_CHARS)
    return document


def _kind_of(media_type: str) -> str:
    major = media_type.partition("/")[0]
    if major == "image":
        return IMAGE
    if major == "video":
        return VIDEO
    if major == "audio":
        return AUDIO
    if major == "text" or media_type in TEXT_MEDIA_TYPES or media_type == "application/xhtml+xml":
        return TEXT
    if media_type in _EXECUTABLE_MEDIA_TYPES:
        return APP
    return OTHER


def _content_day(case: CaseFacts, application_day: date) -> date:
    for candidate in (case.first_incident, case.first_seen):
        day = _parse_day(candidate)
        if day is not None and EARLIEST_CONTENT_DATE <= day <= application_day:
            return day
    return application_day


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return _utc_day(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None  # a reporter's spelling we cannot read: the next candidate will do


def _utc_day(moment: datetime) -> date:
    # A time without an offset is taken as UTC, the only zone our timestamps are written in.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date()


def _source_type(case: CaseFacts) -> str:
    if case.trusted_flagger:
        return "SOURCE_TRUSTED_FLAGGER"
    if case.notified:
        return "SOURCE_ARTICLE_16"
    return "SOURCE_VOLUNTARY"


def _shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters: cut at a word where one is near, with an ellipsis so the cut shows."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "\u2026"
