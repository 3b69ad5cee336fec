"""Cold-start *latency* apart from cold-start CPU (issue 26).

A new execution environment here costs what it really costs on this machine: the interpreter
starts and the handler's imports run. What it does not cost is Lambda's platform part (a
microVM, the code download, the runtime starting on a fresh host), so a local cold start is
faster than a real one and a gameday cannot see the latency spike a scale-out causes. This
module adds that part as a *delay*: the first invocation of a new environment waits a time drawn
from a configured distribution, sleeping, so it spends no CPU (the machine stays with the system
under test). Off by default.

``HARNESS_RUNTIME_COLD_START_LATENCY``:

* empty (default): off;
* ``default``: :data:`DEFAULT_TABLE`;
* a path to a JSON file: a list of entries ``{"runtime": "python3.12" | "python*" | "*",
  "memory_mb": [min, max] (optional, inclusive), "p50_ms": N, "p99_ms": N}``; the first entry
  matching a function's runtime and memory size applies; a function no entry matches gets no
  delay and a warning in the runtime log naming it.

Each entry is a log-normal distribution through its p50 and p99 (cold starts are right-skewed:
a median and a long tail). Draws come from one ``random.Random`` seeded by
``HARNESS_RUNTIME_COLD_START_SEED`` (default 0), so one seed gives the same delays in the same
order of cold starts. The delay is not part of ``Init Duration`` (on Lambda that is the init
code only, the platform part is not reported).

Default numbers: the "typical cold start" table of a public Lambda notes page
(https://git.mcrn.ar/mariano/lambda_local_runner, docs/lambdas-md/lambda-04-cold-starts.md):
Python 3.13 with minimal dependencies p50 ~150 ms / p99 ~400 ms, Node.js 22 ~100 / ~300 ms. A
minimal handler's cold start is almost all platform, which is what is missing here; the
handler's own init already runs for real. They are typical figures, not AWS's: measure your own
(the ``Init Duration`` of a hello-world function against the client's first-call latency) and
give them as a file. The table does not vary with memory size (the platform part is mostly not
CPU-bound); a file can.
"""

from __future__ import annotations

import fnmatch
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["DEFAULT_TABLE", "ColdStartLatency", "LatencyEntry", "load_latency"]

SOURCE = "HARNESS_RUNTIME_COLD_START_LATENCY"
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass(frozen=True)
class LatencyEntry:
    runtime: str  # an fnmatch pattern: "python3.12", "python*", "*"
    p50_ms: float
    p99_ms: float
    memory_min: int = 0
    memory_max: int = 1 << 30

    def matches(self, runtime: str, memory_mb: int) -> bool:
        return (
            fnmatch.fnmatchcase(runtime, self.runtime)
            and self.memory_min <= memory_mb <= self.memory_max
        )

    def draw(self, rng: random.Random) -> float:
        """Seconds, log-normal through p50 and p99."""
        mu = math.log(self.p50_ms)
        sigma = (math.log(self.p99_ms) - mu) / Z99
        return rng.lognormvariate(mu, sigma) / 1000.0


DEFAULT_TABLE = (
    LatencyEntry("python*", 150.0, 400.0),
    LatencyEntry("nodejs*", 100.0, 300.0),
)


class ColdStartLatency:
    """Draws the platform delay of each new environment (see the module's documentation)."""

    def __init__(self, entries: tuple[LatencyEntry, ...], seed: int = 0) -> None:
        self.entries = entries
        self.rng = random.Random(seed)

    def entry_for(self, runtime: str, memory_mb: int) -> LatencyEntry | None:
        return next((e for e in self.entries if e.matches(runtime, memory_mb)), None)

    def delay(self, runtime: str, memory_mb: int) -> float | None:
        """Seconds to wait, or None when no entry matches."""
        entry = self.entry_for(runtime, memory_mb)
        return None if entry is None else entry.draw(self.rng)


def _entry(raw: Any, where: str) -> LatencyEntry:
    if not isinstance(raw, dict):
        raise ConfigError("each entry must be an object.", source=where)
    unknown = set(raw) - {"runtime", "memory_mb", "p50_ms", "p99_ms"}
    if unknown:
        raise ConfigError(
            f"unknown field(s) {sorted(unknown)}; allowed: runtime, memory_mb, p50_ms, p99_ms.",
            source=where,
        )
    runtime = raw.get("runtime")
    if not isinstance(runtime, str) or not runtime:
        raise ConfigError(
            "must be a runtime name or pattern (python3.12, python*, *).",
            source=where,
            field="runtime",
        )
    p50, p99 = raw.get("p50_ms"), raw.get("p99_ms")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (p50, p99)):
        raise ConfigError("p50_ms and p99_ms must be numbers.", source=where, field="p50_ms")
    assert isinstance(p50, (int, float)) and isinstance(p99, (int, float))
    if not 0 < p50 <= p99:
        raise ConfigError(
            f"needs 0 < p50_ms <= p99_ms (got {p50} and {p99}).", source=where, field="p99_ms"
        )
    memory = raw.get("memory_mb", [0, 1 << 30])
    if (
        not isinstance(memory, list)
        or len(memory) != 2
        or not all(isinstance(m, int) and not isinstance(m, bool) for m in memory)
        or memory[0] > memory[1]
    ):
        raise ConfigError(
            "must be [min, max] in MB, inclusive (e.g. [128, 1024]).",
            source=where,
            field="memory_mb",
        )
    return LatencyEntry(runtime, float(p50), float(p99), memory[0], memory[1])


def load_latency(setting: str, seed: int = 0) -> ColdStartLatency | None:
    """The configured latency, or None when off. ``ConfigError`` names the file and field."""
    setting = setting.strip()
    if not setting:
        return None
    if setting == "default":
        return ColdStartLatency(DEFAULT_TABLE, seed)
    path = Path(setting)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read '{setting}' ({exc.strerror}); give 'default', a JSON file, "
            "or nothing (off).",
            source=SOURCE,
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc}.", source=str(path)) from None
    if not isinstance(data, list) or not data:
        raise ConfigError(
            'must be a non-empty list of {"runtime", "p50_ms", "p99_ms"} entries.',
            source=str(path),
        )
    return ColdStartLatency(
        tuple(_entry(raw, f"{path} entry {i}") for i, raw in enumerate(data)), seed
    )
