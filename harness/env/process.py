"""Child processes the harness starts: spawn, wait until healthy, stop by PID, read their logs.

Every child runs in its own session (process group), so stopping it also stops anything it forked,
and never anything else. A child is identified by PID *and* start time, so a recycled PID is never
signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.errors import PortInUseError, StartError

__all__ = [
    "ProcessRecord",
    "free_port",
    "group_survivors",
    "is_alive",
    "port_owner",
    "reserve_port",
    "spawn",
    "stop",
    "tail",
]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

# Children started by this process, kept so they can be reaped (no zombies, no ResourceWarning).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class ProcessRecord:
    """What we need to find, check and stop a child later (stored in the state file)."""

    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    port: int | None = None
    endpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(**dict(data))


LOWEST_PICKED_PORT = 10000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the source ports of outgoing connections (Linux; IANA's else)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


_HANDED_OUT: set[int] = set()  # ports free_port() returned in this process (never twice)


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now.

    Picked below the kernel's ephemeral range: a port the kernel hands out (``bind(0)``) can be
    taken as the source port of any outgoing connection in the moment between this check and
    the component's own ``bind`` (seen under load: "127.0.0.1:52053 is already in use" from an
    emulator starting while the test suite opened thousands of connections)."""
    low, _high = _ephemeral_range()
    if low - LOWEST_PICKED_PORT >= 1000:
        rng = random.SystemRandom()
        for _attempt in range(100):
            port = rng.randrange(LOWEST_PICKED_PORT, low)
            if port in _HANDED_OUT:  # given to a component that may not have bound it yet
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    continue
                _HANDED_OUT.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_owner(port: int) -> str | None:
    """Describe the process listening on ``port`` (best effort), or ``None`` if it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
            return None
        except OSError:
            pass
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN
            if listening and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid}, {' '.join(proc.cmdline())[:120]}"
    return "another process"


def reserve_port(requested: int, component: str) -> int:
    """``requested`` if it is free (0 means any free port); :class:`PortInUseError` if taken."""
    if requested == 0:
        return free_port()
    owner = port_owner(requested)
    if owner is not None:
        raise PortInUseError(requested, component, owner)
    return requested


def tail(path: str | Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    port: int | None = None,
    endpoint: str | None = None,
) -> ProcessRecord:
    """Start ``argv`` in the background in its own session, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    from harness.env.private import CHILD_UMASK, private_file

    with os.fdopen(private_file(log), "ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
                close_fds=True,
                umask=CHILD_UMASK,  # what it writes in the state folder is owner-only
            )
        except OSError as exc:
            raise StartError(name, f"cannot run {argv[0]!r}: {exc.strerror}.") from exc
    _CHILDREN[proc.pid] = proc
    create_time = psutil.Process(proc.pid).create_time()
    logger.debug("started %s pid=%s: %s", name, proc.pid, " ".join(argv))
    return ProcessRecord(
        name=name,
        pid=proc.pid,
        create_time=create_time,
        argv=list(argv),
        log=str(log),
        port=port,
        endpoint=endpoint,
    )


def is_alive(record: ProcessRecord) -> bool:
    """True if the process in ``record`` still runs (same PID *and* same start time)."""
    try:
        proc = psutil.Process(record.pid)
        return (
            abs(proc.create_time() - record.create_time) < 0.05
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def wait_ready(
    record: ProcessRecord,
    probe: Callable[[], bool],
    *,
    timeout: float,
    fix: str | None = None,
) -> None:
    """Poll ``probe`` until it returns True; :class:`StartError` if the child dies or times out."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if not is_alive(record):
            _reap(record.pid)
            raise StartError(
                record.name,
                "the process exited during start.",
                log_tail=tail(record.log),
                fix=fix,
            )
        try:
            if probe():
                return
        except Exception as exc:  # a probe is a best-effort request; any failure means "not yet"
            logger.debug("probe of %s not ready: %s", record.name, exc)
        if time.monotonic() > deadline:
            raise StartError(
                record.name,
                f"it did not answer within {timeout:.0f} s.",
                log_tail=tail(record.log),
                fix=fix,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def stop(record: ProcessRecord, *, grace: float = 5.0) -> bool:
    """Stop the child and its process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns True if something was stopped; False if it was already gone. Never signals a
    process that is not the one we started. When the child itself is gone (killed, crashed)
    but members of its process group survive (a supervisor's forked workers still holding its
    port), those are stopped: members of the group it led, started after it and carrying the
    same ``HARNESS_ENV_ID``.
    """
    if not is_alive(record):
        _reap(record.pid)
        orphans = group_survivors(record)
        if not orphans:
            return False
        logger.warning(
            "%s (pid %s) is gone but %d process(es) of its group survive; stopping them",
            record.name,
            record.pid,
            len(orphans),
        )
        _terminate(orphans, grace)
        return True
    try:
        pgid = os.getpgid(record.pid)
    except ProcessLookupError:
        return False
    own_group = pgid == record.pid
    members = _group_members(record.pid) if own_group else []
    _signal(record.pid, pgid if own_group else None, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_alive(record) and not any(p.is_running() for p in _live(members)):
            return True
        time.sleep(0.05)
    logger.warning("%s (pid %s) ignored SIGTERM; killing it", record.name, record.pid)
    _signal(record.pid, pgid if own_group else None, signal.SIGKILL)
    for member in _live(members):
        with contextlib.suppress(psutil.Error):
            member.kill()
    _reap(record.pid)
    return True


def group_survivors(record: ProcessRecord) -> list[psutil.Process]:
    """Live processes of the process group ``record``'s child led, once the child is gone.

    A process counts only if its group id is the child's PID, it started no earlier than the
    child, and (when the record knows it) its ``HARNESS_ENV_ID`` is the environment's: a
    recycled PID leading an unrelated group is never touched."""
    env_id = record.extra.get("env_id")
    with contextlib.suppress(psutil.Error):
        if psutil.Process(record.pid).status() != psutil.STATUS_ZOMBIE:
            return []  # the PID (so the group id) now belongs to another process
    found = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if os.getpgid(proc.pid) != record.pid:
                continue
            if proc.info["create_time"] + 0.05 < record.create_time:
                continue
            if env_id is not None and proc.environ().get("HARNESS_ENV_ID") != env_id:
                continue
        except (psutil.Error, OSError):
            continue
        found.append(proc)
    return found


def _terminate(procs: list[psutil.Process], grace: float) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


def _group_members(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


def _live(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def _signal(pid: int, pgid: int | None, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid is not None:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our direct child (avoids zombies)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
