"""LocalStack's health check through harness.httpclient: the health document when it answers,
a BackendError naming the URL, the reason and the fix when it does not."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from harness.env.backends.localstack import _localstack_health as localstack_health
from harness.errors import BackendError
from tests.loopback import serving


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"services": {"s3": "running"}}' if self.path == "/_localstack/health" else b""
        self.send_response(200 if body else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_the_health_document_is_returned(server: str) -> None:
    assert localstack_health(server + "/") == {"services": {"s3": "running"}}


def test_no_localstack_is_a_backend_error_with_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(BackendError, match=r"does not answer /_localstack/health \(.*refused") as e:
        localstack_health(url)
    assert e.value.fix is not None and "HARNESS_LOCALSTACK_URL" in e.value.fix
