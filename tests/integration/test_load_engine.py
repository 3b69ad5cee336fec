"""The load engine against a real HTTP server (uvicorn, started here): rate accuracy, dropped
arrivals, coordinated omission, tenants, the closed model, SLO failures, several processes."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.cli.load import main as load_main
from harness.load import (
    LoadProfile,
    LoadProgress,
    Stage,
    StaticTokens,
    Tenants,
    TrafficMix,
    run_load,
)
from tests.fixtures.load.server import serve_load_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_load_app() as url:
        yield url


def _count(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/count", timeout=5) as response:
        data: dict[str, int] = json.loads(response.read())
        return data


@pytest.fixture(autouse=True)
def no_generators_left() -> Iterator[None]:
    yield
    me = psutil.Process()
    left = []
    for p in me.children(recursive=True):
        try:  # zombies of other tests' children have no command line to read
            line = " ".join(p.cmdline()) if p.status() != psutil.STATUS_ZOMBIE else ""
            if "harness.load.worker" in line or "harness.load.master" in line:
                left.append(p)
        except psutil.Error:
            continue
    assert left == []
    assert "locust" not in sys.modules and "gevent.monkey" not in sys.modules


def test_open_model_holds_the_rate(server: str) -> None:
    seen: list[LoadProgress] = []
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(200, 5, "steady")]),
        TrafficMix.single("/rate"),
        processes=1,
        seed=1,
        progress=seen.append,
        warn=False,
    )
    assert result.total.requests == pytest.approx(1000, rel=0.10)
    assert result.total.rps == pytest.approx(200, rel=0.10)
    assert result.total.error_rate == 0 and result.dropped == 0
    assert result.phases[0].name == "steady" and result.phases[0].achieved_ratio > 0.9
    full = [row for row in result.timeline if 1 <= row["t"] <= 3]
    assert all(row["target"] == pytest.approx(200) for row in full)
    assert sum(row["rps"] for row in full) == pytest.approx(600, rel=0.10)
    assert 4 <= len(seen) <= 7 and seen[0].phase == "steady"
    assert seen[-1].requests == pytest.approx(1000, rel=0.1)
    assert result.generators[0].cpu_seconds > 0


def test_dropped_arrivals_when_the_pool_is_exhausted(server: str) -> None:
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(100, 2)], max_users=4, pre_allocated=4),
        TrafficMix.single("/slow?ms=200"),
        processes=1,
        seed=2,
        warn=False,
    )
    total = result.total
    # 4 users x 5 requests/s = ~20 RPS served of 100 RPS asked for: the rest are dropped
    assert total.requests + total.dropped + total.aborted == pytest.approx(200, abs=3)
    assert total.dropped > 100 and total.dropped_ratio > 0.5
    assert total.requests <= 60
    assert result.drop_causes["system"] > 0
    assert sum(row["dropped"] for row in result.timeline) == total.dropped
    assert max(row["active_users"] for row in result.timeline) <= 4


def test_latency_from_intended_start_includes_waiting(server: str) -> None:
    # 2 users at 50 ms each serve ~40 RPS; 80 RPS arrive, and may wait up to 10 s for a user:
    # measured from the intended start, latency grows; the service time does not.
    result = run_load(
        server,
        LoadProfile(
            stages=[Stage.hold(80, 2)], max_users=2, pre_allocated=2, pool_wait=10, grace=10
        ),
        TrafficMix.single("/co?ms=50"),
        processes=1,
        seed=3,
        warn=False,
    )
    total = result.total
    assert total.dropped == 0 and total.requests == pytest.approx(160, abs=2)
    assert total.service_p50_ms < 200
    assert total.p50_ms > 3 * total.service_p50_ms
    assert total.p99_ms > 1000


def test_tenants_are_counted_apart_and_carry_their_tokens(server: str) -> None:
    before = _count(server)
    tenants = Tenants.model_validate(
        {
            "tenants": [
                {"id": "good", "tier": "premium", "users": 2},
                {"id": "deny", "tier": "basic"},
            ],
            "tier_weights": {"premium": 3, "basic": 1},
        }
    )
    mix = TrafficMix.model_validate(
        {
            "requests": [
                {
                    "name": "items",
                    "path": "/{tenant}/items",
                    "headers": {"x-tenant": "{tenant}"},
                    "auth": "bearer",
                }
            ]
        }
    )
    tokens = StaticTokens({"good": "tok-good", "deny": "tok-deny"})
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(100, 3)]),
        mix,
        tenants,
        tokens,
        processes=1,
        seed=4,
        warn=False,
    )
    after = _count(server)
    by_tenant = {t.name: t for t in result.tenants}
    assert set(by_tenant) == {"good", "deny"}
    assert by_tenant["good"].error_rate == 0 and by_tenant["deny"].error_rate == 1
    assert by_tenant["deny"].statuses == {"403": by_tenant["deny"].requests}
    share = by_tenant["good"].requests / result.total.requests
    assert share == pytest.approx(0.75, abs=0.08)
    for tenant in ("good", "deny"):
        served = after.get(f"tenant:{tenant}", 0) - before.get(f"tenant:{tenant}", 0)
        assert served == by_tenant[tenant].requests
        auth = after.get(f"auth:Bearer tok-{tenant}", 0) - before.get(
            f"auth:Bearer tok-{tenant}", 0
        )
        assert auth == by_tenant[tenant].requests
    assert {g.name for g in result.tenant_endpoints} == {"good/items", "deny/items"}


def test_closed_model(server: str) -> None:
    result = run_load(
        server,
        LoadProfile(mode="closed", stages=[Stage.hold(4, 2, "users")], think_time=0.04),
        TrafficMix.single("/closed?ms=10"),
        processes=1,
        seed=5,
        warn=False,
    )
    total = result.total
    assert total.dropped == 0 and total.error_rate == 0
    # each user: ~10 ms service + 40 ms think -> ~20 requests per second, 4 users -> ~80 RPS
    assert 60 <= total.requests <= 200
    assert max(row["active_users"] for row in result.timeline) <= 4
    assert result.generators[0].users_allocated == 4


@pytest.mark.parametrize("client", ["fasthttp", "raw"])
def test_two_processes_are_merged(server: str, client: str) -> None:
    before = _count(server).get("multi", 0)
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(150, 1, "a"), Stage.hold(150, 1, "b")], client=client),
        TrafficMix.single("/multi"),
        processes=2,
        seed=6,
        warn=False,
    )
    served = _count(server).get("multi", 0) - before
    assert result.processes == 2 and len(result.generators) == 2
    assert {g.index for g in result.generators} == {0, 1}
    assert sum(g.requests for g in result.generators) == result.total.requests == served
    assert result.total.requests == pytest.approx(300, rel=0.1)
    for g in result.generators:
        assert g.requests == pytest.approx(150, rel=0.15)
    assert [p.name for p in result.phases] == ["a", "b"]
    assert all(p.requests == pytest.approx(150, abs=10) for p in result.phases)
    assert result.total.p99_ms >= result.total.p50_ms > 0


def test_cli_fails_an_impossible_slo_and_names_it(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = load_main(
        [
            server,
            "--rate",
            "50",
            "--duration",
            "2s",
            "--path",
            "/cli",
            "--processes",
            "1",
            "--slo",
            "p99<0.001ms",
            "--slo",
            "error_rate<1%",
            "--report-dir",
            str(tmp_path),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "SLO failed: p99<0.001ms" in captured.err
    assert "error_rate" not in captured.err
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["passed"] is False
    assert [(e["name"], e["passed"]) for e in data["expectations"]] == [
        ("p99<0.001ms", False),
        ("error_rate<0.01", True),
    ]
    assert data["phases"][0]["requests"] == pytest.approx(100, abs=5)


def test_cli_usage_error_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("profile:\n  stages:\n    - {duration: 5x, target: 1}\n")
    code = load_main(["http://127.0.0.1:9", "--profile", str(plan), "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "line 3" in err and "profile.stages[0].duration" in err


def test_stop_event_ends_the_run_early(server: str) -> None:
    stop = threading.Event()

    def on_progress(p: LoadProgress) -> None:
        if p.elapsed_s >= 1:
            stop.set()

    started = time.monotonic()
    result = run_load(
        server,
        LoadProfile(stages=[Stage.hold(50, 60)]),
        TrafficMix.single("/stop"),
        processes=1,
        seed=7,
        progress=on_progress,
        stop=stop,
        warn=False,
    )
    assert time.monotonic() - started < 15
    assert 20 <= result.total.requests < 200
