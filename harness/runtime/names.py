"""A function's reference as Lambda's APIs accept it: name, partial or full ARN, qualifier; and
the version one invocation of a weighted alias runs."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.runtime.pool import FunctionPool

__all__ = ["function_key", "pick_version", "select_pools", "split_qualifier"]


def function_key(name_or_arn: str) -> str:
    """``name``, ``arn:aws:lambda:r:a:function:name[:qualifier]`` or ``a:function:name`` → name."""
    if ":" not in name_or_arn:
        return name_or_arn
    parts = name_or_arn.split(":")
    if "function" in parts:
        index = parts.index("function")
        if index + 1 < len(parts):
            return parts[index + 1]
    return parts[0] if len(parts) == 2 else name_or_arn.split(":", 1)[0]


def split_qualifier(name_or_arn: str) -> tuple[str, str | None]:
    """``name[:qualifier]``, ``arn:aws:lambda:r:a:function:name[:qualifier]`` (or its
    ``a:function:name[:qualifier]`` form) → (name, qualifier or None)."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        index = parts.index("function")
        if index + 1 < len(parts):
            rest = parts[index + 1 :]
            return rest[0], rest[1] if len(rest) > 1 else None
    if len(parts) == 2:
        return parts[0], parts[1]
    return function_key(name_or_arn), None


def pick_version(alias: dict[str, Any], rng: random.Random) -> str:
    """The version one invocation of an alias runs: each additional version with its weight's
    chance (RoutingConfig.AdditionalVersionWeights), the alias's own version otherwise."""
    draw = rng.random()
    total = 0.0
    for version, weight in (alias.get("weights") or {}).items():
        total += float(weight)
        if draw < total:
            return str(version)
    return str(alias.get("version", "$LATEST"))


def select_pools(
    pools: list[FunctionPool], functions: list[str], stack: str | None
) -> list[FunctionPool]:
    """The pools named (by name or logical id) in ``stack`` (or all); ValueError if a name or
    the stack is unknown, so a typo fails when the fault is added."""
    if stack is not None:
        stacks = sorted({p.stack for p in pools})
        if stack not in stacks:
            raise ValueError(
                f"no deployed stack named {stack!r} in the runtime; deployed: {', '.join(stacks) or 'none'}"
            )
        pools = [p for p in pools if p.stack == stack]
    if not functions:
        return pools
    chosen = []
    for name in functions:
        match = [p for p in pools if name in (p.name, p.spec.logical_id)]
        if not match:
            known = ", ".join(sorted(p.spec.logical_id for p in pools)) or "none"
            raise ValueError(
                f"no function named {name!r}{f' in stack {stack}' if stack else ''}; "
                f"known (logical ids): {known}"
            )
        chosen += match
    return chosen
