"""Each failed expectation linked to the traces of its evidence, with their waterfalls."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import SpanKind

from harness.obs.spans import SpanRecorder, TraceConfig, recorder_for
from harness.report.data import (
    Expectation,
    FaultWindow,
    PhaseStats,
    RunData,
    load_run,
    save_run,
)
from harness.report.traces import attach_traces, requests_between
from harness.report.writers import render_all

T0 = 1_800_000_000.0  # the run's start (epoch seconds)


def _request(
    rec: SpanRecorder, trace_id: int, at_s: float, ms: float, status: int, rid: str
) -> None:
    start = int((T0 + at_s) * 1e9)
    rec.record(
        "GET /x", trace_id, trace_id & 0xFFFF or 1, 0, start, start + int(ms * 1e6),
        {"http.response.status_code": status, "aws.request_id": rid}, SpanKind.SERVER,
        "HTTP 503" if status >= 500 else None,
    )  # fmt: skip


def _store(tmp_path: Path) -> None:
    config = TraceConfig(run="r")
    gateway = recorder_for("gateway", tmp_path, config)
    runtime = recorder_for("lambda", tmp_path, config)
    assert gateway is not None and runtime is not None
    # phase "peak" is 10-20 s: three requests, one slow; a fault starts at 30 s
    _request(gateway, 0x101, 11.0, 20.0, 200, "req-fast")
    _request(gateway, 0x102, 12.0, 900.0, 200, "req-slow")
    _request(gateway, 0x103, 13.0, 40.0, 200, "req-mid")
    _request(gateway, 0x104, 30.5, 15.0, 503, "req-faulted")
    _request(gateway, 0x105, 45.0, 15.0, 200, "req-later")
    # the lost job's path: its consumer's invocation names the job id
    runtime.record(
        "worker invoke", 0x106, 7, 0, int((T0 + 50) * 1e9), int((T0 + 50.2) * 1e9),
        {"correlation_id": "job-000123"}, SpanKind.SERVER, "Runtime.ExitError",
    )  # fmt: skip
    gateway.shutdown()
    runtime.shutdown()


def _run() -> RunData:
    return RunData(
        title="t",
        seed=1,
        started_at=T0 - 40,  # the command began 40 s before the timeline (environment, deploy)
        environment={"timeline_started_at": T0},  # phases and faults are relative to this
        duration_s=60,
        phases=[PhaseStats("warm", 0, 10), PhaseStats("peak", 10, 20)],
        faults=[FaultWindow("ddb-errors", 30, 40, "aws")],
        expectations=[
            Expectation("p99 under 500 ms in peak", False, 900.0, 500.0, kind="slo"),
            Expectation("recovers after ddb-errors", False, 30.0, 10.0, kind="recovery"),
            Expectation("no lost jobs", False, 1, 0, "lost: job-000123", kind="no_lost_jobs"),
            Expectation("fine", True, 1, 1, kind="slo"),
        ],
    )


def test_requests_are_found_by_time_window(tmp_path: Path) -> None:
    _store(tmp_path)
    found = requests_between(tmp_path, T0 + 10, T0 + 20)
    assert sorted(s["attributes"]["aws.request_id"] for s in found) == [
        "req-fast",
        "req-mid",
        "req-slow",
    ]


def test_each_failed_expectation_gets_the_traces_of_its_evidence(tmp_path: Path) -> None:
    _store(tmp_path)
    run = _run()
    attach_traces(run, tmp_path)
    slo = run.traces["p99 under 500 ms in peak"]
    assert [e["trace_id"] for e in slo] == [f"{t:032x}" for t in (0x102, 0x103, 0x101)]
    assert "slowest" in slo[0]["why"] and slo[0]["spans"][0]["duration_ms"] == 900.0
    recovery = run.traces["recovers after ddb-errors"]
    assert [e["trace_id"] for e in recovery] == [f"{0x104:032x}"]  # not the one 15 s later
    assert "fault ddb-errors" in recovery[0]["why"]
    lost = run.traces["no lost jobs"]
    assert [e["trace_id"] for e in lost] == [f"{0x106:032x}"]
    assert lost[0]["spans"][0]["error"] == "Runtime.ExitError"
    assert "fine" not in run.traces  # a passed expectation needs no evidence


def test_the_report_links_and_draws_them(tmp_path: Path) -> None:
    store = tmp_path / "state"
    _store(store)
    run = _run()
    attach_traces(run, store)
    out = tmp_path / "report"
    save_run(out, run)
    render_all(run, out)
    page = (out / "report.html").read_text()
    assert "href='#traces-p99_under_500_ms_in_peak'>3 trace(s)</a>" in page
    assert page.count("<figure class='trace'>") == 5
    assert f"harness trace {0x104:032x}" in page
    # the raw data keeps them: the report re-renders without the environment
    again = load_run(out)
    assert again.traces == run.traces
    summary = (out / "summary.json").read_text()
    assert f'"{0x106:032x}"' in summary


def test_without_a_span_store_the_report_says_so(tmp_path: Path) -> None:
    run = _run()
    attach_traces(run, tmp_path)
    assert "tracing off" in run.traces[""][0]["note"]
    render_all(run, tmp_path / "report")
    assert "tracing off" in (tmp_path / "report" / "report.html").read_text()
