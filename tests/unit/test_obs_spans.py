"""Live spans: header parsing, the store's rotation bound, reading a trace back, carried traces."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from harness.config import Settings
from harness.edge.routing import RequestInfo
from harness.edge.tracing import resource_name
from harness.errors import ConfigError
from harness.obs.carry import CarriedTraces
from harness.obs.spans import (
    SpanRecorder,
    SpanStoreProcessor,
    TraceConfig,
    parse_traceparent,
    parse_xray,
    recorder_for,
    xray_header,
    xray_root,
)
from harness.obs.store import find_trace
from harness.obs.trace import load_spans

TRACE = 0x5759E988BD862E3FE1BE46A994272793


def test_w3c_and_x_ray_headers_give_the_same_trace_id() -> None:
    w3c = parse_traceparent("00-5759e988bd862e3fe1be46a994272793-00f067aa0ba902b7-01")
    xray = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=00f067aa0ba902b7;Sampled=1")
    assert w3c is not None and xray is not None
    assert w3c.trace_id == xray.trace_id == TRACE
    assert w3c.parent == xray.parent == 0x00F067AA0BA902B7
    assert xray_root(TRACE) == "1-5759e988-bd862e3fe1be46a994272793"
    assert parse_xray(xray_header(TRACE, 5)) is not None
    assert parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").sampled is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-5759e988bd862e3fe1be46a994272793-0000000000000000-01",  # all-zero parent
        "ff-5759e988bd862e3fe1be46a994272793-00f067aa0ba902b7-01",  # forbidden version
        "00-5759e988bd862e3fe1be46a99427279-00f067aa0ba902b7-01",  # short
        "garbage",
    ],
)
def test_an_invalid_traceparent_is_not_continued(bad: str | None) -> None:
    assert parse_traceparent(bad) is None


def test_an_x_ray_header_without_a_valid_root_is_not_continued() -> None:
    assert parse_xray("Root=1-a-b;Parent=00f067aa0ba902b7") is None
    assert parse_xray("Parent=00f067aa0ba902b7") is None


def _record(recorder: SpanRecorder, span_id: int, parent: int = 0, **attrs: object) -> None:
    recorder.record("op", TRACE, span_id, parent, 1_000, 2_000_000, attrs)


def test_the_store_rotates_at_its_limit_and_keeps_one_old_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway-1.jsonl"
    store = SpanStoreProcessor(path, max_bytes=4096, flush_spans=1)
    recorder = SpanRecorder("gateway", [store])
    for i in range(200):
        _record(recorder, i + 1, note="x" * 50)
    store.shutdown()
    assert store.rotations >= 2
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["gateway-1.jsonl", "gateway-1.jsonl.1"]
    assert all(f.stat().st_size <= 4096 + 1024 for f in files)  # bounded: 2 x the limit
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    last = orjson.loads(path.read_bytes().splitlines()[-1])
    assert last["span_id"] == f"{200:016x}" and last["service"] == "gateway"


def test_a_trace_is_found_by_any_of_its_ids_and_brings_every_span(tmp_path: Path) -> None:
    config = TraceConfig(run="r1")
    gateway = recorder_for("gateway", tmp_path, config)
    runtime = recorder_for("lambda", tmp_path, config)
    assert gateway is not None and runtime is not None
    _record(gateway, 1, 0, **{"aws.request_id": "req-1", "correlation_id": "corr-1"})
    _record(runtime, 2, 1, **{"faas.invocation_id": "inv-1"})
    other = 0x1111
    gateway.record("other", other, 9, 0, 1, 2, {"aws.request_id": "req-2"})
    gateway.shutdown()
    runtime.shutdown()
    for ident in ("req-1", "corr-1", "inv-1", xray_root(TRACE), f"{TRACE:032x}"):
        spans = find_trace(tmp_path, ident)
        assert [s["span_id"] for s in spans] == [f"{1:016x}", f"{2:016x}"], ident
    assert find_trace(tmp_path, "nobody") == []
    spans, source = load_spans(tmp_path, "req-1")
    assert source == "live" and spans[1].parent_id == spans[0].span_id
    assert load_spans(tmp_path, "req-1", "logs")[1] == "logs"


def test_tracing_off_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TRACING", "0")
    assert recorder_for("gateway", tmp_path) is None
    assert not (tmp_path / "traces").exists()


def test_bad_tracing_settings_are_refused_with_the_field_and_fix() -> None:
    with pytest.raises(ConfigError, match="HARNESS_TRACE_MAX_MB"):
        Settings(trace_max_mb=0)
    with pytest.raises(ConfigError, match="OTLP endpoint"):
        Settings(otlp_endpoint="localhost:4318")
    assert Settings(otlp_endpoint="http://127.0.0.1:4318").otlp_endpoint


def test_the_resource_a_call_names() -> None:
    def info(service: str, operation: str) -> RequestInfo:
        return RequestInfo(service=service, region="us-east-1", operation=operation)

    assert (
        resource_name(info("dynamodb", "PutItem"), "/", b'{"TableName": "Items", "Item": {}}')
        == "Items"
    )
    queue = b'{"QueueUrl":"http://127.0.0.1:4566/000000000000/jobs","MessageBody":"x"}'
    assert resource_name(info("sqs", "SendMessage"), "/", queue) == "jobs"
    topic = (
        b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Anotices&Message=x"
    )
    assert resource_name(info("sns", "Publish"), "/", topic) == "notices"
    assert resource_name(info("s3", "PutObject"), "/bucket-a/key/b?x=1", b"") == "bucket-a"
    assert (
        resource_name(info("lambda", "Invoke"), "/2015-03-31/functions/fn-1/invocations", b"")
        == "fn-1"
    )
    assert resource_name(info("sts", "GetCallerIdentity"), "/", b"Action=GetCallerIdentity") is None


def test_carried_traces_are_found_by_id_and_missing_ones_are_none(tmp_path: Path) -> None:
    config = TraceConfig(run="r1")
    carried = CarriedTraces(tmp_path, config)
    assert carried.lookup(["m-1"], wait_s=0.0) == [None]  # no file yet
    path = tmp_path / "traces" / "r1" / "carry.jsonl"
    path.parent.mkdir(parents=True)
    with open(path, "ab") as fh:
        fh.write(orjson.dumps({"id": "m-1", "trace": "Root=1-a;Parent=b"}) + b"\n")
        fh.write(b'{"id": "m-2", "tra')  # a line still being written is not read
    assert carried.lookup(["m-1", None, "m-2"], wait_s=0.0) == ["Root=1-a;Parent=b", None, None]
    with open(path, "ab") as fh:
        fh.write(b'ce": "T2"}\n')
    assert carried.lookup(["m-2"], wait_s=0.0) == ["T2"]
    assert carried.lookup(["m-1"], wait_s=0.0) == ["Root=1-a;Parent=b"]  # a second subscriber
    assert os.path.getsize(path) > 0


class _Collect(SpanStoreProcessor):
    def __init__(self) -> None:
        self.spans: list[object] = []

    def on_end(self, span: object) -> None:  # type: ignore[override]
        self.spans.append(span)

    def shutdown(self) -> None:
        pass


def _response(status: int, body: bytes) -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_the_edge_span_says_fault_retry_and_resource_and_carries_put_events(
    tmp_path: Path,
) -> None:
    from harness.edge.tracing import EdgeTracer

    collect = _Collect()
    tracer = EdgeTracer(SpanRecorder("aws", [collect]), tmp_path, TraceConfig(run="r"))
    call = tracer.begin(xray_header(TRACE, 7))
    assert call is not None and call.parent == 7 and call.span_id != 7
    assert f"Parent={call.span_id:016x}" in call.header()  # downstream continues from the call
    get = RequestInfo(service="dynamodb", region="us-east-1", operation="GetItem")
    tracer.end(
        call, get, "/", b'{"TableName":"Items"}', "attempt=3; max=3",
        _response(500, b"{}"), 0.0, fault=True,
    )  # fmt: skip
    span = collect.spans[-1]
    attrs = span.attributes  # type: ignore[attr-defined]
    assert attrs["fault.injected"] is True and attrs["aws.retries"] == 2
    assert attrs["aws.resource"] == "Items" and attrs["http.response.status_code"] == 500
    assert span.status.description == "fault injected: HTTP 500"  # type: ignore[attr-defined]
    assert tracer.begin(None) is None and tracer.begin("Root=broken") is None
    put = RequestInfo(service="events", region="us-east-1", operation="PutEvents")
    own = xray_header(0xABC << 64, 0x99)
    body = orjson.dumps({"Entries": [{"Source": "a"}, {"Source": "b"}, {"TraceHeader": own}]})
    answer = {"Entries": [{"EventId": "e-1"}, {"ErrorCode": "X"}, {"EventId": "e-3"}]}
    call = tracer.begin(xray_header(TRACE, 7))
    assert call is not None
    tracer.end(call, put, "/", body, None, _response(200, orjson.dumps(answer)), 0.0, fault=False)
    tracer.close()
    carried = CarriedTraces(tmp_path, TraceConfig(run="r"))
    assert carried.lookup(["e-1", "e-3"], wait_s=0.0) == [call.header(), own]
    # a faulted publish delivers nothing, so it carries nothing
    assert len((tmp_path / "traces" / "r" / "carry.jsonl").read_bytes().splitlines()) == 2


def test_a_blackholed_or_reset_call_is_a_faulted_span_with_no_status(tmp_path: Path) -> None:
    from harness.edge.tracing import EdgeTracer

    collect = _Collect()
    tracer = EdgeTracer(SpanRecorder("aws", [collect]), tmp_path, TraceConfig(run="r"))
    call = tracer.begin(xray_header(TRACE, 7))
    assert call is not None
    sqs = RequestInfo(service="sqs", region="us-east-1", operation="SendMessage")
    tracer.end(call, sqs, "/", b"{}", None, b"", 0.0, fault=True)
    span = collect.spans[-1]
    assert span.attributes["http.response.status_code"] == 0  # type: ignore[attr-defined]
    assert span.attributes["fault.injected"] is True  # type: ignore[attr-defined]
    assert span.status.description == "fault injected"  # type: ignore[attr-defined]
