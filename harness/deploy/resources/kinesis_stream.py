"""AWS::Kinesis::Stream on ministack's Kinesis: shards (or on-demand), retention, tags.

Lambda event source mappings on a stream are polled by the runtime
(``harness/runtime/pollers/kinesis_poller.py``).
"""

from __future__ import annotations

import time
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Kinesis::Stream",)
BACKEND = "ministack Kinesis"
PROPERTIES = frozenset({"Name", "ShardCount", "StreamModeDetails", "RetentionPeriodHours", "Tags"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "StreamEncryption": "encryption at rest with a customer key; nothing observable changes locally",
    "DesiredShardLevelMetrics": "enhanced CloudWatch metrics per shard",
    "MaxRecordSizeInKiB": "the record size limit (1 MiB by default); local records are small",
    "WarmThroughputMiBps": "pre-warmed on-demand throughput; the local stream has no limit",
}
ATTRIBUTES = ("Arn",)


def _mode(props: dict[str, Any]) -> dict[str, str] | None:
    mode = (props.get("StreamModeDetails") or {}).get("StreamMode")
    return {"StreamMode": str(mode)} if mode else None


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    kinesis = ctx.client("kinesis")
    name = str(props.get("Name") or ctx.physical_name(logical_id, max_len=128))
    args: dict[str, Any] = {"StreamName": name}
    mode = _mode(props)
    if mode and mode["StreamMode"] == "ON_DEMAND":
        args["StreamModeDetails"] = mode
    else:
        args["ShardCount"] = int(props.get("ShardCount", 1))
    ctx.call(logical_id, BACKEND, kinesis.create_stream, **args)
    for _ in range(50):  # CREATING -> ACTIVE
        status = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if status["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    if props.get("Tags"):
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        ctx.quietly(kinesis.add_tags_to_stream, StreamName=name, Tags=tags)
    hours = props.get("RetentionPeriodHours")
    if hours and int(hours) > 24:
        ctx.quietly(
            kinesis.increase_stream_retention_period,
            StreamName=name,
            RetentionPeriodHours=int(hours),
        )
    arn = ctx.arn("kinesis", f"stream/{name}")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name") or _mode(old.properties) != _mode(props):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    if old.properties.get("ShardCount") != props.get("ShardCount") and props.get("ShardCount"):
        ctx.call(
            old.logical_id,
            BACKEND,
            ctx.client("kinesis").update_shard_count,
            StreamName=old.physical_id,
            TargetShardCount=int(props["ShardCount"]),
            ScalingType="UNIFORM_SCALING",
        )
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, Arn=old.arn)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("kinesis").delete_stream,
        StreamName=rec.physical_id,
        EnforceConsumerDeletion=True,
    )
