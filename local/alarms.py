"""What on-call would be told, under `make run`: the template's queue-depth alarms evaluated, and every page logged.

Moto stores CloudWatch alarms but never evaluates them, and nothing records Lambda's metrics locally, so a failed
escalation would page nobody. Two workers of the local stack stand in, started with the pollers
(``on_call_workers``):

``AlarmEvaluator``: for every ``AWS::CloudWatch::Alarm`` of the template on an SQS queue-depth metric
(``ApproximateNumberOfMessages{Visible,NotVisible,Delayed}``, dimension ``QueueName``), reads the queue's attribute once
per emulated period (``LOCAL_ALARM_PERIOD_SECONDS``, default 5 s; the template's ``Period`` is what a deployed alarm
uses and what its messages say) and applies the alarm as written: Statistic (one sample per period, so Maximum,
Minimum, Average and Sum are that sample and SampleCount is 1), Threshold, ComparisonOperator, EvaluationPeriods,
DatapointsToAlarm and TreatMissingData. On a change of state it publishes to the state's actions (AlarmActions,
OKActions, InsufficientDataActions; SNS topics only) the message CloudWatch publishes: the JSON with AlarmName,
NewStateValue, NewStateReason, OldStateValue and Trigger, under the subject ``ALARM: "name" in <region>``. Like a
freshly deployed alarm it starts in INSUFFICIENT_DATA, so its first evaluation pages OK. Alarms on anything else
(Lambda's Errors or IteratorAge, the functions' own EMF metrics, metric math) are listed once at start-up as not
evaluated locally.

``PagePrinter``: a queue the template does not declare (``{stack}-LocalOnCallPager``), subscribed to the on-call
topic as a pager would be; each message is logged as one line (logger ``local.alarms``, prefix ``page:``): an
escalation's subject, severity, case and report ids; an alarm's subject, name and transition. Nothing else of a
message is printed: pages carry ids only, and a message of another shape is named by its message id.
"""

from __future__ import annotations

import json
import logging
import operator
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.pollers import Outcome, Poller
from local.world import World

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

log = logging.getLogger(__name__)

ON_CALL_TOPIC = "OnCallTopic"  # the template's logical id of the topic on-call subscribes to
PERIOD_ENV = "LOCAL_ALARM_PERIOD_SECONDS"
DEFAULT_PERIOD_SECONDS = 5.0
PAGER_QUEUE = "LocalOnCallPager"  # not in the template: the local stand-in for on-call's pager
_PAGER_WAIT_SECONDS = 1  # long poll; short so that stop() returns promptly

# CloudWatch's SQS metric -> the queue attribute that holds the same number.
_QUEUE_ATTRIBUTE_OF_METRIC = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
_STATISTICS = ("Maximum", "Minimum", "Average", "Sum", "SampleCount")
# ComparisonOperator -> (test of a datapoint against the threshold, CloudWatch's words for it in NewStateReason).
_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
# The region names CloudWatch writes into its messages (the code itself for any other region).
_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
_SUBJECT_MAX = 100  # SNS's limit on a subject


class _NoFunction:
    """The on-call workers run in the pollers' loop but feed no function."""

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        raise AssertionError("the on-call workers invoke no function")


# --- alarms --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepthAlarm:
    """One template alarm on an SQS queue-depth metric, resolved to physical names and ARNs."""

    logical_id: str
    name: str
    arn: str
    description: str | None
    metric: str
    queue_name: str
    queue_url: str
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    actions: Mapping[str, Sequence[str]]  # state -> topic ARNs (AlarmActions, OKActions, InsufficientDataActions)

    def breaches(self, value: float) -> bool:
        return _COMPARISONS[self.comparison][0](value, self.threshold)


