"""AWS::Lambda::Permission, ::Version, ::Alias, ::EventInvokeConfig: recorded for the runtime.

A version is published as Lambda publishes one: numbered after the function's previous versions,
with the function's code (copied) and configuration as they are at that moment; an alias routes
to its version and, with ``RoutingConfig.AdditionalVersionWeights``, sends that fraction of
invocations to the other version (the runtime picks per invocation and reports the version that
ran: ``X-Amz-Executed-Version``, ``context.function_version``).
"""

from __future__ import annotations

import logging
import secrets
import shutil
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

logger = logging.getLogger(__name__)


def refusals(type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    """An alias routes to at most one additional version (as Lambda allows), with a weight
    between 0 and 1."""
    routing = props.get("RoutingConfig")
    weights = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else None
    if type_ != "AWS::Lambda::Alias" or not isinstance(weights, list):
        return []
    found = []
    if len(weights) > 1:
        found.append(
            (
                "RoutingConfig.AdditionalVersionWeights",
                f"{len(weights)} additional versions: Lambda routes an alias to at most one",
            )
        )
    for i, item in enumerate(weights):
        weight = item.get("FunctionWeight") if isinstance(item, dict) else None
        if isinstance(weight, (int, float)) and not 0.0 <= float(weight) <= 1.0:
            found.append(
                (
                    f"RoutingConfig.AdditionalVersionWeights[{i}].FunctionWeight",
                    f"weight {weight} is not between 0.0 and 1.0",
                )
            )
    return found


def definition_refusals(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """SAM's DeploymentPreference hooks (an alias's UpdatePolicy): CodeDeploy would invoke them
    around the traffic shift; it does not run locally."""
    update = (definition.get("UpdatePolicy") or {}).get("CodeDeployLambdaAliasUpdate") or {}
    return [
        (
            f"UpdatePolicy.CodeDeployLambdaAliasUpdate.{hook}",
            f"the {hook} (SAM DeploymentPreference Hooks) is run by CodeDeploy around the "
            "traffic shift, which does not run locally: the hook would never be invoked",
        )
        for hook in ("BeforeAllowTrafficHook", "AfterAllowTrafficHook")
        if hook in update
    ]


def _function_arn(ctx: Context, name: str) -> str:
    return name if name.startswith("arn:") else ctx.arn("lambda", f"function:{name}")


def _function_record(ctx: Context, function: str) -> ResourceRecord | None:
    name = function.split(":function:", 1)[-1].split(":", 1)[0]
    for rec in ctx.records.values():
        if rec.type == "AWS::Lambda::Function" and name in (rec.physical_id, rec.logical_id):
            return rec
    return None


def _next_version(ctx: Context, function: str) -> int:
    numbers = [
        int(rec.attributes.get("Version", 0))
        for rec in [*ctx.records.values(), *ctx.old_records.values()]
        if rec.type == "AWS::Lambda::Version" and rec.attributes.get("FunctionArn") == function
    ]
    return max(numbers, default=0) + 1


def _publish(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    """A numbered version: the function's code copied as it is now, its configuration with it
    (``harness.deploy.specs.functions`` gives the runtime one spec per version)."""
    function = _function_arn(ctx, str(props.get("FunctionName", "")))
    fn = _function_record(ctx, function)
    number = _next_version(ctx, function)
    arn = f"{function}:{number}"
    snapshot = None
    if fn is not None:
        code = fn.attributes.get("CodeDir")
        if code and ctx.work_dir is not None:
            target = ctx.work_dir / "versions" / fn.physical_id / str(number)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(str(code), target, symlinks=True)
            snapshot = str(target)
    return record(
        logical_id,
        "AWS::Lambda::Version",
        arn,
        props,
        arn=arn,
        Arn=arn,
        Version=str(number),
        FunctionArn=function,
        FunctionLogicalId=fn.logical_id if fn else None,
        SnapshotDir=snapshot,
        FunctionProperties=fn.properties if fn else None,
    )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    kind = ctx.current_type
    function = _function_arn(ctx, str(props.get("FunctionName", "")))
    if kind == "AWS::Lambda::Version":
        return _publish(ctx, logical_id, props)
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
    snapshot = rec.attributes.get("SnapshotDir")
    if rec.type == "AWS::Lambda::Version" and snapshot:
        shutil.rmtree(str(snapshot), ignore_errors=True)
