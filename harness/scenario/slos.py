"""A stack profile's ``slos:`` (its ``harness.yaml``) as default expectations of a scenario.

Every scenario that deploys a stack and sends it load is judged on that stack's SLOs, over the
whole run (``scope: all``) unless the SLO names its own scope. The scenario can change that only
explicitly, and the report names each choice (``profile_slos`` in ``summary.json``):

* a scenario ``slo`` expectation with the same metric and scope replaces the stack's one;
* ``profile_slos: {scope: "phase:steady"}`` judges the stack's ``all``-scoped SLOs over a phase;
* ``profile_slos: {skip: ["p99 < 500ms"], reason: ...}`` leaves named SLOs out;
* ``profile_slos: false`` (or ``{enabled: false, reason: ...}``) leaves them all out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.scenario.model import Expectation, Scenario

__all__ = ["ProfileSlos", "profile_expectations"]


@dataclass
class ProfileSlos:
    """The default expectations, and one report row per stack SLO saying what became of it."""

    expectations: list[Expectation] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{r['stack']} SLO '{r['slo']}' not judged: {r['how']}"
            for r in self.rows
            if r["expectation"] is None
        ]


def _text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw.strip()
    return ", ".join(f"{k}: {v}" for k, v in dict(raw).items())


def _shown(spec: Any) -> str:
    from harness.load.slo import LATENCY, RATIO

    if spec.metric in LATENCY:
        return f"{spec.target:g}ms"
    if spec.metric in RATIO:
        return f"{spec.target * 100:g}%"
    return f"{spec.target:g}"


def _same(text: str, wanted: str) -> bool:
    squash = "".join(text.split()).lower()
    return squash == "".join(wanted.split()).lower()


def profile_expectations(
    scenario: Scenario,
    stacks: list[tuple[str, Path, list[Any]]],
    load_stack: str | None,
    source: str,
) -> ProfileSlos:
    """``stacks``: (name, harness.yaml path, its ``slos`` list) of every stack the scenario
    deploys; ``load_stack``: the one its load goes to (None without load)."""
    from harness.load.slo import SloSpec, parse_slo

    settings = scenario.profile_slos
    out = ProfileSlos()
    used_skips: set[str] = set()
    phases = {p.name for p in scenario.timeline}
    wanted = settings.scope or ""
    scope_phase = wanted[6:] if wanted.startswith("phase:") else None
    if scope_phase is not None and scope_phase not in phases:
        raise ConfigError(
            f"profile_slos.scope names unknown phase '{scope_phase}' "
            f"(phases: {', '.join(sorted(phases))}).",
            source=source,
            field="profile_slos.scope",
            fix="name one of the timeline's phases, e.g. phase:steady.",
        )
    for name, profile_file, slos in stacks:
        for i, raw in enumerate(slos):
            try:
                spec = parse_slo(raw) if isinstance(raw, str) else SloSpec.model_validate(raw)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"SLO {raw!r} cannot be read: {exc}",
                    source=str(profile_file),
                    field=f"slos[{i}]",
                    fix="write it as e.g. 'p99 < 500ms', 'error_rate < 1%' or "
                    "{metric: p95, scope: 'tenant:t1', op: '<', target: 300ms}.",
                ) from None
            text = _text(raw)
            row: dict[str, Any] = {"stack": name, "slo": text, "expectation": None, "how": ""}
            out.rows.append(row)
            skip = next(
                (s for s in settings.skip if _same(text, s) or _same(f"{name}:{text}", s)), None
            )
            if not settings.enabled:
                row["how"] = "opted out by the scenario (profile_slos: false)" + (
                    f": {settings.reason}" if settings.reason else ""
                )
                continue
            if skip is not None:
                used_skips.add(skip)
                row["how"] = "skipped by the scenario (profile_slos.skip)" + (
                    f": {settings.reason}" if settings.reason else ""
                )
                continue
            if load_stack is not None and name != load_stack:
                # its API gets none of the scenario's load; without any load at all the SLO is
                # judged anyway (no samples: inconclusive, so opting out must be explicit)
                row["how"] = f"the scenario's load goes to {load_stack}, not to {name}"
                continue
            scope = spec.scope
            if scope == "all" and settings.scope is not None:
                scope = settings.scope
            label = f"{name} SLO {text}" + (f" over {scope}" if scope != spec.scope else "")
            override = next(
                (
                    e
                    for e in scenario.expectations
                    if e.kind == "slo" and e.metric == spec.metric and e.scope == scope
                ),
                None,
            )
            if override is not None:
                row["how"] = (
                    f"replaced by the scenario's expectation '{override.label}' "
                    f"({override.op} {override.target} instead of {spec.op} {_shown(spec)})"
                )
                row["expectation"] = override.label
                continue
            expectation = Expectation(
                name=label,
                kind="slo",
                metric=spec.metric,
                scope=scope,
                op=spec.op,
                target=spec.target,
                allow_empty=settings.allow_empty or spec.allow_empty,
            )
            row["expectation"] = label
            row["how"] = (
                "default expectation"
                if scope == spec.scope
                else f"default expectation, over {scope} (profile_slos.scope)"
            )
            out.expectations.append(expectation)
    unused = [s for s in settings.skip if s not in used_skips]
    if unused:
        known = ", ".join(f"'{r['slo']}'" for r in out.rows) or "none"
        raise ConfigError(
            f"profile_slos.skip names SLOs no deployed stack declares: {', '.join(unused)} "
            f"(stack SLOs: {known}).",
            source=source,
            field="profile_slos.skip",
            fix="copy the SLO as harness.yaml writes it (spaces do not matter), or STACK:SLO.",
        )
    return out