def read_alarms(world: World) -> tuple[list[QueueDepthAlarm], dict[str, str]]:
    """The template's alarms that can be evaluated here, and why each other one cannot (logical id -> reason)."""
    queues = {resource.name: resource for resource in world.resources.values() if resource.type == "AWS::SQS::Queue"}
    evaluated: list[QueueDepthAlarm] = []
    skipped: dict[str, str] = {}
    for logical_id in world.template.resources_of_type("AWS::CloudWatch::Alarm"):
        if not world.is_active(logical_id):
            continue
        props = world.resolve(world.template.properties(logical_id))
        reason = _why_not_evaluated(props, queues)
        if reason:
            skipped[logical_id] = reason
            continue
        name = str(props.get("AlarmName") or world.physical_name(logical_id))
        (dimension,) = props["Dimensions"]
        queue = queues[str(dimension["Value"])]
        periods = int(props.get("EvaluationPeriods", 1))
        evaluated.append(
            QueueDepthAlarm(
                logical_id=logical_id,
                name=name,
                arn=f"arn:aws:cloudwatch:{world.region}:{world.account_id}:alarm:{name}",
                description=props.get("AlarmDescription"),
                metric=str(props["MetricName"]),
                queue_name=queue.name,
                queue_url=str(queue.ref),
                statistic=str(props["Statistic"]),
                period=int(props.get("Period", 60)),
                evaluation_periods=periods,
                datapoints_to_alarm=int(props.get("DatapointsToAlarm", periods)),
                threshold=float(props["Threshold"]),
                comparison=str(props["ComparisonOperator"]),
                treat_missing_data=str(props.get("TreatMissingData", "missing")),
                actions={
                    state: [str(arn) for arn in props.get(key) or [] if str(arn).startswith("arn:aws:sns:")]
                    for state, key in (
                        ("ALARM", "AlarmActions"),
                        ("OK", "OKActions"),
                        ("INSUFFICIENT_DATA", "InsufficientDataActions"),
                    )
                },
            )
        )
    return evaluated, skipped


def _why_not_evaluated(props: Mapping[str, Any], queues: Mapping[str, Any]) -> str | None:
    if "Metrics" in props or "MetricName" not in props:
        return "metric math"
    namespace, metric = props.get("Namespace"), props["MetricName"]
    if namespace != "AWS/SQS" or metric not in _QUEUE_ATTRIBUTE_OF_METRIC:
        return f"{namespace} {metric}: no local source for this metric"
    dimensions = props.get("Dimensions") or []
    if len(dimensions) != 1 or dimensions[0].get("Name") != "QueueName":
        return f"{namespace} {metric}: dimensions other than QueueName alone"
    if str(dimensions[0].get("Value")) not in queues:
        return f"queue {dimensions[0].get('Value')} is not one of the template's"
    if props.get("Statistic") not in _STATISTICS:
        return "extended statistics"
    if props.get("ComparisonOperator") not in _COMPARISONS:
        return f"ComparisonOperator {props.get('ComparisonOperator')}"
    return None


@dataclass
class _AlarmState:
    value: str = "INSUFFICIENT_DATA"
    datapoints: deque[tuple[float, datetime]] = field(default_factory=deque)


