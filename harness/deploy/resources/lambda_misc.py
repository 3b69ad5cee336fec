"""AWS::Lambda::Permission, ::Version, ::Alias, ::EventInvokeConfig: recorded for the runtime."""

from __future__ import annotations

import secrets
from typing import Any

from harness.deploy.resources.base import Context, record
from harness.model import ResourceRecord

TYPES = (
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
)
BACKEND = "harness runtime"
PROPERTIES = frozenset(
    {
        # Permission
        "Action",
        "FunctionName",
        "Principal",
        "SourceArn",
        "SourceAccount",
        "EventSourceToken",
        "FunctionUrlAuthType",
        "PrincipalOrgID",
        # Version / Alias
        "Description",
        "CodeSha256",
        "FunctionVersion",
        "Name",
        "ProvisionedConcurrencyConfig",
        "RoutingConfig",
        "RuntimePolicy",
        # EventInvokeConfig
        "Qualifier",
        "DestinationConfig",
        "MaximumEventAgeInSeconds",
        "MaximumRetryAttempts",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "InvokedViaFunctionUrl": "limits the permission to calls through the function URL; the "
    "gateway serves AuthType NONE URLs to anyone, as this permission allows",
}
ATTRIBUTES = ("Arn", "Version", "AliasArn", "FunctionArn")


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """An alias's weighted routing between versions: every version runs the template's current
    code locally, so a canary split would look like it worked while testing nothing."""
    routing = props.get("RoutingConfig")
    weights = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else None
    if type_ == "AWS::Lambda::Alias" and weights:
        return [
            (
                "RoutingConfig.AdditionalVersionWeights",
                "weighted routing between versions is not emulated (every version runs the "
                "template's current code)",
            )
        ]
    return []


def _function_arn(ctx: Context, name: str) -> str:
    return name if name.startswith("arn:") else ctx.arn("lambda", f"function:{name}")


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    kind = ctx.current_type
    function = _function_arn(ctx, str(props.get("FunctionName", "")))
    if kind == "AWS::Lambda::Version":
        arn = f"{function}:1"
        return record(
            logical_id, kind, arn, props, arn=arn, Arn=arn, Version="1", FunctionArn=function
        )
    if kind == "AWS::Lambda::Alias":
        arn = f"{function}:{props.get('Name')}"
        return record(
            logical_id, kind, arn, props, arn=arn, Arn=arn, AliasArn=arn, FunctionArn=function
        )
    return record(
        logical_id, kind, f"{logical_id}-{secrets.token_hex(6)}", props, FunctionArn=function
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    return create(ctx, old.logical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
