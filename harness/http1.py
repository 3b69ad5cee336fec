"""HTTP/1.1 on asyncio streams, for the two hot paths that speak it by hand: the gateway's
client (:mod:`harness.gateway.client`, to the runtime and the edge) and the AWS edge's proxy
(:mod:`harness.edge.proxy`, to the emulators). Standard library only.

* :class:`IdleConnections`: the kept-alive connections to one origin, reused last-in first-out
  (a closed or half-closed one is dropped, never handed out);
* :func:`read_chunked`: a ``Transfer-Encoding: chunked`` body, decoded, with sizes checked
  (:class:`BadMessage` 400), a size ``limit`` (413) and a ``timeout`` per read (400);
* :func:`read_response`: one response (status line, headers, a body framed by
  ``Content-Length``, chunks or the connection's end) and whether the connection can serve
  another request.

The blocking client of the harness's own control calls is :mod:`harness.httpclient`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = [
    "MAX_HEAD",
    "NO_BODY_STATUS",
    "BadMessage",
    "IdleConnections",
    "RawResponse",
    "read_chunked",
    "read_response",
]

MAX_HEAD = 64 * 1024  # a head above this is refused (the StreamReader's limit is 4 times it)
NO_BODY_STATUS = frozenset({204, 304})
HEX = frozenset(b"0123456789abcdefABCDEF")

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class BadMessage(Exception):
    """A malformed message (or one over a limit): ``status`` is the answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class IdleConnections:
    """The kept-alive connections to ``host:port`` not in use now (at most ``max_idle``)."""

    def __init__(self, host: str, port: int, max_idle: int) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle: list[Connection] = []

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection, and whether it was reused (a reused one may turn out stale: retry
        once on a fresh one); ``OSError`` when the origin refuses."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD * 4)
        return reader, writer, False

    def put(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep a connection whose last response was read whole (closed when too many are)."""
        if len(self.idle) < self.max_idle and not writer.is_closing():
            self.idle.append((reader, writer))
        else:
            writer.close()

    def close(self) -> list[asyncio.StreamWriter]:
        """Close every idle connection; their writers (to await ``wait_closed`` on)."""
        writers = []
        while self.idle:
            _reader, writer = self.idle.pop()
            writers.append(writer)
            try:
                writer.close()
            except Exception:  # an already broken transport: nothing left to close
                continue
        return writers


async def read_chunked(
    reader: asyncio.StreamReader,
    *,
    limit: int | None = None,
    keep: bool = True,
    timeout: float | None = None,
) -> bytes:
    """A chunked body, decoded (``b""`` when not ``keep``: read and dropped). A malformed size
    line is :class:`BadMessage` 400, a body over ``limit`` 413, a read that takes longer than
    ``timeout`` (a chunk gets ``timeout`` plus 1 s per MB) 400."""
    data = bytearray()
    total = 0
    while True:
        try:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)
        except asyncio.LimitOverrunError:
            raise BadMessage(400, "chunk size line too long") from None
        except TimeoutError:
            raise BadMessage(400, "request body not received in time") from None
        text = size_line.split(b";", 1)[0].strip()
        if not text or len(text) > 16 or any(c not in HEX for c in text):
            raise BadMessage(400, f"bad chunk size {text[:20]!r}")
        size = int(text, 16)
        if size == 0:
            # trailers, up to the blank line
            while (await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)) != b"\r\n":
                pass
            return bytes(data)
        total += size
        if limit is not None and total > limit:
            raise BadMessage(413, f"chunked body over {limit} bytes")
        wait = None if timeout is None else timeout + size / 1e6
        chunk = await asyncio.wait_for(reader.readexactly(size), wait)
        if keep:
            data += chunk
        if await reader.readexactly(2) != b"\r\n":
            raise BadMessage(400, "chunk not followed by CRLF")


@dataclass(slots=True)
class RawResponse:
    status: int
    status_line: bytes
    lines: list[bytes]  # the header lines as received
    headers: dict[bytes, bytes]  # lower-case names, values stripped (last one wins)
    body: bytes
    keep: bool  # the connection can carry another request


async def read_response(
    reader: asyncio.StreamReader,
    method: str,
    *,
    limit: int | None = None,
    timeout: float | None = None,
) -> RawResponse:
    """One response to a ``method`` request (a chunked body: up to ``limit``, ``timeout`` per
    read, as :func:`read_chunked`)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0]
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get(b"connection", b"").lower() != b"close" and status_line.startswith(
        b"HTTP/1.1"
    )
    if method == "HEAD" or status in NO_BODY_STATUS or 100 <= status < 200:
        body = b""
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = await read_chunked(reader, limit=limit, timeout=timeout)
    elif b"content-length" in headers:
        length = int(headers[b"content-length"])
        body = await reader.readexactly(length) if length else b""
    else:
        body = await reader.read()
        keep = False
    return RawResponse(status, status_line, lines[1:], headers, body, keep)
