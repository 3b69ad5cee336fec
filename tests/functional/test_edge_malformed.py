"""Malformed and oversized input at the AWS edge: a protocol 400/413 at once (never a 502, a
traceback or silence), a head timeout, unknown services refused at once, big S3 uploads streamed."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from harness.edge import proxy as edge_proxy
from harness.edge import wire as edge_wire
from harness.edge.proxy import EdgeProxy, FaultDecision
from tests.functional.test_edge_proxy import SIGNED_DDB, FakeUpstream, _request, edge

__all__ = ["edge"]

Edge = tuple[int, FakeUpstream, FakeUpstream, EdgeProxy]

SIGNED_S3 = (
    b"Authorization: AWS4-HMAC-SHA256 Credential=t/20261122/us-east-1/s3/aws4_request, "
    b"SignedHeaders=host, Signature=x\r\n"
)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response else 0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\n" + SIGNED_DDB + b"Content-Length: abc\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\n" + SIGNED_DDB + b"Content-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 400),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / SPDY/3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\n"
            + SIGNED_DDB
            + b"Content-Length: "
            + str(64 * 1024 * 1024).encode()
            + b"\r\n\r\n",
            413,
        ),
        (b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n", 413),
    ],
)
def test_malformed_requests_get_a_protocol_error(
    edge: Edge, raw: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    port, _ddb, _other, _proxy = edge
    caplog.set_level(logging.WARNING, logger="harness.edge")
    started = time.monotonic()
    response = _request(port, raw)
    assert _status(response) == status, response[:200]
    assert time.monotonic() - started < 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
    ok = _request(
        port, b"GET /_harness/edge/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert _status(ok) == 200  # the edge still serves


def test_a_half_sent_head_times_out(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_wire, "HEAD_TIMEOUT_S", 0.5)
    port = edge[0]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        started = time.monotonic()
        data = sock.recv(65536)
        assert time.monotonic() - started < 3
    assert _status(data) == 400 and b"not complete" in data


def test_an_unknown_service_is_refused_at_once(edge: Edge) -> None:
    port, _ddb, other, _proxy = edge
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 "
        b"Credential=t/20261122/us-east-1/notaservice/aws4_request, SignedHeaders=host, "
        b"Signature=x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    edge_proxy.known_services()  # loaded once, at start, by `serve`
    before = other.connections
    started = time.monotonic()
    response = _request(port, raw)
    assert time.monotonic() - started < 1
    assert _status(response) == 400
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["__type"] == "UnknownServiceException" and "notaservice" in body["message"]
    assert other.connections == before  # never forwarded
    known = (
        b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 "
        b"Credential=t/20261122/us-east-1/kinesis/aws4_request, SignedHeaders=host, "
        b"Signature=x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    assert _status(_request(port, known)) == 200  # a real service still goes through


def test_a_large_s3_upload_is_streamed(edge: Edge) -> None:
    port, _ddb, _other, _proxy = edge
    size = 3 * 1024 * 1024
    raw = (
        b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\n"
        + SIGNED_S3
        + b"Content-Length: "
        + str(size).encode()
        + b"\r\n\r\n"
        + b"x" * size
    )
    response = _request(port, raw)
    assert _status(response) == 200
    payload = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert payload["upstream"] == "other" and len(payload["body"]) == size


def test_a_streamed_upload_is_traced_logged_and_faultable(edge: Edge, tmp_path: Path) -> None:
    """A streamed upload is a call like any other: its span (a child of the caller's, the
    forwarded header naming the span), its call-log line, and a fault answered as a faulted span."""
    from harness.edge.tracing import EdgeTracer
    from harness.obs import JsonLinesLog
    from harness.obs.spans import SpanRecorder, TraceConfig, xray_header
    from tests.unit.test_obs_spans import _Collect

    port, _ddb, _other, proxy = edge
    collect = _Collect()
    proxy.tracer = EdgeTracer(SpanRecorder("aws", [collect]), tmp_path, TraceConfig(run="r"))
    proxy.call_log = JsonLinesLog(tmp_path / "calls.jsonl", flush_lines=1)
    trace = 0x5759E988BD862E3FE1BE46A994272793
    size = 2 * 1024 * 1024
    raw = (
        b"PUT /bucket/big HTTP/1.1\r\nHost: x\r\n"
        + SIGNED_S3
        + b"X-Amzn-Trace-Id: " + xray_header(trace, 7).encode() + b"\r\n"
        + b"Content-Length: " + str(size).encode() + b"\r\n\r\n"
        + b"x" * size
    )  # fmt: skip
    try:
        assert _status(_request(port, raw)) == 200
        span = collect.spans[-1]
        attrs = span.attributes  # type: ignore[attr-defined]
        assert span.name == "s3.PutObject"  # type: ignore[attr-defined]
        assert span.parent.span_id == 7  # type: ignore[attr-defined]
        assert attrs["aws.resource"] == "bucket" and attrs["fault.injected"] is False
        logged = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
        assert logged[-1]["operation"] == "PutObject" and logged[-1]["status"] == 200

        async def hook(info: Any, _headers: Any, _body: bytes) -> FaultDecision | None:
            body = b'{"message":"injected"}'
            head = f"HTTP/1.1 503 X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            return FaultDecision(response=head + body) if info.service == "s3" else None

        proxy.fault_hook = hook
        assert _status(_request(port, raw)) == 503
        faulted = collect.spans[-1]
        assert faulted.attributes["fault.injected"] is True  # type: ignore[attr-defined]
        assert faulted.attributes["http.response.status_code"] == 503  # type: ignore[attr-defined]
    finally:
        proxy.fault_hook = None
        proxy.tracer = None
        proxy.call_log = None


def test_streaming_keeps_the_edges_memory_bounded() -> None:
    """100 MB through the edge to an upstream that discards it: the edge never holds it."""
    import asyncio
    import threading
    import tracemalloc

    received = {"bytes": 0}

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while length:
            chunk = await reader.read(min(length, 1 << 20))
            received["bytes"] += len(chunk)
            length -= len(chunk)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        upstream = await asyncio.start_server(sink, "127.0.0.1", 0)
        proxy = EdgeProxy({}, f"http://127.0.0.1:{upstream.sockets[0].getsockname()[1]}")
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0, limit=edge_proxy.MAX_HEAD)
        holder.update(port=server.sockets[0].getsockname()[1], servers=[upstream, server])
        ready.set()

    async def shutdown() -> None:
        for item in holder["servers"]:
            item.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait(5)
    size = 100 * 1024 * 1024
    tracemalloc.start()
    try:
        with socket.create_connection(("127.0.0.1", holder["port"]), timeout=30) as sock:
            sock.sendall(
                b"PUT /bucket/big HTTP/1.1\r\nHost: x\r\n"
                + SIGNED_S3
                + b"Content-Length: "
                + str(size).encode()
                + b"\r\n\r\n"
            )
            piece = b"x" * (1 << 20)
            for _ in range(100):
                sock.sendall(piece)
            answer = sock.recv(65536)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert _status(answer) == 200
    assert received["bytes"] == size
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for a 100 MB upload"
