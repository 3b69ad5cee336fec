"""``harness run``: one gameday scenario, from environment to report, as a pipeline of stages.

validate -> environment -> deploy -> warm-up -> steady state -> timeline -> drain and observe
-> expectations -> report, with the teardown always last (also after an error or Ctrl-C).
Each stage is a function of the run's :class:`~harness.scenario.context.RunContext` in its own
module:

- ``lifecycle``: validation before any process starts, the environment and the deploys, the
  rollbacks and the teardown;
- ``probes``: the warm-up and the steady-state probes (before, during, after);
- ``clock``: the timeline, one load run across every phase with the faults, the sampler and the
  isolation checks on the same clock;
- ``observe``: the system read once the faults are over (counters, queues, checks, alarms, the
  fault points' records);
- ``expectations`` and ``verdicts``: the judgement; ``harness.report.scenario_run`` the report.

The report folder gets ``raw.json``, ``summary.json``, ``junit.xml``, ``report.html`` and
``load.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from harness.report.data import Expectation as Verdict
from harness.report.data import RunData, save_run
from harness.report.scenario_run import add_load, phase_rows
from harness.scenario import clock, lifecycle, observe, probes, verdicts
from harness.scenario.context import RunContext, RunOptions, RunState
from harness.scenario.expectations import Observations, evaluate
from harness.scenario.live import LiveView
from harness.scenario.model import Expectation, Scenario
from harness.scenario.plan import PhaseWindow, phase_windows

if TYPE_CHECKING:
    from harness.load.profile import LoadProfile

__all__ = ["STAGES", "RunOptions", "ScenarioRunner", "run_scenario"]

logger = logging.getLogger(__name__)


def _deploy(ctx: RunContext) -> None:
    lifecycle.deploy_stacks(ctx)
    ctx.state.counters_before = observe.raw_counters(ctx)
    lifecycle.start_alarms(ctx)


def _steady_before(ctx: RunContext) -> None:
    probes.steady(ctx, "before")


def _drain(ctx: RunContext) -> None:
    """End the faults and join the side threads, then the probes that come after the load."""
    clock.finish_faults(ctx)
    probes.steady_during_slo(ctx)
    probes.steady(ctx, "after")


# the stages before the judgement, in order (validation runs when the runner is built)
STAGES: tuple[tuple[str, Callable[[RunContext], None]], ...] = (
    ("environment", lifecycle.start_environment),
    ("deploy", _deploy),
    ("warm-up", probes.warmup),
    ("steady state", _steady_before),
    ("timeline", clock.run_timeline),
    ("drain", _drain),
)


class ScenarioRunner:
    def __init__(self, scenario: Scenario, scenario_file: Path | None, options: RunOptions) -> None:
        inputs = lifecycle.validate(scenario, scenario_file, options)
        state = RunState(warnings=list(inputs.warnings))
        view = LiveView(
            f"harness run: {scenario.title}",
            stream=options.stream,
            rich=options.live,
            faults=state.active_faults,
        )
        seed = options.seed if options.seed is not None else scenario.seed
        self.ctx = RunContext(
            scenario, scenario_file, options, seed, phase_windows(scenario), inputs, view, state
        )

    # what the CLI (--check) and the tests read
    @property
    def scenario(self) -> Scenario:
        return self.ctx.scenario

    @property
    def state(self) -> RunState:
        return self.ctx.state

    @property
    def windows(self) -> list[PhaseWindow]:
        return self.ctx.windows

    @property
    def seed(self) -> int:
        return self.ctx.seed

    @property
    def profile(self) -> LoadProfile | None:
        return self.ctx.inputs.profile

    @property
    def expectations(self) -> list[Expectation]:
        return self.ctx.inputs.expectations

    @property
    def profile_slos(self) -> list[dict[str, Any]]:
        return self.ctx.inputs.profile_slos

    def run(self) -> RunData:
        ctx = self.ctx
        started_at = time.time()
        judged: list[Verdict] = []
        obs = Observations()
        previous = _trap_sigterm()
        try:
            with ctx.view:
                try:
                    for name, stage in STAGES:
                        logger.debug("stage: %s", name)
                        stage(ctx)
                    obs = observe.observe(ctx)
                    judged = self._expectations(obs)
                except KeyboardInterrupt:
                    ctx.state.interrupted = True
                    ctx.view.message("interrupted: ending faults, rolling back, tearing down")
                finally:
                    self._teardown()
        finally:
            signal.signal(signal.SIGTERM, previous)
        if ctx.state.interrupted:
            judged.append(verdicts.interrupted())
        return self._report(started_at, judged, obs)

    def _expectations(self, obs: Observations) -> list[Verdict]:
        judged = evaluate(self.ctx.inputs.expectations, obs)
        observe.collect_fault_log(self.ctx)  # the attribution needs it
        return judged + verdicts.implicit_verdicts(self.ctx, observe.injected_faults(self.ctx))

    def _teardown(self) -> None:
        """End every fault, roll back, read the fault log, destroy what this run started."""
        state = self.ctx.state
        with contextlib.suppress(Exception):
            if state.scheduler is not None:
                state.scheduler.stop_all()
        if state.sampler is not None:
            with contextlib.suppress(Exception):
                state.sampler.stop()
        lifecycle.rollbacks(self.ctx)
        observe.collect_fault_log(self.ctx)
        lifecycle.teardown(self.ctx)

    def _report(self, started_at: float, judged: list[Verdict], obs: Observations) -> RunData:
        ctx, state = self.ctx, self.ctx.state
        run = RunData(
            title=ctx.scenario.title,
            seed=ctx.seed,
            started_at=started_at,
            duration_s=ctx.scenario.duration_s,
            description=ctx.scenario.description,
            scenario_file=str(ctx.file or ""),
            expectations=judged,
        )
        run.phases = phase_rows(ctx.windows, obs.phases)
        if state.load is not None:
            add_load(run, state.load)
        if state.scheduler is not None:
            run.faults = state.scheduler.windows()
            run.warnings.extend(state.scheduler.errors())
        if state.sampler is not None:
            run.queue_series = state.sampler.queue_series
            run.lambda_series = state.sampler.lambda_series
        run.counters = obs.counters
        if obs.alarms is not None:
            from harness.scenario.alarm_checks import report_section

            run.alarms = report_section(obs.alarms)
        run.injected_faults = observe.injected_faults(ctx)
        run.warnings.extend(state.warnings)
        run.isolation = {"runs": state.isolation} if state.isolation else {}
        run.environment.update(
            {
                "profile_slos": ctx.inputs.profile_slos,
                "stacks": [d.stack.name for d in state.deployed],
                "steady_state": state.steady,
                "rollbacks": state.rollbacks,
                "queue_depths": obs.queue_depths,
                "interrupted": state.interrupted,
                "timeline_started_at": state.run_started,  # the run clock's t=0 (epoch)
            }
        )
        if state.env is not None:  # each failed expectation's evidence, as traces
            from harness.report.traces import attach_traces

            attach_traces(run, state.env.state_dir)
        return run


def _trap_sigterm() -> Any:
    """SIGTERM ends the run as Ctrl-C does (rollbacks and teardown run); the previous handler."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGTERM, on_term)
    return signal.getsignal(signal.SIGTERM)


def run_scenario(path: Path, options: RunOptions) -> RunData:
    """Load, validate and run the scenario in ``path``; write the report folder; return the data."""
    from harness.report import render_all
    from harness.scenario.loader import load_scenario

    runner = ScenarioRunner(load_scenario(path), path, options)
    run = runner.run()
    folder = options.report_dir
    save_run(folder, run)
    render_all(run, folder)
    load = runner.state.load
    (folder / "load.json").write_text(
        json.dumps(load.to_json() if load else {}, indent=1, default=str)
    )
    return run
