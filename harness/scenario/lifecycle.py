"""The run's edges: validate before anything starts, bring the environment up and deploy, and
on the way out roll back and tear down what this run started.

Validation raises :class:`~harness.errors.ConfigError` naming the file, the field and the fix;
the teardown never raises (what it could not undo becomes a warning in the report).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from harness.errors import ConfigError
from harness.scenario.context import Deployed, Inputs, RunContext, RunOptions
from harness.scenario.model import FaultSpec, Scenario
from harness.scenario.plan import load_profile_for, mix_name, resolve_stack_dirs, stack_traffic

__all__ = [
    "deploy_stacks",
    "rollbacks",
    "start_alarms",
    "start_environment",
    "teardown",
    "validate",
]

logger = logging.getLogger(__name__)

# run after the scenario's rollbacks: no fault may outlive the run
CLEAR_ALL = FaultSpec(action="faults:clear", name="clear every fault (safety net)")


def validate(scenario: Scenario, scenario_file: Path | None, options: RunOptions) -> Inputs:
    """Everything that can be checked without running anything, checked now."""
    from harness.profile import load_profile

    source = str(scenario_file) if scenario_file else "the scenario"
    inputs = Inputs(
        profile=load_profile_for(scenario),
        mix_name=mix_name(scenario),
        stack_dirs=resolve_stack_dirs(scenario, scenario_file),
        expectations=list(scenario.expectations),
    )
    remote_fis = options.apply and getattr(scenario.target, "kind", "") == "aws"
    if scenario.target is not None and not remote_fis:
        faults = [f.label for p in scenario.timeline for f in p.faults]
        if faults:
            raise ConfigError(
                f"faults ({', '.join(faults)}) need a local environment, but the scenario "
                "aims at a remote target.",
                source=source,
                field="target",
                fix="remove the faults, or the target (to run against local stacks); for a "
                "target of kind aws, `harness run --plan` prints them as AWS FIS templates.",
            )
    if not inputs.stack_dirs:
        if inputs.profile is not None:
            raise ConfigError(
                "the scenario has load but names no stack whose harness.yaml gives the "
                "traffic mix and tenants.",
                source=source,
                field="stacks",
                fix="name the stack folder (with a remote target it is not deployed).",
            )
        return inputs
    profiles = {d: load_profile(d / "harness.yaml") for d in inputs.stack_dirs}
    if inputs.profile is not None:
        load_dir = next(
            (d for d in inputs.stack_dirs if profiles[d].traffic.mixes), inputs.stack_dirs[0]
        )
        inputs.load_dir = load_dir
        inputs.traffic = stack_traffic(
            profiles[load_dir], inputs.mix_name, str(load_dir / "harness.yaml")
        )
    from harness.scenario.slos import profile_expectations

    defaults = profile_expectations(
        scenario,
        [(d.name, d / "harness.yaml", list(profiles[d].slos)) for d in inputs.stack_dirs],
        inputs.load_dir.name if inputs.load_dir is not None else None,
        source,
    )
    inputs.expectations += defaults.expectations
    inputs.profile_slos = defaults.rows
    inputs.warnings.extend(defaults.warnings)
    names = {d.name for d in inputs.stack_dirs}
    for i, phase in enumerate(scenario.timeline):
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

    check_scenario_alarms(scenario, inputs.stack_dirs, source)
    for i, exp in enumerate(scenario.expectations):
        if exp.kind in ("no_lost_jobs", "no_duplicate_jobs", "check"):
            wanted = exp.check or exp.kind
            if not any(profiles[d].checks is not None for d in inputs.stack_dirs):
                raise ConfigError(
                    f"expectation '{exp.label}' needs the check '{wanted}', but no stack "
                    "declares a checks module.",
                    source=source,
                    field=f"expectations[{i}]",
                    fix="add `checks: {module: checks.py}` to the stack's harness.yaml.",
                )
    return inputs


def start_environment(ctx: RunContext) -> None:
    """Start (or attach to) the local environment; with a remote target, prepare its FIS
    experiments when ``--apply`` asks for them."""
    target = ctx.scenario.target
    if target is not None:
        if ctx.options.apply and target.kind == "aws":
            from harness.remote.apply import prepare

            ctx.state.fis = prepare(ctx.scenario, target, str(ctx.file))
        return
    from harness.config import Settings
    from harness.env.environment import Environment

    settings = ctx.options.settings or Settings.load()
    env = Environment(settings)
    ctx.view.message(f"environment: {settings.state_dir} ({settings.backend})")
    env.start()
    ctx.state.env, ctx.state.env_owned = env, env.owned
    ctx.view.message("  started" if env.owned else "  attached to the running one")


def deploy_stacks(ctx: RunContext) -> None:
    env = ctx.state.env
    if env is None:
        return
    from harness.deploy.engine import deploy_stack
    from harness.model import load_stacks

    before = set(load_stacks(env.state_dir))
    for stack_dir in ctx.inputs.stack_dirs:
        t0 = time.monotonic()
        stack = deploy_stack(env, stack_dir)
        ctx.state.deployed.append(Deployed(stack, stack_dir, stack.name not in before))
        ctx.view.message(f"deployed {stack.name} from {stack_dir} in {time.monotonic() - t0:.1f}s")


def start_alarms(ctx: RunContext) -> None:
    """A fresh alarm history for this run, periods scaled as the scenario declares."""
    env = ctx.state.env
    if env is None:
        return
    from harness.scenario.alarm_checks import configure_edge

    scale = ctx.scenario.alarm_period_scale
    try:
        snapshot = configure_edge(str(env.endpoints["aws_endpoint"]), scale)
    except OSError as exc:
        ctx.state.warnings.append(f"alarms: the AWS edge did not answer: {exc}")
        return
    count = len(snapshot.get("alarms") or [])
    note = f", periods scaled down {scale:g}x" if scale != 1 else ""
    ctx.view.message(f"alarms: {count} evaluated live by the AWS edge{note}")
    for problem in snapshot.get("problems") or []:
        ctx.state.warnings.append(f"alarm not evaluated: {problem}")


def rollbacks(ctx: RunContext) -> None:
    """The scenario's rollbacks, then a safety net: no fault may outlive the run."""
    if ctx.state.env is None:
        return
    from harness.scenario.actions import ACTIONS
    from harness.scenario.clock import action_context

    context = action_context(ctx, ctx.state.run_started or time.time())
    for spec in [*ctx.scenario.rollbacks, CLEAR_ALL]:
        kind = ACTIONS[spec.action]
        try:
            targets, params = spec.inputs
            handle = kind.start(context, spec, targets, params, time.time())
            kind.stop(context, handle)
            ctx.state.rollbacks.append(f"{spec.label}: done")
        except Exception as exc:
            ctx.state.rollbacks.append(f"{spec.label}: failed ({exc})")
            ctx.state.warnings.append(f"rollback {spec.label} failed: {exc}")
            logger.error("rollback %s failed: %s", spec.label, exc)


def teardown(ctx: RunContext) -> None:
    """Destroy what this run deployed and stop what it started (unless ``--keep``)."""
    state = ctx.state
    if state.env is None or ctx.options.keep:
        if state.env is not None:
            ctx.view.message(f"left running (--keep): {state.env.state_dir}")
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
            ctx.view.message("environment stopped")
        except Exception as exc:
            state.warnings.append(f"could not stop the environment: {exc}")
