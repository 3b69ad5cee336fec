"""EXPERIMENTAL, opt-in (``--server lean`` / ``HARNESS_GATEWAY_SERVER=lean``): a lean HTTP/1.1
server for ASGI applications: asyncio (uvloop) + httptools, N workers.

The gateway's default server is uvicorn (:mod:`harness.daemon.__main__`); nothing else in the
package imports this module. It stays while ``benchmarks/bench_gateway.py --server lean`` can
measure it; it has not shown a gain over uvicorn on the shared 2-core machine. The request-head
limits are the uvicorn server's own (:class:`harness.daemon.limits.HeadGuard`).

Why not uvicorn: the gateway's own work per request is a few hundred microseconds, and uvicorn
adds ~100 µs of Python on top (a ``RequestResponseCycle`` per request, flow-control machinery,
receive/send coroutines that each go through several layers, and the response head and body
written as two ``transport.write`` calls, i.e. two loopback deliveries). This server implements
the part of ASGI 3.0 (HTTP + lifespan) the daemon and the benchmark's hello-world use, with the
same C parser: one scope dict per request, a ``receive`` that hands over the whole body at once,
and a ``send`` that buffers the response and writes head and body with one ``transport.write``.

HTTP: keep-alive (HTTP/1.1 default, HTTP/1.0 with ``Connection: keep-alive``), pipelining
(requests on one connection are answered in order), ``Content-Length`` and chunked request
bodies (decoded by httptools; past ``max_body`` bytes the rest is dropped and the application
sees a longer-than-allowed body, which the gateway answers 413), ``Expect: 100-continue``,
malformed requests answered 400 and closed. Responses are buffered until the last body chunk
(``more_body`` false) and sent with ``Content-Length`` unless the application set it or
``Transfer-Encoding``. No TLS, no upgrades/WebSockets: it only listens on loopback.

Workers: with ``workers > 1`` a supervisor process forks N workers, each with its own listening
socket bound with ``SO_REUSEPORT`` (the kernel spreads connections across them), and replaces a
worker that dies — the behaviour :mod:`harness.chaos.capacity` relies on (a ``SIGSTOP``-ped
supervisor replaces nobody). ``SIGTERM``/``SIGINT`` stop the workers (lifespan shutdown) and
then the supervisor. With one worker the process serves by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools

from harness.daemon.limits import (
    PAYLOAD_TOO_LARGE,
    REQUEST_TIMEOUT,
    TOO_LARGE,
    HeadGuard,
)

__all__ = ["MAX_BODY", "load_app", "run", "serve_app"]

logger = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024 + 1  # one byte more than API Gateway's limit: enough to answer 413
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n"
    b"connection: close\r\n\r\nBad Request"
)
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
    b"content-length: 21\r\n\r\nInternal Server Error"
)

App = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class _Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "overflow", "raw_path", "version")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.overflow = 0
        self.raw_path = b""
        self.method = "GET"
        self.version = "1.1"
        self.keep_alive = True


class _Connection(asyncio.Protocol):
    """One client connection: parse with httptools, run the app per request, in order."""

    __slots__ = (
        "_app",
        "_busy",
        "_client",
        "_closed",
        "_current",
        "_head",
        "_parser",
        "_pending",
        "_server",
        "_size",
        "_tasks",
        "_transport",
    )

    def __init__(self, app: App, server_addr: tuple[str, int], tasks: set[Any]) -> None:
        self._app = app
        self._server = server_addr
        self._tasks = tasks
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._current = _Request()
        self._pending: deque[_Request] = deque()
        self._busy = False
        self._closed = False
        self._size = 0
        self._head = HeadGuard(self._head_timeout)  # the head limits, as the uvicorn server's

    def _head_timeout(self) -> None:
        if self._transport is not None and not self._busy:
            self._transport.write(REQUEST_TIMEOUT)
            self._transport.close()

    # -- transport ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._client = (str(peer[0]), int(peer[1])) if peer else None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._transport = None
        self._head.disarm()

    def data_received(self, data: bytes) -> None:
        if self._head.too_large(data):
            if self._transport is not None:
                self._transport.write(TOO_LARGE)
                self._transport.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject()
        except httptools.HttpParserError:
            self._reject()

    def _reject(self) -> None:
        if self._transport is not None and not self._busy:
            self._transport.write(_BAD_REQUEST)
            self._transport.close()
        elif self._transport is not None:  # answer what is in flight, then close
            self._pending.clear()
            self._current.keep_alive = False

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._current = _Request()
        self._size = 0
        self._head.next_request()  # a kept-alive connection's next request: a new head

    def on_url(self, url: bytes) -> None:
        self._current.raw_path += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._head.head_complete()
        request = self._current
        parser = self._parser
        request.method = parser.get_method().decode("ascii", "replace")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        if self._transport is not None:
            for name, value in request.headers:
                # API Gateway's 413 at once: the body is never read, the connection closes
                too_large = name == b"content-length" and value.isdigit() and int(value) >= MAX_BODY
                if too_large and not self._busy:
                    self._transport.write(PAYLOAD_TOO_LARGE)
                    self._transport.close()
                    self._closed = True
                    return
                if name == b"expect" and value.lower() == b"100-continue":
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        room = MAX_BODY - self._size
        if room <= 0:
            self._current.overflow += len(body)
            if not self._busy and self._transport is not None and not self._closed:
                # a (chunked) body past API Gateway's 10 MB: 413 now, the rest is never read
                self._transport.write(PAYLOAD_TOO_LARGE)
                self._transport.close()
                self._closed = True
            return
        chunk = body if len(body) <= room else body[:room]
        self._current.body.append(chunk)
        self._size += len(chunk)

    def on_message_complete(self) -> None:
        self._pending.append(self._current)
        if not self._busy:
            self._busy = True
            task = asyncio.get_running_loop().create_task(self._serve())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- requests ----------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while self._pending and not self._closed:
                request = self._pending.popleft()
                await self._one(request)
                if not request.keep_alive:
                    if self._transport is not None:
                        self._transport.close()
                    return
        finally:
            self._busy = False

    async def _one(self, request: _Request) -> None:
        raw = request.raw_path
        path_part, _, query = raw.partition(b"?")
        path_part = path_part.partition(b"#")[0]
        body = b"".join(request.body) if len(request.body) != 1 else request.body[0]
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": request.version,
            "method": request.method,
            "scheme": "http",
            "path": unquote(path_part.decode("latin-1")),
            "raw_path": path_part,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": self._client,
            "server": self._server,
        }
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            while not self._closed:  # an app waiting for the client to go away
                await asyncio.sleep(0.1)
            return {"type": "http.disconnect"}

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        done = False

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers, done
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or ())
            elif kind == "http.response.body":
                if done:
                    return
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(bytes(chunk))
                if not message.get("more_body", False):
                    done = True
                    self._write(request, status, headers, chunks)

        try:
            await self._app(scope, receive, send)
        except Exception:
            logger.exception("ASGI application failed on %s %s", request.method, scope["path"])
            if not status and self._transport is not None:
                self._transport.write(_SERVER_ERROR)
                request.keep_alive = False
            return
        if status and not done:
            self._write(request, status, headers, chunks)
        elif not status and self._transport is not None:  # the app answered nothing
            self._transport.write(_SERVER_ERROR)
            request.keep_alive = False

    def _write(
        self,
        request: _Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        chunks: list[bytes],
    ) -> None:
        transport = self._transport
        if transport is None:
            return
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
        has_length = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length" or lower == b"transfer-encoding":
                has_length = True
            elif lower == b"connection" and value.lower() == b"close":
                request.keep_alive = False
                continue
            out.append(name + b": " + value + b"\r\n")
        if not has_length and status not in (204, 304) and status >= 200:
            out.append(b"content-length: %d\r\n" % len(body))
        if not request.keep_alive:
            out.append(b"connection: close\r\n")
        elif request.version == "1.0":
            out.append(b"connection: keep-alive\r\n")
        out.append(b"\r\n")
        if request.method != "HEAD":
            out.append(body)
        transport.write(b"".join(out))


# -- lifespan, serving, workers ---------------------------------------------------------------


class _Lifespan:
    """Runs the app's ``lifespan`` protocol (startup before serving, shutdown after)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async def receive() -> dict[str, Any]:
            return await self.inbox.get()

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                self.started.set()
            elif message["type"].startswith("lifespan.shutdown"):
                self.stopped.set()

        try:
            await self.app({"type": "lifespan", "asgi": _ASGI}, receive, send)
        except Exception:  # an app without lifespan support: nothing to run
            logger.debug("the app does not support lifespan", exc_info=True)
        finally:
            self.started.set()
            self.stopped.set()

    async def startup(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.started.wait()

    async def shutdown(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), 10)


