"""A scenario run's measurements in the report's shape: per-phase rows from the load's phase
groups, and the load's series, tenants and generators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from harness.report.data import PhaseStats, RunData

if TYPE_CHECKING:
    from harness.load.result import GroupStats, LoadResult

__all__ = ["add_load", "phase_rows"]


class Window(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


def phase_rows(windows: Sequence[Window], groups: Mapping[str, GroupStats]) -> list[PhaseStats]:
    """One row per phase (zeros for a phase that sent no request)."""
    rows = []
    for window in windows:
        g = groups.get(window.name)
        rows.append(
            PhaseStats(
                name=window.name,
                start_s=window.start_s,
                end_s=window.end_s,
                requests=g.requests if g else 0,
                rps=g.rps if g else 0.0,
                p50_ms=g.p50_ms if g else 0.0,
                p95_ms=g.p95_ms if g else 0.0,
                p99_ms=g.p99_ms if g else 0.0,
                error_rate=g.error_rate if g else 0.0,
                target_rps=round(g.target, 3) if g and g.target else None,
                dropped=g.dropped if g else 0,
                extra={"statuses": g.statuses, "availability": g.availability} if g else {},
            )
        )
    return rows


def add_load(run: RunData, load: LoadResult) -> None:
    """The load's per-second series, per-tenant rows, warnings and generators into ``run``."""
    run.load_series = [
        {
            "t": row["t"],
            "rps": row["rps"],
            "target_rps": row["target"],
            "p50_ms": row["p50_ms"],
            "p95_ms": row["p95_ms"],
            "p99_ms": row["p99_ms"],
            "errors": {k: v for k, v in row.get("statuses", {}).items() if not k.startswith("2")},
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
    load_env: dict[str, Any] = {
        "base_url": load.base_url,
        "processes": load.processes,
        "generators": [g.to_json() for g in load.generators],
        "endpoints": [e.to_json() for e in load.endpoints],
    }
    run.environment["load"] = load_env
