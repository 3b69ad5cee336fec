"""The control-plane boundary: a per-environment secret that every control API requires.

``harness up`` writes a random secret to ``<state_dir>/control-secret`` (owner-only) before it
starts anything. The edge, the gateway, the runtime and the Redis fault proxy read it from there
and refuse any control call (faults, runtime control, emulator reset, the IAM decision log,
gateway reload) that does not carry it in the ``X-Harness-Secret`` header: 403, and the call is
recorded in ``<state_dir>/control-probes.jsonl`` with the calling process (the function, when
tenant code made it), which the isolation report shows as a finding ("tenant code probed the
control plane"). The CLI, the Python API, the scenario runner and the pytest fixtures hold the
secret through :func:`control_headers`; functions never get it (their environment is built from
a short allow-list, see ``harness.runtime.pool.function_environ``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.env.private import private_dir, private_file

__all__ = [
    "HEADER",
    "PROBES_FILE",
    "SECRET_FILE",
    "ControlGuard",
    "control_headers",
    "ensure_secret",
    "headers_for",
    "read_probes",
    "read_secret",
    "register",
    "remove_secret",
    "state_dir_of",
]

logger = logging.getLogger(__name__)

SECRET_FILE = "control-secret"
PROBES_FILE = "control-probes.jsonl"
HEADER = "x-harness-secret"
MAX_PROBES = 10_000  # a flood of probes is itself one finding; the file stays bounded


def read_secret(state_dir: Path) -> str | None:
    try:
        return (state_dir / SECRET_FILE).read_text().strip() or None
    except OSError:
        return None


def ensure_secret(state_dir: Path) -> str:
    """The environment's secret, created (``0600``, atomically) if there is none yet."""
    existing = read_secret(state_dir)
    if existing:
        return existing
    private_dir(state_dir)
    value = secrets.token_urlsafe(32)
    tmp = state_dir / f".{SECRET_FILE}.{os.getpid()}.tmp"
    with os.fdopen(private_file(tmp, append=False), "w") as handle:
        handle.write(value)
    try:
        os.link(tmp, state_dir / SECRET_FILE)  # fails if another process won the race
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_secret(state_dir) or value


def remove_secret(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / SECRET_FILE).unlink()


def state_dir_of(endpoints: Mapping[str, Any] | None) -> Path:
    """The state folder of the environment ``endpoints`` describe (else the configured one)."""
    if endpoints and endpoints.get("state_dir"):
        return Path(str(endpoints["state_dir"]))
    from harness.config import Settings

    return Settings.load().state_dir


def control_headers(source: Mapping[str, Any] | Path | str | None = None) -> dict[str, str]:
    """``{"X-Harness-Secret": ...}`` for a control call to the environment of ``source``
    (its endpoints or its state folder); empty if that environment has no secret."""
    state_dir = Path(source) if isinstance(source, (Path, str)) else state_dir_of(source)
    value = read_secret(state_dir)
    return {"X-Harness-Secret": value} if value else {}


_KNOWN: dict[str, str] = {}  # "host:port" of a control API -> its environment's secret
_LOCK = threading.Lock()


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname and parts.port else ""


def register(endpoints: Mapping[str, Any], state_dir: Path | None = None) -> None:
    """Remember the secret of the environment ``endpoints`` describe for its control APIs'
    addresses (edge, gateway, runtime, Redis proxy), so :func:`headers_for` finds it."""
    value = read_secret(state_dir or state_dir_of(endpoints))
    if not value:
        return
    with _LOCK:
        for key in ("aws_endpoint", "gateway_url", "runtime_url", "redis_control_url"):
            url = endpoints.get(key)
            if url and _origin(str(url)):
                _KNOWN[_origin(str(url))] = value


