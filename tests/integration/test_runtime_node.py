"""Node.js functions run on the machine's node with bootstrap.js: the same protocol, logs, errors,
timeouts, memory and concurrency rules as Python functions."""

from __future__ import annotations

import base64
import concurrent.futures
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "rtkit", Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)
FIXTURES = rtkit.FIXTURES

if shutil.which("node") is None:  # pragma: no cover - the machine has Node (README)
    pytest.skip("no node on PATH", allow_module_level=True)


def node(name: str, handler: str, code: str = "node", **kwargs: Any) -> Any:
    kwargs.setdefault("layers", [str(FIXTURES / "node-layer")])
    return rtkit.function(name, handler, code=code, runtime="nodejs20.x", **kwargs)


@pytest.fixture(scope="module")
def rt(harness_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    runtime = rtkit.RuntimeUnderTest(harness_env.state_dir, tmp_path_factory.mktemp("rt-node"))
    runtime.deploy(
        "node",
        [
            node("njs-echo", "index.echo", memory_mb=256),
            node("njs-callback", "index.callback"),
            node("njs-fail", "index.fail"),
            node("njs-slow", "index.slow", timeout=1.0),
            node(
                "njs-hog", "index.hog", memory_mb=128, timeout=10.0
            ),  # OOM, not a timeout, under load
            node("njs-print", "index.print"),
            node("njs-one", "index.slow", reserved_concurrency=1, timeout=5.0),
            node("njs-esm", "app.handler", code="node/esm"),
            node("njs-broken", "lib/broken.handler"),
            node("njs-missing", "index.nothere"),
        ],
    )
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def lam(rt: Any) -> Any:
    return rt.lambda_client()


def call(lam: Any, name: str, event: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_async_handler_gets_event_context_and_warm_state(lam: Any) -> None:
    response, body = call(lam, "njs-echo", {"n": 1}, LogType="Tail")
    assert "FunctionError" not in response
    assert body["event"] == {"n": 1}
    assert body["functionName"] == "njs-echo" and body["memory"] == "256"
    assert 0 < body["remaining"] <= 3000
    assert body["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert body["env"]["trace"].startswith("Root=1-")
    assert body["helper"] == "from-node-layer"  # the layer's nodejs/node_modules
    assert body["node"].startswith("v")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert '\tINFO\techo {"n":1}' in tail and body["requestId"] in tail
    _, again = call(lam, "njs-echo", {"n": 2})
    assert again["count"] == 2 and again["pid"] == body["pid"]  # warm environment reused


def test_callback_handler_and_es_module(lam: Any) -> None:
    assert call(lam, "njs-callback", {"n": 3})[1] == {"style": "callback", "n": 3}
    assert call(lam, "njs-esm", {"x": 7})[1] == {"esm": True, "got": 7}


def test_handler_error_is_shaped_like_the_node_runtime(lam: Any) -> None:
    response, body = call(lam, "njs-fail", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "OrderError"
    assert body["errorMessage"] == "order 42 is broken"
    assert isinstance(body["trace"], list) and "OrderError" in body["trace"][0]


def test_init_errors(lam: Any) -> None:
    response, body = call(lam, "njs-broken", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "does-not-exist-anywhere" in body["errorMessage"]
    _, body = call(lam, "njs-missing", {})
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "index.nothere is undefined or not exported"


def test_timeout_ends_the_environment(lam: Any) -> None:
    response, body = call(lam, "njs-slow", {"sleep": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.0" in body["errorMessage"]


def test_memory_limit_is_out_of_memory(lam: Any) -> None:
    response, body = call(lam, "njs-hog", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"


def test_output_is_captured_not_on_the_protocol(lam: Any) -> None:
    response, body = call(lam, "njs-print", {}, LogType="Tail")
    assert body == "ok"
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "raw stdout line" in tail and "\tERROR\tto stderr" in tail


def test_reserved_concurrency_throttles(lam: Any, rt: Any) -> None:
    call(lam, "njs-one", {"sleep": 0})  # warm

    def one(_: int) -> str:
        try:
            call(lam, "njs-one", {"sleep": 1.0})
            return "ok"
        except lam.exceptions.TooManyRequestsException:
            return "throttled"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(one, range(3)))
    assert outcomes == ["ok", "throttled", "throttled"]
    assert rt.process.client.function_metrics("njs-one")["throttles"] == 2
