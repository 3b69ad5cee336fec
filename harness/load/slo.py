"""SLOs over a load run, as summary.json ``expectations`` (``name``, ``passed``, ``observed``,
``target``).

An :class:`SloSpec` is ``{name, metric, scope, op, target}``:

* ``metric``: ``p50 | p95 | p99 | max`` (milliseconds, from the intended start), ``error_rate``,
  ``availability`` (share of non-5xx answers), ``rps``, ``achieved_ratio`` (achieved / target
  arrivals), ``dropped_ratio``;
* ``scope``: ``all``, ``phase:NAME``, ``endpoint:NAME`` or ``tenant:ID``;
* ``target``: a number, or ``"500ms"``/``"1s"`` for latencies and ``"1%"`` for ratios.

:func:`parse_slo` reads the short form used on the command line, k6-style:
``p99<500ms``, ``p99{tenant:t1}<300ms``, ``error_rate<=1%``, ``phase:peak p95<200ms``.

SLOs measured elsewhere (e.g. "manual sync p95 from request to SUCCEEDED", "share of jobs not in
the DLQ") plug in as :class:`ExternalSlo`: a callable returning the observed value, evaluated
with the same operators when :func:`evaluate_slos` runs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.load.result import GroupStats, LoadResult

__all__ = [
    "ExternalSlo",
    "Metric",
    "SloResult",
    "SloSpec",
    "empty_reason",
    "evaluate_slos",
    "metric_number",
    "parse_slo",
]

Metric = Literal[
    "p50",
    "p95",
    "p99",
    "max",
    "error_rate",
    "availability",
    "rps",
    "achieved_ratio",
    "dropped_ratio",
]
Op = Literal["<", "<=", ">", ">="]
LATENCY = ("p50", "p95", "p99", "max")
RATIO = ("error_rate", "availability", "achieved_ratio", "dropped_ratio")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SCOPE = re.compile(r"^(all|(phase|endpoint|tenant):.+)$")


def empty_reason(group: GroupStats | None, metric: str, scope: str) -> str | None:
    """Why ``metric`` over ``group`` has nothing to judge, or None when it has data.

    A percentile, error rate or availability needs at least one answered request; ``rps`` and
    ``dropped_ratio`` need at least one arrival (requests that all got dropped are a real 0 rps);
    ``achieved_ratio`` needs an arrival or a target rate. Their value over nothing is a default
    (0.0), not a measurement."""
    if group is None:
        return f"no requests in scope {scope} (no such {scope.partition(':')[0]} in the load)"
    arrivals = group.requests + group.dropped + group.aborted
    if metric in ("rps", "dropped_ratio"):
        if arrivals == 0:
            return f"no arrival in scope {scope}: {metric} over zero arrivals is undefined"
        return None
    if metric == "achieved_ratio":
        if arrivals == 0 and not group.target:
            return f"no arrival and no target rate in scope {scope}"
        return None
    if group.requests == 0:
        what = (
            "a percentile over zero samples"
            if metric in LATENCY
            else f"{metric} over zero requests"
        )
        return f"no answered request in scope {scope} ({what} is undefined)"
    return None


def metric_number(metric: str, value: float | str) -> float:
    """A target written with its unit (``"250ms"``, ``"99%"``, ``"50rps"``) as a number."""
    if isinstance(value, bool):
        raise ValueError("target must be a number")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower().replace("_", "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|%|rps)?", text)
    if not match:
        raise ValueError(f"'{value}' is not a target; use e.g. 500ms, 1s, 1% or 0.01")
    number, unit = float(match.group(1)), match.group(2)
    if unit in ("ms", "s") and metric not in LATENCY:
        raise ValueError(f"'{value}' is a duration but {metric} is not a latency")
    if unit == "%" and metric not in RATIO:
        raise ValueError(f"'{value}' is a percentage but {metric} is not a ratio")
    if unit == "s":
        return number * 1000
    if unit == "%":
        return number / 100
    return number


class SloSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    metric: Metric
    scope: str = "all"
    op: Op = "<"
    target: float = Field(description="ms for latencies, a fraction for ratios")
    allow_empty: bool = Field(
        False, description="pass (as inconclusive) when the scope has no data to judge"
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if not _SCOPE.match(value):
            raise ValueError("scope is 'all', 'phase:NAME', 'endpoint:NAME' or 'tenant:ID'")
        return value

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("target"), str):
            data = {**data, "target": metric_number(str(data.get("metric")), data["target"])}
        return data

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        scope = "" if self.scope == "all" else f"{{{self.scope}}}"
        unit = "ms" if self.metric in LATENCY else ""
        return f"{self.metric}{scope}{self.op}{self.target:g}{unit}"

    def observe(self, group: GroupStats) -> float:
        if self.metric in LATENCY:
            return (
                group.max_ms if self.metric == "max" else float(getattr(group, f"{self.metric}_ms"))
            )
        return float(getattr(group, self.metric))


@dataclass(frozen=True)
class ExternalSlo:
    """An SLO whose value is measured outside the load engine (called at evaluation time)."""

    name: str
    observe: Callable[[], float | None]
    op: Op
    target: float
    unit: str = ""
    allow_empty: bool = False


@dataclass(frozen=True)
class SloResult:
    """``status`` is ``passed``, ``failed`` or ``inconclusive`` (nothing to judge: it fails
    unless the SLO allows empty)."""

    name: str
    passed: bool
    observed: float | None
    target: str
    detail: str = ""
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "passed" if self.passed else "failed")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "status": self.status,
            "observed": self.observed,
            "target": self.target,
            "detail": self.detail,
        }


_SHORT = re.compile(
    r"^\s*(?:(?P<pre>(?:phase|endpoint|tenant):\S+)\s+)?"
    r"(?P<metric>[a-z_0-9]+)(?:\{(?P<scope>[^}]+)\})?\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<target>\S+)\s*$"
)


def parse_slo(text: str) -> SloSpec:
    """``p99<500ms``, ``p99{tenant:t1}<300ms``, ``phase:peak error_rate<=1%``."""
    match = _SHORT.match(text)
    if not match:
        raise ValueError(
            f"'{text}' is not an SLO; write e.g. p99<500ms, error_rate<1%, "
            "p95{tenant:t1}<300ms or 'phase:peak availability>=99.9%'"
        )
    scope = match.group("scope") or match.group("pre") or "all"
    return SloSpec.model_validate(
        {
            "metric": match.group("metric"),
            "scope": scope,
            "op": match.group("op"),
            "target": match.group("target"),
        }
    )


def _inconclusive(name: str, target: str, why: str, allowed: bool) -> SloResult:
    note = "allowed by allow_empty" if allowed else "fails: nothing to judge"
    return SloResult(name, allowed, None, target, f"inconclusive: {why} ({note})", "inconclusive")


def _fmt(op: str, target: float, unit: str) -> str:
    return f"{op} {target:g}{unit}"


def evaluate_slos(
    result: LoadResult | None,
    specs: Sequence[SloSpec | str] = (),
    external: Iterable[ExternalSlo] = (),
) -> list[SloResult]:
    """Check every SLO. A scope with nothing to judge (see :func:`empty_reason`), or an
    external SLO with no value, is inconclusive: it fails unless the SLO has ``allow_empty``."""
    out: list[SloResult] = []
    for raw in specs:
        spec = parse_slo(raw) if isinstance(raw, str) else raw
        unit = "ms" if spec.metric in LATENCY else ""
        target = _fmt(spec.op, spec.target, unit)
        group = result.group(spec.scope) if result is not None else None
        empty = (
            empty_reason(group, spec.metric, spec.scope) if result is not None else "no load ran"
        )
        if empty is not None or group is None:
            out.append(_inconclusive(spec.label, target, str(empty), spec.allow_empty))
            continue
        observed = spec.observe(group)
        passed = _OPS[spec.op](observed, spec.target)
        detail = f"{spec.metric} over {spec.scope}: {observed:g}{unit} (must be {target})"
        out.append(SloResult(spec.label, passed, round(observed, 6), target, detail))
    for slo in external:
        target = _fmt(slo.op, slo.target, slo.unit)
        try:
            value = slo.observe()
        except Exception as exc:  # the measurement itself failed: the SLO cannot hold
            out.append(SloResult(slo.name, False, None, target, f"could not measure: {exc}"))
            continue
        if value is None:
            out.append(_inconclusive(slo.name, target, "no value was observed", slo.allow_empty))
            continue
        passed = _OPS[slo.op](float(value), slo.target)
        out.append(
            SloResult(slo.name, passed, round(float(value), 6), target, f"{value:g}{slo.unit}")
        )
    return out
