"""Alarm expectations and the report's alarm section, from the AWS edge's alarm history.

* ``{kind: alarm, alarm: NAME, state: ALARM, within: 90s, after_fault: F}`` — the alarm
  reached ``state`` within ``within`` seconds of fault ``F``'s start; the observed detection
  time is reported (or "not reached", with the state it stayed in).
* ``{kind: alarm_quiet, alarm: NAME, phase: P}`` — the alarm was never in ALARM during phase
  ``P`` (no false page). It fails as inconclusive rather than passing when the alarm was
  INSUFFICIENT_DATA through the whole phase (no data to judge), or when the phase is shorter
  than the breaching data the alarm needs to page (``DatapointsToAlarm`` x ``Period``): such
  a check could not fail.

``NAME`` is the alarm's name, its logical id, or ``stack/LogicalId``. Times are on the run
clock (seconds since the timeline started). The report gets every alarm's state timeline and,
per fault, the time to detect (fault start → ALARM) and to recover (fault end → OK).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.httpclient import HttpClientError, call
from harness.report.data import Expectation as Verdict
from harness.report.data import FaultWindow
from harness.scenario.model import Expectation

__all__ = [
    "AlarmObservations",
    "check_scenario_alarms",
    "configure_edge",
    "declared_alarms",
    "fetch",
    "judge",
    "report_section",
]

logger = logging.getLogger(__name__)


@dataclass
class AlarmTimeline:
    name: str
    stack: str
    logical_id: str
    kind: str
    initial: str
    changes: list[tuple[float, str, str]] = field(default_factory=list)  # (t, state, reason)
    # breaching data needed to go from OK to ALARM: DatapointsToAlarm x Period (metric alarms)
    window_s: float = 0.0

    def state_at(self, t: float) -> str:
        state = self.initial
        for when, new, _ in self.changes:
            if when > t:
                break
            state = new
        return state

    def first(self, state: str, start: float, end: float | None = None) -> float | None:
        """First instant at or after ``start`` (before ``end``) the alarm is in ``state``."""
        if self.state_at(start) == state:
            return start
        for when, new, _ in self.changes:
            if when >= start and new == state and (end is None or when < end):
                return when
        return None


@dataclass
class AlarmObservations:
    alarms: dict[str, AlarmTimeline] = field(default_factory=dict)
    faults: list[FaultWindow] = field(default_factory=list)
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)
    scale: float = 1.0
    run_end_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the edge could not be asked

    def find(self, ref: str) -> AlarmTimeline | None:
        for alarm in self.alarms.values():
            if ref in (alarm.name, alarm.logical_id, f"{alarm.stack}/{alarm.logical_id}"):
                return alarm
        return None


def _edge(endpoint: str, path: str, method: str = "GET", body: bytes | None = None) -> Any:
    url = endpoint.rstrip("/") + path
    return call(method, url, body, control=True, timeout=15).json({})


def configure_edge(endpoint: str, scale: float) -> dict[str, Any]:
    """Set the period scale factor and start a fresh history for this run."""
    _edge(endpoint, "/_harness/edge/alarms/history", "DELETE")
    answer: dict[str, Any] = _edge(
        endpoint, "/_harness/edge/alarms/config", "POST", json.dumps({"scale": scale}).encode()
    )
    return answer


def fetch(
    endpoint: str,
    run_started: float,
    faults: list[FaultWindow],
    phases: dict[str, tuple[float, float]],
    run_end_s: float,
) -> AlarmObservations:
    obs = AlarmObservations(faults=list(faults), phases=dict(phases), run_end_s=run_end_s)
    try:
        snapshot = _edge(endpoint, "/_harness/edge/alarms")
    except HttpClientError as exc:
        obs.error = f"the AWS edge did not answer for alarms: {exc}"
        return obs
    obs.scale = float(snapshot.get("scale") or 1.0)
    obs.problems = list(snapshot.get("problems") or [])
    obs.actions = list(snapshot.get("actions") or [])
    history = sorted(snapshot.get("history") or [], key=lambda h: h["time"])
    for item in snapshot.get("alarms") or []:
        name = item["name"]
        mine = [h for h in history if h["alarm"] == name]
        before = [h for h in mine if h["time"] < run_started]
        initial = before[-1]["new"] if before else (mine[0]["old"] if mine else item["state"])
        obs.alarms[name] = AlarmTimeline(
            name=name,
            stack=item.get("stack", ""),
            logical_id=item.get("logical_id", ""),
            kind=item.get("kind", "metric"),
            initial=initial,
            window_s=float(item.get("period") or 0) * int(item.get("datapoints_to_alarm") or 0),
            changes=[
                (round(h["time"] - run_started, 3), h["new"], h.get("reason", ""))
                for h in mine
                if h["time"] >= run_started
            ],
        )
    return obs


def _unknown(exp: Expectation, obs: AlarmObservations) -> Verdict:
    known = ", ".join(sorted(obs.alarms)) or "none"
    detail = obs.error or f"no alarm '{exp.alarm}' among the deployed stacks' alarms ({known})"
    return Verdict(exp.label, False, None, str(exp.state), detail, exp.kind)


def _judge_alarm(exp: Expectation, obs: AlarmObservations) -> Verdict:
    alarm = obs.find(str(exp.alarm))
    assert exp.within is not None
    target = f"{exp.state} within {exp.within:g}s of {exp.after_fault}"
    if alarm is None:
        return _unknown(exp, obs)
    fault = next((f for f in obs.faults if f.label == exp.after_fault), None)
    if fault is None:
        return Verdict(exp.label, False, None, target,
                       f"fault '{exp.after_fault}' did not run, so nothing could be detected", "alarm")  # fmt: skip
    state = str(exp.state)
    if alarm.state_at(fault.start_s) == state and state == "ALARM":
        return Verdict(exp.label, False, 0.0, target,
                       f"{alarm.name} was already {state} when {fault.label} started "
                       f"(t={fault.start_s:g}s): that is not a detection", "alarm")  # fmt: skip
    reached = alarm.first(state, fault.start_s)
    if reached is None:
        seen = obs.run_end_s - fault.start_s
        last = alarm.state_at(obs.run_end_s)
        return Verdict(
            exp.label,
            False,
            None,
            target,
            f"{alarm.name} never reached {state} in the {seen:.0f}s after {fault.label} started "
            f"(it stayed {last}){_scaled(obs)}",
            "alarm",
        )
    detect = round(reached - fault.start_s, 2)
    passed = detect <= exp.within
    return Verdict(
        exp.label,
        passed,
        detect,
        target,
        f"{alarm.name} went {state} {detect:g}s after {fault.label} started"
        f"{'' if passed else f', later than {exp.within:g}s'}{_scaled(obs)}",
        "alarm",
    )


def _judge_quiet(exp: Expectation, obs: AlarmObservations) -> Verdict:
    alarm = obs.find(str(exp.alarm))
    target = f"never ALARM in phase {exp.phase}"
    if alarm is None:
        return _unknown(exp, obs)
    window = obs.phases.get(str(exp.phase))
    if window is None:
        return Verdict(
            exp.label, False, None, target, f"phase {exp.phase} did not run", "alarm_quiet"
        )
    start, end = window
    if alarm.window_s > end - start:
        return Verdict(
            exp.label,
            False,
            None,
            target,
            f"inconclusive: phase {exp.phase} lasts {end - start:g}s but {alarm.name} needs "
            f"{alarm.window_s:g}s of breaching data to page{_scaled(obs)}: a page could not show "
            "in it; lengthen the phase or raise alarm_period_scale",
            "alarm_quiet",
        )
    pages = [t for t, s, _ in alarm.changes if s == "ALARM" and start <= t < end]
    if alarm.state_at(start) == "ALARM":
        pages.insert(0, start)
    if pages:
        reasons = [r for t, s, r in alarm.changes if s == "ALARM" and start <= t < end][:1]
        return Verdict(
            exp.label,
            False,
            len(pages),
            target,
            f"{alarm.name} was ALARM at t={pages[0]:g}s of phase {exp.phase} "
            f"({start:g}-{end:g}s){': ' + reasons[0] if reasons else ''}",
            "alarm_quiet",
        )
    states = {alarm.state_at(start)} | {s for t, s, _ in alarm.changes if start <= t < end}
    if states == {"INSUFFICIENT_DATA"}:
        return Verdict(
            exp.label,
            False,
            None,
            target,
            f"inconclusive: {alarm.name} had no data through phase {exp.phase} "
            "(INSUFFICIENT_DATA): quiet cannot be told from blind",
            "alarm_quiet",
        )
    return Verdict(exp.label, True, 0, target,
                   f"{alarm.name} stayed {'/'.join(sorted(states))} through {exp.phase}", "alarm_quiet")  # fmt: skip


def judge(exp: Expectation, obs: AlarmObservations | None) -> Verdict:
    if obs is None:
        return Verdict(
            exp.label, False, None, str(exp.state), "no alarm data was collected", exp.kind
        )
    if exp.kind == "alarm":
        return _judge_alarm(exp, obs)
    return _judge_quiet(exp, obs)


def _scaled(obs: AlarmObservations) -> str:
    return f" (alarm periods scaled down {obs.scale:g}x)" if obs.scale != 1 else ""


def report_section(obs: AlarmObservations) -> dict[str, Any]:
    """The report's alarm section: state timelines and, per fault, detect/recover times."""
    per_fault = []
    for fault in obs.faults:
        for alarm in obs.alarms.values():
            detect = alarm.first("ALARM", fault.start_s)
            if detect is None or alarm.state_at(fault.start_s) == "ALARM":
                continue
            recover = alarm.first("OK", max(fault.end_s, detect))
            per_fault.append(
                {
                    "fault": fault.label,
                    "alarm": alarm.name,
                    "fault_start_s": fault.start_s,
                    "fault_end_s": fault.end_s,
                    "detected_s": round(detect - fault.start_s, 2),
                    "recovered_s": None if recover is None else round(recover - fault.end_s, 2),
                }
            )
    return {
        "scale": obs.scale,
        "problems": obs.problems,
        "error": obs.error,
        "actions": obs.actions,
        "timelines": [
            {
                "alarm": a.name,
                "stack": a.stack,
                "logical_id": a.logical_id,
                "kind": a.kind,
                "initial": a.initial,
                "changes": [{"t": t, "state": s, "reason": r} for t, s, r in a.changes],
            }
            for a in sorted(obs.alarms.values(), key=lambda a: a.name)
        ],
        "faults": per_fault,
    }


