"""Stopping recorded fake servers never signals a process that is not the one recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.deploy.fake_servers import (
    load_records,
    owned,
    records_file,
    stop_all_fake_servers,
    stop_fake_servers,
)
from harness.env.process import ProcessRecord, is_alive, spawn

SLEEP = [sys.executable, "-c", "import time; time.sleep(30)"]


@pytest.fixture
def foreign() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not a fake server of ours (no HARNESS_ENV_ID)."""
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_ENV_ID"}
    proc = subprocess.Popen(SLEEP, env=env)
    yield proc
    proc.kill()
    proc.wait()


def _record(pid: int, argv: list[str], log: Path) -> ProcessRecord:
    return ProcessRecord(
        name="fake server p",
        pid=pid,
        create_time=psutil.Process(pid).create_time(),
        argv=argv,
        log=str(log),
    )


def _write(state: Path, stack: str, records: dict[str, ProcessRecord]) -> None:
    path = records_file(state, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: r.to_json() for k, r in records.items()}))


def test_a_foreign_process_behind_a_stale_record_is_left_alone(
    tmp_path: Path, foreign: subprocess.Popen[bytes]
) -> None:
    # same PID, start time and command line as recorded, but not this environment's process
    _write(tmp_path, "s", {"p": _record(foreign.pid, SLEEP, tmp_path / "p.log")})
    assert not owned(load_records(tmp_path, "s")["p"], tmp_path)
    assert stop_fake_servers(tmp_path, "s") == 1  # the record is dropped...
    assert foreign.poll() is None  # ...and the process still runs
    assert not records_file(tmp_path, "s").exists()


def test_a_recorded_process_of_another_environment_is_left_alone(tmp_path: Path) -> None:
    other = spawn(
        "fake server p", SLEEP, log=tmp_path / "o.log", env={"HARNESS_ENV_ID": "/elsewhere"}
    )
    try:
        _write(tmp_path, "s", {"p": other})
        assert stop_all_fake_servers(tmp_path) == 1
        assert is_alive(other)
    finally:
        os.killpg(other.pid, 9)


def test_our_own_fake_server_is_stopped(tmp_path: Path) -> None:
    ours = spawn(
        "fake server p",
        SLEEP,
        log=tmp_path / "p.log",
        env={"HARNESS_ENV_ID": os.path.abspath(tmp_path)},
    )
    mismatch = ProcessRecord(**{**ours.to_json(), "argv": [*SLEEP, "--other"]})
    assert owned(ours, tmp_path) and not owned(mismatch, tmp_path)
    _write(tmp_path, "s", {"p": ours})
    assert stop_all_fake_servers(tmp_path) == 1
    assert not is_alive(ours)
    assert stop_all_fake_servers(tmp_path) == 0  # safe to repeat
