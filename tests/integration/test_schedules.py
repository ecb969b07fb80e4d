"""`make run`'s stand-in for EventBridge schedules: the template's rate() events call their functions on time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.schedules import ScheduleCaller, period_from_environment, rate_seconds, scheduled_event, schedules
from local.template import TemplateError


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        self.calls.append((logical_id, event))
        if self.fail:
            raise RuntimeError("the function crashed")
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sweeper_is_scheduled_every_five_minutes_as_the_template_says(world):
    (schedule,) = schedules(world)
    assert (schedule.function, schedule.event, schedule.period_seconds) == ("SweeperFunction", "Sweep", 300.0)
    (faster,) = schedules(world, period_override=2.0)
    assert faster.period_seconds == 2.0


def test_a_schedule_fires_one_period_after_start_then_every_period_with_eventbridges_event(world):
    (schedule,) = schedules(world)
    clock, recorder = Clock(), Recorder()
    fired_at = datetime(2026, 3, 1, 10, 5, 0, 123000, tzinfo=UTC)
    caller = ScheduleCaller(
        schedule, recorder, lambda at: scheduled_event(world, schedule, at), clock=clock, wall_clock=lambda: fired_at
    )
    clock.now += 299
    caller.poll_once()
    assert recorder.calls == [] and caller.idle_seconds == pytest.approx(1.0)
    clock.now += 1
    caller.poll_once()
    ((function, event),) = recorder.calls
    assert function == "SweeperFunction"
    assert (event["detail-type"], event["source"], event["time"], event["detail"]) == (
        "Scheduled Event",
        "aws.events",
        "2026-03-01T10:05:00Z",
        {},
    )
    assert event["resources"][0].startswith(f"arn:aws:events:{world.region}:{world.account_id}:rule/")
    clock.now += 3 * 300 + 10  # a late wake-up fires once, not once per missed period
    caller.poll_once()
    assert len(recorder.calls) == 2 and caller.idle_seconds == pytest.approx(290.0)


def test_a_function_that_raises_is_logged_and_called_again_next_period(world):
    (schedule,) = schedules(world, period_override=1.0)
    clock, recorder = Clock(), Recorder(fail=True)
    caller = ScheduleCaller(schedule, recorder, lambda at: scheduled_event(world, schedule, at), clock=clock)
    for _ in range(3):
        clock.now += 1
        caller.poll_once()
    assert len(recorder.calls) == 3


def test_rates_and_the_period_variable_are_read_as_eventbridge_and_the_readme_say():
    assert (rate_seconds("rate(5 minutes)"), rate_seconds("rate(1 hour)"), rate_seconds("cron(0 12 * * ? *)")) == (
        300.0,
        3600.0,
        None,
    )
    with pytest.raises(TemplateError):
        rate_seconds("rate(5 minute)")
    assert period_from_environment({"LOCAL_SCHEDULE_SECONDS": "2.5"}) == 2.5
    assert period_from_environment({}) is None
    with pytest.raises(TemplateError):
        period_from_environment({"LOCAL_SCHEDULE_SECONDS": "-1"})