def declared_alarms(stack_dir: Path) -> dict[str, tuple[str, Any]]:
    """Alarm references a scenario may use for a stack folder → (template file, Period):
    logical ids, literal AlarmNames, ``stack/LogicalId``, and the profile's ``alarms:`` names."""
    from harness.deploy.template import load_source
    from harness.durations import parse_duration

    source = load_source(stack_dir)
    file = str(source.template_path)
    found: dict[str, tuple[str, Any]] = {}
    for logical_id, definition in (source.template.get("Resources") or {}).items():
        if not isinstance(definition, dict):
            continue
        if definition.get("Type") not in (
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::CompositeAlarm",
        ):
            continue
        props = definition.get("Properties") or {}
        period = props.get("Period")
        for ref in (logical_id, f"{source.name}/{logical_id}", props.get("AlarmName")):
            if isinstance(ref, str):
                found[ref] = (f"{file}, resource '{logical_id}'", period)
    for alarm in (source.profile or {}).get("alarms") or []:
        if isinstance(alarm, dict) and isinstance(alarm.get("name"), str):
            period = parse_duration(alarm.get("period", "1m"))
            where = f"{stack_dir / 'harness.yaml'}, alarm '{alarm['name']}'"
            found[alarm["name"]] = (where, period)
            found[f"{source.name}/{alarm['name']}"] = (where, period)
    return found


