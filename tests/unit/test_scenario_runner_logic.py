"""The runner's pure parts: the timeline as one load profile, and judging expectations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.load.result import GroupStats
from harness.load.stats import Cell
from harness.profile import Profile
from harness.scenario.expectations import Observations, evaluate, recovery_time, second_metric
from harness.scenario.model import Expectation, Scenario
from harness.scenario.plan import (
    load_profile_for,
    mix_name,
    phase_windows,
    resolve_stack_dirs,
    stack_traffic,
)

ROOT = Path(__file__).resolve().parents[2]


def scenario(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "title": "t",
        "stacks": ["stacks/catalog"],
        "timeline": [
            {"name": "warm", "duration": "10s", "load": {"rate": 5}},
            {
                "name": "ramp",
                "duration": "20s",
                "load": {
                    "stages": [
                        {"duration": "5s", "rate": 50, "shape": "ramp"},
                        {"duration": "15s", "rate": 50},
                    ]
                },
            },
            {"name": "quiet", "duration": "5s"},
        ],
    }
    data.update(overrides)
    return Scenario.model_validate(data)


def test_one_profile_spans_every_phase_with_stage_names_per_phase() -> None:
    s = scenario()
    profile = load_profile_for(s)
    assert profile is not None
    assert profile.stage_names() == ["warm", "ramp#1", "ramp#2", "quiet"]
    assert profile.duration == pytest.approx(35)
    assert profile.target_at(2) == 5
    assert profile.target_at(12.5) == pytest.approx(5 + 45 * 2.5 / 5)  # ramping from 5 to 50
    assert profile.target_at(32) == 0  # a phase without load is a stage at rate 0
    windows = phase_windows(s)
    assert [(w.name, w.start_s, w.end_s) for w in windows] == [
        ("warm", 0, 10),
        ("ramp", 10, 30),
        ("quiet", 30, 35),
    ]
    assert windows[1].stages == ("ramp#1", "ramp#2")


def test_no_load_at_all_gives_no_profile() -> None:
    s = scenario(timeline=[{"name": "a", "duration": "5s"}])
    assert load_profile_for(s) is None


def test_stages_must_fill_their_phase() -> None:
    s = scenario(timeline=[{"name": "a", "duration": "30s",
                            "load": {"stages": [{"duration": "10s", "rate": 1}]}}])  # fmt: skip
    with pytest.raises(ConfigError, match="add up to 10s"):
        load_profile_for(s)


def test_open_and_closed_phases_cannot_mix() -> None:
    s = scenario(timeline=[{"name": "a", "duration": "5s", "load": {"rate": 1}},
                           {"name": "b", "duration": "5s", "load": {"mode": "closed", "users": 2}}])  # fmt: skip
    with pytest.raises(ConfigError, match="one model"):
        load_profile_for(s)


def test_one_mix_per_run() -> None:
    s = scenario(timeline=[{"name": "a", "duration": "5s", "load": {"rate": 1, "mix": "x"}},
                           {"name": "b", "duration": "5s", "load": {"rate": 1, "mix": "y"}}])  # fmt: skip
    with pytest.raises(ConfigError, match="different traffic mixes"):
        mix_name(s)


def test_stack_folders_resolve_from_the_scenario_file_or_fail_naming_the_field(
    tmp_path: Path,
) -> None:
    s = scenario()
    found = resolve_stack_dirs(s, ROOT / "scenarios" / "x.yaml")
    assert found == [(ROOT / "stacks" / "catalog").resolve()]
    with pytest.raises(ConfigError) as err:
        resolve_stack_dirs(scenario(stacks=["stacks/nope"]), tmp_path / "s.yaml")
    assert "stacks[0]" in str(err.value) and "template.yaml" in str(err.value)


def test_traffic_comes_from_the_profile_and_an_unknown_mix_is_named() -> None:
    profile = Profile.model_validate(
        {
            "tenants": [{"id": "a", "tier": "default"}],
            "traffic": {"mixes": {"m": {"requests": [{"name": "r", "path": "/"}]}}},
        }
    )
    traffic = stack_traffic(profile, None, "harness.yaml")
    assert traffic.mix_name == "m" and traffic.tenants.tenants[0].id == "a"
    with pytest.raises(ConfigError, match="mix 'other'"):
        stack_traffic(profile, "other", "harness.yaml")


# -- expectations ----------------------------------------------------------------------------


def row(t: float, rps: int, errors: int = 0, p99: float = 10.0, **statuses: int) -> dict[str, Any]:
    return {"t": t, "rps": rps, "errors": errors, "p50_ms": p99 / 2, "p95_ms": p99,
            "p99_ms": p99, "max_ms": p99, "statuses": {k[1:]: v for k, v in statuses.items()}}  # fmt: skip


def test_recovery_is_the_start_of_the_first_streak_that_holds() -> None:
    seconds = [row(t, 10, errors=5 if 10 <= t < 18 else 0) for t in range(30)]
    # fault ended at 15; errors continue until 18; 3 clean seconds from 18 on
    assert recovery_time(seconds, 15.0, "error_rate", "<", 0.01, 3) == pytest.approx(3.0)
    # a one-second blip inside the streak restarts it
    seconds[19] = row(19, 10, errors=1)
    assert recovery_time(seconds, 15.0, "error_rate", "<", 0.01, 3) == pytest.approx(5.0)
    # never recovered
    bad = [row(t, 10, errors=10) for t in range(30)]
    assert recovery_time(bad, 15.0, "error_rate", "<", 0.01, 3) is None


def test_seconds_without_answers_neither_count_nor_break() -> None:
    assert second_metric(row(0, 0), "p99") is None
    assert second_metric(row(0, 10, s200=8, s503=2), "availability") == pytest.approx(0.8)


def group(name: str, requests: int, errors: int) -> GroupStats:
    cell = Cell(requests=requests, errors=errors, unavailable=errors)
    cell.statuses = {200: requests - errors, 503: errors}
    for i in range(requests):
        cell.latency.record_us(10_000 + i * 100)
    return GroupStats.of(name, cell, 10.0)


def test_slo_recovery_counter_dlq_check_and_isolation_verdicts() -> None:
    obs = Observations(
        phases={"steady": group("steady", 100, 0), "fault": group("fault", 100, 30)},
        seconds=[row(t, 10, errors=3 if t < 12 else 0) for t in range(20)],
        fault_ends={"f": 10.0},
        run_end_s=20,
        queue_depths={"syncwell/HotPathSyncDlq": 2},
        counters={"cache_hit_rate": 0.9},
        checks={"no_lost_jobs": lambda: {"passed": True, "observed": 0, "target": 0}},
        isolation=[{"name": "iso", "passed": False, "detail": "tenant b read a's order"}],
    )
    exps = [
        Expectation(metric="error_rate", scope="phase:steady", op="<", target="1%"),
        Expectation(metric="error_rate", scope="phase:fault", op="<", target="1%"),
        Expectation(
            kind="recovery",
            after_fault="f",
            metric="error_rate",
            op="<",
            target=0.01,
            within=5,
            window=3,
        ),
        Expectation(kind="dlq_max", queue="HotPathSyncDlq", max=0),
        Expectation(kind="counter", counter="cache_hit_rate", op=">=", target=0.8),
        Expectation(kind="counter", counter="missing", op=">=", target=1),
        Expectation(kind="no_lost_jobs"),
        Expectation(kind="check", check="nope"),
        Expectation(kind="isolation"),
    ]
    verdicts = evaluate(exps, obs)
    assert [v.passed for v in verdicts] == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]
    assert verdicts[1].observed == pytest.approx(0.3)
    assert verdicts[2].observed == pytest.approx(2.0)
    assert "peak" in verdicts[3].detail
    assert "not measured" in verdicts[5].detail
    assert "tenant b read" in verdicts[8].detail


def test_an_slo_with_no_requests_fails_rather_than_passing() -> None:
    verdict = evaluate([Expectation(metric="p99", op="<", target="1s")], Observations())[0]
    assert not verdict.passed and "no requests" in verdict.detail
