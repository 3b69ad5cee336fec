"""Steady state: the unmeasured warm-up, and the probes before, during and after the timeline.

A probe is an HTTP call that must answer one of the expected statuses, or an SLO over a short
window of real traffic (or, during a phase, over the phase's own traffic once the load is done).
An SLO probe that got no answer is ``inconclusive``, never a pass.
"""

from __future__ import annotations

import itertools
import time
import zlib
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.httpclient import HttpStatusError, NoAnswerError, call
from harness.scenario.context import RunContext
from harness.scenario.expectations import judge_slo
from harness.scenario.model import Probe
from harness.scenario.traffic import expand, run_load

if TYPE_CHECKING:
    from harness.load.result import GroupStats

__all__ = ["probe", "steady", "steady_during", "steady_during_slo", "warmup"]


def warmup(ctx: RunContext) -> None:
    """Unmeasured rounds of load until one comes back clean (no timeout, no aborted request,
    no 5xx): cold starts and first token grants are behind us then."""
    spec = ctx.scenario.warmup
    if spec is None or spec.duration <= 0:
        return
    from harness.load.profile import LoadProfile, Stage

    deadline = time.monotonic() + max(spec.max, spec.duration)
    for round_no in itertools.count(1):
        ctx.view.message(
            f"warm-up round {round_no}: {spec.rate:g} rps for {spec.duration:g}s (not measured)"
        )
        profile = LoadProfile(stages=[Stage.hold(spec.rate, spec.duration, name="warmup")])
        seed = zlib.crc32(f"{ctx.seed}:warmup:{round_no}".encode())
        total = run_load(ctx, profile, quiet=True, seed=seed).total
        unanswered = total.aborted + total.statuses.get("0", 0)
        server_errors = sum(v for k, v in total.statuses.items() if k.startswith("5"))
        ctx.view.message(
            f"warm-up round {round_no}: {total.requests} requests, p99 {total.p99_ms:.0f} ms, "
            f"{unanswered} unanswered, {server_errors} 5xx"
        )
        if total.requests and not unanswered and not server_errors:
            return
        if time.monotonic() + spec.duration > deadline:
            ctx.state.warnings.append(
                f"the warm-up never came back clean in {spec.max:g}s (last round: "
                f"{unanswered} unanswered, {server_errors} 5xx of {total.requests})"
            )
            return


def steady(ctx: RunContext, when: str) -> None:
    """The steady-state probes ``before`` or ``after`` the timeline, if the scenario asks."""
    spec = ctx.scenario.steady_state
    if spec is None or not getattr(spec, when):
        return
    for p in spec.probes:
        outcome = probe(ctx, p, when)
        ctx.state.steady.append(outcome)
        mark = "ok" if outcome["passed"] else "FAILED"
        ctx.view.message(f"steady state ({when}) {p.name}: {mark} - {outcome['detail']}")


def steady_during(ctx: RunContext) -> None:
    """The HTTP probes at the middle of every phase, on a thread beside the load (SLO probes
    during a phase are judged on the phase's own traffic afterwards: :func:`steady_during_slo`)."""
    spec = ctx.scenario.steady_state
    state = ctx.state
    assert spec is not None and state.run_started is not None
    for window in ctx.windows:
        delay = state.run_started + (window.start_s + window.end_s) / 2 - time.time()
        if delay > 0 and state.load is None:
            time.sleep(delay)
        if state.load is not None or state.interrupted:
            return  # the timeline is over
        for p in spec.probes:
            if p.type == "http":
                outcome = probe(ctx, p, f"during {window.name}")
                state.steady.append(outcome)
                mark = "ok" if outcome["passed"] else "FAILED"
                ctx.view.message(f"steady state (during {window.name}) {p.name}: {mark}")


def steady_during_slo(ctx: RunContext) -> None:
    """Every SLO probe judged on each phase's own requests."""
    spec = ctx.scenario.steady_state
    load = ctx.state.load
    if spec is None or not spec.during or load is None:
        return
    slo_probes = [p for p in spec.probes if p.type == "slo"]
    loaded = {p.name for p in ctx.scenario.timeline if p.load is not None}
    for window in ctx.windows:
        group = load.group(f"phase:{window.name}")
        name = f"during {window.name}"
        if group is None or not group.requests:
            if window.name in loaded:  # a phase with load and no answer: nothing to judge
                why = f"no request answered in phase {window.name}"
                ctx.state.steady.extend(_inconclusive(p, name, why) for p in slo_probes)
            continue
        ctx.state.steady.extend(_slo_outcome(p, name, group, "the phase's ") for p in slo_probes)


def probe(ctx: RunContext, spec: Probe, when: str) -> dict[str, Any]:
    """One probe's outcome: ``{"name", "passed", "detail"}`` (and ``"status"`` when
    inconclusive)."""
    if spec.type == "http":
        return _http(ctx, spec, when)
    # an SLO over a short window of real traffic
    from harness.load.profile import LoadProfile, Stage

    profile = LoadProfile(stages=[Stage.hold(spec.rate, spec.window, name="probe")])
    # Its own seed: the probe's generated values (Idempotency-Keys, ids) must not repeat the
    # timeline's, or the timeline's first writes would be answered as idempotent replays.
    seed = zlib.crc32(f"{ctx.seed}:{spec.name}:{when}".encode())
    total = run_load(ctx, profile, quiet=True, seed=seed).total
    if total.requests == 0:
        return _inconclusive(spec, when, "the probe's load got no answer")
    return _slo_outcome(spec, when, total, "")


def _http(ctx: RunContext, spec: Probe, when: str) -> dict[str, Any]:
    name = f"{spec.name} ({when})"
    assert spec.url is not None
    try:
        url = expand(ctx, spec.url)
    except ConfigError as exc:
        return {"name": name, "passed": False, "detail": str(exc)}
    # a probe of a control path carries the environment's secret, as every harness client
    t0 = time.perf_counter()
    try:
        status = call(spec.method, url, control=True, timeout=spec.timeout).status
    except HttpStatusError as exc:
        status = exc.status
    except NoAnswerError as exc:
        return {"name": name, "passed": False, "detail": f"{url}: {exc.reason}"}
    took = (time.perf_counter() - t0) * 1000
    return {
        "name": name,
        "passed": status in spec.expect_status,
        "detail": f"{spec.method} {url} -> {status} in {took:.0f} ms",
    }


def _slo_outcome(spec: Probe, when: str, group: GroupStats, whose: str) -> dict[str, Any]:
    assert spec.target is not None
    metric = str(spec.metric)
    passed, observed, target = judge_slo(group, metric, spec.op, spec.target)
    return {
        "name": f"{spec.name} ({when})",
        "passed": passed,
        "detail": f"{metric} {observed:g} (must be {spec.op} {target:g}) over "
        f"{whose}{group.requests} requests",
    }


def _inconclusive(spec: Probe, when: str, why: str) -> dict[str, Any]:
    return {
        "name": f"{spec.name} ({when})",
        "passed": False,
        "status": "inconclusive",
        "detail": f"inconclusive: {why}",
    }
