"""The daemon's lean HTTP server (``--server lean``, harness/daemon/server.py) on a real socket:
keep-alive and pipelining, HTTP/1.0, malformed requests, chunked bodies, worker replacement."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.fixtures.gateway.env import free_port, wait_http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    state: Path = tmp_path_factory.mktemp("lean")
    port = free_port()
    from harness.env.secret import ensure_secret

    SECRET["value"] = ensure_secret(state)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.daemon", "--server", "lean", "--workers", "2",
         "--port", str(port), "--state-dir", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(port, "/_harness/health", timeout=30)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


SECRET: dict[str, str] = {}


def _exchange(port: int, raw: bytes, expect: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.") < expect or not data.endswith((b"}", b"Request")):
            chunk = sock.recv(65536)
            if not chunk or time.monotonic() > deadline:
                break
            data += chunk
        return data


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    daemon: tuple[int, int],
) -> None:
    port, _ = daemon
    one = b"GET /_harness/health HTTP/1.1\r\nHost: x\r\n\r\n"
    data = _exchange(port, one + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", expect=2)
    first, second = data.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"200") and b'"status":"ok"' in first
    assert second.startswith(b"404") and b"content-length:" in second.lower()


def test_http_1_0_closes_and_garbage_is_a_400(daemon: tuple[int, int]) -> None:
    port, _ = daemon
    data = _exchange(port, b"GET /_harness/health HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and b"connection: close" in data
    assert _exchange(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_chunked_body_reaches_the_app(daemon: tuple[int, int]) -> None:
    port, _ = daemon
    body = b"5\r\nhello\r\n0\r\n\r\n"
    data = _exchange(
        port,
        b"POST /_harness/gateway/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        + f"X-Harness-Secret: {SECRET['value']}\r\n\r\n".encode()
        + body,
    )
    assert data.startswith(b"HTTP/1.1 200") and b'"reloaded":true' in data


def test_a_dead_worker_is_replaced(daemon: tuple[int, int]) -> None:
    port, supervisor = daemon
    workers = psutil.Process(supervisor).children()
    assert len(workers) == 2
    os.kill(workers[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [c for c in psutil.Process(supervisor).children() if c.status() != "zombie"]
        if len(alive) == 2 and workers[0].pid not in {c.pid for c in alive}:
            break
        time.sleep(0.1)
    assert len(alive) == 2 and workers[0].pid not in {c.pid for c in alive}
    wait_http(port, "/_harness/health", timeout=10)
