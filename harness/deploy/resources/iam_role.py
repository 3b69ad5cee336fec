"""AWS::IAM::Role on the emulator, with its inline and managed policies.

The policy documents are what :class:`harness.model.FunctionSpec.policies` carries.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::IAM::Role",)
BACKEND = "ministack IAM"
PROPERTIES = frozenset(
    {
        "RoleName",
        "AssumeRolePolicyDocument",
        "Policies",
        "ManagedPolicyArns",
        "Path",
        "Description",
        "MaxSessionDuration",
        "Tags",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "PermissionsBoundary": "recorded; the AWS edge evaluates the role's own policies, not boundaries",
}
ATTRIBUTES = ("Arn", "RoleId", "RoleName")


def _doc(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _put_policies(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> None:
    iam = ctx.client("iam")
    for policy in props.get("Policies") or []:
        ctx.call(
            logical_id,
            BACKEND,
            iam.put_role_policy,
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=_doc(policy["PolicyDocument"]),
        )


def _attach(ctx: Context, logical_id: str, name: str, arns: list[str], old: list[str]) -> None:
    """Attach the stack's own managed policies; AWS managed ones only if the emulator has them."""
    iam = ctx.client("iam")
    for arn in old:
        if arn not in arns:
            ctx.quietly(iam.detach_role_policy, RoleName=name, PolicyArn=arn)
    for arn in arns:
        if arn in old:
            continue
        if ":aws:policy/" in arn:
            ctx.quietly(iam.attach_role_policy, RoleName=name, PolicyArn=arn)
        else:
            ctx.call(logical_id, BACKEND, iam.attach_role_policy, RoleName=name, PolicyArn=arn)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("RoleName") or ctx.physical_name(logical_id, max_len=64))
    args: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": _doc(props.get("AssumeRolePolicyDocument") or {}),
    }
    for key in ("Path", "Description"):
        if props.get(key):
            args[key] = props[key]
    if props.get("MaxSessionDuration"):
        args["MaxSessionDuration"] = int(props["MaxSessionDuration"])
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    role = ctx.call(logical_id, BACKEND, ctx.client("iam").create_role, **args)["Role"]
    _put_policies(ctx, logical_id, name, props)
    _attach(ctx, logical_id, name, list(props.get("ManagedPolicyArns") or []), [])
    arn = ctx.arn("iam", f"role{props.get('Path') or '/'}{name}", region=False)
    return record(
        logical_id,
        TYPES[0],
        name,
        props,
        arn=arn,
        Arn=arn,
        RoleId=role.get("RoleId") or f"AROA{secrets.token_hex(8).upper()}",
        RoleName=name,
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if before.get("RoleName") != props.get("RoleName") or before.get("Path") != props.get("Path"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    iam = ctx.client("iam")
    if before.get("AssumeRolePolicyDocument") != props.get("AssumeRolePolicyDocument"):
        ctx.quietly(
            iam.update_assume_role_policy,
            RoleName=old.physical_id,
            PolicyDocument=_doc(props.get("AssumeRolePolicyDocument") or {}),
        )
    new_names = {p["PolicyName"] for p in props.get("Policies") or []}
    for policy in before.get("Policies") or []:
        if policy["PolicyName"] not in new_names:
            ctx.quietly(
                iam.delete_role_policy, RoleName=old.physical_id, PolicyName=policy["PolicyName"]
            )
    _put_policies(ctx, old.logical_id, old.physical_id, props)
    _attach(
        ctx,
        old.logical_id,
        old.physical_id,
        list(props.get("ManagedPolicyArns") or []),
        list(before.get("ManagedPolicyArns") or []),
    )
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    iam = ctx.client("iam")
    names = ctx.quietly(iam.list_role_policies, RoleName=rec.physical_id) or {}
    for name in names.get("PolicyNames", []):
        ctx.quietly(iam.delete_role_policy, RoleName=rec.physical_id, PolicyName=name)
    attached = ctx.quietly(iam.list_attached_role_policies, RoleName=rec.physical_id) or {}
    for policy in attached.get("AttachedPolicies", []):
        ctx.quietly(iam.detach_role_policy, RoleName=rec.physical_id, PolicyArn=policy["PolicyArn"])
    ctx.quietly(iam.delete_role, RoleName=rec.physical_id)
