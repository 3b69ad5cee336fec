"""From a scenario to what the runner executes: one load profile across all phases, the stacks'
traffic, and where every phase sits on the run clock.

The whole timeline is one :func:`harness.load.run_load` call (one set of generator processes,
started once), so there is no gap or restart between phases: each phase becomes one or more
load stages named after it, and a phase without load is a stage at rate 0 (or 0 users).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.scenario.model import LoadSpec, Phase, Scenario
from harness.yamlpos import validation_problems

if TYPE_CHECKING:
    from harness.load.profile import LoadProfile, Tenants, TrafficMix
    from harness.profile import Profile

__all__ = ["PhaseWindow", "StackTraffic", "load_profile_for", "phase_windows", "resolve_stack_dirs"]

FIX = "correct the scenario (the format is documented in scenarios/README.md)."


@dataclass(frozen=True)
class PhaseWindow:
    name: str
    start_s: float
    end_s: float
    stages: tuple[str, ...]  # the load stage names that belong to this phase


def _stage_names(phase: Phase) -> list[str]:
    count = len(phase.load.stages) if phase.load is not None and phase.load.stages else 1
    if count == 1:
        return [phase.name]
    return [f"{phase.name}#{i + 1}" for i in range(count)]


def phase_windows(scenario: Scenario) -> list[PhaseWindow]:
    windows: list[PhaseWindow] = []
    t = 0.0
    for phase in scenario.timeline:
        windows.append(PhaseWindow(phase.name, t, t + phase.duration, tuple(_stage_names(phase))))
        t += phase.duration
    return windows


def _mode(scenario: Scenario) -> str:
    modes = {p.load.mode for p in scenario.timeline if p.load is not None}
    if len(modes) > 1:
        raise ConfigError(
            "the timeline mixes the open model (rate) and the closed model (users); "
            "one run uses one model.",
            field="timeline[].load.mode",
            fix="give every phase's load the same mode.",
        )
    return modes.pop() if modes else "open"


def _phase_stages(phase: Phase, mode: str) -> list[dict[str, Any]]:
    names = _stage_names(phase)
    load: LoadSpec | None = phase.load
    if load is None:
        return [{"name": names[0], "duration": phase.duration, "target": 0.0}]
    if not load.stages:
        target = load.rate if mode == "open" else load.users
        return [{"name": names[0], "duration": phase.duration, "target": float(target or 0)}]
    total = sum(s.duration for s in load.stages)
    if abs(total - phase.duration) > 1e-6:
        raise ConfigError(
            f"phase '{phase.name}' lasts {phase.duration:g}s but its load stages add up to "
            f"{total:g}s.",
            field=f"timeline[{phase.name}].load.stages",
            fix="make the stages' durations add up to the phase's duration.",
        )
    out = []
    for name, stage in zip(names, load.stages, strict=True):
        target = stage.rate if mode == "open" else stage.users
        out.append(
            {
                "name": name,
                "duration": stage.duration,
                "target": float(target or 0),
                "shape": stage.shape,
            }
        )
    return out


def load_profile_for(scenario: Scenario) -> LoadProfile | None:
    """One :class:`LoadProfile` for the whole timeline, or None when no phase has load."""
    from harness.load.profile import LoadProfile

    if not any(p.load is not None for p in scenario.timeline):
        return None
    mode = _mode(scenario)
    stages = [s for phase in scenario.timeline for s in _phase_stages(phase, mode)]
    loads = [p.load for p in scenario.timeline if p.load is not None]
    max_users = max((ld.max_users for ld in loads if ld.max_users), default=None)
    think = max((ld.think_time for ld in loads), default=0.0)
    return LoadProfile.model_validate(
        {"mode": mode, "stages": stages, "max_users": max_users, "think_time": think}
    )


def load_processes(scenario: Scenario) -> int | None:
    return max((p.load.processes for p in scenario.timeline if p.load and p.load.processes),
               default=None)  # fmt: skip


def mix_name(scenario: Scenario) -> str | None:
    names = {p.load.mix for p in scenario.timeline if p.load is not None and p.load.mix}
    if len(names) > 1:
        raise ConfigError(
            f"phases name different traffic mixes ({', '.join(sorted(names))}); "
            "one run follows one mix.",
            field="timeline[].load.mix",
            fix="name the same mix in every phase (or none, for the stack's default).",
        )
    return names.pop() if names else None


def resolve_stack_dirs(scenario: Scenario, scenario_file: Path | None) -> list[Path]:
    """Stack folders, relative to the scenario file first, then to the working directory."""
    out: list[Path] = []
    for i, name in enumerate(scenario.stacks):
        candidates = [Path(name)]
        if scenario_file is not None and not Path(name).is_absolute():
            candidates.insert(0, scenario_file.parent / name)
            # scenarios/x.yaml naming "stacks/syncwell" means the project's stacks folder
            candidates.append(scenario_file.parent.parent / name)
        found = next((c for c in candidates if (c / "template.yaml").is_file()), None)
        if found is None:
            raise ConfigError(
                f"stack '{name}' has no template.yaml (looked in "
                f"{', '.join(str(c) for c in candidates)}).",
                source=str(scenario_file) if scenario_file else None,
                field=f"stacks[{i}]",
                fix="name a stack folder (with template.yaml), e.g. stacks/syncwell.",
            )
        out.append(found.resolve())
    return out


@dataclass
class StackTraffic:
    """The load's requests and tenants, from the load stack's harness.yaml."""

    mix: TrafficMix
    tenants: Tenants
    mix_name: str | None


def stack_traffic(profile: Profile, wanted: str | None, source: str) -> StackTraffic:
    from pydantic import ValidationError

    from harness.load.profile import Tenants, TrafficMix

    mixes = profile.traffic.mixes
    name = wanted or profile.traffic.default or (next(iter(mixes)) if mixes else None)
    if wanted and wanted not in mixes:
        raise ConfigError(
            f"the scenario asks for traffic mix '{wanted}', which {source} does not define "
            f"(mixes: {', '.join(mixes) or 'none'}).",
            source=source,
            field="traffic.mixes",
            fix="name one of the stack's mixes in the scenario's load.mix.",
        )
    if name is None:
        raise ConfigError(
            f"{source} defines no traffic mix, so the scenario's load has nothing to send.",
            source=source,
            field="traffic.mixes",
            fix="add a traffic mix to the stack's harness.yaml (see the README's profile format).",
        )
    try:
        mix = TrafficMix.model_validate(mixes[name])
    except ValidationError as exc:
        first = validation_problems(exc, prefix=("traffic", "mixes", name))[0]
        raise ConfigError(
            f"traffic mix '{name}' is not valid: {first.field}: {first.message}.",
            source=source,
            field=first.field,
        ) from None
    specs = profile.all_tenants()
    if not specs:
        raise ConfigError(
            f"{source} lists no tenants, so the load has no one to send as.",
            source=source,
            field="tenants",
            fix="list the stack's tenants (id, tier, users) in harness.yaml.",
        )
    tenants = Tenants.model_validate(
        {
            "tenants": [t.model_dump() for t in specs],
            "tier_weights": profile.tier_weights,
        }
    )
    return StackTraffic(mix=mix, tenants=tenants, mix_name=name)
