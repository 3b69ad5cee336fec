"""Judge a run: every scenario expectation against what the run observed.

Each expectation becomes one :class:`harness.report.data.Expectation` (``name``, ``passed``,
``status``, ``observed``, ``target``, ``detail``), which ``summary.json`` and ``junit.xml`` carry.
An expectation that cannot be measured fails and says why; it never passes by default. One that
has no data to judge (no request in its scope, a fault that never ran, a counter nobody measured,
a check that saw no job of its kind) is ``inconclusive``: it fails unless the scenario marks it
``allow_empty: true``, and it is reported as inconclusive either way (never 0.0 or 1.0 by
default).

A stack's check (``checks.py``) says it had nothing to judge by returning a mapping with
``"status": "inconclusive"`` (and why in ``details``), or ``None`` instead of a number.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.report.data import Expectation as Verdict
from harness.scenario.model import Expectation

if TYPE_CHECKING:
    from harness.load.result import GroupStats, LoadResult

__all__ = [
    "COUNTER_BASES",
    "Observations",
    "evaluate",
    "group_metric",
    "judge_slo",
    "recovery_time",
    "second_metric",
    "slo_target",
]

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
LATENCY = ("p50", "p95", "p99", "max")
# A counter that counts events among others is only evidence when the others happened: "0 Lambda
# throttles" says nothing if no function was invoked. counter -> the counter it needs above 0
# for a zero to mean something (a non-zero count is evidence whatever its base).
COUNTER_BASES: dict[str, str] = {
    "errors": "requests",
    "dropped": "requests",
    "throttled": "requests",
    "lambda_errors": "lambda_invocations",
    "lambda_throttles": "lambda_invocations",
    "lambda_cold_starts": "lambda_invocations",
}


@dataclass
class Observations:
    """What the runner collected, in the shape the checks need."""

    load: LoadResult | None = None
    phases: dict[str, GroupStats] = field(default_factory=dict)  # scenario phase -> stats
    # per-second load rows on the run clock: t, rps, errors, statuses, p50_ms, p95_ms, p99_ms
    seconds: list[dict[str, Any]] = field(default_factory=list)
    fault_ends: dict[str, float] = field(default_factory=dict)  # fault label -> end on run clock
    run_end_s: float = 0.0
    queue_depths: dict[str, int] = field(default_factory=dict)  # "stack/LogicalId" -> final depth
    queue_peaks: dict[str, int] = field(default_factory=dict)
    queues_unread: list[str] = field(default_factory=list)  # queues whose depth read failed
    counters: dict[str, float] = field(default_factory=dict)
    # check name -> callable returning a dict (passed/observed/target/details) or a number
    checks: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    isolation: list[dict[str, Any]] = field(default_factory=list)
    steady_state: list[dict[str, Any]] = field(default_factory=list)
    alarms: Any = None  # harness.scenario.alarm_checks.AlarmObservations
    drills: dict[str, Any] = field(default_factory=dict)  # fault label -> DR action's handle
    ended: float | None = None  # epoch s the timeline (and its load) ended


def _dr(exp: Expectation, obs: Observations) -> Verdict:
    """A DR drill: the recovery point (seconds of writes between the restore point and the
    disaster, and how many logged writes that was) and the recovery time (disaster to the
    restored table serving: the end of a swap, or the application's first write to a table it
    was repointed to) against the objectives; the cutover must be verified."""
    targets = [f"RPO <= {exp.rpo:g}s" if exp.rpo is not None else "",
               f"RTO <= {exp.rto:g}s" if exp.rto is not None else ""]  # fmt: skip
    shown = ", ".join(t for t in targets if t)
    restore, disaster = obs.drills.get(str(exp.drill)), obs.drills.get(str(exp.after_fault))
    if not isinstance(restore, dict) or restore.get("action") != "dr:restore":
        return _inconclusive(exp, shown, f"no dr:restore named '{exp.drill}' ran", "dr")
    if restore.get("error"):  # the runbook was run and could not restore: the drill failed
        return Verdict(exp.label, False, None, shown,
                       f"the restore '{exp.drill}' failed: {restore['error']}", "dr")  # fmt: skip
    if not isinstance(disaster, dict) or "at" not in disaster:
        return _inconclusive(exp, shown, f"no disaster '{exp.after_fault}' ran", "dr")
    from pathlib import Path

    from harness.scenario.drills import change_count, first_write

    state_dir = Path(restore["state_dir"])
    struck = float(disaster["at"])
    rpo = struck - float(restore["point"])
    lost = change_count(state_dir, restore["table"], restore["point"], struck)
    if float(restore["point"]) >= struck:
        return Verdict(exp.label, False, {"rpo_s": None}, shown,
                       f"the restore point is {float(restore['point']) - struck:.1f}s "
                       f"after the disaster '{exp.after_fault}': the damage was restored with the "
                       "data (rewind to before it)", "dr")  # fmt: skip
    problem = ""
    if restore.get("cutover") == "appconfig":
        target = str(restore["restored_table"])
        served = first_write(state_dir, target, float(restore["started"]))
        settled = float(restore["deployed"]) + float(restore["settle_s"])
        if served is None:
            problem = (f"; the application never wrote to the restored table {target} after "
                       f"{restore['key']} was deployed: the cutover did not take")  # fmt: skip
            rto = None
        else:
            rto = served - struck
        ended = obs.ended if obs.ended is not None else time.time()
        if ended < settled and served is not None:
            return _inconclusive(exp, shown, f"the run ended {ended - float(restore['deployed']):.0f}s "
                                 f"after the AppConfig cutover, before its settle time "
                                 f"({float(restore['settle_s']):g}s): whether the old table was "
                                 "still written to is not known", "dr")  # fmt: skip
        stale = change_count(state_dir, restore["table"], settled, max(ended, settled))
        if stale:
            problem += (f"; {stale} write(s) reached the old table {restore['table']} more than "
                        f"{float(restore['settle_s']):g}s after the cutover")  # fmt: skip
        served_by = f"first write to {target}"
    else:
        rto = float(restore["ended"]) - struck
        if not restore.get("verified"):
            problem = "; the swap did not hold every restored item"
        served_by = "end of the swap"
    passed = (
        not problem
        and rto is not None
        and (exp.rpo is None or rpo <= exp.rpo)
        and (exp.rto is None or rto <= exp.rto)
    )
    detail = (
        f"restored {restore['table']} ({restore['source']}, {restore['items']} items) to "
        f"{rpo:.1f}s before the disaster: RPO {rpo:.1f}s"
        + (f" ({lost} logged writes lost)" if lost is not None else "")
        + (f", RTO {rto:.1f}s to the {served_by}" if rto is not None else "")
        + f" (must be {shown})"
        + problem
    )
    observed = {"rpo_s": round(rpo, 3), "rto_s": None if rto is None else round(rto, 3),
                "lost_writes": lost}  # fmt: skip
    return Verdict(exp.label, passed, observed, shown, detail, "dr")


def _inconclusive(exp: Expectation, target: Any, why: str, kind: str) -> Verdict:
    """No data to judge: fails unless the scenario allowed it; reported as inconclusive."""
    note = (
        "allowed by allow_empty"
        if exp.allow_empty
        else "fails: nothing to judge (allow_empty: true if that is legitimate)"
    )
    return Verdict(
        exp.label,
        exp.allow_empty,
        None,
        target,
        f"inconclusive: {why} ({note})",
        kind,
        "inconclusive",
    )


def slo_target(metric: str, value: float | str) -> float:
    """An SLO's target as a number in the metric's unit (``"250ms"`` -> 250.0)."""
    from harness.load.slo import metric_number

    return metric_number(metric, value)


def _unit(metric: str) -> str:
    return "ms" if metric in LATENCY else ""


def group_metric(group: GroupStats, metric: str) -> float:
    """One metric of a group of requests (``p99`` is ``p99_ms``; AttributeError if unknown)."""
    if metric in LATENCY:
        return float(group.max_ms if metric == "max" else getattr(group, f"{metric}_ms"))
    return float(getattr(group, metric))


def judge_slo(
    group: GroupStats, metric: str, op: str, target: float | str
) -> tuple[bool, float, float]:
    """(passed, observed, target) of one SLO over one group of requests: the one place an SLO
    is judged (scenario expectations, steady-state probes and probes during a phase)."""
    limit = slo_target(metric, target)
    observed = group_metric(group, metric)
    return OPS[op](observed, limit), observed, limit


def _slo(exp: Expectation, obs: Observations) -> Verdict:
    metric = str(exp.metric)
    assert exp.target is not None
    target = slo_target(metric, exp.target)
    shown = f"{exp.op} {target:g}{_unit(metric)}"
    group: GroupStats | None
    if exp.scope.startswith("phase:"):
        group = obs.phases.get(exp.scope[6:])
    else:
        group = obs.load.group(exp.scope) if obs.load is not None else None
    if group is None and obs.load is None and not obs.phases:
        return _inconclusive(exp, shown, f"no requests in scope {exp.scope}: no load ran", "slo")
    from harness.load.slo import empty_reason

    empty = empty_reason(group, metric, exp.scope)
    if empty is not None or group is None:
        return _inconclusive(exp, shown, str(empty), "slo")
    try:
        passed, observed, _ = judge_slo(group, metric, exp.op, exp.target)
    except AttributeError:
        return Verdict(exp.label, False, None, shown, f"unknown metric '{metric}'", "slo")
    detail = f"{metric} over {exp.scope}: {observed:g}{_unit(metric)} (must be {shown})"
    return Verdict(exp.label, passed, round(observed, 6), shown, detail, "slo")


def second_metric(row: Mapping[str, Any], metric: str) -> float | None:
    """One second's value of ``metric`` (None when nothing completed in that second)."""
    completed = int(row.get("rps", 0) or 0)
    if completed <= 0:
        return None
    if metric in LATENCY:
        return float(row.get("max_ms" if metric == "max" else f"{metric}_ms", 0.0))
    statuses = {int(k): int(v) for k, v in (row.get("statuses") or {}).items()}
    if metric == "error_rate":
        return int(row.get("errors", 0) or 0) / completed
    if metric == "availability":
        unavailable = sum(v for k, v in statuses.items() if k >= 500 or k == 0)
        return 1 - unavailable / completed
    if metric == "rps":
        return float(completed)
    raise ValueError(f"'{metric}' cannot be judged second by second")


