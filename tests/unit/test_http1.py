"""harness.http1: the HTTP/1.1 wire the gateway's client and the edge's proxy share (chunked
bodies, response framing, kept-alive connections), including what it refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.http1 import BadMessage, IdleConnections, RawResponse, read_chunked, read_response


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def chunked(data: bytes, **options: Any) -> bytes:
    async def go() -> bytes:
        return await read_chunked(_reader(data), **options)

    return asyncio.run(go())


def response(data: bytes, method: str, **options: Any) -> RawResponse:
    async def go() -> RawResponse:
        return await read_response(_reader(data), method, **options)

    return asyncio.run(go())


def test_a_chunked_body_is_decoded_with_extensions_and_trailers() -> None:
    data = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"

    async def go() -> tuple[bytes, bytes]:
        reader = _reader(data)
        return await read_chunked(reader), await reader.read()

    assert run(go()) == (b"Wikipedia", b"NEXT")  # the next request is left on the stream


def test_a_dropped_chunked_body_is_read_but_not_kept() -> None:
    assert chunked(b"3\r\nabc\r\n0\r\n\r\n", keep=False) == b""


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", 400, "bad chunk size"),
        (b"\r\n", 400, "bad chunk size"),
        (b"3\r\nabcXY0\r\n\r\n", 400, "chunk not followed by CRLF"),
        (b"8\r\n12345678\r\n0\r\n\r\n", 413, "chunked body over 4 bytes"),
    ],
)
def test_a_malformed_or_oversized_chunked_body_is_refused(
    data: bytes, status: int, message: str
) -> None:
    with pytest.raises(BadMessage, match=message) as caught:
        chunked(data, limit=4)
    assert caught.value.status == status


def test_a_chunked_body_that_stalls_is_refused_after_the_timeout() -> None:
    async def go() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(b"3")  # the size line never ends
        return await read_chunked(reader, timeout=0.05)

    with pytest.raises(BadMessage, match="not received in time"):
        run(go())


def test_a_response_is_framed_by_length_chunks_or_the_end() -> None:
    by_length = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhiNEXT"
    raw = response(by_length, "GET")
    assert (raw.status, raw.body, raw.keep) == (200, b"hi", True)
    assert raw.headers[b"x-a"] == b"b" and raw.lines[0] == b"Content-Length: 2"
    by_chunks = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    raw = response(by_chunks, "POST")
    assert (raw.status, raw.body, raw.keep) == (201, b"ok", True)
    to_the_end = b"HTTP/1.0 200 OK\r\n\r\nall of it"
    raw = response(to_the_end, "GET")
    assert (raw.body, raw.keep) == (b"all of it", False)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nConnection: close\r\n\r\n"
    raw = response(head, "HEAD")
    assert (raw.body, raw.keep) == (b"", False)


def test_a_chunked_response_over_the_limit_is_refused() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n"
    with pytest.raises(BadMessage) as caught:
        response(data, "GET", limit=8)
    assert caught.value.status == 413


def test_idle_connections_are_reused_and_closed_ones_dropped() -> None:
    async def go() -> None:
        served: list[asyncio.StreamWriter] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            served.append(writer)
            await reader.read()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = IdleConnections("127.0.0.1", port, max_idle=1)
        reader, writer, reused = await pool.get()
        assert not reused
        pool.put(reader, writer)
        again, again_writer, reused = await pool.get()
        assert reused and again is reader
        _other_reader, other, _ = await pool.get()
        pool.put(again, again_writer)
        pool.put(_other_reader, other)  # over max_idle: closed, not kept
        assert other.is_closing() and len(pool.idle) == 1
        again_writer.close()  # a closed idle connection is never handed out
        _r, fresh, reused = await pool.get()
        assert not reused and fresh is not again_writer
        fresh.close()
        assert pool.close() == []
        for w in (writer, other, fresh):
            await w.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # the server's handlers see the ends and close their side

    run(go())
