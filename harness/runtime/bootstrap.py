"""The worker process of one Lambda execution environment (runs as a script, not as ``-m``).

``python .../harness/runtime/bootstrap.py`` is started by the runtime server with the function's
environment variables (``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``HARNESS_RUNTIME_PATH``...). It imports
the handler module once (the *init* phase), then serves invocations forever: modules and their
globals stay warm between invocations, exactly as in a Lambda execution environment.

Wire protocol (stdin → requests, the original stdout fd → responses): every frame is
``struct.pack("!II", len(header), len(body)) + header + body`` where ``header`` is a JSON object
and ``body`` raw bytes (the event, or the result/error JSON). After start the worker sends one
``{"type": "ready", "init_ms": ..., "error": ...}`` frame. File descriptor 1 is redirected to
stderr (the worker's own log) so that nothing a handler or a C extension prints can corrupt the
protocol; Python-level ``print``/``sys.stderr``/``logging`` output is captured per invocation and
returned in the response header as ``logs``.

Memory: Lambda limits *resident* memory to MemorySize. ``RLIMIT_AS`` cannot express that — it
caps virtual address space, and CPython with boto3 imported maps 3-4x more address space than it
touches (allocator arenas, thread stacks, shared libraries), so a 128 MB function could not even
import boto3. Instead the worker samples its own RSS (``/proc/self/statm``) every 50 ms while a
handler runs (``ITIMER_REAL``: two syscalls per invocation, nothing when idle) and checks the
peak (``ru_maxrss``) after each invocation; over the limit, or on ``MemoryError``, it answers
``Runtime.OutOfMemory`` and exits, and the server replaces the environment. A burst that
allocates and frees within 50 ms can slip through the sampler but not the peak check.

Faults: a request header may carry ``fault`` (decided by the runtime, see
``harness/chaos/lambda_faults.py``): a start delay, a handler that never returns, an exception,
a canned status code, a DNS-style denylist or a full ``/tmp``; ``bootstrap_faults.Fault`` (a
sibling module, standard library only too) applies it.

This file must not import the ``harness`` package (it is not on the worker's ``sys.path``): it is
standard library only, so a cold start costs one interpreter start plus the handler's imports.
It runs on the interpreter of the function's runtime with ``-S`` (no ``site``): ``sys.path`` is the
task root, then ``HARNESS_RUNTIME_PATH`` (the function's dependencies, its layers' ``/opt/python``
folders and the runtime's boto3, built by ``harness/deploy/build.py``), then the standard library,
as in Lambda; nothing of the harness's virtualenv. ``bootstrap.js`` is the same protocol for
Node.js functions.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import resource
import signal
import struct
import sys
import time
import traceback
from typing import Any

if __package__:
    from harness.runtime.bootstrap_faults import Fault
else:  # run as a script, or loaded by file by the warm template (zygote.py)

    def _sibling(name: str) -> Any:
        """This folder's module ``name``, loaded by file: the folder itself is never put on the
        function's ``sys.path`` (its ``http.py`` would shadow the standard library's)."""
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    Fault = _sibling("bootstrap_faults").Fault  # type: ignore[misc]

__all__ = [
    "FRAME",
    "HandlerSpecError",
    "error_payload",
    "parse_handler",
    "read_frame",
    "write_frame",
]

FRAME = struct.Struct("!II")
OOM_EXIT_CODE = 137


class HandlerSpecError(ValueError):
    """A handler string that cannot name a function (Runtime.MalformedHandlerName)."""


def parse_handler(handler: str) -> tuple[str, str]:
    """``"app.handler"`` → ``("app", "handler")``; ``"pkg/sub/mod.fn"`` → ``("pkg.sub.mod", "fn")``.

    As in the AWS Python runtime, the function name is what follows the *last* dot, and the module
    path may use ``/`` or ``.`` between packages.
    """
    handler = handler.strip()
    try:
        module, func = handler.rsplit(".", 1)
    except ValueError:
        raise HandlerSpecError(
            f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)"
        ) from None
    module = module.replace("/", ".").strip(".")
    if not module or not func:
        raise HandlerSpecError(f"Bad handler '{handler}': empty module or function name")
    return module, func


def _trace_parts(value: str) -> tuple[str | None, str | None, str | None]:
    root = parent = sampled = None
    for part in value.split(";"):
        name, _, text = part.strip().partition("=")
        if name == "Root" and text:
            root = text
        elif name == "Parent" and text:
            parent = text
        elif name == "Sampled" and text in ("0", "1"):
            sampled = text
    return root, parent, sampled


def caller_trace(event: Any, carried: str | None = None) -> str | None:
    """The X-Ray header this invocation continues, where Lambda finds it: the one its invoker
    passed (``carried``: the Invoke API's ``X-Amzn-Trace-Id``, an SNS or EventBridge delivery),
    API Gateway's ``X-Amzn-Trace-Id`` request header, or an SQS batch's first ``AWSTraceHeader``
    system attribute."""
    if carried:
        return carried
    headers = event.get("headers") if isinstance(event, dict) else None
    if isinstance(headers, dict):
        for key, value in headers.items():
            if key.lower() == "x-amzn-trace-id" and isinstance(value, str):
                return value
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    attrs = first.get("attributes") if isinstance(first, dict) else None
    found = attrs.get("AWSTraceHeader") if isinstance(attrs, dict) else None
    return found if isinstance(found, str) else None


def trace_header(event: Any, active: bool, carried: str | None = None) -> tuple[str, str | None]:
    """``_X_AMZN_TRACE_ID`` of one invocation, as Lambda sets it, and the caller's span (its
    ``Parent``, the invocation span's parent): the caller's X-Ray root (see :func:`caller_trace`)
    or a new one, a new ``Parent`` (the invocation's own span id, which the handler's AWS calls
    name as theirs), sampled when the function's tracing is ``Active`` unless the caller
    decided."""
    root = parent = sampled = None
    caller = caller_trace(event, carried)
    if caller is not None:
        root, parent, sampled = _trace_parts(caller)
        if root is None:
            parent = sampled = None
    if root is None:
        root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    if sampled is None:
        sampled = "1" if active else "0"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled={sampled}", parent


def error_payload(
    error_type: str, message: str, request_id: str = "", stack: list[str] | None = None
) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack or [],
    }


# -- framing --------------------------------------------------------------------------------


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(fd: int) -> tuple[dict[str, Any], bytes]:
    hlen, blen = FRAME.unpack(_read_exact(fd, FRAME.size))
    header = json.loads(_read_exact(fd, hlen))
    body = _read_exact(fd, blen) if blen else b""
    return header, body


class FrameReader:
    """Reads frames with as few ``read`` syscalls as possible (usually one per frame)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = os.read(self.fd, max(65536, size - len(self.buffer)))
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def read(self) -> tuple[dict[str, Any], bytes]:
        self._fill(FRAME.size)
        hlen, blen = FRAME.unpack_from(self.buffer)
        end = FRAME.size + hlen + blen
        self._fill(end)
        buffer = self.buffer
        header = json.loads(bytes(buffer[FRAME.size : FRAME.size + hlen]))
        body = bytes(buffer[FRAME.size + hlen : end])
        del buffer[:end]
        return header, body


def write_frame(fd: int, header: dict[str, Any], body: bytes = b"") -> None:
    raw = json.dumps(header, separators=(",", ":")).encode()
    data = FRAME.pack(len(raw), len(body)) + raw + body
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# -- per-invocation capture -----------------------------------------------------------------


class _Capture(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` replacement collecting one invocation's output."""

    def __init__(self, sink: list[list[str]], stream: str) -> None:
        self._sink = sink
        self._stream = stream
        self._partial = ""

    def reset(self, sink: list[list[str]]) -> None:
        self._sink = sink
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        data = self._partial + text
        lines = data.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._sink.append([self._stream, "", line])
        return len(text)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self._partial:
            self._sink.append([self._stream, "", self._partial])
            self._partial = ""


class _LambdaLogHandler(logging.Handler):
    """Root logging handler: Lambda's ``[LEVEL]\\ttime\\trequestId\\tmessage`` lines."""

    def __init__(self, runtime: _Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            stamp += f".{int(record.msecs):03d}Z"
            text = f"[{record.levelname}]\t{stamp}\t{self.runtime.request_id}\t{message}"
            self.runtime.logs.append(["log", record.levelname, text])
        except Exception:  # never let logging break a handler
            self.handleError(record)


class LambdaContext:
    """The ``context`` argument of a handler, as the AWS Python runtime builds it."""

    # Constant for the life of the execution environment.
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    client_context = None
    identity = None

    def __init__(self, header: dict[str, Any]) -> None:
        self.aws_request_id: str = header["id"]
        self.invoked_function_arn: str = header.get("arn", "")
        self._deadline_ms: float = header["deadline"]
        self.tenant_id = header.get("tenant")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)


class _Runtime:
    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.request_id = ""
        self.logs: list[list[str]] = []
        self.memory_limit_kb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")) * 1024
        self.handler: Any = None
        self.init_error: dict[str, Any] | None = None
        self.page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        self.correlation_id = ""
        self.trace = ""  # this invocation's _X_AMZN_TRACE_ID, sent back with the result
        self.trace_parent: str | None = None
        self._out = _Capture(self.logs, "stdout")
        self._err = _Capture(self.logs, "stderr")

    # -- init --------------------------------------------------------------------------

    def init(self) -> float:
        started = time.perf_counter()
        handler = os.environ.get("_HANDLER", "")
        task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
        extra = [p for p in os.environ.get("HARNESS_RUNTIME_PATH", "").split(os.pathsep) if p]
        here = os.path.dirname(os.path.abspath(__file__))
        debugger = [p for p in [os.environ.get("HARNESS_DEBUG_PATH", "")] if p]
        stdlib = [p for p in sys.path if p and p != here and p not in debugger]
        # harness debug: debugpy's own folder (a link to its package, nothing else) comes last
        sys.path[:] = [task_root, *extra, *stdlib, *debugger]
        logging.getLogger().addHandler(_LambdaLogHandler(self))
        logging.getLogger().setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())
        try:
            module_name, func_name = parse_handler(handler)
        except HandlerSpecError as exc:
            self.init_error = error_payload("Runtime.MalformedHandlerName", str(exc))
            return (time.perf_counter() - started) * 1000
        self.request_id = ""
        self._capture_start()
        note = os.environ.get("HARNESS_RUNTIME_NOTE")
        if note:  # the declared runtime is not installed here: say what this really runs on
            self.logs.append(["stderr", "WARNING", f"[WARNING] {note}"])
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            name = type(exc).__name__
            kind = "Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError) else None
            message = (
                f"Syntax error in module '{module_name}': {exc}"
                if kind
                else f"Unable to import module '{module_name}': {exc}"
            )
            self.init_error = error_payload(kind or "Runtime.ImportModuleError", message)
            self.logs.append(["stderr", "ERROR", f"[ERROR] {name}: {message}"])
        else:
            self.handler = getattr(module, func_name, None)
            if not callable(self.handler):
                self.init_error = error_payload(
                    "Runtime.HandlerNotFound",
                    f"Handler '{func_name}' missing on module '{module_name}'",
                )
        finally:
            self._capture_stop()
        return (time.perf_counter() - started) * 1000

    # -- capture -------------------------------------------------------------------------

    def _capture_start(self) -> None:
        self.logs = []
        self._out.reset(self.logs)
        self._err.reset(self.logs)
        sys.stdout = self._out
        sys.stderr = self._err

    def _capture_stop(self) -> list[list[str]]:
        self._out.finish()
        self._err.finish()
        sys.stdout = sys.__stdout__
        sys.stderr = sys.__stderr__
        return self.logs

    # -- memory ----------------------------------------------------------------------------

    def _rss_kb(self) -> int:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * self.page_kb

    def _on_alarm(self, signum: int, frame: Any) -> None:
        """Every 50 ms of a running handler: past MemorySize, die like Lambda does."""
        if self._rss_kb() > self.memory_limit_kb:
            self._die_oom()

    def _die_oom(self) -> None:
        logs = self._capture_stop()
        payload = error_payload(
            "Runtime.OutOfMemory",
            f"RequestId: {self.request_id} Error: Runtime exited with error: signal: killed",
            self.request_id,
        )
        self._send_result(True, payload, logs, 0.0, True)
        os._exit(OOM_EXIT_CODE)

    # -- invoke ----------------------------------------------------------------------------

    def _send_result(
        self,
        error: bool,
        payload: Any,
        logs: list[list[str]],
        duration: float,
        fatal: bool,
        rss_kb: int | None = None,
    ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if rss_kb is None:
            rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        header: dict[str, Any] = {"error": error, "ms": duration, "rss": rss_kb}
        if logs:
            header["logs"] = logs
        if self.correlation_id:
            header["cid"] = self.correlation_id
        if self.trace:  # the runtime's invocation span: its trace, id and parent
            header["trace"] = self.trace
            if self.trace_parent:
                header["tparent"] = self.trace_parent
        if fatal:
            header["fatal"] = True
        write_frame(self.out_fd, header, body)

    def invoke(self, header: dict[str, Any], body: bytes) -> None:
        self.request_id = header["id"]
        self.correlation_id = ""
        self.trace = ""
        self.trace_parent = None
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            self._send_result(
                True,
                error_payload(
                    "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}", self.request_id
                ),
                [],
                0.0,
                False,
            )
            return
        if isinstance(event, dict):
            headers = event.get("headers")
            if isinstance(headers, dict):
                for key, value in headers.items():
                    if key.lower() == "x-correlation-id" and isinstance(value, str):
                        self.correlation_id = value
                        break
        self.trace, self.trace_parent = trace_header(
            event, os.environ.get("HARNESS_TRACING_MODE") == "Active", header.get("trace")
        )
        os.environ["_X_AMZN_TRACE_ID"] = self.trace
        context = LambdaContext(header)
        fault = Fault(header["fault"]) if header.get("fault") else None
        self._capture_start()
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        started = time.perf_counter()
        fatal = False
        try:
            if fault is None:
                result = self.handler(event, context)
            else:
                result = fault.before(header["deadline"])
                if result is None:
                    with fault:
                        result = fault.after(self.handler(event, context))
            duration = (time.perf_counter() - started) * 1000
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            try:
                payload: Any = json.dumps(result).encode()
                error = False
            except (TypeError, ValueError, OverflowError) as exc:
                payload = error_payload(
                    "Runtime.MarshalError", f"Unable to marshal response: {exc}", self.request_id
                )
                error = True
        except MemoryError:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            self._die_oom()
            return
        except Exception as exc:
            duration = (time.perf_counter() - started) * 1000
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            tb = exc.__traceback__
            tb = tb.tb_next if tb is not None else None  # drop this frame
            stack = traceback.format_list(traceback.extract_tb(tb))
            message = str(exc)
            payload = error_payload(type(exc).__name__, message, self.request_id, stack)
            sys.stdout.write(
                f"[ERROR] {type(exc).__name__}: {message}\nTraceback (most recent call last):\n"
                + "".join(stack)
            )
            error = True
        logs = self._capture_stop()
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if rss_kb > self.memory_limit_kb:
            self.logs = logs
            self._die_oom()
        self._send_result(error, payload, logs, duration, fatal, rss_kb)


def wait_for_debugger(port: int, path: str) -> int:
    """``harness debug``: listen on 127.0.0.1:``port`` with debugpy (found in ``path``, a folder
    holding only debugpy) and wait until a client (VS Code, PyCharm) has attached and sent its
    breakpoints. Returns the resident memory debugpy added, in KB: the debugger's memory is not
    the function's, so it is added to the MemorySize limit of this environment."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    here = os.path.dirname(os.path.abspath(__file__))  # its http.py would shadow the stdlib's
    sys.path[:] = [p for p in sys.path if p and p != here]
    if path and path not in sys.path:
        sys.path.append(path)
    import debugpy  # only reachable through ``path``

    debugpy.listen(("127.0.0.1", port), in_process_debug_adapter=True)
    os.write(2, f"[harness debug] waiting for a debugpy client on 127.0.0.1:{port}\n".encode())
    debugpy.wait_for_client()
    os.write(2, f"[harness debug] client attached on 127.0.0.1:{port}\n".encode())
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)


def main() -> None:
    try:  # die with the runtime server, even if it is killed with SIGKILL
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass
    # Move the protocol pipes off fds 0 and 1, so that neither a handler reading stdin nor a
    # subprocess it starts (which inherits 0-2) can touch them.
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    os.set_inheritable(in_fd, False)
    os.set_inheritable(out_fd, False)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # anything written to fd 1 from now on goes to the worker log
    runtime = _Runtime(out_fd)
    signal.signal(signal.SIGALRM, runtime._on_alarm)
    if os.environ.get("HARNESS_DEBUG_PORT"):
        runtime.memory_limit_kb += wait_for_debugger(
            int(os.environ["HARNESS_DEBUG_PORT"]), os.environ.get("HARNESS_DEBUG_PATH", "")
        )
    init_ms = runtime.init()
    write_frame(
        out_fd,
        {"type": "ready", "init_ms": init_ms, "error": runtime.init_error, "logs": runtime.logs},
    )
    if runtime.init_error is not None:
        # Keep answering: every invocation gets the init error (the server replaces us anyway).
        pass
    reader = FrameReader(in_fd)
    while True:
        try:
            header, body = reader.read()
        except EOFError:
            os._exit(0)
        if runtime.init_error is not None:
            runtime.request_id = header["id"]
            err = dict(runtime.init_error, requestId=header["id"])
            runtime.correlation_id = ""
            runtime.trace = ""
            runtime._send_result(True, err, [], 0.0, True)
            continue
        runtime.invoke(header, body)


if __name__ == "__main__":
    main()
