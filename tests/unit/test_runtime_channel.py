"""The invoke channel's framing, multiplexing, timeouts and failure modes (fake dispatch)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.gateway.invoke import Invoker
from harness.runtime import channel as ch


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _dispatch(
    name: str, payload: bytes, tail: bool
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Echoes, sleeps for ``{"sleep": s}``, fails for the name ``boom``."""
    if name == "boom":
        raise RuntimeError("dispatch failed")
    if name == "missing":
        return 404, b'{"Type": "User"}', [("x-amzn-errortype", "ResourceNotFoundException")]
    event = json.loads(payload) if payload else {}
    if "sleep" in event:
        await asyncio.sleep(event["sleep"])
    headers = (
        [("x-amzn-requestid", "rid-1"), ("X-Amz-Function-Error", "Unhandled")]
        if name == "fail"
        else []
    )
    if tail:
        headers.append(("x-amz-log-result", "dGFpbA=="))
    return 200, json.dumps({"name": name, "event": event, "size": len(payload)}).encode(), headers


@contextlib.asynccontextmanager
async def _channel(port: int) -> AsyncIterator[ch.ChannelClient]:
    """A channel server with the fake dispatch on ``port``, and a client connected to it."""
    server = await ch.serve_channel(_dispatch, port)
    assert server is not None
    client = ch.ChannelClient(ch.address_for_port(port))
    try:
        yield client
    finally:
        client.close()
        server.close()


def test_address_only_for_a_local_runtime() -> None:
    assert ch.address_for_url("http://127.0.0.1:4010") == "\0harness-runtime-4010"
    assert ch.address_for_url("http://localhost:4010/") == "\0harness-runtime-4010"
    assert ch.address_for_url("http://10.0.0.5:4010") is None
    assert ch.address_for_url("http://127.0.0.1") is None


def test_calls_are_multiplexed_and_matched_by_id() -> None:
    port = _free_port()

    async def main() -> None:
        async with _channel(port) as client:
            # the slow call is sent first and answered last: answers are matched by id
            calls = [
                client.invoke("f", json.dumps({"sleep": 0.2, "i": 0}).encode(), 5),
                *[client.invoke("f", json.dumps({"i": i}).encode(), 5) for i in range(1, 50)],
            ]
            replies = await asyncio.gather(*calls)
            assert [json.loads(r.body)["event"]["i"] for r in replies] == list(range(50))
            assert all(r.status == 200 and r.headers == {} for r in replies)
            big = b'{"blob": "' + b"x" * (3 * 1024 * 1024) + b'"}'
            assert json.loads((await client.invoke("f", big, 5)).body)["size"] == len(big)
            fail = await client.invoke("fail", b"{}", 5, tail=True)
            assert fail.headers == {
                "x-amzn-requestid": "rid-1",
                "x-amz-function-error": "Unhandled",
                "x-amz-log-result": "dGFpbA==",
            }
            assert (await client.invoke("missing", b"", 5)).status == 404
            boom = await client.invoke("boom", b"", 5)
            assert boom.status == 500 and "dispatch failed" in json.loads(boom.body)["message"]
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.invoke("f", b'{"sleep": 2}', 0.2)
            assert time.monotonic() - started < 1.0
            # the late answer to the timed-out call is dropped; the connection stays usable
            assert (await client.invoke("f", b"{}", 5)).status == 200

    asyncio.run(main())


def test_no_listener_is_unavailable_then_retried_later() -> None:
    port = _free_port()

    async def main() -> None:
        client = ch.ChannelClient(ch.address_for_port(port))
        with pytest.raises(ch.ChannelUnavailable):
            await client.invoke("f", b"{}", 1)
        assert not client.usable  # callers use HTTP until RETRY_AFTER_S has passed
        client._retry_at = 0.0
        assert client.usable
        server = await ch.serve_channel(_dispatch, port)
        assert server is not None
        try:
            assert (await client.invoke("f", b"{}", 1)).status == 200
        finally:
            client.close()
            server.close()

    asyncio.run(main())


def test_a_lost_connection_fails_the_calls_in_flight_and_reconnects() -> None:
    port = _free_port()

    async def main() -> None:
        async with _channel(port) as client:
            await client.invoke("f", b"{}", 5)
            in_flight = asyncio.ensure_future(client.invoke("f", b'{"sleep": 5}', 10))
            await asyncio.sleep(0.1)
            conn = client._conn
            assert conn is not None and conn.transport is not None
            conn.transport.close()  # as when the runtime restarts
            with pytest.raises(ch.ChannelLost):
                await in_flight
            assert (await client.invoke("f", b"{}", 5)).status == 200  # a new connection

    asyncio.run(main())


def test_a_taken_address_means_no_channel() -> None:
    port = _free_port()

    async def main() -> None:
        first = await ch.serve_channel(_dispatch, port)
        assert first is not None
        try:
            assert await ch.serve_channel(_dispatch, port) is None
        finally:
            first.close()

    asyncio.run(main())


class _HttpRuntime:
    """A one-route Invoke API over HTTP without a channel (a remote or older runtime)."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            self.calls += 1
            body = b'{"statusCode": 200, "body": "over http"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        writer.close()


def test_invoker_uses_the_channel_and_falls_back_to_http() -> None:
    async def main() -> None:
        fake = _HttpRuntime()
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        invoker = Invoker(f"http://127.0.0.1:{port}")
        try:
            outcome = await invoker.invoke("f", {"a": 1}, 5)  # no channel on that port yet
            assert outcome.kind == "ok" and b"over http" in outcome.body and fake.calls == 1
            channel_server = await ch.serve_channel(_dispatch, port)
            assert channel_server is not None
            assert invoker.channel is not None
            invoker.channel._retry_at = 0.0
            try:
                outcome = await invoker.invoke("f", {"a": 1}, 5)
                assert outcome.kind == "ok" and json.loads(outcome.body)["event"] == {"a": 1}
                assert fake.calls == 1
                failed = await invoker.invoke("fail", {}, 5)
                assert failed.kind == "function_error" and failed.detail == "Unhandled"
                assert (await invoker.invoke("missing", {}, 5)).kind == "not_found"
                timed_out = await invoker.invoke("f", {"sleep": 1}, 0.1)
                assert timed_out.kind == "timeout"
            finally:
                channel_server.close()
        finally:
            invoker.close()
            assert invoker.pool is not None
            await invoker.pool.aclose()
            await asyncio.sleep(0.05)  # the fake's handler sees EOF and closes its side
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_invoker_without_channel_option_uses_http_only() -> None:
    invoker: Any = Invoker("http://127.0.0.1:4010", channel=False)
    assert invoker.channel is None
    invoker.close()
