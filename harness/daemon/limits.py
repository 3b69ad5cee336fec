"""The gateway's HTTP limits, as API Gateway has them, for both of its servers.

* A request head must arrive whole within ``HEAD_TIMEOUT_S`` once a connection is open (or, on
  a kept-alive connection, once its first byte came): a half-sent head is answered 408 and
  closed instead of holding a connection for minutes.
* API Gateway refuses request lines plus headers over 10,240 bytes; the gateway application
  answers those 431 (:data:`MAX_HEADER_BYTES`). The server itself stops reading a head at
  ``MAX_HEAD_BYTES`` (431, closed), so a 10 MB header never sits in memory.
* Bodies are capped while they stream (``harness.gateway.gateway.MAX_PAYLOAD``: 10 MB, 413).

:class:`HeadGuard` keeps the first two for one connection; :class:`LimitedHttpToolsProtocol`
(uvicorn's httptools protocol, the default server) and the experimental ``--server lean``
(:mod:`harness.daemon.server`) both use it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "HEAD_TIMEOUT_S",
    "MAX_HEADER_BYTES",
    "MAX_HEAD_BYTES",
    "PAYLOAD_TOO_LARGE",
    "REQUEST_TIMEOUT",
    "TOO_LARGE",
    "HeadGuard",
    "LimitedHttpToolsProtocol",
]

# HARNESS_HEAD_TIMEOUT_S changes it (the gateway and the edge alike)
HEAD_TIMEOUT_S = float(os.environ.get("HARNESS_HEAD_TIMEOUT_S") or 20.0)
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's limit on the request line and headers
MAX_HEAD_BYTES = 64 * 1024  # past this the server answers 431 without reading further

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"x-amzn-errortype: RequestHeaderFieldsTooLargeException\r\n"
    b'content-length: 46\r\nconnection: close\r\n\r\n{"message":"Request Header Fields Too Large"}'
)
PAYLOAD_TOO_LARGE = (
    b"HTTP/1.1 413 Request Entity Too Large\r\ncontent-type: application/json\r\n"
    b"x-amzn-errortype: RequestTooLargeException\r\n"
    b'content-length: 38\r\nconnection: close\r\n\r\n{"message":"Request Entity Too Large"}'
)
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b'content-length: 30\r\nconnection: close\r\n\r\n{"message":"Request Timeout"}\n'
)


class HeadGuard:
    """The request-head limits of one connection, for both servers: a head must arrive whole
    within ``HEAD_TIMEOUT_S`` (once the connection opened, or once a kept-alive connection's
    next request began) and stay under ``MAX_HEAD_BYTES``."""

    __slots__ = ("_bytes", "_on_timeout", "_timer", "in_head")

    def __init__(self, on_timeout: Callable[[], None]) -> None:
        self._on_timeout = on_timeout  # answers 408 and closes (called only while in a head)
        self._timer: asyncio.TimerHandle | None = None
        self._bytes = 0
        self.in_head = True

    def arm(self) -> None:
        self.disarm()
        self._timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, self._expired)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.in_head:
            self._on_timeout()

    def too_large(self, data: bytes) -> bool:
        """Count ``data`` against the head (the body after it does not count); True, with the
        timer disarmed, once the head is over ``MAX_HEAD_BYTES`` (answer 431 and close)."""
        if not self.in_head:
            return False
        end = data.find(b"\r\n\r\n")
        self._bytes += end + 4 if end >= 0 else len(data)
        if self._bytes > MAX_HEAD_BYTES:
            self.disarm()
            return True
        return False

    def next_request(self) -> None:
        """A kept-alive connection's next request began: a new head, a new timer."""
        if not self.in_head:
            self.in_head = True
            self._bytes = 0
            self.arm()

    def head_complete(self) -> None:
        self.in_head = False
        self.disarm()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout and a head size limit."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head = HeadGuard(self._head_timeout)
        self._head.arm()

    def _head_timeout(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head.disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head.too_large(data):
            self.transport.write(TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head.next_request()

    def on_headers_complete(self) -> None:
        self._head.head_complete()
        super().on_headers_complete()
