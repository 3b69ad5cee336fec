"""Lambda faults in the runtime, seen through the Invoke API (no AWS needed): every mode's
effect, throttling, cold-start storms, provisioned concurrency, AZ capacity, and seeding."""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_spec = importlib.util.spec_from_file_location("rtkit", FIXTURES / "runtime" / "rtkit.py")
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)


def fn(name: str, handler: str, **kwargs: Any) -> Any:
    return rtkit.function(name, handler, code="../chaos/app", layers=[], **kwargs)


class Control:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        from harness.env.secret import headers_for

        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers_for(self.url)
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return {"status": exc.code, **json.loads(exc.read())}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rt = rtkit.RuntimeUnderTest(
        None,
        tmp_path_factory.mktemp("rtfaults"),
        env={"HARNESS_RUNTIME_ASYNC_RETRY_DELAYS": "0.2,0.2", "HARNESS_RUNTIME_MAX_WORKERS": "8"},
    )
    rt.deploy(
        "chaosapp",
        [
            fn("hello", "app.hello", provisioned_concurrency=2),
            fn("disk", "app.write_tmp"),
            fn("connect", "app.connect"),
            fn("quick", "app.hello", timeout=1.0),
        ],
    )
    rt.start()
    yield rt
    rt.stop()


@pytest.fixture
def control(runtime: Any) -> Any:
    ctl = Control(runtime.url)
    ctl("DELETE", "/_harness/runtime/faults")
    yield ctl
    ctl("DELETE", "/_harness/runtime/faults")


