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
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "DestinationConfig",
        "FilterCriteria",
        "Enabled",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsKeyArn": "encryption of the filter criteria at rest",
    "MetricsConfig": "extra CloudWatch metrics for the mapping",
    "Tags": "tags label the resource; they change no behaviour",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "StartingPositionTimestamp": "AT_TIMESTAMP starting positions are not served (TRIM_HORIZON "
    "and LATEST are)",
    "ParallelizationFactor": "the runtime reads each shard with one batch at a time",
    "TumblingWindowInSeconds": "tumbling-window aggregation state is not kept between batches",
}


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """MaximumRecordAgeInSeconds is honoured as 'never' when it is at least an hour (a local
    run's records are minutes old); a shorter age would drop records the runtime delivers."""
    age = props.get("MaximumRecordAgeInSeconds")
    numeric = isinstance(age, int | str) and str(age).lstrip("-").isdigit()
    if numeric and int(str(age)) != -1 and int(str(age)) < 3600:
        return [
            (
                "MaximumRecordAgeInSeconds",
                f"records older than {age} s are not discarded locally (only -1 or at least "
                "3600 s are honoured)",
            )
        ]
    return []


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
