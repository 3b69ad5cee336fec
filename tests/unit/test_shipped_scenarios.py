"""Every scenario the repository ships is valid as a whole (what `harness run --check` does:
the file, its stacks, their traffic mixes and the fault actions), and is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.loader import load_scenario
from harness.scenario.runner import RunOptions, ScenarioRunner

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))


def test_the_issue_s_scenarios_ship() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"ci-smoke", "syncwell-gameday", "syncwell-peak", "traffic-spike-10x"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_shipped_scenario_is_valid_and_documented(path: Path) -> None:
    scenario = load_scenario(path)
    runner = ScenarioRunner(scenario, path, RunOptions(report_dir=Path("."), live=False))
    assert runner.windows, "no phase"
    assert scenario.expectations, "a shipped scenario must say what it expects"
    assert any(r.action == "faults:clear" for r in scenario.rollbacks)
    readme = (path.parent / "README.md").read_text()
    assert path.name in readme, f"{path.name} is not described in {path.parent}/README.md"
