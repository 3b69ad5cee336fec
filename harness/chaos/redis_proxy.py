"""A TCP proxy in front of Redis that can fail the way a cache cluster fails.

Functions are given this proxy's URL (``redis_proxy_url``); the harness itself talks to Redis
directly. Modes (``POST /mode`` on the control port, or ``harness fault redis MODE``):

``ok``       forward bytes both ways
``down``     refuse connections (the port stops listening) and drop the open ones
``hang``     accept and read, never answer (clients hit their socket timeouts)
``latency``  forward, each chunk delayed by ``latency_ms``
``reset``    reset (RST) every open and new connection
``reboot``   ``FLUSHALL`` on Redis (the data is lost, as when a node restarts) and drop every
             connection, then back to ``ok``

A mode can carry ``duration_s``, after which the proxy returns to ``ok`` by itself. Every change is
recorded with its time. Written on asyncio rather than Toxiproxy because Toxiproxy's binary is not
installable from the package registries here, and because ``reboot`` needs to reach Redis itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.env.secret import ControlGuard

__all__ = ["MODES", "RedisProxy", "main"]

logger = logging.getLogger(__name__)

CONTROL_HEAD_TIMEOUT_S = 10.0
CONTROL_MAX_BODY = 64 * 1024
MODES = ("ok", "down", "hang", "latency", "reset", "reboot")


@dataclass
class RedisProxy:
    listen_port: int
    upstream_host: str
    upstream_port: int
    mode: str = "ok"
    latency_ms: float = 0.0
    until: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    server: asyncio.base_events.Server | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"accepted": 0, "refused": 0, "reset": 0}
    )

    async def start(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._client, "127.0.0.1", self.listen_port, reuse_address=True
            )

    async def _stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)
            self.server = None

    def _drop_all(self, *, rst: bool) -> None:
        for client, upstream in list(self.connections):
            for writer in (client, upstream):
                if rst:
                    _abort(writer)
                else:
                    writer.close()
        self.connections.clear()

    async def set_mode(
        self, mode: str, *, latency_ms: float = 0.0, duration_s: float | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.history.append(
            {"time": time.time(), "mode": mode, "latency_ms": latency_ms, "duration_s": duration_s}
        )
        if mode == "reboot":
            await self._flushall()
            self._drop_all(rst=True)
            mode, duration_s = "ok", None
        self.mode, self.latency_ms = mode, latency_ms
        self.until = time.time() + duration_s if duration_s else None
        if mode == "down":
            await self._stop_listening()
            self._drop_all(rst=False)
        else:
            await self._listen()
        if mode == "reset":
            self._drop_all(rst=True)

    async def _flushall(self) -> None:
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        writer.write(b"*1\r\n$8\r\nFLUSHALL\r\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    async def tick(self) -> None:
        """Return to ``ok`` when a mode's duration is over."""
        while True:
            await asyncio.sleep(0.05)
            if self.until is not None and time.time() >= self.until:
                logger.info("redis proxy: %s ended, back to ok", self.mode)
                await self.set_mode("ok")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["accepted"] += 1
        if self.mode == "reset":
            self.counts["reset"] += 1
            _abort(writer)
            return
        if self.mode == "hang":
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            self.counts["refused"] += 1
            _abort(writer)
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self.connections.discard(pair)
        for w in pair:
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            while self.mode == "hang":
                await asyncio.sleep(0.05)
            if self.mode == "latency" and self.latency_ms > 0:
                await asyncio.sleep(self.latency_ms / 1000)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()

    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "latency_ms": self.latency_ms,
            "until": self.until,
            "listen_port": self.listen_port,
            "upstream": f"{self.upstream_host}:{self.upstream_port}",
            "open_connections": len(self.connections),
            "counts": self.counts,
            "history": self.history,
        }


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
    transport = writer.transport
    if hasattr(transport, "abort"):
        transport.abort()


async def _control(
    proxy: RedisProxy,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    guard: ControlGuard | None = None,
) -> None:
    """A minimal HTTP/1.1 control endpoint: GET /state, POST /mode {"mode": ...} (both need
    the environment's secret when ``guard`` is given), GET /_harness/health."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONTROL_HEAD_TIMEOUT_S)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        length = int(headers.get("content-length", "0") or 0)
        if not 0 <= length <= CONTROL_MAX_BODY:
            raise ValueError("bad Content-Length")
        body = await reader.readexactly(length)
        status, payload = 200, proxy.state()
        if path != "/_harness/health" and guard is not None and not guard.allowed(headers):
            peer = writer.get_extra_info("peername")
            client = (str(peer[0]), int(peer[1])) if peer else None
            await asyncio.to_thread(guard.record, method, path, client)
            status, payload = 403, guard.refusal(method, path)
        elif method == "POST" and path == "/mode":
            data = json.loads(body or b"{}")
            try:
                await proxy.set_mode(
                    str(data.get("mode", "")),
                    latency_ms=float(data.get("latency_ms", 0) or 0),
                    duration_s=float(data["duration_s"]) if data.get("duration_s") else None,
                )
                payload = proxy.state()
            except (ValueError, OSError) as exc:
                status, payload = 400, {"message": str(exc)}
        elif path not in ("/state", "/_harness/health"):
            status, payload = 404, {"message": f"no control endpoint {method} {path}"}
        out = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(out)}\r\nConnection: close\r\n\r\n".encode()
            + out
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ValueError, ConnectionError, TimeoutError):
        pass
    except asyncio.LimitOverrunError:
        pass
    finally:
        writer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.chaos.redis_proxy")
    parser.add_argument("--port", type=int, required=True, help="port functions connect to")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the real Redis")
    parser.add_argument(
        "--state-dir", default=None, help="the environment's folder (its control secret)"
    )
    args = parser.parse_args(argv)
    guard = ControlGuard(Path(args.state_dir), "redis-proxy") if args.state_dir else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host, _, port = args.upstream.rpartition(":")

    async def run() -> None:
        proxy = RedisProxy(args.port, host or "127.0.0.1", int(port))
        await proxy.start()
        control = await asyncio.start_server(
            lambda r, w: _control(proxy, r, w, guard),
            "127.0.0.1",
            args.control_port,
            reuse_address=True,
        )
        ticker = asyncio.ensure_future(proxy.tick())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        ticker.cancel()
        control.close()
        await proxy._stop_listening()
        proxy._drop_all(rst=False)

    asyncio.run(run())


if __name__ == "__main__":
    main()
