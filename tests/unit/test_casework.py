"""Casework rules: visibility by group, due times and queue order, claims as leases, and what a decision may say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.domain.cases import CHILD_SAFETY_FAMILY
from shared.domain.casework import (
    ANALYSTS_GROUP,
    CHILD_SAFETY_GROUP,
    DEFAULT_SLA,
    OUTCOME_WORDS,
    Action,
    CaseClaimed,
    Claim,
    DecisionRequest,
    NotClaimHolder,
    claim,
    decide,
    due_at,
    give_up,
    may_see,
    queue_key,
    visible_families,
)
from shared.domain.policy import Severity
from shared.domain.reports import ReasonCode

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_child_safety_cases_are_for_the_child_safety_group_alone():
    assert may_see(CHILD_SAFETY_FAMILY, {CHILD_SAFETY_GROUP})
    assert not may_see(CHILD_SAFETY_FAMILY, {ANALYSTS_GROUP})
    assert not may_see(CHILD_SAFETY_FAMILY, {"evidence-custodians"})
    assert may_see("content", {ANALYSTS_GROUP}) and may_see("content", {CHILD_SAFETY_GROUP})
    assert not may_see("content", set()), "no group, no cases"
    families = {"content", "connection", CHILD_SAFETY_FAMILY}
    assert visible_families({ANALYSTS_GROUP}, families) == ["connection", "content"]
    assert CHILD_SAFETY_FAMILY in visible_families({CHILD_SAFETY_GROUP}, families)


def test_a_case_is_due_by_its_severity_and_the_defaults_are_the_issues():
    assert [DEFAULT_SLA[s] for s in Severity] == [timedelta(hours=h) for h in (1, 4, 24, 72)]
    assert due_at(Severity.P1, NOW) == NOW + timedelta(hours=4)
    assert due_at(Severity.P3, NOW, {**DEFAULT_SLA, Severity.P3: timedelta(hours=8)}) == NOW + timedelta(hours=8)


def test_the_queue_orders_by_severity_then_by_due_time():
    cases = [
        ("late P0", Severity.P0, NOW + timedelta(hours=2)),
        ("P2 due first of all", Severity.P2, NOW - timedelta(days=3)),
        ("early P0", Severity.P0, NOW - timedelta(minutes=5)),
        ("P1", Severity.P1, NOW),
    ]
    ordered = sorted(cases, key=lambda case: queue_key(case[1], case[2]))
    assert [name for name, _, _ in ordered] == ["early P0", "late P0", "P1", "P2 due first of all"]


def test_a_claim_is_a_lease_its_holder_renews_and_nobody_else_takes_while_it_holds():
    first = claim(None, "ana", NOW)
    assert first == Claim("ana", NOW + timedelta(minutes=30))
    renewed = claim(first, "ana", NOW + timedelta(minutes=20))
    assert renewed.until == NOW + timedelta(minutes=50)
    with pytest.raises(CaseClaimed) as refused:
        claim(renewed, "bo", NOW + timedelta(minutes=49))
    assert refused.value.status == 409 and refused.value.holder == "ana" and "ana" in refused.value.message
    taken = claim(renewed, "bo", NOW + timedelta(minutes=50))
    assert taken.analyst == "bo", "a lapsed claim is anyone's"


def test_only_the_holder_gives_a_claim_up_early():
    held = Claim("ana", NOW + timedelta(minutes=10))
    give_up(held, "ana", NOW)
    with pytest.raises(NotClaimHolder):
        give_up(held, "bo", NOW)
    give_up(held, "bo", NOW + timedelta(minutes=10))  # lapsed: nothing left to hold
    give_up(None, "bo", NOW)


@pytest.mark.parametrize("reason", list(ReasonCode))
def test_every_reason_code_of_the_abuse_signal_api_is_a_decision(reason):
    decision = DecisionRequest.model_validate({"reasonCode": reason.value})
    assert decision.reason_code is reason and decision.action is Action.NONE


def test_a_restriction_is_actioned_and_explained_to_the_owner():
    decision = DecisionRequest.model_validate(
        {"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "Phishing page imitating a bank."}
    )
    assert decision.action is Action.RESTRICT
    for body, words in [
        ({"reasonCode": "REVIEWED_NO_AWS_ACTION", "action": "RESTRICT", "statement": "x"}, "its reason is ACTIONED"),
        ({"reasonCode": "ACTIONED", "action": "RESTRICT"}, "statement of reasons"),
        ({"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "   "}, "statement of reasons"),
        ({"reasonCode": "ACTIONED", "action": "RELEASE"}, "cannot go with ACTIONED"),
    ]:
        with pytest.raises(ValidationError, match=words):
            DecisionRequest.model_validate(body)


def test_a_decision_takes_only_its_own_fields_and_known_values():
    for body in [
        {"reasonCode": "ACTIONED", "analyst": "someone else"},
        {"reasonCode": "DELETED"},
        {"reasonCode": "ACTIONED", "action": "DESTROY"},
        {"action": "NONE"},
        {"reasonCode": "ACTIONED", "note": "n" * 5_001},
    ]:
        with pytest.raises(ValidationError):
            DecisionRequest.model_validate(body)


def decision_request(**fields: str) -> DecisionRequest:
    return DecisionRequest.model_validate({"reasonCode": "ACTIONED", "action": "RESTRICT", "statement": "s", **fields})


def test_a_decision_follows_the_claim_rule_and_records_who_and_when():
    request = decision_request()
    free = decide("c" * 32, request, "ana", None, NOW, "D1")
    assert (free.analyst, free.decided_at, free.reason_code, free.action) == (
        "ana",
        NOW,
        ReasonCode.ACTIONED,
        Action.RESTRICT,
    )
    held = Claim("ana", NOW + timedelta(minutes=10))
    assert decide("c" * 32, request, "ana", held, NOW, "D2").decision_id == "D2"
    with pytest.raises(CaseClaimed):
        decide("c" * 32, request, "bo", held, NOW, "D3")
    assert decide("c" * 32, request, "bo", held, NOW + timedelta(minutes=10), "D4").analyst == "bo", "lapsed"


def test_only_a_standing_restriction_completes_later_reports_at_once():
    restrict = decide("c" * 32, decision_request(), "ana", None, NOW, "D1")
    assert restrict.stands_for_new_reports
    for body in [
        {"reasonCode": "REVIEWED_NO_AWS_ACTION"},
        {"reasonCode": "ACTIONED"},
        {"reasonCode": "REVIEWED_NO_AWS_ACTION", "action": "RELEASE"},
    ]:
        other = decide("c" * 32, DecisionRequest.model_validate(body), "ana", None, NOW, "D2")
        assert not other.stands_for_new_reports, body


def test_every_reason_has_words_for_the_reporter_and_they_say_nothing_of_the_case():
    assert set(OUTCOME_WORDS) == set(ReasonCode)
    for words in OUTCOME_WORDS.values():
        assert words.endswith(".") and "case" not in words.lower() and "http" not in words
