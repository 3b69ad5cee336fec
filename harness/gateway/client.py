"""A tiny HTTP/1.1 client with a pool of kept-alive connections per origin.

The gateway calls the runtime's Invoke API and the AWS edge on every integrated request, so this
is on the hot path: it writes one request, parses only the status line, the headers it needs and
a ``Content-Length``/chunked body, and reuses the connection (the wire is
:mod:`harness.http1`, shared with ``harness.edge.proxy``). Timeouts close the connection
instead of returning it to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.http1 import IdleConnections, read_response

__all__ = ["HttpPool", "HttpResponse", "Unreachable"]


class Unreachable(Exception):
    """The server refused or dropped the connection before answering."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names (last value wins)
    body: bytes


class HttpPool:
    """Kept-alive connections to one origin (``http://host:port``)."""

    def __init__(self, url: str, max_idle: int = 256) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base_path = parts.path.rstrip("/")
        self._idle = IdleConnections(self.host, self.port, max_idle)
        self._host_header = f"{self.host}:{self.port}".encode()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        try:
            return await self._idle.get()
        except OSError as exc:
            raise Unreachable(f"{self.url}: {exc}") from exc

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send one request; ``TimeoutError`` after ``timeout`` s, ``Unreachable`` if refused."""
        head = bytearray()
        head += method.encode() + b" " + (self.base_path + path).encode() + b" HTTP/1.1\r\n"
        head += b"Host: " + self._host_header + b"\r\n"
        for name, value in headers or ():
            head += name + b": " + value + b"\r\n"
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        payload = bytes(head) + body
        async with asyncio.timeout(timeout):
            for attempt in (1, 2):
                reader, writer, reused = await self._connection()
                try:
                    writer.write(payload)
                    response, keep = await _read_response(reader, method)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    writer.close()
                    if reused and attempt == 1:
                        continue  # a stale pooled connection; retry once on a fresh one
                    raise Unreachable(f"{self.url}: connection lost ({exc!r})") from exc
                except BaseException:  # timeout or cancellation: the connection is unusable
                    writer.close()
                    raise
                if keep:
                    self._idle.put(reader, writer)
                else:
                    writer.close()
                return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close the idle connections and wait until they are closed."""
        for writer in self._idle.close():
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def close(self) -> None:
        self._idle.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[HttpResponse, bool]:
    raw = await read_response(reader, method)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw.headers.items()}
    return HttpResponse(raw.status, headers, raw.body), raw.keep
