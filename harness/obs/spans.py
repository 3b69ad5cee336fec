"""Live spans: recorded by the gateway, the runtime and the edge while requests run.

Each process that serves traffic (the gateway workers, the runtime server, the AWS edge) owns one
:class:`SpanRecorder`. A span is an OpenTelemetry SDK :class:`~opentelemetry.sdk.trace.ReadableSpan`
(trace id, span id, parent, start/end in ns, kind, status, attributes, the process's
``service.name`` resource) handed to the SDK span processors when it ends:

* :class:`SpanStoreProcessor` — JSON lines, one span a line, in
  ``<state_dir>/traces/<run>/<service>-<pid>.jsonl`` (``<run>`` is one environment's lifetime,
  ``HARNESS_TRACE_RUN``, set by ``harness up``). Buffered like the access log (one ``write`` per
  256 spans or 0.5 s). Bounded: when a file passes ``HARNESS_TRACE_MAX_MB`` (default 32) it is
  renamed ``.1`` (replacing an older ``.1``) and a new one begun, so a process keeps at most twice
  the limit on disk; the oldest spans go first.
* a ``BatchSpanProcessor`` with the OTLP/HTTP exporter when ``HARNESS_OTLP_ENDPOINT`` names a
  receiver (Jaeger, Tempo, an OpenTelemetry collector).

Why spans are built as ``ReadableSpan`` after the fact instead of with ``tracer.start_span()``:
the SDK's tracer costs ~20 us a span on this machine (locks, sampler, bounded attributes,
context) — 104 us for a request's five spans, half the gateway's whole CPU per request (190 us,
benchmarks/results/gateway.json) — while the gateway's chain only needs a ``perf_counter`` per
step and one span object per step at the end (~5 us each). The processors and exporters are the
SDK's own, so a span is the same object the SDK would have made.

Context travels as AWS does, in the X-Ray header: ``Root=1-<8 hex>-<24 hex>`` is the OpenTelemetry
trace id (32 hex, as the AWS X-Ray propagator maps it), ``Parent=<16 hex>`` the caller's span id.
Clients may send W3C ``traceparent`` or ``X-Amzn-Trace-Id``; their trace id is kept.

``HARNESS_TRACING=0`` turns all of it off (no recorder: ``recorder_for`` returns ``None``).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

__all__ = [
    "TRACES_DIR",
    "SpanRecorder",
    "SpanStoreProcessor",
    "TraceConfig",
    "TraceContext",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "parse_xray",
    "recorder_for",
    "span_record",
    "xray_header",
    "xray_root",
]

logger = logging.getLogger(__name__)

TRACES_DIR = "traces"
_SCOPE = InstrumentationScope("harness")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_OK = Status(StatusCode.UNSET)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_XRAY_ROOT = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
_rand = random.Random()  # not for secrets: ids only (the X-Ray SDK uses os.urandom, slower)


def new_span_id() -> int:
    return _rand.getrandbits(64) or 1


def new_trace_id() -> int:
    """An X-Ray-compatible trace id: the first 32 bits are the epoch seconds."""
    return (int(time.time()) << 96) | (_rand.getrandbits(96) or 1)


@dataclass(slots=True)
class TraceContext:
    """The trace a piece of work belongs to and the span it continues (``parent``: 0 = none)."""

    trace_id: int
    parent: int = 0
    sampled: bool = True


def parse_traceparent(value: str | None) -> TraceContext | None:
    """W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<flags>``); ``None`` when invalid."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    trace_id, parent = int(match.group(1), 16), int(match.group(2), 16)
    if trace_id == 0 or parent == 0 or match.group(0).startswith("ff"):
        return None
    return TraceContext(trace_id, parent, bool(int(match.group(3), 16) & 1))


def parse_xray(value: str | None) -> TraceContext | None:
    """``X-Amzn-Trace-Id`` / ``AWSTraceHeader`` (``Root=1-...;Parent=...;Sampled=1``)."""
    if not value:
        return None
    root = None
    parent = 0
    sampled = True
    for part in value.split(";"):
        name, _, text = part.strip().partition("=")
        if name == "Root":
            match = _XRAY_ROOT.match(text.lower())
            if match is not None:
                root = int(match.group(1) + match.group(2), 16)
        elif name == "Parent" and len(text) == 16:
            try:
                parent = int(text, 16)
            except ValueError:
                parent = 0
        elif name == "Sampled":
            sampled = text != "0"
    if not root:
        return None
    return TraceContext(root, parent, sampled)


def xray_root(trace_id: int) -> str:
    text = f"{trace_id:032x}"
    return f"1-{text[:8]}-{text[8:]}"


