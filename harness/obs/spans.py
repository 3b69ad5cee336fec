"""Live spans: recorded by the gateway, the runtime and the edge while requests run.

Each process that serves traffic (the gateway workers, the runtime server, the AWS edge) owns one
:class:`SpanRecorder`. A span is recorded when it has ended (trace id, span id, parent, start/end
in ns, kind, error status, attributes, the process's ``service.name``):

* into :class:`SpanStoreProcessor` (an SDK ``SpanProcessor``) — JSON lines, one span a line, in
  ``<state_dir>/traces/<run>/<service>-<pid>.jsonl`` (``<run>`` is one environment's lifetime,
  ``HARNESS_TRACE_RUN``, set by ``harness up``). Buffered like the access log (one ``write`` per
  256 spans or 0.5 s). Bounded: when a file passes ``HARNESS_TRACE_MAX_MB`` (default 32) it is
  renamed ``.1`` (replacing an older ``.1``) and a new one begun, so a process keeps at most twice
  the limit on disk; the oldest spans go first.
* as an SDK :class:`~opentelemetry.sdk.trace.ReadableSpan` into a ``BatchSpanProcessor`` with the
  OTLP/HTTP exporter when ``HARNESS_OTLP_ENDPOINT`` names a receiver (Jaeger, Tempo, an
  OpenTelemetry collector).

Cost (measured on this 2-core machine, the budget being < 10% of the gateway path's CPU): the
SDK's ``tracer.start_span()`` costs ~20 us a span (locks, sampler, bounded attributes, context):
104 us for a request's five spans, over half the gateway's own 190 us per request
(benchmarks/results/gateway.json). So the gateway's chain only notes a ``perf_counter`` per step
and the spans are recorded after the response; the store takes a row (a tuple, serialised with
orjson when written, ~3 us a span); ``ReadableSpan`` objects (~5 us each) are built only when an
SDK exporter is configured. ``SpanStoreProcessor.on_end`` takes SDK spans too.

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
    "span_row",
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


_KIND_NAMES = {kind: kind.name for kind in SpanKind}
_hex_cache: dict[int, str] = {}


def _trace_hex(trace_id: int) -> str:
    """The 32-hex form, cached: a request's spans share one trace id."""
    text = _hex_cache.get(trace_id)
    if text is None:
        if len(_hex_cache) > 1024:
            _hex_cache.clear()
        text = _hex_cache[trace_id] = f"{trace_id:032x}"
    return text


# (trace_id, span_id, parent_id or 0, name, service, kind, start_ns, end_ns, error or None,
# attributes): what the store keeps of a span until it writes it
SpanRow = tuple[int, int, int, str, str, str, int, int, "str | None", Mapping[str, Any]]


def span_row(span: ReadableSpan) -> SpanRow:
    """The store's row of an SDK span."""
    ctx = span.context
    assert ctx is not None
    parent = span.parent
    status = span.status
    resource = span.resource.attributes if span.resource is not None else {}
    return (
        ctx.trace_id,
        ctx.span_id,
        parent.span_id if parent is not None else 0,
        span.name,
        str(resource.get("service.name", "harness")),
        _KIND_NAMES[span.kind],
        span.start_time or 0,
        span.end_time or 0,
        status.description or "error" if status.status_code is StatusCode.ERROR else None,
        dict(span.attributes or {}),
    )


def span_record(row: SpanRow) -> dict[str, Any]:
    """The JSON-lines form of a span (what ``harness trace`` reads back)."""
    trace_id, span_id, parent, name, service, kind, start_ns, end_ns, error, attributes = row
    return {
        "trace_id": _trace_hex(trace_id),
        "span_id": f"{span_id:016x}",
        "parent_id": f"{parent:016x}" if parent else None,
        "name": name,
        "service": service,
        "kind": kind,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status": "ERROR" if error is not None else "UNSET",
        "status_message": error,
        "attributes": {k: v for k, v in attributes.items() if v is not None},
    }


class SpanStoreProcessor(SpanProcessor):
    """SDK span processor writing JSON lines, buffered and rotated at ``max_bytes``.

    Spans are serialised when the buffer is written: every ``flush_spans`` spans (by the thread
    that ends the last one) or by one flusher thread, started with the first span, every
    ``flush_interval`` seconds."""

    def __init__(
        self, path: Path, max_bytes: int, flush_spans: int = 256, flush_interval: float = 0.5
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.flush_spans = flush_spans
        self.flush_interval = flush_interval
        self._buffer: list[SpanRow] = []
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.rotations = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.add(span_row(span))

    def add(self, row: SpanRow) -> None:
        """The fast path :class:`SpanRecorder` uses: a row, serialised when written."""
        buffer = self._buffer
        buffer.append(row)  # list.append is atomic under the GIL
        if len(buffer) >= self.flush_spans:
            self.force_flush()
        elif self._flusher is None:
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_loop, name="span-store-flush", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            if self._buffer:
                self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            spans, self._buffer = self._buffer, []
            if not spans:
                return True
            dumps = orjson.dumps
            data = b"".join(
                [
                    dumps(span_record(s), default=str, option=orjson.OPT_APPEND_NEWLINE)
                    for s in spans
                ]
            )
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
        self._stop.set()
        self.force_flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


Attributes = Mapping[str, Any]


class SpanRecorder:
    """Records finished spans (see the module docstring): a row straight into the store, and an
    SDK ``ReadableSpan`` for the other processors (the OTLP exporter) when there are any."""

    def __init__(
        self,
        service: str,
        processors: Sequence[SpanProcessor],
        store: SpanStoreProcessor | None = None,
    ) -> None:
        self.service = service
        self.resource = Resource({"service.name": service})
        self.processors = list(processors)
        self.store = store

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
        if self.store is not None:
            self.store.add(
                (
                    trace_id, span_id, parent, name, self.service, _KIND_NAMES[kind],
                    start_ns, end_ns, error, attributes,
                )
            )  # fmt: skip
        if not self.processors:
            return
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

    def _all(self) -> list[SpanProcessor]:
        return ([self.store] if self.store is not None else []) + self.processors

    def flush(self) -> None:
        for processor in self._all():
            processor.force_flush()

    def shutdown(self) -> None:
        for processor in self._all():
            processor.shutdown()


def recorder_for(
    service: str, state_dir: Path, config: TraceConfig | None = None
) -> SpanRecorder | None:
    """This process's recorder, or ``None`` when tracing is off (``HARNESS_TRACING=0``)."""
    config = config or TraceConfig.from_env()
    if not config.enabled:
        return None
    path = Path(state_dir) / TRACES_DIR / config.run / f"{service}-{os.getpid()}.jsonl"
    processors: list[SpanProcessor] = []
    if config.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        endpoint = config.otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return SpanRecorder(service, processors, SpanStoreProcessor(path, config.max_bytes))
