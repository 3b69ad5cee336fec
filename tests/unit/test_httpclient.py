"""harness.httpclient: one blocking HTTP call with one error mapping, for every harness client
(raw bodies, custom headers, the control secret only when asked), and ``call_json`` as the fault
clients use it (still importable from ``harness.env.jsonhttp``)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.chaos.thirdparty import send
from harness.env import secret
from harness.env.jsonhttp import call_json
from harness.errors import HarnessError
from harness.httpclient import (
    Answer,
    HttpClientError,
    HttpStatusError,
    NoAnswerError,
    call,
)
from tests.loopback import serving


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/teapot":
            self._answer(418, b'{"message": "short and stout"}')
        elif self.path == "/plain":
            self._answer(503, b"down for a bit")
        else:  # echo what was received
            seen = {"path": self.path, "headers": dict(self.headers.items())}
            self._answer(200, json.dumps(seen).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/raw":
            self._answer(201, body)
        elif json.loads(body).get("bad"):
            self._answer(400, b'{"message": "no such rule"}')
        else:
            self._answer(200, json.dumps({"echo": json.loads(body)}).encode())

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Answer", "yes")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_an_answer_has_its_status_raw_body_and_headers(server: str) -> None:
    answer = call("POST", f"{server}/raw", b"\x00raw bytes", headers={"X-Amz-Target": "T"})
    assert isinstance(answer, Answer)
    assert (answer.status, answer.body) == (201, b"\x00raw bytes")
    assert answer.headers["X-Answer"] == "yes"


def test_custom_headers_are_sent_and_the_secret_only_for_a_control_call(
    server: str, tmp_path: Path
) -> None:
    secret.ensure_secret(tmp_path)
    secret.register({"runtime_url": server}, tmp_path)
    plain = call("GET", f"{server}/echo", headers={"X-Amz-Target": "AmazonSQS.X"}).json()
    assert plain["headers"]["X-Amz-Target"] == "AmazonSQS.X"
    assert "X-Harness-Secret" not in plain["headers"]  # an AWS call does not carry it
    control = call("GET", f"{server}/echo", control=True).json()
    assert control["headers"]["X-Harness-Secret"] == secret.read_secret(tmp_path)


def test_an_error_status_is_one_error_with_status_body_and_message(server: str) -> None:
    with pytest.raises(HttpStatusError) as caught:
        call("GET", f"{server}/teapot")
    error = caught.value
    assert error.status == 418 and error.body == b'{"message": "short and stout"}'
    assert str(error) == f"GET {server}/teapot was refused (418): short and stout"
    assert isinstance(error, HarnessError) and isinstance(error, OSError)
    with pytest.raises(HttpStatusError, match=r"refused \(503\): down for a bit") as plain:
        call("GET", f"{server}/plain")
    assert plain.value.reason == "HTTP 503: down for a bit"


def test_no_answer_is_one_error_with_the_callers_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(NoAnswerError, match="does not answer") as caught:
        call("GET", f"http://127.0.0.1:{port}/x", timeout=2, fix="start it")
    assert caught.value.fix == "start it"
    assert isinstance(caught.value, HttpClientError) and isinstance(caught.value, OSError)
    assert "refused" in caught.value.reason.lower()
    with pytest.raises(HarnessError, match="does not answer") as json_call:
        call_json("GET", f"http://127.0.0.1:{port}/x", timeout=2, fix="start it")
    assert json_call.value.fix == "start it"


def test_json_of_an_empty_body_is_the_given_default_and_bad_json_fails() -> None:
    assert Answer(204, b"").json() is None
    assert Answer(204, b"").json({}) == {}
    with pytest.raises(ValueError):
        Answer(200, b"<html>").json()


def test_a_json_call_answers_json_and_an_empty_answer_is_none(server: str) -> None:
    assert call_json("POST", f"{server}/x", {"a": 1}) == {"echo": {"a": 1}}
    assert call_json("DELETE", f"{server}/x") is None


def test_a_json_refusal_names_the_call_the_status_and_the_message(server: str) -> None:
    with pytest.raises(HarnessError, match=r"POST .*/x was refused \(400\): no such rule"):
        call_json("POST", f"{server}/x", {"bad": True})
    with pytest.raises(HarnessError, match=r"was refused \(400\): no such rule"):
        send("POST", f"{server}/x", {"bad": True})  # the fault clients map errors the same way
