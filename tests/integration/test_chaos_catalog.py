"""The seed-001 chaos catalog (``scenarios/chaos/*.yaml``) run for real against SyncWell.

Opt-in (``pytest -m slow tests/integration/test_chaos_catalog.py``): each scenario starts its
own environment in a temporary state folder, deploys ``stacks/syncwell``, runs its ~40 s
timeline and the job checks (which drain the queues for up to 60 s), about 2-3 minutes each.

``test_broken_worker_loses_jobs`` proves the catalog catches what it is for: the same Secrets
Manager scenario against a worker deliberately broken to drop a job when Secrets Manager fails
(``BrokenMode: drop-on-secrets-error``) must fail, with "no accepted job lost" as a failing
expectation, exit code 1 from ``harness run`` and the failure in ``junit.xml``. The same way,
``dynamodb-blackhole.yaml`` must fail "no hung API" against a copy whose API keeps the SDK's
default timeouts and no circuit, and ``cache-failure.yaml`` must fail "providers not called
without the cache" against a worker whose rate limiter fails open
(``BrokenMode: call-providers-without-cache``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.config import Settings
from harness.scenario.runner import RunOptions, run_scenario
from tests.broken_copies import copy_stack, run_on_copies

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CATALOG = sorted((ROOT / "scenarios" / "chaos").glob("*.yaml"))
LOST = "no accepted job lost"


BASELINE = "baseline availability"


def _run(path: Path, folder: Path) -> tuple[bool, list[str]]:
    run = run_scenario(
        path,
        RunOptions(
            report_dir=folder / "report",
            settings=Settings.load(state_dir=folder / "state"),
            live=False,
        ),
    )
    failed = [f"{e.name}: observed {e.observed}, target {e.target}" for e in run.expectations
              if not e.passed]  # fmt: skip
    return run.passed, failed


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_chaos_scenario_passes(path: Path, tmp_path: Path) -> None:
    """Every expectation holds. A run whose fault-free baseline already failed (the shared
    machine stalled before any fault began) says nothing about the fault: it is run once more,
    and that second run must pass."""
    passed, failed = _run(path, tmp_path / "run1")
    report = tmp_path / "run1" / "report"
    # the stack's SLOs are judged over the baseline phase too (profile_slos.scope)
    if not passed and any(f.startswith((BASELINE, "syncwell SLO")) for f in failed):
        passed, failed = _run(path, tmp_path / "run2")
        report = tmp_path / "run2" / "report"
    assert passed, f"{path.name} failed: {failed} (report {report / 'report.html'})"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    names = {e["name"] for e in summary["expectations"]}
    assert LOST in names and "no job processed twice" in names and BASELINE in names


def broken_stack(
    tmp_path: Path,
    mode: str = "drop-on-secrets-error",
    template_edits: dict[str, str] | None = None,
) -> Path:
    """A copy of stacks/syncwell with ``BrokenMode`` set (by default: the worker drops a job
    when Secrets Manager fails) and ``template_edits`` (old text -> new) applied."""
    return copy_stack(
        tmp_path,
        "syncwell",
        {"template.yaml": template_edits or {}},
        {"BrokenMode": mode} if mode else None,
    )


def _run_broken(tmp_path: Path, scenario_name: str, stack: Path) -> tuple[bool, dict[str, Any]]:
    """Run ``scenarios/chaos/<scenario_name>`` against ``stack``: (passed, expectations)."""
    run = run_on_copies(ROOT / "scenarios" / "chaos" / scenario_name, {"syncwell": stack}, tmp_path)
    return run.passed, {e.name: e for e in run.expectations}


def test_unbounded_sdk_calls_hang_the_api_when_dynamodb_is_blocked(tmp_path: Path) -> None:
    """The blackhole experiment catches an API without bounded SDK calls: the SDK's defaults
    (10 s read timeout, 4 attempts) and no circuit, so requests hang into the 10 s timeouts."""
    stack = broken_stack(
        tmp_path,
        mode="",
        template_edits={
            'AWS_READ_TIMEOUT_S: "1.5"': 'AWS_READ_TIMEOUT_S: "10"',
            'AWS_FAIL_FAST_S: "3"': 'AWS_FAIL_FAST_S: "0"',
            'AWS_MAX_ATTEMPTS: "2"': 'AWS_MAX_ATTEMPTS: "4"',
        },
    )
    passed, expectations = _run_broken(tmp_path, "dynamodb-blackhole.yaml", stack)
    hung = expectations["no hung API while DynamoDB is blocked"]
    assert not passed and not hung.passed and float(hung.observed or 0) >= 9000, hung


def test_a_worker_calling_providers_without_its_cache_is_caught(tmp_path: Path) -> None:
    """The cache-failure experiment catches a worker whose rate limiter fails open (it calls
    the providers while Redis is down instead of deferring)."""
    stack = broken_stack(tmp_path, mode="call-providers-without-cache")
    passed, expectations = _run_broken(tmp_path, "cache-failure.yaml", stack)
    quiet = expectations["providers not called without the cache"]
    assert not passed and not quiet.passed and int(quiet.observed or 0) > 0, quiet


def test_broken_worker_loses_jobs(tmp_path: Path) -> None:
    scenario = yaml.safe_load(
        (ROOT / "scenarios" / "chaos" / "secrets-unavailable.yaml").read_text()
    )
    scenario["title"] = "Chaos: Secrets Manager unavailable (broken worker)"
    scenario["stacks"] = [str(broken_stack(tmp_path))]
    path = tmp_path / "secrets-unavailable-broken.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    report = tmp_path / "report"
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path), "--plain", "--report-dir", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"FAIL {LOST}" in done.stdout
    summary = json.loads((report / "summary.json").read_text())
    lost = next(e for e in summary["expectations"] if e["name"] == LOST)
    assert lost["passed"] is False and int(lost["observed"]) > 0
    failures = [
        case.get("name")
        for case in ET.parse(report / "junit.xml").iter("testcase")
        if case.find("failure") is not None
    ]
    assert LOST in failures, failures
