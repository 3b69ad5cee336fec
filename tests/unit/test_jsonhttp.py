"""One JSON call with one error mapping (harness.env.jsonhttp), as the fault clients use it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.chaos.thirdparty import send
from harness.env.jsonhttp import call_json
from harness.errors import HarnessError


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("bad"):
            answer, status = b'{"message": "no such rule"}', 400
        else:
            answer, status = json.dumps({"echo": body}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_json_call_answers_json_and_an_empty_answer_is_none(server: str) -> None:
    assert call_json("POST", f"{server}/x", {"a": 1}) == {"echo": {"a": 1}}
    assert call_json("DELETE", f"{server}/x") is None


def test_a_refusal_names_the_call_the_status_and_the_message(server: str) -> None:
    with pytest.raises(HarnessError, match=r"POST .*/x was refused \(400\): no such rule"):
        call_json("POST", f"{server}/x", {"bad": True})
    with pytest.raises(HarnessError, match=r"was refused \(400\): no such rule"):
        send("POST", f"{server}/x", {"bad": True})  # the fault clients map errors the same way


def test_no_answer_says_so_with_the_caller_s_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(HarnessError, match="does not answer") as caught:
        call_json("GET", f"http://127.0.0.1:{port}/x", timeout=2, fix="start it")
    assert caught.value.fix == "start it"
