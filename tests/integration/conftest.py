"""Integration tests run real processes; each test module gets its own state folder."""

from __future__ import annotations

import time

import psutil
import pytest

OUR_PROGRAMS = (
    "redis-server",
    "DynamoDBLocal",
    "ministack",
    "harness.edge",
    "harness.daemon",
    "harness.runtime",
)


def our_processes_since(started: float) -> list[str]:
    """Processes of the kinds the harness starts that began after ``started`` and still run."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time", "status"]):
        info = proc.info
        if (
            not info["cmdline"]
            or info["create_time"] < started
            or info["status"] == psutil.STATUS_ZOMBIE
        ):
            continue
        line = " ".join(info["cmdline"])
        if any(name in line for name in OUR_PROGRAMS):
            found.append(f"{info['pid']}: {line[:160]}")
    return found


@pytest.fixture
def no_leftover_processes() -> object:
    started = time.time() - 0.5
    yield our_processes_since
    deadline = time.time() + 5
    while our_processes_since(started) and time.time() < deadline:
        time.sleep(0.1)
    assert our_processes_since(started) == []
