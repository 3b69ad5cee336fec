"""``harness debug``: a debugpy client attaches to a function's environment and stops in it."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.runtime.client import RuntimeClient

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rtkit = _load("rtkit")
dap = _load("dap")

HANDLER = """\
import sys
import time


def handler(event, context):
    started = time.monotonic()
    value = event.get("n", 0) + 1  # BREAK
    return {
        "value": value,
        "held_s": time.monotonic() - started,
        "path": sys.path,
        "debugpy_loaded": "debugpy" in sys.modules,
    }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _invoke(lam: Any, name: str, payload: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response, json.loads(response["Payload"].read())


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("runtime-debug")
    code = root / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    runtime = rtkit.RuntimeUnderTest(None, root / "state")
    functions = [
        rtkit.function("dbg", "app.handler", layers=[], timeout=1.0),
        rtkit.function("other", "app.handler", layers=[], timeout=3.0),
        rtkit.function("prov", "app.handler", layers=[], provisioned_concurrency=2),
    ]
    for spec in functions:
        spec.code_dir = str(code)
    functions.append(
        rtkit.function("nodefn", "index.echo", code="node", runtime="nodejs20.x", layers=[])
    )
    runtime.deploy("dbgstack", functions)
    runtime.start()
    runtime.code = code
    runtime.line = next(i for i, text in enumerate(HANDLER.splitlines(), 1) if "# BREAK" in text)
    yield runtime
    runtime.stop()


def test_debugger_attaches_stops_at_breakpoint_and_timeout_is_suspended(rt: Any) -> None:
    client: RuntimeClient = rt.process.client
    lam = rt.lambda_client()
    port = _free_port()
    state = client.debug_start("dbg", port, "dbgstack")
    assert state["sessions"][0]["function"] == "dbg"
    assert state["sessions"][0]["host"] == "127.0.0.1"
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        call = pool.submit(_invoke, lam, "dbg", {"n": 41})  # starts the debugged environment
        debugger = dap.DapClient("127.0.0.1", port)
        # it listens on 127.0.0.1 only (no 0.0.0.0 or other interface socket on the port)
        listening = [
            line.split()[1]
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
            if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
        ]
        assert listening == [f"0100007F:{port:04X}"], listening
        try:
            breakpoint_ = debugger.attach_with_breakpoint(str(rt.code / "app.py"), rt.line)
            assert breakpoint_["verified"], breakpoint_
            stopped = debugger.event("stopped")
            assert stopped["body"]["reason"] == "breakpoint"
            thread = stopped["body"]["threadId"]
            frames = debugger.request("stackTrace", threadId=thread)["body"]["stackFrames"]
            assert frames[0]["line"] == rt.line and frames[0]["name"] == "handler"
            assert client.debug_state()["sessions"][0]["client_attached"] is True
            # paused past the function's 1 s timeout: the runtime must not end the environment
            time.sleep(2.5)
            assert not call.done()
            # concurrency is pinned to 1: a second synchronous call is throttled, not run
            with pytest.raises(lam.exceptions.TooManyRequestsException):
                lam.invoke(FunctionName="dbg", Payload=b"{}")
            # other functions are not affected (they run forked, without a debugger)
            started = time.monotonic()
            _, other = _invoke(lam, "other", {"n": 1})
            assert other["value"] == 2 and other["debugpy_loaded"] is False
            assert time.monotonic() - started < 10
            debugger.request("continue", threadId=thread)
            response, body = call.result(30)
        finally:
            debugger.close()
    finally:
        pool.shutdown(wait=False)
    assert "FunctionError" not in response, body
    assert body["value"] == 42
    assert body["held_s"] > 2.0  # it really was held at the breakpoint past the 1 s timeout
    # debugpy reached the environment through its own folder, after the standard library;
    # nothing of the harness's virtualenv is on the function's path
    assert body["debugpy_loaded"] is True
    venv = str(Path(sys.prefix))
    assert not [p for p in body["path"] if p.startswith(venv)], body["path"]
    assert body["path"][-1].endswith("runtime-debug/path")
    assert body["path"][0] == str(rt.code)
    metrics = client.function_metrics("dbg")
    assert metrics["timeouts"] == 0


def test_timeout_fires_once_no_debugger_is_attached(rt: Any) -> None:
    """A debugged environment whose client detached is back under the function's timeout."""
    client: RuntimeClient = rt.process.client
    lam = rt.lambda_client()
    port = _free_port()
    client.debug_start("dbg", port, "dbgstack")
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        call = pool.submit(_invoke, lam, "dbg", {"n": 1})
        debugger = dap.DapClient("127.0.0.1", port)
        debugger.attach_with_breakpoint(str(rt.code / "app.py"), rt.line)
        debugger.event("stopped")
        debugger.close()  # the client goes away with the invocation paused
        response, body = call.result(30)
    finally:
        pool.shutdown(wait=False)
        client.debug_stop("dbg", "dbgstack")
    assert response.get("FunctionError") == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout", body


def test_stop_ends_the_session_and_the_function_serves_normally(rt: Any) -> None:
    client: RuntimeClient = rt.process.client
    lam = rt.lambda_client()
    port = _free_port()
    client.debug_start("dbg", port, "dbgstack")
    stopped = client.debug_stop("dbg", "dbgstack")
    assert stopped["stopped"] == ["dbg"] and stopped["sessions"] == []
    _, body = _invoke(lam, "dbg", {"n": 1})
    assert body["value"] == 2 and body["debugpy_loaded"] is False
    with socket.socket() as probe:  # nothing listens on the debug port any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_refusals_name_the_problem(rt: Any) -> None:
    client: RuntimeClient = rt.process.client
    with pytest.raises(RuntimeError, match=r"404.*no function 'nope' in stack 'dbgstack'.*dbg"):
        client.debug_start("nope", _free_port(), "dbgstack")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"409.*127\.0\.0\.1:{taken} is already in use"):
            client.debug_start("dbg", taken, "dbgstack")
    with pytest.raises(RuntimeError, match=r"409.*1024-65535"):
        client.debug_start("dbg", 80, "dbgstack")
    with pytest.raises(RuntimeError, match=r"409.*nodejs20\.x.*debugpy, a Python debugger"):
        client.debug_start("nodefn", _free_port(), "dbgstack")
    # a caller without the environment's control secret (a function, say) cannot start one
    import urllib.error
    import urllib.request

    anonymous = urllib.request.Request(
        rt.url + "/_harness/runtime/debug",
        data=json.dumps({"function": "dbg", "port": _free_port()}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    assert refused.value.code == 403
    refused.value.close()
    assert client.debug_state() == {"sessions": []}


def test_provisioned_function_debugged_gets_one_environment_only(rt: Any) -> None:
    """Provisioned concurrency would start environments ahead of demand, each waiting for a
    debugger on the same port (and the housekeeping that starts them would wait with them)."""
    client: RuntimeClient = rt.process.client
    rtkit.wait_for(lambda: client.function_metrics("prov")["provisioned"]["ready"] == 2)
    port = _free_port()
    client.debug_start("prov", port, "dbgstack")
    time.sleep(2.5)  # two housekeeping rounds
    assert client.debug_state()["sessions"][0]["environments"] == []
    _, other = _invoke(rt.lambda_client(), "other", {"n": 1})
    assert other["value"] == 2
    client.debug_stop("prov", "dbgstack")
    rtkit.wait_for(lambda: client.function_metrics("prov")["provisioned"]["ready"] == 2)
