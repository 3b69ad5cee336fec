"""The isolation machine's HTTP client: one kept-alive connection, a request sent once (a timed-out
POST is never sent again), a connection the server dropped while idle replaced transparently,
and a timeout above the gateway's integration timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.isolation.http import CLIENT_TIMEOUT_S, Call, RecordingClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[tuple[str, str, int]]  # (method, path, client port)
    delay_s: float = 0.0
    close_after: bool = False

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen.append((self.command, self.path, self.client_address[1]))
        if type(self).delay_s:
            time.sleep(type(self).delay_s)
        body = b'{"ok": true}'
        try:
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            return  # the client gave up (timeout test)
        if type(self).close_after:
            # an idle keep-alive connection dropped by the server: shut the socket without a
            # word, as a server's idle timeout does, after the answer
            self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def server(**attrs: object) -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], **attrs})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _post(n: int) -> Call:
    return Call(f"create {n}", "POST", "/orders", "acme", "user-1", body={"n": n})


def test_calls_share_one_kept_alive_connection() -> None:
    with server() as (url, handler):
        client = RecordingClient(url)
        for n in range(5):
            assert client.send(_post(n), "t").status == 201
        client.close()
    ports = {port for _, _, port in handler.seen}
    assert len(handler.seen) == 5 and len(ports) == 1, handler.seen
    assert client.requests == 5


def test_a_timed_out_post_is_not_sent_again() -> None:
    with server(delay_s=1.0) as (url, handler):
        client = RecordingClient(url, timeout=0.3)
        with pytest.raises(TimeoutError):
            client.send(_post(1), "t")
        time.sleep(1.2)  # let the server finish the first (slow) request
    assert [m for m, _, _ in handler.seen] == ["POST"], handler.seen


def test_a_connection_the_server_closed_is_replaced() -> None:
    with server(close_after=True) as (url, handler):
        client = RecordingClient(url)
        answers = [client.send(_post(n), "t").status for n in range(3)]
        client.close()
    assert answers == [201, 201, 201]
    assert len(handler.seen) == 3  # each request reached the server exactly once


def test_a_reused_connection_dropped_while_idle_is_retried_once() -> None:
    with server() as (url, handler):
        client = RecordingClient(url)
        assert client.send(_post(1), "t").status == 201
        conn = client._conn
        assert conn is not None and conn.sock is not None
        conn.sock.shutdown(socket.SHUT_RDWR)  # as if the server had closed it while idle
        assert client.send(_post(2), "t").status == 201
        client.close()
    assert [path for _, path, _ in handler.seen] == ["/orders", "/orders"]


def test_a_fresh_connection_refused_is_an_error_not_a_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RecordingClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionRefusedError):
        client.send(_post(1), "t")
    assert client.requests == 1


def test_the_client_waits_longer_than_the_gateway_integration_timeout() -> None:
    from harness.gateway.registry import DEFAULT_TIMEOUT_MS

    assert max(DEFAULT_TIMEOUT_MS.values()) / 1000 < CLIENT_TIMEOUT_S
    assert RecordingClient("http://127.0.0.1:1").timeout == CLIENT_TIMEOUT_S
