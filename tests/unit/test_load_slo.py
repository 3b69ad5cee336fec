"""SLO specs: parsing, units, scopes, and evaluation against a result built from known cells."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.load.histogram import Histogram
from harness.load.profile import LoadProfile, Stage
from harness.load.result import build_result
from harness.load.slo import ExternalSlo, SloSpec, evaluate_slos, parse_slo
from harness.load.stats import Cell, WorkerResult


def _cell(latencies_ms: list[float], statuses: list[int], dropped: int = 0) -> Cell:
    cell = Cell(dropped=dropped)
    for ms, status in zip(latencies_ms, statuses, strict=True):
        cell.requests += 1
        cell.statuses[status] = cell.statuses.get(status, 0) + 1
        if not 200 <= status < 400:
            cell.errors += 1
        if status >= 500:
            cell.unavailable += 1
        cell.latency.record(ms / 1000)
        cell.service.record(ms / 1000)
    return cell


def _result() -> object:
    profile = LoadProfile(stages=[Stage.hold(10, 10, "warm"), Stage.hold(10, 10, "peak")])
    worker = WorkerResult(index=0, pid=1, seed=0)
    worker.cells[("warm", "list", "t1")] = _cell([10.0] * 100, [200] * 100)
    worker.cells[("peak", "list", "t1")] = _cell([20.0] * 90, [200] * 80 + [503] * 10, dropped=10)
    worker.cells[("peak", "get", "t2")] = _cell([900.0] * 10, [404] * 10)
    return build_result(base_url="http://x", profile=profile, workers=[worker], seed=1, warn=False)


def test_parse_short_forms() -> None:
    assert parse_slo("p99<500ms") == SloSpec(metric="p99", op="<", target=500)
    assert parse_slo("p95{tenant:t1}<=1s") == SloSpec(
        metric="p95", scope="tenant:t1", op="<=", target=1000
    )
    assert parse_slo("phase:peak error_rate<1%").target == pytest.approx(0.01)
    assert parse_slo("availability>=99.9%").target == pytest.approx(0.999)
    assert parse_slo("rps >= 2900").op == ">="


@pytest.mark.parametrize(
    "text", ["p99 < fast", "p42<5", "error_rate<5ms", "p99<5%", "p99{shard:1}<5", "nonsense"]
)
def test_bad_slos_are_rejected(text: str) -> None:
    with pytest.raises((ValueError, ValidationError)):
        parse_slo(text)


def test_evaluate_scopes_and_metrics() -> None:
    result = _result()
    checks = evaluate_slos(
        result,  # type: ignore[arg-type]
        [
            "p50<10ms",  # 100 x 10 ms, 90 x 20 ms, 10 x 900 ms -> median 10 ms: fails
            "phase:warm p99<15ms",
            "phase:peak error_rate<=10%",  # 20 errors of 100
            "tenant:t2 p99<500ms",
            "endpoint:list availability>=0.99",  # 10 x 503 of 190
            "phase:peak dropped_ratio<0.2",
            "phase:peak achieved_ratio>=0.9",  # 100 of 100 expected
            "rps>=10",
            "tenant:nobody p99<1s",
        ],
    )
    verdict = {c.name: c.passed for c in checks}
    assert verdict == {
        "p50<10ms": False,
        "p99{phase:warm}<15ms": True,
        "error_rate{phase:peak}<=0.1": False,
        "p99{tenant:t2}<500ms": False,
        "availability{endpoint:list}>=0.99": False,
        "dropped_ratio{phase:peak}<0.2": True,
        "achieved_ratio{phase:peak}>=0.9": True,
        "rps>=10": True,
        "p99{tenant:nobody}<1000ms": False,
    }
    by_name = {c.name: c for c in checks}
    assert by_name["p50<10ms"].observed == pytest.approx(10, rel=0.01)
    assert by_name["error_rate{phase:peak}<=0.1"].observed == pytest.approx(0.2)
    assert "no requests" in by_name["p99{tenant:nobody}<1000ms"].detail
    assert by_name["p50<10ms"].to_json().keys() >= {"name", "passed", "observed", "target"}


def test_named_spec_and_external_slos() -> None:
    result = _result()
    checks = evaluate_slos(
        result,  # type: ignore[arg-type]
        [SloSpec(name="peak latency", metric="p95", scope="phase:peak", op="<", target="1s")],
        [
            ExternalSlo("sync p95 to SUCCEEDED", lambda: 1200.0, "<", 2000, "ms"),
            ExternalSlo("jobs not in the DLQ", lambda: 0.98, ">=", 0.999),
            ExternalSlo("no data", lambda: None, "<", 1),
            ExternalSlo("broken probe", lambda: 1 / 0, "<", 1),
        ],
    )
    assert [(c.name, c.passed) for c in checks] == [
        ("peak latency", True),
        ("sync p95 to SUCCEEDED", True),
        ("jobs not in the DLQ", False),
        ("no data", False),
        ("broken probe", False),
    ]
    assert "could not measure" in checks[-1].detail


def test_result_groups_and_summary_shape() -> None:
    result = _result()
    data = result.to_json()  # type: ignore[attr-defined]
    phase = data["phases"][1]
    assert {"name", "requests", "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate"} <= phase.keys()
    assert phase["name"] == "peak" and phase["requests"] == 100 and phase["dropped"] == 10
    assert [t["name"] for t in data["tenants"]] == ["t1", "t2"]
    assert {e["name"] for e in data["tenant_endpoints"]} == {"t1/list", "t2/get"}
    assert data["total"]["statuses"] == {"200": 180, "404": 10, "503": 10}


def test_histogram_type_is_shared() -> None:
    assert isinstance(_cell([1.0], [200]).latency, Histogram)
