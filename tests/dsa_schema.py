"""The DSA Transparency Database's rules for one statement of reasons, to check our documents against.

Written from the database's documentation and validation rules, not from our mapping, so a test that passes says the
database would take the document: github digital-services-act/transparency-database, StatementStoreRequest and
StatementsStoreRequest (the field rules), app/Models/Statement.php (the value lists) and
resources/markdown/api-documentation-two.md (the API v2 schema in force since 1 July 2025: its 16 categories and its
keywords; the puid's alphabet). The value lists are copied here on purpose, not imported from the code under test.

Two places are stricter than the database, where it would accept a document that is not what we mean to send:
- A companion given without the value that calls for it (a legal ground on an incompatibility decision,
  `decision_visibility_other` without DECISION_VISIBILITY_OTHER, ...): the database silently drops it
  (`exclude_unless`); we report it, since the owner would read a reason the database never records.
- `content_language` is checked for its shape (two capital letters, ISO 639-1) rather than against the full list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

DECISION_VISIBILITIES = frozenset(
    {
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    }
)
DECISION_MONETARIES = frozenset(
    {"DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"}
)
DECISION_PROVISIONS = frozenset(
    {
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    }
)
DECISION_ACCOUNTS = frozenset({"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"})
ACCOUNT_TYPES = frozenset({"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"})
DECISION_GROUNDS = frozenset({"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"})
YES_NO = frozenset({"Yes", "No"})
CONTENT_TYPES = frozenset(
    {
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    }
)
# API v2 (api-documentation-two.md). STATEMENT_CATEGORY_NOT_SPECIFIED_ORDER, which some clients carry as a 17th, is
# not among them: it is for orders under Art. 9, which Art. 17 statements do not cover.
CATEGORIES = frozenset(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    }
)
KEYWORDS = frozenset(
    {
        "KEYWORD_ANIMAL_HARM",
        "KEYWORD_ADULT_SEXUAL_MATERIAL",
        "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
        "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
        "KEYWORD_BIOMETRIC_DATA_BREACH",
        "KEYWORD_BULLYING_AGAINST_GIRLS",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
        "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
        "KEYWORD_COORDINATED_HARM",
        "KEYWORD_COPYRIGHT_INFRINGEMENT",
        "KEYWORD_CYBER_BULLYING_INTIMIDATION",
        "KEYWORD_CYBER_HARASSMENT",
        "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
        "KEYWORD_CYBER_INCITEMENT",
        "KEYWORD_CYBER_STALKING",
        "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
        "KEYWORD_DATA_FALSIFICATION",
        "KEYWORD_DEFAMATION",
        "KEYWORD_DESIGN_INFRINGEMENT",
        "KEYWORD_DISCRIMINATION",
        "KEYWORD_MISINFORMATION_DISINFORMATION",
        "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
        "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
        "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
        "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
        "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
        "KEYWORD_HATE_SPEECH",
        "KEYWORD_HIDDEN_ADVERTISEMENT",
        "KEYWORD_HUMAN_EXPLOITATION",
        "KEYWORD_HUMAN_TRAFFICKING",
        "KEYWORD_ILLEGAL_ORGANIZATIONS",
        "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
        "KEYWORD_INAUTHENTIC_ACCOUNTS",
        "KEYWORD_INAUTHENTIC_LISTINGS",
        "KEYWORD_INAUTHENTIC_USER_REVIEWS",
        "KEYWORD_INCITEMENT_AGAINST_WOMEN",
        "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
        "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
        "KEYWORD_LANGUAGE_REQUIREMENTS",
        "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
        "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
        "KEYWORD_MISSING_PROCESSING_GROUND",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
        "KEYWORD_NONCOMPLIANCE_PRICING",
        "KEYWORD_NUDITY",
        "KEYWORD_PATENT_INFRINGEMENT",
        "KEYWORD_PHISHING",
        "KEYWORD_PROHIBITED_PRODUCTS",
        "KEYWORD_PYRAMID_SCHEMES",
        "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
        "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
        "KEYWORD_RISK_PUBLIC_HEALTH",
        "KEYWORD_SELF_MUTILATION",
        "KEYWORD_STALKING",
        "KEYWORD_SUICIDE",
        "KEYWORD_TERRORIST_CONTENT",
        "KEYWORD_TRADE_SECRET_INFRINGEMENT",
        "KEYWORD_TRADEMARK_INFRINGEMENT",
        "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
        "KEYWORD_UNLAWFUL_SALE_ANIMALS",
        "KEYWORD_UNSAFE_CHALLENGES",
        "KEYWORD_UNSAFE_PRODUCTS",
        "KEYWORD_VIOLATION_EU_LAW",
        "KEYWORD_VIOLATION_NATIONAL_LAW",
        "KEYWORD_OTHER",
    }
)
SOURCE_TYPES = frozenset(
    {"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION", "SOURCE_VOLUNTARY"}
)
AUTOMATED_DECISIONS = frozenset(
    {"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"}
)
COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT", "LI"),
        *("LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)

RESTRICTIONS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
END_DATES = (
    "end_date_account_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_visibility_restriction",
)
FIELDS = frozenset(
    {
        *RESTRICTIONS,
        *END_DATES,
        "decision_visibility_other",
        "decision_monetary_other",
        "account_type",
        "decision_ground",
        "decision_ground_reference_url",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "incompatible_content_illegal",
        "content_type",
        "content_type_other",
        "category",
        "category_addition",
        "category_specification",
        "category_specification_other",
        "content_id",
        "territorial_scope",
        "content_language",
        "content_date",
        "application_date",
        "decision_facts",
        "source_type",
        "source_identity",
        "automated_detection",
        "automated_decision",
        "puid",
    }
)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # Y-m-d with leading zeroes
_PUID = re.compile(r"[A-Za-z0-9_-]+")
_LANGUAGE = re.compile(r"[A-Z]{2}")
_EAN_13 = re.compile(r"\d{13}")
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*")
_LATEST_DAY = date(2038, 1, 1)
MAX_OTHER = 500  # every `*_other` companion


def problems(statement: Mapping[str, object]) -> list[str]:
    """What the database would refuse in `statement` (and what it would silently drop), one "field: why" each.
    Empty when the statement is valid."""
    found: list[str] = [f"{name}: not a field of the schema" for name in sorted(set(statement) - FIELDS)]
    check = _Checker(statement, found)

    if not any(check.present(name) for name in RESTRICTIONS):
        found.append(f"{RESTRICTIONS[0]}: at least one of {', '.join(RESTRICTIONS)} is required")
    visibility = check.values("decision_visibility", DECISION_VISIBILITIES)
    check.companion("decision_visibility_other", "DECISION_VISIBILITY_OTHER" in visibility, MAX_OTHER)
    monetary = check.value("decision_monetary", DECISION_MONETARIES)
    check.companion("decision_monetary_other", monetary == "DECISION_MONETARY_OTHER", MAX_OTHER)
    check.value("decision_provision", DECISION_PROVISIONS)
    check.value("decision_account", DECISION_ACCOUNTS)
    check.value("account_type", ACCOUNT_TYPES)

    ground = check.value("decision_ground", DECISION_GROUNDS, required=True)
    if ground is not None:  # without a valid ground, which companions belong is not known
        illegal = ground == "DECISION_GROUND_ILLEGAL_CONTENT"
        check.companion("illegal_content_legal_ground", illegal, 500)
        check.companion("illegal_content_explanation", illegal, 2000)
        check.companion("incompatible_content_ground", not illegal, 500)
        check.companion("incompatible_content_explanation", not illegal, 2000)
        if check.present("incompatible_content_illegal"):
            check.value("incompatible_content_illegal", YES_NO)
            if illegal:
                found.append("incompatible_content_illegal: only with DECISION_GROUND_INCOMPATIBLE_CONTENT")
    reference = check.text("decision_ground_reference_url", 500)
    if reference is not None and not _URL.fullmatch(reference):
        found.append("decision_ground_reference_url: not a URL")

    content_types = check.values("content_type", CONTENT_TYPES, required=True)
    check.companion("content_type_other", "CONTENT_TYPE_OTHER" in content_types, MAX_OTHER)
    check.value("category", CATEGORIES, required=True)
    check.values("category_addition", CATEGORIES)
    keywords = check.values("category_specification", KEYWORDS)
    if check.present("category_specification_other"):
        check.text("category_specification_other", MAX_OTHER)
        if "KEYWORD_OTHER" not in keywords:
            found.append("category_specification_other: only with KEYWORD_OTHER in category_specification")
    check.values("territorial_scope", COUNTRIES)
    language = check.text("content_language", 2)
    if language is not None and not _LANGUAGE.fullmatch(language):
        found.append("content_language: not an upper-case ISO 639-1 code")
    _check_content_id(statement, found)

    check.day("content_date", date(2000, 1, 1), required=True)
    applied = check.day("application_date", date(2020, 1, 1), required=True)
    for name in END_DATES:
        check.day(name, applied or date(2020, 1, 1))  # an end is on or after the application date

    check.text("decision_facts", 5000, required=True)
    check.value("source_type", SOURCE_TYPES, required=True)
    check.text("source_identity", 500)
    check.value("automated_detection", YES_NO, required=True)
    check.value("automated_decision", AUTOMATED_DECISIONS, required=True)
    puid = check.text("puid", 500, required=True)
    if puid is not None and not _PUID.fullmatch(puid):
        found.append("puid: only letters, digits, '-' and '_' are allowed")
    return found


def problem_fields(found: Sequence[str]) -> set[str]:
    """The fields `problems` named."""
    return {problem.split(":", 1)[0] for problem in found}


class _Checker:
    """One rule per method; each records what is wrong with a field and hands back the value it read, if any."""

    def __init__(self, statement: Mapping[str, object], found: list[str]) -> None:
        self.statement = statement
        self.found = found

    def present(self, name: str) -> bool:
        # The database trims strings and turns empty ones into null: blank is absent.
        value = self.statement.get(name)
        if isinstance(value, str):
            return bool(value.strip())
        if isinstance(value, list | tuple):
            return bool(value)
        return value is not None

    def text(self, name: str, limit: int, required: bool = False) -> str | None:
        if not self.present(name):
            if required:
                self.found.append(f"{name}: required")
            return None
        value = self.statement[name]
        if not isinstance(value, str):
            self.found.append(f"{name}: must be a string")
            return None
        if len(value) > limit:
            self.found.append(f"{name}: longer than {limit} characters ({len(value)})")
        return value

    def value(self, name: str, allowed: frozenset[str], required: bool = False) -> str | None:
        value = self.text(name, 500, required)
        if value is not None and value not in allowed:
            self.found.append(f"{name}: {value!r} is not an allowed value")
            return None
        return value

    def values(self, name: str, allowed: frozenset[str], required: bool = False) -> set[str]:
        if not self.present(name):
            if required:
                self.found.append(f"{name}: required (a non-empty list)")
            return set()
        value = self.statement[name]
        if not isinstance(value, list | tuple):
            self.found.append(f"{name}: must be a list")
            return set()
        unknown = [item for item in value if not isinstance(item, str) or item not in allowed]
        if unknown:
            self.found.append(f"{name}: {unknown!r} not allowed")
        return {item for item in value if isinstance(item, str) and item in allowed}

    def companion(self, name: str, called_for: bool, limit: int) -> None:
        """A field the schema requires exactly when another field has a certain value."""
        if called_for:
            self.text(name, limit, required=True)
        elif self.present(name):
            self.found.append(f"{name}: given without the value that calls for it (the database drops it)")

    def day(self, name: str, earliest: date, required: bool = False) -> date | None:
        value = self.text(name, 10, required)
        if value is None:
            return None
        if not _DAY.fullmatch(value):
            self.found.append(f"{name}: not YYYY-MM-DD")
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.found.append(f"{name}: not a date")
            return None
        if not earliest <= day <= _LATEST_DAY:
            self.found.append(f"{name}: outside {earliest.isoformat()} .. {_LATEST_DAY.isoformat()}")
            return None
        return day


def _check_content_id(statement: Mapping[str, object], found: list[str]) -> None:
    content_id = statement.get("content_id")
    if content_id is None:
        return
    if not isinstance(content_id, Mapping) or set(content_id) != {"EAN-13"}:
        found.append("content_id: only {'EAN-13': <13 digits>} is accepted")
    elif not (isinstance(content_id["EAN-13"], str) and _EAN_13.fullmatch(content_id["EAN-13"])):
        found.append("content_id: an EAN-13 is 13 digits")
