"""``providers_quiet_without_cache`` (stacks/syncwell/checks.py) on recorded calls: it passes on
a worker that stops calling providers while the cache is down and respects the bucket after the
reboot, fails on one that keeps calling or bursts, and is inconclusive without a cache fault."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

CHECKS = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "checks.py"
spec = importlib.util.spec_from_file_location("syncwell_checks_under_test", CHECKS)
assert spec is not None and spec.loader is not None
checks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checks)

STACK = SimpleNamespace(
    fake_servers={"providers": "http://fake"},
    parameters={"RateLimitCapacity": "5", "RateLimitRefillPerSecond": "1"},
)
# Redis down from t=100 for 10 s, rebooted at t=112
WINDOWS = ([(100.0, 110.0)], [112.0])


def _run(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[float, str]], windows: Any = WINDOWS
) -> dict[str, Any]:
    monkeypatch.setattr(checks, "_provider_calls", lambda stack: calls)
    monkeypatch.setattr(checks, "_cache_windows", lambda env, since: windows)
    return dict(checks.providers_quiet_without_cache(object(), STACK, since=90.0))


def test_quiet_while_down_and_within_the_bucket_after_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = [(95.0 + i * 0.5, "strava") for i in range(10)]  # before, and in the 2 s grace
    calls += [(113.0 + i * 0.1, "strava") for i in range(18)]  # 18 <= (5 + 1) x 3
    result = _run(monkeypatch, calls)
    assert result["passed"], result
    assert result["details"]["calls_while_down"] == 0


def test_a_worker_calling_providers_while_the_cache_is_down_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = [(103.0, "strava"), (105.5, "fitbit"), (109.9, "strava")]
    result = _run(monkeypatch, calls)
    assert not result["passed"] and result["observed"] == 3
    assert result["details"]["calls_while_down_by_provider"] == {"strava": 2, "fitbit": 1}


def test_a_burst_past_the_bucket_after_the_reboot_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [(113.0 + i * 0.01, "fitbit") for i in range(40)]  # 40 in a second > 18
    result = _run(monkeypatch, calls)
    assert not result["passed"]
    assert result["details"]["busiest_1s_after_reboot"] == {"fitbit": 40}


def test_without_a_cache_fault_it_is_inconclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(monkeypatch, [(100.0, "strava")], windows=([], []))
    assert not result["passed"] and "inconclusive" in str(result["details"])


def test_cache_windows_come_from_the_fault_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.chaos

    journal = [
        {"time": 100.0, "kind": "redis", "effect": "down", "duration_s": 10},
        {"time": 104.0, "kind": "aws", "effect": "error"},
        {"time": 112.0, "kind": "redis", "effect": "reboot"},
        {"time": 120.0, "kind": "redis", "effect": "hang", "duration_s": 30},
        {"time": 125.0, "kind": "redis", "effect": "ok"},  # cleared early
    ]
    monkeypatch.setattr(harness.chaos, "fault_records", lambda *a, **k: journal)
    env = SimpleNamespace(endpoints={}, state_dir=None)
    down, reboots = checks._cache_windows(env, 90.0)
    assert down == [(100.0, 110.0), (120.0, 125.0)]
    assert reboots == [112.0]
