"""AWS::Lambda::EventSourceMapping: recorded; the harness runtime polls the queue or stream."""

from __future__ import annotations

import uuid
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Lambda::EventSourceMapping",)
BACKEND = "harness runtime (event source pollers)"
PROPERTIES = frozenset(
    {
        "EventSourceArn",
        "FunctionName",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "ScalingConfig",
        "FunctionResponseTypes",
        "StartingPosition",
        "StartingPositionTimestamp",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "DestinationConfig",
        "FilterCriteria",
        "Enabled",
        "ParallelizationFactor",
        "TumblingWindowInSeconds",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsKeyArn": "encryption of the filter criteria at rest",
    "MetricsConfig": "extra CloudWatch metrics for the mapping",
    "Tags": "tags label the resource; they change no behaviour",
}
ATTRIBUTES = ("Id", "EventSourceMappingArn")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    mapping_id = str(uuid.uuid4())
    arn = ctx.arn("lambda", f"event-source-mapping:{mapping_id}")
    return record(
        logical_id, TYPES[0], mapping_id, props, arn=arn, Id=mapping_id, EventSourceMappingArn=arn
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
