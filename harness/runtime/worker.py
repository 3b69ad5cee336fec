"""The server's handle on one execution environment: a ``bootstrap.py`` process and its pipes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runtime.bootstrap import FRAME, error_payload
from harness.runtime.fork import ForkedTransport, Template

__all__ = ["BOOTSTRAP", "NODE_BOOTSTRAP", "Worker", "WorkerDied", "WorkerResult"]

logger = logging.getLogger(__name__)

BOOTSTRAP = str(Path(__file__).with_name("bootstrap.py"))
NODE_BOOTSTRAP = str(Path(__file__).with_name("bootstrap.js"))


class WorkerDied(Exception):
    """The worker process ended (exit, signal, broken pipe) before it answered."""

    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode
        super().__init__(f"worker exited with {returncode}")

    def describe(self) -> str:
        code = self.returncode
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
            return f"Runtime exited with error: signal: {'killed' if name == 'kill' else name}"
        return f"Runtime exited with error: exit status {code}"


@dataclass(slots=True)
class WorkerResult:
    error: bool
    body: bytes
    duration_ms: float
    max_rss_kb: int
    logs: list[list[str]] = field(default_factory=list)
    correlation_id: str = ""
    fatal: bool = False
    trace: str = ""  # the invocation's _X_AMZN_TRACE_ID (its Parent is the invocation span)
    trace_parent: str = ""  # the caller's span id (16 hex), "" when none


class _WorkerProtocol(asyncio.SubprocessProtocol):
    """Parses response frames from the worker's protocol pipe; one waiter at a time."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[dict[str, Any], bytes]] | None = None
        self.closed = False
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done() or len(buffer) < FRAME.size:
            return
        hlen, blen = FRAME.unpack_from(buffer)
        end = FRAME.size + hlen + blen
        if len(buffer) < end:
            return
        header = json.loads(bytes(buffer[FRAME.size : FRAME.size + hlen]))
        body = bytes(buffer[FRAME.size + hlen : end])
        del buffer[:end]
        self.waiter = None
        waiter.set_result((header, body))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._close()

    def process_exited(self) -> None:
        code = self.transport.get_returncode() if self.transport else None
        if not self.exited.done():
            self.exited.set_result(code)
        self._close()

    def _close(self) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_exception(_PipeClosed())

    def wait_frame(self) -> asyncio.Future[tuple[dict[str, Any], bytes]]:
        future = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_exception(_PipeClosed())
            return future
        self.waiter = future
        if self.buffer:
            self.pipe_data_received(1, b"")
        return future


class _PipeClosed(Exception):
    pass


