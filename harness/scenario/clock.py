"""The timeline on one clock: the load runs across every phase, and at its first request (the
run clock's zero) the faults, the sampler, the probes during phases and the isolation checks
start; at its end every fault is ended and every side thread joined."""

from __future__ import annotations

import threading
import time

from harness.scenario.actions import ActionContext
from harness.scenario.context import RunContext
from harness.scenario.plan import PhaseWindow
from harness.scenario.probes import steady_during
from harness.scenario.traffic import run_load

__all__ = ["action_context", "finish_faults", "run_timeline"]


def action_context(ctx: RunContext, started: float) -> ActionContext:
    """What the fault actions need: the environment's endpoints and state folder (third-party
    faults find their fake servers there), the seed and the run clock's zero."""
    env = ctx.state.env
    assert env is not None
    return ActionContext(
        endpoints=dict(env.endpoints), seed=ctx.seed, run_started=started, state_dir=env.state_dir
    )


def run_timeline(ctx: RunContext) -> None:
    total = ctx.scenario.duration_s
    ctx.view.message(f"timeline: {len(ctx.windows)} phase(s), {total:g}s, seed {ctx.seed}")
    if ctx.inputs.profile is not None:
        ctx.state.load = run_load(ctx, ctx.inputs.profile, started=lambda t: _on_start(ctx, t))
        return
    _on_start(ctx, time.time())  # no load: the clock starts now and runs the phases out
    assert ctx.state.run_started is not None
    end = ctx.state.run_started + total
    while (now := time.time()) < end:
        elapsed = now - ctx.state.run_started
        window = next((w for w in ctx.windows if w.start_s <= elapsed < w.end_s), None)
        ctx.view.update(
            phase=window.name if window else "-", elapsed_s=elapsed, remaining_s=end - now
        )
        time.sleep(min(1.0, end - now))


def finish_faults(ctx: RunContext) -> None:
    """End every fault (FIS experiments too) and wait for the side threads."""
    state = ctx.state
    if state.fis is not None:
        state.fis.stop_all()
        state.warnings.extend(
            f"FIS {e.fault}: {e.status} at {e.at_s:.1f}s {e.reason}".rstrip()
            for e in state.fis.events
        )
    if state.scheduler is not None:
        state.scheduler.stop_all()
    for thread in state.isolation_threads:
        thread.join(timeout=300)


def _on_start(ctx: RunContext, instant: float) -> None:
    """The run clock's zero: faults, sampler and isolation checks start on it."""
    from harness.scenario.sampler import Sampler
    from harness.scenario.timeline import FaultScheduler, plan_faults

    state = ctx.state
    state.run_started = instant
    if state.fis is not None:
        state.fis.start(instant)
    if state.env is None:
        return
    state.scheduler = FaultScheduler(action_context(ctx, instant), plan_faults(ctx.scenario))
    state.scheduler.start()
    stacks = [d.stack for d in state.deployed]
    state.sampler = Sampler(dict(state.env.endpoints), stacks, instant)
    state.sampler.start()
    threads: list[threading.Thread] = []
    spec = ctx.scenario.steady_state
    if spec is not None and spec.during:  # joined with the isolation threads before the verdicts
        threads.append(threading.Thread(target=steady_during, args=(ctx,), name="steady-during"))
    for window, phase in zip(ctx.windows, ctx.scenario.timeline, strict=True):
        if phase.isolation is not None:
            threads.append(
                threading.Thread(
                    target=_isolation,
                    args=(ctx, window, phase.isolation.stack, phase.isolation.examples),
                    name=f"isolation-{window.name}",
                )
            )
    for thread in threads:
        thread.daemon = True
        state.isolation_threads.append(thread)
        thread.start()


def _isolation(ctx: RunContext, window: PhaseWindow, stack_name: str | None, examples: int) -> None:
    """The isolation checks of one phase, from its start, on the run's own environment."""
    state = ctx.state
    assert state.run_started is not None and state.env is not None
    delay = state.run_started + window.start_s - time.time()
    if delay > 0:
        time.sleep(delay)
    stack = ctx.stack_named(stack_name) if stack_name else state.deployed[0].stack
    assert stack is not None
    t0 = time.time() - state.run_started
    try:
        from harness.isolation import run_isolation

        result = run_isolation(
            state.env,
            stack,
            examples=examples,
            seed=ctx.seed,
            report_dir=ctx.options.report_dir / "isolation" / window.name,
        )
        data = result.to_json()
        passed = bool(result.passed)
        status = str(data.get("status") or ("passed" if passed else "failed"))
        found = "; ".join(result.violations[:3]) or str(data.get("inconclusive"))
        detail = (
            f"{result.steps} steps on {stack.name}: "
            + ("no violation" if passed else found)
            + (f" (replay: {result.replay_file})" if result.replay_file else "")
        )
    except Exception as exc:  # an isolation run that breaks cannot pass
        data, passed, status = {}, False, "failed"
        detail = f"isolation run failed: {exc}"
    state.isolation.append(
        {
            "name": f"isolation during {window.name}",
            "phase": window.name,
            "stack": stack.name,
            "passed": passed,
            "status": status,
            "detail": detail,
            "start_s": round(t0, 2),
            "end_s": round(time.time() - state.run_started, 2),
            "result": data,
        }
    )
    ctx.view.message(f"isolation ({window.name}): {'ok' if passed else 'FAILED'} - {detail}")
