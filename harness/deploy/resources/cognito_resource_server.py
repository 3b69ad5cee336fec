"""AWS::Cognito::UserPoolResourceServer on the emulator (custom OAuth scopes)."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPoolResourceServer",)
BACKEND = "ministack Cognito"
PROPERTIES = frozenset({"Identifier", "Name", "UserPoolId", "Scopes"})
IGNORED: dict[str, str] = {}
ATTRIBUTES = ()


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    ctx.call(
        logical_id,
        BACKEND,
        ctx.client("cognito-idp").create_resource_server,
        UserPoolId=props["UserPoolId"],
        Identifier=props["Identifier"],
        Name=props.get("Name") or props["Identifier"],
        Scopes=props.get("Scopes") or [],
    )
    return record(logical_id, TYPES[0], str(props["Identifier"]), props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("cognito-idp").delete_resource_server,
        UserPoolId=rec.properties["UserPoolId"],
        Identifier=rec.physical_id,
    )
