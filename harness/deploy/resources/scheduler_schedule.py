"""AWS::Scheduler::Schedule: recorded; the harness runtime fires schedules that target functions."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Scheduler::Schedule",)
BACKEND = "recorded for the harness runtime (schedules)"
PROPERTIES = frozenset(
    {
        "Name",
        "GroupName",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "State",
        "Target",
        "FlexibleTimeWindow",
        "Description",
        "StartDate",
        "EndDate",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsKeyArn": "encryption at rest with a customer key; nothing observable changes locally",
}
ATTRIBUTES = ("Arn",)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("Name") or ctx.physical_name(logical_id, max_len=64))
    group = str(props.get("GroupName") or "default")
    arn = ctx.arn("scheduler", f"schedule/{group}/{name}")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name"):
        return create(ctx, old.logical_id, props)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, Arn=old.arn)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
