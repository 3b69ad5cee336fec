"""Live health probes: each sends a real request and says whether a real answer came back."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

__all__ = ["http_ok", "redis_ping"]


def http_ok(url: str, *, timeout: float = 2.0, accept_any_status: bool = True) -> bool:
    """True if ``GET url`` gets an HTTP answer (any status, unless ``accept_any_status`` is off)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return accept_any_status or 200 <= response.status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def redis_ping(url: str, *, timeout: float = 2.0) -> bool:
    """True if the Redis server at ``redis://host:port`` answers ``PING`` with ``+PONG``."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
