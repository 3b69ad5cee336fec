"""The benchmarks' account of the rest of the machine (other processes' CPU, load average)."""

from __future__ import annotations

import time

import pytest

from harness.bench import contention as machine


def test_other_cpu_is_the_machine_busy_time_minus_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = iter([100.0, 130.0])
    monkeypatch.setattr(machine, "busy_cpu_seconds", lambda: next(busy))
    monkeypatch.setattr(machine.psutil, "cpu_count", lambda: 2)
    before = machine.busy_cpu_seconds()
    # 30 s busy over 10 s on 2 cores, 12 s of it ours: 18 s others = 90% of the machine
    figures = machine.other_cpu_percent(before, ours_s=12.0, duration_s=10.0)
    assert figures["other_cpu_percent_of_machine"] == 90.0
    assert figures["load_average_1m"] >= 0
    busy = iter([100.0, 105.0])
    # ours measured more than the machine saw (sampling skew): never negative
    assert machine.other_cpu_percent(next(busy), 9.0, 10.0)["other_cpu_percent_of_machine"] == 0


def test_busy_cpu_seconds_grows_with_work() -> None:
    before = machine.busy_cpu_seconds()
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert machine.busy_cpu_seconds() > before


def test_cpu_of_counts_the_children_a_process_has_reaped() -> None:
    """Execution environments the runtime retired within a step are gone before the second
    snapshot; their CPU shows up as the runtime's reaped children (attributed to handlers)."""
    import os
    import subprocess
    import sys

    import psutil

    from harness.bench.syncwell_capacity import _cpu_of

    me = {os.getpid(): ("runtime server", psutil.Process())}
    before = _cpu_of(me)
    burn = "import time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    after = _cpu_of(me)
    key = f"reaped:{os.getpid()}"
    assert after[key] - before[key] >= 0.15