class _StdoutAdapter(asyncio.Protocol):
    """Feeds a forked worker's protocol pipe into its :class:`_WorkerProtocol` (fd 1)."""

    def __init__(self, target: _WorkerProtocol) -> None:
        self.target = target

    def data_received(self, data: bytes) -> None:
        self.target.pipe_data_received(1, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.target.pipe_connection_lost(1, exc)


class Worker:
    """One warm (or warming) execution environment of one function."""

    def __init__(self, function: str, generation: int) -> None:
        self.function = function
        self.generation = generation  # the spec version it was started for
        self.transport: asyncio.SubprocessTransport | None = None
        self.protocol: _WorkerProtocol | None = None
        self.stdin: asyncio.WriteTransport | None = None
        self.init_ms = 0.0
        self.init_error: dict[str, Any] | None = None
        self.init_logs: list[list[str]] = []
        self.last_used = time.monotonic()
        self.invocations = 0
        self.dead = False
        self.expired = False  # killed because the invocation ran past the function's timeout
        self.provisioned = False  # started ahead of demand for ProvisionedConcurrencyConfig
        self.forked = False  # a fork of a warm template (harness.runtime.fork), not an exec
        self.debug_port: int | None = None  # harness debug: it waits for / has a debugger there

    def expire(self) -> None:
        self.expired = True
        self.kill()

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport else None

    async def start(
        self,
        interpreter: str,
        env: dict[str, str],
        cwd: str,
        log_path: Path,
        init_timeout: float | None,
        template: Template | None = None,
    ) -> None:
        """Start the bootstrap of the function's runtime on ``interpreter`` (a Python: isolated
        with ``-S``, its path is only what ``HARNESS_RUNTIME_PATH`` names; ``node``: the Node.js
        bootstrap) and wait for its ready frame. With ``template``: a fork of that warm template
        (:mod:`harness.runtime.fork`) instead of a new interpreter; :class:`TemplateFailed`
        when it cannot fork (nothing started: the caller may exec)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        if template is not None:
            pid, in_w, out_r = await template.fork(env, cwd, log_path)
            protocol = _WorkerProtocol()
            try:
                stdin, _ = await loop.connect_write_pipe(
                    asyncio.BaseProtocol, os.fdopen(in_w, "wb", buffering=0)
                )
                stdout, _ = await loop.connect_read_pipe(
                    lambda: _StdoutAdapter(protocol), os.fdopen(out_r, "rb", buffering=0)
                )
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                raise
            forked = ForkedTransport(pid, stdin, stdout, protocol)
            protocol.connection_made(forked)
            template.adopt(pid, forked)
            self.forked = True
            await self._ready(forked, protocol, init_timeout)
            return
        if os.path.basename(interpreter).startswith("node"):
            # --preserve-symlinks: a built artifact is links to the code beside node_modules
            argv = [interpreter, "--preserve-symlinks", NODE_BOOTSTRAP]
        else:
            # a debugged environment: debugpy misses breakpoints in frozen modules
            frozen = "off" if self.debug_port is not None else "on"
            argv = [interpreter, "-S", "-X", f"frozen_modules={frozen}", BOOTSTRAP]
        with open(log_path, "ab") as log:
            transport, protocol = await loop.subprocess_exec(
                _WorkerProtocol,
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=cwd if os.path.isdir(cwd) else None,
            )
        await self._ready(transport, protocol, init_timeout)

    async def _ready(
        self,
        transport: asyncio.SubprocessTransport,
        protocol: _WorkerProtocol,
        init_timeout: float | None,
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        self.stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(init_timeout):
                header, _ = await self._read()
        except TimeoutError:
            self.kill()
            self.init_ms = (time.perf_counter() - started) * 1000
            self.init_error = error_payload(
                "Sandbox.Timedout", f"Init phase timed out after {init_timeout or 0:.2f} seconds"
            )
            return
        except WorkerDied as exc:
            self.init_ms = (time.perf_counter() - started) * 1000
            self.init_error = error_payload("Runtime.ExitError", f"Error: {exc.describe()}")
            return
        except BaseException:
            self.kill()
            raise
        self.init_ms = float(header.get("init_ms", 0.0))
        self.init_error = header.get("error")
        self.init_logs = header.get("logs") or []

    async def _read(self) -> tuple[dict[str, Any], bytes]:
        assert self.protocol is not None
        try:
            return await self.protocol.wait_frame()
        except _PipeClosed:
            self.dead = True
            raise WorkerDied(await self._returncode()) from None

    async def _returncode(self) -> int | None:
        if self.protocol is None:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                return await asyncio.shield(self.protocol.exited)
        return self.transport.get_returncode() if self.transport else None

    async def invoke(
        self,
        request_id: str,
        payload: bytes,
        deadline_ms: float,
        arn: str,
        fault: dict[str, Any] | None = None,
        trace: str | None = None,
    ) -> WorkerResult:
        """Send one event and wait for the answer (the caller applies the timeout).

        ``fault`` is a fault directive the environment applies to this invocation."""
        assert self.stdin is not None and self.protocol is not None
        header: dict[str, Any] = {"id": request_id, "deadline": deadline_ms, "arn": arn}
        if fault is not None:
            header["fault"] = fault
        if trace:
            header["trace"] = trace
        raw = json.dumps(header).encode()
        if self.stdin.is_closing():
            self.dead = True
            raise WorkerDied(await self._returncode())
        future = self.protocol.wait_frame()
        self.stdin.write(FRAME.pack(len(raw), len(payload)) + raw + payload)
        try:
            header, body = await future
        except _PipeClosed:
            self.dead = True
            raise WorkerDied(await self._returncode()) from None
        self.invocations += 1
        result = WorkerResult(
            error=bool(header.get("error")),
            body=body,
            duration_ms=float(header.get("ms", 0.0)),
            max_rss_kb=int(header.get("rss", 0)),
            logs=header.get("logs") or [],
            correlation_id=header.get("cid", ""),
            fatal=bool(header.get("fatal")),
            trace=header.get("trace", ""),
            trace_parent=header.get("tparent", ""),
        )
        if result.fatal:
            self.dead = True
        return result

    def kill(self) -> None:
        """Stop the process now (SIGKILL); safe to call twice."""
        self.dead = True
        if self.transport is not None and self.transport.get_returncode() is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                self.transport.kill()

    async def reap(self) -> None:
        if self.protocol is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await asyncio.shield(self.protocol.exited)
        if self.transport is not None:
            self.transport.close()
