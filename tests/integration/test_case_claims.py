"""Claims on the case item under moto: one conditional write decides who holds a case, whatever the order of asking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.cases_table import CaseTable
from shared.domain.cases import case_id_for
from shared.domain.casework import CaseClaimed, NoSuchCase, NotClaimHolder, claim
from tests.conftest import report_items, stream_event
from tests.integration.test_dispatch import (
    PARTNER_B,
    case,
    dispatch,
    partners,  # noqa: F401 - the fixture, used by name below
    submit,
)
from tests.samples import xarf

pytestmark = pytest.mark.usefixtures("partners")
URL = "https://login.example.net/account/verify"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def case_id(world) -> str:
    submit(xarf(url=URL), PARTNER_B)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    return case_id_for(URL, "content")


def table(world) -> CaseTable:
    return CaseTable(world.physical_name("ReportsTable"))


def test_the_first_analyst_holds_the_case_and_the_second_is_told_who_until_when(world, case_id):
    cases = table(world)
    cases.take_claim(case_id, claim(None, "ana", NOW), NOW)
    stored = case(world, case_id)
    assert stored["claimedBy"]["S"] == "ana" and stored["claimUntil"]["S"] == "2026-12-03T09:30:00.000Z"
    with pytest.raises(CaseClaimed) as refused:
        cases.take_claim(case_id, claim(None, "bo", NOW), NOW + timedelta(minutes=5))
    assert (refused.value.holder, refused.value.until) == ("ana", NOW + timedelta(minutes=30))
    assert case(world, case_id)["claimedBy"]["S"] == "ana", "the refused claim changed nothing"


def test_the_holder_renews_and_a_lapsed_claim_goes_to_whoever_asks(world, case_id):
    cases = table(world)
    cases.take_claim(case_id, claim(None, "ana", NOW), NOW)
    later = NOW + timedelta(minutes=25)
    cases.take_claim(case_id, claim(None, "ana", later), later)
    assert case(world, case_id)["claimUntil"]["S"] == "2026-12-03T09:55:00.000Z"
    lapsed = NOW + timedelta(minutes=55)
    cases.take_claim(case_id, claim(None, "bo", lapsed), lapsed)
    assert case(world, case_id)["claimedBy"]["S"] == "bo"


def test_only_the_holder_ends_a_claim_early_and_a_missing_case_is_not_found(world, case_id):
    cases = table(world)
    cases.take_claim(case_id, claim(None, "ana", NOW), NOW)
    with pytest.raises(NotClaimHolder):
        cases.end_claim(case_id, "bo", NOW)
    cases.end_claim(case_id, "ana", NOW)
    assert "claimedBy" not in case(world, case_id) and "claimUntil" not in case(world, case_id)
    cases.take_claim(case_id, claim(None, "bo", NOW), NOW)
    with pytest.raises(NoSuchCase):
        cases.take_claim("0" * 32, claim(None, "ana", NOW), NOW)
    with pytest.raises(NoSuchCase):
        cases.end_claim("0" * 32, "ana", NOW)
