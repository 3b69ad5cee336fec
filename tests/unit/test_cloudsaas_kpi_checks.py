"""stacks/cloudsaas/checks.py on function log files: the cold-start and database-query KPIs
pass on fast samples, report a slow p95 (that the expectation then fails), and are
inconclusive without samples."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

CHECKS = Path(__file__).resolve().parents[2] / "stacks" / "cloudsaas" / "checks.py"
spec = importlib.util.spec_from_file_location("cloudsaas_checks_under_test", CHECKS)
assert spec is not None and spec.loader is not None
checks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checks)

STACK = SimpleNamespace(functions={"Users": SimpleNamespace(name="cloudsaas-Users-1")})


def _write(state: Path, records: list[dict[str, Any]]) -> Any:
    folder = state / "logs" / "functions"
    folder.mkdir(parents=True)
    with (folder / "cloudsaas-Users-1.log").open("w") as fh:
        for record in records:
            fh.write(json.dumps({"function": "cloudsaas-Users-1", **record}) + "\n")
    return SimpleNamespace(state_dir=state)


def _report(at: float, init: float | None) -> dict[str, Any]:
    return {"time": checks._iso(at), "type": "REPORT", "durationMs": 5.0, "initDurationMs": init}


def _db(at: float, ms: float) -> dict[str, Any]:
    return {"time": checks._iso(at), "stream": "stdout", "level": "INFO",
            "message": json.dumps({"level": "INFO", "message": "db query", "ms": ms})}  # fmt: skip


def test_fast_samples_pass(tmp_path: Path) -> None:
    now = time.time()
    env = _write(tmp_path, [_report(now, 400.0), _report(now, None), _db(now, 3.0), _db(now, 4.0)])
    cold = checks.cold_start_p95_ms(env, STACK)
    assert cold["passed"] and cold["observed"] == 400.0 and cold["details"]["samples"] == 1
    db = checks.db_query_p95_ms(env, STACK, since=now - 1)
    assert db["passed"] and db["observed"] == 4.0


def test_a_slow_p95_is_reported_for_the_expectation_to_fail(tmp_path: Path) -> None:
    now = time.time()
    records = [_report(now, 300.0)] * 18 + [_report(now, 2500.0)] * 2
    records += [_db(now, 5.0)] * 17 + [_db(now, 120.0)] * 3
    env = _write(tmp_path, records)
    assert checks.cold_start_p95_ms(env, STACK)["observed"] == 2500.0  # > 1000: the run fails
    assert checks.db_query_p95_ms(env, STACK)["observed"] == 120.0  # > 50


def test_without_samples_it_is_inconclusive(tmp_path: Path) -> None:
    now = time.time()
    env = _write(tmp_path, [_report(now, None), _db(now - 100, 3.0)])
    for result in (checks.cold_start_p95_ms(env, STACK),
                   checks.db_query_p95_ms(env, STACK, since=now - 10)):  # fmt: skip
        assert not result["passed"] and "inconclusive" in result["details"]


@pytest.mark.parametrize("epoch", [0.0, 1796644714.958])
def test_iso_stamps_sort_like_the_runtimes(epoch: float) -> None:
    assert checks._iso(epoch) < checks._iso(epoch + 0.001) < checks._iso(epoch + 1)