def _listener(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def load_app(target: str) -> App:
    """``"package.module:attribute"`` → the ASGI application."""
    module_name, _, attribute = target.partition(":")
    app: App = getattr(importlib.import_module(module_name), attribute or "app")
    return app


async def serve_app(app: App, sock: socket.socket) -> None:
    """Serve ``app`` on the listening ``sock`` until SIGTERM/SIGINT, with lifespan."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    lifespan = _Lifespan(app)
    await lifespan.startup()
    tasks: set[Any] = set()
    address = sock.getsockname()
    server_addr = (str(address[0]), int(address[1]))
    server = await loop.create_server(
        lambda: _Connection(app, server_addr, tasks), sock=sock, backlog=2048
    )
    try:
        await stop.wait()
    finally:
        server.close()
        if tasks:  # let in-flight requests finish (bounded)
            await asyncio.wait(list(tasks), timeout=5)
        await lifespan.shutdown()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()


def _worker(target: str, sock: socket.socket) -> None:
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve_app(load_app(target), sock))
    finally:
        loop.close()


def run(target: str, host: str, port: int, workers: int = 1) -> None:
    """Serve the ASGI app ``target`` (``"module:attribute"``) on ``host:port``."""
    if workers <= 1:
        _worker(target, _listener(host, port, reuse_port=False))
        return
    # The supervisor holds the port (fails here if someone else has it), then forks workers,
    # each with a listening socket of its own in the SO_REUSEPORT group.
    guard = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    guard.bind((host, port))
    stopping = False

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                guard.close()
                _worker(target, _listener(host, port, reuse_port=True))
            except BaseException:
                logger.exception("gateway worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        return pid

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children = {spawn() for _ in range(workers)}
    try:
        while not stopping:
            time.sleep(0.2)
            for pid in list(children):
                with contextlib.suppress(ChildProcessError):
                    done, _status = os.waitpid(pid, os.WNOHANG)
                    if done and not stopping:  # replace a worker that died
                        children.discard(pid)
                        logger.warning("gateway worker %d exited; starting another", pid)
                        children.add(spawn())
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in children:
            while time.monotonic() < deadline:
                try:
                    done, _status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        guard.close()
