"""Each failed expectation linked to the traces of its evidence, with their waterfalls.

At the end of a run (:func:`attach_traces`, called by the runner while the environment's span
store is still there) every failed or inconclusive expectation gets up to ``LIMIT`` traces from
the live spans (harness/obs/spans.py):

* **ids it names** — the lost job's path: every id-like token of its ``observed`` value and
  ``detail`` (a job, message, request or correlation id) that a stored trace names;
* **slowest requests** of a breached SLO (``kind: slo``): the gateway requests of its phase's
  window (the phase named in the expectation, else the whole run), slowest first;
* **around a fault's start** (``recovery``, ``alarm``, and any other failure while faults were
  injected): the gateway requests that began from 1 s before to 5 s after each fault's start,
  failed ones first.

The spans of each trace are kept in ``raw.json`` (``RunData.traces``: expectation name → list of
``{"trace_id", "why", "spans": [...]}``, each span with its offset from the trace's start), so
``harness report DIR`` draws them again without the environment. :func:`waterfall_svg` draws one
(matplotlib, the report's inline-SVG style): a bar per span on the trace's clock, indented by
depth, red when the span failed, hatched when a fault was injected on it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson

from harness.obs.spans import TRACES_DIR
from harness.obs.store import read_spans_of, span_files
from harness.report.data import Expectation, RunData

__all__ = ["LIMIT", "attach_traces", "requests_between", "waterfall_svg"]

logger = logging.getLogger(__name__)

LIMIT = 3  # traces per expectation
MAX_SPANS = 60  # per trace kept in raw.json
AROUND_FAULT = (-1.0, 5.0)  # seconds around a fault's start
_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:=+/-]{7,127}")
_REQUEST_NEEDLES = (b'"kind":"SERVER"', b'"service":"gateway"')


def requests_between(state_dir: Path, start: float, end: float) -> list[dict[str, Any]]:
    """The gateway's request spans (SERVER) that began in ``[start, end)`` (epoch seconds)."""
    lo, hi = int(start * 1e9), int(end * 1e9)
    found: list[dict[str, Any]] = []
    for path in span_files(state_dir):
        if not path.name.startswith("gateway-"):
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for line in data.splitlines():
            if not all(n in line for n in _REQUEST_NEEDLES):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line still being written
            if isinstance(record, dict) and lo <= int(record.get("start_ns") or 0) < hi:
                found.append(record)
    return found


def _status(span: dict[str, Any]) -> int:
    value = (span.get("attributes") or {}).get("http.response.status_code")
    return int(value) if isinstance(value, int) else 0


def _duration(span: dict[str, Any]) -> int:
    return int(span.get("end_ns") or 0) - int(span.get("start_ns") or 0)


def _origin(run: RunData) -> float:
    """The run clock's t=0 as an epoch: when the timeline began (phases and faults are relative
    to it), else when the run began."""
    value = run.environment.get("timeline_started_at")
    return float(value) if isinstance(value, int | float) else run.started_at


def _phase_window(run: RunData, exp: Expectation) -> tuple[float, float]:
    origin = _origin(run)
    for phase in run.phases:
        if phase.name and (phase.name in exp.name or f"phase:{phase.name}" in str(exp.target)):
            return origin + phase.start_s, origin + phase.end_s
    return origin, origin + max(run.duration_s, 1.0)


def _tokens(exp: Expectation) -> list[str]:
    text = f"{orjson.dumps(exp.observed, default=str).decode()} {exp.detail}"
    seen: list[str] = []
    for token in _ID_TOKEN.findall(text):
        if any(c.isdigit() for c in token) and token not in seen:
            seen.append(token)
    return seen[:20]


