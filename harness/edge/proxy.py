"""The AWS edge: one endpoint for every AWS service, routed to the emulator that serves it.

Functions, the gateway's service integrations and users all talk to this single URL
(``aws_endpoint``). It reads just enough of each HTTP/1.1 request to know the service, then
forwards it over a kept-alive connection to that service's emulator. It is also where wire-level
faults are injected (see ``harness.chaos``), which is why it is ours and not a generic proxy: it
must see every call, know its service and operation, and answer for AWS when told to.

Written on asyncio streams rather than an HTTP framework because it sits on the hot path of every
AWS call a handler makes; parsing only the request head keeps its cost per call small. Reading the
wire within the edge's limits is :mod:`harness.edge.wire`; its own answers (control paths, AWS
errors, unknown services) are :mod:`harness.edge.answers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from harness.edge import wire
from harness.edge.answers import (
    amz_json,
    aws_unreachable,
    is_control_path,
    json_response,
    known_services,
    plain,
    unknown_service_response,
)
from harness.edge.backups import BACKUP_OPERATIONS, WRITE_OPERATIONS, DynamoBackups
from harness.edge.metrics import observe
from harness.edge.routing import RequestInfo, classify
from harness.http1 import MAX_HEAD, BadMessage, IdleConnections
from harness.obs import JsonLinesLog, trace_root

if TYPE_CHECKING:
    from harness.edge.alarms import EdgeAlarms
    from harness.edge.iam_guard import IamGuard
    from harness.edge.tracing import CallTrace, EdgeTracer
    from harness.env.secret import ControlGuard

__all__ = ["EdgeProxy", "FaultDecision", "Upstream", "is_control_path", "known_services", "serve"]

logger = logging.getLogger(__name__)


@dataclass
class FaultDecision:
    """What to do instead of (or before) forwarding a request.

    ``response`` is a complete raw HTTP response to send back; ``delay`` seconds are waited first;
    ``blackhole`` never answers; ``reset`` closes the connection without an answer.
    """

    delay: float = 0.0
    response: bytes | None = None
    blackhole: bool = False
    reset: bool = False


FaultHook = Callable[[RequestInfo, dict[str, str], bytes], Awaitable[FaultDecision | None]]
# (method, path, full target, body) -> (status, JSON payload), or None if not handled.
AdminHandler = Callable[[str, str, str, bytes], tuple[int, Any] | None]


@dataclass
class Upstream:
    """One emulator: where it listens, and a pool of idle kept-alive connections to it."""

    url: str
    connections: IdleConnections = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.connections = IdleConnections(parts.hostname or "127.0.0.1", parts.port or 80, 64)

    @property
    def host(self) -> str:
        return self.connections.host

    @property
    def port(self) -> int:
        return self.connections.port

    @port.setter
    def port(self, port: int) -> None:  # where new connections go (tests move it)
        self.connections.port = port

    @property
    def idle(self) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        return self.connections.idle

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        return await self.connections.get()

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.put(reader, writer)


class EdgeProxy:
    """Route AWS SDK requests by service to upstream emulators."""

    def __init__(
        self,
        routes: dict[str, str],
        default: str,
        *,
        fault_hook: FaultHook | None = None,
        admin_handler: AdminHandler | None = None,
        iam: IamGuard | None = None,
        control: ControlGuard | None = None,
        alarms: EdgeAlarms | None = None,
        call_log: JsonLinesLog | None = None,
        backups_dir: Path | None = None,
        tracer: EdgeTracer | None = None,
    ) -> None:
        self.call_log = call_log  # one JSON line per AWS call, for `harness logs`
        self.tracer = tracer  # a span per AWS call made under a trace (harness/edge/tracing.py)
        self.upstreams = {service: Upstream(url) for service, url in routes.items()}
        self.default = Upstream(default)
        self.fault_hook = fault_hook
        self.admin_handler = admin_handler
        self.iam = iam
        self.control = control
        self.alarms = alarms
        # DynamoDB backups and PITR, which DynamoDB Local lacks (harness/edge/backups.py)
        self.backups = DynamoBackups(backups_dir, self._dynamodb) if backups_dir else None
        self._observing: set[asyncio.Task[None]] = set()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.started = time.time()

    def upstream_for(self, service: str) -> Upstream:
        return self.upstreams.get(service, self.default)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                keep = await self._one(reader, writer)
                if not keep:
                    break
        except BadMessage as exc:
            self.errors[f"protocol:{exc.status}"] += 1
            with contextlib.suppress(Exception):
                writer.write(plain(exc.status, exc.message))
                await writer.drain()
        except (
            wire.ClientGone,
            ConnectionError,
            asyncio.IncompleteReadError,
            TimeoutError,
        ):
            pass
        except Exception:  # never let one request take the edge down
            logger.exception("edge: request failed")
            with contextlib.suppress(Exception):
                writer.write(plain(502, "edge proxy error"))
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await wire.read_head(reader)
        lines = head[:-4].split(b"\r\n")
        request_line = lines[0].decode("latin-1")
        try:
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            raise BadMessage(400, "bad request line") from None
        if not version.startswith("HTTP/1.") or not method.isalpha():
            raise BadMessage(400, "bad request line")
        headers: dict[str, str] = {}
        raw_headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise BadMessage(400, "malformed header line")
            value = value.strip()
            key = name.decode("latin-1").lower()
            if key in headers and key in ("content-length", "transfer-encoding", "host"):
                raise BadMessage(400, f"duplicate {key} header")
            headers[key] = value.decode("latin-1")
            raw_headers.append((name, value))
        length = wire.body_length(headers)
        info = classify(method, target, headers, b"")
        if _unknown_service(info.service, self):
            self.errors[f"{info.service}:unknown-service"] += 1
            await wire.skip_body(reader, headers, length)
            writer.write(unknown_service_response(info.service))
            await writer.drain()
            return headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if length is not None and length > wire.STREAM_ABOVE and info.service == "s3":
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return await self._stream(
                reader, writer, method, target, raw_headers, headers, info, length
            )
        if length is not None and length > wire.MAX_BUFFERED_BODY:
            raise BadMessage(413, f"request body of {length} bytes is over the edge's limit")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await wire.read_body(reader, headers, length)
        client_keepalive = (
            headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        )

        if is_control_path(method, target) and (
            self.control is None or not self.control.allowed(raw_headers)
        ):
            # faults, the IAM decision log, emulator resets: never without the secret
            writer.write(await self._refuse(method, target, writer))
            await writer.drain()
            return client_keepalive
        if target.startswith(("/_harness/edge", "/_localstack/chaos")):
            # the open health path tells a caller without the secret only that the edge is up
            trusted = self.control is not None and self.control.allowed(raw_headers)
            writer.write(self._admin(method, target, body, trusted=trusted))
            await writer.drain()
            return client_keepalive

        info = classify(method, target, headers, body)
        self.calls[f"{info.service}:{info.operation}"] += 1
        started = time.perf_counter()
        call = (
            self.tracer.begin(headers.get("x-amzn-trace-id")) if self.tracer is not None else None
        )
        iam = self.iam
        if iam is not None and iam.sessions and info.service == "dynamodb":
            session = iam.session_of(headers.get("authorization", ""))
            if session is not None:
                denial = await iam.check(
                    session, info.operation, info.region, body, self._describe_table
                )
                if denial is not None:
                    self.errors[f"{info.service}:{info.operation}:AccessDenied"] += 1
                    writer.write(denial.response)
                    await writer.drain()
                    return client_keepalive
        injected = False
        if self.fault_hook is not None:
            decision = await self.fault_hook(info, headers, body)
            if decision is not None:
                injected = True
                if decision.delay:
                    await asyncio.sleep(decision.delay)
                if decision.blackhole:
                    # Never answer; hold the connection until the client gives up.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(reader.read(), timeout=3600)
                    if call is not None:  # no answer: status 0, until the client gave up
                        self._span(call, info, target, headers, body, b"", started, True)
                    return False
                if decision.reset:
                    transport = writer.transport
                    if hasattr(transport, "abort"):
                        transport.abort()
                    if call is not None:
                        self._span(call, info, target, headers, body, b"", started, True)
                    return False
                if decision.response is not None:
                    self.errors[f"{info.service}:{info.operation}"] += 1
                    observe(info, body, decision.response, 0.0)
                    if self.call_log is not None:
                        self._log_call(info, headers, decision.response, started, fault=True)
                    if call is not None:
                        self._span(
                            call, info, target, headers, body, decision.response, started, True
                        )
                    writer.write(decision.response)
                    await writer.drain()
                    return client_keepalive

        backups = self.backups if info.service == "dynamodb" else None
        if backups is not None and info.operation in BACKUP_OPERATIONS:
            status, payload = await backups.answer(info.operation, body, info.region)
            restored = amz_json(status, payload)
            observe(info, body, restored, (time.perf_counter() - started) * 1000)
            if self.call_log is not None:
                self._log_call(info, headers, restored, started, fault=False)
            if call is not None:
                self._span(call, info, target, headers, body, restored, started, False)
            writer.write(restored)
            await writer.drain()
            return client_keepalive

        if info.service == "monitoring" and self.alarms is not None:
            answer = self.alarms.cloudwatch(target, headers, body)
            if answer is not None:  # DescribeAlarms & co. answered with the live states
                writer.write(answer)
                await writer.drain()
                return client_keepalive

        upstream = self.upstream_for(info.service)
        out = bytearray()
        out += f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
        for name, value in raw_headers:
            lower = name.lower()
            if lower in (b"expect", b"transfer-encoding", b"content-length", b"connection"):
                continue
            if call is not None and lower == b"x-amzn-trace-id":
                value = call.header().encode()  # downstream continues from this call's span
            out += name + b": " + value + b"\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            out += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        out += b"\r\n"
        out += body
        status, response = await self._forward(upstream, bytes(out), method)
        observe(info, body, response, (time.perf_counter() - started) * 1000)
        if (
            backups is not None
            and status == 200
            and info.operation in WRITE_OPERATIONS
            and backups.tracking()
        ):  # point-in-time recovery's change log: the written items' new images
            task = asyncio.ensure_future(
                backups.observe(info.operation, body, info.region, time.time())
            )
            self._observing.add(task)
            task.add_done_callback(self._observing.discard)
        if self.call_log is not None:
            self._log_call(info, headers, response, started, fault=injected)
        if call is not None:
            self._span(call, info, target, headers, body, response, started, injected)
        if iam is not None and info.operation == "AssumeRole" and info.service == "sts":
            iam.observe_assume_role(body, target, response)
        writer.write(response)
        await writer.drain()
        return client_keepalive

    def _span(
        self,
        call: CallTrace,
        info: RequestInfo,
        target: str,
        headers: dict[str, str],
        body: bytes,
        response: bytes,
        started: float,
        fault: bool,
    ) -> None:
        assert self.tracer is not None
        try:
            self.tracer.end(
                call,
                info,
                target,
                body,
                headers.get("amz-sdk-request"),
                response,
                started,
                fault=fault,
            )
        except Exception:  # a span must never fail the call it describes
            logger.exception("edge: span of %s.%s failed", info.service, info.operation)

    def _log_call(
        self,
        info: RequestInfo,
        headers: dict[str, str],
        response: bytes,
        started: float,
        *,
        fault: bool,
    ) -> None:
        assert self.call_log is not None
        status = int(response[9:12]) if response[9:12].isdigit() else 0
        self.call_log.write(
            {
                "time": round(time.time() - (time.perf_counter() - started), 6),
                "service": info.service,
                "operation": info.operation,
                "region": info.region,
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
                "fault": fault,
                "traceId": trace_root(headers.get("x-amzn-trace-id")),
            }
        )

    async def _stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        raw_headers: list[tuple[bytes, bytes]],
        headers: dict[str, str],
        info: RequestInfo,
        length: int,
    ) -> bool:
        """Forward a large S3 upload chunk by chunk: memory stays bounded by STREAM_CHUNK. Faults,
        the call log and the call's span as for a buffered call (the span without a body: an
        S3 call names its bucket in the path)."""
        self.calls[f"{info.service}:{info.operation}"] += 1
        started = time.perf_counter()
        call = (
            self.tracer.begin(headers.get("x-amzn-trace-id")) if self.tracer is not None else None
        )
        injected = False
        if self.fault_hook is not None:
            decision = await self.fault_hook(info, headers, b"")
            if decision is not None:
                injected = True
                if decision.delay:
                    await asyncio.sleep(decision.delay)
                if decision.response or decision.blackhole or decision.reset:
                    answer = decision.response or b""
                    if decision.response is not None:
                        # the body read and dropped first, so the client reads the answer (an
                        # early answer and close would reset a client still sending)
                        await wire.skip_body(reader, headers, length)
                        self.errors[f"{info.service}:{info.operation}"] += 1
                        if self.call_log is not None:
                            self._log_call(info, headers, answer, started, fault=True)
                        writer.write(answer)
                        await writer.drain()
                    elif decision.blackhole:  # never answer, until the client gives up
                        with contextlib.suppress(Exception):
                            while await asyncio.wait_for(reader.read(wire.STREAM_CHUNK), 3600):
                                pass
                    elif hasattr(writer.transport, "abort"):
                        writer.transport.abort()
                    if call is not None:
                        self._span(call, info, target, headers, b"", answer, started, True)
                    return False
        upstream = self.upstream_for(info.service)
        out = bytearray(f"{method} {target} HTTP/1.1\r\n".encode("latin-1"))
        for name, value in raw_headers:
            lower = name.lower()
            if lower in (b"expect", b"transfer-encoding", b"content-length", b"connection"):
                continue
            if call is not None and lower == b"x-amzn-trace-id":
                value = call.header().encode()
            out += name + b": " + value + b"\r\n"
        out += b"Content-Length: " + str(length).encode() + b"\r\nConnection: close\r\n\r\n"
        try:
            up_reader, up_writer = await asyncio.open_connection(
                upstream.host, upstream.port, limit=MAX_HEAD * 4
            )
        except OSError as exc:
            response = aws_unreachable(upstream.url, exc)
        else:
            try:
                up_writer.write(bytes(out))
                remaining = length
                while remaining:
                    chunk = await asyncio.wait_for(
                        reader.read(min(wire.STREAM_CHUNK, remaining)), wire.HEAD_TIMEOUT_S
                    )
                    if not chunk:
                        raise wire.ClientGone
                    remaining -= len(chunk)
                    up_writer.write(chunk)
                    await up_writer.drain()
                _status, response, _keep = await wire.relayed_response(up_reader, method)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                response = aws_unreachable(upstream.url, exc)
            finally:
                up_writer.close()
        if self.call_log is not None:
            self._log_call(info, headers, response, started, fault=injected)
        if call is not None:
            self._span(call, info, target, headers, b"", response, started, injected)
        writer.write(response)
        await writer.drain()
        return False

    async def _refuse(self, method: str, target: str, writer: asyncio.StreamWriter) -> bytes:
        """403 for a control call without the secret; recorded as a control-plane probe."""
        path = target.split("?", 1)[0]
        if self.control is None:
            return json_response(403, {"message": f"{method} {path}: no control secret"})
        peer = writer.get_extra_info("peername")
        client = (str(peer[0]), int(peer[1])) if peer else None
        await asyncio.to_thread(self.control.record, method, target, client)
        return json_response(403, self.control.refusal(method, path))

    async def _forward(self, upstream: Upstream, request: bytes, method: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                reader, writer, reused = await upstream.connection()
            except OSError as exc:
                return 502, aws_unreachable(upstream.url, exc)
            try:
                writer.write(request)
                await writer.drain()
                status, response, keep = await wire.relayed_response(reader, method)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                writer.close()
                if reused and attempt == 1:
                    continue  # a stale pooled connection; retry once on a fresh one
                return 502, aws_unreachable(upstream.url, exc)
            if keep:
                upstream.release(reader, writer)
            else:
                writer.close()
            return status, response
        raise AssertionError("unreachable")

    async def _dynamodb(
        self, operation: str, params: dict[str, Any], region: str
    ) -> tuple[int, dict[str, Any]]:
        """One call on the DynamoDB emulator (the edge's own, not a client's): the status and
        the decoded answer ({} when it is not JSON)."""
        upstream = self.upstream_for("dynamodb")
        payload = json.dumps(params).encode()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        request = (
            f"POST / HTTP/1.1\r\nHost: {upstream.host}:{upstream.port}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"X-Amz-Target: DynamoDB_20120810.{operation}\r\n"
            f"X-Amz-Date: {stamp}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=harnessedge/{stamp[:8]}/{region}/"
            "dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        status, response = await self._forward(upstream, request, "POST")
        try:
            answer = json.loads(response.partition(b"\r\n\r\n")[2] or b"{}")
        except ValueError:
            answer = {}
        return status, answer if isinstance(answer, dict) else {}

    async def _describe_table(self, table: str, region: str) -> dict[str, Any] | None:
        """``DescribeTable`` on the DynamoDB emulator (the edge's own call, not a client's)."""
        status, answer = await self._dynamodb("DescribeTable", {"TableName": table}, region)
        table_info = answer.get("Table") if status == 200 else None
        return table_info if isinstance(table_info, dict) else None

    def _admin(self, method: str, target: str, body: bytes, *, trusted: bool = True) -> bytes:
        """The edge's control API: health, and the fault rules (LocalStack's chaos verbs).
        Health without the secret (``trusted`` False) names no emulator address."""
        path = target.split("?", 1)[0].rstrip("/")
        if path == "/_harness/edge/health" and not trusted:
            return json_response(
                200, {"status": "ok", "uptime_s": round(time.time() - self.started, 3)}
            )
        if path == "/_harness/edge/health":
            return json_response(
                200,
                {
                    "status": "ok",
                    "uptime_s": round(time.time() - self.started, 3),
                    "routes": {name: up.url for name, up in self.upstreams.items()},
                    "default": self.default.url,
                    "calls": dict(self.calls),
                    "injected_errors": dict(self.errors),
                    "iam": self.iam.summary() if self.iam is not None else None,
                },
            )
        if path == "/_harness/edge/iam" and self.iam is not None:
            if method == "DELETE":
                self.iam.reset()
            query = parse_qs(target.partition("?")[2])
            since = float(query.get("since", ["0"])[0] or 0)
            denied_only = query.get("denied", ["0"])[0] in ("1", "true")
            return json_response(
                200,
                {**self.iam.summary(), "decisions": self.iam.log(since, denied_only)},
            )
        if self.alarms is not None:
            alarm_answer = self.alarms.admin(method, path, body)
            if alarm_answer is not None:
                return json_response(*alarm_answer)
        if self.admin_handler is not None:
            answer = self.admin_handler(method, path, target, body)
            if answer is not None:
                status, payload = answer
                return json_response(status, payload)
        return json_response(404, {"message": f"no edge control endpoint {method} {path}"})


def _unknown_service(service: str, proxy: EdgeProxy) -> bool:
    """A SigV4 scope naming a service AWS does not have (no emulator could answer it)."""
    if service == "unknown" or service in proxy.upstreams:
        return False
    return service not in known_services()


async def serve(proxy: EdgeProxy, host: str, port: int) -> None:
    known_services()  # load botocore's service names before the first request
    server = await asyncio.start_server(proxy.handle, host, port, limit=MAX_HEAD, backlog=1024)
    logger.info("edge listening on %s:%s", host, port)
    async with server:
        await server.serve_forever()
