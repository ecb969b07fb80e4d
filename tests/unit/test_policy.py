"""The severity policy: type, reporter trust and corroboration in; severity, restriction and escalation out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.callers import TrustTier
from shared.domain.policy import CHILD_SAFETY_TYPES, CORROBORATION_REPORTERS, Severity, decide, rule_for
from shared.domain.xarf_vocabulary import TYPES

ALL_TYPES = sorted((category, type_) for category, types in TYPES.items() for type_ in types)
OTHER_TYPES = [pair for pair in ALL_TYPES if pair not in CHILD_SAFETY_TYPES]
tiers = st.sampled_from(list(TrustTier))
counts = st.integers(min_value=0, max_value=10_000)


@given(st.sampled_from(sorted(CHILD_SAFETY_TYPES)), tiers, counts)
def test_child_safety_is_p0_preserved_restricted_and_escalated_whoever_reports_it(pair, tier, reporters):
    decision = decide(*pair, tier, reporters)
    assert decision.severity == Severity.P0
    assert decision.preserve and decision.restrict_now and decision.escalate and decision.child_safety


@given(st.sampled_from(OTHER_TYPES), tiers, counts)
def test_nothing_else_is_ever_p0(pair, tier, reporters):
    decision = decide(*pair, tier, reporters)
    assert decision.severity != Severity.P0 and not decision.child_safety


@given(st.sampled_from(OTHER_TYPES), st.sampled_from([TrustTier.PUBLIC, TrustTier.AUTHENTICATED]), counts)
def test_one_public_report_never_restricts_anyones_content_except_child_safety(pair, tier, reporters):
    assert not decide(*pair, tier, reporters).restrict_now


@given(st.sampled_from(ALL_TYPES), tiers, tiers, counts)
def test_more_trust_never_does_less(pair, lower, higher, reporters):
    if lower > higher:
        lower, higher = higher, lower
    less, more = decide(*pair, lower, reporters), decide(*pair, higher, reporters)
    assert more.escalate >= less.escalate
    assert more.restrict_now >= less.restrict_now
    assert more.severity <= less.severity


@given(st.sampled_from(ALL_TYPES), tiers, counts, counts)
def test_more_corroboration_never_lowers_severity(pair, tier, fewer, more):
    if fewer > more:
        fewer, more = more, fewer
    assert decide(*pair, tier, more).severity <= decide(*pair, tier, fewer).severity


@pytest.mark.parametrize(
    ("pair", "alone", "corroborated"),
    [
        (("connection", "port_scan"), Severity.P2, Severity.P1),
        (("messaging", "spam"), Severity.P3, Severity.P2),
        (("content", "phishing"), Severity.P1, Severity.P1),  # P1 is as high as corroboration goes
    ],
)
def test_five_distinct_reporters_raise_severity_one_level(pair, alone, corroborated):
    assert decide(*pair, TrustTier.PARTNER, CORROBORATION_REPORTERS - 1).severity == alone
    assert decide(*pair, TrustTier.PARTNER, CORROBORATION_REPORTERS).severity == corroborated


def test_trusted_flaggers_take_phishing_down_partners_escalate_the_public_waits():
    trusted = decide("content", "phishing", TrustTier.TRUSTED_FLAGGER)
    partner = decide("content", "phishing", TrustTier.PARTNER)
    public = decide("content", "phishing", TrustTier.PUBLIC)
    assert (trusted.restrict_now, trusted.escalate) == (True, True)
    assert (partner.restrict_now, partner.escalate) == (False, True)
    assert (public.restrict_now, public.escalate) == (False, False)
    assert trusted.severity == partner.severity == public.severity == Severity.P1


@given(st.sampled_from([pair for pair in ALL_TYPES if pair[0] == "copyright"]), tiers, counts)
def test_copyright_notices_go_through_analysts_never_automatic_action(pair, tier, reporters):
    decision = decide(*pair, tier, reporters)
    assert not decision.restrict_now and not decision.escalate


@pytest.mark.parametrize("pair", ALL_TYPES)
def test_every_xarf_type_has_a_rule_and_everything_is_preserved(pair):
    assert rule_for(*pair) is not None
    assert decide(*pair, TrustTier.PUBLIC).preserve
