"""The sampler reads the runtime's own metrics document (the shape FunctionMetrics.to_json
writes), turning counters into per-interval deltas and concurrency into a number."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.runtime.metrics import FunctionMetrics
from harness.scenario.sampler import Sampler


@pytest.fixture
def runtime() -> Iterator[tuple[str, FunctionMetrics]]:
    metrics = FunctionMetrics()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"functions": {"worker": metrics.to_json(in_use=3, workers=4, idle=1)}}
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", metrics
    finally:
        server.shutdown()
        server.server_close()


def test_lambda_samples_are_deltas_with_concurrency_in_use(
    runtime: tuple[str, FunctionMetrics],
) -> None:
    url, metrics = runtime
    sampler = Sampler(endpoints={"runtime_url": url}, stacks=[], run_started=0.0)
    metrics.invocations, metrics.throttles, metrics.cold_starts = 10, 1, 2
    sampler.sample_lambda(1.0)
    metrics.invocations, metrics.throttles = 25, 4
    sampler.sample_lambda(2.0)
    first, second = (p["functions"]["worker"] for p in sampler.lambda_series)
    assert first == {
        "concurrency": 3.0, "invocations": 10.0, "errors": 0.0, "throttles": 1.0,
        "cold_starts": 2.0,
    }  # fmt: skip
    assert second["invocations"] == 15.0
    assert second["throttles"] == 3.0
    assert second["cold_starts"] == 0.0
