"""A stack's outputs and exports (split from :mod:`harness.deploy.engine`): resolved from the
template, published as SSM parameters under :func:`output_parameter_name` and
:func:`export_parameter_name` (where ``Fn::ImportValue`` and ``harness status`` find them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.deploy.intrinsics import Resolver
from harness.deploy.resources.base import Context
from harness.model import DeployedStack

__all__ = ["export_parameter_name", "output_parameter_name", "publish_outputs", "resolve_outputs"]


def output_parameter_name(stack: str, output: str) -> str:
    return f"/harness/{stack}/outputs/{output}"


def export_parameter_name(export: str) -> str:
    """The SSM name an export is published under (its Export name, made a valid SSM name)."""
    cleaned = "".join(c if c.isalnum() or c in "_.-/" else "_" for c in export)
    return cleaned if "/" not in cleaned or cleaned.startswith("/") else f"/{cleaned}"


def resolve_outputs(
    template: Mapping[str, Any], resolver: Resolver
) -> tuple[dict[str, str], dict[str, str]]:
    """The template's Outputs (those whose Condition holds) and Exports, resolved."""
    outputs: dict[str, str] = {}
    exports: dict[str, str] = {}
    for name, definition in (template.get("Outputs") or {}).items():
        condition = definition.get("Condition")
        if condition is not None and not resolver.condition(str(condition)):
            continue
        resolver.context = f"Outputs.{name}"
        value = resolver.resolve(definition.get("Value"))
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        outputs[name] = text
        export = definition.get("Export")
        if isinstance(export, dict) and "Name" in export:
            exports[str(resolver.resolve(export["Name"]))] = text
    resolver.context = None
    return outputs, exports


def publish_outputs(
    ctx: Context,
    stack: str,
    outputs: dict[str, str],
    exports: dict[str, str],
    old: DeployedStack | None,
) -> None:
    """Outputs and exports as SSM parameters (where ImportValue and the harness read them);
    what the previous deployment had and this one does not is deleted."""
    ssm = ctx.client("ssm")
    for name, value in outputs.items():
        ctx.call(
            f"Outputs.{name}",
            "ministack SSM",
            ssm.put_parameter,
            Name=output_parameter_name(stack, name),
            Value=value or " ",
            Type="String",
            Overwrite=True,
        )
    for name, value in exports.items():
        ctx.call(
            f"Export {name}",
            "ministack SSM",
            ssm.put_parameter,
            Name=export_parameter_name(name),
            Value=value or " ",
            Type="String",
            Overwrite=True,
        )
    if old:
        for name in set(old.outputs) - set(outputs):
            ctx.quietly(ssm.delete_parameter, Name=output_parameter_name(stack, name))
        for name in set(old.exports) - set(exports):
            ctx.quietly(ssm.delete_parameter, Name=export_parameter_name(name))
