"""Closed doors, the logic: loopback-only listeners, owner-only state, the control secret,
the emulator-reset check, `down`'s process-group and port checks, the runtime's bad input."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.edge.proxy import is_control_path
from harness.env.environment import Environment
from harness.env.private import private_dir, private_file, tighten
from harness.env.process import ProcessRecord, group_survivors, spawn, stop
from harness.env.secret import (
    PROBES_FILE,
    ControlGuard,
    control_headers,
    ensure_secret,
    headers_for,
    read_probes,
    register,
)
from harness.env.sockets import Listener, exposed, is_loopback, listeners_of_processes
from harness.env.stackcheck import missing_resources
from harness.env.state import EnvState
from harness.errors import EnvironmentError_
from harness.model import DeployedStack, ResourceRecord
from harness.runtime.http import Request
from harness.runtime.server import RuntimeApi

LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True); time.sleep(60)\n"
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("::ffff:10.0.0.1", False),
        ("not-an-ip", False),
    ],
)
def test_loopback_addresses(ip: str, loopback: bool) -> None:
    assert is_loopback(ip) is loopback


def test_the_socket_check_fails_on_a_listener_on_every_interface() -> None:
    children = []
    try:
        for host in ("0.0.0.0", "127.0.0.1"):
            child = subprocess.Popen(
                [sys.executable, "-c", LISTEN, host], stdout=subprocess.PIPE, text=True
            )
            children.append((host, child, int(child.stdout.readline())))  # type: ignore[union-attr]
        listeners = listeners_of_processes(
            [(f"piece-{host}", child.pid) for host, child, _ in children]
        )
        by_port = {item.port: item for item in listeners}
        assert {port for _, _, port in children} <= set(by_port)
        open_doors = exposed(listeners)
        assert [item.port for item in open_doors] == [children[0][2]]
        assert "0.0.0.0" in str(open_doors[0])
    finally:
        for _, child, _ in children:
            child.kill()
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]


def test_exposed_keeps_only_non_loopback() -> None:
    items = [
        Listener("a", 1, "127.0.0.1", 10, "tcp"),
        Listener("b", 2, "::", 11, "tcp"),
        Listener("c", 3, "0.0.0.0", 12, "udp"),
    ]
    assert [i.piece for i in exposed(items)] == ["b", "c"]


def test_ministack_binds_are_confined_to_loopback() -> None:
    code = (
        "import socket\n"
        "from harness.env.binds import confine_binds\n"
        "confine_binds('127.0.0.1')\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 0)); print(s.getsockname()[0])\n"
        "t = socket.socket(); t.bind(('', 0)); print(t.getsockname()[0])\n"
        "u = socket.socket(socket.AF_INET6); u.bind(('::', 0)); print(u.getsockname()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["127.0.0.1", "127.0.0.1", "::1"]


def test_private_folders_and_files(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert _mode(folder) == 0o700
    os.close(private_file(folder / "f"))
    assert _mode(folder / "f") == 0o600
    loose = folder / "loose"
    loose.write_text("x")
    os.chmod(loose, 0o644)
    os.chmod(folder, 0o755)
    tighten(tmp_path / "a")
    assert _mode(loose) == 0o600 and _mode(folder) == 0o700


def test_down_removes_the_emulators_data_unless_kept(tmp_path: Path) -> None:
    data = private_dir(tmp_path / "data" / "services")
    (data / "key.pem").write_text("k")
    Environment(state_dir=tmp_path).stop(keep_data=True)
    assert (data / "key.pem").exists()
    Environment(state_dir=tmp_path).stop()
    assert not (tmp_path / "data").exists()


def test_the_secret_is_owner_only_and_required(tmp_path: Path) -> None:
    secret = ensure_secret(tmp_path)
    assert ensure_secret(tmp_path) == secret and len(secret) >= 40
    assert _mode(tmp_path / "control-secret") == 0o600
    guard = ControlGuard(tmp_path, "test")
    assert guard.allowed({"X-Harness-Secret": secret})
    assert guard.allowed([(b"x-harness-secret", secret.encode())])
    assert not guard.allowed({"X-Harness-Secret": secret[:-1] + "x"})
    assert not guard.allowed({})
    assert not ControlGuard(tmp_path / "none", "test").allowed({"X-Harness-Secret": ""})
    assert control_headers(tmp_path) == {"X-Harness-Secret": secret}
    register({"runtime_url": "http://127.0.0.1:1"}, tmp_path)
    assert headers_for("http://127.0.0.1:1/_harness/runtime/faults") == control_headers(tmp_path)


def test_a_refused_call_is_recorded_with_its_caller(tmp_path: Path) -> None:
    ensure_secret(tmp_path)
    guard = ControlGuard(tmp_path, "edge")
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        try:
            entry = guard.record("DELETE", "/_harness/edge/iam", client.getsockname())
        finally:
            client.close()
    assert entry["pid"] == os.getpid()
    assert _mode(tmp_path / PROBES_FILE) == 0o600
    (probe,) = read_probes(tmp_path)
    assert probe["path"] == "/_harness/edge/iam" and probe["server"] == "edge"
    assert read_probes(tmp_path, since=time.time() + 10) == []
    assert "secret" in guard.refusal("DELETE", "/_harness/edge/iam")["message"]


@pytest.mark.parametrize(
    ("method", "target", "control"),
    [
        ("GET", "/_harness/edge/health", False),
        ("GET", "/_localstack/health", False),
        ("DELETE", "/_harness/edge/iam", True),
        ("GET", "/_harness/edge/iam?denied=1", True),
        ("POST", "/_harness/edge/faults", True),
        ("POST", "/_localstack/chaos/faults", True),
        ("POST", "/_ministack/reset", True),
        ("POST", "/moto-api/reset", True),
        ("POST", "/_harness/runtime/faults", True),
        ("POST", "/_harness/edge/health", True),
        ("POST", "/", False),
        ("GET", "/my-bucket/_harness/x", False),
    ],
)
def test_control_paths_at_the_edge(method: str, target: str, control: bool) -> None:
    assert is_control_path(method, target) is control


class _Boom(Exception):
    pass


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Describe",
    )


def _stack(tmp_path: Path) -> None:
    DeployedStack(
        name="shop",
        stack_dir="stacks/shop",
        template_path="stacks/shop/template.yaml",
        deployed_at=0.0,
        resources={
            "Orders": ResourceRecord("Orders", "AWS::DynamoDB::Table", "shop-orders"),
            "Pool": ResourceRecord("Pool", "AWS::Cognito::UserPool", "us-east-1_x"),
            "Fn": ResourceRecord("Fn", "AWS::Lambda::Function", "shop-fn"),
        },
    ).save(tmp_path)


def test_a_reset_emulator_is_noticed(tmp_path: Path) -> None:
    _stack(tmp_path)

    class Clients:
        def __init__(self, failing: dict[str, Exception]) -> None:
            self.failing = failing

        def __call__(self, service: str) -> Any:
            failing = self.failing

            class Client:
                def __getattr__(self, operation: str) -> Any:
                    def call(**kwargs: Any) -> Any:
                        if service in failing:
                            raise failing[service]
                        return {}

                    return call

            return Client()

    assert missing_resources(tmp_path, Clients({})) == []
    gone = missing_resources(
        tmp_path, Clients({"cognito-idp": _client_error("ResourceNotFoundException", 400)})
    )
    assert [(m.logical_id, m.stack_dir) for m in gone] == [("Pool", "stacks/shop")]
    assert "reset or restarted" in gone[0].describe()
    with pytest.raises(_Boom):  # an emulator that does not answer is not "missing"
        missing_resources(tmp_path, Clients({"dynamodb": _Boom()}))


def test_down_refuses_to_report_success_while_a_port_is_held(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        record = ProcessRecord("gateway", 1, 0.0, [], "", port=port)
        with pytest.raises(EnvironmentError_, match=f"gateway port {port} is still held"):
            Environment._verify_ports_free(EnvState("embedded", {}, [record]), timeout=0.2)
    Environment._verify_ports_free(EnvState("embedded", {}, [record]), timeout=0.2)


def test_stop_kills_the_survivors_of_a_dead_supervisor(tmp_path: Path) -> None:
    supervisor = (
        "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nelse:\n    time.sleep(60)\n"
    )
    record = spawn(
        "gateway",
        [sys.executable, "-c", supervisor],
        log=tmp_path / "g.log",
        env={"HARNESS_ENV_ID": str(tmp_path)},
    )
    record.extra["env_id"] = str(tmp_path)
    import psutil

    deadline = time.monotonic() + 10
    while not psutil.Process(record.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    (worker,) = psutil.Process(record.pid).children()
    os.kill(record.pid, 9)
    psutil.Process(record.pid).wait(5)
    assert [p.pid for p in group_survivors(record)] == [worker.pid]
    assert stop(record, grace=2) is True
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert stop(record) is False


def test_runtime_logs_limit_must_be_a_number(tmp_path: Path) -> None:
    secret = ensure_secret(tmp_path)
    api = RuntimeApi(object(), ControlGuard(tmp_path, "runtime"))  # type: ignore[arg-type]
    headers = {b"x-harness-secret": secret.encode()}
    for limit in ("abc", "0", "-5", "99999999999"):
        request = Request("GET", "/_harness/runtime/logs/fn", f"limit={limit}", headers, b"")
        answer = asyncio.run(api(request))
        assert answer.status == 400, limit
        assert "limit must be a whole number" in json.loads(answer.body)["message"]
    refused = asyncio.run(api(Request("GET", "/_harness/runtime/logs/fn", "", {}, b"")))
    assert refused.status == 403
    assert read_probes(tmp_path)[0]["server"] == "runtime"


def test_functions_never_receive_the_secret_or_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.aws import aws_environ
    from harness.model import FunctionSpec
    from harness.runtime.pool import function_environ

    secret = ensure_secret(tmp_path)
    # the runtime's own process knows both (its environment, its state folder)
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HARNESS_ENV_ID", str(tmp_path))
    monkeypatch.setenv("X_HARNESS_SECRET", secret)
    spec = FunctionSpec("Fn", "shop-fn", "arn:x", "app.handler", "python3.11", "/code")
    endpoints = {"aws_endpoint": "http://127.0.0.1:1", "state_dir": str(tmp_path)}
    environ = function_environ(spec, aws_environ(endpoints), "stream")
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert not [k for k, v in environ.items() if secret in v or str(tmp_path) in v]


def test_ministacks_reset_needs_the_secret_on_its_own_port(tmp_path: Path) -> None:
    from harness.env.ministack_main import guard_control

    secret = ensure_secret(tmp_path)
    reached: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = guard_control(app, str(tmp_path))

    def call(path: str, headers: list[tuple[bytes, bytes]]) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": headers,
                 "client": ("127.0.0.1", 5555)}  # fmt: skip
        asyncio.run(guarded(scope, None, send))
        return int(sent[0]["status"])

    assert call("/_ministack/reset", []) == 403
    assert call("/_ministack/reset", [(b"x-harness-secret", b"wrong")]) == 403
    assert call("/_ministack/sqs/messages", []) == 403
    assert reached == []
    assert call("/_ministack/reset", [(b"x-harness-secret", secret.encode())]) == 200
    assert call("/_ministack/health", []) == 200
    assert call("/", []) == 200
    assert [p["path"] for p in read_probes(tmp_path)] == ["/_ministack/reset"] * 2 + [
        "/_ministack/sqs/messages"
    ]
    assert _mode(tmp_path / PROBES_FILE) == 0o600


def test_localstack_launcher_binds_the_gateway_listen_host() -> None:
    from harness.env.localstack_main import listen_host

    assert listen_host("127.0.0.1:4566") == "127.0.0.1"
    assert listen_host("127.0.0.1:4566,127.0.0.1:443") == "127.0.0.1"
    assert listen_host("[::1]:4566") == "::1"
    assert listen_host("") == "127.0.0.1"  # never the wildcard


def test_localstack_launcher_confines_a_portless_twisted_style_bind() -> None:
    # Twisted's TCP4ServerEndpoint binds ('', port): the launcher's confinement must move it
    code = (
        "import socket\n"
        "import harness.env.localstack_main as launcher\n"
        "def run_localstack(*args, **kwargs):\n"
        "    print(socket.create_server(('', 0)).getsockname()[0])\n"
        "launcher.runpy.run_module = run_localstack\n"
        "launcher.main()\n"
    )
    env = {**os.environ, "GATEWAY_LISTEN": "127.0.0.1:0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["127.0.0.1"]
