"""One request's spans (what ``harness trace ID`` prints) — the live ones when the environment recorded them,
else rebuilt from the environment's joined logs.

Live spans (harness/obs/spans.py, read back by harness/obs/store.py) carry their own trace and
parent ids across every hop. Without them (``HARNESS_TRACING=0``, or an older environment) the
records ``harness logs --trace ID`` finds become spans: the gateway's access-log line is the
request span (start = ``requestTimeEpoch``, duration = ``responseLatency``), each function
invocation's ``REPORT`` line an invocation span (it is written at the end, so start = its time
minus ``durationMs``; cold start and init duration from ``initDurationMs``; the lines the handler
printed are its ``logs``), and each line of the edge's call log an AWS-call span (service,
operation, status, whether a fault was injected). An invocation is a child of the request with
its correlation id; an AWS call is a child of the invocation whose time window holds it (else of
the request with its trace root).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.obs.logs import LogReader, LogRecord, iso_time

__all__ = [
    "Span",
    "build_spans",
    "export_otlp",
    "load_spans",
    "otlp_url",
    "render_tree",
]


@dataclass
class Span:
    span_id: str
    name: str
    service: str
    start: float
    duration_ms: float
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    trace_id: str | None = None
    error: str | None = None  # a live span's ERROR status description

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Span:
        """A live span as the store keeps it (harness/obs/spans.py ``span_record``)."""
        start_ns = int(record.get("start_ns") or 0)
        end_ns = int(record.get("end_ns") or start_ns)
        error = None
        if record.get("status") == "ERROR":
            error = str(record.get("status_message") or "error")
        return cls(
            span_id=str(record.get("span_id")),
            name=str(record.get("name")),
            service=str(record.get("service")),
            start=start_ns / 1e9,
            duration_ms=(end_ns - start_ns) / 1e6,
            attributes=dict(record.get("attributes") or {}),
            parent_id=record.get("parent_id"),
            trace_id=record.get("trace_id"),
            error=error,
        )

    @property
    def end(self) -> float:
        return self.start + self.duration_ms / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "error": self.error,
            "name": self.name,
            "service": self.service,
            "start": iso_time(self.start),
            "start_epoch": round(self.start, 6),
            "duration_ms": round(self.duration_ms, 3),
            "attributes": self.attributes,
        }


def _gateway_span(index: int, rec: LogRecord) -> Span:
    raw = rec.raw
    attrs = {
        k: raw[k]
        for k in (
            "requestId",
            "correlationId",
            "traceId",
            "routeKey",
            "path",
            "httpMethod",
            "status",
            "tenantId",
            "integrationLatency",
            "integrationStatus",
            "integrationErrorMessage",
            "authorizerError",
            "errorType",
            "stack",
        )
        if raw.get(k) is not None
    }
    return Span(
        f"gw-{index}",
        f"{raw.get('httpMethod')} {raw.get('routeKey')}",
        "gateway",
        rec.time,
        float(raw.get("responseLatency") or 0.0),
        attrs,
    )


def _function_span(index: int, rec: LogRecord, lines: list[LogRecord]) -> Span:
    raw = rec.raw
    duration = float(raw.get("durationMs") or 0.0)
    attrs: dict[str, Any] = {
        "requestId": raw.get("requestId"),
        "correlationId": raw.get("correlationId"),
        "cold_start": raw.get("initDurationMs") is not None,
        "status": raw.get("status"),
        "billedDurationMs": raw.get("billedDurationMs"),
        "maxMemoryUsedMB": raw.get("maxMemoryUsedMB"),
    }
    if raw.get("initDurationMs") is not None:
        attrs["initDurationMs"] = raw["initDurationMs"]
    attrs["logs"] = [f"{line.level} {line.message}" for line in lines]
    return Span(f"fn-{index}", rec.name, "lambda", rec.time - duration / 1000, duration, attrs)


def _edge_span(index: int, rec: LogRecord) -> Span:
    raw = rec.raw
    attrs = {
        k: raw.get(k) for k in ("service", "operation", "region", "status", "fault", "traceId")
    }
    return Span(
        f"aws-{index}",
        f"{raw.get('service')}.{raw.get('operation')}",
        str(raw.get("service")),
        rec.time,
        float(raw.get("durationMs") or 0.0),
        attrs,
    )


def build_spans(records: list[LogRecord]) -> list[Span]:
    """The spans of the records, with parents set, in start order."""
    gateways = [
        _gateway_span(i, r) for i, r in enumerate(r for r in records if r.source == "gateway")
    ]
    lines_of: dict[str, list[LogRecord]] = {}
    reports: list[LogRecord] = []
    for rec in records:
        if rec.source != "function":
            continue
        if rec.raw.get("type") == "REPORT":
            reports.append(rec)
        else:
            lines_of.setdefault(str(rec.raw.get("requestId")), []).append(rec)
    functions = [
        _function_span(i, r, lines_of.get(str(r.raw.get("requestId")), []))
        for i, r in enumerate(reports)
    ]
    calls = [_edge_span(i, r) for i, r in enumerate(r for r in records if r.source == "edge")]
    by_correlation = {g.attributes.get("correlationId"): g for g in gateways}
    by_request = {g.attributes.get("requestId"): g for g in gateways}
    by_root = {g.attributes.get("traceId"): g for g in gateways if g.attributes.get("traceId")}
    for fn in functions:
        parent = by_correlation.get(fn.attributes["correlationId"]) or by_request.get(
            fn.attributes["correlationId"]
        )
        fn.parent_id = parent.span_id if parent else None

    def distance(f: Span, at: float) -> float:
        return max(0.0, f.start - at, at - f.end)

    for call in calls:
        request = by_root.get(call.attributes.get("traceId"))
        # the REPORT line is stamped after the invocation ends, so its window can start a little
        # late: prefer the invocations of the request whose trace root the call carries
        mine = [f for f in functions if request is not None and f.parent_id == request.span_id]
        candidates = mine or functions
        if candidates:
            best = min(candidates, key=lambda f: (distance(f, call.start), f.duration_ms))
            # within 50 ms of its REPORT window: that invocation; later calls under the same
            # root come from an asynchronous consumer (an SQS message carries the root on)
            if distance(best, call.start) <= (0.05 if mine else 0.002):
                call.parent_id = best.span_id
                continue
        if request is not None:
            call.parent_id = request.span_id
    spans = gateways + functions + calls
    spans.sort(key=lambda s: s.start)
    return spans


def render_tree(spans: list[Span], width: int = 30) -> str:
    """An indented tree: offset from the first span, duration, a waterfall bar, the name."""
    if not spans:
        return ""
    origin = min(s.start for s in spans)
    total = max(max(s.end for s in spans) - origin, 1e-6)
    children: dict[str | None, list[Span]] = {}
    ids = {s.span_id for s in spans}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    out: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lead = int((span.start - origin) / total * width)
            size = max(1, int(span.duration_ms / 1000 / total * width))
            bar = " " * lead + "#" * min(size, width - lead if width > lead else 1)
            note = ""
            attrs = span.attributes
            status = attrs.get("status", attrs.get("http.response.status_code"))
            if status is not None:
                note = f" status={status}"
            if attrs.get("cold_start") or attrs.get("faas.coldstart"):
                note += " cold"
            if attrs.get("fault") or attrs.get("fault.injected"):
                note += " FAULT"
            if attrs.get("aws.retries"):
                note += f" retry={attrs['aws.retries']}"
            if attrs.get("aws.resource"):
                note += f" {attrs['aws.resource']}"
            if span.error and not attrs.get("fault.injected"):
                note += f" ERROR({span.error})"
            out.append(
                f"{(span.start - origin) * 1000:9.1f} ms {span.duration_ms:9.1f} ms "
                f"|{bar:<{width}}| {'  ' * depth}{span.name} [{span.service}]{note}"
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(out)


def otlp_url(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def export_otlp(spans: list[Span], endpoint: str, timeout_s: float = 5.0) -> str | None:
    """Send the spans to an OTLP/HTTP endpoint (Jaeger, Tempo, an OpenTelemetry collector) with
    the OpenTelemetry SDK: one tracer provider per service (its ``service.name``), the spans'
    own start/end times and parents, status ERROR for a 5xx or an injected fault. Returns
    ``None`` when the endpoint accepted them, else why not."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

    collected = InMemorySpanExporter()
    providers: dict[str, TracerProvider] = {}
    made: dict[str, Any] = {}
    for span in sorted(spans, key=lambda s: s.start):
        provider = providers.get(span.service)
        if provider is None:
            provider = TracerProvider(resource=Resource({"service.name": span.service}))
            provider.add_span_processor(SimpleSpanProcessor(collected))
            providers[span.service] = provider
        parent = made.get(span.parent_id) if span.parent_id else None
        attributes: dict[str, Any] = {}
        for key, value in span.attributes.items():
            plain = isinstance(value, (str, bool, int, float))
            if plain or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                attributes[key] = value
        kind = SpanKind.SERVER if span.service in ("gateway", "lambda") else SpanKind.CLIENT
        otel = provider.get_tracer("harness").start_span(
            span.name,
            context=set_span_in_context(parent) if parent is not None else None,
            kind=kind,
            attributes=attributes,
            start_time=int(span.start * 1e9),
        )
        status = span.attributes.get("status")
        failed = (
            span.error is not None
            or span.attributes.get("fault") is True
            or (isinstance(status, int) and status >= 500)
            or status in ("error", "timeout")
        )
        if failed:
            otel.set_status(Status(StatusCode.ERROR))
        made[span.span_id] = otel
    for span in spans:  # end children before parents is not required; end times are explicit
        made[span.span_id].end(end_time=int(span.end * 1e9))
    exporter = OTLPSpanExporter(endpoint=otlp_url(endpoint), timeout=timeout_s)
    try:
        result = exporter.export(collected.get_finished_spans())
    except Exception as exc:  # the exporter logs and returns FAILURE; be sure
        return f"{type(exc).__name__}: {exc}"
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
        for provider in providers.values():
            provider.shutdown()
    return None if result is SpanExportResult.SUCCESS else "the endpoint did not accept the spans"


def load_spans(state_dir: Path, ident: str, source: str = "auto") -> tuple[list[Span], str]:
    """The spans of ``ident`` and where they came from: ``"live"`` (the span store) or
    ``"logs"`` (rebuilt; with ``source="auto"`` when the store has none of them)."""
    from harness.obs.store import find_trace

    if source in ("auto", "live"):
        live = find_trace(state_dir, ident)
        if live or source == "live":
            return [Span.from_record(r) for r in live], "live"
    return build_spans(LogReader(state_dir, trace=ident).read()), "logs"
