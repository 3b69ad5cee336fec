"""What one scenario run carries from stage to stage.

:class:`RunContext` is the run's typed context (LocalStack's ``execute_api/context.py`` is the
model): the scenario and its options, what validation derived from them (:class:`Inputs`), and
what the stages have done so far (:class:`RunState`). Every stage module (``lifecycle``,
``probes``, ``clock``, ``observe``, ``verdicts``) takes it and nothing else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.env.environment import Environment
    from harness.load.profile import LoadProfile
    from harness.load.result import LoadResult
    from harness.model import DeployedStack
    from harness.scenario.live import LiveView
    from harness.scenario.model import Expectation, Scenario
    from harness.scenario.plan import PhaseWindow, StackTraffic
    from harness.scenario.sampler import Sampler
    from harness.scenario.timeline import FaultScheduler

__all__ = ["Deployed", "Inputs", "RunContext", "RunOptions", "RunState"]


@dataclass
class RunOptions:
    report_dir: Path
    seed: int | None = None
    settings: Settings | None = None
    live: bool | None = None  # None: a rich panel on a terminal, plain lines otherwise
    keep: bool = False  # leave the environment and the stacks up afterwards
    apply: bool = False  # a remote (kind aws) target's faults run as AWS FIS experiments
    stream: Any = None  # where progress goes (default stderr)


@dataclass
class Deployed:
    stack: DeployedStack
    stack_dir: Path
    created: bool  # deployed by this run (so this run destroys it)


@dataclass
class Inputs:
    """What validation derived from the scenario before anything started."""

    profile: LoadProfile | None
    mix_name: str | None
    # with a remote target, the stacks only lend their profile (traffic mix, tenants)
    stack_dirs: list[Path]
    traffic: StackTraffic | None = None
    load_dir: Path | None = None
    # the scenario's expectations, then the stacks' own SLOs (harness.yaml) as defaults
    expectations: list[Expectation] = field(default_factory=list)
    profile_slos: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunState:
    env: Environment | None = None
    env_owned: bool = False
    deployed: list[Deployed] = field(default_factory=list)
    scheduler: FaultScheduler | None = None
    sampler: Sampler | None = None
    run_started: float | None = None
    load: LoadResult | None = None
    steady: list[dict[str, Any]] = field(default_factory=list)
    isolation: list[dict[str, Any]] = field(default_factory=list)
    isolation_threads: list[threading.Thread] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    fault_log: list[dict[str, Any]] = field(default_factory=list)
    fault_log_error: str | None = None
    counters_before: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    fis: Any = None  # harness.remote.apply.FisExperiments, with --apply on a kind aws target

    def active_faults(self) -> list[str]:
        return self.scheduler.active() if self.scheduler is not None else []


@dataclass
class RunContext:
    scenario: Scenario
    file: Path | None
    options: RunOptions
    seed: int
    windows: list[PhaseWindow]
    inputs: Inputs
    view: LiveView
    state: RunState = field(default_factory=RunState)

    @property
    def source(self) -> str:
        return str(self.file) if self.file else "the scenario"

    def stack_named(self, name: str) -> DeployedStack | None:
        for d in self.state.deployed:
            if name in (d.stack.name, d.stack_dir.name):
                return d.stack
        return None
