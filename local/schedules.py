"""Invoke the template's scheduled functions at their rate, as EventBridge does; moto has nothing that would.

One ``ScheduleCaller`` (a ``local.pollers.Poller``, so it starts and stops with the stream and queue pollers) per
``Schedule`` event of a function whose Schedule is ``rate(N minute|minutes|hour|hours|day|days)``. Like EventBridge it
first fires one period after it starts, then every period, with EventBridge's "Scheduled Event" shape (``time`` is
when it fired, to the second). ``cron(...)`` schedules and disabled events are logged and not run.

``LOCAL_SCHEDULE_SECONDS`` (a positive number) replaces every schedule's period, so a developer or a test need not
wait five minutes for a sweep. A function that raises is logged as Lambda would log it; the next firing is the retry
(the template's functions ask for no asynchronous retries).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.pollers import Invoker, Outcome, Poller
from local.template import FUNCTION_TYPES, TemplateError
from local.world import World

log = logging.getLogger(__name__)

PERIOD_VARIABLE = "LOCAL_SCHEDULE_SECONDS"
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    function: str
    event: str
    expression: str
    period_seconds: float


def rate_seconds(expression: str) -> float | None:
    """rate(5 minutes) -> 300; None for anything else (cron expressions are not run locally)."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return None
    value, unit = int(match.group(1)), match.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise TemplateError(f"{expression}: EventBridge wants rate(1 minute) or rate(N minutes), N > 1")
    return float(value * _UNIT_SECONDS[unit.removesuffix("s")])


def schedules(world: World, period_override: float | None = None) -> list[Schedule]:
    found = []
    for function in world.template.resources_of_type(*FUNCTION_TYPES):
        for name, event in (world.template.properties(function).get("Events") or {}).items():
            if event.get("Type") != "Schedule":
                continue
            props = world.resolve(event.get("Properties") or {})
            expression = str(props.get("Schedule", ""))
            if str(props.get("Enabled", True)).lower() == "false" or props.get("State") == "DISABLED":
                log.info("%s.%s: disabled; not scheduled", function, name)
                continue
            period = rate_seconds(expression)
            if period is None:
                log.warning("%s.%s: %s is not a rate(); not scheduled locally", function, name, expression)
                continue
            found.append(Schedule(function, name, expression, period_override or period))
    return found


def period_from_environment(environ: Mapping[str, str] = os.environ) -> float | None:
    text = environ.get(PERIOD_VARIABLE)
    if not text:
        return None
    try:
        period = float(text)
    except ValueError:
        period = 0.0
    if not period > 0:
        raise TemplateError(f"{PERIOD_VARIABLE}={text!r}: a positive number of seconds, please")
    return period


def scheduled_event(world: World, schedule: Schedule, fired: datetime) -> dict[str, Any]:
    """What EventBridge hands a function on a schedule."""
    rule = world.default_name(f"{schedule.function}{schedule.event}", max_length=64)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": world.account_id,
        "time": fired.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": world.region,
        "resources": [f"arn:aws:events:{world.region}:{world.account_id}:rule/{rule}"],
        "detail": {},
    }


class ScheduleCaller(Poller):
    """Calls one function every period; between calls the thread waits (stop() interrupts the wait)."""

    def __init__(
        self,
        schedule: Schedule,
        invoker: Invoker,
        event_for: Callable[[datetime], dict[str, Any]],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        shown = schedule.expression
        if rate_seconds(schedule.expression) != schedule.period_seconds:
            shown = f"every {schedule.period_seconds:g}s ({PERIOD_VARIABLE}; the template says {schedule.expression})"
        super().__init__(f"{schedule.function}.{schedule.event} {shown}", invoker)
        self.schedule = schedule
        self._event_for = event_for
        self._clock = clock
        self._wall_clock = wall_clock
        self._next = clock() + schedule.period_seconds
        self.fired = 0
        self.idle_seconds = schedule.period_seconds

    def poll_once(self) -> Outcome:
        now = self._clock()
        if now >= self._next:
            # A late wake-up (a long invocation) fires once, not once per missed period: EventBridge does not catch up.
            while self._next <= now:
                self._next += self.schedule.period_seconds
            self.fired += 1
            request_id = str(uuid.uuid4())
            try:
                self._invoker.invoke(self.schedule.function, self._event_for(self._wall_clock()), request_id=request_id)
            except (Exception, SystemExit):
                log.warning("%s raised (request %s)", self.schedule.function, request_id, exc_info=True)
        self.idle_seconds = max(0.01, self._next - self._clock())
        return Outcome.IDLE


def build_schedule_callers(world: World, invoker: Invoker) -> list[Poller]:
    """A caller for every rate() Schedule event of the template, ready to start with the pollers."""
    override = period_from_environment()
    return [
        ScheduleCaller(schedule, invoker, functools.partial(scheduled_event, world, schedule))
        for schedule in schedules(world, override)
    ]
