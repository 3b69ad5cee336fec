"""`harness trace ID`: spans and their parents rebuilt from the joined logs."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.obs.logs import LogReader, parse_record
from harness.obs.trace import build_spans, render_tree

T0 = 1_800_000_000.0


def _iso(epoch: float) -> str:
    ms = round((epoch - int(epoch)) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(epoch))) + f".{ms:03d}Z"


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    _write(
        logs / "access.log",
        [
            {
                "requestId": "gw-a",
                "requestTimeEpoch": int(T0 * 1000),
                "httpMethod": "GET",
                "path": "/put",
                "routeKey": "GET /put",
                "status": 503,
                "responseLatency": 40.0,
                "correlationId": "corr-a",
                "traceId": "1-aaa",
            }
        ],
    )
    head = {"function": "logs-put", "requestId": "fn-a", "correlationId": "corr-a"}
    _write(
        logs / "functions" / "logs-put.log",
        [
            {**head, "time": _iso(T0 + 0.005), "level": "INFO", "message": "putting item"},
            {
                **head,
                "time": _iso(T0 + 0.035),
                "type": "REPORT",
                "durationMs": 30.0,
                "billedDurationMs": 30,
                "memorySizeMB": 128,
                "maxMemoryUsedMB": 40,
                "initDurationMs": 120.5,
                "status": "success",
            },
        ],
    )
    call = {"service": "dynamodb", "region": "us-east-1", "traceId": "1-aaa"}
    _write(
        logs / "edge-calls.log",
        [
            {
                **call,
                "time": T0 + 0.010,
                "operation": "PutItem",
                "status": 200,
                "durationMs": 5.0,
                "fault": False,
            },
            {
                **call,
                "time": T0 + 0.020,
                "operation": "GetItem",
                "status": 500,
                "durationMs": 1.0,
                "fault": True,
            },
            {
                **call,
                "time": T0 + 0.039,
                "operation": "Query",
                "status": 200,
                "durationMs": 1.0,
                "fault": False,
            },
        ],
    )
    return tmp_path


def test_spans_and_parents(state: Path) -> None:
    spans = build_spans(LogReader(state, trace="gw-a").read())
    named = {s.name: s for s in spans}
    assert list(named) == [
        "GET GET /put",
        "logs-put",
        "dynamodb.PutItem",
        "dynamodb.GetItem",
        "dynamodb.Query",
    ]
    root, fn = named["GET GET /put"], named["logs-put"]
    assert root.parent_id is None and fn.parent_id == root.span_id
    assert named["dynamodb.PutItem"].parent_id == fn.span_id
    assert named["dynamodb.GetItem"].parent_id == fn.span_id
    # outside the REPORT's window but under the request's trace root: still its handler's call
    assert named["dynamodb.Query"].parent_id == fn.span_id
    assert fn.attributes["cold_start"] is True and fn.attributes["initDurationMs"] == 120.5
    assert fn.attributes["logs"] == ["INFO putting item"]
    assert fn.start == pytest.approx(T0 + 0.005, abs=1e-3) and fn.duration_ms == 30.0
    assert named["dynamodb.GetItem"].attributes["fault"] is True
    tree = render_tree(spans)
    assert "|   logs-put [lambda] status=success cold" in tree
    assert "|     dynamodb.GetItem [dynamodb] status=500 FAULT" in tree


def test_cli_json_and_missing_trace(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "corr-a", "--state-dir", str(state), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "corr-a" and len(data["spans"]) == 5
    for span in data["spans"]:
        assert {"name", "service", "start", "duration_ms", "attributes"} <= set(span)
    assert main(["trace", "no-such-id", "--state-dir", str(state)]) == 1
    assert "no span of 'no-such-id'" in capsys.readouterr().err


def test_calls_without_the_trace_root_join_by_time_window_only(state: Path) -> None:
    records = LogReader(state, trace="gw-a").read()
    fn = next(r for r in records if r.raw.get("type") == "REPORT")
    orphan_in = parse_record(
        "edge",
        json.dumps(
            {
                "time": T0 + 0.015,
                "service": "s3",
                "operation": "GetObject",
                "status": 200,
                "durationMs": 1.0,
            }
        ),
    )
    orphan_out = parse_record(
        "edge",
        json.dumps(
            {
                "time": T0 + 5,
                "service": "s3",
                "operation": "PutObject",
                "status": 200,
                "durationMs": 1.0,
            }
        ),
    )
    assert orphan_in is not None and orphan_out is not None
    spans = {s.name: s for s in build_spans([*records, orphan_in, orphan_out])}
    assert spans["s3.GetObject"].parent_id == spans[fn.name].span_id
    assert spans["s3.PutObject"].parent_id is None
    # under the request's trace root but long after its invocation: an asynchronous consumer's
    # call (the root travelled on an SQS message), a child of the request, not of the invocation
    late = parse_record(
        "edge",
        json.dumps(
            {
                "time": T0 + 2,
                "service": "sqs",
                "operation": "DeleteMessage",
                "status": 200,
                "durationMs": 1.0,
                "traceId": "1-aaa",
            }
        ),
    )
    assert late is not None
    spans = {s.name: s for s in build_spans([*records, late])}
    assert spans["sqs.DeleteMessage"].parent_id == spans["GET GET /put"].span_id


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_otlp_export_sends_one_trace_with_parents_and_the_fault(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    _Receiver.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["trace", "gw-a", "--state-dir", str(state), "--otlp", url]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert "exported 5 spans" in capsys.readouterr().err
    spans: dict[str, Any] = {}
    services: dict[str, str] = {}
    for body in _Receiver.bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource.scope_spans:
                for span in scope.spans:
                    spans[span.name] = span
                    services[span.name] = service
    assert set(spans) == {
        "GET GET /put",
        "logs-put",
        "dynamodb.PutItem",
        "dynamodb.GetItem",
        "dynamodb.Query",
    }
    assert len({s.trace_id for s in spans.values()}) == 1
    root, fn, get = spans["GET GET /put"], spans["logs-put"], spans["dynamodb.GetItem"]
    assert root.parent_span_id == b"" and fn.parent_span_id == root.span_id
    assert get.parent_span_id == fn.span_id
    assert services == {
        **dict.fromkeys(spans, "dynamodb"),
        "GET GET /put": "gateway",
        "logs-put": "lambda",
    }
    assert get.status.code == 2  # ERROR
    assert {a.key: a.value.bool_value for a in get.attributes if a.key == "fault"} == {
        "fault": True
    }
    assert abs(fn.end_time_unix_nano - fn.start_time_unix_nano - 30_000_000) < 1_000
    assert abs(root.start_time_unix_nano - int(T0 * 1e9)) < 1_000


def test_otlp_export_to_nothing_fails_loudly(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    code = main(["trace", "gw-a", "--state-dir", str(state), "--otlp", f"http://127.0.0.1:{port}"])
    assert code == 1
    assert "exporting 5 spans" in capsys.readouterr().err
    assert time.monotonic() - started < 30
