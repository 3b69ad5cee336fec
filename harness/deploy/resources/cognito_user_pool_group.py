"""AWS::Cognito::UserPoolGroup on the emulator."""

from __future__ import annotations

from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::Cognito::UserPoolGroup",)
BACKEND = "ministack Cognito"
PROPERTIES = frozenset({"GroupName", "UserPoolId", "Description", "Precedence", "RoleArn"})
IGNORED: dict[str, str] = {}
ATTRIBUTES = ()


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("GroupName") or ctx.physical_name(logical_id, max_len=128))
    args: dict[str, Any] = {"GroupName": name, "UserPoolId": props["UserPoolId"]}
    if props.get("Description"):
        args["Description"] = props["Description"]
    if "Precedence" in props:
        args["Precedence"] = int(props["Precedence"])
    if props.get("RoleArn"):
        args["RoleArn"] = props["RoleArn"]
    ctx.call(logical_id, BACKEND, ctx.client("cognito-idp").create_group, **args)
    return record(logical_id, TYPES[0], name, props)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(
        ctx.client("cognito-idp").delete_group,
        GroupName=rec.physical_id,
        UserPoolId=rec.properties["UserPoolId"],
    )
