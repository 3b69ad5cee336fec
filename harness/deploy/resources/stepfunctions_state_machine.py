"""AWS::StepFunctions::StateMachine on the emulator (definition with its substitutions)."""

from __future__ import annotations

import json
import re
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = ("AWS::StepFunctions::StateMachine",)
BACKEND = "ministack Step Functions"
PROPERTIES = frozenset(
    {
        "StateMachineName",
        "StateMachineType",
        "Definition",
        "DefinitionString",
        "DefinitionSubstitutions",
        "RoleArn",
        "Tags",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "EncryptionConfiguration": "encryption at rest with a customer key; nothing observable changes locally",
    "LoggingConfiguration": "execution history logging to CloudWatch",
    "TracingConfiguration": "X-Ray tracing of executions (no X-Ray locally)",
}
ATTRIBUTES = ("Arn", "Name")


def definition(props: dict[str, Any]) -> str:
    raw = props.get("DefinitionString") or props.get("Definition") or {}
    text = raw if isinstance(raw, str) else json.dumps(raw)
    substitutions = props.get("DefinitionSubstitutions") or {}

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return str(substitutions[key]) if key in substitutions else match.group(0)

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("StateMachineName") or ctx.physical_name(logical_id, max_len=80))
    args: dict[str, Any] = {
        "name": name,
        "definition": definition(props),
        "roleArn": str(props.get("RoleArn") or ctx.arn("iam", "role/harness-states", region=False)),
        "type": str(props.get("StateMachineType") or "STANDARD"),
    }
    if props.get("Tags"):
        args["tags"] = [{"key": t["Key"], "value": str(t["Value"])} for t in props["Tags"]]
    arn = ctx.call(logical_id, BACKEND, ctx.client("stepfunctions").create_state_machine, **args)[
        "stateMachineArn"
    ]
    return record(logical_id, TYPES[0], arn, props, arn=arn, Arn=arn, Name=name)


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    before = old.properties
    if before.get("StateMachineName") != props.get("StateMachineName") or before.get(
        "StateMachineType"
    ) != props.get("StateMachineType"):
        delete(ctx, old)
        return create(ctx, old.logical_id, props)
    args: dict[str, Any] = {"stateMachineArn": old.physical_id, "definition": definition(props)}
    if props.get("RoleArn"):
        args["roleArn"] = props["RoleArn"]
    ctx.call(old.logical_id, BACKEND, ctx.client("stepfunctions").update_state_machine, **args)
    return record(old.logical_id, TYPES[0], old.physical_id, props, arn=old.arn, **old.attributes)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    ctx.quietly(ctx.client("stepfunctions").delete_state_machine, stateMachineArn=rec.physical_id)
