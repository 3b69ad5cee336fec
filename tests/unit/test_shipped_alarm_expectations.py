"""Every alarm a shipped scenario (gates, gamedays, chaos) expects to page is judged on the
scenario's own timeline: silent (the alarm stays OK through the run) the expectation fails with
"never reached ALARM"; paging inside its window it passes. So a chaos scenario whose fault no
longer trips its alarm cannot go green. (The end-to-end form, through ``harness run``, is
tests/integration/test_alarm_gameday.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.data import FaultWindow
from harness.scenario.alarm_checks import AlarmObservations, AlarmTimeline, judge
from harness.scenario.loader import load_scenario
from harness.scenario.model import Expectation, Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))


def _timing(scenario: Scenario) -> tuple[dict[str, tuple[float, float]], list[FaultWindow]]:
    phases: dict[str, tuple[float, float]] = {}
    faults: list[FaultWindow] = []
    start = 0.0
    for phase in scenario.timeline:
        phases[phase.name] = (start, start + phase.duration)
        for fault in phase.faults:
            begin = start + fault.start_after
            end = begin + (fault.duration or phase.duration - fault.start_after)
            faults.append(FaultWindow(fault.label, begin, end, fault.action))
        start += phase.duration
    return phases, faults


def _expected_pages() -> list[tuple[str, Scenario, Expectation]]:
    found = []
    for path in SCENARIOS:
        scenario = load_scenario(path)
        for expectation in scenario.expectations:
            if expectation.kind == "alarm" and (expectation.state or "ALARM") == "ALARM":
                name = f"{path.relative_to(ROOT)}:{expectation.alarm}"
                found.append((name, scenario, expectation))
    return found


PAGES = _expected_pages()


def test_every_chaos_scenario_judges_alarms() -> None:
    """Each chaos scenario expects its fault's page or, where the design absorbs the fault, the
    quiet it claims; and every one checks the steady phase for false pages."""
    for path in sorted((ROOT / "scenarios" / "chaos").glob("*.yaml")):
        kinds = [e.kind for e in load_scenario(path).expectations]
        assert "alarm_quiet" in kinds, path.name
    chaos = {name.split(":")[0] for name, _, _ in PAGES if "/chaos/" in name}
    assert len(chaos) >= 5, sorted(chaos)


@pytest.mark.parametrize(("name", "scenario", "expectation"), PAGES, ids=[p[0] for p in PAGES])
def test_a_silent_alarm_fails_and_a_page_in_its_window_passes(
    name: str, scenario: Scenario, expectation: Expectation
) -> None:
    phases, faults = _timing(scenario)
    fault = next(f for f in faults if f.label == expectation.after_fault)
    end = scenario.duration_s

    def observations(changes: list[tuple[float, str, str]]) -> AlarmObservations:
        ref = str(expectation.alarm)
        timeline = AlarmTimeline(ref, "stack", ref, "metric", "OK", changes)
        return AlarmObservations({ref: timeline}, faults, phases, run_end_s=end)

    silent = judge(expectation, observations([]))
    assert not silent.passed and silent.observed is None, silent
    assert "never reached ALARM" in silent.detail and "stayed OK" in silent.detail
    assert expectation.within is not None
    paged = judge(expectation, observations([(fault.start_s + 1.0, "ALARM", "breached")]))
    assert paged.passed and paged.observed == pytest.approx(1.0), paged
    late = judge(
        expectation, observations([(fault.start_s + expectation.within + 1.0, "ALARM", "")])
    )
    assert not late.passed, late
