"""The warm template of Python execution environments (runs as a script, standard library only).

Started by the runtime (:mod:`harness.runtime.fork`) on one interpreter, with ``-S`` and the
same isolated ``sys.path`` a worker gets (``HARNESS_RUNTIME_PATH``: the dependency set of the
functions it serves, then the standard library), it imports the standard library modules the
bootstrap needs and the modules named in ``HARNESS_ZYGOTE_PRELOAD`` (boto3 and botocore by
default) — **never a handler module**. Then, for each request, it ``fork()``s a new execution
environment, as gunicorn's ``preload_app`` and Android's zygote do: the child starts with the
imports done, so a cold start costs a fork and the handler's own imports instead of an
interpreter start plus boto3 (1-4 s of CPU on this machine).

Protocol: a ``SOCK_SEQPACKET`` socket on fd ``HARNESS_ZYGOTE_FD``. The template sends
``{"type": "ready", "preloaded": [...], "failed": {...}}`` once; the runtime sends
``{"id", "env", "cwd"}`` with three file descriptors (the worker's stdin, its protocol stdout and
its log) and gets ``{"type": "forked", "id", "pid"}`` (or ``"error"``); when a child ends the
template reaps it and sends ``{"type": "exit", "pid", "code"}`` (``code`` as ``subprocess`` gives
it: negative for a signal), which is how ``Runtime.ExitError`` and out-of-memory keep their
reasons. It exits when the socket closes and dies with the runtime (``PR_SET_PDEATHSIG``);
children die with it.

A child, before it imports the handler (:func:`_become`): takes the three fds as 0, 1, 2 and
closes every other inherited descriptor (the template's socket, anything a preloaded module
opened), replaces the environment with the function's (``os.environ`` and the C environment),
changes to its working directory, re-reads ``TZ``, reseeds ``random`` (CPython also does that at
fork), drops the root logger's handlers, and refreshes the values the bootstrap read from the
template's environment at import. Then it runs ``bootstrap.main()``: the handler's module and its
globals are this environment's alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
STDLIB_PATH: list[str] = []  # sys.path of a -S interpreter: the standard library only
DEFAULT_PRELOAD = "boto3,botocore.session,botocore.client"  # the runtime passes its own list


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        os._exit(0)  # the runtime is gone


def _become(request: dict[str, Any], fds: list[int], keep: set[int]) -> None:
    """In the child: turn the template's copy into the function's execution environment."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    stdin_fd, stdout_fd, log_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(log_fd, 2)
    os.closerange(3, 65536)  # no descriptor of the template (or of another function) survives
    del keep
    env = request["env"]
    os.environ.clear()  # putenv/unsetenv: the C environment follows
    os.environ.update(env)
    cwd = request.get("cwd")
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    time.tzset()
    random.seed()  # CPython reseeds at fork too; never the template's state
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    _die_with_parent()
    import bootstrap

    ctx = bootstrap.LambdaContext
    ctx.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
    ctx.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    ctx.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    ctx.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    ctx.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    sys.argv = [os.path.join(HERE, "bootstrap.py")]
    sys.path[:] = STDLIB_PATH  # the bootstrap puts the task root and dependencies first, as on exec
    bootstrap.main()
    os._exit(0)


def _run_child(request: dict[str, Any], fds: list[int]) -> int:
    """Run the environment; its exit status as the interpreter would give it (a handler's
    ``sys.exit(3)`` is ``exit status 3``, an uncaught exception 1), after ``atexit``."""
    import atexit

    try:
        _become(request, fds, set())
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return code & 0xFF


def main() -> None:
    _die_with_parent()
    sock = socket.socket(fileno=int(os.environ["HARNESS_ZYGOTE_FD"]))
    extra = [p for p in os.environ.get("HARNESS_RUNTIME_PATH", "").split(os.pathsep) if p]
    # HERE is never on the path: harness/runtime/http.py would shadow the standard library's
    STDLIB_PATH[:] = [p for p in sys.path if p and p != HERE]
    sys.path[:] = [*extra, *STDLIB_PATH]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bootstrap", os.path.join(HERE, "bootstrap.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bootstrap"] = module  # the worker's code, imported once for every child
    spec.loader.exec_module(module)

    preloaded: list[str] = []
    failed: dict[str, str] = {}
    names = os.environ.get("HARNESS_ZYGOTE_PRELOAD", DEFAULT_PRELOAD)
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        try:
            __import__(name)
            preloaded.append(name)
        except Exception as exc:  # not in this dependency set: the child imports it itself
            failed[name] = f"{type(exc).__name__}: {exc}"
    # the template's own environment must not leak: children get exactly the function's
    read_w, wake_w = os.pipe()
    os.set_blocking(read_w, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(sock, {"type": "ready", "preloaded": preloaded, "failed": failed, "pid": os.getpid()})
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "sock")
    selector.register(read_w, selectors.EVENT_READ, "child")
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(read_w, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    _send(
                        sock,
                        {"type": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)},
                    )
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 3)
            except OSError:
                os._exit(0)
            if not data:
                os._exit(0)  # the runtime closed the template
            request: dict[str, Any] = {}
            try:
                request = json.loads(data)
                if len(fds) != 3:
                    raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
            except Exception as exc:
                for fd in fds:
                    os.close(fd)
                _send(
                    sock,
                    {
                        "type": "error",
                        "id": request.get("id"),
                        "error": "".join(traceback.format_exception_only(exc)).strip(),
                    },
                )
                continue
            if pid == 0:
                selector.close()
                os._exit(_run_child(request, fds))
            for fd in fds:
                os.close(fd)
            _send(sock, {"type": "forked", "id": request["id"], "pid": pid})


if __name__ == "__main__":
    main()
