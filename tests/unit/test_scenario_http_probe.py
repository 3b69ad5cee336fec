"""A steady-state HTTP probe judges the status it got (an error status is an answer, not a
failure to answer) and fails, naming the URL, when nothing answers (harness.httpclient's
mapping)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

import pytest

from harness.scenario.model import Probe
from harness.scenario.probes import probe
from tests.loopback import serving


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def _run(url: str, **fields: Any) -> dict[str, Any]:
    ctx = SimpleNamespace(state=SimpleNamespace(env=None), scenario=SimpleNamespace(target=None))
    return probe(ctx, Probe(name="p", url=url, **fields), "before")  # type: ignore[arg-type]


def test_the_expected_status_passes(server: str) -> None:
    outcome = _run(f"{server}/ok")
    assert outcome["passed"] and f"GET {server}/ok -> 200 in" in outcome["detail"]


def test_an_error_status_is_judged_as_the_answer_it_is(server: str) -> None:
    failed = _run(f"{server}/down")
    assert not failed["passed"] and "-> 503" in failed["detail"]
    assert _run(f"{server}/down", expect_status=[503])["passed"]


def test_no_answer_fails_and_names_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/ok"
    outcome = _run(url, timeout=2)
    assert not outcome["passed"] and outcome["detail"].startswith(f"{url}: ")
    assert "refused" in outcome["detail"].lower()