def _breaching_windows(stack_dir: Path) -> dict[str, float]:
    """Seconds of breaching data each metric alarm of the template with literal values needs
    to page (DatapointsToAlarm, else EvaluationPeriods, x Period), by every name it answers to."""
    from harness.deploy.template import load_source

    source = load_source(stack_dir)
    found: dict[str, float] = {}
    for logical_id, definition in (source.template.get("Resources") or {}).items():
        if not isinstance(definition, dict) or definition.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = definition.get("Properties") or {}
        try:
            period = float(props["Period"])
            needed = float(props.get("DatapointsToAlarm") or props["EvaluationPeriods"])
        except (KeyError, TypeError, ValueError):
            continue  # not literal (a Ref): judged at run time
        for ref in (logical_id, f"{source.name}/{logical_id}", props.get("AlarmName")):
            if isinstance(ref, str):
                found[ref] = period * needed
    return found


def check_scenario_alarms(scenario: Any, stack_dirs: list[Path], source: str) -> None:
    """Before anything runs: alarm expectations name alarms the stacks declare, a quiet check's
    phase is long enough for the alarm to page in it, and the scale factor leaves every literal
    period at one second or more."""
    from harness.errors import ConfigError

    declared: dict[str, tuple[str, Any]] = {}
    for stack_dir in stack_dirs:
        declared.update(declared_alarms(stack_dir))
    for i, exp in enumerate(scenario.expectations):
        if exp.kind in ("alarm", "alarm_quiet") and exp.alarm not in declared:
            names = sorted(n for n in declared if "/" not in n)
            raise ConfigError(
                f"expectation '{exp.label}' names alarm '{exp.alarm}', which no stack of the "
                f"scenario declares (alarms: {', '.join(names) or 'none'}).",
                source=source,
                field=f"expectations[{i}].alarm",
                fix="name an AWS::CloudWatch::Alarm of a stack (logical id or AlarmName), or an "
                "alarm of its harness.yaml's `alarms:`.",
            )
    scale = float(scenario.alarm_period_scale)
    windows: dict[str, float] = {}
    for stack_dir in stack_dirs:
        windows.update(_breaching_windows(stack_dir))
    phases = {phase.name: float(phase.duration) for phase in scenario.timeline}
    for i, exp in enumerate(scenario.expectations):
        window = windows.get(str(exp.alarm)) if exp.kind == "alarm_quiet" else None
        length = phases.get(str(exp.phase))
        if window is not None and length is not None and length < window / scale:
            raise ConfigError(
                f"expectation '{exp.label}' watches phase '{exp.phase}' ({length:g}s) for a "
                f"page of '{exp.alarm}', which needs {window / scale:g}s of breaching data "
                f"(DatapointsToAlarm x Period / alarm_period_scale {scale:g}): a page could not "
                "show in it, so the quiet check could never fail.",
                source=source,
                field=f"expectations[{i}].phase",
                fix=f"lengthen the phase to {window / scale:g}s or raise alarm_period_scale to "
                f"{window / length:g}.",
            )
    for where, period in declared.values():
        literal = (
            isinstance(period, int | float | str) and str(period).replace(".", "", 1).isdigit()
        )
        if literal and float(period) / scale < 1:
            raise ConfigError(
                f"alarm_period_scale {scale:g} makes {where}'s Period of {float(period):g}s "
                f"{float(period) / scale:g}s: the harness records metrics at one-second "
                "resolution, so a period must stay at least 1 second.",
                source=source,
                field="alarm_period_scale",
                fix=f"use a scale of at most {float(period):g}.",
            )
