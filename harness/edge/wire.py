"""The edge's side of the HTTP/1.1 wire: reading a client's request (head, declared length,
body) within the edge's limits and time, and a response to relay from an emulator.

What is malformed or over a limit is :class:`~harness.http1.BadMessage` (the proxy answers it
and closes the connection); a client that leaves is :class:`ClientGone`. The chunked reader,
the response framing and the kept-alive connections are :mod:`harness.http1`'s.
"""

from __future__ import annotations

import asyncio
import os

from harness.http1 import MAX_HEAD, NO_BODY_STATUS, BadMessage, read_chunked, read_response

__all__ = [
    "HEAD_TIMEOUT_S",
    "IDLE_TIMEOUT_S",
    "MAX_BUFFERED_BODY",
    "MAX_STREAMED_BODY",
    "STREAM_ABOVE",
    "STREAM_CHUNK",
    "ClientGone",
    "body_length",
    "read_body",
    "read_head",
    "relayed_response",
    "skip_body",
]

# a request head must arrive whole within this, once it has begun (HARNESS_HEAD_TIMEOUT_S)
HEAD_TIMEOUT_S = float(os.environ.get("HARNESS_HEAD_TIMEOUT_S") or 20.0)
IDLE_TIMEOUT_S = 120.0  # a kept-alive connection with no new request is closed after this
# Bodies: JSON/query-protocol calls (DynamoDB's largest batch is 16 MB) are read whole up to
# MAX_BUFFERED_BODY; an S3 upload above STREAM_ABOVE is streamed to the emulator in chunks (never
# held in memory) up to S3's single-PUT limit; anything larger is 413.
MAX_BUFFERED_BODY = 16 * 1024 * 1024
STREAM_ABOVE = 1024 * 1024
MAX_STREAMED_BODY = 5 * 1024**3
STREAM_CHUNK = 256 * 1024


class ClientGone(Exception):
    """The client closed the connection (or stayed idle past IDLE_TIMEOUT_S)."""


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """One request head: the next request may be idle for IDLE_TIMEOUT_S (keep-alive), but once
    its first byte has come the whole head must within HEAD_TIMEOUT_S and MAX_HEAD bytes."""
    try:
        first = await asyncio.wait_for(reader.readexactly(1), IDLE_TIMEOUT_S)
    except (asyncio.IncompleteReadError, TimeoutError):
        raise ClientGone from None
    try:
        rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
    except asyncio.LimitOverrunError:
        raise BadMessage(400, f"request head larger than {MAX_HEAD} bytes") from None
    except TimeoutError:
        raise BadMessage(400, f"request head not complete within {HEAD_TIMEOUT_S:g} s") from None
    except asyncio.IncompleteReadError:
        raise ClientGone from None
    head = first + rest
    if len(head) > MAX_HEAD:
        raise BadMessage(400, f"request head larger than {MAX_HEAD} bytes")
    return head


def body_length(headers: dict[str, str]) -> int | None:
    """The declared body length (``None``: chunked); :class:`BadMessage` if malformed."""
    encoding = headers.get("transfer-encoding", "").strip().lower()
    if encoding:
        if encoding != "chunked":
            raise BadMessage(501, f"unsupported Transfer-Encoding {encoding!r}")
        if "content-length" in headers:
            raise BadMessage(400, "both Content-Length and Transfer-Encoding")
        return None
    raw = headers.get("content-length", "0").strip() or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise BadMessage(400, f"bad Content-Length {raw[:40]!r}")
    length = int(raw)
    if length > MAX_STREAMED_BODY:
        raise BadMessage(413, f"request body of {length} bytes is over the edge's limit")
    return length


async def read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], length: int | None = 0
) -> bytes:
    if length is None or headers.get("transfer-encoding", "").lower() == "chunked":
        return await read_chunked(reader, limit=MAX_BUFFERED_BODY, timeout=HEAD_TIMEOUT_S)
    length = length if length is not None else int(headers.get("content-length", "0") or 0)
    if not length:
        return b""
    try:
        return await asyncio.wait_for(reader.readexactly(length), HEAD_TIMEOUT_S + length / 1e6)
    except TimeoutError:
        raise BadMessage(400, "request body not received in time") from None


async def skip_body(
    reader: asyncio.StreamReader, headers: dict[str, str], length: int | None
) -> None:
    """Read and drop a body (bounded memory), so the connection can serve the next request."""
    if length is None:
        await read_chunked(reader, limit=MAX_BUFFERED_BODY, keep=False, timeout=HEAD_TIMEOUT_S)
        return
    remaining = length
    while remaining:
        chunk = await asyncio.wait_for(reader.read(min(STREAM_CHUNK, remaining)), HEAD_TIMEOUT_S)
        if not chunk:
            raise ClientGone
        remaining -= len(chunk)


async def relayed_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bool]:
    """Read one response; return (status, bytes to relay, upstream connection reusable). The
    relayed head drops the upstream's framing (the body is relayed whole, with its length)."""
    raw = await read_response(reader, method, limit=MAX_STREAMED_BODY, timeout=HEAD_TIMEOUT_S)
    kept = [raw.status_line]
    for line in raw.lines:
        if line.partition(b":")[0].strip().lower() not in _FRAMING:
            kept.append(line)
    bodiless = method == "HEAD" or raw.status in NO_BODY_STATUS or 100 <= raw.status < 200
    if bodiless and b"content-length" in raw.headers:
        # HEAD keeps the upstream's Content-Length: it describes the object, not this body.
        kept.append(b"Content-Length: " + raw.headers[b"content-length"])
    if method != "HEAD" and raw.status not in NO_BODY_STATUS:
        kept.append(b"Content-Length: " + str(len(raw.body)).encode())
    return raw.status, b"\r\n".join(kept) + b"\r\n\r\n" + raw.body, raw.keep


_FRAMING = frozenset({b"transfer-encoding", b"content-length", b"connection", b"keep-alive"})
