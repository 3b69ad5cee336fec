"""The runtime's HTTP API: Lambda's Invoke API plus the ``/_harness/`` control API.

* ``POST /2015-03-31/functions/{name|arn}/invocations`` — Invoke (RequestResponse, Event, DryRun)
* ``GET /2015-03-31/functions/`` and ``GET /2015-03-31/functions/{name}`` — ListFunctions, GetFunction
* ``GET /_harness/health`` — 200 JSON
* ``POST /_harness/runtime/reload`` — re-read the stack files now
* ``GET /_harness/runtime/metrics`` — per function and per event source counters
* ``POST /_harness/runtime/schedules/{name}/fire[?stack=S]`` — fire a schedule now (by its
  ``Name``, logical id or function; 409 when several stacks have that name and none is given)
* ``POST /_harness/runtime/proxy/{name}`` — Invoke for MiniStack's Lambda proxy mode (the
  emulator's Cognito triggers): the same, but a function error answers 502, since proxy mode
  reads only the status (a 200 with ``X-Amz-Function-Error`` would count as success)
* ``GET /_harness/runtime/logs/{function}?limit=N`` — the function's last log records
* ``GET|POST|DELETE /_harness/runtime/faults`` — Lambda fault rules (list with counters / add /
  remove by id, or all); ``GET /_harness/runtime/faults/log?since=T`` — every injected fault
* ``POST /_harness/runtime/recycle {"functions", "stack"}`` — a cold-start storm
* ``POST /_harness/runtime/az {"duration_s", "seed", "share"}`` — an "AZ failure";
  ``DELETE`` ends it early

Served by :mod:`harness.runtime.http` on uvloop (see there why not uvicorn). Synchronous
invocations are also taken on the invoke channel (:mod:`harness.runtime.channel`), the
gateway's shorter path, and answered by the same code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from harness.chaos.capacity import CapacityChaos
from harness.chaos.lambda_faults import parse_lambda_faults
from harness.env.secret import ControlGuard
from harness.runtime.channel import serve_channel
from harness.runtime.config import RuntimeConfig
from harness.runtime.core import FunctionNotFound, Runtime
from harness.runtime.debug import DebugRefused
from harness.runtime.http import Request, Response, serve_http
from harness.runtime.pollers.schedule_poller import AmbiguousSchedule
from harness.runtime.pool import FunctionPool, Throttled

__all__ = ["RuntimeApi", "serve"]

logger = logging.getLogger(__name__)

INVOKE_PREFIX = "/2015-03-31/functions/"
PROXY_PREFIX = "/_harness/runtime/proxy/"
SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 1024 * 1024


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload).encode())


def _aws_error(
    status: int, code: str, message: str, extra: dict[str, Any] | None = None
) -> Response:
    body = {"Type": "User", "message": message, **(extra or {})}
    return Response(
        status,
        json.dumps(body).encode(),
        [("x-amzn-errortype", code), ("x-amzn-requestid", str(uuid.uuid4()))],
    )


class RuntimeApi:
    """Maps HTTP requests onto a :class:`Runtime`."""

    def __init__(self, runtime: Runtime, control: ControlGuard | None = None) -> None:
        self.runtime = runtime
        self.started = time.time()
        # the control API (everything under /_harness/ but health) needs the secret
        self.control = control

    async def __call__(self, request: Request) -> Response:
        path = request.path
        try:
            if path.startswith(INVOKE_PREFIX):
                rest = path[len(INVOKE_PREFIX) :]
                if rest.endswith("/invocations") and request.method == "POST":
                    return await self.invoke(request, rest[: -len("/invocations")])
                name = rest.rstrip("/")
                if request.method == "GET" and name and "/" not in name:
                    try:
                        return _json(200, {"Configuration": self.configuration(name), "Code": {}})
                    except FunctionNotFound:
                        return _aws_error(
                            404, "ResourceNotFoundException", f"Function not found: {name}"
                        )
                return _aws_error(404, "UnknownOperationException", "Unknown operation")
            if path.rstrip("/") == INVOKE_PREFIX.rstrip("/") and request.method == "GET":
                names = sorted(self.runtime.functions)
                return _json(200, {"Functions": [self.configuration(n) for n in names]})
            if path.startswith(PROXY_PREFIX) and request.method == "POST":
                answer = await self.invoke(request, path[len(PROXY_PREFIX) :])
                if any(name == "x-amz-function-error" for name, _ in answer.headers):
                    answer.status = 502
                return answer
            if path.startswith("/_harness/"):
                if path != "/_harness/health" and not (
                    self.control is not None
                    and self.control.allowed(
                        {
                            k.decode("latin-1"): v.decode("latin-1")
                            for k, v in request.headers.items()
                        }
                    )
                ):
                    return await self.refuse(request)
                return await self.control_api(request)
            return _aws_error(404, "UnknownOperationException", "Unknown operation")
        except Exception as exc:  # the server must survive anything a request triggers
            logger.exception("request %s %s failed", request.method, path)
            return _aws_error(500, "ServiceException", f"{type(exc).__name__}: {exc}")

    def _not_found(self, name: str) -> Response:
        endpoints = self.runtime.endpoints
        arn = (
            name
            if name.startswith("arn:")
            else f"arn:aws:lambda:{endpoints.get('region', 'us-east-1')}:"
            f"{endpoints.get('account_id', '000000000000')}:function:{name}"
        )
        return _aws_error(404, "ResourceNotFoundException", f"Function not found: {arn}")

    async def invoke(self, request: Request, name: str) -> Response:
        runtime = self.runtime
        headers = request.headers
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode()
        payload = request.body
        qualifier = parse_qs(request.query).get("Qualifier", [""])[0]
        if qualifier and ":" not in name.split(":function:")[-1]:
            name = f"{name}:{qualifier}"  # Invoke's ?Qualifier= (a version or an alias)
        # Lambda's Invoke API takes the caller's X-Ray context in X-Amzn-Trace-Id
        raw_trace = headers.get(b"x-amzn-trace-id")
        trace = raw_trace.decode("latin-1") if raw_trace else None
        try:
            pool = runtime.resolve(name)
        except FunctionNotFound:
            return self._not_found(name)
        if invocation_type == "RequestResponse":
            return await self._invoke_sync(
                pool, payload, headers.get(b"x-amz-log-type") == b"Tail", trace
            )
        if invocation_type == "DryRun":
            return Response(204, b"", [("x-amzn-requestid", str(uuid.uuid4()))])
        if invocation_type == "Event":
            if len(payload) > ASYNC_LIMIT:
                return _aws_error(
                    413, "RequestTooLargeException",
                    f"Request must be smaller than {ASYNC_LIMIT} bytes for the InvokeAsync operation",
                )  # fmt: skip
            request_id = runtime.submit_async(pool, payload, trace=trace)
            return Response(202, b"", [("x-amzn-requestid", request_id)])
        return _aws_error(
            400, "InvalidParameterValueException", f"Unsupported invocation type: {invocation_type}"
        )

    async def _invoke_sync(
        self, pool: FunctionPool, payload: bytes, tail: bool, trace: str | None = None
    ) -> Response:
        """A RequestResponse invocation, answered as the Invoke API answers it."""
        if len(payload) > SYNC_LIMIT:
            return _aws_error(
                413, "RequestTooLargeException",
                f"Request must be smaller than {SYNC_LIMIT} bytes for the InvokeFunction operation",
            )  # fmt: skip
        try:
            result = await self.runtime.invoke(pool, payload, tail=tail, trace=trace)
        except Throttled as exc:
            return _aws_error(429, "TooManyRequestsException", exc.message, {"Reason": exc.reason})
        out = [
            ("x-amzn-requestid", result.request_id),
            ("x-amz-executed-version", pool.spec.version),  # the version an alias picked
        ]
        if len(result.payload) > SYNC_LIMIT:
            message = (
                f"Response payload size ({len(result.payload)} bytes) exceeded maximum "
                f"allowed payload size ({SYNC_LIMIT} bytes)."
            )
            result.payload = json.dumps(
                {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
            ).encode()
            result.function_error = "Unhandled"
        if result.function_error:
            out.append(("x-amz-function-error", result.function_error))
        if result.log_result is not None:
            out.append(("x-amz-log-result", result.log_result))
        return Response(200, result.payload, out)

    async def invoke_channel(
        self, name: str, payload: bytes, tail: bool
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """A call from the invoke channel (:mod:`harness.runtime.channel`): the same answer as
        ``POST /2015-03-31/functions/{name}/invocations`` (RequestResponse)."""
        try:
            pool = self.runtime.resolve(name)
        except FunctionNotFound:
            answer = self._not_found(name)
        else:
            answer = await self._invoke_sync(pool, payload, tail)
        return answer.status, answer.body, answer.headers

    def configuration(self, name: str) -> dict[str, Any]:
        pool = self.runtime.resolve(name)
        spec = pool.spec
        return {
            "FunctionName": spec.name,
            "FunctionArn": self.runtime.function_arn(pool),
            "Runtime": spec.runtime,
            "Role": spec.role_arn or "",
            "Handler": spec.handler,
            "Timeout": int(spec.timeout),
            "MemorySize": spec.memory_mb,
            "Version": spec.version,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Environment": {"Variables": spec.environment},
            "Layers": [{"Arn": layer} for layer in spec.layers],
        }

    async def refuse(self, request: Request) -> Response:
        """403 for a control call without the environment's secret, recorded as a probe."""
        if self.control is None:
            return _json(403, {"message": "this runtime has no control secret"})
        await asyncio.to_thread(self.control.record, request.method, request.path, request.peer)
        return _json(403, self.control.refusal(request.method, request.path))

    async def control_api(self, request: Request) -> Response:
        runtime = self.runtime
        path, method = request.path, request.method
        if path == "/_harness/health":
            return _json(
                200,
                {
                    "status": "ok",
                    "component": "runtime",
                    "pid": os.getpid(),
                    "uptime_s": round(time.time() - self.started, 3),
                    "functions": len(runtime.functions),
                    "event_sources": len(runtime.pollers),
                },
            )
        if path == "/_harness/runtime/reload" and method == "POST":
            return _json(200, await runtime.reload())
        if path == "/_harness/runtime/metrics" and method == "GET":
            return _json(200, await runtime.metrics())
        prefix = "/_harness/runtime/schedules/"
        if path.startswith(prefix) and path.endswith("/fire") and method == "POST":
            name = path[len(prefix) : -len("/fire")]
            stack = (parse_qs(request.query).get("stack") or [""])[0] or None
            try:
                request_id = await runtime.fire_schedule(name, stack)
            except AmbiguousSchedule as exc:
                return _json(409, {"message": str(exc), "stacks": exc.stacks})
            except KeyError:
                where = f" in stack {stack!r}" if stack else ""
                return _json(404, {"message": f"no schedule named {name!r}{where}"})
            return _json(202, {"schedule": name, "stack": stack, "requestId": request_id})
        if path.startswith("/_harness/runtime/faults") or path in (
            "/_harness/runtime/recycle",
            "/_harness/runtime/az",
        ):
            try:
                return self.faults(request)
            except (ValueError, TypeError, KeyError) as exc:
                return _json(400, {"message": f"invalid fault: {exc}"})
        if path in ("/_harness/runtime/debug", "/_harness/runtime/swap"):
            return self.debug(request)
        prefix = "/_harness/runtime/logs/"
        if path.startswith(prefix) and method == "GET":
            name = path[len(prefix) :]
            raw_limit = parse_qs(request.query).get("limit", ["100"])[0]
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = -1
            if not 1 <= limit <= 10_000:
                return _json(
                    400,
                    {"message": f"limit must be a whole number from 1 to 10000, not {raw_limit!r}"},
                )
            try:
                pool = runtime.resolve(name)
            except FunctionNotFound:
                return _json(404, {"message": f"no function named {name!r}"})
            records = pool.log.records(limit)
            return _json(200, {"function": pool.name, "records": records})
        return _json(404, {"message": "Not Found"})

    def debug(self, request: Request) -> Response:
        """``harness debug`` sessions and ``harness deploy --watch``'s code swaps."""
        runtime = self.runtime
        path, method = request.path, request.method
        try:
            data: Any = json.loads(request.body) if request.body else {}
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            stack = data.get("stack") or None
            if path == "/_harness/runtime/swap" and method == "POST":
                return _json(200, runtime.swap_code([str(f) for f in data["functions"]], stack))
            if path == "/_harness/runtime/debug":
                if method == "GET":
                    return _json(200, runtime.debug_state())
                if method == "POST":
                    port = data.get("port", 5678)
                    if isinstance(port, bool) or not isinstance(port, int):
                        raise ValueError(f"'port' must be a whole number, not {port!r}")
                    return _json(200, runtime.debug_start(str(data["function"]), port, stack))
                if method == "DELETE":
                    function = data.get("function")
                    return _json(
                        200, runtime.debug_stop(str(function) if function else None, stack)
                    )
        except (ValueError, KeyError, TypeError) as exc:
            return _json(400, {"message": f"invalid request: {exc}"})
        except FunctionNotFound as exc:
            return _json(404, {"message": str(exc.name)})
        except DebugRefused as exc:
            return _json(409, {"message": str(exc)})
        return _json(405, {"message": f"{method} not allowed on {path}"})

    def faults(self, request: Request) -> Response:
        runtime = self.runtime
        path, method = request.path, request.method
        data: Any = json.loads(request.body) if request.body else None
        if path == "/_harness/runtime/faults":
            if method == "GET":
                return _json(200, runtime.fault_state())
            if method == "POST":
                runtime.add_faults(parse_lambda_faults(data if data is not None else []))
                return _json(200, runtime.fault_state())
            if method == "DELETE":
                items = data if isinstance(data, list) else [data] if data else []
                ids = [str(i.get("id") if isinstance(i, dict) else i) for i in items]
                removed = runtime.faults.remove(ids or None)
                if not ids:
                    runtime.end_az_failure()
                return _json(200, {"removed": removed, **runtime.fault_state()})
        if path == "/_harness/runtime/faults/log" and method in ("GET", "DELETE"):
            if method == "DELETE":
                runtime.faults.log.clear()
                runtime.faults.counts.clear()
            since = float(parse_qs(request.query).get("since", ["0"])[0])
            return _json(
                200,
                {
                    "injected": [e for e in runtime.faults.log if e["time"] >= since],
                    "counts": dict(runtime.faults.counts),
                },
            )
        if path == "/_harness/runtime/recycle" and method == "POST":
            body = data or {}
            return _json(
                200,
                runtime.recycle(
                    list(body.get("functions") or []), body.get("stack"), body.get("description")
                ),
            )
        if path == "/_harness/runtime/az":
            if method == "POST":
                body = data or {}
                share = float(body.get("share", 0.5))
                if not 0 < share < 1:
                    raise ValueError("'share' must be between 0 and 1 (0.5 = half)")
                return _json(
                    200,
                    runtime.begin_az_failure(
                        float(body["duration_s"]),
                        int(body.get("seed", 0)),
                        share,
                        body.get("description"),
                        [int(p) for p in body.get("spare_pids") or []],
                    ),
                )
            if method == "DELETE":
                return _json(200, runtime.end_az_failure() or {"az_failure": None})
        return _json(405, {"message": f"{method} not allowed on {path}"})


async def _main(state_dir: Path, port: int, host: str, config: RuntimeConfig | None) -> None:
    runtime = Runtime(state_dir, config, capacity=CapacityChaos)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    api = RuntimeApi(runtime, ControlGuard(runtime.state_dir, "runtime"))
    channel = await serve_channel(api.invoke_channel, port)
    try:
        logger.info("runtime listening on http://%s:%d (state %s)", host, port, state_dir)
        await serve_http(api, host, port, stop)
    finally:
        if channel is not None:
            channel.close()
        await runtime.stop()


def serve(
    state_dir: Path, port: int, host: str = "127.0.0.1", config: RuntimeConfig | None = None
) -> None:
    """Run the runtime server until SIGTERM/SIGINT; every worker is stopped on the way out."""
    try:
        import uvloop

        uvloop.run(_main(state_dir, port, host, config))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_main(state_dir, port, host, config))
