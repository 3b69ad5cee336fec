"""The scenario runner as a pipeline: named stages over one context, the SLO judged in one
place, fault attribution in the chaos package."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.chaos.attribution import attribute
from harness.load.result import GroupStats
from harness.load.stats import Cell
from harness.scenario import probes
from harness.scenario.expectations import Observations, evaluate, judge_slo
from harness.scenario.model import Expectation, FaultSpec, Scenario
from harness.scenario.runner import STAGES, RunOptions, ScenarioRunner
from harness.scenario.timeline import PlannedFault

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "harness" / "scenario"
PIPELINE = ("runner", "context", "lifecycle", "traffic", "probes", "clock", "observe", "verdicts")


def _group(name: str, requests: int, errors: int = 0) -> GroupStats:
    return GroupStats.of(name, Cell(requests=requests, errors=errors, unavailable=errors), 10.0)


def _runner(probes_: list[dict[str, Any]], **extra: Any) -> ScenarioRunner:
    scenario = Scenario.model_validate(
        {
            "title": "t",
            "stacks": [str(ROOT / "stacks" / "catalog")],
            "steady_state": {"probes": probes_, "before": False, "after": False},
            "timeline": [
                {"name": "calm", "duration": "5s", "load": {"rate": 5}},
                {"name": "storm", "duration": "5s", "load": {"rate": 5}},
            ],
            "profile_slos": False,
            **extra,
        }
    )
    return ScenarioRunner(scenario, None, RunOptions(report_dir=Path("."), live=False))


def test_the_run_is_a_short_pipeline_of_named_stages() -> None:
    assert [name for name, _ in STAGES] == [
        "environment",
        "deploy",
        "warm-up",
        "steady state",
        "timeline",
        "drain",
    ]
    assert len((SCENARIO / "runner.py").read_text().splitlines()) < 300
    for name in PIPELINE:
        assert len((SCENARIO / f"{name}.py").read_text().splitlines()) < 600, name


def test_no_stage_module_imports_a_private_name() -> None:
    import re

    private = re.compile(r"^\s*from harness[\w.]* import .*\b_\w+", re.M)
    modules = [SCENARIO / f"{name}.py" for name in PIPELINE]
    for module in [*modules, ROOT / "harness" / "report" / "scenario_run.py"]:
        assert not private.search(module.read_text()), module.name


def test_an_slo_is_judged_the_same_way_by_expectations_and_probes() -> None:
    slow = _group("phase:storm", 50, errors=5)  # 10% errors
    assert judge_slo(slow, "error_rate", "<", "1%") == (False, 0.1, 0.01)
    assert judge_slo(slow, "error_rate", "<", 0.2)[0]
    exp = Expectation.model_validate(
        {"name": "errors", "metric": "error_rate", "op": "<", "target": "1%", "scope": "all"}
    )
    load = SimpleNamespace(group=lambda scope: slow, total=slow)
    (verdict,) = evaluate([exp], Observations(load=load))  # type: ignore[arg-type]
    assert verdict.status == "failed" and verdict.observed == 0.1

    runner = _runner(
        [{"name": "errors", "type": "slo", "metric": "error_rate", "op": "<", "target": "1%"}]
    )
    groups = {"phase:calm": _group("phase:calm", 50), "phase:storm": slow}
    runner.state.load = SimpleNamespace(group=groups.get)  # type: ignore[assignment]
    probes.steady_during_slo(runner.ctx)
    calm, storm = runner.state.steady
    assert calm["passed"] and calm["name"] == "errors (during calm)"
    assert not storm["passed"] and "error_rate 0.1 (must be < 0.01)" in storm["detail"]


def test_a_loaded_phase_without_an_answer_is_inconclusive_not_passed() -> None:
    runner = _runner(
        [{"name": "p99", "type": "slo", "metric": "p99", "op": "<", "target": "500ms"}]
    )
    groups = {"phase:calm": _group("phase:calm", 50)}
    runner.state.load = SimpleNamespace(group=groups.get)  # type: ignore[assignment]
    probes.steady_during_slo(runner.ctx)
    calm, storm = runner.state.steady
    assert calm["passed"]
    assert storm["status"] == "inconclusive" and not storm["passed"]


def test_fault_attribution_counts_a_rule_s_records_and_a_kind_s_window() -> None:
    ddb_spec = FaultSpec(action="aws:api-error", name="ddb")
    cache_spec = FaultSpec(action="redis:latency", name="cache")
    ddb = PlannedFault(ddb_spec, "f", 0.0, 10.0, "rule-1", True, True)
    cache = PlannedFault(cache_spec, "f", 2.0, 5.0, "handle", True, True)
    records = [
        {"kind": "aws", "time": 1001.0, "effect": "error", "rule_id": "rule-1"},
        {"kind": "aws", "time": 1002.0, "effect": "error", "rule_id": "other"},
        {"kind": "aws", "time": 1003.0, "effect": "ok", "rule_id": "rule-1"},
        {"kind": "redis", "time": 1003.0, "mode": "latency"},
        {"kind": "redis", "time": 1009.0, "mode": "latency"},  # after its window (+1s slack)
        {"kind": "redis", "time": 1004.0, "mode": "cleared"},
    ]
    rows = {r["label"]: r for r in attribute([ddb, cache], records, 1000.0)}
    assert rows["ddb"]["injected"] == 1 and rows["ddb"]["counts_injections"]
    assert rows["cache"]["injected"] == 1 and rows["cache"]["effects"] == {"latency": 1}
    assert not rows["cache"]["counts_injections"]


def test_the_action_context_carries_the_state_folder(tmp_path: Path) -> None:
    from harness.scenario.clock import action_context

    runner = _runner([{"name": "h", "url": "${gateway_url}/_harness/health"}])
    runner.state.env = SimpleNamespace(endpoints={"aws_endpoint": "x"}, state_dir=tmp_path)  # type: ignore[assignment]
    context = action_context(runner.ctx, 5.0)
    assert context.state_dir == tmp_path and context.run_started == 5.0
    assert context.endpoints == {"aws_endpoint": "x"} and context.seed == runner.seed


@pytest.mark.parametrize("missing", ["storm"])
def test_validation_still_refuses_an_isolation_stack_it_does_not_deploy(missing: str) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match=r"timeline\[1\]\.isolation\.stack"):
        _runner(
            [{"name": "h", "url": "${gateway_url}/_harness/health"}],
            timeline=[
                {"name": "calm", "duration": "5s", "load": {"rate": 5}},
                {"name": missing, "duration": "5s", "isolation": {"stack": "nowhere"}},
            ],
        )


def test_every_action_goes_through_the_one_fault_api() -> None:
    text = (SCENARIO / "actions.py").read_text()
    for bypass in ("FaultClient", "urlopen", "thirdparty import send", "time.sleep", "_wait_until"):
        assert bypass not in text, bypass


def test_faults_waits_for_the_start_of_a_kind_its_component_cannot_schedule(
    tmp_path: Path,
) -> None:
    from harness.chaos.faults import Faults
    from harness.errors import ConfigError

    calls: list[tuple[float, str, Any]] = []

    class Edge:
        def redis(self, mode: str, **kwargs: Any) -> dict[str, Any]:
            calls.append((time.time(), mode, kwargs))
            return {"mode": mode}

        def clear(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
            calls.append((time.time(), "clear", ids))
            return []

        def log(self, since: float) -> dict[str, Any]:
            return {"injected": []}

    faults = Faults({"aws_endpoint": "http://127.0.0.1:9"}, state_dir=tmp_path)
    faults.edge = Edge()  # type: ignore[assignment]
    start = time.time() + 0.3
    faults.add("redis", {"mode": "down", "duration_s": 2.0, "start_at": start})
    at, mode, kwargs = calls[-1]
    assert at >= start and mode == "down" and kwargs["duration_s"] == 2.0
    faults.remove("aws", ["rule-1"])
    assert calls[-1][1:] == ("clear", ["rule-1"])
    with pytest.raises(ConfigError, match="no id to remove"):
        faults.remove("az", ["x"])
    # the Redis change is journaled as a change, which attribution does not count as injected
    records = faults.log()
    assert [r["change"] for r in records if r["kind"] == "redis"] == ["set"]
    redis = FaultSpec(action="redis:down", name="r")
    planned = PlannedFault(redis, "f", 0.0, 10.0, "down", True, True)
    (row,) = attribute([planned], records, start - 1)
    assert row["injected"] == 0
