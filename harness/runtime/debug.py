"""``harness debug``: one execution environment of a function waits for a debugpy client.

While a function is being debugged (:meth:`harness.runtime.core.Runtime.debug_start`):

* its concurrency is pinned to 1 (a synchronous call while the one environment is busy gets a
  429, an asynchronous one waits), so every invocation goes to the environment the debugger is
  in; its warm environments are drained, so the *next* environment is the debugged one. Other
  functions are not touched;
* that environment is started by exec, never forked from a warm template: it is a direct child
  of the runtime that the runtime kills like any other, and its interpreter runs with
  ``-X frozen_modules=off`` (debugpy misses breakpoints in frozen modules otherwise);
* ``bootstrap.py`` (standard library only) sees ``HARNESS_DEBUG_PORT`` and ``HARNESS_DEBUG_PATH``
  and, before the handler module is imported, listens on ``127.0.0.1:PORT`` with debugpy's
  in-process adapter and waits for a client; breakpoints in module-level code work too. The
  path is a folder holding only a link to debugpy's package (:func:`debugpy_path`), put *after*
  the standard library on ``sys.path``: nothing else of the harness's virtualenv is visible;
* the invocation timeout is suspended while a client is attached (:class:`Deadline`, sampled
  every 0.25 s from the kernel's socket table): time with a client attached does not count, and
  once it has left the invocation has what was left of its timeout; the init timeout of the
  debugged environment does not apply (it waits for a client as long as the session lasts);
* :meth:`~harness.runtime.core.Runtime.debug_stop` kills the debugged environment (an invocation
  paused at a breakpoint ends with ``Runtime.ExitError``) and the function serves normally again.

Prior art: aws-sam-cli's ``sam local invoke -d`` (``samcli/local/docker/lambda_debug_settings.py``:
the container waits for the debugger, the timeout is lifted while debugging) and debugpy's
``listen``/``wait_for_client`` API.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.runtime.pool import FunctionPool, WorkerPools

__all__ = [
    "DEBUG_HOST",
    "Deadline",
    "DebugRefused",
    "DebugSession",
    "client_attached",
    "debugpy_path",
    "end_session",
    "port_refusal",
    "sessions",
    "start_session",
]

logger = logging.getLogger(__name__)

DEBUG_HOST = "127.0.0.1"  # never another interface: a debugger runs any code it is sent
POLL_S = 0.25


class DebugRefused(Exception):
    """A debug session that cannot start (the message says why and what to do)."""


@dataclass
class DebugSession:
    function: str
    port: int
    path: str  # debugpy_path(): the folder the debugged environment finds debugpy in
    started_at: float = field(default_factory=time.time)

    def describe(self, attached: bool, pids: list[int]) -> dict[str, Any]:
        return {
            "function": self.function,
            "host": DEBUG_HOST,
            "port": self.port,
            "started_at": self.started_at,
            "environments": pids,
            "client_attached": attached,
        }


def debugpy_path(folder: Path) -> str:
    """A folder that holds only a link to the debugpy package of the harness's environment
    (created if needed): what the debugged environment adds to its ``sys.path``."""
    import debugpy

    package = Path(debugpy.__file__).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "debugpy"
    if not (link.is_symlink() and link.resolve() == package):
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(package, target_is_directory=True)
    return str(folder)


def port_refusal(port: int) -> str | None:
    """Why ``port`` cannot be the debug port (out of range, already taken), or None."""
    if not 1024 <= port <= 65535:
        return f"--port {port} is not a port a user can listen on (1024-65535)"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((DEBUG_HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{DEBUG_HOST}:{port} is already in use; pick another with --port"
            return f"cannot listen on {DEBUG_HOST}:{port}: {exc.strerror}"
    return None


def _hex_local(port: int) -> str:
    return f"0100007F:{port:04X}"  # 127.0.0.1 in /proc/net/tcp's little-endian hex


def client_attached(port: int, proc_net_tcp: str = "/proc/net/tcp") -> bool:
    """Whether a TCP connection to ``127.0.0.1:port`` is established (a debugger attached to
    the environment listening there). Reads the kernel's socket table: no call into the
    debugged process, which may be paused at a breakpoint."""
    local = _hex_local(port)
    try:
        with open(proc_net_tcp, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                if len(parts) > 3 and parts[1] == local and parts[3] == "01":  # ESTABLISHED
                    return True
    except OSError:
        return False
    return False


class Deadline:
    """An invocation's timeout: ``expire`` runs after ``seconds`` of time during which no
    debugger was attached to ``debug_port``. Without a debug port it is one timer; with one, the
    clock is sampled every :data:`POLL_S` and a step during which a client is attached does not
    count (the timeout is suspended, then resumes with what was left)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        seconds: float,
        expire: Callable[[], None],
        debug_port: int | None = None,
        attached: Callable[[int], bool] = client_attached,
    ) -> None:
        self.loop = loop
        self.expire = expire
        self.debug_port = debug_port
        self.attached = attached
        self.suspended_s = 0.0  # time not counted: a debugger was attached
        self._left = seconds
        self._last = time.monotonic()
        if debug_port is None:
            self.handle = loop.call_later(seconds, expire)
        else:
            self.handle = loop.call_later(min(POLL_S, seconds), self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        step, self._last = now - self._last, now
        assert self.debug_port is not None
        if self.attached(self.debug_port):
            self.suspended_s += step
        else:
            self._left -= step
        if self._left <= 0:
            self.expire()
            return
        self.handle = self.loop.call_later(min(POLL_S, self._left), self._tick)

    def cancel(self) -> None:
        self.handle.cancel()


def environment(port: int, path: str) -> dict[str, str]:
    """The variables that make ``bootstrap.py`` wait for a debugger."""
    return {"HARNESS_DEBUG_PORT": str(port), "HARNESS_DEBUG_PATH": path}


# -- the runtime's sessions (Runtime.debug_start / debug_stop / debug_state) -----------------


def start_session(
    pool: FunctionPool, port: int, functions: list[FunctionPool], pools: WorkerPools, path: Path
) -> None:
    """Debug ``pool``'s function on ``port``: its warm environments are drained so that the next
    one is the debugged one (``path``: the folder :func:`debugpy_path` fills). Starting it
    again on its own port changes nothing; :class:`DebugRefused` says why it cannot start."""
    if pool.spec.runtime.startswith("nodejs"):
        raise DebugRefused(
            f"{pool.name} runs on {pool.spec.runtime}: harness debug attaches debugpy, a "
            "Python debugger; Node.js functions cannot be debugged this way"
        )
    for other in functions:
        if other.debug is not None and other is not pool and other.debug.port == port:
            raise DebugRefused(
                f"port {port} is already the debug port of {other.name}; "
                f"stop that session (harness debug --stop) or pick another --port"
            )
    if pool.debug is not None and pool.debug.port == port:
        return
    if pool.debug is not None:
        end_session(pool, pools)
    refusal = port_refusal(port)
    if refusal is not None:
        raise DebugRefused(refusal)
    pool.debug = DebugSession(pool.name, port, debugpy_path(path))
    pools.drain(pool)  # the next environment of the function is the debugged one
    logger.info("debugging %s: its next environment waits on %s:%d", pool.name, DEBUG_HOST, port)


def end_session(pool: FunctionPool, pools: WorkerPools) -> None:
    """End ``pool``'s debug session: its debugged environment is killed (busy or waiting for a
    client: :meth:`~harness.runtime.pool.WorkerPools.release` retires it)."""
    pool.debug = None
    pools.drain(pool)
    for worker in list(pool.workers):
        if worker.debug_port is not None:
            worker.kill()
    pools.wake_all()


def sessions(functions: list[FunctionPool]) -> list[dict[str, Any]]:
    """The debug sessions on: function, port, its environments' pids, whether a client is on."""
    found = []
    for pool in functions:
        if pool.debug is not None:
            pids = sorted(
                w.pid for w in pool.workers if w.debug_port is not None and w.pid is not None
            )
            found.append(pool.debug.describe(client_attached(pool.debug.port), pids))
    return found
