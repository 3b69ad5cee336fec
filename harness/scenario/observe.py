"""Drain and observe: read the system once the timeline is over.

The load's phases, the counters (Redis, Lambda, load, the stacks' own ``counters`` checks), the
queue and DLQ depths, the stacks' checks bound to this run, the alarms, and what the fault points
recorded (read before the environment goes away). Everything lands in one
:class:`~harness.scenario.expectations.Observations` the expectations are judged on.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.scenario.context import RunContext
from harness.scenario.expectations import Observations

if TYPE_CHECKING:
    from harness.load.result import GroupStats, LoadResult
    from harness.model import DeployedStack

__all__ = ["collect_fault_log", "injected_faults", "observe", "raw_counters", "stack_checks"]

logger = logging.getLogger(__name__)

LAMBDA_COUNTERS = ("invocations", "errors", "throttles", "cold_starts")


def observe(ctx: RunContext) -> Observations:
    state = ctx.state
    obs = Observations(load=state.load, run_end_s=ctx.scenario.duration_s)
    if state.run_started is not None:
        obs.ended = state.run_started + ctx.scenario.duration_s
    if state.sampler is not None:
        state.sampler.stop()
    if state.load is not None:
        obs.phases = _phase_groups(ctx, state.load)
        obs.seconds = list(state.load.timeline)
    if state.scheduler is not None:
        obs.fault_ends = {f.spec.label: f.end_s for f in state.scheduler.planned if f.started}
        obs.drills = {  # what each DR drill action measured (harness/scenario/drills.py)
            f.spec.label: f.handle
            for f in state.scheduler.planned
            if f.spec.action.startswith("dr:") and isinstance(f.handle, dict)
        }
        for f in state.scheduler.planned:  # a drill that was run and failed is a failed drill
            if f.spec.action.startswith("dr:") and f.error and f.spec.label not in obs.drills:
                obs.drills[f.spec.label] = {"action": f.spec.action, "error": f.error}
    obs.counters = _counters(ctx)
    target = ctx.scenario.target
    if state.env is not None:
        obs.queue_depths, obs.queue_peaks, obs.queues_unread = _queue_depths(ctx)
        obs.checks = {k: v for d in state.deployed for k, v in stack_checks(ctx, d.stack).items()}
    elif target is not None and target.kind == "aws":
        from harness.remote.checks import remote_observations

        obs.queue_depths, obs.checks, problems = remote_observations(
            target, ctx.inputs.stack_dirs, state.run_started
        )
        obs.queue_peaks = dict(obs.queue_depths)  # no sampler on a remote account
        state.warnings.extend(problems)
    obs.isolation = list(state.isolation)
    obs.steady_state = list(state.steady)
    if state.env is not None and state.run_started is not None:
        from harness.scenario.alarm_checks import fetch

        obs.alarms = fetch(
            str(state.env.endpoints["aws_endpoint"]),
            state.run_started,
            state.scheduler.windows() if state.scheduler is not None else [],
            {w.name: (w.start_s, w.end_s) for w in ctx.windows},
            time.time() - state.run_started,
        )
    return obs


def raw_counters(ctx: RunContext) -> dict[str, float]:
    """Redis's keyspace hits and misses now (empty when Redis does not answer)."""
    if ctx.state.env is None:
        return {}
    try:
        import redis

        client = redis.Redis.from_url(ctx.state.env.endpoints["redis_url"], socket_timeout=2)
        info = client.info("stats")
        return {
            "cache_hits": float(info.get("keyspace_hits", 0)),
            "cache_misses": float(info.get("keyspace_misses", 0)),
        }
    except Exception as exc:
        logger.debug("redis counters unavailable: %s", exc)
        return {}


def collect_fault_log(ctx: RunContext) -> None:
    """What the fault points recorded (every injected error, delay, 429...), read before the
    environment goes away."""
    state = ctx.state
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


def injected_faults(ctx: RunContext) -> list[dict[str, Any]]:
    """Every planned fault with the injections attributed to it."""
    from harness.chaos.attribution import attribute

    scheduler = ctx.state.scheduler
    if scheduler is None:
        return []
    return attribute(scheduler.planned, ctx.state.fault_log, ctx.state.run_started or 0.0)


