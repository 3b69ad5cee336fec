"""AWS::Logs::LogGroup on the emulator, with its retention."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Logs::LogGroup",)
BACKEND = "ministack CloudWatch Logs"
PROPERTIES = frozenset({"LogGroupName", "RetentionInDays", "Tags"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "DataProtectionPolicy": "masking of sensitive data in CloudWatch Logs; local logs are files",
    "FieldIndexPolicies": "CloudWatch Logs Insights indexes",
    "KmsKeyId": "encryption at rest with a customer key; nothing observable changes locally",
    "LogGroupClass": "CloudWatch Logs pricing class",
}
ATTRIBUTES = ("Arn",)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("LogGroupName") or ctx.physical_name(logical_id, max_len=512))
    logs = ctx.client("logs")
    ctx.call(logical_id, BACKEND, logs.create_log_group, logGroupName=name)
    if props.get("RetentionInDays"):
        ctx.quietly(
            logs.put_retention_policy,
            logGroupName=name,
            retentionInDays=int(props["RetentionInDays"]),
        )
    arn = ctx.arn("logs", f"log-group:{name}:*")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("LogGroupName") != props.get("LogGroupName"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    logs = ctx.client("logs")
    if props.get("RetentionInDays"):
        ctx.quietly(
            logs.put_retention_policy,
            logGroupName=old.physical_id,
            retentionInDays=int(props["RetentionInDays"]),
        )
    else:
        ctx.quietly(logs.delete_retention_policy, logGroupName=old.physical_id)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, Arn=old.arn)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("logs").delete_log_group, logGroupName=rec.physical_id)
