"""Which injections belong to which fault: the fault points' records matched to a run's faults.

A fault that became a rule (aws, lambda, dns: its handle is the rule's id) counts the records
of that rule; the others count the records of their kind inside their window (a second of slack
for clocks). The set/clear entries of the journal (``effect: ok``, ``change: set``) are not
injections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["PlannedFaultLike", "attribute"]

SLACK_S = 1.0  # clocks: a record this close to a window counts for it


class _SpecLike(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def targets(self) -> Any: ...
    @property
    def parameters(self) -> Any: ...


class PlannedFaultLike(Protocol):
    """What attribution reads of a scheduled fault (``harness.scenario.timeline.PlannedFault``)."""

    @property
    def spec(self) -> _SpecLike: ...
    @property
    def phase(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def handle(self) -> Any: ...
    @property
    def error(self) -> str | None: ...


def attribute(
    planned: Sequence[PlannedFaultLike],
    records: Iterable[Mapping[str, Any]],
    run_started: float,
) -> list[dict[str, Any]]:
    """One row per planned fault: its window, and how many injections (by effect) it made."""
    injections = [
        (
            str(r.get("kind")),
            float(r.get("time", 0)) - run_started,
            str(r.get("mode") or r.get("effect") or r.get("code") or "injected"),
            str(r.get("rule_id") or ""),
        )
        for r in records
        if (r.get("mode") or r.get("effect")) not in ("ok", "cleared") and r.get("change") != "set"
    ]
    out = []
    for f in planned:
        kind = f.spec.action.split(":", 1)[0]
        rule_id = f.handle if isinstance(f.handle, str) and kind != "redis" else ""
        effects: dict[str, int] = {}
        for record_kind, at, effect, record_rule in injections:
            if rule_id and record_rule:
                hit = record_rule == rule_id
            else:
                hit = record_kind == kind and f.start_s - SLACK_S <= at <= f.end_s + SLACK_S
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