def invoke(lam: Any, name: str, event: Any = None) -> tuple[str | None, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_provisioned_environments_are_warm_before_the_first_call(runtime: Any) -> None:
    client = runtime.process.client
    assert client.function_metrics("hello")["provisioned"] == {"configured": 2, "ready": 2}
    error, answer = invoke(runtime.lambda_client(), "hello")
    assert error is None
    assert json.loads(answer["body"])["init"] == "provisioned-concurrency"
    assert client.function_metrics("hello")["cold_starts"] == 0


def test_latency_exception_statuscode_and_timeout(runtime: Any, control: Any) -> None:
    lam = runtime.lambda_client()
    control("POST", "/_harness/runtime/faults", {"mode": "latency", "functions": ["quick"],
                                                 "startupDelayMilliseconds": 400})  # fmt: skip
    started = time.perf_counter()
    assert invoke(lam, "quick")[0] is None
    assert time.perf_counter() - started >= 0.4
    control("DELETE", "/_harness/runtime/faults")

    control("POST", "/_harness/runtime/faults", {"mode": "exception", "functions": ["quick"],
                                                 "exception_msg": "boom"})  # fmt: skip
    error, answer = invoke(lam, "quick")
    assert error == "Unhandled" and answer["errorMessage"] == "boom"
    control("DELETE", "/_harness/runtime/faults")

    control("POST", "/_harness/runtime/faults", {"mode": "statuscode", "functions": ["quick"],
                                                 "statusCode": 503})  # fmt: skip
    error, answer = invoke(lam, "quick")
    assert error is None and answer["statusCode"] == 503
    control("DELETE", "/_harness/runtime/faults")

    control("POST", "/_harness/runtime/faults", {"mode": "timeout", "functions": ["quick"]})
    started = time.perf_counter()
    error, answer = invoke(lam, "quick")
    assert answer["errorType"] == "Sandbox.Timedout"
    assert 0.9 <= time.perf_counter() - started < 3
    assert runtime.process.client.function_metrics("quick")["timeouts"] == 1


def test_denylist_fails_like_dns_and_diskspace_fills_tmp(runtime: Any, control: Any) -> None:
    lam = runtime.lambda_client()
    target = {"host": "127.0.0.1", "port": runtime.process.port}
    assert json.loads(invoke(lam, "connect", target)[1]["body"]) == {
        "connected": f"127.0.0.1:{runtime.process.port}"
    }
    control("POST", "/_harness/runtime/faults",
            {"mode": "denylist", "stack": "chaosapp", "deny_list": [rf":{runtime.process.port}$"]})  # fmt: skip
    answer = invoke(lam, "connect", target)[1]
    assert answer["statusCode"] == 503
    assert json.loads(answer["body"])["error"] == "dns"
    control("DELETE", "/_harness/runtime/faults")  # one rule per invocation: the first wins
    control("POST", "/_harness/runtime/faults", {"mode": "diskspace", "functions": ["disk"]})
    answer = invoke(lam, "disk")[1]
    assert answer["statusCode"] == 507 and json.loads(answer["body"])["errno"] == 28
    control("DELETE", "/_harness/runtime/faults")
    assert invoke(lam, "disk")[1]["statusCode"] == 200  # the patches did not outlive the fault


def test_throttle_answers_429_and_async_events_are_retried(runtime: Any, control: Any) -> None:
    lam = runtime.lambda_client()
    control("POST", "/_harness/runtime/faults",
            {"mode": "throttle", "functions": ["disk"], "duration_s": 0.6})  # fmt: skip
    with pytest.raises(botocore.exceptions.ClientError) as info:
        invoke(lam, "disk")
    assert info.value.response["Error"]["Code"] == "TooManyRequestsException"
    before = runtime.process.client.function_metrics("disk")["invocations"]
    lam.invoke(FunctionName="disk", InvocationType="Event", Payload=b"{}")
    rtkit.wait_for(
        lambda: runtime.process.client.function_metrics("disk")["invocations"] > before, 10
    )
    metrics = runtime.process.client.function_metrics("disk")
    assert metrics["async_retries"] >= 1 and metrics["throttles"] >= 2
    log = control("GET", "/_harness/runtime/faults/log")["injected"]
    assert {e["mode"] for e in log} >= {"throttle"}


def test_invalid_targets_and_parameters_are_refused(control: Any) -> None:
    answer = control(
        "POST", "/_harness/runtime/faults", {"mode": "exception", "functions": ["nope"]}
    )
    assert answer["status"] == 400 and "no function named 'nope'" in answer["message"]
    answer = control("POST", "/_harness/runtime/faults", {"mode": "latency"})
    assert answer["status"] == 400 and "startupDelayMilliseconds" in answer["message"]


def test_cold_start_storm_recycles_warm_environments(runtime: Any, control: Any) -> None:
    lam = runtime.lambda_client()
    invoke(lam, "disk")
    client = runtime.process.client
    colds = client.function_metrics("disk")["cold_starts"]
    invoke(lam, "disk")
    assert client.function_metrics("disk")["cold_starts"] == colds  # warm
    entry = control("POST", "/_harness/runtime/recycle", {"functions": ["disk"]})
    assert entry["recycled"]["disk"] >= 1
    invoke(lam, "disk")
    assert client.function_metrics("disk")["cold_starts"] == colds + 1


def test_az_failure_halves_capacity_and_it_comes_back(runtime: Any, control: Any) -> None:
    client = runtime.process.client
    before = client.metrics()["runtime"]
    entry = control("POST", "/_harness/runtime/az", {"duration_s": 1.0, "seed": 4})
    assert len(entry["environments_killed"]) == round(before["workers"] / 2 + 0.01)
    during = client.metrics()["runtime"]
    assert during["max_workers"] == before["max_workers"] // 2
    rtkit.wait_for(lambda: client.metrics()["runtime"]["max_workers"] == before["max_workers"], 5)
    # provisioned environments lost in the outage are started again
    rtkit.wait_for(lambda: client.function_metrics("hello")["provisioned"]["ready"] == 2, 10)
    modes = [e["mode"] for e in control("GET", "/_harness/runtime/faults/log")["injected"]]
    assert modes[-2:] == ["az-failure", "az-recovered"]


def test_one_seed_injects_the_same_sequence_twice(runtime: Any, control: Any) -> None:
    lam = runtime.lambda_client()

    def run() -> list[str]:
        control("DELETE", "/_harness/runtime/faults")
        control("POST", "/_harness/runtime/faults",
                {"mode": "statuscode", "statusCode": 500, "functions": ["disk"],
                 "invocationPercentage": 40, "seed": 11})  # fmt: skip
        return ["F" if invoke(lam, "disk")[1]["statusCode"] == 500 else "." for _ in range(15)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count("F") < 15
