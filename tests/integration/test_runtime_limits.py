"""Worker-process limits of the runtime (no AWS needed): queueing, eviction, idle recycling."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "rtkit", Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)
function, wait_for = rtkit.function, rtkit.wait_for


def _runtime(tmp_path: Path, **env: str) -> Any:
    runtime = rtkit.RuntimeUnderTest(
        None,
        tmp_path,
        env={"HARNESS_RUNTIME_MAX_WORKERS": "1", "HARNESS_RUNTIME_IDLE_TIMEOUT_S": "1.5", **env},
    )
    runtime.deploy("limits", [function("one", "app.pid"), function("two", "app.pid")])
    runtime.start()
    return runtime


@pytest.fixture
def small_runtime(tmp_path: Path) -> Any:
    # a bounded wait for a worker, as a user may ask for it (the default answers 429 at once)
    runtime = _runtime(tmp_path, HARNESS_RUNTIME_QUEUE_TIMEOUT_S="10")
    yield runtime
    runtime.stop()


@pytest.fixture
def lambda_runtime(tmp_path: Path) -> Any:
    runtime = _runtime(tmp_path)
    yield runtime
    runtime.stop()


def test_over_the_workers_a_sync_call_is_throttled_at_once(lambda_runtime: Any) -> None:
    lam = lambda_runtime.lambda_client()
    pid_of(lam, "one")  # warm

    def call(_: int) -> tuple[str, float]:
        started = time.monotonic()
        try:
            lam.invoke(FunctionName="one", Payload=json.dumps({"sleep": 1.0}))
        except lam.exceptions.TooManyRequestsException:
            return "429", time.monotonic() - started
        return "ok", time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(call, range(3)))
    throttled = [took for kind, took in answers if kind == "429"]
    assert throttled, answers  # the old default queued all three for the one worker
    assert max(throttled) < 0.9  # answered at once, not after waiting for the worker
    metrics = lambda_runtime.process.client.metrics()
    assert metrics["functions"]["one"]["throttles"] == len(throttled)


def pid_of(lam: Any, name: str, sleep: float = 0.0) -> int:
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
    assert "FunctionError" not in response, response["Payload"].read()
    return int(json.loads(response["Payload"].read())["pid"])


def test_calls_queue_for_the_only_worker_instead_of_failing(small_runtime: Any) -> None:
    lam = small_runtime.lambda_client()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        pids = list(pool.map(lambda _: pid_of(lam, "one", 0.3), range(3)))
    assert len(set(pids)) == 1  # one worker, reused by calls that waited for it
    metrics = small_runtime.process.client.metrics()
    assert metrics["runtime"]["workers"] == 1
    assert metrics["functions"]["one"]["throttles"] == 0


def test_idle_worker_of_another_function_is_evicted(small_runtime: Any) -> None:
    lam = small_runtime.lambda_client()
    first = pid_of(lam, "one")
    pid_of(lam, "two")  # needs the only worker slot: "one"'s idle worker goes
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    metrics = small_runtime.process.client.metrics()
    assert metrics["functions"]["one"]["workers"]["total"] == 0
    assert metrics["functions"]["two"]["workers"]["total"] == 1


def test_idle_workers_are_recycled_and_stop_with_the_server(small_runtime: Any) -> None:
    lam = small_runtime.lambda_client()
    first = pid_of(lam, "one")
    wait_for(lambda: small_runtime.process.client.metrics()["runtime"]["workers"] == 0, timeout=10)
    second = pid_of(lam, "one")
    assert second != first
    assert small_runtime.process.client.function_metrics("one")["cold_starts"] == 2
    server = psutil.Process(small_runtime.process.process.pid)
    children = server.children(recursive=True)
    # besides the environment: the warm template it was forked from (harness.runtime.fork)
    templates = [t["pid"] for t in small_runtime.process.client.metrics()["runtime"]["templates"]]
    assert [c.pid for c in children if c.pid not in templates] == [second]
    small_runtime.stop()
    time.sleep(0.2)
    for pid in (second, *templates):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_call_whose_caller_left_is_never_run(small_runtime: Any) -> None:
    """A call queued for the only worker (bounded wait asked for) whose HTTP client disconnects
    stops waiting and never runs; the old runtime ran it once the worker came back."""
    lam = small_runtime.lambda_client()
    pid_of(lam, "one")  # warm
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(pid_of, lam, "one", 1.5)
        time.sleep(0.3)
        host, port = small_runtime.url.removeprefix("http://").rstrip("/").split(":")
        body = b'{"sleep": 0}'
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                b"POST /2015-03-31/functions/one/invocations HTTP/1.1\r\n"
                b"Host: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            wait_for(
                lambda: (
                    small_runtime.process.client.metrics()["functions"]["one"]["invocations"] == 2
                ),
                5,
            )
            time.sleep(0.2)  # queued for the busy worker now
        busy.result()
    time.sleep(0.3)
    metrics = small_runtime.process.client.metrics()
    assert metrics["functions"]["one"]["abandoned"] == 1
    assert metrics["functions"]["one"]["invocations"] == 2  # the warm-up and the busy call only
    assert metrics["runtime"]["abandoned"] == 1
