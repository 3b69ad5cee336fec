"""`harness run` end to end on a small real stack (a copy of tests/fixtures/stacks/notes with a
traffic mix and `slos:`): checks with no data come out "inconclusive" and fail the run (exit 1,
`<failure type="inconclusive">`), unless `allow_empty`; a fault that matched no call leaves
"faults injected as planned" inconclusive; the stack's SLOs are judged as default expectations
and named in the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "tests" / "fixtures" / "stacks" / "notes"

EXTRA_PROFILE = """
traffic:
  default: nominal
  mixes:
    nominal:
      requests:
        - {name: list_notes, method: GET, path: /notes, auth: bearer, weight: 3}
        - {name: create_note, method: POST, path: /notes, auth: bearer, weight: 1,
           json: {text: "load {uuid}"}, expect: [201]}
slos:
  - "p99 < 5000ms"
  - "error_rate < 50%"
"""


def test_a_run_with_checks_that_saw_nothing_fails_as_inconclusive(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    stack = tmp_path / "notes"
    shutil.copytree(NOTES, stack)
    with (stack / "harness.yaml").open("a") as profile:
        profile.write(EXTRA_PROFILE)
    scenario = tmp_path / "empty-checks.yaml"
    scenario.write_text(
        f"""
title: empty checks
seed: 3
stacks: [{stack}]
warmup: {{duration: 3s, rate: 3, max: 30s}}
timeline:
  - name: hold
    duration: 6s
    load: {{rate: 4}}
    faults:
      - name: s3-errors
        action: aws:api-error
        targets: {{service: s3}}
        parameters: {{code: InternalError, statusCode: 500}}
  - name: quiet
    duration: 2s
expectations:
  - {{name: hold p99, metric: p99, scope: "phase:hold", op: "<", target: 5s}}
  - {{name: quiet p99, metric: p99, scope: "phase:quiet", op: "<", target: 1s}}
  - {{name: quiet allowed, metric: p99, scope: "phase:quiet", op: "<", target: 1s, allow_empty: true}}
  - {{name: no such endpoint, metric: error_rate, scope: "endpoint:nope", op: "<", target: 1%}}
"""
    )
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--report-dir", str(report),
         "--plain"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "INCONCLUSIVE quiet p99" in done.stdout
    summary = json.loads((report / "summary.json").read_text())
    status = {e["name"]: e["status"] for e in summary["expectations"]}
    assert status["hold p99"] == "passed", summary["expectations"]
    assert status["quiet p99"] == "inconclusive"
    assert status["quiet allowed"] == "inconclusive"
    assert status["no such endpoint"] == "inconclusive"
    # the S3 rule matched no call of a stack that does not use S3: it exercised nothing
    assert status["faults injected as planned"] == "inconclusive"
    # the stack's SLOs, as default expectations, judged on the whole run's load
    assert status["notes SLO p99 < 5000ms"] == "passed"
    assert status["notes SLO error_rate < 50%"] == "passed"
    assert [r["how"] for r in summary["profile_slos"]] == ["default expectation"] * 2
    passed = {e["name"]: e["passed"] for e in summary["expectations"]}
    assert passed["quiet allowed"] and not passed["quiet p99"]
    assert summary["passed"] is False

    suite = ET.parse(report / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["quiet p99"].find("failure")
    assert failure is not None and failure.get("type") == "inconclusive"
    assert cases["quiet allowed"].find("skipped") is not None
    assert cases["hold p99"].find("failure") is None
    html = (report / "report.html").read_text()
    assert "data-status='inconclusive'" in html and "Stack SLOs" in html
