"""`faults:clear` on fake servers: one that takes no faults (answers 501/404 to DELETE
/_control/faults, as synchub's CDN and Google fakes do) has none to clear and is not a warning;
a fake server that fails otherwise still is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.chaos import faults as faults_module
from harness.chaos.faults import Faults
from tests.loopback import serving


def _answering(status: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_DELETE(self) -> None:
            body = b'{"message": "no"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    with serving(_answering(501)) as plain, serving(_answering(500)) as broken:
        yield {"cdn": plain, "providers": broken}


def test_clear_skips_servers_without_faults_and_warns_on_real_failures(
    servers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(faults_module, "fake_servers", lambda _state: {"stack": servers})
    caplog.set_level(logging.WARNING, logger="harness.chaos.faults")
    endpoints = {"aws_endpoint": "http://127.0.0.1:9"}  # not called: only fake servers cleared
    cleared = Faults(endpoints, state_dir=tmp_path).clear("thirdparty")
    warned = [r.getMessage() for r in caplog.records]
    assert not any("stack/cdn" in m for m in warned), warned  # takes no faults: nothing to clear
    assert any("stack/providers" in m and "(500)" in m for m in warned), warned
    assert "thirdparty" not in cleared  # neither was cleared
