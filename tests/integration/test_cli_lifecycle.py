"""The README's lifecycle through the real command line: up --json, status, down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration


def harness(
    *args: str, state_dir: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HARNESS_STATE_DIR": str(state_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def test_up_status_down(tmp_path: Path, no_leftover_processes: object) -> None:
    up = harness("up", "--json", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    for key in ("aws_endpoint", "redis_url", "gateway_url"):
        assert info[key].startswith(("http://127.0.0.1:", "redis://127.0.0.1:")), info[key]
    pids = [p["pid"] for p in info["processes"]]
    assert all(psutil.pid_exists(pid) for pid in pids)
    assert (
        json.loads((tmp_path / "state.json").read_text())["endpoints"]["aws_endpoint"]
        == info["aws_endpoint"]
    )

    status = harness("status", "--json", state_dir=tmp_path)
    assert status.returncode == 0, status.stdout
    assert json.loads(status.stdout)["healthy"] is True

    down = harness("down", state_dir=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout
    time.sleep(0.2)
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in pids
    )
    again = harness("down", state_dir=tmp_path)
    assert again.returncode == 0 and "nothing was running" in again.stdout
    assert harness("status", state_dir=tmp_path).returncode == 1


def test_status_exits_1_when_a_component_died(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    up = harness("up", "--json", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    redis_pid = next(p["pid"] for p in json.loads(up.stdout)["processes"] if p["name"] == "redis")
    os.kill(redis_pid, signal.SIGKILL)
    time.sleep(0.3)
    status = harness("status", "--json", state_dir=tmp_path)
    assert status.returncode == 1
    report = json.loads(status.stdout)
    assert report["healthy"] is False
    assert [c["name"] for c in report["components"] if not c["healthy"]] == ["redis"]
    assert harness("down", state_dir=tmp_path).returncode == 0


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    result = harness("up", "--backend", "swarm", state_dir=tmp_path)
    assert result.returncode == 2 and "swarm" in result.stderr


def test_unknown_backend_from_env_var_is_a_usage_error(tmp_path: Path) -> None:
    result = harness("up", state_dir=tmp_path, env={"HARNESS_BACKEND": "swarm"})
    assert result.returncode == 2 and "HARNESS_BACKEND" in result.stderr


def test_localstack_without_docker_or_url_fails_at_once(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    started = time.monotonic()
    result = harness("up", "--backend", "localstack", state_dir=tmp_path)
    assert result.returncode == 1
    assert "--localstack-url" in result.stderr and "Docker" in result.stderr
    assert time.monotonic() - started < 20
    assert not (tmp_path / "state.json").exists()


def test_localstack_url_that_does_not_answer(tmp_path: Path, no_leftover_processes: object) -> None:
    result = harness(
        "up",
        "--backend",
        "localstack",
        "--localstack-url",
        "http://127.0.0.1:1",
        state_dir=tmp_path,
    )
    assert result.returncode == 1 and "does not answer" in result.stderr


def test_ctrl_c_during_up_leaves_nothing_running(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "up"],
        env={**os.environ, "HARNESS_STATE_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the first children exist, i.e. in the middle of the start.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not psutil.Process(proc.pid).children():
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # DynamoDB Local alone needs over a second to start, so 0.3 s in is mid-start.
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not (tmp_path / "state.json").exists()
