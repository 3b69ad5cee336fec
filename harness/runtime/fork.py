"""Execution environments forked from a warm template (issue 26).

One :class:`Template` per interpreter and dependency set (``HARNESS_RUNTIME_PATH``) runs
``zygote.py`` (see there for what it imports and what a child resets); a new environment of a
Python function is a ``fork()`` of it instead of a new interpreter that imports boto3 again.
The runtime's side of a forked environment looks like a subprocess to
:class:`harness.runtime.worker.Worker` (:class:`ForkedTransport`): the same frame protocol on a
pipe pair the runtime created, the exit status reported by the template (its parent).

Anything that cannot be forked safely uses the exec path, and the reason goes into the
function's log with its first invocation (:func:`fork_refusal`): a Node.js function, a task root
that carries its own copy of a preloaded package (on Lambda the task root's copy wins), a
template that failed to start, ``HARNESS_RUNTIME_FORK=0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "ForkedTransport",
    "Template",
    "TemplateFailed",
    "Templates",
    "fork_refusal",
    "preload_for",
]

logger = logging.getLogger(__name__)

ZYGOTE = str(Path(__file__).with_name("zygote.py"))
PRELOAD = ("boto3", "botocore")  # top-level packages every template imports
BASE_PRELOAD = "boto3,botocore.session,botocore.client"
# Powertools is preloaded when the dependency set has it and the function does not set
# POWERTOOLS_DEBUG: its import reads that variable (package_logger), nothing else of the env
POWERTOOLS = "aws_lambda_powertools"
START_TIMEOUT_S = 60.0


class TemplateFailed(Exception):
    """The template could not start or fork (the caller uses the exec path)."""


def fork_refusal(interpreter: str, env: dict[str, str], cwd: str) -> str | None:
    """Why this environment must not be forked from a template, or None when it may."""
    if os.path.basename(interpreter).startswith("node"):
        return "Node.js functions start by exec (the templates are Python)"
    if not hasattr(socket, "send_fds") or not hasattr(os, "fork"):
        return "this platform cannot pass file descriptors or fork"
    task_root = env.get("LAMBDA_TASK_ROOT", cwd)
    for name in (*PRELOAD, POWERTOOLS):
        for candidate in (name, f"{name}.py"):
            if os.path.exists(os.path.join(task_root, candidate)):
                return (
                    f"the task root carries its own {name} (Lambda imports it before the "
                    "runtime's), so the template's preloaded copy would be the wrong one"
                )
    return None


def preload_for(env: dict[str, str]) -> str:
    """The modules a template for this environment imports (part of the template's key)."""
    path = [p for p in env.get("HARNESS_RUNTIME_PATH", "").split(os.pathsep) if p]
    has_powertools = any(os.path.isdir(os.path.join(p, POWERTOOLS)) for p in path)
    if has_powertools and "POWERTOOLS_DEBUG" not in env:
        return f"{BASE_PRELOAD},{POWERTOOLS}"
    return BASE_PRELOAD


class ForkedTransport(asyncio.SubprocessTransport):
    """The subset of a subprocess transport a Worker uses, for a child of a template."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.WriteTransport,
        stdout: asyncio.ReadTransport,
        protocol: asyncio.SubprocessProtocol,
    ) -> None:
        super().__init__()
        self._pid = pid
        self._stdin = stdin
        self._stdout = stdout
        self._protocol = protocol
        self._returncode: int | None = None
        self._closed = False

    def exited(self, code: int) -> None:
        """Called by the template when it reaped this child."""
        if self._returncode is None:
            self._returncode = code
            self._protocol.process_exited()

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def get_pipe_transport(self, fd: int) -> Any:
        return self._stdin if fd == 0 else self._stdout if fd == 1 else None

    def send_signal(self, signal: int) -> None:
        if self._returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._stdin.close()
        self._stdout.close()


class Template:
    """One zygote process: an interpreter with a dependency set imported, forking on request."""

    def __init__(
        self, interpreter: str, runtime_path: str, log_path: Path, preload: str = BASE_PRELOAD
    ) -> None:
        self.interpreter = interpreter
        self.runtime_path = runtime_path
        self.preload = preload
        self.log_path = log_path
        self.sock: socket.socket | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.ready: asyncio.Future[dict[str, Any]] | None = None
        self.failure: str | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._children: dict[int, ForkedTransport] = {}
        self._exits: dict[int, int] = {}  # exit reports that came before the child was known
        self._next = 0
        self.forks = 0
        self.was_ready = False
        self.preloaded: list[str] = []
        self.preload_failed: dict[str, str] = {}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> dict[str, Any]:
        """Start the template (once); its ready message. :class:`TemplateFailed` if it cannot."""
        if self.failure is not None:
            raise TemplateFailed(self.failure)
        if self.ready is None:
            self.ready = asyncio.get_running_loop().create_future()
            try:
                await self._launch()
            except BaseException as exc:
                self.failure = f"template did not start: {exc}"
                if not self.ready.done():
                    self.ready.set_exception(TemplateFailed(self.failure))
                self.close()
                raise TemplateFailed(self.failure) from None
        try:
            return await asyncio.shield(self.ready)
        except TemplateFailed:
            raise
        except Exception as exc:
            raise TemplateFailed(str(exc)) from None

    async def _launch(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        env = {
            k: os.environ[k]
            for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
            if k in os.environ
        }
        env.update(
            {
                "HARNESS_RUNTIME_PATH": self.runtime_path,
                "HARNESS_ZYGOTE_FD": str(theirs.fileno()),
                "HARNESS_ZYGOTE_PRELOAD": self.preload,
                "PYTHONDONTWRITEBYTECODE": "1",
                "TZ": ":UTC",
            }
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log:
                self.process = await asyncio.create_subprocess_exec(
                    self.interpreter, "-S", "-X", "frozen_modules=on", ZYGOTE,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                    pass_fds=(theirs.fileno(),),
                )  # fmt: skip
        finally:
            theirs.close()
        self.sock = ours
        loop.add_reader(ours.fileno(), self._readable)
        assert self.ready is not None
        async with asyncio.timeout(START_TIMEOUT_S):
            await asyncio.shield(self.ready)

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(f"template socket failed: {exc}")
                return
            if not data:
                self._lost("the template exited")
                return
            self._message(json.loads(data))

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ready":
            self.was_ready = True
            self.preloaded = list(message.get("preloaded") or [])
            self.preload_failed = dict(message.get("failed") or {})
            if message.get("failed"):  # its children import those themselves (slower, correct)
                logger.warning(
                    "template %s (%s) could not preload %s",
                    message.get("pid"), self.interpreter, message["failed"],
                )  # fmt: skip
            if self.ready is not None and not self.ready.done():
                self.ready.set_result(message)
        elif kind == "forked":
            future = self._pending.pop(int(message["id"]), None)
            if future is not None and not future.done():
                future.set_result(int(message["pid"]))
        elif kind == "error":
            future = self._pending.pop(int(message.get("id") or -1), None)
            if future is not None and not future.done():
                future.set_exception(TemplateFailed(str(message.get("error"))))
        elif kind == "exit":
            pid, code = int(message["pid"]), int(message["code"])
            child = self._children.pop(pid, None)
            if child is None:
                self._exits[pid] = code
            else:
                child.exited(code)

    def _lost(self, reason: str) -> None:
        """The template is gone: its children died with it (PDEATHSIG); fail what waits."""
        self.failure = reason
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(TemplateFailed(reason))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TemplateFailed(reason))
        self._pending.clear()
        children, self._children = self._children, {}
        for child in children.values():
            child.exited(-9)

    async def fork(self, env: dict[str, str], cwd: str, log_path: Path) -> tuple[int, int, int]:
        """Fork one environment; ``(pid, our stdin write fd, our stdout read fd)``."""
        await self.start()
        sock = self.sock
        if sock is None:
            raise TemplateFailed(self.failure or "template closed")
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._next += 1
        request_id = self._next
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            payload = json.dumps({"id": request_id, "env": env, "cwd": cwd}).encode()
            try:
                socket.send_fds(sock, [payload], [in_r, out_w, log_fd])
            except OSError as exc:
                raise TemplateFailed(f"cannot send to the template: {exc}") from None
            async with asyncio.timeout(START_TIMEOUT_S):
                pid = await future
        except BaseException:
            self._pending.pop(request_id, None)
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            for fd in (in_r, out_w, log_fd):
                os.close(fd)
        self.forks += 1
        return pid, in_w, out_r

    def adopt(self, pid: int, transport: ForkedTransport) -> None:
        """Route the exit report of ``pid`` to ``transport`` (it may have come already)."""
        code = self._exits.pop(pid, None)
        if code is not None:
            transport.exited(code)
        else:
            self._children[pid] = transport

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def wait_closed(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.process.wait()


class Templates:
    """The templates of one runtime, by (interpreter, dependency set)."""

    def __init__(self, log_dir: Path, enabled: bool) -> None:
        self.log_dir = log_dir
        self.enabled = enabled
        self.by_key: dict[tuple[str, str, str], Template] = {}

    def get(self, interpreter: str, runtime_path: str, preload: str = BASE_PRELOAD) -> Template:
        key = (interpreter, runtime_path, preload)
        template = self.by_key.get(key)
        # a template that failed to start stays failed (its functions use exec, no retry storm);
        # one that was lost after it worked is started again
        if template is None or (template.failure is not None and template.was_ready):
            index = len(self.by_key)
            template = Template(
                interpreter, runtime_path, self.log_dir / f"template-{index}.log", preload
            )
            self.by_key[key] = template
        return template

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "interpreter": t.interpreter,
                "pid": t.pid,
                "forks": t.forks,
                "preloaded": t.preloaded,
                "preload_failed": t.preload_failed,
                "failure": t.failure,
            }
            for t in self.by_key.values()
        ]

    async def close(self) -> None:
        for template in self.by_key.values():
            template.close()
        for template in self.by_key.values():
            await template.wait_closed()
