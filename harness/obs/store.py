"""Reading the span store back (written by :class:`harness.obs.spans.SpanStoreProcessor`).

``find_trace(state_dir, ident)`` takes what a developer has in hand — an X-Ray trace root
(``1-5f8e...-...``), a 32-hex OpenTelemetry trace id, a gateway request id, a correlation id or a
Lambda request id — finds the traces that name it, and returns every span of them (the client's
request and everything it caused: its invocations, their AWS calls, the consumers of the messages
it sent). Files are scanned newest run first, a line parsed only when it holds the id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from harness.obs.spans import TRACES_DIR

__all__ = ["find_trace", "read_spans_of", "span_files", "trace_ids_of"]

_ID_ATTRIBUTES = ("aws.request_id", "correlation_id", "faas.invocation_id", "xray.trace_id")


def span_files(state_dir: Path) -> list[Path]:
    """Every span file of the environment, newest run first (rotated ``.1`` files included)."""
    root = Path(state_dir) / TRACES_DIR
    if not root.is_dir():
        return []
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    files: list[Path] = []
    for run in runs:
        files += sorted(run.glob("*.jsonl.1")) + sorted(run.glob("*.jsonl"))
    return [f for f in files if f.name != "carry.jsonl"]


def _normal(ident: str) -> str:
    """An X-Ray root ``1-aaaaaaaa-bbbb...`` as the stored 32-hex trace id; others unchanged."""
    text = ident.strip()
    parts = text.split("-")
    if len(parts) == 3 and parts[0] == "1" and len(parts[1]) == 8 and len(parts[2]) == 24:
        return (parts[1] + parts[2]).lower()
    return text


def _lines_with(path: Path, needles: list[bytes]) -> Iterator[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError:
        return
    for needle in needles:
        start = 0
        while True:
            at = data.find(needle, start)
            if at < 0:
                break
            line_start = data.rfind(b"\n", 0, at) + 1
            line_end = data.find(b"\n", at)
            if line_end < 0:
                break  # a line still being written
            start = line_end + 1
            try:
                record = orjson.loads(data[line_start:line_end])
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def trace_ids_of(state_dir: Path, ident: str) -> set[str]:
    """The trace ids whose spans name ``ident`` (as trace id or one of the id attributes)."""
    wanted = _normal(ident)
    found: set[str] = set()
    needle = orjson.dumps(wanted)  # the quoted id, as it is stored
    for path in span_files(state_dir):
        for record in _lines_with(path, [needle]):
            attrs = record.get("attributes") or {}
            if record.get("trace_id") == wanted or any(
                attrs.get(name) == ident or attrs.get(name) == wanted for name in _ID_ATTRIBUTES
            ):
                found.add(str(record.get("trace_id")))
    return found


def read_spans_of(state_dir: Path, trace_ids: set[str]) -> list[dict[str, Any]]:
    """Every stored span of these traces, in start order, each once."""
    needles = [b'"trace_id":' + orjson.dumps(t) for t in sorted(trace_ids)]
    seen: set[str] = set()
    spans: list[dict[str, Any]] = []
    for path in span_files(state_dir):
        for record in _lines_with(path, needles):
            key = f"{record.get('trace_id')}/{record.get('span_id')}"
            if key not in seen:
                seen.add(key)
                spans.append(record)
    spans.sort(key=lambda r: int(r.get("start_ns") or 0))
    return spans


def find_trace(state_dir: Path, ident: str) -> list[dict[str, Any]]:
    """The stored spans of the trace(s) ``ident`` names; empty when none does."""
    trace_ids = trace_ids_of(state_dir, ident)
    return read_spans_of(state_dir, trace_ids) if trace_ids else []
