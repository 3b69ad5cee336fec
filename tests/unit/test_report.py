"""Report rendering from raw run data: summary.json schema, junit.xml, report.html plots."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report import (
    Expectation,
    FaultWindow,
    PhaseStats,
    RunData,
    load_run,
    render_all,
    save_run,
)
from harness.report.plots import PLOTS


def synthetic_run(passed: bool = True) -> RunData:
    series = []
    for t in range(120):
        in_fault = 40 <= t < 70
        series.append(
            {
                "t": t,
                "rps": 100 + 5 * math.sin(t / 5),
                "target_rps": 100,
                "p50_ms": 20 + (200 if in_fault else 0),
                "p95_ms": 40 + (400 if in_fault else 0),
                "p99_ms": 60 + (900 if in_fault else 0),
                "errors": {"503": 7} if in_fault else {},
                "dropped": 2 if in_fault else 0,
            }
        )
    return RunData(
        title="DynamoDB outage",
        seed=7,
        started_at=1_800_000_000.0,
        duration_s=120,
        description="A synthetic run",
        scenario_file="scenarios/x.yaml",
        phases=[
            PhaseStats("warmup", 0, 40, 4000, 100, 20, 40, 60, 0.0, 100),
            PhaseStats("outage", 40, 120, 8000, 99, 120, 300, 700, 0.05, 100, 60),
        ],
        expectations=[
            Expectation("p99 during outage < 2000 ms", True, 700.0, "< 2000 ms"),
            Expectation(
                "no accepted job lost",
                passed,
                0 if passed else 3,
                0,
                "" if passed else "3 jobs missing",
            ),
        ],
        faults=[FaultWindow("dynamodb unavailable", 40, 70, "aws")],
        load_series=series,
        tenants={
            "acme": {"requests": 6000, "p50_ms": 30, "p95_ms": 90, "p99_ms": 300, "throttled": 12},
            "globex": {"requests": 6000, "p50_ms": 28, "p95_ms": 80, "p99_ms": 280, "throttled": 0},
        },
        queue_series=[
            {
                "t": t,
                "queues": {"jobs": max(0, 50 - abs(t - 60))},
                "dlqs": {"jobs-dlq": 1 if t > 60 else 0},
            }
            for t in range(120)
        ],
        lambda_series=[
            {
                "t": t,
                "functions": {
                    "worker": {
                        "concurrency": 3,
                        "throttles": 1 if 45 < t < 50 else 0,
                        "cold_starts": 1 if t == 0 else 0,
                    }
                },
            }
            for t in range(120)
        ],
    )


def test_summary_json_has_the_documented_fields(tmp_path: Path) -> None:
    render_all(synthetic_run(), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is True and summary["seed"] == 7
    for phase in summary["phases"]:
        assert {"name", "requests", "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate"} <= set(phase)
    for expectation in summary["expectations"]:
        assert {"name", "passed", "observed", "target"} <= set(expectation)


def test_junit_has_one_case_per_expectation_and_names_the_failure(tmp_path: Path) -> None:
    render_all(synthetic_run(passed=False), tmp_path)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["no accepted job lost"]
    assert "3 jobs missing" in (failed[0].find("failure").text or "")  # type: ignore[union-attr]


def test_html_is_self_contained_with_every_plot(tmp_path: Path) -> None:
    render_all(synthetic_run(), tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == len(PLOTS)
    for name, _, _ in PLOTS:
        assert f"id='plot-{name}'" in page
    assert "http://" not in page.split("<svg", 1)[0]  # no external stylesheet or script
    assert "<script src" not in page  # the one inline script only measures the plots


def test_empty_run_still_renders_every_plot(tmp_path: Path) -> None:
    run = RunData(title="empty", seed=0, started_at=0, duration_s=0)
    render_all(run, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == len(PLOTS) and "no load recorded" in page


def test_raw_data_round_trips_and_rerenders(tmp_path: Path) -> None:
    run = synthetic_run()
    save_run(tmp_path, run)
    again = load_run(tmp_path)
    assert again.to_json() == run.to_json()


def test_loading_a_folder_without_raw_data_is_a_clear_error(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="harness run"):
        load_run(tmp_path)
