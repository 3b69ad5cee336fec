"""The AWS edge: one endpoint for every AWS service, routed to the emulator that serves it.

Functions, the gateway's service integrations and users all talk to this single URL
(``aws_endpoint``). It reads just enough of each HTTP/1.1 request to know the service, then
forwards it over a kept-alive connection to that service's emulator. It is also where wire-level
faults are injected (see ``harness.chaos``), which is why it is ours and not a generic proxy: it
must see every call, know its service and operation, and answer for AWS when told to.

Written on asyncio streams rather than an HTTP framework because it sits on the hot path of every
AWS call a handler makes; parsing only the request head keeps its cost per call small.
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
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from harness.edge.metrics import observe
from harness.edge.routing import RequestInfo, classify

if TYPE_CHECKING:
    from harness.edge.alarms import EdgeAlarms
    from harness.edge.iam_guard import IamGuard

__all__ = ["EdgeProxy", "FaultDecision", "Upstream"]

logger = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
_NO_BODY_STATUS = {204, 304}


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
    host: str = field(init=False)
    port: int = field(init=False)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD * 4)
        return reader, writer, False

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.idle) < 64 and not writer.is_closing():
            self.idle.append((reader, writer))
        else:
            writer.close()


class _ClientGone(Exception):
    pass


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
        alarms: EdgeAlarms | None = None,
    ) -> None:
        self.upstreams = {service: Upstream(url) for service, url in routes.items()}
        self.default = Upstream(default)
        self.fault_hook = fault_hook
        self.admin_handler = admin_handler
        self.iam = iam
        self.alarms = alarms
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
        except (
            _ClientGone,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        except Exception:  # never let one request take the edge down
            logger.exception("edge: request failed")
            with contextlib.suppress(Exception):
                writer.write(_plain(502, "edge proxy error"))
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                writer.write(_plain(400, "incomplete request"))
            raise _ClientGone from None
        lines = head[:-4].split(b"\r\n")
        request_line = lines[0].decode("latin-1")
        try:
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            writer.write(_plain(400, "bad request line"))
            return False
        headers: dict[str, str] = {}
        raw_headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            value = value.strip()
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
            raw_headers.append((name, value))
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(reader, headers)
        client_keepalive = (
            headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        )

        if target.startswith(("/_harness/edge", "/_localstack/chaos")):
            writer.write(self._admin(method, target, body))
            await writer.drain()
            return client_keepalive

        info = classify(method, target, headers, body)
        self.calls[f"{info.service}:{info.operation}"] += 1
        started = time.perf_counter()
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
        if self.fault_hook is not None:
            decision = await self.fault_hook(info, headers, body)
            if decision is not None:
                if decision.delay:
                    await asyncio.sleep(decision.delay)
                if decision.blackhole:
                    # Never answer; hold the connection until the client gives up.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(reader.read(), timeout=3600)
                    return False
                if decision.reset:
                    transport = writer.transport
                    if hasattr(transport, "abort"):
                        transport.abort()
                    return False
                if decision.response is not None:
                    self.errors[f"{info.service}:{info.operation}"] += 1
                    observe(info, body, decision.response, 0.0)
                    writer.write(decision.response)
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
            out += name + b": " + value + b"\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            out += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        out += b"\r\n"
        out += body
        _status, response = await self._forward(upstream, bytes(out), method)
        observe(info, body, response, (time.perf_counter() - started) * 1000)
        if iam is not None and info.operation == "AssumeRole" and info.service == "sts":
            iam.observe_assume_role(body, target, response)
        writer.write(response)
        await writer.drain()
        return client_keepalive

    async def _forward(self, upstream: Upstream, request: bytes, method: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                reader, writer, reused = await upstream.connection()
            except OSError as exc:
                return 502, _aws_unreachable(upstream, exc)
            try:
                writer.write(request)
                await writer.drain()
                status, response, keep = await _read_response(reader, method)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                writer.close()
                if reused and attempt == 1:
                    continue  # a stale pooled connection; retry once on a fresh one
                return 502, _aws_unreachable(upstream, exc)
            if keep:
                upstream.release(reader, writer)
            else:
                writer.close()
            return status, response
        raise AssertionError("unreachable")

    async def _describe_table(self, table: str, region: str) -> dict[str, Any] | None:
        """``DescribeTable`` on the DynamoDB emulator (the edge's own call, not a client's)."""
        upstream = self.upstream_for("dynamodb")
        payload = json.dumps({"TableName": table}).encode()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        request = (
            f"POST / HTTP/1.1\r\nHost: {upstream.host}:{upstream.port}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            "X-Amz-Target: DynamoDB_20120810.DescribeTable\r\n"
            f"X-Amz-Date: {stamp}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=harnessedge/{stamp[:8]}/{region}/"
            "dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        status, response = await self._forward(upstream, request, "POST")
        if status != 200:
            return None
        try:
            table_info = json.loads(response.partition(b"\r\n\r\n")[2]).get("Table")
        except ValueError:
            return None
        return table_info if isinstance(table_info, dict) else None

    def _admin(self, method: str, target: str, body: bytes) -> bytes:
        """The edge's control API: health, and the fault rules (LocalStack's chaos verbs)."""
        path = target.split("?", 1)[0].rstrip("/")
        if path == "/_harness/edge/health":
            return _json_response(
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
            return _json_response(
                200,
                {**self.iam.summary(), "decisions": self.iam.log(since, denied_only)},
            )
        if self.alarms is not None:
            alarm_answer = self.alarms.admin(method, path, body)
            if alarm_answer is not None:
                return _json_response(*alarm_answer)
        if self.admin_handler is not None:
            answer = self.admin_handler(method, path, target, body)
            if answer is not None:
                status, payload = answer
                return _json_response(status, payload)
        return _json_response(404, {"message": f"no edge control endpoint {method} {path}"})


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    data = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # trailers, up to the blank line
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(data)
        data += await reader.readexactly(size)
        await reader.readexactly(2)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bool]:
    """Read one response; return (status, bytes to relay, upstream connection reusable)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0]
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    kept: list[bytes] = [status_line]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lower = name.strip().lower()
        headers[lower] = value.strip()
        if lower in (b"transfer-encoding", b"content-length", b"connection", b"keep-alive"):
            continue
        kept.append(line)
    keep = headers.get(b"connection", b"").lower() != b"close" and status_line.startswith(
        b"HTTP/1.1"
    )
    if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
        # HEAD keeps the upstream's Content-Length: it describes the object, not this body.
        if b"content-length" in headers:
            kept.append(b"Content-Length: " + headers[b"content-length"])
        body = b""
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = await _read_chunked(reader)
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    else:
        body = await reader.read()
        keep = False
    if method != "HEAD" and status not in _NO_BODY_STATUS:
        kept.append(b"Content-Length: " + str(len(body)).encode())
    return status, b"\r\n".join(kept) + b"\r\n\r\n" + body, keep


def _json_response(status: int, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    reason = "OK" if status < 400 else "Error"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _plain(status: int, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} Error\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def _aws_unreachable(upstream: Upstream, exc: BaseException) -> bytes:
    body = json.dumps(
        {
            "__type": "ServiceUnavailable",
            "message": f"harness edge: emulator at {upstream.url} is unreachable ({exc})",
        }
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


async def serve(proxy: EdgeProxy, host: str, port: int) -> None:
    server = await asyncio.start_server(proxy.handle, host, port, limit=MAX_HEAD * 4, backlog=1024)
    logger.info("edge listening on %s:%s", host, port)
    async with server:
        await server.serve_forever()
