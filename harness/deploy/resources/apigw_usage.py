"""AWS::ApiGateway::UsagePlan, ::ApiKey, ::UsagePlanKey: recorded; the gateway enforces them."""

from __future__ import annotations

import secrets
from typing import Any

from harness.deploy.resources.base import Context, boolean, random_id, record
from harness.model import ResourceRecord

TYPES = ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey")
BACKEND = "harness gateway (usage plans)"
PROPERTIES = frozenset(
    {
        "UsagePlanName",
        "ApiStages",
        "Throttle",
        "Quota",
        "Description",
        "Tags",
        "Name",
        "Value",
        "Enabled",
        "StageKeys",
        "GenerateDistinctId",
        "CustomerId",
        "KeyId",
        "KeyType",
        "UsagePlanId",
    }
)
IGNORED: dict[str, str] = {}
ATTRIBUTES = ("APIKeyId", "Value", "Id")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    kind = ctx.current_type or TYPES[0]
    key_id = random_id()
    if kind == "AWS::ApiGateway::ApiKey":
        value = str(props.get("Value") or secrets.token_urlsafe(30)[:40])
        return record(
            logical_id,
            kind,
            key_id,
            props,
            APIKeyId=key_id,
            Value=value,
            Name=props.get("Name") or logical_id,
            Enabled=boolean(props.get("Enabled", True)),
        )
    return record(logical_id, kind, key_id, props, Id=key_id)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.type == "AWS::ApiGateway::ApiKey" and old.properties.get("Value") == props.get("Value"):
        attrs = {
            **old.attributes,
            "Name": props.get("Name") or old.logical_id,
            "Enabled": boolean(props.get("Enabled", True)),
        }
        return record(old.logical_id, old.type, old.physical_id, props, **attrs)
    return (
        record(old.logical_id, old.type, old.physical_id, props, **old.attributes)
        if old.type != "AWS::ApiGateway::ApiKey"
        else create(ctx, old.logical_id, props)
    )


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
