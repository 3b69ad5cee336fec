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
* the invocation timeout is suspended while a client is attached (:class:`Deadline`): when it
  falls due with a client attached, it is checked again every 0.25 s and fires once the client
  has left; the init timeout of the debugged environment does not apply (it waits for a client
  as long as the session lasts);
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
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEBUG_HOST",
    "Deadline",
    "DebugRefused",
    "DebugSession",
    "client_attached",
    "debugpy_path",
    "port_refusal",
]

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
    """An invocation's timeout: ``expire`` runs ``seconds`` from now, unless a debugger is
    attached to ``debug_port`` then; it is checked again every :data:`POLL_S` until none is."""

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
        self.suspended_s = 0.0  # how long the timeout was held back by an attached debugger
        self._due = time.monotonic() + seconds
        self._held = False
        self.handle = loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        port = self.debug_port
        if port is not None and self.attached(port):
            self._held = True
            self.handle = self.loop.call_later(POLL_S, self._fire)
            return
        if self._held:
            self.suspended_s = time.monotonic() - self._due
        self.expire()

    def cancel(self) -> None:
        self.handle.cancel()


def environment(port: int, path: str) -> dict[str, str]:
    """The variables that make ``bootstrap.py`` wait for a debugger."""
    return {"HARNESS_DEBUG_PORT": str(port), "HARNESS_DEBUG_PATH": path}
