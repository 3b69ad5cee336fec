"""The checks a plan makes before anything is created (split from
:mod:`harness.deploy.engine`): every resource's type and properties against the module that
would create it, every ``Fn::GetAtt`` against the attributes that module provides, every
``Fn::ImportValue`` that names no resource against the exports, and each function's handler
and layers against its code (no backend: ``no_client`` refuses any AWS call).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from harness.deploy.intrinsics import Resolver, attribute_references, references
from harness.deploy.resources import handler_for, supported_types
from harness.deploy.resources.base import Context
from harness.deploy.unsupported import Unsupported, property_refusals
from harness.errors import DeployError

__all__ = ["check_attributes", "check_function", "check_imports", "check_resource", "no_client"]


def no_client(service: str) -> Any:
    raise RuntimeError("no backend during planning")


def check_resource(
    file: str, logical_id: str, definition: Mapping[str, Any], found: list[Unsupported]
) -> ModuleType | None:
    """The resource's module, or None (and an :class:`Unsupported`) for a type none handles;
    every property neither honoured nor ignored with a reason is added to ``found``."""
    type_ = str(definition["Type"])
    module = handler_for(type_)
    if module is None:
        found.append(
            Unsupported(
                file,
                logical_id,
                "Type",
                f"resource type {type_} is not supported locally (no backend can create it; "
                "with --allow-unsupported it is left out, and nothing may reference it). "
                "Supported types: " + ", ".join(supported_types()) + ".",
            )
        )
        return None
    props = definition.get("Properties") or {}
    if not isinstance(props, dict):
        raise DeployError("Properties must be a mapping.", file=file, logical_id=logical_id)
    found.extend(property_refusals(file, logical_id, type_, props, module))
    attributes = getattr(module, "definition_refusals", None)  # e.g. an alias's UpdatePolicy
    if attributes is not None:
        for prop, reason in attributes(definition):
            found.append(Unsupported(file, logical_id, prop, reason, module.BACKEND))
    check = getattr(module, "check", None)
    if check is not None:  # a module's own up-front check of its literal properties
        check(file, logical_id, props)
    return module


def check_attributes(
    file: str,
    active: Mapping[str, Any],
    handlers: Mapping[str, ModuleType],
    outputs: Mapping[str, Any],
) -> None:
    """Every Fn::GetAtt (and ``${A.B}``) names an attribute its resource's module provides."""
    places = [(k, v.get("Properties") or {}) for k, v in active.items()]
    places += [(f"Outputs.{k}", v) for k, v in outputs.items()]
    for where, fragment in places:
        for resource, attribute in sorted(attribute_references(fragment)):
            module = handlers.get(resource)
            if module is None:
                continue
            known = tuple(module.ATTRIBUTES)
            per_resource = getattr(module, "attributes_of", None)  # a nested stack's Outputs.X
            if per_resource is not None:
                known += per_resource(file, resource, active[resource].get("Properties") or {})
            if attribute in known:
                continue
            raise DeployError(
                f"Fn::GetAtt {resource}.{attribute}: the local {active[resource]['Type']} has no "
                f"attribute '{attribute}' (it has: {', '.join(known) or 'none'}).",
                file=file,
                logical_id=where,
                backend=module.BACKEND,
                fix="use one of the listed attributes, or build the value with Fn::Sub.",
            )


def check_imports(
    resolver: Resolver, active: Mapping[str, Any], parameters: Mapping[str, Any]
) -> None:
    """Fn::ImportValue names that do not depend on resources must be exported already."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
        elif isinstance(node, dict):
            if len(node) == 1 and "Fn::ImportValue" in node:
                if references(node["Fn::ImportValue"]) <= set(parameters):
                    resolver.context = where
                    resolver.resolve(node)
                return
            for item in node.values():
                walk(item, where)

    for logical_id, definition in active.items():
        walk(definition.get("Properties") or {}, logical_id)
    resolver.context = None


def check_function(
    ctx: Context,
    active: Mapping[str, Any],
    logical_id: str,
    definition: Mapping[str, Any],
    module: ModuleType,
) -> None:
    from harness.deploy.resources.lambda_layer import content_dir

    props = definition.get("Properties") or {}
    layer_dirs = []
    for layer in props.get("Layers") or []:
        if isinstance(layer, dict) and isinstance(layer.get("Ref"), str) and layer["Ref"] in active:
            content = (active[layer["Ref"]].get("Properties") or {}).get("Content")
            try:
                layer_dirs.append(content_dir(ctx, layer["Ref"], content))
            except DeployError:
                continue
    code = props.get("Code")
    if isinstance(code, dict) and any(isinstance(v, dict) for v in code.values()):
        return  # built with intrinsics: checked when resolved
    module.validate(ctx, logical_id, props, layer_dirs)
