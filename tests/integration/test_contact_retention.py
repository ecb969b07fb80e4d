"""Reporters' contact details expire; their reports do not. Counted by the dispatcher, a report's contact moves to an
item of its own whose `expiresAt` is the table's TTL attribute, as the template deploys it."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
import pytest

from shared.config import settings
from tests.conftest import load_event, report_items, stream_event, table_items
from tests.integration.test_dispatch import PARTNER_A, dispatch, item, submit
from tests.samples import PARTNER, xarf


def received(report: dict) -> datetime:
    return datetime.fromisoformat(report["receivedAt"]["S"].replace("Z", "+00:00"))


def contacts(world) -> list[dict]:
    return [i for i in table_items(world) if i["entity"]["S"] == "contact"]


def test_a_counted_report_keeps_no_contact_and_its_contact_item_expires_after_13_months(world):
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=world.physical_name("ReportsTable"))
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"

    receipt = submit(xarf(reporter=dict(PARTNER)), PARTNER_A)
    (stored,) = report_items(world)
    assert stored["reporterContact"]["S"] == PARTNER["contact"], "until it is counted"
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []

    (report,) = report_items(world)
    assert report["status"]["S"] == "PROCESSING" and report["reportId"]["S"] == receipt["reportId"]
    assert not {"reporterOrg", "reporterContact", "reporterDomain"} & set(report), "the report keeps no contact"
    contact = item(world, report["PK"]["S"], "CONTACT")
    assert (contact["reporterContact"]["S"], contact["reporterOrg"]["S"]) == (PARTNER["contact"], PARTNER["org"])
    assert contact["reportId"]["S"] == receipt["reportId"]
    expires = datetime.fromtimestamp(int(contact["expiresAt"]["N"]), received(report).tzinfo)
    assert abs(expires - received(report) - timedelta(days=396)) < timedelta(seconds=1)  # epoch seconds


def test_the_retention_period_is_configurable(world, monkeypatch):
    monkeypatch.setenv("CONTACT_RETENTION_DAYS", "90")
    settings.cache_clear()
    submit(xarf(), PARTNER_A)
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    (report,) = report_items(world)
    (contact,) = contacts(world)
    expires = datetime.fromtimestamp(int(contact["expiresAt"]["N"]), received(report).tzinfo)
    assert abs(expires - received(report) - timedelta(days=90)) < timedelta(seconds=1)


@pytest.mark.parametrize("days", ["29", "3651", "a year"])
def test_a_retention_period_out_of_bounds_is_refused_at_start(world, monkeypatch, days):
    monkeypatch.setenv("CONTACT_RETENTION_DAYS", days)
    settings.cache_clear()
    with pytest.raises(ValueError, match="contact_retention_days"):
        settings()


def test_a_web_form_report_keeps_a_name_and_email_in_the_item_that_expires_and_an_anonymous_one_has_none(world):
    from tests.integration.test_webform_handler import invoke, with_fields

    named = with_fields(load_event("webform_submit.json"), name="Ada Reporter", email="ada@example.org")
    anonymous = with_fields(
        load_event("webform_submit.json"), name="", email="", nonce="3q2-7wAAAAAexampleNonceForSamLocalInvoke999"
    )
    assert invoke(named)[0] == 200 and invoke(anonymous)[0] == 200
    assert dispatch(stream_event(world, report_items(world))["Records"]) == []
    assert len(report_items(world)) == 2
    (contact,) = contacts(world)
    assert (contact["reporterOrg"]["S"], contact["reporterContact"]["S"]) == ("Ada Reporter", "ada@example.org")
    assert not any("reporterContact" in report for report in report_items(world))


def test_a_redelivered_batch_writes_the_same_contact_item_and_counts_once(world):
    submit(xarf(), PARTNER_A)
    records = stream_event(world, report_items(world))["Records"]
    assert dispatch(records) == [] and dispatch(records) == []
    (contact,) = contacts(world)
    (report,) = report_items(world)
    assert contact["PK"] == report["PK"] and "reporterContact" not in report