class AlarmEvaluator(Poller):
    """Evaluates every QueueDepthAlarm once per period and publishes CloudWatch's message on each change of state."""

    def __init__(
        self,
        alarms: Sequence[QueueDepthAlarm],
        *,
        sqs: SQSClient,
        sns: SNSClient,
        region: str,
        account_id: str,
        period_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__("alarms (queue depth)", _NoFunction())
        self.idle_seconds = period_seconds
        self.alarms = list(alarms)
        self.states = {alarm.logical_id: _AlarmState() for alarm in self.alarms}
        self._sqs, self._sns = sqs, sns
        self._region, self._account_id = region, account_id
        self._clock = clock
        self._configured_at = clock()

    def poll_once(self) -> Outcome:
        for alarm in self.alarms:
            self.evaluate(alarm, self._sample(alarm))
        return Outcome.IDLE

    def _sample(self, alarm: QueueDepthAlarm) -> float:
        attribute: Any = _QUEUE_ATTRIBUTE_OF_METRIC[alarm.metric]
        value = float(
            self._sqs.get_queue_attributes(QueueUrl=alarm.queue_url, AttributeNames=[attribute])["Attributes"][
                attribute
            ]
        )
        return 1.0 if alarm.statistic == "SampleCount" else value

    def evaluate(self, alarm: QueueDepthAlarm, value: float) -> str:
        """Add one period's datapoint; publish if the alarm changes state. Returns the state after."""
        state = self.states[alarm.logical_id]
        state.datapoints.append((value, self._clock()))
        while len(state.datapoints) > alarm.evaluation_periods:
            state.datapoints.popleft()
        breaching = [point for point in state.datapoints if alarm.breaches(point[0])]
        missing = alarm.evaluation_periods - len(state.datapoints)
        breaching_count = len(breaching) + (missing if alarm.treat_missing_data == "breaching" else 0)
        if breaching_count >= alarm.datapoints_to_alarm:
            new = "ALARM"
        elif missing and alarm.treat_missing_data in ("missing", "ignore"):
            new = state.value  # too few datapoints yet to decide, as CloudWatch waits for them
        else:
            new = "OK"
        if new != state.value:
            # Published first: if publishing fails, the state stays and the next period tries again.
            self._publish(alarm, state.value, new, list(state.datapoints))
            state.value = new
        return state.value

    def _publish(self, alarm: QueueDepthAlarm, old: str, new: str, datapoints: list[tuple[float, datetime]]) -> None:
        message = self.message(alarm, old, new, datapoints)
        subject = f'{new}: "{alarm.name}" in {message["Region"]}'[:_SUBJECT_MAX]
        topics = alarm.actions.get(new, ())
        log.info("alarm %s: %s -> %s; publishing to %d topic(s)", alarm.logical_id, old, new, len(topics))
        for topic in topics:
            self._sns.publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))

    def message(
        self, alarm: QueueDepthAlarm, old: str, new: str, datapoints: list[tuple[float, datetime]]
    ) -> dict[str, Any]:
        """The JSON CloudWatch publishes to an alarm's SNS actions on a change of state."""
        words = _COMPARISONS[alarm.comparison][1]
        matching = [p for p in reversed(datapoints) if alarm.breaches(p[0]) == (new == "ALARM")]
        listed = ", ".join(f"{value!r} ({at:%d/%m/%y %H:%M:%S})" for value, at in matching)
        plural = "" if alarm.datapoints_to_alarm == 1 else "s"
        transition = "OK -> ALARM" if new == "ALARM" else "ALARM -> OK"
        reason = (
            f"Threshold Crossed: {len(matching)} out of the last {len(datapoints)} datapoints [{listed}] was "
            f"{'' if new == 'ALARM' else 'not '}{words} the threshold ({alarm.threshold!r}) "
            f"(minimum {alarm.datapoints_to_alarm} datapoint{plural} for {transition} transition)."
        )
        return {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "AWSAccountId": self._account_id,
            "AlarmConfigurationUpdatedTimestamp": _cloudwatch_time(self._configured_at),
            "NewStateValue": new,
            "NewStateReason": reason,
            "StateChangeTime": _cloudwatch_time(self._clock()),
            "Region": _REGION_NAMES.get(self._region, self._region),
            "AlarmArn": alarm.arn,
            "OldStateValue": old,
            "OKActions": list(alarm.actions.get("OK", ())),
            "AlarmActions": list(alarm.actions.get("ALARM", ())),
            "InsufficientDataActions": list(alarm.actions.get("INSUFFICIENT_DATA", ())),
            "Trigger": {
                "MetricName": alarm.metric,
                "Namespace": "AWS/SQS",
                "StatisticType": "Statistic",
                "Statistic": alarm.statistic.upper(),
                "Unit": None,
                "Dimensions": [{"value": alarm.queue_name, "name": "QueueName"}],
                "Period": alarm.period,
                "EvaluationPeriods": alarm.evaluation_periods,
                "DatapointsToAlarm": alarm.datapoints_to_alarm,
                "ComparisonOperator": alarm.comparison,
                "Threshold": alarm.threshold,
                "TreatMissingData": alarm.treat_missing_data,
                "EvaluateLowSampleCountPercentile": "",
            },
        }


