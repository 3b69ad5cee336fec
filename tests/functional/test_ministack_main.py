"""harness/env/ministack_main.py: ministack's Step Functions Lambda tasks sent to the harness's
Lambda Invoke API, ``*SecondsPath`` resolved and ``HeartbeatSeconds`` enforced. The Invoke API is
a real loopback HTTP server; ministack's module is stood in for by a namespace with the same
members (the real one lives in ministack's own virtual environment)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from harness.env import ministack_main as shim


class ExecError(Exception):
    def __init__(self, error: str, cause: str) -> None:
        self.error, self.cause = error, cause
        super().__init__(f"{error}: {cause}")


class FakeLambda(BaseHTTPRequestHandler):
    calls: list[tuple[str, Any, str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        FakeLambda.calls.append((self.path, body, self.headers.get("authorization", "")))
        name = self.path.split("/")[3]
        if name == "missing":
            self._answer(404, {"Type": "User", "message": "Function not found"})
        elif name == "busy":
            self._answer(429, {"message": "Rate exceeded"})
        elif name == "boom":
            self._answer(
                200, {"errorType": "PaymentDeclined", "errorMessage": "card"}, error="Unhandled"
            )
        else:
            self._answer(200, {"echo": body, "function": name})

    def _answer(self, status: int, body: Any, error: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        if error:
            self.send_header("X-Amz-Function-Error", error)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    FakeLambda.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_lambda_task_is_invoked_through_the_invoke_api(endpoint: str) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:cloudsaas-Lifecycle"
    got = shim.call_lambda(endpoint, arn, {"a": 1}, ExecError, "us-east-1")
    assert got == {"echo": {"a": 1}, "function": "cloudsaas-Lifecycle"}
    path, body, auth = FakeLambda.calls[0]
    assert path == "/2015-03-31/functions/cloudsaas-Lifecycle/invocations" and body == {"a": 1}
    assert "/us-east-1/lambda/aws4_request" in auth  # the edge routes it to the runtime
    shim.call_lambda(endpoint, f"{arn}:live", {}, ExecError, "us-east-1")
    assert FakeLambda.calls[1][0] == "/2015-03-31/functions/cloudsaas-Lifecycle%3Alive/invocations"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("missing", "Lambda.ResourceNotFoundException"),
        ("busy", "Lambda.TooManyRequestsException"),
        ("boom", "PaymentDeclined"),
    ],
)
def test_failures_become_the_errors_aws_reports(endpoint: str, name: str, error: str) -> None:
    with pytest.raises(ExecError) as raised:
        shim.call_lambda(endpoint, name, {}, ExecError, "us-east-1")
    assert raised.value.error == error
    if name == "boom":  # Cause is the JSON error payload, as Catch handlers parse it
        assert json.loads(raised.value.cause)["errorMessage"] == "card"


def test_an_unreachable_endpoint_is_a_service_exception() -> None:
    with pytest.raises(ExecError) as raised:
        shim.call_lambda("http://127.0.0.1:9", "f", {}, ExecError, "us-east-1")
    assert raised.value.error == "Lambda.ServiceException"


def test_seconds_paths_are_resolved_from_the_state_input() -> None:
    state = {
        "Type": "Task",
        "TimeoutSecondsPath": "$.limits.timeout",
        "HeartbeatSecondsPath": "$.hb",
    }
    got = shim.resolve_seconds_paths(state, {"limits": {"timeout": 30}, "hb": 5})
    assert got == {"Type": "Task", "TimeoutSeconds": 30, "HeartbeatSeconds": 5}
    assert "TimeoutSecondsPath" in state  # the definition itself is not changed
    plain = {"Type": "Task", "TimeoutSeconds": 3}
    assert shim.resolve_seconds_paths(plain, {}) is plain
    for bad in ({}, {"limits": {"timeout": "30"}}, {"limits": {"timeout": 0}}):
        with pytest.raises(ValueError):
            shim.resolve_seconds_paths({"TimeoutSecondsPath": "$.limits.timeout"}, bad)
    assert shim.resolve_path({"a": [{"b": 2}]}, "$.a[0].b") == 2


def _token(tokens: dict[str, dict[str, Any]], name: str) -> threading.Event:
    event = threading.Event()
    tokens[name] = {"event": event, "result": None, "error": None, "heartbeat": None}
    return event


def test_a_callback_without_heartbeats_times_out_and_heartbeats_keep_it_alive() -> None:
    tokens: dict[str, dict[str, Any]] = {}
    silent = _token(tokens, "silent")
    shim.watch_heartbeat(tokens, "silent", 0.3, poll=0.02)
    assert silent.wait(2)
    assert tokens["silent"]["error"]["Error"] == "States.HeartbeatTimeout"
    beating = _token(tokens, "beating")
    shim.watch_heartbeat(tokens, "beating", 0.3, poll=0.02)
    for n in range(8):  # 0.8 s of heartbeats every 0.1 s
        tokens["beating"]["heartbeat"] = f"beat-{n}"
        time.sleep(0.1)
    assert not beating.is_set()
    tokens["beating"]["event"].set()  # the task completes: the watcher stops


def test_install_patches_the_engine() -> None:
    seen: list[Any] = []

    def execute_task(state_def: dict[str, Any], raw: Any, execution: Any, ctx: Any) -> Any:
        seen.append(state_def)
        return raw, None

    def with_callback(resource: str, data: Any, token: str, state_def: dict[str, Any]) -> Any:
        event = _token(fake._task_tokens, token)
        assert event.wait(3)
        return fake._task_tokens.pop(token)["error"]

    fake = SimpleNamespace(
        _ExecutionError=ExecError,
        _execute_task=execute_task,
        _invoke_with_callback=with_callback,
        _call_lambda=None,
        _task_tokens={},
    )
    shim.install(fake, "http://127.0.0.1:9", "us-east-1")
    fake._execute_task({"TimeoutSecondsPath": "$.t"}, {"t": 4}, None, None)
    assert seen == [{"TimeoutSeconds": 4}]
    with pytest.raises(ExecError) as raised:
        fake._execute_task({"TimeoutSecondsPath": "$.missing"}, {}, None, None)
    assert raised.value.error == "States.Runtime"
    error = fake._invoke_with_callback("r", {}, "tok", {"HeartbeatSeconds": 1})
    assert error["Error"] == "States.HeartbeatTimeout"
    with pytest.raises(ExecError):
        fake._call_lambda("f", {})  # nothing listens on port 9