def stack_checks(ctx: RunContext, stack: DeployedStack) -> dict[str, Callable[[], Any]]:
    """The public functions of the stack's checks module, each bound to this run."""
    checks = (stack.profile or {}).get("checks") or {}
    module_file = checks.get("module") if isinstance(checks, dict) else None
    if not module_file or ctx.state.env is None:
        return {}
    path = Path(stack.stack_dir) / module_file
    module = _load_module(path, f"harness_checks_{stack.name.replace('-', '_')}")
    out: dict[str, Callable[[], Any]] = {}
    for name in dir(module):
        fn = getattr(module, name)
        if (
            name.startswith("_")
            or not callable(fn)
            or getattr(fn, "__module__", "") != module.__name__
        ):
            continue
        out[name] = _bind_check(ctx, fn, stack)
    return out


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}.", source=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _bind_check(ctx: RunContext, fn: Callable[..., Any], stack: DeployedStack) -> Any:
    """``fn(env, stack)``; a check that takes ``since`` also gets the epoch second the timeline
    started (so an SLO over the stack's records leaves the warm-up out), and one that takes
    ``load`` the run's load result (what the clients saw: a side independent of the stack's own
    records)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    extra: dict[str, Any] = {}
    if "since" in params and ctx.state.run_started is not None:
        extra["since"] = ctx.state.run_started
    if "load" in params and ctx.state.load is not None:
        extra["load"] = ctx.state.load
    return functools.partial(fn, ctx.state.env, stack, **extra)


def _phase_groups(ctx: RunContext, load: LoadResult) -> dict[str, GroupStats]:
    from harness.load.result import GroupStats, merge_cells

    profile = ctx.inputs.profile
    assert profile is not None
    bounds = {name: (start, end) for name, start, end in profile.stage_bounds()}
    out: dict[str, GroupStats] = {}
    for window in ctx.windows:
        cells = [cell for key, cell in load.cells.items() if key[0] in window.stages]
        span = window.end_s - window.start_s
        expected = (
            sum(profile.expected(*bounds[s]) for s in window.stages if s in bounds)
            if profile.mode == "open"
            else None
        )
        target = (
            expected / span
            if expected is not None
            else profile.target_at(window.start_s + span / 2)
        )
        out[window.name] = GroupStats.of(
            window.name,
            merge_cells(cells),
            span,
            start=window.start_s,
            expected=expected,
            target=target,
        )
    return out


def _counters(ctx: RunContext) -> dict[str, float]:
    state = ctx.state
    counters: dict[str, float] = {}
    after, before = raw_counters(ctx), state.counters_before
    if after and before:
        hits = after["cache_hits"] - before.get("cache_hits", 0)
        misses = after["cache_misses"] - before.get("cache_misses", 0)
        counters.update({"cache_hits": hits, "cache_misses": misses})
        if hits + misses > 0:
            counters["cache_hit_rate"] = round(hits / (hits + misses), 6)
    sampler = state.sampler
    if sampler is not None and sampler.lambda_series:
        for key in LAMBDA_COUNTERS:
            counters[f"lambda_{key}"] = sum(
                f.get(key, 0.0)
                for point in sampler.lambda_series
                for f in point["functions"].values()
            )
    load = state.load
    if load is not None:
        counters["requests"] = float(load.total.requests)
        counters["dropped"] = float(load.total.dropped)
        counters["throttled"] = float(load.total.statuses.get("429", 0))
        counters["errors"] = float(load.total.errors)
    if state.scheduler is not None:
        counters["faults_started"] = float(
            sum(1 for f in state.scheduler.planned if f.started and not f.error)
        )
    for d in state.deployed:
        fn = stack_checks(ctx, d.stack).get("counters")
        if fn is not None:
            try:
                counters.update({k: float(v) for k, v in dict(fn()).items()})
            except Exception as exc:
                state.warnings.append(f"{d.stack.name} counters failed: {exc}")
    return counters


def _queue_depths(ctx: RunContext) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """(final depths, peaks, queues whose depth could not be read)."""
    from harness.scenario.sampler import queue_depth, queues_of

    depths: dict[str, int] = {}
    peaks: dict[str, int] = {}
    unread: list[str] = []
    queues, dlqs = queues_of([d.stack for d in ctx.state.deployed])
    if not (queues or dlqs):
        return depths, peaks, unread
    assert ctx.state.env is not None
    sqs = ctx.state.env.client("sqs", direct=True)
    for name, url in {**queues, **dlqs}.items():
        try:
            depths[name] = queue_depth(sqs, url)
        except Exception as exc:
            unread.append(name)
            ctx.state.warnings.append(f"could not read the depth of {name}: {exc}")
    sampler = ctx.state.sampler
    for point in sampler.queue_series if sampler is not None else []:
        for group in ("queues", "dlqs"):
            for name, depth in point.get(group, {}).items():
                peaks[name] = max(peaks.get(name, 0), int(depth))
    for name, depth in depths.items():
        peaks[name] = max(peaks.get(name, 0), depth)
    return depths, peaks, unread
