"""Malformed and oversized input at the gateway, on both of its HTTP servers: API Gateway's
limits (431 over 10 KB of headers, 413 over 10 MB of body, streamed), a request-head timeout,
a protocol 400 for broken framing; never a 5xx, never a traceback, memory bounded."""

from __future__ import annotations

import json
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

from harness.env.process import free_port
from tests.fixtures.gateway.env import wait_http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["uvicorn", "lean"])
def daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    state: Path = tmp_path_factory.mktemp(f"limits-{request.param}")
    port = free_port()
    log = state / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.daemon", "--server", request.param, "--workers", "1",
             "--port", str(port), "--state-dir", str(state)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "HARNESS_HEAD_TIMEOUT_S": "1"},
        )  # fmt: skip
    try:
        wait_http(port, "/_harness/health", timeout=30)
        yield port, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _exchange(port: int, raw: bytes, *, chunks: Iterator[bytes] | None = None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        try:
            sock.sendall(raw)
            for chunk in chunks or ():
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole upload: read its answer
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and b"connection: close" in data.lower():
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = [
                        line
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ]
                    if length and len(body) >= int(length[0].split(b":")[1]):
                        break
        except (ConnectionResetError, TimeoutError):
            pass
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def test_headers_over_api_gateways_limit_are_431(daemon: tuple[int, Path]) -> None:
    port, _ = daemon
    eleven_kb = (
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 11_000 + b"\r\nConnection: close\r\n\r\n"
    )
    data = _exchange(port, eleven_kb)
    assert _status(data) == 431, data[:300]
    assert json.loads(data.partition(b"\r\n\r\n")[2]) == {
        "message": "Request Header Fields Too Large"
    }
    ten_mb = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (10 * 1024 * 1024) + b"\r\n\r\n"
    assert _status(_exchange(port, ten_mb)) == 431
    small = (
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 9_000 + b"\r\nConnection: close\r\n\r\n"
    )
    assert _status(_exchange(port, small)) == 404  # under the limit: routed (no such API)


def test_a_body_over_10_mb_is_413_and_never_buffered(daemon: tuple[int, Path]) -> None:
    port, _ = daemon
    declared = (
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\nConnection: close\r\n\r\n"
    )
    assert _status(_exchange(port, declared, chunks=iter([b"a" * 65536]))) == 413
    worker = _worker(port)
    before = worker.memory_info().rss
    piece = b"a" * (1024 * 1024)
    chunked = (
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    stream = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(60))
    data = _exchange(port, chunked, chunks=stream)
    assert _status(data) == 413, data[:200]
    grown = (worker.memory_info().rss - before) / 1e6
    assert grown < 40, f"the worker grew by {grown:.0f} MB for a 60 MB upload"


def test_a_half_sent_head_times_out(daemon: tuple[int, Path]) -> None:
    port, _ = daemon
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        data = sock.recv(65536)
    assert time.monotonic() - started < 5
    assert _status(data) == 408


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nabcde",
        b"GARBAGE\r\n\r\n",
        b"GET /x HTTP/1.1\r\nbad header line\r\n\r\n",
    ],
)
def test_malformed_framing_is_a_protocol_400(daemon: tuple[int, Path], raw: bytes) -> None:
    port, _ = daemon
    data = _exchange(port, raw)
    assert _status(data) == 400, data[:200]
    assert (
        _status(
            _exchange(
                port, b"GET /_harness/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
        )
        == 200
    )


def _worker(port: int) -> psutil.Process:
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.laddr
            and conn.laddr.port == port
            and conn.status == psutil.CONN_LISTEN
            and conn.pid
        ):
            return psutil.Process(conn.pid)
    raise AssertionError(f"nobody listens on {port}")
