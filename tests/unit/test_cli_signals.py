"""A command killed with SIGTERM unwinds like Ctrl-C, so what it started is stopped."""

from __future__ import annotations

import os
import signal

import pytest

from harness import cli
from harness.cli.common import sigterm_as_interrupt


def test_sigterm_inside_the_block_unwinds_as_keyboard_interrupt() -> None:
    unwound: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)  # let the handler run
        finally:
            unwound.append("cleanup ran")
    assert unwound == ["cleanup ran"]
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_a_benchmark_killed_with_sigterm_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[bool] = []

    def bench(name: str, settings: object, runs: int, quick: bool) -> dict[str, object]:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)
            return {}
        finally:
            stopped.append(True)  # where the benchmark's Environment would be stopped

    monkeypatch.setattr("harness.bench.run_benchmark", bench)
    assert cli.main(["bench", "data-size", "--quick"]) == 130
    assert stopped == [True]
