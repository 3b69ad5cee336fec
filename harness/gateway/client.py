"""A tiny HTTP/1.1 client with a pool of kept-alive connections per origin.

The gateway calls the runtime's Invoke API and the AWS edge on every integrated request, so this
is on the hot path: it writes one request, parses only the status line, the headers it needs and
a ``Content-Length``/chunked body, and reuses the connection (the same approach as
``harness.edge.proxy``). Timeouts close the connection instead of returning it to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["HttpPool", "HttpResponse", "Unreachable"]

MAX_HEAD = 64 * 1024


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
        self.max_idle = max_idle
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._host_header = f"{self.host}:{self.port}".encode()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD * 4)
        except OSError as exc:
            raise Unreachable(f"{self.url}: {exc}") from exc
        return reader, writer, False

    def _release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._idle) < self.max_idle and not writer.is_closing():
            self._idle.append((reader, writer))
        else:
            writer.close()

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
                    self._release(reader, writer)
                else:
                    writer.close()
                return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close the idle connections and wait until they are closed."""
        writers = [writer for _reader, writer in self._idle]
        self.close()
        for writer in writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def close(self) -> None:
        while self._idle:
            _reader, writer = self._idle.pop()
            with contextlib.suppress(Exception):
                writer.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[HttpResponse, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0]
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    keep = headers.get("connection", "").lower() != "close" and status_line.startswith(b"HTTP/1.1")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = await reader.readexactly(length) if length else b""
    else:
        body = await reader.read()
        keep = False
    return HttpResponse(status, headers, body), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    data = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(data)
        data += await reader.readexactly(size)
        await reader.readexactly(2)
