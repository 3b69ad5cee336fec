"""The raw run data a report is rendered from (``raw.json`` in the report folder).

A run writes everything it observed here; ``summary.json``, ``junit.xml`` and ``report.html`` are
all derived from it, so ``harness report DIR`` can re-render them at any time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "STATUSES",
    "Expectation",
    "FaultWindow",
    "PhaseStats",
    "RunData",
    "load_run",
    "save_run",
]

RAW_FILE = "raw.json"


@dataclass
class PhaseStats:
    """One timeline phase, in DESIGN.md's summary.json shape (plus start/end on the run clock)."""

    name: str
    start_s: float
    end_s: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    error_rate: float = 0.0
    target_rps: float | None = None
    dropped: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "error_rate": round(self.error_rate, 6),
            "target_rps": self.target_rps,
            "dropped": self.dropped,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
        }


STATUSES = ("passed", "failed", "inconclusive")


@dataclass
class Expectation:
    """One expectation's verdict, in DESIGN.md's summary.json shape, plus ``status``:
    ``passed``, ``failed`` or ``inconclusive`` (the check had no data to judge: no request in
    its scope, no job of that kind, a fake server that did not answer...). An inconclusive
    verdict fails (``passed`` false) unless the scenario allowed it (``allow_empty: true``),
    and is reported as inconclusive either way, never as a pass or a plain failure."""

    name: str
    passed: bool
    observed: Any
    target: Any
    detail: str = ""
    kind: str = ""
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "passed" if self.passed else "failed"
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.status == "passed" and not self.passed:
            raise ValueError("a verdict with status 'passed' must have passed=True")
        if self.status == "failed" and self.passed:
            raise ValueError("a verdict with status 'failed' must have passed=False")

    @property
    def inconclusive(self) -> bool:
        return self.status == "inconclusive"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "status": self.status,
            "observed": self.observed,
            "target": self.target,
            "detail": self.detail,
            "kind": self.kind,
        }


@dataclass
class FaultWindow:
    label: str
    start_s: float
    end_s: float
    kind: str = ""


@dataclass
class RunData:
    """Everything a run observed. Series are lists of per-second points on the run clock (``t``)."""

    title: str
    seed: int
    started_at: float
    duration_s: float
    description: str = ""
    scenario_file: str = ""
    phases: list[PhaseStats] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    # {"t": s, "rps": .., "target_rps": .., "p50_ms": .., "p95_ms": .., "p99_ms": .., "errors": {"503": n}, "dropped": n}
    load_series: list[dict[str, Any]] = field(default_factory=list)
    # tenant -> {"requests", "p50_ms", "p95_ms", "p99_ms", "throttled", "errors"}
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # {"t": s, "queues": {name: depth}, "dlqs": {name: depth}}
    queue_series: list[dict[str, Any]] = field(default_factory=list)
    # {"t": s, "functions": {name: {"concurrency", "throttles", "cold_starts", "errors", "invocations"}}}
    lambda_series: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)  # cost-relevant counts (cache hits...)
    injected_faults: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)
    # harness.scenario.alarm_checks.report_section: timelines, per-fault detect/recover times
    alarms: dict[str, Any] = field(default_factory=dict)
    # harness.report.traces.attach_traces: expectation name -> the traces of its evidence
    traces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunData:
        return cls(
            **{
                **data,
                "phases": [PhaseStats(**p) for p in data.get("phases", [])],
                "expectations": [Expectation(**e) for e in data.get("expectations", [])],
                "faults": [FaultWindow(**f) for f in data.get("faults", [])],
            }
        )


def save_run(folder: Path, run: RunData) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RAW_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run.to_json(), indent=1, default=str))
    tmp.replace(path)
    return path


def load_run(folder: Path) -> RunData:
    from harness.errors import ConfigError

    path = folder / RAW_FILE
    try:
        return RunData.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist.",
            source=str(folder),
            fix="point `harness report` at a folder written by `harness run`.",
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a run's raw data ({exc}).", source=str(path)) from None
