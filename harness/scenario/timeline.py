"""The fault side of a run: start and stop each fault action at its time, and record windows.

Times are on the run clock (seconds since the timeline began). AWS fault rules are handed to the
edge with their absolute start and duration up front (the edge applies and ends them by itself,
so an edge never depends on this thread's timing); Redis modes and other actions are started and
stopped by this scheduler thread at their times.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness.report.data import FaultWindow
from harness.scenario.actions import ACTIONS, ActionContext
from harness.scenario.model import FaultSpec, Scenario

__all__ = ["FaultScheduler", "PlannedFault", "plan_faults"]

logger = logging.getLogger(__name__)


@dataclass
class PlannedFault:
    spec: FaultSpec
    phase: str
    start_s: float
    end_s: float
    handle: Any = None
    started: bool = False
    stopped: bool = False
    error: str | None = None


def plan_faults(scenario: Scenario) -> list[PlannedFault]:
    """Every fault with its window on the run clock (a fault without duration lasts to its phase's end)."""
    planned: list[PlannedFault] = []
    offset = 0.0
    for phase in scenario.timeline:
        for spec in phase.faults:
            start = offset + spec.start_after
            end = (
                min(start + spec.duration, offset + phase.duration)
                if spec.duration
                else offset + phase.duration
            )
            planned.append(PlannedFault(spec=spec, phase=phase.name, start_s=start, end_s=end))
        offset += phase.duration
    return sorted(planned, key=lambda p: p.start_s)


@dataclass
class FaultScheduler:
    """Runs planned faults against a running environment on a background thread."""

    context: ActionContext
    planned: list[PlannedFault]
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-scheduler", daemon=True)
        self._thread.start()

    def _now(self) -> float:
        return time.time() - self.context.run_started

    def _run(self) -> None:
        pending = list(self.planned)
        while not self._stop.is_set():
            now = self._now()
            for fault in pending:
                if not fault.started and now >= fault.start_s - 0.05:
                    self._begin(fault)
                if fault.started and not fault.stopped and now >= fault.end_s:
                    self._end(fault)
            if all(f.stopped or f.error for f in pending):
                return
            self._stop.wait(0.05)

    def _begin(self, fault: PlannedFault) -> None:
        with self._lock:
            kind = ACTIONS[fault.spec.action]
            targets, parameters = fault.spec.inputs  # validated when the scenario was read
            # make the fault's own duration explicit so edge rules end by themselves
            spec = fault.spec.model_copy(update={"duration": fault.end_s - fault.start_s})
            try:
                fault.handle = kind.start(
                    self.context,
                    spec,
                    targets,
                    parameters,
                    self.context.run_started + fault.start_s,
                )
                fault.started = True
                logger.info("fault %s started at %.1fs", fault.spec.label, self._now())
            except Exception as exc:  # a fault that cannot start is reported, not fatal
                fault.error = f"{exc.__class__.__name__}: {exc}"
                fault.started = fault.stopped = True
                logger.error("fault %s could not start: %s", fault.spec.label, fault.error)

    def _end(self, fault: PlannedFault) -> None:
        with self._lock:
            if fault.stopped:
                return
            try:
                ACTIONS[fault.spec.action].stop(self.context, fault.handle)
            except Exception as exc:
                fault.error = f"stop failed: {exc}"
                logger.error("fault %s could not stop: %s", fault.spec.label, exc)
            fault.stopped = True

    def stop_all(self) -> None:
        """End every started fault now (used on the way out, including Ctrl-C)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fault in self.planned:
            if fault.started and not fault.stopped:
                self._end(fault)

    def active(self) -> list[str]:
        now = self._now()
        return [
            f.spec.label
            for f in self.planned
            if f.started and not f.stopped and f.start_s <= now < f.end_s
        ]

    def windows(self) -> list[FaultWindow]:
        return [
            FaultWindow(label=f.spec.label, start_s=f.start_s, end_s=f.end_s, kind=f.spec.action)
            for f in self.planned
            if f.started and not f.error
        ]

    def errors(self) -> list[str]:
        return [f"{f.spec.label}: {f.error}" for f in self.planned if f.error]
