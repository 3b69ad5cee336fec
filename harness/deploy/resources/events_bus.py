"""AWS::Events::EventBus on the emulator."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Events::EventBus",)
BACKEND = "ministack EventBridge"
PROPERTIES = frozenset({"Name", "Tags", "Description"})
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "KmsKeyIdentifier": "encryption at rest with a customer key; nothing observable changes locally",
    "LogConfig": "CloudWatch logging of the bus's own events",
    "Policy": "cross-account put permissions; the local environment has one account",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "DeadLetterConfig": "the bus's dead-letter queue for undeliverable events is not wired locally",
    "EventSourceName": "partner event sources do not exist locally",
}
ATTRIBUTES = ("Arn", "Name")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props["Name"])
    args: dict[str, Any] = {"Name": name}
    if props.get("Description"):
        args["Description"] = props["Description"]
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    result = ctx.call(logical_id, BACKEND, ctx.client("events").create_event_bus, **args)
    arn = result.get("EventBusArn") or ctx.arn("events", f"event-bus/{name}")
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn, Name=name)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("events").delete_event_bus, Name=rec.physical_id)
