"""Issue 22 (part B): no check passes on no data. Every built-in expectation, the load SLO gate,
the shipped stacks' checks, the isolation summary and the fault attribution report
"inconclusive" (and fail unless ``allow_empty``) when they have nothing to judge, and fail on a
broken input. Also: the report shows inconclusive apart, and the stacks' ``slos:`` are default
expectations of every scenario that deploys them."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.isolation.run import IsolationResult, judge
from harness.load.result import GroupStats
from harness.load.slo import ExternalSlo, SloSpec, evaluate_slos, parse_slo
from harness.load.stats import Cell
from harness.report import Expectation as Verdict
from harness.report import RunData, render_all
from harness.report.writers import summary_json
from harness.scenario.expectations import Observations, evaluate
from harness.scenario.model import Expectation, Scenario
from harness.scenario.observe import injected_faults
from harness.scenario.runner import RunOptions, ScenarioRunner
from harness.scenario.slos import profile_expectations
from harness.scenario.timeline import PlannedFault
from harness.scenario.verdicts import faults_verdict
from tests.fixtures.modules import load_module

ROOT = Path(__file__).resolve().parents[2]
syncwell = load_module("syncwell_checks_honest", ROOT / "stacks" / "syncwell" / "checks.py")
synchub = load_module("synchub_checks_honest", ROOT / "stacks" / "synchub" / "checks.py")


def group(name: str, requests: int, errors: int = 0, dropped: int = 0) -> GroupStats:
    cell = Cell(requests=requests, errors=errors, unavailable=errors, dropped=dropped)
    cell.statuses = {200: requests - errors, 503: errors} if requests else {}
    for i in range(requests):
        cell.latency.record_us(10_000 + i * 100)
    return GroupStats.of(name, cell, 10.0)


def load_with(total: GroupStats, phases: list[GroupStats] | None = None) -> Any:
    groups = {"all": total, **{f"phase:{p.name}": p for p in phases or []}}
    return SimpleNamespace(group=groups.get, total=total)


def one(exp: Expectation, obs: Observations) -> Verdict:
    return evaluate([exp], obs)[0]


def assert_inconclusive(v: Verdict, *words: str) -> None:
    assert v.status == "inconclusive" and not v.passed, v
    assert v.observed is None, v
    for word in words:
        assert word in v.detail, (word, v.detail)


# -- the built-in expectations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "target"),
    [("p99", "1s"), ("p50", "1s"), ("max", "1s"), ("error_rate", "1%"), ("availability", "99%")],
)
def test_slo_over_a_phase_with_no_requests_is_inconclusive(metric: str, target: str) -> None:
    obs = Observations(phases={"quiet": group("quiet", 0)})
    op = ">=" if metric == "availability" else "<"
    v = one(Expectation(metric=metric, scope="phase:quiet", op=op, target=target), obs)
    assert_inconclusive(v, "no answered request", "phase:quiet")


def test_ratios_over_zero_arrivals_are_inconclusive_not_zero() -> None:
    obs = Observations(load=load_with(group("all", 0)))
    for metric, op in (("dropped_ratio", "<="), ("rps", ">"), ("achieved_ratio", ">=")):
        v = one(Expectation(metric=metric, op=op, target=0.5), obs)
        assert_inconclusive(v, "no arrival")


def test_an_slo_without_load_or_with_an_unknown_endpoint_is_inconclusive() -> None:
    assert_inconclusive(one(Expectation(metric="p99", target="1s"), Observations()), "no load")
    obs = Observations(load=load_with(group("all", 10)))
    v = one(Expectation(metric="p99", scope="endpoint:nope", target="1s"), obs)
    assert_inconclusive(v, "endpoint:nope")


def test_allow_empty_passes_an_empty_slo_but_keeps_it_inconclusive() -> None:
    obs = Observations(phases={"quiet": group("quiet", 0)})
    exp = Expectation(metric="p99", scope="phase:quiet", target="1s", allow_empty=True)
    v = one(exp, obs)
    assert v.passed and v.status == "inconclusive" and "allowed" in v.detail


def test_slo_with_data_fails_on_a_broken_input() -> None:
    obs = Observations(load=load_with(group("all", 100, errors=30, dropped=10)))
    assert one(Expectation(metric="error_rate", target="1%"), obs).status == "failed"
    assert one(Expectation(metric="dropped_ratio", op="<=", target="1%"), obs).status == "failed"
    assert one(Expectation(metric="error_rate", target="50%"), obs).status == "passed"


def row(t: float, rps: int, errors: int = 0) -> dict[str, Any]:
    return {"t": t, "rps": rps, "errors": errors, "p99_ms": 10.0, "statuses": {}}


def recovery() -> Expectation:
    return Expectation(
        kind="recovery", after_fault="f", metric="error_rate", op="<", target=0.01, within=5
    )


def test_recovery_without_the_fault_or_without_answers_after_it_is_inconclusive() -> None:
    assert_inconclusive(one(recovery(), Observations()), "never ran")
    # the fault ran, but no request completed after it ended (the load had stopped)
    obs = Observations(seconds=[row(t, 10) for t in range(10)] + [row(t, 0) for t in range(10, 20)])
    obs.fault_ends = {"f": 10.0}
    assert_inconclusive(one(recovery(), obs), "no request completed after")


def test_recovery_that_never_holds_fails() -> None:
    obs = Observations(seconds=[row(t, 10, errors=5) for t in range(20)], fault_ends={"f": 5.0})
    v = one(recovery(), obs)
    assert v.status == "failed" and "did not hold" in v.detail


def test_dlq_whose_depth_could_not_be_read_is_inconclusive_and_a_full_one_fails() -> None:
    exp = Expectation(kind="dlq_max", queue="Dlq", max=0)
    assert_inconclusive(one(exp, Observations(queues_unread=["s/Dlq"])), "could not be read")
    assert one(exp, Observations(queue_depths={"s/Dlq": 3})).status == "failed"
    assert one(exp, Observations(queue_depths={"s/Dlq": 0})).status == "passed"


def test_counters_nobody_measured_or_over_no_base_are_inconclusive() -> None:
    throttles = Expectation(kind="counter", counter="lambda_throttles", op="<=", target=0)
    # "0 throttles" out of no invocation is no evidence
    obs = Observations(counters={"lambda_throttles": 0, "lambda_invocations": 0})
    assert_inconclusive(one(throttles, obs), "out of no lambda_invocations")
    assert_inconclusive(one(throttles, Observations()), "not measured")
    hits = Expectation(kind="counter", counter="cache_hit_rate", op=">=", target=0.8)
    obs = Observations(counters={"cache_hits": 0, "cache_misses": 0})
    assert_inconclusive(one(hits, obs), "zero reads")
    # broken input: real throttles fail (also when every invocation was throttled)
    obs = Observations(counters={"lambda_throttles": 3, "lambda_invocations": 100})
    assert one(throttles, obs).status == "failed"
    obs = Observations(counters={"lambda_throttles": 3, "lambda_invocations": 0})
    assert one(throttles, obs).status == "failed"
    dropped = Expectation(kind="counter", counter="dropped", op="<=", target=0)
    assert_inconclusive(one(dropped, Observations(counters={"dropped": 0, "requests": 0})))
    assert one(dropped, Observations(counters={"dropped": 5, "requests": 0})).status == "failed"
    obs = Observations(counters={"lambda_throttles": 0, "lambda_invocations": 100})
    assert one(throttles, obs).status == "passed"


def test_checks_that_had_nothing_to_judge_are_inconclusive() -> None:
    obs = Observations(
        checks={
            "no_lost_jobs": lambda: {"status": "inconclusive", "details": "no job accepted"},
            "ratio": lambda: None,
            "broken": lambda: {"passed": False, "observed": 2, "target": 0, "details": "2 lost"},
        }
    )
    assert_inconclusive(one(Expectation(kind="no_lost_jobs"), obs), "no job accepted")
    v = one(Expectation(kind="check", check="ratio", op=">=", target=0.99), obs)
    assert_inconclusive(v, "returned no value")
    assert_inconclusive(one(Expectation(kind="check", check="ratio"), obs))
    assert one(Expectation(kind="check", check="broken"), obs).status == "failed"


def test_isolation_and_steady_state_with_nothing_run_are_inconclusive() -> None:
    assert_inconclusive(one(Expectation(kind="isolation"), Observations()), "no isolation")
    assert_inconclusive(one(Expectation(kind="steady_state"), Observations()), "no steady")
    zero = [{"name": "iso", "passed": False, "status": "inconclusive", "detail": "0 steps"}]
    assert_inconclusive(one(Expectation(kind="isolation"), Observations(isolation=zero)), "0 steps")
    broken = [*zero, {"name": "iso2", "passed": False, "detail": "tenant b read a's order"}]
    v = one(Expectation(kind="isolation"), Observations(isolation=broken))
    assert v.status == "failed" and "tenant b" in v.detail


# -- the load engine's SLO gate ----------------------------------------------------------------


def test_load_slo_gate_reports_inconclusive_for_empty_scopes_and_missing_values() -> None:
    result: Any = load_with(group("all", 0), [group("quiet", 0)])
    out = evaluate_slos(result, ["p99<500ms", "phase:quiet error_rate<1%", "dropped_ratio<1%"])
    assert [r.status for r in out] == ["inconclusive"] * 3
    assert not any(r.passed for r in out)
    assert all(r.to_json()["status"] == "inconclusive" for r in out)
    allowed = SloSpec(metric="p99", op="<", target=500, allow_empty=True)
    assert evaluate_slos(result, [allowed])[0].passed
    external = ExternalSlo("manual p95", lambda: None, "<", 15)
    assert evaluate_slos(None, [], [external])[0].status == "inconclusive"
    assert evaluate_slos(None, ["p99<1s"])[0].status == "inconclusive"


def test_load_slo_gate_fails_on_a_broken_input() -> None:
    result: Any = load_with(group("all", 100, errors=10))
    out = evaluate_slos(result, [parse_slo("error_rate<1%"), parse_slo("p99<10s")])
    assert [r.status for r in out] == ["failed", "passed"]


# -- the shipped stacks' checks ----------------------------------------------------------------


def _job(job_id: str, status: str, accepted: float = 100.0, **extra: Any) -> dict[str, Any]:
    return {"jobId": job_id, "PK": "USER#u", "status": status, "acceptedAt": accepted, **extra}


@pytest.fixture
def fake_syncwell(monkeypatch: pytest.MonkeyPatch) -> Any:
    world = SimpleNamespace(jobs=[], dlq=set())
    monkeypatch.setattr(syncwell, "wait_drained", lambda *a, **k: True)
    monkeypatch.setattr(syncwell, "_ddb_jobs", lambda env, stack: list(world.jobs))
    monkeypatch.setattr(syncwell, "dlq_job_ids", lambda env, stack: set(world.dlq))
    return world


def test_no_lost_jobs_with_no_accepted_job_is_inconclusive(fake_syncwell: Any) -> None:
    out = syncwell.no_lost_jobs(None, None)
    assert out["status"] == "inconclusive" and not out["passed"]
    # jobs only from before the run (the warm-up) do not make the run's check conclusive
    fake_syncwell.jobs = [_job("j0", "SUCCEEDED", accepted=50)]
    assert syncwell.no_lost_jobs(None, None, since=60)["status"] == "inconclusive"
    fake_syncwell.jobs = [_job("j1", "REJECTED")]
    assert syncwell.no_lost_jobs(None, None)["status"] == "inconclusive"


def test_no_lost_jobs_fails_on_a_lost_job(fake_syncwell: Any) -> None:
    fake_syncwell.jobs = [_job("j1", "SUCCEEDED"), _job("j2", "QUEUED"), _job("j3", "FAILED")]
    fake_syncwell.dlq = {"j3"}
    out = syncwell.no_lost_jobs(None, None, since=60)
    assert not out["passed"] and out["observed"] == 1 and out["details"]["lost"] == ["j2"]
    fake_syncwell.jobs = fake_syncwell.jobs[:1] + fake_syncwell.jobs[2:]
    assert syncwell.no_lost_jobs(None, None, since=60)["passed"]


def _load_202(sync: int, upload: int = 0) -> Any:
    groups = {
        "endpoint:sync-job": SimpleNamespace(statuses={"202": sync, "500": 1}),
        "endpoint:device-upload": SimpleNamespace(statuses={"202": upload}),
    }
    return SimpleNamespace(group=groups.get)


def test_no_lost_jobs_sees_a_202_that_left_no_record(fake_syncwell: Any) -> None:
    # the table alone cannot show an acceptance that wrote no job: the load's 202s can
    fake_syncwell.jobs = [
        _job("j1", "SUCCEEDED", kind="sync"),
        _job("j2", "SUCCEEDED", kind="sync"),
    ]
    out = syncwell.no_lost_jobs(None, None, since=60, load=_load_202(2, 1))
    assert not out["passed"] and out["observed"] == 1
    assert out["details"]["answered_202_without_a_job_record"] == 1
    fake_syncwell.jobs.append(_job("j3", "SUCCEEDED", kind="device_upload"))
    assert syncwell.no_lost_jobs(None, None, since=60, load=_load_202(2, 1))["passed"]
    # 202s and not one record: lost, not "nothing to judge"
    fake_syncwell.jobs = []
    out = syncwell.no_lost_jobs(None, None, since=60, load=_load_202(4))
    assert out.get("status") != "inconclusive" and not out["passed"] and out["observed"] == 4


def test_success_ratio_and_manual_p95_have_no_value_without_jobs(fake_syncwell: Any) -> None:
    assert syncwell.hot_path_success_ratio(None, None) is None
    assert syncwell.manual_sync_p95_s(None, None) is None
    fake_syncwell.jobs = [_job("j1", "SUCCEEDED"), _job("j2", "FAILED")]
    fake_syncwell.dlq = {"j2"}
    assert syncwell.hot_path_success_ratio(None, None) == pytest.approx(0.5)


class _Fake(BaseHTTPRequestHandler):
    answer: dict[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[tuple[str, type[_Fake]]]:
    handler = type("Handler", (_Fake,), {"answer": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _stack(url: str) -> Any:
    return SimpleNamespace(fake_servers={"providers": url}, parameters={})


def test_no_duplicate_jobs_is_inconclusive_when_the_provider_is_silent_or_saw_no_write(
    provider: tuple[str, type[_Fake]],
) -> None:
    url, handler = provider
    dead = syncwell.no_duplicate_jobs(None, _stack("http://127.0.0.1:9"))
    assert dead["status"] == "inconclusive" and "did not answer" in dead["details"]
    no_stack = syncwell.no_duplicate_jobs(None, SimpleNamespace(fake_servers={}, parameters={}))
    assert no_stack["status"] == "inconclusive"
    handler.answer = {"duplicates": 0, "writes": 0}
    idle = syncwell.no_duplicate_jobs(None, _stack(url))
    assert idle["status"] == "inconclusive" and "no write" in idle["details"]
    handler.answer = {"duplicates": 0}  # an older fake that does not count its writes
    assert syncwell.no_duplicate_jobs(None, _stack(url))["status"] == "inconclusive"


def test_no_duplicate_jobs_sees_a_duplicate_the_table_cannot_show(
    provider: tuple[str, type[_Fake]],
) -> None:
    # two jobs with one idempotency key share one JOB# item (the id derives from the key), so
    # the verdict rests on the destination's own count of writes
    url, handler = provider
    handler.answer = {"duplicates": 1, "writes": 12, "examples": [["strava", "o1", "a1"]]}
    out = syncwell.no_duplicate_jobs(None, _stack(url))
    assert not out["passed"] and out["observed"] == 1
    handler.answer = {"duplicates": 0, "writes": 12}
    assert syncwell.no_duplicate_jobs(None, _stack(url))["passed"]


def test_synchub_alarms_without_access_log_records_are_inconclusive(tmp_path: Path) -> None:
    stack = SimpleNamespace(name="synchub", profile={"alarms": [
        {"name": "api-5xx-errors", "metric": "count_5xx", "threshold": 10, "period": "10m"},
        {"name": "api-latency", "metric": "p99", "threshold": "5000ms", "period": "1m",
         "evaluation_periods": 3}]})  # fmt: skip
    env = SimpleNamespace(state_dir=tmp_path)
    for check in (synchub.alarm_api_5xx_errors, synchub.alarm_api_latency):
        out = check(env, stack)
        assert out["status"] == "inconclusive" and "does not exist" in out["details"]
    (tmp_path / "logs").mkdir()
    line = {"stack": "other", "requestTimeEpoch": 5_000_000, "status": 500, "responseLatency": 9}
    (tmp_path / "logs" / "access.log").write_text(json.dumps(line) + "\n")
    for check in (synchub.alarm_api_5xx_errors, synchub.alarm_api_latency):
        out = check(env, stack)
        assert out["status"] == "inconclusive" and "no request of synchub" in out["details"]
    # broken input: the alarm fires
    lines = [{"stack": "synchub", "requestTimeEpoch": (1000 + i) * 1000, "status": 502,
              "responseLatency": 20} for i in range(11)]  # fmt: skip
    (tmp_path / "logs" / "access.log").write_text("\n".join(map(json.dumps, lines)) + "\n")
    assert not synchub.alarm_api_5xx_errors(env, stack)["passed"]


# -- the isolation summary and the fault attribution -------------------------------------------


def _iso(steps: int, calls: int, violations: list[str] | None = None) -> IsolationResult:
    return IsolationResult(
        passed=True, seed=0, examples=5, steps=steps, calls=calls, seconds=1.0,
        violations=violations or [],
    )  # fmt: skip


def test_an_isolation_run_that_executed_nothing_is_not_a_pass() -> None:
    result = judge(_iso(0, 0))
    assert not result.passed and result.status == "inconclusive"
    assert result.to_json()["status"] == "inconclusive" and "0 step" in str(result.inconclusive)
    assert judge(_iso(12, 0)).status == "inconclusive"  # steps that made no HTTP call
    assert judge(_iso(12, 30)).status == "passed"
    broken = judge(_iso(12, 30, ["tenant b read tenant a's note"]))
    assert broken.status == "failed" and not broken.passed


def _runner(allow_empty: bool = False) -> ScenarioRunner:
    fault = {
        "name": "ddb-throttle",
        "action": "aws:api-error",
        "targets": {"service": "dynamodb"},
        "parameters": {"code": "ProvisionedThroughputExceededException", "statusCode": 400},
        "allow_empty": allow_empty,
    }
    scenario = Scenario.model_validate(
        {
            "title": "t",
            "stacks": [str(ROOT / "stacks" / "catalog")],
            "timeline": [{"name": "f", "duration": "10s", "load": {"rate": 5}, "faults": [fault]}],
            "profile_slos": False,
        }
    )
    runner = ScenarioRunner(scenario, None, RunOptions(report_dir=Path("."), live=False))
    planned = PlannedFault(scenario.timeline[0].faults[0], "f", 0.0, 10.0, "rule-1", True, True)
    runner.state.scheduler = SimpleNamespace(planned=[planned], errors=lambda: [])  # type: ignore[assignment]
    runner.state.run_started = 1000.0
    return runner


def _faults_verdict(runner: ScenarioRunner) -> Verdict:
    scheduler = runner.state.scheduler
    assert scheduler is not None
    return faults_verdict(scheduler, injected_faults(runner.ctx), runner.state.fault_log_error)


def test_a_fault_that_injected_nothing_leaves_the_run_inconclusive() -> None:
    runner = _runner()
    runner.state.fault_log = [{"kind": "aws", "time": 1003.0, "effect": "x", "rule_id": "other"}]
    v = _faults_verdict(runner)
    assert v.status == "inconclusive" and not v.passed and "ddb-throttle" in v.detail
    allowed = _runner(allow_empty=True)
    assert _faults_verdict(allowed).passed
    runner.state.fault_log.append(
        {"kind": "aws", "time": 1004.0, "effect": "x", "rule_id": "rule-1"}
    )
    assert _faults_verdict(runner).status == "passed"
    runner.state.fault_log_error = "connection refused"
    assert _faults_verdict(runner).status == "inconclusive"


def test_a_fault_that_did_not_start_fails() -> None:
    runner = _runner()
    runner.state.scheduler = SimpleNamespace(  # type: ignore[assignment]
        planned=runner.state.scheduler.planned, errors=lambda: ["ddb-throttle: boom"]
    )
    assert _faults_verdict(runner).status == "failed"


# -- the report ------------------------------------------------------------------------------


def test_the_report_shows_inconclusive_apart_from_pass_and_fail(tmp_path: Path) -> None:
    run = RunData(
        title="t",
        seed=1,
        started_at=1_800_000_000.0,
        duration_s=10,
        expectations=[
            Verdict("ok", True, 1.0, "< 2"),
            Verdict("bad", False, 3.0, "< 2", "too slow"),
            Verdict("empty", False, None, "< 2", "inconclusive: no data", "slo", "inconclusive"),
            Verdict("allowed", True, None, "< 2", "inconclusive: no data", "slo", "inconclusive"),
        ],
    )
    summary = summary_json(run)
    assert [e["status"] for e in summary["expectations"]] == [
        "passed", "failed", "inconclusive", "inconclusive",
    ]  # fmt: skip
    assert summary["statuses"] == {"passed": 1, "failed": 1, "inconclusive": 2}
    assert summary["passed"] is False
    for e in summary["expectations"]:  # DESIGN.md's fields stay
        assert {"name", "passed", "observed", "target"} <= set(e)
    render_all(run, tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["empty"].find("failure")
    assert failure is not None and failure.get("type") == "inconclusive"
    assert cases["allowed"].find("skipped") is not None
    html = (tmp_path / "report.html").read_text()
    assert html.count("data-status='inconclusive'") == 2
    assert "2 inconclusive" in html
    back = RunData.from_json(json.loads(json.dumps(run.to_json())))
    assert [e.status for e in back.expectations] == [e.status for e in run.expectations]


def test_a_verdict_cannot_contradict_its_status() -> None:
    with pytest.raises(ValueError, match="status"):
        Verdict("x", False, 1, 2, status="passed")
    with pytest.raises(ValueError, match="status"):
        Verdict("x", True, 1, 2, status="failed")
    with pytest.raises(ValueError, match="status"):
        Verdict("x", True, 1, 2, status="maybe")


# -- the profile's slos as default expectations ----------------------------------------------


def _scenario(**extra: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "title": "t",
            "stacks": [str(ROOT / "stacks" / "catalog")],
            "timeline": [
                {"name": "steady", "duration": "5s", "load": {"rate": 5}},
                {"name": "fault", "duration": "5s", "load": {"rate": 5}},
            ],
            **extra,
        }
    )


SLOS = [("catalog", Path("stacks/catalog/harness.yaml"), ["p99<3000ms", "error_rate < 5%"])]


def test_every_stack_slo_becomes_a_default_expectation() -> None:
    runner = ScenarioRunner(_scenario(), None, RunOptions(report_dir=Path("."), live=False))
    names = [e.name for e in runner.expectations]
    assert names == [
        "catalog SLO p99<3000ms",
        "catalog SLO availability>=95%",
        "catalog SLO error_rate<5%",
    ]
    assert {r["how"] for r in runner.profile_slos} == {"default expectation"}
    p99 = runner.expectations[0]
    assert (p99.metric, p99.scope, p99.op, p99.target) == ("p99", "all", "<", 3000.0)
    # judged like any expectation: a breach fails, no data is inconclusive
    breach = Observations(load=load_with(group("all", 100, errors=50)))
    assert [v.status for v in evaluate(runner.expectations, breach)][1:] == ["failed", "failed"]
    assert {v.status for v in evaluate(runner.expectations, Observations())} == {"inconclusive"}


def test_a_scenario_overrides_rescopes_skips_or_opts_out_by_name() -> None:
    own = {"name": "mine", "metric": "p99", "scope": "all", "op": "<", "target": "1s"}
    out = profile_expectations(_scenario(expectations=[own]), SLOS, "catalog", "s.yaml")
    assert [e.name for e in out.expectations] == ["catalog SLO error_rate < 5%"]
    assert (
        out.rows[0]["how"]
        == "replaced by the scenario's expectation 'mine' (< 1s instead of < 3000ms)"
    )

    scoped = _scenario(profile_slos={"scope": "phase:steady", "reason": "the fault phase errs"})
    out = profile_expectations(scoped, SLOS, "catalog", "s.yaml")
    assert {e.scope for e in out.expectations} == {"phase:steady"}
    assert all("profile_slos.scope" in r["how"] for r in out.rows)

    skipped = _scenario(profile_slos={"skip": ["error_rate<5%"], "reason": "faults"})
    out = profile_expectations(skipped, SLOS, "catalog", "s.yaml")
    assert [e.metric for e in out.expectations] == ["p99"]
    assert out.warnings == ["catalog SLO 'error_rate < 5%' not judged: skipped by the scenario "
                            "(profile_slos.skip): faults"]  # fmt: skip

    out = profile_expectations(_scenario(profile_slos=False), SLOS, "catalog", "s.yaml")
    assert out.expectations == [] and len(out.warnings) == 2
    assert all("opted out" in r["how"] for r in out.rows)

    other = profile_expectations(_scenario(), SLOS, "syncwell", "s.yaml")
    assert other.expectations == [] and "load goes to syncwell" in other.rows[0]["how"]


def test_bad_profile_slos_are_refused_with_file_and_field() -> None:
    with pytest.raises(ConfigError) as err:
        profile_expectations(_scenario(profile_slos={"skip": ["p42<1s"]}), SLOS, "catalog", "s")
    assert err.value.field == "profile_slos.skip"
    with pytest.raises(ConfigError) as err:
        profile_expectations(_scenario(profile_slos={"scope": "phase:nope"}), SLOS, "catalog", "s")
    assert err.value.field == "profile_slos.scope"
    bad = [("catalog", Path("stacks/catalog/harness.yaml"), ["p99<3000ms", "p99 < fast"])]
    with pytest.raises(ConfigError) as err:
        profile_expectations(_scenario(), bad, "catalog", "s")
    assert err.value.field == "slos[1]" and "harness.yaml" in str(err.value.source)


# -- the benchmark gates -----------------------------------------------------------------------


def _gate(result: dict[str, Any]) -> Any:
    return lambda settings, runs, quick: dict(result)


def test_a_benchmark_without_a_verdict_is_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    import harness.bench as bench

    module = SimpleNamespace(
        silent=_gate({"figures": {}}), good=_gate({"passed": True}), bad=_gate({"passed": False})
    )
    monkeypatch.setitem(sys.modules, "fake_bench_module", module)
    monkeypatch.setattr(
        bench,
        "BENCHMARKS",
        {n: f"fake_bench_module:{n}" for n in ("silent", "good", "bad")},
    )
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path))
    settings: Any = None
    assert bench.run_benchmark("good", settings)["passed"] is True
    assert bench.run_benchmark("all", settings)["passed"] is False
    monkeypatch.setattr(bench, "BENCHMARKS", {"good": "fake_bench_module:good"})
    assert bench.run_benchmark("all", settings)["passed"] is True
    monkeypatch.setattr(bench, "BENCHMARKS", {"silent": "fake_bench_module:silent"})
    assert bench.run_benchmark("all", settings).get("passed") is not True  # one: returned as is
    from harness.cli.bench import run as cmd_bench

    args = SimpleNamespace(name="silent", json=False, runs=1, quick=True, workers=None)
    monkeypatch.setattr("harness.cli.bench.settings", lambda a: None)
    assert cmd_bench(args) == 1  # type: ignore[arg-type]


def test_an_isolation_run_whose_data_rules_saw_no_record_is_inconclusive() -> None:
    empty = _iso(12, 30)
    empty.data_layer = {"dynamodb Notes": {"new_records": 0, "violations": 0},
                        "redis": {"new_records": 0, "violations": 0}}  # fmt: skip
    assert judge(empty).status == "inconclusive" and "no new record" in str(empty.inconclusive)
    some = _iso(12, 30)
    some.data_layer = {"dynamodb Notes": {"new_records": 4, "violations": 0},
                       "redis": {"new_records": 0, "violations": 0}}  # fmt: skip
    assert judge(some).status == "passed"
