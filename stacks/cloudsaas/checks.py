"""The cloud SaaS seed's KPIs that the load engine cannot see, evaluated by the gameday runner
after a run (``fn(env, stack[, since])``), from the functions' logs
(``<state_dir>/logs/functions/<function>.log``, flushed by the runtime every second):

* :func:`cold_start_p95_ms`: p95 of the ``Init Duration`` of every cold start of the stack's
  functions (seed: "Lambda cold start: < 1s (p95)"). Every cold start in the logs counts, the
  warm-up's included: that is where cold starts happen;
* :func:`db_query_p95_ms`: p95 of the database transactions' time (each ``db query`` line of
  ``src/cloudsaas/db.py``: its queries and the commit) from ``since`` (the timeline's start)
  on (seed: "Database query time: < 50ms (p95)").

Each returns ``{"name", "passed", "observed", "target", "details"}``; ``observed`` is judged
by the expectation's ``op``/``target``. Without a single sample the check fails as inconclusive.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def _records(env: Any, stack: Any, since: float | None) -> Iterator[dict[str, Any]]:
    after = _iso(since) if since else ""
    folder = Path(env.state_dir) / "logs" / "functions"
    for function in stack.functions.values():
        path = folder / f"{function.name}.log"
        if not path.exists():
            continue
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if str(record.get("time", "")) >= after:
                    yield record


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _verdict(name: str, samples: list[float], target: str, what: str) -> dict[str, Any]:
    if not samples:
        return {"name": name, "passed": False, "observed": None, "target": target,
                "details": f"inconclusive: no {what} in the functions' logs"}  # fmt: skip
    return {
        "name": name,
        "passed": True,
        "observed": round(_p95(samples), 1),
        "target": target,
        "details": {
            "samples": len(samples),
            "max_ms": round(max(samples), 1),
            "median_ms": round(sorted(samples)[len(samples) // 2], 1),
        },
    }


def cold_start_p95_ms(env: Any, stack: Any) -> dict[str, Any]:
    inits = [
        float(r["initDurationMs"])
        for r in _records(env, stack, None)
        if r.get("type") == "REPORT" and r.get("initDurationMs") is not None
    ]
    return _verdict("cold_start_p95_ms", inits, "< 1000 ms (seed)", "cold start")


def db_query_p95_ms(env: Any, stack: Any, since: float | None = None) -> dict[str, Any]:
    times: list[float] = []
    for record in _records(env, stack, since):
        if record.get("stream") != "stdout" or "db query" not in str(record.get("message")):
            continue
        try:
            line = json.loads(str(record["message"]))
        except ValueError:
            continue
        if line.get("message") == "db query" and "ms" in line:
            times.append(float(line["ms"]))
    return _verdict("db_query_p95_ms", times, "< 50 ms (seed)", "database transaction")
