"""Chaos against a deployed stack, seen through the gateway: every Lambda fault mode,
throttling, provisioned concurrency, cold-start storms, third-party and DNS faults, an "AZ
failure", one seed giving one fault sequence, and the daemon's /_harness/faults API."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import Environment, Settings
from harness.chaos import Faults
from harness.chaos.capacity import gateway_processes
from harness.deploy.fixtures import deployed_stack
from harness.model import DeployedStack
from harness.runtime.client import RuntimeClient

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "chaos"


def get(url: str, timeout: float = 15.0) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode(errors="replace")
        return exc.code, dict(exc.headers), body


def control(env: Environment, method: str, payload: Any = None, query: str = "") -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    from harness.env.secret import control_headers

    url = f"{env.endpoints['gateway_url']}/_harness/faults{query}"
    request = urllib.request.Request(
        url, data=data, method=method, headers=control_headers(env.endpoints)
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.loads(exc.read())}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    settings = Settings.load(state_dir=tmp_path_factory.mktemp("chaosgw"), gateway_workers=2)
    with Environment(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stack(env: Environment) -> Iterator[DeployedStack]:
    with deployed_stack(env, STACK) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def base(stack: DeployedStack) -> str:
    return stack.apis["Api"].base_url


@pytest.fixture
def faults(env: Environment, stack: DeployedStack) -> Iterator[Faults]:
    client = Faults.for_environment(env)
    client.clear()
    yield client
    client.clear()


def runtime(env: Environment) -> RuntimeClient:
    return RuntimeClient(env.endpoints["runtime_url"])


def fn(stack: DeployedStack, logical_id: str) -> str:
    return stack.functions[logical_id].name


def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    until = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > until:
            return value
        time.sleep(0.1)


def test_provisioned_concurrency_means_no_cold_start_after_deploy(
    env: Environment, stack: DeployedStack, base: str
) -> None:
    name = fn(stack, "Hello")
    assert stack.functions["Hello"].provisioned_concurrency == 2
    ready = wait_for(lambda: runtime(env).function_metrics(name)["provisioned"]["ready"] == 2)
    assert ready, runtime(env).function_metrics(name)
    status, _, body = get(f"{base}/hello")
    assert status == 200 and body["init"] == "provisioned-concurrency"
    assert runtime(env).function_metrics(name)["cold_starts"] == 0


def test_each_lambda_mode_through_the_gateway(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    hello = ["Hello"]
    faults.add("lambda", {"mode": "latency", "functions": hello, "startupDelayMilliseconds": 500})
    started = time.perf_counter()
    assert get(f"{base}/hello")[0] == 200
    assert time.perf_counter() - started >= 0.5
    faults.clear("lambda")

    faults.add("lambda", {"mode": "statuscode", "functions": hello, "statusCode": 503})
    status, _, body = get(f"{base}/hello")
    assert status == 503 and body == {"message": "injected status code 503"}
    faults.clear("lambda")

    faults.add("lambda", {"mode": "exception", "functions": hello})
    assert get(f"{base}/hello")[0] == 502  # a function error (gateway/integration.py)
    faults.clear("lambda")

    faults.add("lambda", {"mode": "error", "functions": hello, "preventExecution": False})
    assert get(f"{base}/hello")[0] == 502
    faults.clear("lambda")

    faults.add("lambda", {"mode": "timeout", "functions": hello})
    started = time.perf_counter()
    assert get(f"{base}/hello")[0] == 502
    assert 1.9 <= time.perf_counter() - started < 5  # the function's Timeout is 2 s
    faults.clear("lambda")

    faults.add("lambda", {"mode": "diskspace", "functions": ["Disk"]})
    status, _, body = get(f"{base}/disk")
    assert status == 507 and body["errno"] == 28
    faults.clear("lambda")
    assert get(f"{base}/disk")[0] == 200

    kinds = [(r["kind"], r["mode"]) for r in faults.log() if r["kind"] == "lambda"]
    assert kinds[-6:] == [
        ("lambda", m)
        for m in ("latency", "statuscode", "exception", "error", "timeout", "diskspace")
    ]


def test_throttle_is_a_429_through_the_gateway(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    faults.add("lambda", {"mode": "throttle", "functions": ["Disk"], "duration_s": 1.5})
    status, _, body = get(f"{base}/disk")
    assert status == 429 and body == {"message": "Too Many Requests"}
    assert runtime(env).function_metrics(fn(stack, "Disk"))["throttles"] >= 1
    time.sleep(1.6)
    assert get(f"{base}/disk")[0] == 200  # the window ended by itself


def test_cold_start_storm_via_the_daemon_api(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    name = fn(stack, "Disk")
    get(f"{base}/disk")
    colds = runtime(env).function_metrics(name)["cold_starts"]
    answer = control(
        env, "POST", {"kind": "cold-start", "stack": stack.name, "functions": ["Disk"]}
    )
    assert answer["added"][0]["recycled"][name] >= 1
    assert get(f"{base}/disk")[0] == 200
    assert runtime(env).function_metrics(name)["cold_starts"] == colds + 1
    bad = control(env, "POST", {"kind": "lambda", "mode": "exception", "functions": ["Nope"]})
    assert bad["status"] == 502 and "no function named 'Nope'" in bad["message"]
    bad = control(env, "POST", {"kind": "lambda", "mode": "nope"})
    assert bad["status"] == 400 and "mode" in bad["message"]


def test_third_party_faults_reach_the_function(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    assert "providers" in getattr(stack, "fake_servers", {}), "deploy starts the fake server"
    status, _, body = get(f"{base}/provider")
    assert status == 200 and body["provider_status"] == 200

    faults.add("thirdparty", {"mode": "rate-limit", "provider": "strava", "retry_after": 7})
    body = get(f"{base}/provider")[2]
    assert body["provider_status"] == 429 and body["retry_after"] == "7"

    faults.add("thirdparty", {"mode": "error", "provider": "strava", "status": 502})
    assert get(f"{base}/provider")[2]["provider_status"] == 502

    faults.add("thirdparty", {"mode": "latency", "provider": "strava", "latency_ms": 300})
    assert get(f"{base}/provider")[2]["elapsed_ms"] >= 600  # token + listing, each late

    faults.add("thirdparty", {"mode": "token-revocation", "provider": "strava"})
    assert get(f"{base}/provider")[2]["provider_status"] == 400  # refresh/grant refused

    faults.clear("thirdparty")
    assert get(f"{base}/provider")[2]["provider_status"] == 200
    listed = faults.list()["thirdparty"]
    assert listed[f"{stack.name}/providers"]["injected"]["faults.strava.rate_limit"] >= 1
    effects = [r["effect"] for r in faults.log() if r["kind"] == "thirdparty"]
    assert effects[-5:] == [
        "429 Retry-After 7s",
        "error 502",
        "latency 300ms",
        "tokens revoked",
        "ok",
    ]


def test_dns_failure_of_a_named_endpoint(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    faults.add("dns", {"stack": stack.name, "endpoints": ["providers"], "duration_s": 30})
    status, _, body = get(f"{base}/provider")
    assert status == 503 and body["error"] == "unreachable"
    assert "Name or service not known" in body["detail"]
    assert get(f"{base}/hello")[0] == 200  # other endpoints still resolve
    faults.clear("dns")
    assert get(f"{base}/provider")[0] == 200


def test_az_failure_halves_capacity_and_it_comes_back(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    supervisor, workers = gateway_processes(env.state_dir)
    assert supervisor is not None and len(workers) == 2
    before = runtime(env).metrics()["runtime"]
    answer = control(env, "POST", {"kind": "az", "duration_s": 2.0, "seed": 1})
    entry = answer["added"][0]
    assert len(entry["gateway_killed"]) == 1
    assert entry["max_workers"] == before["max_workers"] // 2
    killed = entry["gateway_killed"][0]

    def gone() -> bool:  # SIGKILL is delivered asynchronously
        try:
            return psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    assert wait_for(gone, 5)
    assert psutil.Process(supervisor).status() == psutil.STATUS_STOPPED
    served = 0
    for _ in range(6):  # the survivor serves; a connection caught by the killed one may drop
        with contextlib.suppress(ConnectionError, urllib.error.URLError):
            served += get(f"{base}/hello")[0] == 200
    assert served >= 5
    assert runtime(env).metrics()["runtime"]["max_workers"] == before["max_workers"] // 2

    def recovered() -> bool:
        _, now = gateway_processes(env.state_dir)
        return len(now) == 2 and runtime(env).metrics()["runtime"]["capacity_factor"] == 1.0

    assert wait_for(recovered, 20)
    assert psutil.Process(supervisor).status() != psutil.STATUS_STOPPED
    assert get(f"{base}/hello")[0] == 200
    modes = [r["mode"] for r in faults.log() if r["kind"] == "az"]
    assert modes[-2:] == ["az-failure", "az-recovered"]


def test_one_seed_gives_one_fault_sequence(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    def run() -> str:
        faults.clear("lambda")
        faults.add("lambda", {"mode": "statuscode", "statusCode": 503, "functions": ["Disk"],
                              "invocationPercentage": 35, "seed": 20261204})  # fmt: skip
        return "".join("F" if get(f"{base}/disk")[0] == 503 else "." for _ in range(20))

    first, second = run(), run()
    assert first == second and 0 < first.count("F") < 20


def harness_cli(env: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "fault", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HARNESS_STATE_DIR": str(env.state_dir)},
    )


def test_the_cli_drives_every_kind(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    done = harness_cli(env, "lambda", "statuscode", "--stack", stack.name, "--function", "Hello",
                       "--status", "418", "--duration", "30s")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert get(f"{base}/hello")[0] == 418
    done = harness_cli(env, "thirdparty", "error", "--provider", "strava", "--status", "504")
    assert done.returncode == 0, done.stderr
    assert get(f"{base}/provider")[2]["provider_status"] == 504
    listed = json.loads(harness_cli(env, "list", "--json").stdout)
    assert [r["mode"] for r in listed["lambda"]] == ["statuscode"]
    assert listed["thirdparty"][f"{stack.name}/providers"]["faults"]["strava"]["status"] == 504
    log = harness_cli(env, "log").stdout
    assert "lambda" in log and "thirdparty" in log and "error 504" in log
    assert harness_cli(env, "clear").returncode == 0
    assert get(f"{base}/hello")[0] == 200
    assert get(f"{base}/provider")[2]["provider_status"] == 200

    bad = harness_cli(env, "lambda", "exception", "--function", "NoSuchFunction")
    assert bad.returncode != 0
    assert "no function named 'NoSuchFunction'" in bad.stderr and "Traceback" not in bad.stderr
    bad = harness_cli(env, "lambda", "latency", "--function", "Hello")
    assert bad.returncode == 2 and "startupDelayMilliseconds" in bad.stderr


def run_actions(
    env: Environment, seed: int, faults_: list[tuple[dict[str, Any], float]], during: Any
) -> Any:
    """Run fault actions through the runner's scheduler (start at 0, end after each duration)
    and call ``during()`` while they are in force."""
    from harness.scenario.actions import ActionContext
    from harness.scenario.model import FaultSpec
    from harness.scenario.timeline import FaultScheduler, PlannedFault

    context = ActionContext(env.endpoints, seed, time.time(), state_dir=env.state_dir)
    planned = [
        PlannedFault(spec=FaultSpec(**spec), phase="chaos", start_s=0.0, end_s=end)
        for spec, end in faults_
    ]
    scheduler = FaultScheduler(context, planned)
    scheduler.start()
    try:
        wait_for(lambda: all(p.started for p in planned), 10)
        assert scheduler.errors() == []
        return during()
    finally:
        scheduler.stop_all()


def test_scenario_actions_start_and_stop_and_one_seed_repeats(
    env: Environment, stack: DeployedStack, base: str, faults: Faults
) -> None:
    action = {
        "action": "lambda:statuscode",
        "targets": {"stack": stack.name, "functions": ["Disk"]},
        "parameters": {"statusCode": 503, "invocationPercentage": 40},
    }

    def sample() -> str:
        return "".join("F" if get(f"{base}/disk")[0] == 503 else "." for _ in range(15))

    first = run_actions(env, 77, [(action, 30.0)], sample)
    assert get(f"{base}/disk")[0] == 200  # stopped with the scheduler
    second = run_actions(env, 77, [(action, 30.0)], sample)
    other = run_actions(env, 78, [(action, 30.0)], sample)
    assert first == second and 0 < first.count("F") < 15
    assert other != first

    limited = {"action": "thirdparty:rate-limit", "targets": {"provider": "strava"},
               "parameters": {"retry_after": 3}}  # fmt: skip
    dns = {"action": "dns:failure", "targets": {"stack": stack.name, "functions": ["Connect"]},
           "parameters": {"endpoints": ["aws"]}}  # fmt: skip
    edge = urllib.parse.urlsplit(env.endpoints["aws_endpoint"])

    def during() -> None:
        body = get(f"{base}/provider")[2]
        assert body["provider_status"] == 429 and body["retry_after"] == "3"
        status, _, answer = get(f"{base}/connect?host={edge.hostname}&port={edge.port}")
        assert status == 503 and answer["error"] == "dns"

    run_actions(env, 1, [(limited, 30.0), (dns, 30.0)], during)
    assert get(f"{base}/provider")[2]["provider_status"] == 200
    assert get(f"{base}/connect?host={edge.hostname}&port={edge.port}")[0] == 200


def test_a_throttled_sqs_source_gets_its_messages_back(
    env: Environment, stack: DeployedStack, faults: Faults
) -> None:
    name = fn(stack, "Worker")
    before = runtime(env).function_metrics(name)["invocations"]
    faults.add("lambda", {"mode": "throttle", "functions": ["Worker"], "duration_s": 2.5})
    env.client("sqs").send_message(QueueUrl=stack.resources["Jobs"].physical_id, MessageBody="{}")

    def source() -> dict[str, Any]:
        metrics = runtime(env).metrics()["event_sources"]
        return next(s for s in metrics if s["function"] == name)

    assert wait_for(lambda: source()["throttled"] >= 1, 10), source()
    assert runtime(env).function_metrics(name)["invocations"] == before  # not run while throttled
    # after the window the message comes back (visibility timeout 1 s) and is processed
    assert wait_for(lambda: runtime(env).function_metrics(name)["invocations"] > before, 20)
    assert source()["records"] >= 2  # received twice: once throttled, once processed
