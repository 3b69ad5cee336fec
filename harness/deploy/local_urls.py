"""The local form of the URLs a stack outputs.

A template's outputs name AWS endpoints (``https://{api_id}.execute-api.{region}.amazonaws.com/
{stage}/path``); the same API is served locally at ``{gateway_url}/{stack}/{ApiLogicalId}`` with
the same stage and path after it. :func:`local_url` rewrites the one into the other, so the test
steps of an application's README work against the harness (``harness deploy --json`` prints
``local_outputs``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from harness.model import DeployedStack, load_stacks

__all__ = ["local_outputs", "local_url", "nested_stacks"]

_EXECUTE_API = re.compile(
    r"https://(?P<id>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(?P<rest>/[^\s]*)?"
)


def nested_stacks(state_dir: Path, name: str) -> list[DeployedStack]:
    """The stacks nested in ``name`` (AWS::CloudFormation::Stack), their own nested ones too."""
    stacks = load_stacks(state_dir)
    found: list[DeployedStack] = []
    parents = {name}
    while True:
        more = [s for s in stacks.values() if s.parent in parents and s not in found]
        if not more:
            return found
        found += more
        parents = {s.name for s in more}


def local_url(stack: DeployedStack, value: str, nested: Iterable[DeployedStack] = ()) -> str:
    """``value`` with each execute-api URL of one of the stack's APIs (or of the stacks nested
    in it, whose outputs it passes on) made local."""
    apis = [api for s in (stack, *nested) for api in s.apis.values()]

    def swap(match: re.Match[str]) -> str:
        for api in apis:
            if api.api_id != match.group("id") or not api.base_url:
                continue
            base = api.base_url
            if api.stage and api.stage != "$default" and base.endswith(f"/{api.stage}"):
                base = base[: -len(api.stage) - 1]  # the stage comes back with the path
            return base + (match.group("rest") or "")
        return match.group(0)

    return _EXECUTE_API.sub(swap, value)


def local_outputs(stack: DeployedStack, nested: Iterable[DeployedStack] = ()) -> dict[str, str]:
    """The stack's outputs whose value names one of its APIs (or a nested stack's), made local."""
    out = {}
    nested = list(nested)
    for name, value in stack.outputs.items():
        local = local_url(stack, value, nested)
        if local != value:
            out[name] = local
    return out
