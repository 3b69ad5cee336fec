"""Event shapes Lambda hands to functions, and the records it sends to destinations.

Pure functions of their inputs (no I/O), so that the shapes can be unit-tested against AWS's
documented examples.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BatchResult",
    "aws_arn",
    "ddb_batch_info",
    "ddb_record",
    "destination_record",
    "iso_ms",
    "new_request_id",
    "parse_batch_response",
    "scheduled_event",
    "scheduler_input",
    "sns_record",
    "sqs_record",
]


_random = random.Random()


def new_request_id() -> str:
    """A version-4 UUID string, ~10x cheaper than ``str(uuid.uuid4())`` (not for secrets)."""
    bits = _random.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso_ms(ts: float | None = None) -> str:
    """``2026-01-02T03:04:05.678Z``."""
    ts = time.time() if ts is None else ts
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _iso_s(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- SQS --------------------------------------------------------------------------------------

_SQS_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records[]`` entry of Lambda's SQS event from a ReceiveMessage ``Messages[]`` entry."""
    attributes = message.get("Attributes") or {}
    message_attributes = {}
    for key, value in (message.get("MessageAttributes") or {}).items():
        # Lambda lower-cases the first letter of each field and always lists the list fields.
        converted = {_lower_first(k): v for k, v in value.items()}
        converted.setdefault("stringListValues", [])
        converted.setdefault("binaryListValues", [])
        message_attributes[key] = converted
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: attributes[k] for k in _SQS_ATTRIBUTES if k in attributes},
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        **(
            {"md5OfMessageAttributes": message["MD5OfMessageAttributes"]}
            if message.get("MD5OfMessageAttributes")
            else {}
        ),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class BatchResult:
    """What a partial batch response says: which item ids failed, or that the whole batch did."""

    __slots__ = ("all_failed", "failed_ids")

    def __init__(self, failed_ids: list[str], all_failed: bool = False) -> None:
        self.failed_ids = failed_ids
        self.all_failed = all_failed

    def __repr__(self) -> str:
        return f"BatchResult(failed_ids={self.failed_ids!r}, all_failed={self.all_failed})"


def parse_batch_response(payload: Any, item_ids: list[str]) -> BatchResult:
    """Interpret a function's answer under ``ReportBatchItemFailures`` as Lambda does.

    Success: ``None``, an empty object, an empty/missing ``batchItemFailures``, or any answer that
    is not an object (Lambda ignores it). Complete failure: a ``batchItemFailures`` that is not a
    list, or an item whose ``itemIdentifier`` is missing, empty, null or not in the batch.
    """
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload) if payload else None
        except ValueError:
            return BatchResult(list(item_ids), all_failed=True)
    if not isinstance(payload, dict):
        return BatchResult([])
    failures = payload.get("batchItemFailures")
    if failures is None:
        return BatchResult([])
    if not isinstance(failures, list):
        return BatchResult(list(item_ids), all_failed=True)
    known = set(item_ids)
    failed: list[str] = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in known:
            return BatchResult(list(item_ids), all_failed=True)
        if ident not in failed:
            failed.append(ident)
    return BatchResult(failed)


# -- SNS ---------------------------------------------------------------------------------------


def sns_record(notification: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """Lambda's SNS event record from the JSON envelope SNS delivers to an SQS subscriber."""
    attributes = {
        k: {"Type": v.get("Type", "String"), "Value": v.get("Value")}
        for k, v in (notification.get("MessageAttributes") or {}).items()
    }
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": notification.get("Type", "Notification"),
            "MessageId": notification.get("MessageId", str(uuid.uuid4())),
            "TopicArn": notification.get("TopicArn", ""),
            "Subject": notification.get("Subject"),
            "Message": notification.get("Message", ""),
            "Timestamp": notification.get("Timestamp") or iso_ms(),
            "SignatureVersion": notification.get("SignatureVersion", "1"),
            "Signature": notification.get("Signature", "EXAMPLE"),
            "SigningCertUrl": notification.get("SigningCertURL", ""),
            "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
            "MessageAttributes": attributes,
        },
    }


# -- EventBridge schedules ----------------------------------------------------------------------


def scheduled_event(rule_arn: str, account: str, region: str, when: float) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": _iso_s(when),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def scheduler_input(text: str, schedule_arn: str, when: float, attempt: int = 1) -> str:
    """An EventBridge Scheduler target ``Input`` with its context attributes filled in, as the
    scheduler does before invoking: ``<aws.scheduler.schedule-arn>``,
    ``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>`` and
    ``<aws.scheduler.attempt-number>`` (EventBridge Scheduler user guide, "Adding context
    attributes to your target")."""
    values = {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": _iso_s(when),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text


# -- DynamoDB Streams ------------------------------------------------------------------------------


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def aws_arn(arn: str, region: str) -> str:
    """``arn`` with ``region`` in its region field: DynamoDB Local names every table and stream
    ``arn:aws:dynamodb:ddblocal:...``, where AWS has the stack's region."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[3] != region:
        parts[3] = region
        return ":".join(parts)
    return arn


def ddb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """Lambda's DynamoDB event record from a GetRecords ``Records[]`` entry (low-level JSON).

    ``awsRegion`` is the environment's region and ``eventSourceARN`` the stream's ARN in that
    region, as AWS sends them (DynamoDB Local says ``ddblocal`` in both)."""
    dynamodb = dict(record.get("dynamodb") or {})
    if "ApproximateCreationDateTime" in dynamodb:
        dynamodb["ApproximateCreationDateTime"] = _epoch(dynamodb["ApproximateCreationDateTime"])
    out = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": aws_arn(stream_arn, region),
    }
    if record.get("userIdentity"):
        out["userIdentity"] = record["userIdentity"]
    return out


def ddb_batch_info(records: list[dict[str, Any]], shard_id: str, stream_arn: str) -> dict[str, Any]:
    """``DDBStreamBatchInfo`` of an on-failure record for a batch of Lambda-shaped records."""
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]

    def arrival(d: dict[str, Any]) -> str:
        ts = d.get("ApproximateCreationDateTime")
        return iso_ms(float(ts)) if isinstance(ts, int | float) else iso_ms()

    return {
        "shardId": shard_id,
        "startSequenceNumber": first.get("SequenceNumber"),
        "endSequenceNumber": last.get("SequenceNumber"),
        "approximateArrivalOfFirstRecord": arrival(first),
        "approximateArrivalOfLastRecord": arrival(last),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }


# -- destinations --------------------------------------------------------------------------------


def destination_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_payload: Any = None,
    response_payload: Any = None,
    function_error: str | None = None,
    status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record Lambda sends to an OnSuccess/OnFailure destination.

    ``condition`` is ``Success``, ``RetriesExhausted``, ``EventAgeExceeded`` (async) or
    ``RetryAttemptsExhausted`` (stream sources, which pass ``extra`` with the batch info instead of
    a request payload).
    """
    response_context: dict[str, Any] = {"statusCode": status_code, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = function_error
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_ms(),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
    }
    if extra is None:
        record["requestPayload"] = request_payload
    record["responseContext"] = response_context
    if extra is None:
        record["responsePayload"] = response_payload
    else:
        record.update(extra)
    return record
