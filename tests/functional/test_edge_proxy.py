"""The edge proxy against in-process fake upstreams (no emulator needed)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from harness.edge.proxy import EdgeProxy, FaultDecision


class FakeUpstream:
    """A tiny HTTP/1.1 server that echoes what it got as JSON, with keep-alive."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                payload = json.dumps(
                    {
                        "upstream": self.name,
                        "method": method,
                        "target": target,
                        "body": body.decode(),
                        "headers": headers,
                    }
                ).encode()
                if method == "HEAD":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
                elif target == "/chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(payload)).encode()
                        + b"\r\n\r\n"
                        + payload
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def edge() -> Iterator[tuple[int, FakeUpstream, FakeUpstream, EdgeProxy]]:
    loop = asyncio.new_event_loop()
    ddb, other = FakeUpstream("ddb"), FakeUpstream("other")
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        s1 = await asyncio.start_server(ddb.handle, "127.0.0.1", 0)
        s2 = await asyncio.start_server(other.handle, "127.0.0.1", 0)
        ddb.port = s1.sockets[0].getsockname()[1]
        other.port = s2.sockets[0].getsockname()[1]
        proxy = EdgeProxy(
            {"dynamodb": f"http://127.0.0.1:{ddb.port}"}, f"http://127.0.0.1:{other.port}"
        )
        s3 = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        holder.update(proxy=proxy, port=s3.sockets[0].getsockname()[1], servers=[s1, s2, s3])
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait(5)
    holder["loop"] = loop
    yield holder["port"], ddb, other, holder["proxy"]  # type: ignore[misc]

    async def shutdown() -> None:
        for server in holder["servers"]:  # type: ignore[attr-defined]
            server.close()
        for up in [*holder["proxy"].upstreams.values(), holder["proxy"].default]:  # type: ignore[attr-defined]
            for _, writer in up.idle:
                writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.05)  # let the closed transports release their sockets

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _request(port: int, raw: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


SIGNED_DDB = (
    b"Authorization: AWS4-HMAC-SHA256 Credential=t/20261122/us-east-1/dynamodb/aws4_request, "
    b"SignedHeaders=host, Signature=x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
)


def test_routes_by_service_and_keeps_the_body(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port, _ddb, _other, proxy = edge
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\n"
        + SIGNED_DDB
        + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    response = _request(port, raw)
    assert response.startswith(b"HTTP/1.1 200")
    payload = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert payload["upstream"] == "ddb" and payload["body"] == "{}"
    assert proxy.calls["dynamodb:GetItem"] == 1


def test_unrouted_service_goes_to_the_default(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port = edge[0]
    raw = b"GET /bucket/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert json.loads(_request(port, raw).split(b"\r\n\r\n", 1)[1])["upstream"] == "other"


def test_chunked_request_is_forwarded_with_a_content_length(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port = edge[0]
    raw = (
        b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    payload = json.loads(_request(port, raw).split(b"\r\n\r\n", 1)[1])
    assert payload["body"] == "abcde" and payload["headers"]["content-length"] == "5"


def test_expect_100_continue_is_answered_by_the_edge(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port = edge[0]
    raw = b"PUT /b/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    response = _request(port, raw)
    assert response.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")
    assert "expect" not in json.loads(response.split(b"\r\n\r\n", 2)[2])["headers"]


def test_head_keeps_the_upstream_content_length(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port = edge[0]
    response = _request(port, b"HEAD /b/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Content-Length: 1234" in response and response.endswith(b"\r\n\r\n")


def test_chunked_response_is_relayed_whole(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port = edge[0]
    response = _request(port, b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.endswith(b"\r\n\r\nhello world") and b"Content-Length: 11" in response


def test_upstream_connections_are_kept_alive(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port, ddb = edge[0], edge[1]
    one = b"POST / HTTP/1.1\r\nHost: x\r\n" + SIGNED_DDB + b"Content-Length: 0\r\n\r\n"
    responses = _request(port, one * 5)
    assert responses.count(b"HTTP/1.1 200") == 5
    assert ddb.connections == 1


def test_a_dead_upstream_answers_like_an_unavailable_aws_service(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port, _, _, proxy = edge
    proxy.upstreams["dynamodb"].port = 1  # nothing listens there
    proxy.upstreams["dynamodb"].idle.clear()
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\n"
        + SIGNED_DDB
        + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    response = _request(port, raw)
    assert response.startswith(b"HTTP/1.1 503")
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["__type"] == "ServiceUnavailable"


def test_fault_hook_can_answer_instead_of_the_emulator(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port, _, _, proxy = edge
    canned = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}"

    async def hook(info, headers, body):  # type: ignore[no-untyped-def]
        return FaultDecision(response=canned) if info.operation == "GetItem" else None

    proxy.fault_hook = hook
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\n"
        + SIGNED_DDB
        + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert _request(port, raw) == canned
    assert proxy.errors["dynamodb:GetItem"] == 1


def test_admin_endpoint_reports_routes_and_counts(
    edge: tuple[int, FakeUpstream, FakeUpstream, EdgeProxy],
) -> None:
    port, _ddb, _other, proxy = edge
    health = b"GET /_harness/edge/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    response = _request(port, health + b"\r\n")
    payload = json.loads(response.split(b"\r\n\r\n", 1)[1])
    # without the secret: up, and no emulator address a tenant's code could go to directly
    assert payload["status"] == "ok" and "routes" not in payload
    import tempfile
    from pathlib import Path

    from harness.env.secret import ControlGuard, ensure_secret

    with tempfile.TemporaryDirectory() as folder:
        secret = ensure_secret(Path(folder))
        proxy.control = ControlGuard(Path(folder), "edge")
        response = _request(port, health + f"X-Harness-Secret: {secret}\r\n\r\n".encode())
        proxy.control = None
    payload = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert payload["status"] == "ok" and "dynamodb" in payload["routes"]
