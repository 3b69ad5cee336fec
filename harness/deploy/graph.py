"""Dependency order of a template's resources (Ref, Fn::GetAtt, Fn::Sub, DependsOn) and cycles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.deploy.intrinsics import references
from harness.errors import DeployError

__all__ = ["dependencies", "find_cycle", "topological_order"]


def dependencies(
    resources: Mapping[str, Mapping[str, Any]],
    *,
    parameters: Iterable[str] = (),
    file: str = "template.yaml",
) -> dict[str, set[str]]:
    """For each resource, the resources it needs first; a name nobody declares is an error."""
    known_params = set(parameters)
    deps: dict[str, set[str]] = {}
    for logical_id, definition in resources.items():
        names = references(definition.get("Properties", {}))
        depends_on = definition.get("DependsOn", [])
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        for name in depends_on:
            if name not in resources:
                raise DeployError(
                    f"DependsOn names '{name}', which is not a resource of the template.",
                    file=file,
                    logical_id=logical_id,
                    property="DependsOn",
                    fix="correct the name or remove it from DependsOn.",
                )
        for name in sorted(names):
            if name not in resources and name not in known_params:
                raise DeployError(
                    f"refers to '{name}' (Ref, Fn::GetAtt or Fn::Sub), which is neither a "
                    "parameter nor a resource of the template.",
                    file=file,
                    logical_id=logical_id,
                    fix=f"declare '{name}' or correct the reference.",
                )
        deps[logical_id] = {n for n in names if n in resources} | set(depends_on)
    return deps


def find_cycle(deps: Mapping[str, set[str]]) -> list[str] | None:
    """One dependency cycle as a path ``[a, b, ..., a]``, or ``None``."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if nxt not in color:
                continue
            if color[nxt] == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if color[nxt] == white:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for node in sorted(deps):
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(deps: Mapping[str, set[str]], *, file: str = "template.yaml") -> list[str]:
    """Resources in creation order (dependencies first; ties keep template order)."""
    cycle = find_cycle(deps)
    if cycle:
        raise DeployError(
            "circular dependency between resources: " + " -> ".join(cycle) + ".",
            file=file,
            logical_id=cycle[0],
            fix="break the cycle: drop one of these Ref/Fn::GetAtt/DependsOn links "
            "(for example build an ARN or name with Fn::Sub instead of Fn::GetAtt).",
        )
    order: list[str] = []
    done: set[str] = set()
    remaining = list(deps)
    while remaining:
        progressed = False
        for node in list(remaining):
            if all(d in done or d not in deps for d in deps[node]):
                order.append(node)
                done.add(node)
                remaining.remove(node)
                progressed = True
        if not progressed:  # pragma: no cover - find_cycle would have caught it
            raise DeployError("could not order resources.", file=file)
    return order
