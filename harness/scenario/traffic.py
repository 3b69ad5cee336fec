"""Where the run's load goes and how it is sent: the target's base URL and tokens, ``${}``
expansion in probe URLs, and one load run reported to the live view."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.scenario.context import RunContext
from harness.scenario.plan import load_processes

if TYPE_CHECKING:
    from harness.load.profile import LoadProfile
    from harness.load.result import LoadResult
    from harness.model import DeployedStack

__all__ = ["api_url", "expand", "load_target", "run_load"]

_PLACEHOLDER = re.compile(r"\$\{([a-z_]+(?::[A-Za-z0-9_.-]+)?)\}")


def api_url(stack: DeployedStack) -> str:
    """The base URL of the stack's API the load goes to (harness.yaml's ``api`` among several)."""
    wanted = (stack.profile or {}).get("api")
    if wanted and wanted in stack.apis:
        return stack.apis[wanted].base_url
    if len(stack.apis) == 1:
        return next(iter(stack.apis.values())).base_url
    if not stack.apis:
        raise ConfigError(
            f"stack {stack.name} has no API to send load to.",
            source=str(Path(stack.stack_dir) / "template.yaml"),
        )
    raise ConfigError(
        f"stack {stack.name} has several APIs ({', '.join(stack.apis)}); harness.yaml's "
        "`api` must name the one the load goes to.",
        source=str(Path(stack.stack_dir) / "harness.yaml"),
        field="api",
    )


def expand(ctx: RunContext, text: str) -> str:
    """``${api}``, ``${api:STACK}`` and ``${endpoint_name}`` replaced by this run's URLs."""
    endpoints = ctx.state.env.endpoints if ctx.state.env is not None else {}

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("api:"):
            stack = ctx.stack_named(key[4:])
            if stack is None:
                raise ConfigError(f"'${{{key}}}' names a stack this run did not deploy.")
            return api_url(stack)
        if key == "api" and ctx.scenario.target is not None:
            return load_target(ctx)[0].rstrip("/")
        if key == "api" and ctx.state.deployed:
            return api_url(ctx.state.deployed[0].stack)
        value = endpoints.get(key)
        if not isinstance(value, str):
            raise ConfigError(f"'${{{key}}}' is not an endpoint of this environment.")
        return value

    return _PLACEHOLDER.sub(sub, text)


def load_target(ctx: RunContext) -> tuple[str, Any]:
    """(base URL, token provider) of the load."""
    target = ctx.scenario.target
    if target is not None and target.kind == "aws":
        from harness.remote.target import resolve_load_target

        return resolve_load_target(target, str(ctx.file or "scenario"))
    if target is not None:
        from harness.auth.providers import OAuth2ClientCredentials

        tokens = None
        if target.token_url and target.client_id:
            secret = os.environ.get(target.client_secret_env or "", "")
            if target.client_secret_env and not secret:
                raise ConfigError(
                    f"the environment variable {target.client_secret_env} (the client "
                    "secret) is not set.",
                    field="target.client_secret_env",
                )
            tokens = OAuth2ClientCredentials(
                target.token_url, target.client_id, secret, scope=target.scope
            )
        return target.base_url, tokens
    from harness.auth.providers import StackTokens

    assert ctx.state.env is not None and ctx.inputs.load_dir is not None
    stack = next(d.stack for d in ctx.state.deployed if d.stack_dir == ctx.inputs.load_dir)
    return api_url(stack), StackTokens(ctx.state.env.state_dir, stack.name)


def run_load(
    ctx: RunContext,
    profile: LoadProfile,
    *,
    quiet: bool = False,
    started: Callable[[float], None] | None = None,
    seed: int | None = None,
) -> LoadResult:
    from harness.load.engine import run_load as engine_run_load

    assert ctx.inputs.traffic is not None
    base_url, tokens = load_target(ctx)

    def progress(p: Any) -> None:
        if quiet:
            return
        ctx.view.update(
            phase=_phase_of_stage(ctx, p.phase),
            elapsed_s=p.elapsed_s,
            remaining_s=p.remaining_s,
            rps=p.rps,
            target=p.target,
            p99_ms=p.p99_ms,
            errors=p.errors,
            errors_total=p.errors_total,
            requests=p.requests,
            dropped_total=p.dropped_total,
        )

    return engine_run_load(
        base_url,
        profile,
        ctx.inputs.traffic.mix,
        ctx.inputs.traffic.tenants,
        tokens,
        processes=load_processes(ctx.scenario),
        seed=ctx.seed if seed is None else seed,
        progress=progress,
        started=started,
    )


def _phase_of_stage(ctx: RunContext, stage: str) -> str:
    for window in ctx.windows:
        if stage in window.stages:
            return window.name
    return stage
