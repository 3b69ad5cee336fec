"""``harness run --apply``: a remote target's faults as real AWS FIS experiments on the run's clock.

Before the load starts, every template of the plan (:func:`harness.remote.fis.plan_experiments`,
made with the stack read from its account, so the stop conditions are its real alarms) is created
(``CreateExperimentTemplate``; the SSM documents it runs with ``CreateDocument``). On the run's
clock each is started at its fault's instant (``StartExperiment``) and followed
(``GetExperiment`` every ``poll`` seconds): every state change lands on the timeline as an event.
At the end, experiments still running are stopped (``StopExperiment``); the templates stay in
the account (tagged ``harness:scenario``/``harness:fault``) as the record of what ran. If one
template cannot be created, those already created are deleted before the error is raised. An experiment that
failed, or that a stop condition stopped, is reported as a problem of the run, never dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness.remote.fis import FisPlan, FisTemplate

__all__ = ["FisEvent", "FisExperiments"]

logger = logging.getLogger(__name__)

FINAL = ("completed", "stopped", "failed", "cancelled")


@dataclass
class FisEvent:
    at_s: float  # on the run's clock
    fault: str
    status: str
    experiment: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 3),
            "fault": self.fault,
            "status": self.status,
            "experiment": self.experiment,
            "reason": self.reason,
        }


@dataclass
class _Running:
    template: FisTemplate
    template_id: str
    experiment: str = ""
    status: str = "planned"
    reason: str = ""
    stopped_by_us: bool = False


@dataclass
class FisExperiments:
    plan: FisPlan
    fis: Any  # a boto3 FIS client
    ssm: Any  # a boto3 SSM client
    poll: float = 2.0
    events: list[FisEvent] = field(default_factory=list)
    running: list[_Running] = field(default_factory=list)
    instant: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self) -> None:
        """Create the SSM documents and the experiment templates (before the load starts)."""
        documents: dict[str, Any] = {}
        for t in self.plan.templates:
            documents.update(t.documents)
        for name, content in documents.items():
            try:
                self.ssm.create_document(
                    Name=name,
                    Content=json.dumps(content),
                    DocumentType="Automation",
                    DocumentFormat="JSON",
                )
            except self.ssm.exceptions.DocumentAlreadyExists:
                self.ssm.update_document(
                    Name=name, Content=json.dumps(content), DocumentVersion="$LATEST"
                )
        try:
            for t in self.plan.templates:
                answer = self.fis.create_experiment_template(**t.request)
                self.running.append(_Running(t, str(answer["experimentTemplate"]["id"])))
        except Exception:  # leave nothing half-made in the account
            for r in self.running:
                try:
                    self.fis.delete_experiment_template(id=r.template_id)
                except Exception as exc:
                    logger.warning("DeleteExperimentTemplate %s: %s", r.template_id, exc)
            self.running.clear()
            raise

    def _event(self, r: _Running, status: str, reason: str = "") -> None:
        with self._lock:
            r.status, r.reason = status, reason
            self.events.append(
                FisEvent(time.time() - self.instant, r.template.fault, status, r.experiment, reason)
            )

    def start(self, instant: float) -> None:
        """Start each experiment at its fault's instant on the clock whose zero is ``instant``."""
        self.instant = instant
        for target, name in ((self._starter, "fis-start"), (self._follower, "fis-follow")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def _starter(self) -> None:
        for r in sorted(self.running, key=lambda r: r.template.start_s):
            delay = self.instant + r.template.start_s - time.time()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                answer = self.fis.start_experiment(
                    clientToken=f"{r.template_id}-{int(self.instant)}",
                    experimentTemplateId=r.template_id,
                    tags={"harness:fault": r.template.fault},
                )
                r.experiment = str(answer["experiment"]["id"])
                state = answer["experiment"].get("state", {})
                self._event(r, str(state.get("status", "initiating")), str(state.get("reason", "")))
            except Exception as exc:
                self._event(r, "failed", f"StartExperiment: {exc}")

    def _follower(self) -> None:
        while not self._stop.wait(self.poll):
            self.refresh()

    def refresh(self) -> None:
        for r in list(self.running):
            if not r.experiment or r.status in FINAL:
                continue
            try:
                state = self.fis.get_experiment(id=r.experiment)["experiment"]["state"]
            except Exception as exc:
                logger.warning("GetExperiment %s: %s", r.experiment, exc)
                continue
            status = str(state.get("status", ""))
            if status and status != r.status:
                self._event(r, status, str(state.get("reason", "")))

    def stop_all(self) -> None:
        """Stop what still runs, follow it to its end state, and stop the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        for r in self.running:
            if r.experiment and r.status not in FINAL:
                r.stopped_by_us = True
                try:
                    self.fis.stop_experiment(id=r.experiment)
                except Exception as exc:
                    logger.warning("StopExperiment %s: %s", r.experiment, exc)
        self.refresh()

    def problems(self) -> list[str]:
        """What the run must report: experiments that never ran as planned."""
        out = []
        for r in self.running:
            if not r.experiment:
                out.append(f"FIS experiment for fault {r.template.fault} never started")
            elif r.status == "failed" or (r.status == "stopped" and not r.stopped_by_us):
                out.append(
                    f"FIS experiment {r.experiment} (fault {r.template.fault}) ended {r.status}"
                    + (f": {r.reason}" if r.reason else "")
                )
        return out


def prepare(scenario: Any, target: Any, source: str) -> FisExperiments:
    """Read the stack, plan with its alarms, create the templates: ready to start."""
    from harness.errors import ConfigError
    from harness.remote.fis import plan_experiments
    from harness.remote.target import client, read_stack

    if not target.fis_role_arn:
        raise ConfigError(
            "--apply creates FIS experiments, which need the role FIS assumes.",
            source=source,
            field="target.fis_role_arn",
            fix="set target.fis_role_arn (the policy `harness run --plan` prints).",
        )
    stack = read_stack(target)
    plan = plan_experiments(scenario, target, stack, source=source)
    experiments = FisExperiments(plan, client(target, "fis"), client(target, "ssm"))
    experiments.create()
    return experiments
