"""``scenarios/cloudsaas-kpi.yaml`` against a deliberately broken copy of ``stacks/cloudsaas``
(opt-in: ``pytest -m slow``): every database transaction of the copy waits 80 ms more, and the
scenario's "database query p95 under 50 ms" expectation, read from the functions' logs by
``stacks/cloudsaas/checks.py``, must fail with the slow p95 as its observation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from harness.config import Settings
from harness.scenario.runner import RunOptions, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "cloudsaas-kpi.yaml"
DB_KPI = "database query p95 under 50 ms (seed KPI)"


def test_a_slow_database_fails_the_db_query_kpi(tmp_path: Path) -> None:
    stack = tmp_path / "cloudsaas"
    shutil.copytree(ROOT / "stacks" / "cloudsaas", stack,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    db = stack / "src" / "cloudsaas" / "db.py"
    text = db.read_text()
    anchor = "        with conn.transaction(), conn.cursor() as cur:\n"
    assert anchor in text, "db.py changed: update the broken copy"
    db.write_text(text.replace(anchor, anchor + "            time.sleep(0.08)  # broken\n"))
    scenario = yaml.safe_load(SCENARIO.read_text())
    scenario["title"] += " (broken copy: slow database)"
    scenario["stacks"] = [str(stack)]
    path = tmp_path / "cloudsaas-kpi-broken.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    run = run_scenario(
        path,
        RunOptions(report_dir=tmp_path / "report", settings=Settings.load(state_dir=tmp_path / "s"),
                   live=False),
    )  # fmt: skip
    verdict = {e.name: e for e in run.expectations}[DB_KPI]
    assert not run.passed and not verdict.passed, verdict
    assert verdict.observed is not None and float(verdict.observed) >= 80, verdict
