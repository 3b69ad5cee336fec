"""Live alarm states: evaluate every alarm of the deployed stacks over the recorded metrics.

:class:`AlarmMonitor` is driven by :meth:`AlarmMonitor.tick` (the AWS edge calls it once a
second). A metric alarm is evaluated once per period, when a period has closed and ``lag``
seconds have passed (the recorders write a second about one second after it ends), over the
evaluation range of :mod:`harness.metrics.alarms`. Composite alarms are evaluated after the
metric alarms of the same tick. Every state change is kept in :attr:`AlarmMonitor.history`
(DescribeAlarmHistory's StateUpdate items) and handed to ``on_change`` (the edge publishes the
alarm's actions from there). :meth:`AlarmMonitor.set_state` is SetAlarmState: the state holds
until the next evaluation.

Alarms start in INSUFFICIENT_DATA, as a new CloudWatch alarm does.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.metrics.alarms import MetricAlarm, evaluate
from harness.metrics.composite import CompositeAlarm
from harness.metrics.store import MetricStore, series_key

__all__ = ["AlarmMonitor", "Transition"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transition:
    time: float
    alarm: str
    old: str
    new: str
    reason: str
    kind: str = "metric"  # metric | composite | set

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 3),
            "alarm": self.alarm,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "kind": self.kind,
        }


class AlarmMonitor:
    def __init__(
        self,
        store: MetricStore,
        *,
        lag: float = 2.0,
        on_change: Callable[[Transition, MetricAlarm | CompositeAlarm], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lag = lag
        self.on_change = on_change
        self.clock = clock
        self.alarms: dict[str, MetricAlarm] = {}
        self.composites: dict[str, CompositeAlarm] = {}
        self.states: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.updated: dict[str, float] = {}
        self.history: list[Transition] = []
        self.scale = 1.0
        self._evaluated: dict[str, float] = {}

    # -- definitions -------------------------------------------------------------------------

    def load(self, alarms: list[MetricAlarm], composites: list[CompositeAlarm]) -> None:
        """Replace the definitions; an alarm that stays keeps its state and history."""
        now = self.clock()
        new_alarms = {a.name: a for a in alarms}
        new_composites = {c.name: c for c in composites}
        for name in list(self.states):
            if name not in new_alarms and name not in new_composites:
                self.states.pop(name)
                self.reasons.pop(name, None)
                self._evaluated.pop(name, None)
        for name, alarm in new_alarms.items():
            old = self.alarms.get(name)
            if old is None or old != alarm:
                self._evaluated.pop(name, None)
            self.states.setdefault(name, "INSUFFICIENT_DATA")
            self.reasons.setdefault(name, "Unchecked: Initial alarm creation")
            self.updated.setdefault(name, now)
        for name in new_composites:
            self.states.setdefault(name, "INSUFFICIENT_DATA")
            self.reasons.setdefault(name, "Unchecked: Initial alarm creation")
            self.updated.setdefault(name, now)
        self.alarms = new_alarms
        self.composites = new_composites

    def by_name_or_arn(self, ref: str) -> str | None:
        if ref in self.alarms or ref in self.composites:
            return ref
        for name, metric in self.alarms.items():
            if metric.arn == ref:
                return name
        for name, composite in self.composites.items():
            if composite.arn == ref:
                return name
        if ref.startswith("arn:aws:cloudwatch:") and ":alarm:" in ref:
            name = ref.split(":alarm:", 1)[1]
            if name in self.alarms or name in self.composites:
                return name
        return None

    # -- evaluation --------------------------------------------------------------------------

    def range_for(self, alarm: MetricAlarm, end: float) -> list[float | None]:
        """The evaluation range ending at ``end`` (oldest first)."""
        key = series_key(alarm.namespace, alarm.metric_name, alarm.dimensions)
        points: list[float | None] = []
        size = alarm.evaluation_periods + 2
        for i in range(size, 0, -1):
            start = end - i * alarm.period
            points.append(self.store.datapoint(key, start, start + alarm.period, alarm.statistic))
        return points

    def tick(self, now: float | None = None) -> list[Transition]:
        now = self.clock() if now is None else now
        self.store.refresh()
        changes: list[Transition] = []
        for name, alarm in self.alarms.items():
            boundary = math.floor((now - self.lag) / alarm.period) * alarm.period
            if self._evaluated.get(name) == boundary:
                continue
            self._evaluated[name] = boundary
            result = evaluate(alarm, self.range_for(alarm, boundary), self.states[name])
            change = self._set(name, result.state, result.reason, now, "metric")
            if change is not None:
                changes.append(change)
        for name, composite in self.composites.items():
            states = dict(self.states)
            for ref in composite.references:
                resolved = self.by_name_or_arn(ref)
                states[ref] = self.states.get(resolved, "INSUFFICIENT_DATA") if resolved else ""
            new = composite.evaluate(states)
            detail = ", ".join(f"{r}={states.get(r) or 'unknown'}" for r in composite.references)
            change = self._set(name, new, f"{composite.rule_text} with {detail}", now, "composite")
            if change is not None:
                changes.append(change)
        return changes

    def set_state(self, name: str, state: str, reason: str, now: float | None = None) -> None:
        """SetAlarmState: holds until the alarm's next evaluation."""
        now = self.clock() if now is None else now
        self._set(name, state, reason, now, "set")

    def _set(self, name: str, state: str, reason: str, now: float, kind: str) -> Transition | None:
        old = self.states.get(name, "INSUFFICIENT_DATA")
        self.reasons[name] = reason
        if old == state:
            return None
        self.states[name] = state
        self.updated[name] = now
        change = Transition(now, name, old, state, reason, kind)
        self.history.append(change)
        definition: MetricAlarm | CompositeAlarm | None = self.alarms.get(
            name
        ) or self.composites.get(name)
        if self.on_change is not None and definition is not None:
            try:
                self.on_change(change, definition)
            except Exception:  # an action failing must not stop evaluation; it is logged
                logger.exception("alarm %s: action on %s failed", name, state)
        return change

    # -- views -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        alarms = []
        for name, alarm in sorted(self.alarms.items()):
            alarms.append(
                {
                    "name": name,
                    "kind": "metric",
                    "stack": alarm.stack,
                    "logical_id": alarm.logical_id,
                    "arn": alarm.arn,
                    "state": self.states.get(name),
                    "reason": self.reasons.get(name),
                    "updated": self.updated.get(name),
                    "namespace": alarm.namespace,
                    "metric": alarm.metric_name,
                    "dimensions": alarm.dimensions,
                    "statistic": alarm.statistic,
                    "period": alarm.period,
                    "declared_period": alarm.declared_period,
                    "evaluation_periods": alarm.evaluation_periods,
                    "datapoints_to_alarm": alarm.datapoints_to_alarm,
                    "threshold": alarm.threshold,
                    "comparison": alarm.comparison,
                    "treat_missing_data": alarm.treat_missing_data,
                }
            )
        for name, composite in sorted(self.composites.items()):
            alarms.append(
                {
                    "name": name,
                    "kind": "composite",
                    "stack": composite.stack,
                    "logical_id": composite.logical_id,
                    "arn": composite.arn,
                    "state": self.states.get(name),
                    "reason": self.reasons.get(name),
                    "updated": self.updated.get(name),
                    "rule": composite.rule_text,
                }
            )
        return {
            "scale": self.scale,
            "alarms": alarms,
            "history": [t.to_json() for t in self.history],
        }
