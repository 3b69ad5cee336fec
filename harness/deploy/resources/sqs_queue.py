"""AWS::SQS::Queue on the emulator: FIFO, deduplication, timeouts, retention, redrive (DLQ)."""

from __future__ import annotations

import json
from typing import Any

from harness.deploy.resources.base import Context, boolean, record
from harness.model import ResourceRecord

TYPES = ("AWS::SQS::Queue",)
BACKEND = "ministack SQS"
_ATTRS = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "VisibilityTimeout",
)
PROPERTIES = frozenset({"QueueName", "FifoQueue", "Tags", *_ATTRS})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsDataKeyReusePeriodSeconds": "encryption at rest with a customer key; nothing observable changes locally",
    "KmsMasterKeyId": "encryption at rest with a customer key; nothing observable changes locally",
    "SqsManagedSseEnabled": "encryption at rest with a customer key; nothing observable changes locally",
}
ATTRIBUTES = ("Arn", "QueueName", "QueueUrl")
_DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "262144",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "RedrivePolicy": "",
    "RedriveAllowPolicy": "",
}


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attributes(props: dict[str, Any]) -> dict[str, str]:
    attrs = {k: _text(props[k]) for k in _ATTRS if k in props}
    if "RedrivePolicy" in props and isinstance(props["RedrivePolicy"], dict):
        policy = dict(props["RedrivePolicy"])
        if "maxReceiveCount" in policy:
            policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
        attrs["RedrivePolicy"] = json.dumps(policy)
    return attrs


def _name(ctx: Context, logical_id: str, props: dict[str, Any]) -> str:
    fifo = boolean(props.get("FifoQueue", False))
    if props.get("QueueName"):
        return str(props["QueueName"])
    return ctx.physical_name(logical_id, max_len=80, suffix=".fifo" if fifo else "")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    sqs = ctx.client("sqs")
    name = _name(ctx, logical_id, props)
    attrs = _attributes(props)
    if boolean(props.get("FifoQueue", False)):
        attrs["FifoQueue"] = "true"
    args: dict[str, Any] = {"QueueName": name, "Attributes": attrs}
    if props.get("Tags"):
        args["tags"] = {t["Key"]: str(t["Value"]) for t in props["Tags"]}
    url = ctx.call(logical_id, BACKEND, sqs.create_queue, **args)["QueueUrl"]
    return _record(ctx, logical_id, name, url, props)


def _record(
    ctx: Context, logical_id: str, name: str, url: str, props: dict[str, Any]
) -> ResourceRecord:
    arn = ctx.arn("sqs", name)
    return record(logical_id, TYPES[0], url, props, arn=arn, Arn=arn, QueueName=name, QueueUrl=url)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if before.get("QueueName") != props.get("QueueName") or boolean(
        before.get("FifoQueue", False)
    ) != boolean(props.get("FifoQueue", False)):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    attrs = _attributes(props)
    for key in _attributes(before):
        if key not in attrs and key in _DEFAULTS:
            attrs[key] = _DEFAULTS[key]
    attrs.pop("FifoQueue", None)
    if attrs:
        ctx.call(
            old.logical_id,
            BACKEND,
            ctx.client("sqs").set_queue_attributes,
            QueueUrl=old.physical_id,
            Attributes=attrs,
        )
    return _record(ctx, old.logical_id, old.attributes["QueueName"], old.physical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("sqs").delete_queue, QueueUrl=rec.physical_id)
