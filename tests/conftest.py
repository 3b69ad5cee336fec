"""Shared test settings: Hypothesis profiles, and helpers to find processes a test left behind."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every process the session started that is still running at its end (a test or a
    fixture that did not stop what it started), so the culprit is found from the CI log."""
    import psutil

    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:300]}")
        except psutil.Error:
            continue
    if alive:
        terminalreporter.section("processes still running at the end of the session")
        for line in alive:
            terminalreporter.write_line(line)