def _candidates(run: RunData, exp: Expectation, state_dir: Path) -> list[tuple[str, str]]:
    """(trace id, why) pairs, most telling first."""
    out: list[tuple[str, str]] = []
    for token in _tokens(exp):
        for trace_id in _trace_ids_named(state_dir, token):
            out.append((trace_id, f"names {token}"))
    if exp.kind == "slo":
        start, end = _phase_window(run, exp)
        slowest = sorted(requests_between(state_dir, start, end), key=_duration, reverse=True)
        for span in slowest[:LIMIT]:
            out.append(
                (
                    str(span["trace_id"]),
                    f"slowest request of the window: {_duration(span) / 1e6:.0f} ms",
                )
            )
    if exp.kind in ("recovery", "alarm") or (run.faults and not out):
        for fault in run.faults:
            at = _origin(run) + fault.start_s
            around = requests_between(state_dir, at + AROUND_FAULT[0], at + AROUND_FAULT[1])
            around.sort(key=lambda s: (_status(s) < 500, int(s.get("start_ns") or 0)))
            for span in around[:LIMIT]:
                offset = int(span.get("start_ns") or 0) / 1e9 - at
                out.append(
                    (
                        str(span["trace_id"]),
                        f"request {offset:+.1f} s from the start of fault {fault.label} "
                        f"(status {_status(span)})",
                    )
                )
    unique: list[tuple[str, str]] = []
    for trace_id, why in out:
        if trace_id not in {t for t, _ in unique}:
            unique.append((trace_id, why))
    return unique[:LIMIT]


def _trace_ids_named(state_dir: Path, token: str) -> list[str]:
    from harness.obs.store import trace_ids_of

    return sorted(trace_ids_of(state_dir, token))


def _compact(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    origin = min(int(s.get("start_ns") or 0) for s in spans)
    out = []
    for span in spans[:MAX_SPANS]:
        attrs = span.get("attributes") or {}
        out.append(
            {
                "span_id": span.get("span_id"),
                "parent_id": span.get("parent_id"),
                "name": span.get("name"),
                "service": span.get("service"),
                "offset_ms": round((int(span.get("start_ns") or 0) - origin) / 1e6, 3),
                "duration_ms": round(_duration(span) / 1e6, 3),
                "error": span.get("status_message") if span.get("status") == "ERROR" else None,
                "fault": bool(attrs.get("fault.injected")),
                "status": attrs.get("http.response.status_code", attrs.get("status")),
            }
        )
    return out


def attach_traces(run: RunData, state_dir: Path) -> None:
    """Fill ``run.traces`` for the failed and inconclusive expectations (see the module doc).

    An expectation whose evidence has no stored trace gets none, and the report says so; with no
    span store at all (tracing off) ``run.traces`` says that once, under ``""``."""
    if not (Path(state_dir) / TRACES_DIR).is_dir():
        run.traces = {"": [{"note": "no live spans in this environment (tracing off?)"}]}
        return
    for exp in run.expectations:
        if exp.status == "passed":
            continue
        entries: list[dict[str, Any]] = []
        for trace_id, why in _candidates(run, exp, state_dir):
            spans = read_spans_of(state_dir, {trace_id})
            if spans:
                entries.append({"trace_id": trace_id, "why": why, "spans": _compact(spans)})
        run.traces[exp.name] = entries


def waterfall_svg(entry: dict[str, Any]) -> str:
    """One trace's waterfall as inline SVG."""
    from harness.report.plots import figure, svg

    spans: list[dict[str, Any]] = entry["spans"]
    depth: dict[str, int] = {}
    ids = {s["span_id"] for s in spans}
    for span in spans:  # stored in start order: a parent comes before its children
        parent = str(span.get("parent_id"))
        depth[span["span_id"]] = depth.get(parent, -1) + 1 if parent in ids else 0
    fig, ax = figure(height=max(1.6, 0.28 * len(spans) + 0.8))
    for row, span in enumerate(spans):
        colour = "#c62828" if span.get("error") else _COLOURS.get(str(span["service"]), "#607d8b")
        ax.barh(
            row,
            max(span["duration_ms"], 0.05),
            left=span["offset_ms"],
            color=colour,
            hatch="//" if span.get("fault") else None,
            edgecolor="#222" if span.get("fault") else colour,
        )
    labels = [
        "  " * depth[s["span_id"]] + f"{s['name']} [{s['service']}]"
        + (" FAULT" if s.get("fault") else "")
        for s in spans
    ]  # fmt: skip
    ax.set_yticks(range(len(spans)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms from the trace's first span")
    return svg(fig)


_COLOURS = {"gateway": "#1565c0", "lambda": "#ef6c00", "aws": "#2e7d32"}
