"""`harness run` end to end through the real command line: the shipped CI smoke scenario passes
with every report file filled in, a scenario with an impossible SLO exits 1 naming it in
junit.xml, and no process outlives either run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(
    scenario: Path, report: Path, state: Path, timeout: float = 420
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--report-dir", str(report),
         "--plain"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "HARNESS_STATE_DIR": str(state)},
    )  # fmt: skip


def test_ci_smoke_passes_with_a_full_report(tmp_path: Path, no_leftover_processes: object) -> None:
    report = tmp_path / "report"
    done = run(ROOT / "scenarios" / "ci-smoke.yaml", report, tmp_path / "state")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "CI smoke: PASSED" in done.stdout

    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    assert {p["name"] for p in summary["phases"]} == {
        "warm-up", "steady", "ddb-throttling", "recovery",
    }  # fmt: skip
    steady = next(p for p in summary["phases"] if p["name"] == "steady")
    assert steady["requests"] >= 150  # 12 s at 15 rps
    assert all(e["passed"] for e in summary["expectations"])
    assert [f["label"] for f in summary["faults"]] == ["ddb-throttle"]
    assert summary["tenants"], "per-tenant statistics are missing"

    raw = json.loads((report / "raw.json").read_text())
    injected = raw["injected_faults"][0]
    assert injected["injected"] > 0, injected  # the proxy really answered throttling errors
    assert raw["lambda_series"], "the sampler recorded no Lambda metrics"
    assert raw["counters"]["lambda_invocations"] > 0

    suite = ET.parse(report / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) >= len(summary["expectations"])
    assert not suite.findall(".//failure")
    html = (report / "report.html").read_text()
    assert "CI smoke" in html and "<svg" in html


def test_an_impossible_slo_fails_with_exit_1_and_is_named(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    scenario = tmp_path / "impossible.yaml"
    scenario.write_text(
        f"""
title: impossible
seed: 7
stacks: [{ROOT / "stacks" / "catalog"}]
steady_state:
  before: false
  after: false
  probes:
    - {{name: health, type: http, url: "${{gateway_url}}/_harness/health"}}
    - {{name: median, type: slo, metric: p50, op: "<", target: 5s}}
timeline:
  - name: hold
    duration: 6s
    load: {{rate: 5}}
expectations:
  - {{name: p99 under a microsecond, metric: p99, op: "<", target: 0.001ms}}
  - {{name: some traffic, metric: rps, op: ">", target: 1}}
# no warm-up: the catalog's own SLOs would judge cold starts; this test is about one expectation
profile_slos: {{enabled: false, reason: cold starts are not what this test judges}}
"""
    )
    report = tmp_path / "report"
    done = run(scenario, report, tmp_path / "state")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAIL p99 under a microsecond" in done.stdout

    suite = ET.parse(report / "junit.xml").getroot()
    failed = [c.get("name") for c in suite.findall(".//testcase") if c.find("failure") is not None]
    assert failed == ["p99 under a microsecond"]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is False
    assert {r["how"] for r in summary["profile_slos"]} == {
        "opted out by the scenario (profile_slos: false): cold starts are not what this test judges"
    }
    # steady state "during": the HTTP probe mid-phase, the SLO probe on the phase's own traffic
    during = json.loads((report / "raw.json").read_text())["environment"]["steady_state"]
    assert sorted(p["name"] for p in during) == ["health (during hold)", "median (during hold)"]
    assert during[0]["passed"], during  # the gateway answered its health check mid-phase
    assert "over the phase's" in during[1]["detail"]  # judged on the phase's own requests
    # the failed SLO is linked to its slowest requests' traces, drawn in the report
    traces = json.loads((report / "raw.json").read_text())["traces"]["p99 under a microsecond"]
    assert len(traces) == 3 and all("slowest request" in t["why"] for t in traces), traces
    durations = [t["spans"][0]["duration_ms"] for t in traces]
    assert durations == sorted(durations, reverse=True)
    assert all(any(s["service"] == "lambda" for s in t["spans"]) for t in traces)
    failed_slo = next(e for e in summary["expectations"] if e["name"] == "p99 under a microsecond")
    assert failed_slo["trace_ids"] == [t["trace_id"] for t in traces]
    html = (report / "report.html").read_text()
    assert "3 trace(s)</a>" in html and html.count("<figure class='trace'>") == 3