def recovery_time(
    seconds: Sequence[Mapping[str, Any]],
    fault_end: float,
    metric: str,
    op: str,
    target: float,
    window: float,
) -> float | None:
    """Seconds from ``fault_end`` until ``metric`` first holds for ``window`` seconds in a row
    (seconds without completed requests neither count nor break the run); None if never."""
    need = max(1, round(window))
    streak_start: float | None = None
    streak = 0
    for row in sorted(seconds, key=lambda r: float(r["t"])):
        t = float(row["t"])
        if t + 1 <= fault_end:
            continue
        value = second_metric(row, metric)
        if value is None:
            continue
        if OPS[op](value, target):
            if streak == 0:
                streak_start = t
            streak += 1
            if streak >= need and streak_start is not None:
                return max(0.0, streak_start - fault_end)
        else:
            streak, streak_start = 0, None
    return None


def _recovery(exp: Expectation, obs: Observations) -> Verdict:
    metric = str(exp.metric)
    assert exp.target is not None and exp.within is not None and exp.after_fault is not None
    target = slo_target(metric, exp.target)
    shown = f"{metric} {exp.op} {target:g}{_unit(metric)} within {exp.within:g}s"
    end = obs.fault_ends.get(exp.after_fault)
    if end is None:
        return _inconclusive(exp, shown, f"fault '{exp.after_fault}' never ran", "recovery")
    try:
        after = [
            r
            for r in obs.seconds
            if float(r["t"]) + 1 > end and second_metric(r, metric) is not None
        ]
    except ValueError as exc:
        return Verdict(exp.label, False, None, shown, str(exc), "recovery")
    if not after:
        return _inconclusive(
            exp, shown, f"no request completed after '{exp.after_fault}' ended", "recovery"
        )
    try:
        took = recovery_time(obs.seconds, end, metric, exp.op, target, exp.window)
    except ValueError as exc:
        return Verdict(exp.label, False, None, shown, str(exc), "recovery")
    if took is None:
        left = max(0.0, obs.run_end_s - end)
        return Verdict(
            exp.label,
            False,
            None,
            shown,
            f"{metric} did not hold for {exp.window:g}s in the {left:.0f}s after "
            f"'{exp.after_fault}' ended",
            "recovery",
        )
    passed = took <= exp.within
    detail = f"recovered {took:.1f}s after '{exp.after_fault}' ended (allowed {exp.within:g}s)"
    return Verdict(exp.label, passed, round(took, 2), shown, detail, "recovery")


