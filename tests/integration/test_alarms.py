"""local.alarms under moto: the template's queue-depth alarms, evaluated as CloudWatch would, page the on-call topic
with CloudWatch's message; the others are named as not evaluated."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from local.alarms import AlarmEvaluator, QueueDepthAlarm, describe_page, read_alarms
from local.world import World

AT = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def subscribed_queue(world: World) -> tuple[Any, str]:
    sqs, sns = world.client("sqs"), world.client("sns")
    url = sqs.create_queue(QueueName="test-pager")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=world.ref("OnCallTopic"), Protocol="sqs", Endpoint=arn)
    return sqs, url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def evaluator(world: World, alarms: list[QueueDepthAlarm]) -> AlarmEvaluator:
    return AlarmEvaluator(
        alarms,
        sqs=world.client("sqs"),
        sns=world.client("sns"),
        region=world.region,
        account_id=world.account_id,
        period_seconds=1,
        clock=lambda: AT,
    )


def test_the_dlq_depth_alarms_are_evaluated_and_every_other_alarm_is_named(world: World) -> None:
    alarms, skipped = read_alarms(world)
    assert {alarm.logical_id for alarm in alarms} == {
        "QuarantineDLQAlarm",
        "EscalationDLQAlarm",
        "DispatcherFailureQueueAlarm",
        "CompletionFailureQueueAlarm",
        "CyberTiplineDLQAlarm",
    }
    every = set(world.template.resources_of_type("AWS::CloudWatch::Alarm"))
    assert set(skipped) == every - {alarm.logical_id for alarm in alarms}
    assert "AWS/Lambda Errors" in skipped["IntakeErrorsAlarm"]
    quarantine = next(alarm for alarm in alarms if alarm.logical_id == "QuarantineDLQAlarm")
    assert quarantine.queue_url == world.queue_url("QuarantineDLQ")
    assert quarantine.actions["ALARM"] == quarantine.actions["OK"] == [world.ref("OnCallTopic")]


def test_a_message_on_the_dlq_publishes_cloudwatchs_alarm_message_and_the_drain_its_ok(world: World) -> None:
    sqs, pager = subscribed_queue(world)
    alarms, _ = read_alarms(world)
    quarantine = next(alarm for alarm in alarms if alarm.logical_id == "QuarantineDLQAlarm")
    worker = evaluator(world, [quarantine])

    worker.poll_once()  # empty: the first evaluation pages OK, as a freshly deployed alarm does
    (ok,) = received(sqs, pager)
    assert ok["Subject"] == 'OK: "abuse-intake-local-QuarantineDLQAlarm" in US East (N. Virginia)'
    assert json.loads(ok["Message"])["OldStateValue"] == "INSUFFICIENT_DATA"

    sqs.send_message(QueueUrl=world.queue_url("QuarantineDLQ"), MessageBody="{}")
    worker.poll_once()
    worker.poll_once()  # still in ALARM: no second page
    (page,) = received(sqs, pager)
    assert page["Subject"] == 'ALARM: "abuse-intake-local-QuarantineDLQAlarm" in US East (N. Virginia)'
    message = json.loads(page["Message"])
    assert message["AlarmName"] == "abuse-intake-local-QuarantineDLQAlarm"
    assert (
        message["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:abuse-intake-local-QuarantineDLQAlarm"
    )
    assert (message["OldStateValue"], message["NewStateValue"]) == ("OK", "ALARM")
    assert message["NewStateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (04/03/26 05:06:07)] was greater than or equal to "
        "the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert message["StateChangeTime"] == "2026-03-04T05:06:07.890+0000"
    assert message["Trigger"] == {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Namespace": "AWS/SQS",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "abuse-intake-local-QuarantineDLQ", "name": "QueueName"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 1.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }
    assert describe_page(json.dumps(page))[1].endswith("| alarm abuse-intake-local-QuarantineDLQAlarm, OK -> ALARM")

    sqs.purge_queue(QueueUrl=world.queue_url("QuarantineDLQ"))
    worker.poll_once()
    (back,) = received(sqs, pager)
    assert (json.loads(back["Message"])["OldStateValue"], json.loads(back["Message"])["NewStateValue"]) == (
        "ALARM",
        "OK",
    )


def test_datapoints_to_alarm_m_of_n_is_honoured(world: World) -> None:
    alarms, _ = read_alarms(world)
    base = next(alarm for alarm in alarms if alarm.logical_id == "QuarantineDLQAlarm")
    two_of_three = dataclasses.replace(base, evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data="missing")
    worker = evaluator(world, [two_of_three])
    assert [worker.evaluate(two_of_three, value) for value in (0, 5)] == ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA"]
    assert worker.evaluate(two_of_three, 0) == "OK", "three datapoints, one breaching"
    assert worker.evaluate(two_of_three, 3) == "ALARM", "5 and 3 of the last three"
    assert worker.evaluate(two_of_three, 0) == "OK", "3 alone of the last three"


def test_an_escalation_page_is_described_by_ids_only() -> None:
    notice = {
        "kind": "abuse-intake.escalation",
        "notificationId": "C1:P0",
        "caseId": "C1",
        "reportId": "R1",
        "severity": "P0",
        "draftKey": "ncmec/C1.xml",
    }
    level, line = describe_page(json.dumps({"Subject": "[P0] abuse-intake case C1", "Message": json.dumps(notice)}))
    assert line == "page: [P0] abuse-intake case C1 | severity P0, case C1, report R1, notification C1:P0"
    _, other = describe_page(json.dumps({"Subject": "hi", "Message": "secret text", "MessageId": "m-1"}))
    assert "secret" not in other and "m-1" in other
