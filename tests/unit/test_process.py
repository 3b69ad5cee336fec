import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.env.process import is_alive, reserve_port, spawn, stop, tail, wait_ready
from harness.errors import PortInUseError, StartError

# A parent that forks a grandchild and then sleeps: stopping the parent must stop both.
FORKER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("child", child.pid, flush=True)
time.sleep(60)
"""


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    log = tmp_path / "forker.log"
    record = spawn("forker", [sys.executable, "-c", FORKER], log=log)
    deadline = time.monotonic() + 10
    while "child" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(log.read_text().split()[1])
    assert is_alive(record) and psutil.pid_exists(child_pid)
    assert stop(record) is True
    assert not is_alive(record)
    assert (
        not psutil.pid_exists(child_pid)
        or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert stop(record) is False  # safe to repeat


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    record = spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], log=tmp_path / "s.log"
    )
    try:
        record.create_time -= 100  # pretend the PID now belongs to another process
        assert not is_alive(record)
        assert stop(record) is False
        assert psutil.pid_exists(record.pid)
    finally:
        record.create_time += 100
        stop(record)


def test_wait_ready_reports_a_dying_child_with_its_log(tmp_path: Path) -> None:
    script = "import sys; print('bad config: no such table'); sys.exit(3)"
    record = spawn("dier", [sys.executable, "-c", script], log=tmp_path / "d.log")
    with pytest.raises(StartError) as info:
        wait_ready(record, lambda: False, timeout=10, fix="fix the config")
    text = str(info.value)
    assert (
        "dier failed to start" in text
        and "bad config: no such table" in text
        and "fix the config" in text
    )


def test_wait_ready_times_out(tmp_path: Path) -> None:
    record = spawn(
        "mute", [sys.executable, "-c", "import time; time.sleep(30)"], log=tmp_path / "m.log"
    )
    try:
        with pytest.raises(StartError, match="did not answer within"):
            wait_ready(record, lambda: False, timeout=0.3)
    finally:
        stop(record)


def test_reserve_port_refuses_a_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            reserve_port(port, "gateway")
        assert str(port) in str(info.value) and "gateway" in str(info.value)


def test_reserve_port_zero_picks_a_free_port() -> None:
    port = reserve_port(0, "x")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert tail(tmp_path / "nope.log") == ""


def test_spawn_of_a_missing_program_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(StartError, match="cannot run"):
        spawn("ghost", ["/nonexistent/program"], log=tmp_path / "g.log")


def test_free_ports_are_picked_below_the_ephemeral_range() -> None:
    """An auto-picked port must not be one the kernel may give an outgoing connection before
    the component binds it."""
    from harness.env.process import LOWEST_PICKED_PORT, _ephemeral_range, free_port

    low, _high = _ephemeral_range()
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST_PICKED_PORT <= p < low for p in ports)
    assert len(ports) > 1  # random, so two environments starting together rarely collide
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
