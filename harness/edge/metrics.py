"""CloudWatch metrics of the AWS calls that pass through the edge, named as AWS publishes them.

* ``AWS/DynamoDB``: ``SuccessfulRequestLatency`` and ``ThrottledRequests`` /``SystemErrors``
  per ``TableName+Operation``; ``UserErrors`` (other 4xx) without dimensions.
* ``AWS/SQS`` per ``QueueName``: ``NumberOfMessagesSent`` / ``Received`` / ``Deleted``
  (an empty receive records 0, so the datapoint is not missing).
* ``AWS/SNS``: ``NumberOfMessagesPublished`` per ``TopicName``.
* ``AWS/Events``: ``PutEventsApproximateCallCount`` / ``FailedCount`` (per ``EventBusName``
  and without dimensions).
* ``AWS/States``: ``ExecutionsStarted`` per ``StateMachineArn``.

Called once per call after the answer is known (:func:`observe`); a call the edge answered
itself with an injected fault counts as what the client saw.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from harness.edge.routing import RequestInfo
from harness.metrics.recorder import key, put

__all__ = ["observe", "status_of"]

logger = logging.getLogger(__name__)

_THROTTLING = (b"ProvisionedThroughputExceeded", b"ThrottlingException", b"RequestLimitExceeded")
_SQS_OPS = {
    "SendMessage": "NumberOfMessagesSent",
    "SendMessageBatch": "NumberOfMessagesSent",
    "ReceiveMessage": "NumberOfMessagesReceived",
    "DeleteMessage": "NumberOfMessagesDeleted",
    "DeleteMessageBatch": "NumberOfMessagesDeleted",
}


def status_of(response: bytes) -> int:
    try:
        return int(response[9:12])
    except ValueError:
        return 0


def _params(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if body[:1] == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items()}


def _batch_size(params: dict[str, Any]) -> int:
    entries = params.get("Entries")
    if isinstance(entries, list):
        return len(entries)
    return sum(1 for k in params if k.endswith(".Id")) or 1


def observe(info: RequestInfo, body: bytes, response: bytes, elapsed_ms: float) -> None:
    service = info.service
    if service not in ("dynamodb", "sqs", "sns", "events", "states"):
        return
    try:
        _observe(service, info.operation, body, response, elapsed_ms)
    except Exception:  # metrics must never fail a call
        logger.exception("edge metrics: %s %s", service, info.operation)


def _observe(service: str, op: str, body: bytes, response: bytes, elapsed_ms: float) -> None:
    status = status_of(response)
    ok = 200 <= status < 300
    if service == "dynamodb":
        params = _params(body)
        table = params.get("TableName")
        if not isinstance(table, str):
            items = params.get("RequestItems")
            table = next(iter(items), None) if isinstance(items, dict) and items else None
        if ok:
            if table:
                dims = {"TableName": table, "Operation": op}
                put(key("AWS/DynamoDB", "SuccessfulRequestLatency", dims), round(elapsed_ms, 2))
            return
        if status >= 500:
            if table:
                put(key("AWS/DynamoDB", "SystemErrors", {"TableName": table, "Operation": op}), 1.0)
        elif any(code in response for code in _THROTTLING):
            if table:
                dims = {"TableName": table, "Operation": op}
                put(key("AWS/DynamoDB", "ThrottledRequests", dims), 1.0)
        else:
            put(key("AWS/DynamoDB", "UserErrors"), 1.0)
        return
    if not ok:
        if service == "events" and op == "PutEvents":
            _events(_params(body), failed=True)
        return
    params = _params(body)
    if service == "sqs":
        metric = _SQS_OPS.get(op)
        url = params.get("QueueUrl")
        if metric is None or not isinstance(url, str):
            return
        queue = url.rstrip("/").rsplit("/", 1)[-1]
        if op == "ReceiveMessage":
            payload = response.partition(b"\r\n\r\n")[2]
            count = payload.count(b'"MessageId"') + payload.count(b"<MessageId>")
        elif op.endswith("Batch"):
            count = _batch_size(params)
        else:
            count = 1
        put(key("AWS/SQS", metric, {"QueueName": queue}), float(count))
    elif service == "sns" and op == "Publish":
        topic = params.get("TopicArn")
        if isinstance(topic, str):
            name = topic.rsplit(":", 1)[-1]
            put(key("AWS/SNS", "NumberOfMessagesPublished", {"TopicName": name}), 1.0)
    elif service == "events" and op == "PutEvents":
        _events(params, failed=False)
    elif service == "states" and op == "StartExecution":
        arn = params.get("stateMachineArn")
        if isinstance(arn, str):
            put(key("AWS/States", "ExecutionsStarted", {"StateMachineArn": arn}), 1.0)


def _events(params: dict[str, Any], *, failed: bool) -> None:
    entries = params.get("Entries")
    bus = "default"
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        bus = str(entries[0].get("EventBusName") or "default").rsplit("/", 1)[-1]
    put(key("AWS/Events", "PutEventsApproximateCallCount", {}, {"EventBusName": bus}), 1.0)
    put(
        key("AWS/Events", "PutEventsApproximateFailedCount", {}, {"EventBusName": bus}),
        1.0 if failed else 0.0,
    )
