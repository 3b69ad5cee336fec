"""A small client for the runtime server's control API (standard library only).

    client = RuntimeClient("http://127.0.0.1:8123")
    client.reload(); client.metrics()["functions"]["my-fn"]["invocations"]
    client.fire_schedule("NightlyJob")

:func:`spawn_runtime` starts a server as a child process (tests, benchmarks).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.env.process import free_port
from harness.errors import StartError
from harness.httpclient import JSON_HEADERS, HttpClientError, HttpStatusError, call

__all__ = ["RuntimeClient", "RuntimeProcess", "reload_runtime", "spawn_runtime"]

logger = logging.getLogger(__name__)


class RuntimeClient:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        """The JSON answer; a refusal is ``RuntimeError("{METHOD} {path} → {status}: {body}")``
        (``harness debug`` reads the body's message from it); no answer is
        :class:`~harness.httpclient.NoAnswerError` (an ``OSError``)."""
        headers = JSON_HEADERS if body is not None else None
        try:
            answer = call(
                method, self.url + path, body, headers=headers, control=True, timeout=self.timeout
            )
        except HttpStatusError as exc:
            raise RuntimeError(f"{method} {path} → {exc.status}: {exc.text}") from None
        return answer.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_harness/health")  # type: ignore[no-any-return]

    def healthy(self) -> bool:
        try:
            return self.health().get("status") == "ok"
        except (HttpClientError, RuntimeError, ValueError):
            return False

    def reload(self) -> dict[str, Any]:
        """Re-read the stack files now; returns the loaded functions and event sources."""
        return self._call("POST", "/_harness/runtime/reload", b"{}")  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, Any]:
        return self._call("GET", "/_harness/runtime/metrics")  # type: ignore[no-any-return]

    def function_metrics(self, name: str) -> dict[str, Any]:
        return self.metrics()["functions"][name]  # type: ignore[no-any-return]

    def fire_schedule(self, name: str, stack: str | None = None) -> str:
        """Fire the schedule ``name`` (its ``Name``, logical id, EventSourceSpec.name or
        function) of ``stack`` (needed when several stacks have that name) now; request id."""
        query = f"?stack={quote(stack)}" if stack else ""
        answer = self._call("POST", f"/_harness/runtime/schedules/{quote(name)}/fire{query}", b"{}")
        return str(answer["requestId"])

    def debug_start(self, function: str, port: int, stack: str | None = None) -> dict[str, Any]:
        body = json.dumps({"function": function, "port": port, "stack": stack}).encode()
        return self._call("POST", "/_harness/runtime/debug", body)  # type: ignore[no-any-return]

    def debug_stop(self, function: str | None = None, stack: str | None = None) -> dict[str, Any]:
        body = json.dumps({"function": function, "stack": stack}).encode()
        return self._call("DELETE", "/_harness/runtime/debug", body)  # type: ignore[no-any-return]

    def debug_state(self) -> dict[str, Any]:
        return self._call("GET", "/_harness/runtime/debug")  # type: ignore[no-any-return]

    def swap_code(self, functions: list[str], stack: str | None = None) -> dict[str, Any]:
        body = json.dumps({"functions": functions, "stack": stack}).encode()
        return self._call("POST", "/_harness/runtime/swap", body)  # type: ignore[no-any-return]

    def logs(self, function: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._call("GET", f"/_harness/runtime/logs/{function}?limit={limit}")["records"]  # type: ignore[no-any-return]


def reload_runtime(endpoints: dict[str, Any], timeout: float = 120.0) -> dict[str, Any] | None:
    """Make the environment's runtime (if it has one) load the stack files now; returns when
    the provisioned-concurrency environments are warm. A runtime that does not answer is only
    logged: it still picks the stacks up by itself within a second."""
    url = endpoints.get("runtime_url")
    if not url:
        return None
    try:
        return RuntimeClient(str(url), timeout).reload()
    except (OSError, RuntimeError, ValueError) as exc:
        logger.warning("the runtime at %s did not reload: %s", url, exc)
        return None


@dataclass
class RuntimeProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> RuntimeClient:
        return RuntimeClient(self.url)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def spawn_runtime(
    state_dir: Path,
    *,
    port: int = 0,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 20.0,
) -> RuntimeProcess:
    """Start ``python -m harness.runtime`` and wait until its health endpoint answers."""
    from harness.env.secret import ensure_secret, register

    port = port or free_port()
    ensure_secret(Path(state_dir))  # the control API needs it; the client registers it below
    register({"runtime_url": f"http://127.0.0.1:{port}"}, Path(state_dir))
    log_dir = Path(state_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"runtime-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.runtime",
                "--port",
                str(port),
                "--state-dir",
                str(state_dir),
                *(args or []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    handle = RuntimeProcess(process, port, log_path)
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if process.poll() is not None:
            break
        if handle.client.healthy():
            return handle
        time.sleep(0.05)
    handle.stop()
    tail = log_path.read_text(errors="replace")[-3000:]
    raise StartError("runtime", "it did not answer /_harness/health", log_tail=tail)
