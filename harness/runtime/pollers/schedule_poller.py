"""Schedules: ``rate(...)``/``cron(...)`` timers that invoke the function asynchronously.

``fire()`` (POST /_harness/runtime/schedules/<name>/fire[?stack=S]) sends one scheduled event
now; :func:`schedule_names` says which names a schedule answers to.
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness.runtime.events import scheduled_event, scheduler_input
from harness.runtime.pollers.poller import Poller
from harness.runtime.schedule import parse_schedule

__all__ = ["AmbiguousSchedule", "SchedulePoller", "schedule_names"]


class AmbiguousSchedule(Exception):
    """A schedule name that more than one deployed stack has: the caller must name the stack."""

    def __init__(self, name: str, stacks: list[str]) -> None:
        self.name = name
        self.stacks = stacks
        super().__init__(
            f"schedule {name!r} is in several stacks ({', '.join(stacks)}); "
            "name the stack (?stack=NAME)"
        )


def schedule_names(source_name: str, function: str, arn: str | None) -> set[str]:
    """Every name a schedule is fired by: its event source name (``Rule:TargetId`` or the
    schedule's logical id) and that logical id, its function, and its ``Name`` as AWS knows
    it: the last part of ``arn:aws:events:...:rule/NAME`` or
    ``arn:aws:scheduler:...:schedule/GROUP/NAME``."""
    names = {source_name, source_name.split(":", 1)[0], function}
    if arn:
        resource = arn.split(":", 5)[-1]
        names.add(resource.rsplit("/", 1)[-1])
    return {n for n in names if n}


class SchedulePoller(Poller):
    kind = "schedule"

    def event_source(self) -> str:
        return "aws.events"

    def setup(self) -> None:
        self.expression = parse_schedule(self.source.schedule or "")
        self.started = time.time()
        self.next_at = self.expression.next_after(self.started, self.started)
        self.fired = 0

    @property
    def rule_arn(self) -> str:
        if self.source.source_arn:
            return self.source.source_arn
        return f"arn:aws:events:{self.aws.region}:{self.aws.account}:rule/{self.name}"

    def fire(self, when: float | None = None) -> str:
        self._ensure_setup()
        if self.source.input is not None:
            text = self.source.input
            if self.rule_arn.startswith("arn:aws:scheduler:"):
                text = scheduler_input(text, self.rule_arn, when or time.time())
            event: Any = json.loads(text)
        else:
            event = scheduled_event(
                self.rule_arn, self.aws.account, self.aws.region, when or time.time()
            )
        self.metrics.batch(1, None, time.time())
        self.fired += 1
        return self.invoke_async(event)

    def poll_events(self) -> bool:
        remaining = self.next_at - time.time()
        if remaining > 0:
            self._stop.wait(min(remaining, 1.0))
            return True
        self.fire(self.next_at)
        self.next_at = self.expression.next_after(time.time(), self.started)
        return True

    def extra_metrics(self) -> dict[str, Any]:
        return {
            "schedule": self.source.schedule,
            "next_fire_at": getattr(self, "next_at", None),
            "fired": getattr(self, "fired", 0),
        }