def xray_header(trace_id: int, parent: int, sampled: bool = True) -> str:
    return f"Root={xray_root(trace_id)};Parent={parent:016x};Sampled={1 if sampled else 0}"


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class TraceConfig:
    """Read from the environment the process was started with (``harness up`` passes them)."""

    enabled: bool = True
    run: str = "default"
    max_bytes: int = 32 * 1024 * 1024
    otlp_endpoint: str | None = None

    @classmethod
    def from_env(cls) -> TraceConfig:
        raw_mb = os.environ.get("HARNESS_TRACE_MAX_MB") or "32"
        try:
            max_mb = float(raw_mb)
        except ValueError:
            logger.warning("HARNESS_TRACE_MAX_MB=%r is not a number: using 32", raw_mb)
            max_mb = 32.0
        run = os.environ.get("HARNESS_TRACE_RUN") or "default"
        return cls(
            enabled=_env_flag("HARNESS_TRACING", True),
            run=re.sub(r"[^A-Za-z0-9_.-]", "_", run)[:80] or "default",
            max_bytes=max(64 * 1024, int(max_mb * 1024 * 1024)),
            otlp_endpoint=os.environ.get("HARNESS_OTLP_ENDPOINT") or None,
        )


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-lines form of a span (what ``harness trace`` reads back)."""
    ctx = span.context
    assert ctx is not None
    parent = span.parent
    status = span.status
    resource = span.resource.attributes if span.resource is not None else {}
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "service": resource.get("service.name", "harness"),
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": status.status_code.name,
        "status_message": status.description,
        "attributes": dict(span.attributes or {}),
    }


class SpanStoreProcessor(SpanProcessor):
    """SDK span processor writing JSON lines, buffered and rotated at ``max_bytes``."""

    def __init__(
        self, path: Path, max_bytes: int, flush_spans: int = 256, flush_interval: float = 0.5
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.flush_spans = flush_spans
        self.flush_interval = flush_interval
        self._buffer: list[ReadableSpan] = []
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._last_flush = time.monotonic()
        self._timer: threading.Timer | None = None
        self.rotations = 0

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._buffer.append(span)
            due = len(self._buffer) >= self.flush_spans
            if not due and self._timer is None:
                self._timer = threading.Timer(self.flush_interval, self.force_flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            spans, self._buffer = self._buffer, []
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            if not spans:
                return True
            data = b"".join(orjson.dumps(span_record(s), default=str) + b"\n" for s in spans)
            try:
                self._write(data)
            except OSError as exc:
                logger.warning("cannot write spans to %s: %s", self.path, exc)
                return False
        return True

    def _write(self, data: bytes) -> None:
        if self._fd is not None and self._size + len(data) > self.max_bytes:
            os.close(self._fd)
            self._fd = None
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self.rotations += 1
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._size = os.fstat(self._fd).st_size
        os.write(self._fd, data)
        self._size += len(data)

    def shutdown(self) -> None:
        self.force_flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


Attributes = Mapping[str, Any]


class SpanRecorder:
    """Builds finished spans and hands them to the SDK processors (see the module docstring)."""

    def __init__(self, service: str, processors: Sequence[SpanProcessor]) -> None:
        self.service = service
        self.resource = Resource({"service.name": service})
        self.processors = list(processors)

    def record(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent: int,
        start_ns: int,
        end_ns: int,
        attributes: Attributes,
        kind: SpanKind = SpanKind.INTERNAL,
        error: str | None = None,
    ) -> None:
        span = ReadableSpan(
            name=name,
            context=SpanContext(trace_id, span_id, False, _SAMPLED),
            parent=SpanContext(trace_id, parent, False, _SAMPLED) if parent else None,
            resource=self.resource,
            attributes={k: v for k, v in attributes.items() if v is not None},
            kind=kind,
            status=_OK if error is None else Status(StatusCode.ERROR, error),
            start_time=start_ns,
            end_time=end_ns,
            instrumentation_scope=_SCOPE,
        )
        for processor in self.processors:
            try:
                processor.on_end(span)
            except Exception:  # a span must never fail the request it describes
                logger.exception("span processor %r failed", processor)

    def flush(self) -> None:
        for processor in self.processors:
            processor.force_flush()

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()


def recorder_for(
    service: str, state_dir: Path, config: TraceConfig | None = None
) -> SpanRecorder | None:
    """This process's recorder, or ``None`` when tracing is off (``HARNESS_TRACING=0``)."""
    config = config or TraceConfig.from_env()
    if not config.enabled:
        return None
    path = Path(state_dir) / TRACES_DIR / config.run / f"{service}-{os.getpid()}.jsonl"
    processors: list[SpanProcessor] = [SpanStoreProcessor(path, config.max_bytes)]
    if config.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        endpoint = config.otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return SpanRecorder(service, processors)
