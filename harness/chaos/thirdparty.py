"""Third-party faults on a stack's fake provider servers.

A stack's ``harness.yaml`` can declare fake servers (``fixtures.fake_servers``) that
``harness deploy`` starts and records in the deployed stack as ``fake_servers`` (name -> base
URL). A fake server that takes faults answers ``POST /_control/faults`` with
``{"provider", "mode": ok|slow|rate_limit|error|revoke, "latency_ms", "retry_after", "status",
"probability", "count"}``, ``DELETE /_control/faults``, ``POST /_control/revoke
{"provider", "ownerId"}`` and ``GET /_control/stats`` (SyncWell's
``stacks/syncwell/fakes/providers.py`` does). Probabilistic decisions are the fake's own (it
seeds its generator when it starts), so a run against a fresh fake is reproducible.

Our names (``latency``, ``rate-limit``, ``error``, ``token-revocation``) map to the fake's modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.env.jsonhttp import call_json
from harness.errors import ConfigError

__all__ = ["THIRDPARTY_MODES", "ThirdPartyFault", "fake_server_url", "fake_servers", "send"]

THIRDPARTY_MODES = ("latency", "rate-limit", "error", "token-revocation")
_FAKE_MODE = {
    "latency": "slow",
    "rate-limit": "rate_limit",
    "error": "error",
    "token-revocation": "revoke",
}


class ThirdPartyFault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["latency", "rate-limit", "error", "token-revocation"]
    server: str = Field("providers", description="the fake server's name in harness.yaml")
    stack: str | None = None
    provider: str = Field("*", description="a provider the fake serves (e.g. strava), or *")
    latency_ms: float = Field(1000, ge=0)
    retry_after: int = Field(1, ge=0, description="seconds, the 429's Retry-After")
    status: int = Field(503, ge=500, le=599)
    probability: float = Field(1.0, gt=0, le=1)
    count: int | None = Field(None, ge=1, description="fault only this many calls")
    ownerId: str | None = Field(None, description="token-revocation of one account only")

    @model_validator(mode="after")
    def _owner(self) -> ThirdPartyFault:
        if self.ownerId is not None and self.mode != "token-revocation":
            raise ValueError("'ownerId' only applies to mode token-revocation")
        if self.ownerId is not None and self.provider == "*":
            raise ValueError("revoking one account's tokens needs its 'provider'")
        return self

    def control_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provider": self.provider,
            "mode": _FAKE_MODE[self.mode],
            "probability": self.probability,
        }
        if self.mode == "latency":
            body["latency_ms"] = self.latency_ms
        if self.mode == "rate-limit":
            body["retry_after"] = self.retry_after
        if self.mode == "error":
            body["status"] = self.status
        if self.count is not None:
            body["count"] = self.count
        return body

    @property
    def effect(self) -> str:
        if self.mode == "latency":
            return f"latency {self.latency_ms:g}ms"
        if self.mode == "rate-limit":
            return f"429 Retry-After {self.retry_after}s"
        if self.mode == "error":
            return f"error {self.status}"
        return f"tokens revoked{f' ({self.ownerId})' if self.ownerId else ''}"


def fake_servers(state_dir: Path) -> dict[str, dict[str, str]]:
    """``{stack: {server name: base URL}}`` for every deployed stack that records fake servers.

    Reads the deployed stacks as ``harness destroy`` does (:func:`harness.model.load_stacks`);
    a stack deployed before fake servers were recorded simply has none."""
    from harness.model import load_stacks

    found: dict[str, dict[str, str]] = {}
    for name, stack in load_stacks(state_dir).items():
        servers = getattr(stack, "fake_servers", None) or {}
        if servers:
            found[name] = dict(servers)
    return found


def fake_server_url(state_dir: Path, server: str = "providers", stack: str | None = None) -> str:
    """The base URL of fake server ``server`` (of ``stack``, or of the only stack that has one)."""
    every = fake_servers(state_dir)
    candidates = {s: urls[server] for s, urls in every.items() if server in urls}
    if stack is not None:
        if stack not in candidates:
            have = ", ".join(sorted(every.get(stack, {}))) or "none"
            raise ConfigError(
                f"stack {stack!r} records no fake server named {server!r} (it has: {have}).",
                source=str(state_dir / "stacks"),
                field="fake_servers",
                fix="declare it under fixtures.fake_servers in the stack's harness.yaml and "
                "deploy it again with `harness deploy`.",
            )
        return candidates[stack].rstrip("/")
    if len(candidates) == 1:
        return next(iter(candidates.values())).rstrip("/")
    if not candidates:
        raise ConfigError(
            f"no deployed stack records a fake server named {server!r}"
            f"{' (stacks with fake servers: ' + ', '.join(sorted(every)) + ')' if every else ''}.",
            source=str(state_dir / "stacks"),
            field="fake_servers",
            fix="deploy a stack whose harness.yaml declares fixtures.fake_servers (for example "
            "`harness deploy stacks/syncwell`); a stack deployed before fake servers were "
            "recorded must be deployed again.",
        )
    raise ConfigError(
        f"several stacks have a fake server named {server!r}: {', '.join(sorted(candidates))}.",
        field="stack",
        fix="name the stack (targets.stack, or --stack).",
    )


def send(method: str, url: str, payload: Any = None, timeout: float = 10.0) -> Any:
    """A JSON call to a fake server (or the runtime's control API)."""
    return call_json(
        method,
        url,
        payload,
        timeout=timeout,
        fix="check that the stack is deployed and its fake servers run (`harness status`).",
    )
