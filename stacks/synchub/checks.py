"""Sync Hub's alarms, evaluated by the gameday runner after a run: ``fn(env, stack, since)``.

The seed's CloudWatch alarms are declared in ``harness.yaml`` (``alarms``) and, for AWS, in
``observability/template.yaml``. No metrics flow to the emulator's CloudWatch, so these checks
evaluate the same rules on what API Gateway would have measured: the gateway's access log
(``<state_dir>/logs/access.log``, one JSON line per request with ``status`` and
``responseLatency``), from ``since`` (the start of the run's timeline) on.

* :func:`alarm_api_5xx_errors`: the alarm fires if more than ``threshold`` requests answered 5XX
  within any ``period`` (10 minutes) window;
* :func:`alarm_api_latency`: the alarm fires if the period's latency statistic (``p99`` per
  1-minute period) exceeds ``threshold`` for ``evaluation_periods`` (3) consecutive periods.

Each returns ``{"name", "passed", "observed", "target", "details"}``: passed means the alarm
would not have fired. With no request of the stack in the access log from ``since`` on (or no
access log at all) there is nothing to evaluate: ``"status": "inconclusive"``, never a quiet OK.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _alarm(stack: Any, name: str) -> dict[str, Any]:
    for alarm in (stack.profile or {}).get("alarms") or []:
        if alarm.get("name") == name:
            return dict(alarm)
    raise KeyError(f"harness.yaml declares no alarm {name!r}")


def _seconds(value: Any) -> float:
    text = str(value).strip()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def _millis(value: Any) -> float:
    text = str(value).strip()
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float(text)


def _requests(env: Any, stack: Any, since: float | None = None) -> list[dict[str, Any]]:
    """The stack's access-log records (epoch seconds ``t``, ``status``, ``latency_ms``)."""
    path = Path(env.state_dir) / "logs" / "access.log"
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("stack") != stack.name:
            continue
        when = float(record.get("requestTimeEpoch") or 0) / 1000
        if since is not None and when < since:
            continue
        out.append({"t": when, "status": int(record.get("status") or 0),
                    "latency_ms": float(record.get("responseLatency") or 0)})  # fmt: skip
    return out


def _max_in_window(times: list[float], window: float) -> int:
    """The largest number of ``times`` inside any window of ``window`` seconds."""
    times, best, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


def _breaching_run(
    records: list[dict[str, Any]], period: float, pct: float, threshold: float
) -> int:
    """The longest run of consecutive periods whose latency percentile exceeded ``threshold``
    (periods without requests break a run, as CloudWatch's missing data is not breaching)."""
    buckets: dict[int, list[float]] = {}
    for r in records:
        buckets.setdefault(int(r["t"] // period), []).append(r["latency_ms"])
    longest = current = 0
    previous = None
    for key in sorted(buckets):
        breach = _percentile(buckets[key], pct) > threshold
        current = current + 1 if breach and previous == key - 1 and current else int(breach)
        longest = max(longest, current)
        previous = key
    return longest


def _no_data(name: str, target: str, env: Any, stack: Any) -> dict[str, Any]:
    path = Path(env.state_dir) / "logs" / "access.log"
    why = (
        f"no request of {stack.name} in {path} during the run"
        if path.exists()
        else f"{path} does not exist"
    )
    return {
        "name": name,
        "passed": False,
        "status": "inconclusive",
        "observed": None,
        "target": target,
        "details": f"{why}: the alarm's metric has no datapoint to evaluate",
    }


def alarm_api_5xx_errors(env: Any, stack: Any, since: float | None = None) -> dict[str, Any]:
    alarm = _alarm(stack, "api-5xx-errors")
    window, threshold = _seconds(alarm.get("period", "10m")), float(alarm["threshold"])
    records = _requests(env, stack, since)
    target = f"<= {threshold:g} 5XX in any {window:g} s"
    if not records:
        return _no_data("alarm api-5xx-errors stays OK", target, env, stack)
    worst = _max_in_window([r["t"] for r in records if r["status"] >= 500], window)
    return {
        "name": "alarm api-5xx-errors stays OK",
        "passed": worst <= threshold,
        "observed": worst,
        "target": target,
        "details": f"{len(records)} requests read from the access log",
    }


def alarm_api_latency(env: Any, stack: Any, since: float | None = None) -> dict[str, Any]:
    alarm = _alarm(stack, "api-latency")
    period = _seconds(alarm.get("period", "1m"))
    threshold = _millis(alarm["threshold"])
    periods = int(alarm.get("evaluation_periods", 1))
    metric = str(alarm.get("metric", "p99"))
    pct = float(metric[1:]) if metric.startswith("p") else 50.0
    records = _requests(env, stack, since)
    target = f"< {periods} consecutive {period:g} s periods with {metric} > {threshold:g} ms"
    if not records:
        return _no_data("alarm api-latency stays OK", target, env, stack)
    longest = _breaching_run(records, period, pct, threshold)
    return {
        "name": "alarm api-latency stays OK",
        "passed": longest < periods,
        "observed": longest,
        "target": target,
        "details": f"{len(records)} requests read from the access log",
    }
