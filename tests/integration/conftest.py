"""Integration tests run real processes; each checks it leaves none behind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest


def processes_of(root: Path) -> list[str]:
    """Live processes started for an environment whose state folder is under ``root``.

    Every child the harness starts carries ``HARNESS_ENV_ID`` (its state folder), so this finds
    exactly the processes a test started, whatever else runs on the machine.
    """
    found = []
    prefix = str(root)
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            owner = proc.environ().get("HARNESS_ENV_ID", "")
        except (psutil.Error, OSError):
            continue
        if owner.startswith(prefix):
            found.append(f"{proc.info['pid']}: {' '.join(proc.info['cmdline'] or [])[:160]}")
    return found


@pytest.fixture
def no_leftover_processes(tmp_path: Path) -> Iterator[Callable[[Path], list[str]]]:
    yield processes_of
    deadline = time.time() + 5
    while processes_of(tmp_path) and time.time() < deadline:
        time.sleep(0.1)
    assert processes_of(tmp_path) == []
