"""Fault actions a scenario can put on its timeline: a named registry.

Each action validates its ``targets``/``parameters`` up front (so a typo fails before the run)
and knows how to start and stop itself against a running environment. Names follow AWS FIS where
FIS has the action (``aws:lambda:invocation-error`` -> ``lambda:invocation-error``) and keep its
parameter names (``invocationPercentage``, ``percentage``, ``statusCode``...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from harness.scenario.model import FaultSpec

__all__ = ["ACTIONS", "ActionContext", "ActionKind", "register", "validate_action"]


@dataclass
class ActionContext:
    """What an action needs at run time."""

    endpoints: dict[str, Any]
    seed: int
    run_started: float


@dataclass
class ActionKind:
    name: str
    description: str
    targets: type[BaseModel]
    parameters: type[BaseModel]
    start: Callable[[ActionContext, FaultSpec, BaseModel, BaseModel, float], Any]
    stop: Callable[[ActionContext, Any], None]


ACTIONS: dict[str, ActionKind] = {}


def register(kind: ActionKind) -> ActionKind:
    ACTIONS[kind.name] = kind
    return kind


def validate_action(spec: FaultSpec) -> tuple[BaseModel, BaseModel]:
    kind = ACTIONS.get(spec.action)
    if kind is None:
        known = ", ".join(sorted(ACTIONS))
        raise ValueError(f"unknown action '{spec.action}'; known actions: {known}")
    try:
        targets = kind.targets.model_validate(spec.targets)
        parameters = kind.parameters.model_validate(spec.parameters)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"action '{spec.action}': {where}: {first['msg']}") from None
    return targets, parameters


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- AWS API faults (through the edge) --------------------------------------------------------


class AwsTargets(_Model):
    service: str | None = None
    operation: str | None = None
    region: str | None = None
    tenant: dict[str, Any] | None = Field(
        None, description="partition_key_prefix | message_attribute | contains"
    )


class AwsErrorParameters(_Model):
    percentage: float | None = Field(None, gt=0, le=100, description="FIS: share of calls, 1-100")
    probability: float | None = Field(None, gt=0, le=1)
    statusCode: int = Field(503, ge=400, le=599)
    code: str = "ServiceUnavailable"
    message: str | None = None

    @model_validator(mode="after")
    def _one(self) -> AwsErrorParameters:
        if self.percentage is not None and self.probability is not None:
            raise ValueError("give 'percentage' or 'probability', not both")
        return self

    @property
    def chance(self) -> float:
        if self.percentage is not None:
            return self.percentage / 100
        return self.probability if self.probability is not None else 1.0


class AwsLatencyParameters(_Model):
    percentage: float | None = Field(None, gt=0, le=100)
    probability: float | None = Field(None, gt=0, le=1)
    latency: dict[str, Any] | float | str = Field(description="ms, '800ms', or a LatencySpec")

    @property
    def chance(self) -> float:
        if self.percentage is not None:
            return self.percentage / 100
        return self.probability if self.probability is not None else 1.0


class AwsPlainParameters(_Model):
    percentage: float | None = Field(None, gt=0, le=100)
    probability: float | None = Field(None, gt=0, le=1)

    @property
    def chance(self) -> float:
        if self.percentage is not None:
            return self.percentage / 100
        return self.probability if self.probability is not None else 1.0


def _aws_rule(
    spec: FaultSpec,
    targets: AwsTargets,
    extra: dict[str, Any],
    chance: float,
    ctx: ActionContext,
    start_at: float,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "service": targets.service,
        "operation": targets.operation,
        "region": targets.region,
        "tenant": targets.tenant,
        "probability": chance,
        "start_at": start_at,
        "duration_s": spec.duration,
        "seed": ctx.seed,
        "description": spec.label,
        **extra,
    }
    return {k: v for k, v in rule.items() if v is not None}


def _aws_start(
    effect: str,
) -> Callable[[ActionContext, FaultSpec, BaseModel, BaseModel, float], Any]:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
        from harness.chaos.client import FaultClient
        from harness.scenario.model import parse_duration

        assert isinstance(targets, AwsTargets)
        extra: dict[str, Any]
        if effect == "error":
            assert isinstance(params, AwsErrorParameters)
            extra = {
                "error": {
                    "statusCode": params.statusCode,
                    "code": params.code,
                    "message": params.message,
                }
            }
            extra["error"] = {k: v for k, v in extra["error"].items() if v is not None}
        elif effect == "latency":
            assert isinstance(params, AwsLatencyParameters)
            latency = params.latency
            extra = {
                "latency": latency
                if isinstance(latency, dict)
                else {
                    "ms": parse_duration(latency) * 1000
                    if isinstance(latency, str)
                    else float(latency)
                }
            }
        else:
            extra = {effect: True}
        chance = getattr(params, "chance", 1.0)
        rule = _aws_rule(spec, targets, extra, chance, ctx, start_at)
        added = FaultClient(ctx.endpoints).add([rule])
        return added[-1]["id"]

    return start


def _aws_stop(ctx: ActionContext, rule_id: Any) -> None:
    from harness.chaos.client import FaultClient

    FaultClient(ctx.endpoints).clear([str(rule_id)])


register(
    ActionKind(
        "aws:api-error",
        "AWS calls answer an error (in the service's own protocol)",
        AwsTargets,
        AwsErrorParameters,
        _aws_start("error"),
        _aws_stop,
    )
)
register(
    ActionKind(
        "aws:latency",
        "AWS calls are delayed",
        AwsTargets,
        AwsLatencyParameters,
        _aws_start("latency"),
        _aws_stop,
    )
)
register(
    ActionKind(
        "aws:blackhole",
        "AWS calls are never answered (the dependency hangs)",
        AwsTargets,
        AwsPlainParameters,
        _aws_start("blackhole"),
        _aws_stop,
    )
)
register(
    ActionKind(
        "aws:connection-reset",
        "AWS calls have their connection reset",
        AwsTargets,
        AwsPlainParameters,
        _aws_start("reset"),
        _aws_stop,
    )
)


# -- Redis (the cache cluster) -----------------------------------------------------------------


class NoTargets(_Model):
    pass


class RedisParameters(_Model):
    latency_ms: float = Field(0, ge=0)


def _redis_start(
    mode: str,
) -> Callable[[ActionContext, FaultSpec, BaseModel, BaseModel, float], Any]:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
        from harness.chaos.client import FaultClient

        assert isinstance(params, RedisParameters)
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        FaultClient(ctx.endpoints).redis(
            mode,
            latency_ms=params.latency_ms,
            duration_s=None if mode == "reboot" else spec.duration,
        )
        return mode

    return start


def _redis_stop(ctx: ActionContext, mode: Any) -> None:
    from harness.chaos.client import FaultClient

    if mode != "reboot":
        FaultClient(ctx.endpoints).redis("ok")


for _mode, _text in (
    ("down", "Redis refuses connections (cache cluster failure)"),
    ("hang", "Redis accepts and never answers"),
    ("latency", "Redis answers late (parameters.latency_ms)"),
    ("reset", "Redis connections are reset"),
    ("reboot", "Redis reboots and loses its data (ElastiCache reboot)"),
):
    register(
        ActionKind(
            f"redis:{_mode}", _text, NoTargets, RedisParameters, _redis_start(_mode), _redis_stop
        )
    )


class ClearParameters(_Model):
    pass


def _clear_start(
    ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
) -> Any:
    from harness.chaos.client import FaultClient

    client = FaultClient(ctx.endpoints)
    client.clear()
    client.redis("ok")
    return None


register(
    ActionKind(
        "faults:clear",
        "remove every AWS fault rule and put Redis back to ok (a rollback)",
        NoTargets,
        ClearParameters,
        _clear_start,
        lambda ctx, handle: None,
    )
)
