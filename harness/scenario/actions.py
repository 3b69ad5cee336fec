"""Fault actions a scenario can put on its timeline: a named registry.

Each action validates its ``targets``/``parameters`` up front (so a typo fails before the run)
and knows how to start and stop itself against a running environment. Names follow AWS FIS where
FIS has the action (``aws:lambda:invocation-error`` -> ``lambda:invocation-error``) and keep its
parameter names (``invocationPercentage``, ``percentage``, ``statusCode``...).

Kinds: ``aws:*`` (edge rules), ``redis:*`` (the Redis proxy), ``lambda:*`` (FIS Lambda actions,
failure-lambda modes, throttle, cold-start storm), ``az:failure``, ``dns:failure`` and
``thirdparty:*`` (a stack's fake provider server); ``faults:clear`` removes them all.

Three rules every action keeps:

- one fault API: starting and stopping goes through :class:`harness.chaos.Faults` (``add``,
  ``remove`` by id, ``clear`` by kind), never a component's client or URL directly;
- one timing rule: an action hands its window to ``Faults.add`` as ``start_at`` (epoch s) and
  ``duration_s``; the component holds the fault until then where it can (the edge and the
  runtime's rules), ``Faults`` waits for the others;
- one validation: :func:`validate_action` (the models in :mod:`~harness.scenario.action_params`
  and the action's cross-field ``check``) runs once, when the scenario is read
  (``FaultSpec.inputs`` keeps the result for the start, the stop and the rollbacks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError
from harness.scenario.action_params import (
    AddDelayParameters,
    AwsErrorParameters,
    AwsLatencyParameters,
    AwsPlainParameters,
    AwsTargets,
    AzParameters,
    ClearParameters,
    DenylistParameters,
    DiskspaceParameters,
    DnsParameters,
    ExceptionParameters,
    HttpResponseParameters,
    InvocationErrorParameters,
    LambdaTargets,
    LatencyParameters,
    NoParameters,
    NoTargets,
    PercentParameters,
    RedisParameters,
    StatusCodeParameters,
    ThirdPartyErrorParameters,
    ThirdPartyLatencyParameters,
    ThirdPartyRateLimitParameters,
    ThirdPartyTargets,
    TokenRevocationParameters,
)
from harness.yamlpos import validation_problems

if TYPE_CHECKING:
    from harness.chaos.faults import Faults
    from harness.scenario.model import FaultSpec

__all__ = ["ACTIONS", "ActionContext", "ActionKind", "register", "validate_action"]


@dataclass
class ActionContext:
    """What an action needs at run time."""

    endpoints: dict[str, Any]
    seed: int
    run_started: float
    state_dir: Path | None = None  # default: Settings' state folder (for fake servers, journal)


# start(context, spec, targets, parameters, start_at) -> a handle for stop(context, handle)
Start = Callable[[ActionContext, "FaultSpec", BaseModel, BaseModel, float], Any]


@dataclass
class ActionKind:
    name: str
    description: str
    targets: type[BaseModel]
    parameters: type[BaseModel]
    start: Start
    stop: Callable[[ActionContext, Any], None]
    check: Callable[[BaseModel, BaseModel], None] | None = None  # cross-field validation


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
        if kind.check is not None:
            kind.check(targets, parameters)
    except ValidationError as exc:
        first = validation_problems(exc)[0]
        where = f"{first.field}: " if first.loc else ""
        raise ValueError(f"action '{spec.action}': {where}{first.message}") from None
    return targets, parameters


def _faults(ctx: ActionContext) -> Faults:
    """The one fault API every action goes through."""
    from harness.chaos.faults import Faults

    return Faults(ctx.endpoints, state_dir=ctx.state_dir)


# -- AWS API faults (through the edge) --------------------------------------------------------


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


def _aws_start(effect: str) -> Start:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
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
        assert isinstance(params, AwsPlainParameters)
        if params.attempts:
            extra["attempts"] = params.attempts
        rule = _aws_rule(spec, targets, extra, params.chance, ctx, start_at)
        return _faults(ctx).add("aws", rule)["id"]

    return start


def _aws_stop(ctx: ActionContext, rule_id: Any) -> None:
    _faults(ctx).remove("aws", [str(rule_id)])


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


def _redis_start(mode: str) -> Start:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
        assert isinstance(params, RedisParameters)
        redis = {
            "mode": mode,
            "latency_ms": params.latency_ms,
            "duration_s": None if mode == "reboot" else spec.duration,
            "start_at": start_at,
        }
        _faults(ctx).add("redis", redis)
        return mode

    return start


def _redis_stop(ctx: ActionContext, mode: Any) -> None:
    if mode != "reboot":
        _faults(ctx).clear("redis")


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


def _clear_start(
    ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
) -> Any:
    _faults(ctx).clear()
    return None


register(
    ActionKind(
        "faults:clear",
        "remove every fault of every kind and put Redis back to ok (a rollback)",
        NoTargets,
        ClearParameters,
        _clear_start,
        lambda ctx, handle: None,
    )
)


# -- Lambda (in the runtime) ------------------------------------------------------------------


def _lambda_rule(
    mode: str, targets: LambdaTargets, params: BaseModel, spec: FaultSpec, seed: int
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "mode": mode,
        "functions": targets.functions,
        "seed": seed,
        "description": spec.label,
        **params.model_dump(exclude_none=True),
    }
    if targets.stack is not None:
        rule["stack"] = targets.stack
    return rule


def _check_lambda(mode: str) -> Callable[[BaseModel, BaseModel], None]:
    def check(targets: BaseModel, params: BaseModel) -> None:
        from harness.chaos.lambda_faults import LambdaFault

        assert isinstance(targets, LambdaTargets)
        LambdaFault.model_validate(
            {"mode": mode, "functions": targets.functions, **params.model_dump(exclude_none=True)}
        )

    return check


def _lambda_start(mode: str) -> Start:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
        assert isinstance(targets, LambdaTargets)
        rule = _lambda_rule(mode, targets, params, spec, ctx.seed)
        rule.update({"start_at": start_at, "duration_s": spec.duration})
        return _faults(ctx).add("lambda", {k: v for k, v in rule.items() if v is not None})["id"]

    return start


def _lambda_stop(ctx: ActionContext, rule_id: Any) -> None:
    if rule_id:
        _faults(ctx).remove("lambda", [str(rule_id)])


_LAMBDA_ACTIONS: list[tuple[str, str, str, type[BaseModel]]] = [
    ("lambda:invocation-add-delay", "latency",
     "FIS aws:lambda:invocation-add-delay: invocations start startupDelayMilliseconds late",
     AddDelayParameters),
    ("lambda:invocation-error", "error",
     "FIS aws:lambda:invocation-error: invocations fail (preventExecution: the code does not run)",
     InvocationErrorParameters),
    ("lambda:invocation-http-integration-response", "statuscode",
     "FIS aws:lambda:invocation-http-integration-response: a proxy response with statusCode",
     HttpResponseParameters),
    ("lambda:latency", "latency",
     "failure-lambda latency: startupDelayMilliseconds, or min_latency..max_latency ms",
     LatencyParameters),
    ("lambda:timeout", "timeout",
     "failure-lambda timeout: the handler runs into the function's Timeout",
     PercentParameters),
    ("lambda:exception", "exception",
     "failure-lambda exception: the handler raises exception_msg", ExceptionParameters),
    ("lambda:statuscode", "statuscode",
     "failure-lambda statuscode: a proxy response with statusCode", StatusCodeParameters),
    ("lambda:denylist", "denylist",
     "failure-lambda denylist: hosts matching deny_list no longer resolve", DenylistParameters),
    ("lambda:diskspace", "diskspace",
     "failure-lambda diskspace: /tmp is full (writes fail with ENOSPC)", DiskspaceParameters),
    ("lambda:throttle", "throttle",
     "reserved concurrency 0: TooManyRequestsException (429); async/SQS sources retry",
     NoParameters),
]  # fmt: skip

for _name, _lmode, _text, _params in _LAMBDA_ACTIONS:
    register(
        ActionKind(
            _name,
            _text,
            LambdaTargets,
            _params,
            _lambda_start(_lmode),
            _lambda_stop,
            _check_lambda(_lmode),
        )
    )


def _cold_start(
    ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
) -> Any:
    assert isinstance(targets, LambdaTargets)
    return _faults(ctx).add(
        "cold-start",
        {"functions": targets.functions, "stack": targets.stack, "description": spec.label,
         "start_at": start_at},
    )  # fmt: skip


register(
    ActionKind(
        "lambda:cold-start",
        "cold-start storm: every warm environment of the functions is recycled at the start",
        LambdaTargets,
        NoParameters,
        _cold_start,
        lambda ctx, handle: None,
    )
)


# -- AZ and DNS failure ----------------------------------------------------------------------------


def _az_start(
    ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
) -> Any:
    assert isinstance(params, AzParameters)
    if not spec.duration:
        raise ConfigError(
            "az:failure needs a duration (or a phase end).",
            source=spec.label,
            field="duration",
            fix="give the fault a duration, e.g. duration: 30s.",
        )
    return _faults(ctx).add(
        "az",
        {"duration_s": spec.duration, "seed": ctx.seed, "share": params.share,
         "description": spec.label, "start_at": start_at},
    )  # fmt: skip


def _az_stop(ctx: ActionContext, handle: Any) -> None:
    _faults(ctx).clear("az")


register(
    ActionKind(
        "az:failure",
        "lose half the Lambda environments and gateway processes; capacity returns at the end",
        NoTargets,
        AzParameters,
        _az_start,
        _az_stop,
    )
)


def _dns_start(
    ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
) -> Any:
    assert isinstance(targets, LambdaTargets) and isinstance(params, DnsParameters)
    dns: dict[str, Any] = {
        "functions": targets.functions,
        "hosts": params.hosts,
        "endpoints": params.endpoints,
        "invocationPercentage": params.invocationPercentage,
        "start_at": start_at,
        "seed": ctx.seed,
        "description": spec.label,
    }
    if spec.duration:
        dns["duration_s"] = spec.duration
    if targets.stack is not None:
        dns["stack"] = targets.stack
    return _faults(ctx).add("dns", dns)["id"]


register(
    ActionKind(
        "dns:failure",
        "endpoints stop resolving for the functions (all of a stack, or the ones named)",
        LambdaTargets,
        DnsParameters,
        _dns_start,
        _lambda_stop,
    )
)


# -- third parties (a stack's fake provider server) -----------------------------------------------


def _thirdparty_start(mode: str) -> Start:
    def start(
        ctx: ActionContext, spec: FaultSpec, targets: BaseModel, params: BaseModel, start_at: float
    ) -> Any:
        assert isinstance(targets, ThirdPartyTargets)
        fault = {"mode": mode, **targets.model_dump(exclude_none=True)}
        fault.update(params.model_dump(exclude_none=True), start_at=start_at)
        return _faults(ctx).add("thirdparty", fault)

    return start


def _thirdparty_stop(ctx: ActionContext, handle: Any) -> None:
    _faults(ctx).clear("thirdparty")


def _check_thirdparty(mode: str) -> Callable[[BaseModel, BaseModel], None]:
    def check(targets: BaseModel, params: BaseModel) -> None:
        from harness.chaos.thirdparty import ThirdPartyFault

        ThirdPartyFault.model_validate(
            {"mode": mode, **targets.model_dump(exclude_none=True),
             **params.model_dump(exclude_none=True)}
        )  # fmt: skip

    return check


_THIRDPARTY_ACTIONS: list[tuple[str, str, str, type[BaseModel]]] = [
    ("thirdparty:latency", "latency", "the provider answers latency_ms late",
     ThirdPartyLatencyParameters),
    ("thirdparty:rate-limit", "rate-limit", "the provider answers 429 with Retry-After",
     ThirdPartyRateLimitParameters),
    ("thirdparty:error", "error", "the provider answers 5xx", ThirdPartyErrorParameters),
    ("thirdparty:token-revocation", "token-revocation",
     "the provider's tokens are revoked (401; refresh refused)", TokenRevocationParameters),
]  # fmt: skip

for _name, _tmode, _text, _params in _THIRDPARTY_ACTIONS:
    register(
        ActionKind(
            _name,
            _text,
            ThirdPartyTargets,
            _params,
            _thirdparty_start(_tmode),
            _thirdparty_stop,
            _check_thirdparty(_tmode),
        )
    )


# DR drills (dr:corrupt, dr:restore) register themselves with the actions above
from harness.scenario import drills as _drills  # noqa: E402, F401
