"""SyncWell's cache latency reaches CloudWatch as a custom metric: cache.py prints EMF lines
(batched) that the harness extracts as SyncWell/CacheLatency, which the P2 alarm watches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import cache  # noqa: E402

from harness.metrics import emf  # noqa: E402


def test_cache_latency_is_published_as_emf(capsys: pytest.CaptureFixture[str]) -> None:
    cache._latencies.clear()
    cache._last_flush["at"] = 0.0
    cache._record_latency(1.5)  # first call: more than a second since the last line
    for ms in range(50):
        cache._record_latency(float(ms))  # 50 more within the second: the 50th flushes
    lines = [line for line in capsys.readouterr().out.splitlines() if emf.looks_like_emf(line)]
    assert len(lines) == 2
    points = [p for line in lines for p in emf.extract(line)[0]]
    assert {(p.namespace, p.name) for p in points} == {("SyncWell", "CacheLatency")}
    assert points[0].dimensions == {"service": "syncwell"}
    assert sum(len(p.values) for p in points) == 51
