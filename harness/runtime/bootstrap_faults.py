"""The faults an execution environment applies to one invocation (``bootstrap.py``'s sibling).

A request frame may carry ``fault``, decided by the runtime (``harness/chaos/lambda_faults.py``):
a start delay, a handler that never returns, an exception, a canned status code, a DNS-style
denylist or a full ``/tmp``. :class:`Fault` applies it around the handler call, and puts back
whatever it patched when the invocation ends.

Standard library only, like ``bootstrap.py``, which imports it before it sets the function's
``sys.path`` (the harness package is not on it).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from typing import Any

__all__ = ["Fault", "InjectedFault"]


class InjectedFault(Exception):
    """The exception an ``exception``/``error`` fault raises in place of (or after) the handler."""


class Fault:
    """Applies one invocation's fault directive inside the execution environment."""

    def __init__(self, directive: dict[str, Any]) -> None:
        self.d = directive
        self.mode = str(directive.get("mode", ""))
        self._saved: list[tuple[Any, str, Any]] = []

    # -- before / instead of the handler ---------------------------------------------------

    def before(self, deadline_ms: float) -> Any:
        """Runs before the handler; returns a result to answer with instead, or None."""
        delay = float(self.d.get("delay_ms", 0.0))
        if delay > 0:
            time.sleep(delay / 1000)
        if self.mode == "timeout":
            # never return: the runtime's timer ends the environment at the function's timeout
            while True:
                time.sleep(max(0.05, (deadline_ms - time.time() * 1000) / 1000 + 1.0))
        if self.d.get("prevent"):
            return self._outcome()
        return None

    def after(self, result: Any) -> Any:
        """Runs after a handler that was allowed to run (``preventExecution: false``)."""
        if self.mode in ("exception", "error", "statuscode") and not self.d.get("prevent"):
            return self._outcome()
        return result

    def _outcome(self) -> Any:
        if self.mode in ("exception", "error"):
            raise InjectedFault(str(self.d.get("message", "Injected fault")))
        if self.mode == "statuscode":
            status = int(self.d.get("status", 500))
            return {
                "statusCode": status,
                "headers": {"Content-Type": str(self.d.get("content_type", "application/json"))},
                "body": json.dumps({"message": f"injected status code {status}"}),
            }
        return None

    # -- patches that last for the invocation ------------------------------------------------

    def __enter__(self) -> Fault:
        if self.mode == "denylist":
            self._deny([re.compile(p) for p in self.d.get("deny", [])])
        elif self.mode == "diskspace":
            self._disk_full()
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def _deny(self, patterns: list[re.Pattern[str]]) -> None:
        import socket

        def denied(host: Any, port: Any) -> bool:
            if host is None:
                return False
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            names = (str(host), f"{host}:{port}")
            return any(p.search(n) for p in patterns for n in names)

        def fail(host: Any) -> socket.gaierror:
            return socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")

        real_getaddrinfo = socket.getaddrinfo
        real_create = socket.create_connection

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if denied(host, port):
                raise fail(host)
            return real_getaddrinfo(host, port, *args, **kwargs)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
            if denied(address[0], address[1]):
                raise fail(address[0])
            return real_create(address, *args, **kwargs)

        self._patch(socket, "getaddrinfo", getaddrinfo)
        self._patch(socket, "create_connection", create_connection)

    def _disk_full(self) -> None:
        import builtins
        import errno
        import tempfile

        # Lambda's ephemeral storage is /tmp (and whatever TMPDIR points at)
        roots = tuple({os.path.realpath("/tmp"), os.path.realpath(tempfile.gettempdir())})
        real_open = builtins.open
        real_os_open = os.open

        def under_tmp(path: Any) -> bool:
            if isinstance(path, int):
                return False
            try:
                full = os.path.realpath(os.fsdecode(path))
            except (TypeError, ValueError):
                return False
            return any(full == r or full.startswith(r + os.sep) for r in roots)

        def no_space(path: Any) -> OSError:
            return OSError(errno.ENOSPC, "No space left on device", os.fsdecode(path))

        def patched_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if any(c in mode for c in "wax+") and under_tmp(file):
                raise no_space(file)
            return real_open(file, mode, *args, **kwargs)

        def patched_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
            if writing and under_tmp(path):
                raise no_space(path)
            return real_os_open(path, flags, *args, **kwargs)

        self._patch(builtins, "open", patched_open)
        self._patch(io, "open", patched_open)
        self._patch(os, "open", patched_os_open)
