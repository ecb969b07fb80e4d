"""The statement of reasons a restriction owes its owner: valid by the DSA Transparency Database's rules for every kind
of case we restrict, never carrying the internal note, and a validator that refuses each thing the database refuses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.domain.casework import Action, Decision
from shared.domain.reports import ReasonCode
from shared.domain.statements import CaseFacts, statement_of_reasons, statement_required
from tests.dsa_schema import problem_fields, problems

DECIDED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DECISION_ID = "01HZX3K8Q4W5E6R7T8Y9V0A1B2"  # a ULID
NOTE = "INTERNAL-ONLY: owner is a repeat offender, see ticket 4471"
ANALYST = "analyst-jdoe"
REASONS = "The page at this address imitates a bank's sign-in form to collect customers' passwords."


def restriction(statement: str = REASONS, **changes: Any) -> Decision:
    decision = Decision(
        decision_id=DECISION_ID,
        case_id="9f2c4e7a1b3d5f60718293a4b5c6d7e8",
        analyst=ANALYST,
        decided_at=DECIDED_AT,
        reason_code=ReasonCode.ACTIONED,
        action=Action.RESTRICT,
        statement=statement,
        note=NOTE,
    )
    return replace(decision, **changes)


def facts(category: str = "content", *types: str, **changes: Any) -> CaseFacts:
    case = CaseFacts(
        category=category,
        types=frozenset(types or {"phishing"}),
        first_incident="2026-02-27T18:00:00Z",
        first_seen="2026-02-28T07:12:00.000Z",
        trusted_flagger=False,
        notified=True,
    )
    return replace(case, **changes)


def text(document: dict[str, object], field: str) -> str:
    value = document[field]
    assert isinstance(value, str), f"{field} is a string"
    return value


def items(document: dict[str, object], field: str) -> list[str]:
    value = document[field]
    assert isinstance(value, list) and all(isinstance(item, str) for item in value), f"{field} is a list of strings"
    return value


REPRESENTATIVE_CASES = {
    "phishing, no evidence": facts("content", "phishing"),
    "phishing with a screenshot and the mail": facts(
        "content", "phishing", content_types=frozenset({"image/png", "message/rfc822"})
    ),
    "malware from a trusted flagger": facts("content", "malware", trusted_flagger=True),
    "malware binary as evidence": facts("content", "malware", content_types=frozenset({"application/x-msdownload"})),
    "csam with image evidence": facts("content", "csam", content_types=frozenset({"image/jpeg"})),
    "csem, no evidence": facts("content", "csem"),
    "copyright from a trusted flagger": facts(
        "copyright", "copyright", trusted_flagger=True, content_types=frozenset({"video/mp4"})
    ),
    "spam": facts("messaging", "spam", content_types=frozenset({"text/plain; charset=utf-8"})),
    "an unknown type": facts("content", "something_new"),
    "ddos from a host": facts("connection", "ddos", first_incident=None),
    "exposed data, a pdf": facts("content", "exposed_data", content_types=frozenset({"application/pdf"})),
    "phishing and malware at once": facts("content", "malware", "phishing"),
    "no notice at all": facts("content", "fraud", notified=False, first_incident=None, first_seen=None),
}


@pytest.mark.parametrize("case", REPRESENTATIVE_CASES.values(), ids=REPRESENTATIVE_CASES.keys())
def test_every_kind_of_restriction_gets_a_statement_the_database_accepts(case):
    assert problems(statement_of_reasons(restriction(), case)) == []


@pytest.mark.parametrize("case", REPRESENTATIVE_CASES.values(), ids=REPRESENTATIVE_CASES.keys())
def test_the_internal_note_and_the_analyst_never_reach_the_owner(case):
    document = json.dumps(statement_of_reasons(restriction(), case))
    assert "INTERNAL-ONLY" not in document and "4471" not in document
    assert ANALYST not in document


def test_only_a_restriction_owes_a_statement():
    assert statement_required(restriction())
    for action, reason in ((Action.RELEASE, ReasonCode.REVIEWED_NO_AWS_ACTION), (Action.NONE, ReasonCode.ACTIONED)):
        decision = restriction(action=action, reason_code=reason)
        assert not statement_required(decision)
        with pytest.raises(ValueError, match="owes no statement"):
            statement_of_reasons(decision, facts())


def test_a_restriction_without_reasons_or_with_an_unfit_id_is_refused_not_sent_half_made():
    with pytest.raises(ValueError, match="statement of reasons"):
        statement_of_reasons(restriction(statement="   "), facts())
    with pytest.raises(ValueError, match="puid"):
        statement_of_reasons(restriction(decision_id="case 42/decision 1"), facts())


def test_the_quarantine_is_disabled_access_everywhere_decided_by_a_person_on_the_decisions_id():
    document = statement_of_reasons(restriction(), facts())
    assert document["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert "decision_account" not in document and "decision_provision" not in document
    scope = items(document, "territorial_scope")
    assert len(scope) == 30 and {"DE", "IE", "NO", "IS", "LI"} <= set(scope), "the EU and the EEA"
    assert document["automated_detection"] == "No"
    assert document["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert document["puid"] == DECISION_ID
    assert document["decision_facts"] == REASONS


def test_child_sexual_abuse_material_is_restricted_as_illegal_content_under_the_law():
    document = statement_of_reasons(restriction(), facts("content", "csam"))
    assert document["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert "2011/93/EU" in text(document, "illegal_content_legal_ground")
    assert document["illegal_content_explanation"] == REASONS
    assert document["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert document["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert "incompatible_content_ground" not in document


@pytest.mark.parametrize(
    ("category", "type_", "dsa_category", "keywords"),
    [
        ("content", "phishing", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", ["KEYWORD_PHISHING"]),
        ("content", "fraud", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", None),
        ("content", "malware", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
        ("infrastructure", "botnet", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
        (
            "copyright",
            "p2p",
            "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
            ["KEYWORD_COPYRIGHT_INFRINGEMENT"],
        ),
        ("messaging", "spam", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
        ("content", "exposed_data", "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS", None),
        ("content", "something_new", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
    ],
)
def test_everything_but_child_abuse_is_restricted_under_the_acceptable_use_policy(
    category, type_, dsa_category, keywords
):
    document = statement_of_reasons(restriction(), facts(category, type_))
    assert document["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    ground = text(document, "incompatible_content_ground")
    assert ground.startswith("Acceptable Use Policy") and type_.replace("_", " ") in ground
    assert document["incompatible_content_explanation"] == REASONS
    assert document["category"] == dsa_category
    assert document.get("category_specification") == keywords
    assert "illegal_content_legal_ground" not in document


def test_a_case_of_several_types_leads_with_the_most_severe_and_keeps_the_others():
    document = statement_of_reasons(restriction(), facts("content", "exposed_data", "phishing"))
    assert document["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "phishing is P1, exposed data P2"
    assert document["category_addition"] == ["STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"]
    assert document["category_specification"] == ["KEYWORD_PHISHING"]


@pytest.mark.parametrize(
    ("declared", "content_type", "other"),
    [
        ({"image/png", "video/mp4"}, ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_VIDEO"], None),
        ({"audio/mpeg"}, ["CONTENT_TYPE_AUDIO"], None),
        ({"text/html; charset=utf-8", "application/xhtml+xml", "message/rfc822"}, ["CONTENT_TYPE_TEXT"], None),
        ({"application/vnd.android.package-archive"}, ["CONTENT_TYPE_APP"], None),
        ({"application/pdf", "image/gif"}, ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_OTHER"], "application/pdf"),
        ({"not a mime type"}, ["CONTENT_TYPE_OTHER"], "unidentified file type"),
    ],
)
def test_the_content_type_is_what_the_evidence_is(declared, content_type, other):
    document = statement_of_reasons(restriction(), facts("content", "phishing", content_types=frozenset(declared)))
    assert document["content_type"] == content_type
    assert document.get("content_type_other") == other


@pytest.mark.parametrize(
    ("category", "type_", "content_type"),
    [
        ("content", "phishing", ["CONTENT_TYPE_TEXT"]),
        ("content", "malware", ["CONTENT_TYPE_APP"]),
        ("content", "csam", ["CONTENT_TYPE_IMAGE"]),
        ("messaging", "spam", ["CONTENT_TYPE_TEXT"]),
        ("copyright", "copyright", ["CONTENT_TYPE_OTHER"]),
    ],
)
def test_without_evidence_types_the_content_type_is_what_such_content_usually_is(category, type_, content_type):
    document = statement_of_reasons(restriction(), facts(category, type_))
    assert document["content_type"] == content_type
    assert ("content_type_other" in document) == (content_type == ["CONTENT_TYPE_OTHER"])


def test_the_content_date_is_the_first_incident_then_the_first_report_then_the_decision():
    assert statement_of_reasons(restriction(), facts())["content_date"] == "2026-02-27"
    assert statement_of_reasons(restriction(), facts(first_incident=None))["content_date"] == "2026-02-28"
    unknown = facts(first_incident=None, first_seen=None)
    assert statement_of_reasons(restriction(), unknown)["content_date"] == "2026-03-02"
    document = statement_of_reasons(restriction(), facts())
    assert document["application_date"] == "2026-03-02"


@pytest.mark.parametrize(
    ("first_incident", "content_date"),
    [
        ("2026-02-27T23:30:00-05:00", "2026-02-28"),  # the UTC day, like every other date we write
        ("2026-02-20", "2026-02-20"),
        ("1999-12-31T10:00:00Z", "2026-02-28"),  # before the schema's earliest date: not believed
        ("2027-01-01T00:00:00Z", "2026-02-28"),  # after the decision: not believed
        ("last tuesday", "2026-02-28"),
    ],
)
def test_a_reporters_incident_time_is_read_in_utc_and_not_believed_when_impossible(first_incident, content_date):
    document = statement_of_reasons(restriction(), facts(first_incident=first_incident))
    assert document["content_date"] == content_date
    assert problems(document) == []


def test_the_application_date_is_the_decisions_day_in_utc():
    late_in_new_york = datetime(2026, 3, 2, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    document = statement_of_reasons(restriction(decided_at=late_in_new_york), facts())
    assert document["application_date"] == "2026-03-03"


@pytest.mark.parametrize(
    ("trusted_flagger", "notified", "source_type"),
    [
        (True, True, "SOURCE_TRUSTED_FLAGGER"),
        (False, True, "SOURCE_ARTICLE_16"),
        (False, False, "SOURCE_VOLUNTARY"),
    ],
)
def test_the_source_says_who_asked(trusted_flagger, notified, source_type):
    case = facts(trusted_flagger=trusted_flagger, notified=notified)
    assert statement_of_reasons(restriction(), case)["source_type"] == source_type


@pytest.mark.parametrize("type_", ["phishing", "csam"])
def test_a_long_statement_is_whole_in_the_facts_and_cut_visibly_in_the_explanation(type_):
    long_reasons = ("The content reproduces a sign-in page to take credentials. " * 90)[:5000]
    document = statement_of_reasons(restriction(statement=long_reasons), facts("content", type_))
    explanation_field = "illegal_content_explanation" if type_ == "csam" else "incompatible_content_explanation"
    explanation = text(document, explanation_field)
    assert document["decision_facts"] == long_reasons.strip()
    assert len(explanation) <= 2000 and explanation.endswith("\u2026")
    assert long_reasons.startswith(explanation[:-1])
    assert problems(document) == []


# --- the validator refuses what the database refuses -----------------------------------------------------------

VALID: dict[str, object] = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "illegal_content_legal_ground": "Directive 2011/93/EU, Art. 5",
    "illegal_content_explanation": "The image depicts the sexual abuse of a child.",
    "content_type": ["CONTENT_TYPE_IMAGE"],
    "category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "category_specification": ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"],
    "territorial_scope": ["DE", "FR"],
    "content_language": "EN",
    "content_date": "2025-11-30",
    "application_date": "2025-12-01",
    "end_date_visibility_restriction": "2026-12-01",
    "decision_facts": "Reported by a hotline; reviewed by an analyst.",
    "source_type": "SOURCE_TRUSTED_FLAGGER",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "puid": "01HZX3K8Q4W5E6R7T8Y9V0A1B2",
}
VALID_INCOMPATIBLE: dict[str, object] = {
    **{key: value for key, value in VALID.items() if not key.startswith("illegal_content")},
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "incompatible_content_ground": "Acceptable Use Policy, section 2",
    "incompatible_content_explanation": "The page imitates a bank's sign-in form.",
    "incompatible_content_illegal": "Yes",
}
ABSENT = object()


def mutated(base: dict[str, object], **changes: object) -> dict[str, object]:
    document = {**base, **changes}
    return {key: value for key, value in document.items() if value is not ABSENT}


def test_the_validators_own_examples_are_valid_including_at_the_limits():
    assert problems(VALID) == []
    assert problems(VALID_INCOMPATIBLE) == []
    at_the_limits = mutated(
        VALID,
        illegal_content_legal_ground="g" * 500,
        illegal_content_explanation="e" * 2000,
        decision_facts="f" * 5000,
        puid="A-_9" * 125,
        content_date="2000-01-01",
        application_date="2020-01-01",
        end_date_visibility_restriction="2020-01-01",
    )
    assert problems(at_the_limits) == []


REQUIRED = [
    "decision_ground",
    "content_type",
    "category",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_the_validator_refuses_a_statement_missing_a_required_field(field):
    assert problem_fields(problems(mutated(VALID, **{field: ABSENT}))) == {field}


@pytest.mark.parametrize("field", ["decision_facts", "puid", "category"])
def test_the_validator_takes_a_blank_field_for_a_missing_one(field):
    assert problem_fields(problems(mutated(VALID, **{field: "   "}))) == {field}


def test_the_validator_refuses_a_statement_that_restricts_nothing():
    assert problem_fields(problems(mutated(VALID, decision_visibility=ABSENT))) == {"decision_visibility"}
    assert problem_fields(problems(mutated(VALID, decision_visibility=[]))) == {"decision_visibility"}
    account_only = mutated(VALID, decision_visibility=ABSENT, decision_account="DECISION_ACCOUNT_SUSPENDED")
    assert problems(account_only) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("decision_visibility", ["DECISION_VISIBILITY_HIDDEN"]),
        ("decision_visibility", "DECISION_VISIBILITY_CONTENT_REMOVED"),  # a list, not one value
        ("decision_monetary", "DECISION_MONETARY_FINE"),
        ("decision_provision", "DECISION_PROVISION_SOMEWHAT"),
        ("decision_account", "DECISION_ACCOUNT_BANNED"),
        ("account_type", "ACCOUNT_TYPE_ROBOT"),
        ("decision_ground", "DECISION_GROUND_BAD_VIBES"),
        ("content_type", ["CONTENT_TYPE_HTML"]),
        ("content_type", []),
        ("category", "STATEMENT_CATEGORY_SPAM"),
        ("category", "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"),  # API v1, gone from v2
        ("category", "STATEMENT_CATEGORY_NOT_SPECIFIED_ORDER"),
        ("category_addition", ["STATEMENT_CATEGORY_SPAM"]),
        ("category_specification", ["KEYWORD_SPAM"]),
        ("territorial_scope", ["DE", "US"]),
        ("content_language", "english"),
        ("source_type", "SOURCE_HOTLINE"),
        ("automated_detection", "maybe"),
        ("automated_decision", "Yes"),  # API v1's value
        ("content_id", {"ISBN": "9780000000000"}),
        ("decision_ground_reference_url", "our terms"),
    ],
)
def test_the_validator_refuses_a_value_the_schema_does_not_allow(field, value):
    assert problem_fields(problems(mutated(VALID, **{field: value}))) == {field}


@pytest.mark.parametrize(
    ("base", "field", "limit"),
    [
        (VALID, "illegal_content_legal_ground", 500),
        (VALID, "illegal_content_explanation", 2000),
        (VALID_INCOMPATIBLE, "incompatible_content_ground", 500),
        (VALID_INCOMPATIBLE, "incompatible_content_explanation", 2000),
        (VALID, "decision_facts", 5000),
        (VALID, "puid", 500),
        (VALID, "source_identity", 500),
    ],
)
def test_the_validator_refuses_a_text_one_character_over_its_limit(base, field, limit):
    assert problem_fields(problems(mutated(base, **{field: "x" * (limit + 1)}))) == {field}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content_date", "2025-1-5"),
        ("content_date", "30/11/2025"),
        ("content_date", "2025-02-30"),
        ("content_date", "2025-11-30T10:00:00Z"),
        ("content_date", "1999-12-31"),
        ("application_date", "2019-12-31"),
        ("application_date", "2038-01-02"),
        ("end_date_visibility_restriction", "2025-11-30"),  # before the application date
    ],
)
def test_the_validator_refuses_a_bad_date(field, value):
    assert problem_fields(problems(mutated(VALID, **{field: value}))) == {field}


@pytest.mark.parametrize("puid", ["01HZX3K8Q4 W5E6", "case/42", "décision", "line\nbreak"])
def test_the_validator_refuses_a_puid_outside_its_alphabet(puid):
    assert problem_fields(problems(mutated(VALID, puid=puid))) == {"puid"}


@pytest.mark.parametrize(
    ("base", "changes", "refused"),
    [
        (VALID, {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
        (VALID, {"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other"),
        (VALID, {"content_type": ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_OTHER"]}, "content_type_other"),
        (VALID, {"illegal_content_legal_ground": ABSENT}, "illegal_content_legal_ground"),
        (VALID, {"illegal_content_explanation": ABSENT}, "illegal_content_explanation"),
        (VALID_INCOMPATIBLE, {"incompatible_content_ground": ABSENT}, "incompatible_content_ground"),
        (VALID_INCOMPATIBLE, {"incompatible_content_explanation": ABSENT}, "incompatible_content_explanation"),
        # and the other way round: a companion without what calls for it is dropped by the database
        (VALID, {"decision_visibility_other": "shadow-banned"}, "decision_visibility_other"),
        (VALID, {"content_type_other": "a file"}, "content_type_other"),
        (VALID, {"incompatible_content_ground": "Terms, section 2"}, "incompatible_content_ground"),
        (VALID_INCOMPATIBLE, {"illegal_content_legal_ground": "Criminal Code"}, "illegal_content_legal_ground"),
        (VALID, {"incompatible_content_illegal": "Yes"}, "incompatible_content_illegal"),
        (VALID, {"category_specification_other": "a keyword"}, "category_specification_other"),
    ],
)
def test_the_validator_refuses_a_companion_field_missing_or_out_of_place(base, changes, refused):
    assert problem_fields(problems(mutated(base, **changes))) == {refused}


def test_the_validator_accepts_the_other_values_with_their_companions():
    with_others = mutated(
        VALID,
        decision_visibility=["DECISION_VISIBILITY_OTHER"],
        decision_visibility_other="served with a warning page",
        decision_monetary="DECISION_MONETARY_OTHER",
        decision_monetary_other="payouts held",
        content_type=["CONTENT_TYPE_OTHER"],
        content_type_other="a virtual machine image",
        category_specification=["KEYWORD_OTHER"],
        category_specification_other="hosting abuse",
        content_id={"EAN-13": "0123456789123"},
    )
    assert problems(with_others) == []


def test_the_validator_refuses_a_field_the_schema_does_not_have():
    assert problem_fields(problems(mutated(VALID, note="internal"))) == {"note"}
    assert problem_fields(problems(mutated(VALID, analyst="jdoe"))) == {"analyst"}
