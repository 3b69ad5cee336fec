"""The invoke channel: synchronous invocations over a local socket, without HTTP.

The gateway calls a function on almost every request it serves. Over the Invoke API that call
costs an HTTP request on each side (build, parse, a connection per concurrent call, a timeout
context); measured with ``benchmarks/bench_gateway.py`` it was the largest part of the gateway's
CPU per request after the ASGI server itself. The channel carries the same invocation as two
binary frames on one multiplexed connection per gateway worker:

* request  ``!IBHI`` — call id, flags (bit 0: ``LogType: Tail``), name length, payload length;
  then the function name (UTF-8) and the payload (the event, as the Invoke API's body);
* cancel   ``!IBHI`` with flag bit 1 and both lengths 0 — the caller of that call id gave up
  (its timeout passed, or its own client went away): the runtime never runs it if it has not
  started yet (:mod:`harness.runtime.caller`), as Lambda never runs a synchronous invocation
  whose connection is gone. A closed connection gives up every call it carried;
* response ``!IHII`` — call id, HTTP status, header length, body length; then the response
  headers (JSON ``[[name, value], ...]``, the Invoke API's) and the body.

Answers come back in completion order, matched by id. The runtime answers exactly what its
Invoke API would (:meth:`harness.runtime.server.RuntimeApi.invoke_channel`): throttles, unknown
functions, payload limits, function errors, faults, metrics and logs are the same code.

The channel listens on the Linux abstract socket ``harness-runtime-<port>`` (``<port>`` = the
runtime's HTTP port), so it needs no file and disappears with the process. A client that cannot
connect (another runtime, a remote one, an older one) uses the Invoke API over HTTP instead and
tries the channel again after :data:`RETRY_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.runtime.caller import gone_future, mark_gone

__all__ = [
    "ChannelClient",
    "ChannelLost",
    "ChannelReply",
    "ChannelUnavailable",
    "address_for_port",
    "address_for_url",
    "serve_channel",
]

logger = logging.getLogger(__name__)

REQUEST = struct.Struct("!IBHI")
RESPONSE = struct.Struct("!IHII")
FLAG_TAIL = 1
FLAG_CANCEL = 2
MAX_FRAME = 64 * 1024 * 1024  # the runtime refuses payloads over 6 MB with a 413 anyway
RETRY_AFTER_S = 1.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def address_for_port(port: int) -> str:
    """The abstract socket name of the runtime listening on HTTP ``port``."""
    return f"\0harness-runtime-{port}"


def address_for_url(runtime_url: str) -> str | None:
    """The channel address for a runtime URL, or None when it cannot be local (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    parts = urlsplit(runtime_url)
    if parts.hostname not in LOOPBACK or parts.port is None:
        return None
    return address_for_port(parts.port)


@dataclass(slots=True)
class ChannelReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class ChannelUnavailable(Exception):
    """No channel to the runtime; nothing was sent (the caller can use HTTP instead)."""


class ChannelLost(Exception):
    """The connection was lost with the call in flight (it may have run)."""


# -- the runtime's side ---------------------------------------------------------------------

# (function name, payload, tail) -> (status, body, headers)
Dispatch = Callable[[str, bytes, bool], Awaitable[tuple[int, bytes, list[tuple[str, str]]]]]


class _ServerConnection(asyncio.Protocol):
    def __init__(self, dispatch: Dispatch, tasks: set[asyncio.Task[None]]) -> None:
        self.dispatch = dispatch
        self.tasks = tasks
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.gone: dict[int, asyncio.Future[None]] = {}  # call id -> its caller-gone future

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        gone, self.gone = self.gone, {}
        for future in gone.values():
            mark_gone(future)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        loop = asyncio.get_running_loop()
        while len(buffer) >= REQUEST.size:
            call_id, flags, name_len, body_len = REQUEST.unpack_from(buffer)
            if body_len > MAX_FRAME:
                logger.warning("invoke channel: a %d-byte frame; closing", body_len)
                if self.transport is not None:
                    self.transport.close()
                return
            end = REQUEST.size + name_len + body_len
            if len(buffer) < end:
                return
            if flags & FLAG_CANCEL:
                del buffer[:end]
                mark_gone(self.gone.get(call_id))
                continue
            name = bytes(buffer[REQUEST.size : REQUEST.size + name_len]).decode()
            body = bytes(buffer[REQUEST.size + name_len : end])
            del buffer[:end]
            task = loop.create_task(self._call(call_id, name, body, bool(flags & FLAG_TAIL)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _call(self, call_id: int, name: str, body: bytes, tail: bool) -> None:
        if self.transport is None:  # the caller left before the call was read to the end
            return
        self.gone[call_id] = gone_future()  # this task's context only
        try:
            status, payload, headers = await self.dispatch(name, body, tail)
        except Exception as exc:  # the server must survive anything a call triggers
            logger.exception("invoke channel: %s failed", name)
            status, headers = 500, [("x-amzn-errortype", "ServiceException")]
            payload = json.dumps({"message": f"{type(exc).__name__}: {exc}"}).encode()
        finally:
            self.gone.pop(call_id, None)
        raw = json.dumps(headers, separators=(",", ":")).encode() if headers else b""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                RESPONSE.pack(call_id, status, len(raw), len(payload)) + raw + payload
            )


async def serve_channel(dispatch: Dispatch, port: int) -> asyncio.AbstractServer | None:
    """Listen on the channel of the runtime serving HTTP on ``port``; None where impossible
    (not Linux, or the name is taken: the gateway then uses HTTP)."""
    if not sys.platform.startswith("linux"):
        return None
    tasks: set[asyncio.Task[None]] = set()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(address_for_port(port))
        sock.listen(1024)
        sock.setblocking(False)
        return await asyncio.get_running_loop().create_unix_server(
            lambda: _ServerConnection(dispatch, tasks), sock=sock, backlog=1024
        )
    except OSError as exc:
        sock.close()
        logger.warning("invoke channel not available (%s); the gateway will use HTTP", exc)
        return None


# -- the gateway's side ---------------------------------------------------------------------


class _ClientConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.pending: dict[int, asyncio.Future[ChannelReply]] = {}
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ChannelLost(f"connection lost ({exc!r})"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= RESPONSE.size:
            call_id, status, head_len, body_len = RESPONSE.unpack_from(buffer)
            end = RESPONSE.size + head_len + body_len
            if len(buffer) < end:
                return
            headers = (
                {
                    k.lower(): v
                    for k, v in json.loads(buffer[RESPONSE.size : RESPONSE.size + head_len])
                }
                if head_len
                else {}
            )
            body = bytes(buffer[RESPONSE.size + head_len : end])
            del buffer[:end]
            future = self.pending.pop(call_id, None)
            if future is not None and not future.done():
                future.set_result(ChannelReply(status, headers, body))


def _expire(future: asyncio.Future[ChannelReply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class ChannelClient:
    """One multiplexed connection to the runtime's channel (per gateway worker process)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._conn: _ClientConnection | None = None
        self._next_id = 0
        self._retry_at = 0.0
        self._connecting: asyncio.Future[_ClientConnection | None] | None = None

    @property
    def usable(self) -> bool:
        """False while a failed connection attempt is recent (callers use HTTP meanwhile)."""
        conn = self._conn
        return (conn is not None and not conn.lost) or time.monotonic() >= self._retry_at

    async def _connection(self) -> _ClientConnection:
        conn = self._conn
        if conn is not None and not conn.lost:
            return conn
        if self._connecting is None:  # one connection attempt at a time
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            conn = await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None
        if conn is None:
            raise ChannelUnavailable(f"cannot connect to {self.address!r}")
        return conn

    async def _connect(self) -> _ClientConnection | None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self.address)
            _transport, conn = await loop.create_unix_connection(_ClientConnection, sock=sock)
        except OSError:
            sock.close()
            self._retry_at = time.monotonic() + RETRY_AFTER_S
            self._conn = None
            return None
        self._conn = conn
        return conn

    async def invoke(
        self, function: str, payload: bytes, timeout: float, tail: bool = False
    ) -> ChannelReply:
        """One RequestResponse invocation. ``TimeoutError`` after ``timeout`` s;
        ``ChannelUnavailable`` when there is no channel (nothing was sent: use HTTP),
        ``ChannelLost`` when it was lost in flight (the call may have run)."""
        conn = await self._connection()
        transport = conn.transport
        if transport is None:
            raise ChannelUnavailable("connection closed")
        self._next_id = call_id = (self._next_id + 1) & 0xFFFFFFFF
        name = function.encode()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChannelReply] = loop.create_future()
        conn.pending[call_id] = future
        transport.write(
            REQUEST.pack(call_id, FLAG_TAIL if tail else 0, len(name), len(payload))
            + name
            + payload
        )
        timer = loop.call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()
            conn.pending.pop(call_id, None)
            if not future.done() or future.cancelled() or future.exception() is not None:
                # timed out or our own caller went away: tell the runtime not to run it
                transport = conn.transport
                if transport is not None and not transport.is_closing():
                    transport.write(REQUEST.pack(call_id, FLAG_CANCEL, 0, 0))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            with contextlib.suppress(Exception):
                conn.transport.close()
