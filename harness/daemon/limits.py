"""The gateway's HTTP limits, as API Gateway has them, for both of its servers.

* A request head must arrive whole within ``HEAD_TIMEOUT_S`` once a connection is open (or, on
  a kept-alive connection, once its first byte came): a half-sent head is answered 408 and
  closed instead of holding a connection for minutes.
* API Gateway refuses request lines plus headers over 10,240 bytes; the gateway application
  answers those 431 (:data:`MAX_HEADER_BYTES`). The server itself stops reading a head at
  ``MAX_HEAD_BYTES`` (431, closed), so a 10 MB header never sits in memory.
* Bodies are capped while they stream (``harness.gateway.gateway.MAX_PAYLOAD``: 10 MB, 413).

:class:`LimitedHttpToolsProtocol` is uvicorn's httptools protocol with the first two;
``harness.daemon.server`` applies the same constants.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "HEAD_TIMEOUT_S",
    "MAX_HEADER_BYTES",
    "MAX_HEAD_BYTES",
    "PAYLOAD_TOO_LARGE",
    "REQUEST_TIMEOUT",
    "TOO_LARGE",
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


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout and a head size limit."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            end = data.find(b"\r\n\r\n")  # the body that follows the head is not head
            self._head_bytes += end + 4 if end >= 0 else len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._disarm()
                self.transport.write(TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._in_head = True
            self._head_bytes = 0
            self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
