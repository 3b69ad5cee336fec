"""Direct service integrations: SQS ``SendMessage`` and EventBridge ``PutEvents``.

The call goes to the single AWS endpoint (``endpoints["aws_endpoint"]``, the harness edge) over
a kept-alive connection, in the services' JSON protocols, with a SigV4-shaped ``Authorization``
header whose credential scope names the service (emulators do not verify signatures; the edge
routes on the scope). The answer is shaped as API Gateway's HTTP API answers: 200 with
``{"SendMessageResponse": {...}}`` for SQS and the ``PutEvents`` result for EventBridge; a
service error passes its status and body through.
"""

from __future__ import annotations

import time
from typing import Any

from harness.gateway import errors
from harness.gateway.client import HttpPool, Unreachable
from harness.gateway.context import RequestContext
from harness.gateway.jsonutil import dumps, loads
from harness.gateway.mapping import evaluate, substitute
from harness.gateway.tracing import lambda_trace_header

__all__ = ["ServiceIntegrations"]

_SQS_FIELDS = (
    "QueueUrl",
    "MessageBody",
    "DelaySeconds",
    "MessageGroupId",
    "MessageDeduplicationId",
)
_EVENTS_FIELDS = ("Source", "DetailType", "Detail", "EventBusName", "Time", "TraceHeader")


def _subtype(integration_type: str, subtype: str | None) -> str:
    if subtype:
        return subtype
    return {"sqs": "SQS-SendMessage", "eventbridge": "EventBridge-PutEvents"}.get(
        integration_type, ""
    )


class ServiceIntegrations:
    def __init__(self, aws_endpoint: str | None, region: str = "us-east-1") -> None:
        self.pool = HttpPool(aws_endpoint) if aws_endpoint else None
        self.region = region

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _headers(self, service: str, target: str, content_type: bytes) -> list[tuple[bytes, bytes]]:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = f"test/{stamp[:8]}/{self.region}/{service}/aws4_request"
        auth = (
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date;x-amz-target, "
            "Signature=0000000000000000000000000000000000000000000000000000000000000000"
        )
        return [
            (b"Content-Type", content_type),
            (b"X-Amz-Target", target.encode()),
            (b"X-Amz-Date", stamp.encode()),
            (b"Authorization", auth.encode()),
        ]

    async def call(self, ctx: RequestContext) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        target = ctx.target
        assert target is not None
        integration = target.integration
        subtype = _subtype(integration.type, integration.subtype)
        params = integration.parameters
        if self.pool is None:
            raise errors.service_unavailable()
        if subtype == "SQS-SendMessage":
            payload: dict[str, Any] = {}
            for field in _SQS_FIELDS:
                if field in params:
                    value = evaluate(ctx, params[field])
                    if value is not None:
                        payload[field] = int(value) if field == "DelaySeconds" else value
            if "MessageAttributes" in params:
                raw = params["MessageAttributes"]
                attrs = raw if isinstance(raw, dict) else loads(substitute(ctx, raw))
                payload["MessageAttributes"] = attrs
            if "MessageBody" not in payload:
                payload["MessageBody"] = ctx.body.decode("utf-8", errors="replace")
            region = params.get("Region") or self.region
            headers = self._headers("sqs", "AmazonSQS.SendMessage", b"application/x-amz-json-1.0")
            status, body = await self._send(ctx, headers, payload, region)
            if status != 200:
                return status, [(b"content-type", b"application/json")], body
            result = loads(body) if body else {}
            answer = {
                "SendMessageResponse": {
                    "ResponseMetadata": {"RequestId": ctx.request_id},
                    "SendMessageResult": {
                        "MD5OfMessageAttributes": result.get("MD5OfMessageAttributes"),
                        "MD5OfMessageBody": result.get("MD5OfMessageBody"),
                        "MD5OfMessageSystemAttributes": result.get("MD5OfMessageSystemAttributes"),
                        "MessageId": result.get("MessageId"),
                        "SequenceNumber": result.get("SequenceNumber"),
                    },
                }
            }
            return 200, [(b"content-type", b"application/json")], dumps(answer)
        if subtype == "EventBridge-PutEvents":
            entry: dict[str, Any] = {}
            for field in _EVENTS_FIELDS:
                if field in params:
                    value = evaluate(ctx, params[field])
                    if value is not None:
                        entry[field] = value
            if "Resources" in params:
                value = evaluate(ctx, params["Resources"])
                entry["Resources"] = value if isinstance(value, list) else loads(value or "[]")
            if "Detail" in entry and not isinstance(entry["Detail"], str):
                entry["Detail"] = dumps(entry["Detail"]).decode()
            headers = self._headers("events", "AWSEvents.PutEvents", b"application/x-amz-json-1.1")
            status, body = await self._send(ctx, headers, {"Entries": [entry]}, self.region)
            return status, [(b"content-type", b"application/json")], body
        ctx.integration_error = f"unsupported integration subtype {subtype!r}"
        raise errors.internal_error(ctx.is_rest)

    async def _send(
        self, ctx: RequestContext, headers: list[tuple[bytes, bytes]], payload: Any, region: str
    ) -> tuple[int, bytes]:
        assert self.pool is not None and ctx.target is not None
        if ctx.trace_id:  # the edge's span of this call is a child of the integration span
            headers = [*headers, (b"x-amzn-trace-id", lambda_trace_header(ctx).encode())]
        started = time.perf_counter()
        try:
            response = await self.pool.request(
                "POST", "/", dumps(payload), headers, timeout=ctx.target.timeout_s
            )
        except TimeoutError:
            ctx.integration_error = "integration timeout"
            raise errors.timed_out() from None
        except Unreachable as exc:
            ctx.integration_error = str(exc)
            raise errors.service_unavailable() from None
        finally:
            ctx.integration_latency_ms = (time.perf_counter() - started) * 1000
        ctx.integration_status = response.status
        return response.status, response.body
