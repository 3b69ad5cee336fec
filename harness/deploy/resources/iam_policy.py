"""AWS::IAM::Policy (inline, put on each role) and AWS::IAM::ManagedPolicy (created, attached)."""

from __future__ import annotations

import json
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
BACKEND = "ministack IAM"
PROPERTIES = frozenset(
    {
        "PolicyName",
        "ManagedPolicyName",
        "PolicyDocument",
        "Roles",
        "Users",
        "Groups",
        "Description",
        "Path",
    }
)
IGNORED: dict[str, str] = {}
ATTRIBUTES = ("Id", "PolicyArn", "PolicyId")


def _managed(props: dict[str, Any]) -> bool:
    return "PolicyName" not in props


def _doc(props: dict[str, Any]) -> str:
    doc = props["PolicyDocument"]
    return doc if isinstance(doc, str) else json.dumps(doc)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    iam = ctx.client("iam")
    if not _managed(props):
        name = str(props["PolicyName"])
        for role in props.get("Roles") or []:
            ctx.call(
                logical_id,
                BACKEND,
                iam.put_role_policy,
                RoleName=role,
                PolicyName=name,
                PolicyDocument=_doc(props),
            )
        return record(
            logical_id, TYPES[0], f"{ctx.stack_name}-{logical_id}", props, Id=name, PolicyName=name
        )
    name = str(props.get("ManagedPolicyName") or ctx.physical_name(logical_id, max_len=128))
    args: dict[str, Any] = {"PolicyName": name, "PolicyDocument": _doc(props)}
    for key in ("Description", "Path"):
        if props.get(key):
            args[key] = props[key]
    policy = ctx.call(logical_id, BACKEND, iam.create_policy, **args)["Policy"]
    arn = policy["Arn"]
    for role in props.get("Roles") or []:
        ctx.call(logical_id, BACKEND, iam.attach_role_policy, RoleName=role, PolicyArn=arn)
    return record(
        logical_id, TYPES[1], arn, props, arn=arn, PolicyArn=arn, PolicyId=policy.get("PolicyId")
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    delete(ctx, old)
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    iam = ctx.client("iam")
    props = rec.properties
    if not _managed(props):
        for role in props.get("Roles") or []:
            ctx.quietly(iam.delete_role_policy, RoleName=role, PolicyName=props["PolicyName"])
        return
    for role in props.get("Roles") or []:
        ctx.quietly(iam.detach_role_policy, RoleName=role, PolicyArn=rec.physical_id)
    ctx.quietly(iam.delete_policy, PolicyArn=rec.physical_id)