def _find_queue(name: str, depths: Mapping[str, int]) -> str | None:
    if name in depths:
        return name
    matches = [k for k in depths if k.split("/", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None


def _dlq(exp: Expectation, obs: Observations) -> Verdict:
    assert exp.queue is not None and exp.max is not None
    key = _find_queue(exp.queue, obs.queue_depths)
    shown = f"<= {exp.max}"
    unread = _find_queue(exp.queue, {k: 0 for k in obs.queues_unread})
    if key is None and unread is not None:
        return _inconclusive(exp, shown, f"the depth of {unread} could not be read", "dlq_max")
    if key is None:
        known = ", ".join(sorted(obs.queue_depths)) or "none"
        return Verdict(
            exp.label, False, None, shown, f"no queue '{exp.queue}' (queues: {known})", "dlq_max"
        )
    depth = obs.queue_depths[key]
    peak = obs.queue_peaks.get(key, depth)
    passed = depth <= exp.max
    detail = f"{key}: {depth} message(s) at the end (peak {peak} during the run)"
    return Verdict(exp.label, passed, depth, shown, detail, "dlq_max")


def _compare(
    exp: Expectation, observed: float | None, kind: str, detail: str, missing: str
) -> Verdict:
    assert exp.target is not None
    try:
        target = float(exp.target)
    except (TypeError, ValueError):
        target = slo_target("error_rate", exp.target)  # "99%" style ratios
    shown = f"{exp.op} {target:g}"
    if observed is None:
        return _inconclusive(exp, shown, missing, kind)
    passed = OPS[exp.op](float(observed), target)
    return Verdict(exp.label, passed, round(float(observed), 6), shown, detail, kind)


def _counter(exp: Expectation, obs: Observations) -> Verdict:
    assert exp.counter is not None
    value = obs.counters.get(exp.counter)
    known = ", ".join(sorted(obs.counters)) or "none"
    missing = f"counter '{exp.counter}' was not measured (counters: {known})"
    if exp.counter == "cache_hit_rate" and value is None and "cache_hits" in obs.counters:
        missing = "no cache read during the run: a hit rate over zero reads is undefined"
    base = COUNTER_BASES.get(exp.counter)
    if value is not None and base is not None and not obs.counters.get(base) and not value:
        value, missing = None, f"{exp.counter} = {value:g} out of no {base}: nothing to judge"
    return _compare(exp, value, "counter", f"{exp.counter} = {value}", missing)


def _check(exp: Expectation, obs: Observations, name: str) -> Verdict:
    fn = obs.checks.get(name)
    if fn is None:
        known = ", ".join(sorted(obs.checks)) or "none"
        return Verdict(
            exp.label,
            False,
            None,
            exp.target,
            f"no stack defines the check '{name}' (checks: {known})",
            exp.kind,
        )
    try:
        outcome = fn()
    except Exception as exc:  # the check itself broke: it cannot pass
        return Verdict(exp.label, False, None, exp.target, f"check failed to run: {exc}", exp.kind)
    if isinstance(outcome, Mapping) and outcome.get("status") == "inconclusive":
        why = outcome.get("details") or outcome.get("detail") or f"{name} had nothing to judge"
        if not isinstance(why, str):
            import json

            why = json.dumps(why, default=str)[:500]
        return _inconclusive(exp, outcome.get("target", exp.target), why, exp.kind)
    if isinstance(outcome, Mapping):
        passed = bool(outcome.get("passed"))
        if exp.target is not None and isinstance(outcome.get("observed"), int | float):
            passed = passed and OPS[exp.op](float(outcome["observed"]), float(exp.target))
        details = outcome.get("details") or outcome.get("detail") or ""
        if not isinstance(details, str):
            import json

            details = json.dumps(details, default=str)[:500]
        return Verdict(
            exp.label,
            passed,
            outcome.get("observed"),
            outcome.get("target", exp.target),
            details,
            exp.kind,
        )
    if outcome is None:
        return _inconclusive(exp, exp.target, f"{name} returned no value", exp.kind)
    if exp.target is None:
        return Verdict(
            exp.label,
            bool(outcome),
            outcome,
            True,
            f"{name} returned {outcome!r}",
            exp.kind,
        )
    value = float(outcome) if isinstance(outcome, int | float) else None
    return _compare(exp, value, exp.kind, f"{name} = {outcome}", f"{name} returned {outcome!r}")


def _all_passed(exp: Expectation, items: list[dict[str, Any]], what: str) -> Verdict:
    """Every item passed. No item, or items that only had nothing to judge (``status:
    inconclusive``, e.g. an isolation run that executed no step), is inconclusive."""
    if not items:
        return _inconclusive(exp, "all pass", f"no {what} ran", exp.kind)
    empty = [i for i in items if i.get("status") == "inconclusive"]
    failed = [i for i in items if not i.get("passed") and i not in empty]
    if empty and not failed:
        detail = "; ".join(str(i.get("detail") or i.get("name")) for i in empty[:5])
        return _inconclusive(
            exp,
            "all pass",
            f"{len(empty)}/{len(items)} {what} had nothing to judge: {detail}",
            exp.kind,
        )
    detail = "; ".join(str(i.get("detail") or i.get("name")) for i in failed[:5])
    return Verdict(
        exp.label,
        not failed,
        f"{len(items) - len(failed)}/{len(items)} passed",
        "all pass",
        detail or f"{len(items)} {what} passed",
        exp.kind,
    )


def evaluate(expectations: Sequence[Expectation], obs: Observations) -> list[Verdict]:
    out: list[Verdict] = []
    for exp in expectations:
        if exp.kind == "slo":
            out.append(_slo(exp, obs))
        elif exp.kind == "recovery":
            out.append(_recovery(exp, obs))
        elif exp.kind == "dlq_max":
            out.append(_dlq(exp, obs))
        elif exp.kind == "counter":
            out.append(_counter(exp, obs))
        elif exp.kind in ("no_lost_jobs", "no_duplicate_jobs"):
            out.append(_check(exp, obs, exp.kind))
        elif exp.kind == "check":
            out.append(_check(exp, obs, str(exp.check)))
        elif exp.kind == "isolation":
            out.append(_all_passed(exp, obs.isolation, "isolation checks"))
        elif exp.kind == "steady_state":
            out.append(_all_passed(exp, obs.steady_state, "steady-state probes"))
        elif exp.kind == "dr":
            out.append(_dr(exp, obs))
        elif exp.kind in ("alarm", "alarm_quiet"):
            from harness.scenario.alarm_checks import judge

            out.append(judge(exp, obs.alarms))
    return out
