"""``harness run``: one gameday scenario, from environment to report.

1. validate everything up front (scenario, stack folders, traffic mix, tenants) - before any
   process starts;
2. bring the environment up (or attach to a running one), deploy the stacks (their fake servers
   and seed data come with the deploy);
3. steady-state probes before; then the timeline: one load run across every phase, the faults
   on the same clock, the sampler (queues, DLQs, Lambda), isolation checks where phases ask;
4. end every fault, run the rollbacks (always, also after an error or Ctrl-C), steady-state
   probes after, read the system (stack checks, DLQ depths, counters) and judge the expectations;
5. destroy what it deployed and stop what it started; write ``raw.json``, ``summary.json``,
   ``junit.xml`` and ``report.html``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import itertools
import json
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.report.data import Expectation as Verdict
from harness.report.data import PhaseStats, RunData, save_run
from harness.report.traces import attach_traces
from harness.scenario.expectations import Observations, evaluate
from harness.scenario.live import LiveView
from harness.scenario.model import Probe, Scenario
from harness.scenario.plan import (
    PhaseWindow,
    StackTraffic,
    load_processes,
    load_profile_for,
    mix_name,
    phase_windows,
    resolve_stack_dirs,
    stack_traffic,
)

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.env.environment import Environment
    from harness.load.profile import LoadProfile
    from harness.load.result import LoadResult
    from harness.model import DeployedStack
    from harness.scenario.sampler import Sampler
    from harness.scenario.timeline import FaultScheduler

__all__ = ["RunOptions", "ScenarioRunner", "run_scenario"]

logger = logging.getLogger(__name__)


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
class _Deployed:
    stack: DeployedStack
    stack_dir: Path
    created: bool  # deployed by this run (so this run destroys it)


@dataclass
class _State:
    env: Environment | None = None
    env_owned: bool = False
    deployed: list[_Deployed] = field(default_factory=list)
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


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}.", source=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ScenarioRunner:
    def __init__(self, scenario: Scenario, scenario_file: Path | None, options: RunOptions) -> None:
        self.scenario = scenario
        self.file = scenario_file
        self.options = options
        self.seed = options.seed if options.seed is not None else scenario.seed
        self.windows = phase_windows(scenario)
        self.state = _State()
        # everything that can be checked without running anything, checked now
        self.profile: LoadProfile | None = load_profile_for(scenario)
        self.mix_name = mix_name(scenario)
        # with a remote target, the stacks only lend their profile (traffic mix, tenants)
        self.stack_dirs = resolve_stack_dirs(scenario, scenario_file)
        self.traffic: StackTraffic | None = None
        self.load_dir: Path | None = None
        # the scenario's expectations, then the stacks' own SLOs (harness.yaml) as defaults
        self.expectations = list(scenario.expectations)
        self.profile_slos: list[dict[str, Any]] = []
        self._check_inputs()
        self.view = LiveView(
            f"harness run: {scenario.title}",
            stream=options.stream,
            rich=options.live,
            faults=self._active_faults,
        )

    # -- validation ---------------------------------------------------------------------------

    def _check_inputs(self) -> None:
        from harness.profile import load_profile

        source = str(self.file) if self.file else "the scenario"
        remote_fis = self.options.apply and getattr(self.scenario.target, "kind", "") == "aws"
        if self.scenario.target is not None and not remote_fis:
            faults = [f.label for p in self.scenario.timeline for f in p.faults]
            if faults:
                raise ConfigError(
                    f"faults ({', '.join(faults)}) need a local environment, but the scenario "
                    "aims at a remote target.",
                    source=source,
                    field="target",
                    fix="remove the faults, or the target (to run against local stacks); for a "
                    "target of kind aws, `harness run --plan` prints them as AWS FIS templates.",
                )
        if not self.stack_dirs:
            if self.profile is not None:
                raise ConfigError(
                    "the scenario has load but names no stack whose harness.yaml gives the "
                    "traffic mix and tenants.",
                    source=source,
                    field="stacks",
                    fix="name the stack folder (with a remote target it is not deployed).",
                )
            return
        profiles = {d: load_profile(d / "harness.yaml") for d in self.stack_dirs}
        if self.profile is not None:
            load_dir = next(
                (d for d in self.stack_dirs if profiles[d].traffic.mixes), self.stack_dirs[0]
            )
            self.load_dir = load_dir
            self.traffic = stack_traffic(
                profiles[load_dir], self.mix_name, str(load_dir / "harness.yaml")
            )
        from harness.scenario.slos import profile_expectations

        defaults = profile_expectations(
            self.scenario,
            [(d.name, d / "harness.yaml", list(profiles[d].slos)) for d in self.stack_dirs],
            self.load_dir.name if self.load_dir is not None else None,
            source,
        )
        self.expectations += defaults.expectations
        self.profile_slos = defaults.rows
        self.state.warnings.extend(defaults.warnings)
        names = {d.name for d in self.stack_dirs}
        for i, phase in enumerate(self.scenario.timeline):
            iso = phase.isolation
            if iso is not None and iso.stack is not None and iso.stack not in names:
                raise ConfigError(
                    f"phase '{phase.name}' runs isolation checks on stack '{iso.stack}', which "
                    f"the scenario does not deploy (stacks: {', '.join(sorted(names))}).",
                    source=source,
                    field=f"timeline[{i}].isolation.stack",
                    fix="name one of the scenario's stacks (its folder name).",
                )
        from harness.scenario.alarm_checks import check_scenario_alarms

        check_scenario_alarms(self.scenario, self.stack_dirs, source)
        for i, exp in enumerate(self.scenario.expectations):
            if exp.kind in ("no_lost_jobs", "no_duplicate_jobs", "check"):
                wanted = exp.check or exp.kind
                having = [d for d in self.stack_dirs if profiles[d].checks is not None]
                if not having:
                    raise ConfigError(
                        f"expectation '{exp.label}' needs the check '{wanted}', but no stack "
                        "declares a checks module.",
                        source=source,
                        field=f"expectations[{i}]",
                        fix="add `checks: {module: checks.py}` to the stack's harness.yaml.",
                    )

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> RunData:
        started_at = time.time()
        verdicts: list[Verdict] = []
        obs = Observations()
        previous = self._trap_sigterm()
        try:
            with self.view:
                try:
                    self._prepare()
                    self._warmup()
                    self._steady("before")
                    self._timeline()
                    self._finish_faults()
                    self._steady_during_slo()
                    self._steady("after")
                    obs = self._observe()
                    verdicts = evaluate(self.expectations, obs)
                    self._collect_fault_log()  # the attribution below needs it
                    verdicts += self._implicit_verdicts()
                except KeyboardInterrupt:
                    self.state.interrupted = True
                    self.view.message("interrupted: ending faults, rolling back, tearing down")
                finally:
                    self._cleanup()
        finally:
            signal.signal(signal.SIGTERM, previous)
        if self.state.interrupted:
            verdicts.append(
                Verdict(
                    "run completed",
                    False,
                    "interrupted",
                    "completed",
                    "the run was interrupted (Ctrl-C/SIGTERM); rollbacks and teardown ran",
                    "run",
                )
            )
        return self._run_data(started_at, verdicts, obs)

    def _trap_sigterm(self) -> Any:
        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            return signal.signal(signal.SIGTERM, on_term)
        return signal.getsignal(signal.SIGTERM)

    # -- 1. environment and stacks ------------------------------------------------------------

    def _prepare(self) -> None:
        if self.scenario.target is not None:
            if self.options.apply and self.scenario.target.kind == "aws":
                from harness.remote.apply import prepare

                self.state.fis = prepare(self.scenario, self.scenario.target, str(self.file))
            return
        from harness.config import Settings
        from harness.deploy.engine import deploy_stack
        from harness.env.environment import Environment
        from harness.model import load_stacks

        settings = self.options.settings or Settings.load()
        env = Environment(settings)
        self.view.message(f"environment: {settings.state_dir} ({settings.backend})")
        env.start()
        self.state.env, self.state.env_owned = env, env.owned
        self.view.message("  started" if env.owned else "  attached to the running one")
        before = set(load_stacks(env.state_dir))
        for stack_dir in self.stack_dirs:
            t0 = time.monotonic()
            stack = deploy_stack(env, stack_dir)
            created = stack.name not in before
            self.state.deployed.append(_Deployed(stack, stack_dir, created))
            self.view.message(
                f"deployed {stack.name} from {stack_dir} in {time.monotonic() - t0:.1f}s"
            )
        self.state.counters_before = self._raw_counters()
        self._alarms_start(env)

    def _alarms_start(self, env: Any) -> None:
        """A fresh alarm history for this run, periods scaled as the scenario declares."""
        from harness.scenario.alarm_checks import configure_edge

        scale = self.scenario.alarm_period_scale
        try:
            snapshot = configure_edge(str(env.endpoints["aws_endpoint"]), scale)
        except OSError as exc:
            self.state.warnings.append(f"alarms: the AWS edge did not answer: {exc}")
            return
        count = len(snapshot.get("alarms") or [])
        note = f", periods scaled down {scale:g}x" if scale != 1 else ""
        self.view.message(f"alarms: {count} evaluated live by the AWS edge{note}")
        for problem in snapshot.get("problems") or []:
            self.state.warnings.append(f"alarm not evaluated: {problem}")

    def _stack_named(self, name: str) -> DeployedStack | None:
        for d in self.state.deployed:
            if name in (d.stack.name, d.stack_dir.name):
                return d.stack
        return None

    def _api_url(self, stack: DeployedStack) -> str:
        wanted = (stack.profile or {}).get("api")
        if wanted and wanted in stack.apis:
            return stack.apis[wanted].base_url
        if len(stack.apis) == 1:
            return next(iter(stack.apis.values())).base_url
        if not stack.apis:
            raise ConfigError(
                f"stack {stack.name} has no API to send load to.",
                source=str(Path(stack.stack_dir) / "template.yaml"),
            )
        raise ConfigError(
            f"stack {stack.name} has several APIs ({', '.join(stack.apis)}); harness.yaml's "
            "`api` must name the one the load goes to.",
            source=str(Path(stack.stack_dir) / "harness.yaml"),
            field="api",
        )

    def _expand(self, text: str) -> str:
        import re

        endpoints = self.state.env.endpoints if self.state.env is not None else {}

        def sub(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("api:"):
                stack = self._stack_named(key[4:])
                if stack is None:
                    raise ConfigError(f"'${{{key}}}' names a stack this run did not deploy.")
                return self._api_url(stack)
            if key == "api" and self.scenario.target is not None:
                return self._load_target()[0].rstrip("/")
            if key == "api" and self.state.deployed:
                return self._api_url(self.state.deployed[0].stack)
            value = endpoints.get(key)
            if not isinstance(value, str):
                raise ConfigError(f"'${{{key}}}' is not an endpoint of this environment.")
            return value

        return re.sub(r"\$\{([a-z_]+(?::[A-Za-z0-9_.-]+)?)\}", sub, text)

    # -- 2. steady state ---------------------------------------------------------------------

    def _warmup(self) -> None:
        """Unmeasured rounds of load until one comes back clean (no timeout, no aborted
        request, no 5xx): cold starts and first token grants are behind us then."""
        warmup = self.scenario.warmup
        if warmup is None or warmup.duration <= 0:
            return
        from harness.load.profile import LoadProfile, Stage

        deadline = time.monotonic() + max(warmup.max, warmup.duration)
        for round_no in itertools.count(1):
            self.view.message(
                f"warm-up round {round_no}: {warmup.rate:g} rps for {warmup.duration:g}s "
                "(not measured)"
            )
            profile = LoadProfile(stages=[Stage.hold(warmup.rate, warmup.duration, name="warmup")])
            result = self._run_load(
                profile, quiet=True, seed=zlib.crc32(f"{self.seed}:warmup:{round_no}".encode())
            )
            total = result.total
            unanswered = total.aborted + total.statuses.get("0", 0)
            server_errors = sum(v for k, v in total.statuses.items() if k.startswith("5"))
            self.view.message(
                f"warm-up round {round_no}: {total.requests} requests, p99 {total.p99_ms:.0f} ms, "
                f"{unanswered} unanswered, {server_errors} 5xx"
            )
            if total.requests and not unanswered and not server_errors:
                return
            if time.monotonic() + warmup.duration > deadline:
                self.state.warnings.append(
                    f"the warm-up never came back clean in {warmup.max:g}s (last round: "
                    f"{unanswered} unanswered, {server_errors} 5xx of {total.requests})"
                )
                return

    def _steady(self, when: str) -> None:
        steady = self.scenario.steady_state
        if steady is None or not getattr(steady, when):
            return
        for probe in steady.probes:
            outcome = self._probe(probe, when)
            self.state.steady.append(outcome)
            mark = "ok" if outcome["passed"] else "FAILED"
            self.view.message(f"steady state ({when}) {probe.name}: {mark} - {outcome['detail']}")

    def _steady_during(self) -> None:
        """The HTTP probes at the middle of every phase (SLO probes during a phase are judged
        on the phase's own traffic once the load is done: :meth:`_steady_during_slo`)."""
        steady = self.scenario.steady_state
        assert steady is not None and self.state.run_started is not None
        for window in self.windows:
            delay = self.state.run_started + (window.start_s + window.end_s) / 2 - time.time()
            if delay > 0 and self.state.load is None:
                time.sleep(delay)
            if self.state.load is not None or self.state.interrupted:
                return  # the timeline is over
            for probe in steady.probes:
                if probe.type == "http":
                    outcome = self._probe(probe, f"during {window.name}")
                    self.state.steady.append(outcome)
                    mark = "ok" if outcome["passed"] else "FAILED"
                    self.view.message(f"steady state (during {window.name}) {probe.name}: {mark}")

    def _steady_during_slo(self) -> None:
        steady = self.scenario.steady_state
        load = self.state.load
        if steady is None or not steady.during or load is None:
            return
        from harness.scenario.expectations import OPS, _group_metric, _target

        loaded = {p.name for p in self.scenario.timeline if p.load is not None}
        for window in self.windows:
            group = load.group(f"phase:{window.name}")
            if group is None or not group.requests:
                if window.name in loaded:  # a phase with load and no answer: nothing to judge
                    self.state.steady.extend(
                        {
                            "name": f"{probe.name} (during {window.name})",
                            "passed": False,
                            "status": "inconclusive",
                            "detail": f"inconclusive: no request answered in phase {window.name}",
                        }
                        for probe in steady.probes
                        if probe.type == "slo"
                    )
                continue
            for probe in steady.probes:
                if probe.type != "slo":
                    continue
                assert probe.target is not None
                metric, target = str(probe.metric), _target(str(probe.metric), probe.target)
                observed = _group_metric(group, metric)
                self.state.steady.append(
                    {
                        "name": f"{probe.name} (during {window.name})",
                        "passed": OPS[probe.op](observed, target),
                        "detail": f"{metric} {observed:g} (must be {probe.op} {target:g}) over "
                        f"the phase's {group.requests} requests",
                    }
                )

    def _probe(self, probe: Probe, when: str) -> dict[str, Any]:
        name = f"{probe.name} ({when})"
        if probe.type == "http":
            assert probe.url is not None
            try:
                url = self._expand(probe.url)
            except ConfigError as exc:
                return {"name": name, "passed": False, "detail": str(exc)}
            from harness.env.secret import headers_for

            # a probe of a control path carries the environment's secret, as every harness client
            request = urllib.request.Request(url, method=probe.method, headers=headers_for(url))
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=probe.timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                return {"name": name, "passed": False, "detail": f"{url}: {exc}"}
            took = (time.perf_counter() - t0) * 1000
            passed = status in probe.expect_status
            return {
                "name": name,
                "passed": passed,
                "detail": f"{probe.method} {url} -> {status} in {took:.0f} ms",
            }
        # an SLO over a short window of real traffic
        from harness.load.profile import LoadProfile, Stage

        profile = LoadProfile(stages=[Stage.hold(probe.rate, probe.window, name="probe")])
        # Its own seed: the probe's generated values (Idempotency-Keys, ids) must not repeat the
        # timeline's, or the timeline's first writes would be answered as idempotent replays.
        probe_seed = zlib.crc32(f"{self.seed}:{probe.name}:{when}".encode())
        result = self._run_load(profile, quiet=True, seed=probe_seed)
        from harness.scenario.expectations import OPS, _group_metric, _target

        metric = str(probe.metric)
        assert probe.target is not None
        target = _target(metric, probe.target)
        if result.total.requests == 0:
            return {
                "name": name,
                "passed": False,
                "status": "inconclusive",
                "detail": "inconclusive: the probe's load got no answer",
            }
        observed = _group_metric(result.total, metric)
        passed = OPS[probe.op](observed, target)
        return {
            "name": name,
            "passed": passed,
            "detail": f"{metric} {observed:g} (must be {probe.op} {target:g}) over "
            f"{result.total.requests} requests",
        }

    # -- 3. the timeline ---------------------------------------------------------------------

    def _load_target(self) -> tuple[str, Any]:
        """(base URL, token provider) of the load."""
        target = self.scenario.target
        if target is not None and target.kind == "aws":
            from harness.remote.target import resolve_load_target

            return resolve_load_target(target, str(self.file or "scenario"))
        if target is not None:
            from harness.load.tokens import OAuth2ClientCredentials

            tokens = None
            if target.token_url and target.client_id:
                import os

                secret = os.environ.get(target.client_secret_env or "", "")
                if target.client_secret_env and not secret:
                    raise ConfigError(
                        f"the environment variable {target.client_secret_env} (the client "
                        "secret) is not set.",
                        field="target.client_secret_env",
                    )
                tokens = OAuth2ClientCredentials(
                    target.token_url, target.client_id, secret, scope=target.scope
                )
            return target.base_url, tokens
        from harness.load.tokens import StackTokens

        assert self.state.env is not None and self.load_dir is not None
        stack = next(d.stack for d in self.state.deployed if d.stack_dir == self.load_dir)
        return self._api_url(stack), StackTokens(self.state.env.state_dir, stack.name)

    def _run_load(
        self,
        profile: LoadProfile,
        *,
        quiet: bool = False,
        started: Callable[[float], None] | None = None,
        seed: int | None = None,
    ) -> LoadResult:
        from harness.load.engine import run_load

        assert self.traffic is not None
        base_url, tokens = self._load_target()

        def progress(p: Any) -> None:
            if quiet:
                return
            self.view.update(
                phase=self._phase_of_stage(p.phase),
                elapsed_s=p.elapsed_s,
                remaining_s=p.remaining_s,
                rps=p.rps,
                target=p.target,
                p99_ms=p.p99_ms,
                errors=p.errors,
                errors_total=p.errors_total,
                requests=p.requests,
                dropped_total=p.dropped_total,
            )

        return run_load(
            base_url,
            profile,
            self.traffic.mix,
            self.traffic.tenants,
            tokens,
            processes=load_processes(self.scenario),
            seed=self.seed if seed is None else seed,
            progress=progress,
            started=started,
        )

    def _phase_of_stage(self, stage: str) -> str:
        for window in self.windows:
            if stage in window.stages:
                return window.name
        return stage

    def _timeline(self) -> None:
        total = self.scenario.duration_s
        self.view.message(f"timeline: {len(self.windows)} phase(s), {total:g}s, seed {self.seed}")
        if self.profile is not None:
            self.state.load = self._run_load(self.profile, started=self._on_start)
            return
        self._on_start(time.time())
        assert self.state.run_started is not None
        end = self.state.run_started + total
        while (now := time.time()) < end:
            elapsed = now - self.state.run_started
            window = next((w for w in self.windows if w.start_s <= elapsed < w.end_s), None)
            self.view.update(
                phase=window.name if window else "-", elapsed_s=elapsed, remaining_s=end - now
            )
            time.sleep(min(1.0, end - now))

    def _on_start(self, instant: float) -> None:
        """The run clock's zero: faults, sampler and isolation checks start on it."""
        from harness.scenario.actions import ActionContext
        from harness.scenario.sampler import Sampler
        from harness.scenario.timeline import FaultScheduler, plan_faults

        self.state.run_started = instant
        if self.state.fis is not None:
            self.state.fis.start(instant)
        if self.state.env is None:
            return
        endpoints = dict(self.state.env.endpoints)
        context = _action_context(ActionContext, endpoints, self.seed, instant, self)
        self.state.scheduler = FaultScheduler(context, plan_faults(self.scenario))
        self.state.scheduler.start()
        self.state.sampler = Sampler(endpoints, [d.stack for d in self.state.deployed], instant)
        self.state.sampler.start()
        steady = self.scenario.steady_state
        if steady is not None and steady.during:
            thread = threading.Thread(target=self._steady_during, name="steady-during", daemon=True)
            self.state.isolation_threads.append(thread)  # joined with them before the verdicts
            thread.start()
        for window, phase in zip(self.windows, self.scenario.timeline, strict=True):
            if phase.isolation is not None:
                thread = threading.Thread(
                    target=self._isolation,
                    args=(window, phase.isolation.stack, phase.isolation.examples),
                    name=f"isolation-{window.name}",
                    daemon=True,
                )
                self.state.isolation_threads.append(thread)
                thread.start()

    def _isolation(self, window: PhaseWindow, stack_name: str | None, examples: int) -> None:
        assert self.state.run_started is not None and self.state.env is not None
        delay = self.state.run_started + window.start_s - time.time()
        if delay > 0:
            time.sleep(delay)
        stack = self._stack_named(stack_name) if stack_name else self.state.deployed[0].stack
        assert stack is not None
        t0 = time.time() - self.state.run_started
        try:
            from harness.isolation import run_isolation

            result = run_isolation(
                self.state.env,
                stack,
                examples=examples,
                seed=self.seed,
                report_dir=self.options.report_dir / "isolation" / window.name,
            )
            data = result.to_json()
            passed = bool(result.passed)
            status = str(data.get("status") or ("passed" if passed else "failed"))
            detail = (
                f"{result.steps} steps on {stack.name}: "
                + (
                    "no violation"
                    if passed
                    else "; ".join(result.violations[:3]) or str(data.get("inconclusive"))
                )
                + (f" (replay: {result.replay_file})" if result.replay_file else "")
            )
        except Exception as exc:  # an isolation run that breaks cannot pass
            data, passed, status = {}, False, "failed"
            detail = f"isolation run failed: {exc}"
        self.state.isolation.append(
            {
                "name": f"isolation during {window.name}",
                "phase": window.name,
                "stack": stack.name,
                "passed": passed,
                "status": status,
                "detail": detail,
                "start_s": round(t0, 2),
                "end_s": round(time.time() - self.state.run_started, 2),
                "result": data,
            }
        )
        self.view.message(f"isolation ({window.name}): {'ok' if passed else 'FAILED'} - {detail}")

    def _active_faults(self) -> list[str]:
        return self.state.scheduler.active() if self.state.scheduler is not None else []

    # -- 4. faults, rollbacks, observation -------------------------------------------------

    def _finish_faults(self) -> None:
        if self.state.fis is not None:
            self.state.fis.stop_all()
            self.state.warnings.extend(
                f"FIS {e.fault}: {e.status} at {e.at_s:.1f}s {e.reason}".rstrip()
                for e in self.state.fis.events
            )
        if self.state.scheduler is not None:
            self.state.scheduler.stop_all()
        for thread in self.state.isolation_threads:
            thread.join(timeout=300)

    def _rollbacks(self) -> None:
        """The scenario's rollbacks, then a safety net: no fault may outlive the run."""
        if self.state.env is None:
            return
        from harness.scenario.actions import ACTIONS, ActionContext, validate_action

        endpoints = dict(self.state.env.endpoints)
        context = _action_context(
            ActionContext, endpoints, self.seed, self.state.run_started or time.time(), self
        )
        for spec in [*self.scenario.rollbacks, _clear_all()]:
            kind = ACTIONS[spec.action]
            try:
                targets, params = validate_action(spec)
                handle = kind.start(context, spec, targets, params, time.time())
                kind.stop(context, handle)
                self.state.rollbacks.append(f"{spec.label}: done")
            except Exception as exc:
                self.state.rollbacks.append(f"{spec.label}: failed ({exc})")
                self.state.warnings.append(f"rollback {spec.label} failed: {exc}")
                logger.error("rollback %s failed: %s", spec.label, exc)

    def _raw_counters(self) -> dict[str, float]:
        if self.state.env is None:
            return {}
        try:
            import redis

            info = redis.Redis.from_url(
                self.state.env.endpoints["redis_url"], socket_timeout=2
            ).info("stats")
            return {
                "cache_hits": float(info.get("keyspace_hits", 0)),
                "cache_misses": float(info.get("keyspace_misses", 0)),
            }
        except Exception as exc:
            logger.debug("redis counters unavailable: %s", exc)
            return {}

    def _observe(self) -> Observations:
        obs = Observations(load=self.state.load, run_end_s=self.scenario.duration_s)
        if self.state.sampler is not None:
            self.state.sampler.stop()
        if self.state.load is not None:
            obs.phases = self._phase_groups(self.state.load)
            obs.seconds = list(self.state.load.timeline)
        if self.state.scheduler is not None:
            obs.fault_ends = {
                f.spec.label: f.end_s for f in self.state.scheduler.planned if f.started
            }
        obs.counters = self._counters()
        if self.state.env is not None:
            obs.queue_depths, obs.queue_peaks, obs.queues_unread = self._queue_depths()
            obs.checks = self._checks()
        elif self.scenario.target is not None and self.scenario.target.kind == "aws":
            from harness.remote.checks import remote_observations

            obs.queue_depths, obs.checks, problems = remote_observations(
                self.scenario.target, self.stack_dirs, self.state.run_started
            )
            obs.queue_peaks = dict(obs.queue_depths)  # no sampler on a remote account
            self.state.warnings.extend(problems)
        obs.isolation = list(self.state.isolation)
        obs.steady_state = list(self.state.steady)
        if self.state.env is not None and self.state.run_started is not None:
            from harness.scenario.alarm_checks import fetch

            obs.alarms = fetch(
                str(self.state.env.endpoints["aws_endpoint"]),
                self.state.run_started,
                self.state.scheduler.windows() if self.state.scheduler is not None else [],
                {w.name: (w.start_s, w.end_s) for w in self.windows},
                time.time() - self.state.run_started,
            )
        return obs

    def _phase_groups(self, load: LoadResult) -> dict[str, Any]:
        from harness.load.result import GroupStats, _merge_cells

        assert self.profile is not None
        bounds = {name: (start, end) for name, start, end in self.profile.stage_bounds()}
        out: dict[str, Any] = {}
        for window in self.windows:
            cells = [cell for key, cell in load.cells.items() if key[0] in window.stages]
            span = window.end_s - window.start_s
            open_model = self.profile.mode == "open"
            expected = (
                sum(self.profile.expected(*bounds[s]) for s in window.stages if s in bounds)
                if open_model
                else None
            )
            target = (
                expected / span
                if expected is not None
                else self.profile.target_at(window.start_s + span / 2)
            )
            out[window.name] = GroupStats.of(
                window.name,
                _merge_cells(cells),
                span,
                start=window.start_s,
                expected=expected,
                target=target,
            )
        return out

    def _counters(self) -> dict[str, float]:
        counters: dict[str, float] = {}
        after = self._raw_counters()
        before = self.state.counters_before
        if after and before:
            hits = after["cache_hits"] - before.get("cache_hits", 0)
            misses = after["cache_misses"] - before.get("cache_misses", 0)
            counters.update({"cache_hits": hits, "cache_misses": misses})
            if hits + misses > 0:
                counters["cache_hit_rate"] = round(hits / (hits + misses), 6)
        sampler = self.state.sampler
        if sampler is not None and sampler.lambda_series:
            for key in ("invocations", "errors", "throttles", "cold_starts"):
                counters[f"lambda_{key}"] = sum(
                    f.get(key, 0.0)
                    for point in sampler.lambda_series
                    for f in point["functions"].values()
                )
        load = self.state.load
        if load is not None:
            counters["requests"] = float(load.total.requests)
            counters["dropped"] = float(load.total.dropped)
            counters["throttled"] = float(load.total.statuses.get("429", 0))
            counters["errors"] = float(load.total.errors)
        if self.state.scheduler is not None:
            counters["faults_started"] = float(
                sum(1 for f in self.state.scheduler.planned if f.started and not f.error)
            )
        for d in self.state.deployed:
            fn = self._stack_checks(d.stack).get("counters")
            if fn is not None:
                try:
                    extra = fn()
                    counters.update({k: float(v) for k, v in dict(extra).items()})
                except Exception as exc:
                    self.state.warnings.append(f"{d.stack.name} counters failed: {exc}")
        return counters

    def _queue_depths(self) -> tuple[dict[str, int], dict[str, int], list[str]]:
        """(final depths, peaks, queues whose depth could not be read)."""
        from harness.scenario.sampler import queue_depth, queues_of

        depths: dict[str, int] = {}
        peaks: dict[str, int] = {}
        unread: list[str] = []
        queues, dlqs = queues_of([d.stack for d in self.state.deployed])
        if not (queues or dlqs):
            return depths, peaks, unread
        assert self.state.env is not None
        sqs = self.state.env.client("sqs", direct=True)
        for name, url in {**queues, **dlqs}.items():
            try:
                depths[name] = queue_depth(sqs, url)
            except Exception as exc:
                unread.append(name)
                self.state.warnings.append(f"could not read the depth of {name}: {exc}")
        sampler = self.state.sampler
        for point in sampler.queue_series if sampler is not None else []:
            for group in ("queues", "dlqs"):
                for name, depth in point.get(group, {}).items():
                    peaks[name] = max(peaks.get(name, 0), int(depth))
        for name, depth in depths.items():
            peaks[name] = max(peaks.get(name, 0), depth)
        return depths, peaks, unread

    def _stack_checks(self, stack: DeployedStack) -> dict[str, Callable[[], Any]]:
        checks = (stack.profile or {}).get("checks") or {}
        module_file = checks.get("module") if isinstance(checks, dict) else None
        if not module_file or self.state.env is None:
            return {}
        path = Path(stack.stack_dir) / module_file
        module = _load_module(path, f"harness_checks_{stack.name.replace('-', '_')}")
        env = self.state.env
        out: dict[str, Callable[[], Any]] = {}
        for name in dir(module):
            fn = getattr(module, name)
            if (
                name.startswith("_")
                or not callable(fn)
                or getattr(fn, "__module__", "") != module.__name__
            ):
                continue
            out[name] = self._bind_check(fn, env, stack)
        return out

    def _bind_check(self, fn: Callable[..., Any], env: Any, stack: DeployedStack) -> Any:
        """``fn(env, stack)``; a check that takes ``since`` also gets the epoch second the
        timeline started (so an SLO over the stack's records leaves the warm-up out), and one
        that takes ``load`` the run's load result (what the clients saw: a side independent of
        the stack's own records)."""
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        extra: dict[str, Any] = {}
        if "since" in params and self.state.run_started is not None:
            extra["since"] = self.state.run_started
        if "load" in params and self.state.load is not None:
            extra["load"] = self.state.load
        return functools.partial(fn, env, stack, **extra)

    def _checks(self) -> dict[str, Callable[[], Any]]:
        out: dict[str, Callable[[], Any]] = {}
        for d in self.state.deployed:
            out.update(self._stack_checks(d.stack))
        return out

    def _implicit_verdicts(self) -> list[Verdict]:
        """Things that must hold in every run whatever the scenario says."""
        out: list[Verdict] = []
        scheduler = self.state.scheduler
        if scheduler is not None and scheduler.planned:
            out.append(self._faults_verdict())
        fis = self.state.fis
        if fis is not None and fis.running:
            problems = fis.problems()
            out.append(
                Verdict(
                    "FIS experiments ran as planned",
                    not problems,
                    f"{len(fis.running) - len(problems)}/{len(fis.running)}",
                    "all",
                    "; ".join(problems) or "every experiment started on time and ended normally",
                    "faults",
                )
            )
        failed = [r for r in self.state.rollbacks if not r.endswith(": done")]
        if failed:
            out.append(Verdict("rollbacks", False, failed, "all done", "; ".join(failed), "run"))
        return out

    def _faults_verdict(self) -> Verdict:
        """Every fault started and ended on time, and every fault that counts its injections
        (AWS and Lambda rules: the fault points record each call they hit) hit something: a
        fault that injected nothing tested nothing, so the run is inconclusive (it fails unless
        the fault says ``allow_empty: true``)."""
        scheduler = self.state.scheduler
        assert scheduler is not None
        errors = scheduler.errors()
        planned = len(scheduler.planned)
        observed = f"{planned - len(errors)}/{planned}"
        name = "faults injected as planned"
        if errors:
            return Verdict(name, False, observed, "all", "; ".join(errors), "faults")
        allowed = {f.spec.label: f.spec.allow_empty for f in scheduler.planned}
        idle = [
            f["label"]
            for f in self._injected()
            if f.get("counts_injections") and not f.get("injected") and not f.get("error")
        ]
        if self.state.fault_log_error:
            detail = f"inconclusive: the fault points' records could not be read ({self.state.fault_log_error})"
            return Verdict(name, False, observed, "all", detail, "faults", "inconclusive")
        if idle:
            ok = all(allowed.get(label, False) for label in idle)
            detail = (
                f"inconclusive: {', '.join(idle)} started but injected nothing (no call matched "
                "the rule while it was active), so the run did not exercise it"
                + (" (allowed by allow_empty)" if ok else "")
            )
            return Verdict(name, ok, observed, "all", detail, "faults", "inconclusive")
        return Verdict(
            name, True, observed, "all", "every fault started, ended on time and injected", "faults"
        )

    # -- 5. teardown and report ---------------------------------------------------------------

    def _cleanup(self) -> None:
        state = self.state
        with contextlib.suppress(Exception):
            if state.scheduler is not None:
                state.scheduler.stop_all()
        if state.sampler is not None:
            with contextlib.suppress(Exception):
                state.sampler.stop()
        self._rollbacks()
        self._collect_fault_log()
        if state.env is None or self.options.keep:
            if state.env is not None:
                self.view.message(f"left running (--keep): {state.env.state_dir}")
            return
        from harness.deploy.engine import destroy_stack

        for d in reversed(state.deployed):
            if not d.created and not state.env_owned:
                continue  # it was there before the run: leave it
            try:
                destroy_stack(state.env, d.stack.name)
            except Exception as exc:
                state.warnings.append(f"could not destroy {d.stack.name}: {exc}")
        if state.env_owned:
            try:
                state.env.stop()
                self.view.message("environment stopped")
            except Exception as exc:
                state.warnings.append(f"could not stop the environment: {exc}")

    def _run_data(self, started_at: float, verdicts: list[Verdict], obs: Observations) -> RunData:
        run = RunData(
            title=self.scenario.title,
            seed=self.seed,
            started_at=started_at,
            duration_s=self.scenario.duration_s,
            description=self.scenario.description,
            scenario_file=str(self.file or ""),
            expectations=verdicts,
        )
        load = self.state.load
        for window in self.windows:
            group = obs.phases.get(window.name)
            run.phases.append(
                PhaseStats(
                    name=window.name,
                    start_s=window.start_s,
                    end_s=window.end_s,
                    requests=group.requests if group else 0,
                    rps=group.rps if group else 0.0,
                    p50_ms=group.p50_ms if group else 0.0,
                    p95_ms=group.p95_ms if group else 0.0,
                    p99_ms=group.p99_ms if group else 0.0,
                    error_rate=group.error_rate if group else 0.0,
                    target_rps=round(group.target, 3) if group and group.target else None,
                    dropped=group.dropped if group else 0,
                    extra={"statuses": group.statuses, "availability": group.availability}
                    if group
                    else {},
                )
            )
        if load is not None:
            run.load_series = [
                {
                    "t": row["t"],
                    "rps": row["rps"],
                    "target_rps": row["target"],
                    "p50_ms": row["p50_ms"],
                    "p95_ms": row["p95_ms"],
                    "p99_ms": row["p99_ms"],
                    "errors": {
                        k: v for k, v in row.get("statuses", {}).items() if not k.startswith("2")
                    },
                    "dropped": row["dropped"],
                }
                for row in load.timeline
            ]
            run.tenants = {
                g.name: {
                    "requests": g.requests,
                    "p50_ms": round(g.p50_ms, 2),
                    "p95_ms": round(g.p95_ms, 2),
                    "p99_ms": round(g.p99_ms, 2),
                    "throttled": g.statuses.get("429", 0),
                    "errors": g.errors,
                }
                for g in load.tenants
            }
            run.warnings.extend(load.warnings)
            run.environment["load"] = {
                "base_url": load.base_url,
                "processes": load.processes,
                "generators": [g.to_json() for g in load.generators],
                "endpoints": [e.to_json() for e in load.endpoints],
            }
        scheduler = self.state.scheduler
        if scheduler is not None:
            run.faults = scheduler.windows()
            run.warnings.extend(scheduler.errors())
        sampler = self.state.sampler
        if sampler is not None:
            run.queue_series = sampler.queue_series
            run.lambda_series = sampler.lambda_series
        run.counters = obs.counters
        if obs.alarms is not None:
            from harness.scenario.alarm_checks import report_section

            run.alarms = report_section(obs.alarms)
        run.injected_faults = self._injected()
        run.warnings.extend(self.state.warnings)
        run.isolation = {"runs": self.state.isolation} if self.state.isolation else {}
        run.environment.update(
            {
                "profile_slos": self.profile_slos,
                "stacks": [d.stack.name for d in self.state.deployed],
                "steady_state": self.state.steady,
                "rollbacks": self.state.rollbacks,
                "queue_depths": obs.queue_depths,
                "interrupted": self.state.interrupted,
                "timeline_started_at": self.state.run_started,  # the run clock's t=0 (epoch)
            }
        )
        if self.state.env is not None:  # each failed expectation's evidence, as traces
            attach_traces(run, self.state.env.state_dir)
        return run

    def _collect_fault_log(self) -> None:
        """What the fault points recorded (every injected error, delay, 429...), read before
        the environment goes away."""
        state = self.state
        if state.env is None or state.run_started is None:
            return
        from harness.chaos import fault_records

        try:
            state.fault_log = fault_records(
                dict(state.env.endpoints), state_dir=state.env.state_dir, since=state.run_started
            )
            state.fault_log_error = None
        except Exception as exc:
            state.fault_log_error = str(exc)
            state.warnings.append(f"could not read the injected-fault records: {exc}")

    def _injected(self) -> list[dict[str, Any]]:
        scheduler = self.state.scheduler
        if scheduler is None:
            return []
        started = self.state.run_started or 0.0
        # set/clear entries of the journal are not injections
        records = [
            (
                str(r.get("kind")),
                float(r.get("time", 0)) - started,
                str(r.get("mode") or r.get("effect") or r.get("code") or "injected"),
                str(r.get("rule_id") or ""),
            )
            for r in self.state.fault_log
            if (r.get("mode") or r.get("effect")) not in ("ok", "cleared")
        ]
        out = []
        for f in scheduler.planned:
            # a fault that became a rule (aws, lambda, dns: its handle is the rule's id) counts
            # the records of that rule; the others the records of their kind inside their
            # window (a second of slack for clocks)
            kind = f.spec.action.split(":", 1)[0]
            rule_id = f.handle if isinstance(f.handle, str) and kind != "redis" else ""
            effects: dict[str, int] = {}
            for record_kind, at, effect, record_rule in records:
                if rule_id and record_rule:
                    hit = record_rule == rule_id
                else:
                    hit = record_kind == kind and f.start_s - 1.0 <= at <= f.end_s + 1.0
                if hit:
                    effects[effect] = effects.get(effect, 0) + 1
            out.append(
                {
                    "label": f.spec.label,
                    "action": f.spec.action,
                    "phase": f.phase,
                    "start_s": round(f.start_s, 3),
                    "end_s": round(f.end_s, 3),
                    "targets": f.spec.targets,
                    "parameters": f.spec.parameters,
                    "error": f.error,
                    "injected": sum(effects.values()),
                    "effects": effects,
                    "counts_injections": bool(rule_id),
                }
            )
        return out


def _clear_all() -> Any:
    from harness.scenario.model import FaultSpec

    return FaultSpec(action="faults:clear", name="clear every fault (safety net)")


def _action_context(
    cls: Any, endpoints: dict[str, Any], seed: int, started: float, runner: ScenarioRunner
) -> Any:
    """The action context, with the deployed stacks and the state folder for actions that
    need them (third-party faults find their fake servers there)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    extra: dict[str, Any] = {}
    if "stacks" in names:
        extra["stacks"] = {d.stack.name: d.stack for d in runner.state.deployed}
    if "state_dir" in names and runner.state.env is not None:
        extra["state_dir"] = runner.state.env.state_dir
    return cls(endpoints=endpoints, seed=seed, run_started=started, **extra)


def run_scenario(path: Path, options: RunOptions) -> RunData:
    """Load, validate and run the scenario in ``path``; write the report folder; return the data."""
    from harness.report import render_all
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(path)
    runner = ScenarioRunner(scenario, path, options)
    run = runner.run()
    folder = options.report_dir
    save_run(folder, run)
    render_all(run, folder)
    (folder / "load.json").write_text(
        json.dumps(runner.state.load.to_json() if runner.state.load else {}, indent=1, default=str)
    )
    return run
