"""Call Lambda functions through the runtime's Invoke API.

``POST {runtime_url}/2015-03-31/functions/{name}/invocations`` with the event as body; the answer
body is the function's result. When the runtime is local, the same call goes over its invoke
channel (:mod:`harness.runtime.channel`: one multiplexed Unix socket per gateway worker, binary
frames, no HTTP), which is the shorter path; the Invoke API over HTTP is the fallback.
``X-Amz-Function-Error`` marks a handler error, 429 ``TooManyRequestsException`` a throttle,
404 an unknown function. The outcome is classified here so that the integration and the Lambda
authorizers map it the same way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import quote

from harness.gateway.client import HttpPool, HttpResponse, Unreachable
from harness.gateway.jsonutil import dumps
from harness.runtime.channel import (
    ChannelClient,
    ChannelLost,
    ChannelReply,
    ChannelUnavailable,
    address_for_url,
)

__all__ = ["InvokeOutcome", "Invoker"]

logger = logging.getLogger(__name__)

_HEADERS = [
    (b"Content-Type", b"application/json"),
    (b"X-Amz-Invocation-Type", b"RequestResponse"),
]


@dataclass(slots=True)
class InvokeOutcome:
    kind: str  # ok | function_error | throttled | not_found | unreachable | timeout | error
    status: int
    body: bytes
    latency_ms: float
    detail: str = ""


class Invoker:
    def __init__(self, runtime_url: str | None, channel: bool = True) -> None:
        self.runtime_url = runtime_url
        self.pool = HttpPool(runtime_url) if runtime_url else None
        address = address_for_url(runtime_url) if runtime_url and channel else None
        self.channel = ChannelClient(address) if address else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.channel is not None:
            self.channel.close()

    async def invoke(
        self,
        function_name: str,
        event: object,
        timeout_s: float,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> InvokeOutcome:
        started = time.perf_counter()
        if self.pool is None:
            return InvokeOutcome("unreachable", 0, b"", 0.0, "no runtime_url in the state file")
        body = event if isinstance(event, bytes) else dumps(event)
        response: HttpResponse | ChannelReply | None = None
        channel = self.channel
        try:
            if channel is not None and not extra_headers and channel.usable:
                try:
                    response = await channel.invoke(function_name, body, timeout_s)
                except ChannelUnavailable:  # nothing sent: the Invoke API over HTTP instead
                    response = None
                except ChannelLost as exc:
                    raise Unreachable(f"runtime channel: {exc}") from exc
            if response is None:
                headers = _HEADERS + extra_headers if extra_headers else _HEADERS
                path = f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"
                response = await self.pool.request("POST", path, body, headers, timeout=timeout_s)
        except TimeoutError:
            return InvokeOutcome(
                "timeout", 0, b"", (time.perf_counter() - started) * 1000, "integration timeout"
            )
        except Unreachable as exc:
            return InvokeOutcome(
                "unreachable", 0, b"", (time.perf_counter() - started) * 1000, str(exc)
            )
        latency = (time.perf_counter() - started) * 1000
        status = response.status
        if status == 200:
            if response.headers.get("x-amz-function-error"):
                return InvokeOutcome(
                    "function_error", status, response.body, latency,
                    response.headers["x-amz-function-error"],
                )  # fmt: skip
            return InvokeOutcome("ok", status, response.body, latency)
        if status == 429:
            return InvokeOutcome(
                "throttled", status, response.body, latency, "TooManyRequestsException"
            )
        if status == 404:
            return InvokeOutcome("not_found", status, response.body, latency, "function not found")
        return InvokeOutcome("error", status, response.body, latency, f"runtime answered {status}")