def _cloudwatch_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


# --- pages ---------------------------------------------------------------------------------------------------------


class PagePrinter(Poller):
    """A queue subscribed to the on-call topic; every page it receives becomes one log line, then is deleted."""

    idle_seconds = 0.05  # the long poll already waited

    def __init__(self, topic_arn: str, queue_name: str, *, sqs: SQSClient, sns: SNSClient) -> None:
        super().__init__("on-call pages", _NoFunction())
        self.topic_arn = topic_arn
        self.queue_name = queue_name
        self._sqs, self._sns = sqs, sns
        self.queue_url: str | None = None

    def subscribe(self) -> str:
        """Create the pager queue and subscribe it (both idempotent). Called before the alarms start, so their first
        pages are not missed; ``poll_once`` calls it if that failed."""
        url = self._sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # What SNS needs on AWS (moto does not check it): the topic may send to this queue.
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                }
            ],
        }
        self._sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self._sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
        log.info("on-call pages: %s subscribed to %s; each page is logged here", self.queue_name, self.topic_arn)
        return url

    def poll_once(self) -> Outcome:
        if self.queue_url is None:
            self.queue_url = self.subscribe()
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=_PAGER_WAIT_SECONDS
        ).get("Messages", [])
        for message in messages:
            level, line = describe_page(message.get("Body", ""))
            log.log(level, "%s", line)
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return Outcome.DELIVERED if messages else Outcome.IDLE


def describe_page(body: str) -> tuple[int, str]:
    """One log line (and its level) for an SNS notification as SQS delivers it: ids, states and severities only."""
    envelope = _json_object(body)
    subject = str(envelope.get("Subject") or "(no subject)")[:_SUBJECT_MAX]
    message = _json_object(str(envelope.get("Message") or ""))
    if message.get("kind") == "abuse-intake.escalation":
        return logging.WARNING, (
            f"page: {subject} | severity {message.get('severity')}, case {message.get('caseId')}, "
            f"report {message.get('reportId')}, notification {message.get('notificationId')}"
        )
    if "AlarmName" in message and "NewStateValue" in message:
        new = message["NewStateValue"]
        return logging.WARNING if new == "ALARM" else logging.INFO, (
            f"page: {subject} | alarm {message['AlarmName']}, {message.get('OldStateValue')} -> {new}"
        )
    return logging.INFO, f"page: {subject} | a message of another shape ({envelope.get('MessageId')}), not shown"


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- wiring --------------------------------------------------------------------------------------------------------


def on_call_workers(world: World, *, period_seconds: float | None = None) -> list[Poller]:
    """The alarm evaluator and the page printer for the world's template, ready to start with the pollers."""
    sqs: SQSClient = world.client("sqs")
    sns: SNSClient = world.client("sns")
    workers: list[Poller] = []
    if ON_CALL_TOPIC in world.resources:
        printer = PagePrinter(
            str(world.ref(ON_CALL_TOPIC)), world.default_name(PAGER_QUEUE, max_length=80), sqs=sqs, sns=sns
        )
        printer.queue_url = printer.subscribe()
        workers.append(printer)
    alarms, skipped = read_alarms(world)
    for logical_id, reason in skipped.items():
        log.info("alarm %s: not evaluated locally (%s)", logical_id, reason)
    if alarms:
        period = float(os.environ.get(PERIOD_ENV, DEFAULT_PERIOD_SECONDS)) if period_seconds is None else period_seconds
        names = ", ".join(alarm.logical_id for alarm in alarms)
        log.info("alarms evaluated locally every %gs (the emulated metric period): %s", period, names)
        workers.append(
            AlarmEvaluator(
                alarms, sqs=sqs, sns=sns, region=world.region, account_id=world.account_id, period_seconds=period
            )
        )
    return workers
