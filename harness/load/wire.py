"""What a generator worker sends its master, as plain msgpack-able data (no pickle).

A worker streams its measurements: every second it ships the cells and seconds that changed since
the last report (raw histograms, never summaries), and at the end what is left plus its totals.
The master adds the parts up with :func:`absorb`, so what it holds for a worker at any instant is
exactly what that worker measured up to its last report -- which is also what is kept of a worker
that dies mid-run.

Keys become strings on the wire (msgpack maps need no more); histogram buckets stay integers.
"""

from __future__ import annotations

from typing import Any

from harness.load.histogram import Histogram
from harness.load.stats import Cell, Key, Second, WorkerResult

__all__ = [
    "absorb",
    "absorb_seconds",
    "cells_from_wire",
    "cells_to_wire",
    "seconds_from_wire",
    "seconds_to_wire",
    "totals_to_wire",
    "worker_from_wire",
]

_SEP = "\x1f"  # between phase, endpoint and tenant in a cell key (never in a name)


def _hist(h: Histogram) -> list[Any]:
    return [h.count, h.total_us, h.min_us, h.max_us, h.counts]


def _unhist(data: list[Any]) -> Histogram:
    h = Histogram()
    h.count, h.total_us, h.min_us, h.max_us = (int(v) for v in data[:4])
    h.counts = {int(k): int(v) for k, v in data[4].items()}
    return h


def cells_to_wire(cells: dict[Key, Cell]) -> dict[str, Any]:
    return {
        _SEP.join(key): [
            c.requests,
            c.errors,
            c.unavailable,
            c.dropped,
            c.aborted,
            c.statuses,
            c.exceptions,
            _hist(c.latency),
            _hist(c.service),
            c.last_sent,
        ]
        for key, c in cells.items()
    }


def cells_from_wire(data: dict[str, Any]) -> dict[Key, Cell]:
    out: dict[Key, Cell] = {}
    for key, v in data.items():
        phase, endpoint, tenant = key.split(_SEP)
        out[(phase, endpoint, tenant)] = Cell(
            requests=int(v[0]),
            errors=int(v[1]),
            unavailable=int(v[2]),
            dropped=int(v[3]),
            aborted=int(v[4]),
            statuses={int(k): int(n) for k, n in v[5].items()},
            exceptions={str(k): int(n) for k, n in v[6].items()},
            latency=_unhist(v[7]),
            service=_unhist(v[8]),
            last_sent=float(v[9]),
        )
    return out


def seconds_to_wire(seconds: dict[int, Second]) -> dict[int, Any]:
    return {
        index: [
            s.completed,
            s.errors,
            s.dropped,
            s.sent,
            s.statuses,
            _hist(s.latency),
            _hist(s.service),
            s.busy_max,
            s.allocated,
            s.cpu,
            s.cpu_wait,
            s.lag_max,
        ]
        for index, s in seconds.items()
    }


def seconds_from_wire(data: dict[Any, Any]) -> dict[int, Second]:
    return {
        int(index): Second(
            completed=int(v[0]),
            errors=int(v[1]),
            dropped=int(v[2]),
            sent=int(v[3]),
            statuses={int(k): int(n) for k, n in v[4].items()},
            latency=_unhist(v[5]),
            service=_unhist(v[6]),
            busy_max=int(v[7]),
            allocated=int(v[8]),
            cpu=float(v[9]),
            cpu_wait=float(v[10]),
            lag_max=float(v[11]),
        )
        for index, v in data.items()
    }


def totals_to_wire(result: WorkerResult) -> dict[str, Any]:
    """A worker's scalar fields (sent once, at the end)."""
    return {
        "pid": result.pid,
        "seed": result.seed,
        "cpu_seconds": result.cpu_seconds,
        "wall_seconds": result.wall_seconds,
        "allocated_max": result.allocated_max,
        "pool_size": result.pool_size,
        "token_refreshes": result.token_refreshes,
        "token_failures": result.token_failures,
        "max_lag": result.max_lag,
        "first_requests": list(result.first_requests),
        "errors": list(result.errors),
    }


def worker_from_wire(index: int, totals: dict[str, Any]) -> WorkerResult:
    return WorkerResult(
        index=index,
        pid=int(totals.get("pid", 0)),
        seed=int(totals.get("seed", 0)),
        cpu_seconds=float(totals.get("cpu_seconds", 0.0)),
        wall_seconds=float(totals.get("wall_seconds", 0.0)),
        allocated_max=int(totals.get("allocated_max", 0)),
        pool_size=int(totals.get("pool_size", 0)),
        token_refreshes=int(totals.get("token_refreshes", 0)),
        token_failures=int(totals.get("token_failures", 0)),
        max_lag=float(totals.get("max_lag", 0.0)),
        first_requests=[str(r) for r in totals.get("first_requests", [])],
        errors=[str(e) for e in totals.get("errors", [])],
    )


def absorb(into: WorkerResult, cells: dict[str, Any], seconds: dict[Any, Any]) -> None:
    """Add one report's changed cells and seconds to what the master holds for a worker.

    Both are deltas of the same worker, so counts and histograms add; a second's peak values
    (busy users, allocated users, lag) take the larger of the two, not their sum.
    """
    for key, cell in cells_from_wire(cells).items():
        into.cell(key).merge(cell)
    absorb_seconds(into, seconds_from_wire(seconds))


def absorb_seconds(into: WorkerResult, seconds: dict[int, Second]) -> None:
    """:func:`absorb` for seconds already decoded (they are merged in, not kept)."""
    for index, part in seconds.items():
        mine = into.seconds.get(index)
        if mine is None:
            mine = into.seconds[index] = Second()
        busy, allocated = max(mine.busy_max, part.busy_max), max(mine.allocated, part.allocated)
        mine.merge(part)
        mine.busy_max, mine.allocated = busy, allocated