def headers_for(url: str) -> dict[str, str]:
    """The secret header for a control call to ``url``: the secret of the environment that
    serves that address (registered, or the configured state folder's running environment)."""
    origin = _origin(url)
    if origin and origin not in _KNOWN:
        from harness.config import Settings

        state_dir = Settings.load().state_dir
        with contextlib.suppress(OSError, ValueError):
            endpoints = json.loads((state_dir / "state.json").read_text()).get("endpoints", {})
            register(endpoints, state_dir)
    value = _KNOWN.get(origin)
    return {"X-Harness-Secret": value} if value else {}


def read_probes(state_dir: Path, since: float = 0.0) -> list[dict[str, Any]]:
    """Refused control calls recorded in ``state_dir`` (at or after ``since``)."""
    out: list[dict[str, Any]] = []
    try:
        lines = (state_dir / PROBES_FILE).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and float(entry.get("time", 0)) >= since:
                out.append(entry)
    return out


def _caller(peer: tuple[str, int] | None, state_dir: Path | None = None) -> dict[str, Any]:
    """The local process that owns the client socket ``peer``: pid, and the function if it is
    one of the runtime's execution environments (``AWS_LAMBDA_FUNCTION_NAME`` in its environ,
    or, for a forked one whose /proc environ is its template's, the runtime's pid file)."""
    if peer is None:
        return {}
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and (conn.laddr.ip, conn.laddr.port) == peer and conn.pid:
                proc = psutil.Process(conn.pid)
                info: dict[str, Any] = {"pid": conn.pid, "command": " ".join(proc.cmdline())[:200]}
                with contextlib.suppress(psutil.Error, OSError):
                    function = proc.environ().get("AWS_LAMBDA_FUNCTION_NAME")
                    if function:
                        info["function"] = function
                if "function" not in info and state_dir is not None:
                    with contextlib.suppress(OSError):
                        noted = (state_dir / "runtime-pids" / str(conn.pid)).read_text().strip()
                        if noted:
                            info["function"] = noted
                return info
    return {}


class ControlGuard:
    """Checks the secret of control calls for one server, and records the refused ones."""

    def __init__(self, state_dir: Path | None, server: str) -> None:
        self.state_dir = state_dir
        self.server = server
        self._secret: str | None = None
        self._lock = threading.Lock()
        self._recorded = 0

    def secret(self) -> str | None:
        if self._secret is None and self.state_dir is not None:
            self._secret = read_secret(self.state_dir)
        return self._secret

    def allowed(self, headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]]) -> bool:
        """Does the request carry the environment's secret? (No secret known: nothing is.)"""
        expected = self.secret()
        if not expected:
            return False
        if isinstance(headers, Mapping):
            given = next((v for k, v in headers.items() if k.lower() == HEADER), "")
        else:
            given = next(
                (v.decode("latin-1") for k, v in headers if k.lower() == HEADER.encode()), ""
            )
        return hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode())

    def refusal(self, method: str, path: str) -> dict[str, Any]:
        """The 403 body of a refused control call."""
        return {
            "message": (
                f"{method} {path} is the harness's control plane: it requires the environment's "
                f"secret in the {HEADER} header (held by the harness CLI and Python API, in "
                "<state_dir>/control-secret). The call was recorded."
            ),
            "__type": "AccessDeniedException",
        }

    def record(self, method: str, path: str, peer: tuple[str, int] | None) -> dict[str, Any]:
        """Append the refused call to ``control-probes.jsonl`` (owner-only); the entry."""
        entry: dict[str, Any] = {
            "time": time.time(),
            "server": self.server,
            "method": method,
            "path": path[:300],
            "peer": f"{peer[0]}:{peer[1]}" if peer else None,
            **_caller(peer, self.state_dir),
        }
        logger.warning(
            "refused a control call without the secret: %s %s from %s",
            method,
            path[:200],
            entry.get("function") or entry.get("pid") or entry["peer"],
        )
        if self.state_dir is None:
            return entry
        with self._lock:
            if self._recorded >= MAX_PROBES:
                return entry
            self._recorded += 1
            with (
                contextlib.suppress(OSError),
                os.fdopen(private_file(self.state_dir / PROBES_FILE), "a") as handle,
            ):
                handle.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry
