"""AWS::Events::Rule on the emulator: pattern or schedule, with its non-Lambda targets.

Targets that are Lambda functions are invoked by the harness runtime, so they are not given to
the emulator; :mod:`harness.deploy.specs` turns them into event sources.
"""

from __future__ import annotations

import json
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Events::Rule",)
BACKEND = "ministack EventBridge"
PROPERTIES = frozenset(
    {
        "Name",
        "EventBusName",
        "EventPattern",
        "ScheduleExpression",
        "State",
        "Description",
        "Targets",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "RoleArn": "the role EventBridge assumes to reach targets; local delivery is not authorised by role",
    "Tags": "tags label the resource; they change no behaviour",
}
ATTRIBUTES = ("Arn",)


def is_lambda_target(arn: str) -> bool:
    return ":lambda:" in arn and ":function:" in arn


def _bus(props: dict[str, Any]) -> str:
    bus = str(props.get("EventBusName") or "default")
    return bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus


def _put(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> None:
    events = ctx.client("events")
    args: dict[str, Any] = {"Name": name, "EventBusName": _bus(props)}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        args["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if props.get("ScheduleExpression"):
        args["ScheduleExpression"] = props["ScheduleExpression"]
    if props.get("State"):
        args["State"] = props["State"]
    if props.get("Description"):
        args["Description"] = props["Description"]
    ctx.call(logical_id, BACKEND, events.put_rule, **args)
    targets = []
    for target in props.get("Targets") or []:
        if is_lambda_target(str(target.get("Arn", ""))):
            continue
        entry = {
            k: target[k] for k in ("Id", "Arn", "Input", "InputPath", "RoleArn") if k in target
        }
        for key in ("InputTransformer", "SqsParameters", "DeadLetterConfig", "RetryPolicy"):
            if key in target:
                entry[key] = target[key]
        targets.append(entry)
    if targets:
        ctx.call(
            logical_id,
            BACKEND,
            events.put_targets,
            Rule=name,
            EventBusName=_bus(props),
            Targets=targets,
        )


def _arn(ctx: Context, name: str, props: dict[str, Any]) -> str:
    bus = _bus(props)
    return ctx.arn("events", f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("Name") or ctx.physical_name(logical_id, max_len=64))
    _put(ctx, logical_id, name, props)
    arn = _arn(ctx, name, props)
    return record(logical_id, TYPES[0], name, props, arn=arn, Arn=arn)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("Name") != props.get("Name") or _bus(old.properties) != _bus(props):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    _remove_targets(ctx, old)
    _put(ctx, old.logical_id, old.physical_id, props)
    arn = _arn(ctx, old.physical_id, props)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=arn, Arn=arn)


def _remove_targets(ctx: Context, rec: ResourceRecord) -> None:
    ids = [
        t["Id"]
        for t in rec.properties.get("Targets") or []
        if not is_lambda_target(str(t.get("Arn", "")))
    ]
    if ids:
        ctx.quietly(
            ctx.client("events").remove_targets,
            Rule=rec.physical_id,
            EventBusName=_bus(rec.properties),
            Ids=ids,
        )


def delete(ctx: Context, rec: ResourceRecord) -> None:
    _remove_targets(ctx, rec)
    ctx.quietly(
        ctx.client("events").delete_rule, Name=rec.physical_id, EventBusName=_bus(rec.properties)
    )
