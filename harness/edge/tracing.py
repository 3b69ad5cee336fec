"""The edge's spans: one per AWS call made under a trace (CLIENT kind, service ``aws``).

A call is traced when it carries ``X-Amzn-Trace-Id`` — botocore sends the handler's
``_X_AMZN_TRACE_ID``, the gateway sends its integration span — so the pollers' own receives and
the harness's control calls make no spans. The span is a child of the header's ``Parent`` (the
invocation), and the header forwarded upstream names the span itself as ``Parent``: an SQS
message's ``AWSTraceHeader`` (which the emulator keeps from that header, as SQS does), a
``lambda.invoke``'s callee and an SNS or EventBridge delivery continue from this call.

Attributes: ``rpc.service``/``rpc.method`` (service, operation), ``aws.resource`` (table, queue,
topic, bus, bucket, function, secret or parameter name when the request names one),
``http.response.status_code``, ``aws.attempt`` and ``aws.retries`` (botocore's
``amz-sdk-request: attempt=N``), and ``fault.injected`` when the chaos engine answered or delayed
the call. A fault or a 5xx sets the span's status to ERROR.

SNS and EventBridge deliveries: the emulators do not carry the trace to the subscription's
queue, so for ``Publish``/``PublishBatch``/``PutEvents`` the edge notes
``{"id": MessageId|EventId, "trace": header}`` at once in ``<run>/carry.jsonl`` (one ``write``,
no buffering); the runtime's SNS and EventBridge pollers look the delivery's id up there
(:class:`harness.obs.carry.CarriedTraces`) and invoke the function with that trace, as SNS and EventBridge pass the
X-Ray header to the Lambda functions they invoke.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import orjson
from opentelemetry.trace import SpanKind

from harness.edge.routing import RequestInfo
from harness.obs.carry import CARRY_FILE
from harness.obs.spans import (
    TRACES_DIR,
    SpanRecorder,
    TraceConfig,
    new_span_id,
    parse_xray,
    xray_header,
)

__all__ = ["CallTrace", "EdgeTracer", "resource_name"]

logger = logging.getLogger(__name__)

_JSON_NAMES = re.compile(
    rb'"(TableName|QueueUrl|TopicArn|TargetArn|EventBusName|SecretId|Name|FunctionName|StreamName)"'
    rb'\s*:\s*"([^"]{1,512})"'
)
_QUERY_NAMES = re.compile(rb"(?:^|&)(QueueUrl|TopicArn|TargetArn)=([^&]{1,1024})")
_ATTEMPT = re.compile(r"attempt=(\d+)")
_MESSAGE_IDS = re.compile(
    rb"<MessageId>([^<]{1,128})</MessageId>|\"(?:MessageId|EventId)\"\s*:\s*\"([^\"]{1,128})\""
)


def resource_name(info: RequestInfo, target: str, body: bytes) -> str | None:
    """The table, queue, topic, bus, bucket, function, secret or parameter a request names."""
    service = info.service
    if service == "s3":
        path = target.split("?", 1)[0].lstrip("/")
        return unquote(path.split("/", 1)[0]) or None
    if service == "lambda":
        match = re.search(r"/functions/([^/?]+)", target)
        return unquote(match.group(1)) if match else None
    head = body[:4096]
    found = _JSON_NAMES.search(head)
    if found is not None:
        value = found.group(2).decode("utf-8", "replace")
    else:
        query = _QUERY_NAMES.search(head)
        if query is None:
            return None
        value = unquote(query.group(2).decode("latin-1"))
    # a queue URL or an ARN: its last part is the name
    return value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] or None


@dataclass(slots=True)
class CallTrace:
    trace_id: int
    parent: int
    span_id: int
    sampled: bool

    def header(self) -> str:
        return xray_header(self.trace_id, self.span_id, self.sampled)


class EdgeTracer:
    def __init__(self, recorder: SpanRecorder, state_dir: Path, config: TraceConfig) -> None:
        self.recorder = recorder
        self.carry_path = Path(state_dir) / TRACES_DIR / config.run / CARRY_FILE
        self._carry_fd: int | None = None

    def begin(self, header: str | None) -> CallTrace | None:
        context = parse_xray(header)
        if context is None:
            return None
        return CallTrace(context.trace_id, context.parent, new_span_id(), context.sampled)

    def end(
        self,
        call: CallTrace,
        info: RequestInfo,
        target: str,
        body: bytes,
        attempt_header: str | None,
        response: bytes,
        started_perf: float,
        *,
        fault: bool,
    ) -> None:
        status = int(response[9:12]) if response[9:12].isdigit() else 0
        attempt = 1
        if attempt_header:
            match = _ATTEMPT.search(attempt_header)
            if match is not None:
                attempt = int(match.group(1))
        end_ns = time.time_ns()
        start_ns = end_ns - int((time.perf_counter() - started_perf) * 1e9)
        error = None
        if fault and not 200 <= status < 400:
            error = f"fault injected: HTTP {status}" if status else "fault injected"
        elif status >= 500 or status == 0:
            error = f"HTTP {status}"  # a delay-only fault keeps its status: fault.injected says it
        self.recorder.record(
            f"{info.service}.{info.operation}",
            call.trace_id,
            call.span_id,
            call.parent,
            start_ns,
            end_ns,
            {
                "rpc.system": "aws-api",
                "rpc.service": info.service,
                "rpc.method": info.operation,
                "cloud.region": info.region,
                "aws.resource": resource_name(info, target, body),
                "http.response.status_code": status,
                "aws.attempt": attempt,
                "aws.retries": attempt - 1,
                "fault.injected": fault,
            },
            SpanKind.CLIENT,
            error,
        )
        if (
            not fault
            and 200 <= status < 300
            and (info.operation in ("Publish", "PublishBatch", "PutEvents"))
        ):
            self._carry(call, info.operation, body, response)

    def _carry(self, call: CallTrace, operation: str, body: bytes, response: bytes) -> None:
        _, _, payload = response.partition(b"\r\n\r\n")
        header = call.header()
        pairs: list[tuple[str, str]] = []
        if operation == "PutEvents":
            # an entry's own TraceHeader overrides the HTTP header (EventBridge user guide,
            # "Amazon EventBridge integration with AWS X-Ray"); results come back in entry order
            try:
                sent = orjson.loads(body).get("Entries") or []
                answered = orjson.loads(payload).get("Entries") or []
            except (orjson.JSONDecodeError, AttributeError):
                sent, answered = [], []
            for i, result in enumerate(answered):
                event_id = result.get("EventId") if isinstance(result, dict) else None
                if not isinstance(event_id, str):
                    continue  # a failed entry
                entry = sent[i] if i < len(sent) and isinstance(sent[i], dict) else {}
                own = entry.get("TraceHeader")
                valid = isinstance(own, str) and parse_xray(own) is not None
                pairs.append((event_id, own if valid else header))  # type: ignore[arg-type]
        else:
            pairs = [((a or b).decode("latin-1"), header) for a, b in _MESSAGE_IDS.findall(payload)]
        if not pairs:
            return
        data = b"".join(orjson.dumps({"id": i, "trace": h}) + b"\n" for i, h in pairs)
        try:
            if self._carry_fd is None:
                self.carry_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._carry_fd = os.open(
                    self.carry_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
                )
            os.write(self._carry_fd, data)
        except OSError as exc:
            logger.warning("cannot note carried traces in %s: %s", self.carry_path, exc)

    def close(self) -> None:
        self.recorder.shutdown()
        if self._carry_fd is not None:
            os.close(self._carry_fd)
            self._carry_fd = None
