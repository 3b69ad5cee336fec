"""The ``targets`` and ``parameters`` of every scenario fault action, as pydantic models.

Unknown fields are refused (``extra="forbid"``), so a typo fails when the scenario is read.
Names follow AWS FIS where FIS has the action (``invocationPercentage``,
``startupDelayMilliseconds``, ``statusCode``), failure-lambda for its modes, LocalStack's chaos
rules for AWS faults (``probability``). :mod:`harness.scenario.actions` pairs each with its
start and stop.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AddDelayParameters",
    "AwsErrorParameters",
    "AwsLatencyParameters",
    "AwsPlainParameters",
    "AwsTargets",
    "AzParameters",
    "ClearParameters",
    "DenylistParameters",
    "DiskspaceParameters",
    "DnsParameters",
    "ExceptionParameters",
    "HttpResponseParameters",
    "InvocationErrorParameters",
    "InvocationPercent",
    "LambdaTargets",
    "LatencyParameters",
    "NoParameters",
    "NoTargets",
    "ParamsModel",
    "PercentParameters",
    "RedisParameters",
    "StatusCodeParameters",
    "ThirdPartyErrorParameters",
    "ThirdPartyLatencyParameters",
    "ThirdPartyRateLimitParameters",
    "ThirdPartyTargets",
    "TokenRevocationParameters",
]


class ParamsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AwsTargets(ParamsModel):
    service: str | None = None
    operation: str | None = None
    region: str | None = None
    tenant: dict[str, Any] | None = Field(
        None, description="partition_key_prefix | message_attribute | contains"
    )


class AwsPlainParameters(ParamsModel):
    """How many calls a rule hits: FIS's ``percentage`` (1-100) or LocalStack's ``probability``."""

    percentage: float | None = Field(None, gt=0, le=100, description="FIS: share of calls, 1-100")
    probability: float | None = Field(None, gt=0, le=1)
    attempts: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        min_length=1,
        description="only these SDK attempts of a call (1 = the first; retries are 2, 3...)",
    )

    @model_validator(mode="after")
    def _one(self) -> AwsPlainParameters:
        if self.percentage is not None and self.probability is not None:
            raise ValueError("give 'percentage' or 'probability', not both")
        return self

    @property
    def chance(self) -> float:
        if self.percentage is not None:
            return self.percentage / 100
        return self.probability if self.probability is not None else 1.0


class AwsErrorParameters(AwsPlainParameters):
    statusCode: int = Field(503, ge=400, le=599)
    code: str = "ServiceUnavailable"
    message: str | None = None


class AwsLatencyParameters(AwsPlainParameters):
    latency: dict[str, Any] | float | str = Field(description="ms, '800ms', or a LatencySpec")


class NoTargets(ParamsModel):
    pass


class RedisParameters(ParamsModel):
    latency_ms: float = Field(0, ge=0)


class ClearParameters(ParamsModel):
    pass


class LambdaTargets(ParamsModel):
    """FIS ``aws:lambda:function`` targets: functions by name or logical id, in one stack."""

    functions: list[str] = Field(default_factory=list, description="default: every function")
    stack: str | None = None


class InvocationPercent(ParamsModel):
    invocationPercentage: float = Field(100, gt=0, le=100)


class AddDelayParameters(InvocationPercent):
    startupDelayMilliseconds: float = Field(ge=0)


class InvocationErrorParameters(InvocationPercent):
    preventExecution: bool = True


class HttpResponseParameters(InvocationPercent):
    preventExecution: bool = True
    statusCode: int = Field(ge=100, le=599)
    contentTypeHeader: str = "application/json"


class LatencyParameters(InvocationPercent):
    startupDelayMilliseconds: float | None = Field(None, ge=0)
    min_latency: float | None = Field(None, ge=0)
    max_latency: float | None = Field(None, ge=0)


class PercentParameters(InvocationPercent):
    pass


class ExceptionParameters(InvocationPercent):
    exception_msg: str = "Exception message!"
    preventExecution: bool = True


class StatusCodeParameters(InvocationPercent):
    statusCode: int = Field(500, ge=100, le=599)
    preventExecution: bool = True


class DenylistParameters(InvocationPercent):
    deny_list: list[str] = Field(min_length=1, description="host regexes")


class DiskspaceParameters(InvocationPercent):
    disk_space: int = Field(512, ge=1)


class NoParameters(ParamsModel):
    pass


class AzParameters(ParamsModel):
    share: float = Field(0.5, gt=0, lt=1, description="share of capacity lost (0.5 = half)")


class DnsParameters(InvocationPercent):
    hosts: list[str] = Field(default_factory=list, description="host regexes (host or host:port)")
    endpoints: list[str] = Field(
        default_factory=list, description="aws, redis, a fake server's name, or a URL"
    )

    @model_validator(mode="after")
    def _some(self) -> DnsParameters:
        if not self.hosts and not self.endpoints:
            raise ValueError("give 'hosts' (regexes) or 'endpoints' (aws, redis, providers...)")
        return self


class ThirdPartyTargets(ParamsModel):
    server: str = Field("providers", description="the fake server's name in harness.yaml")
    stack: str | None = None
    provider: str = Field("*", description="e.g. strava; * = every provider")


class ThirdPartyLatencyParameters(ParamsModel):
    latency_ms: float = Field(1000, ge=0)
    probability: float = Field(1.0, gt=0, le=1)
    count: int | None = Field(None, ge=1)


class ThirdPartyRateLimitParameters(ParamsModel):
    retry_after: int = Field(1, ge=0, description="Retry-After seconds")
    probability: float = Field(1.0, gt=0, le=1)
    count: int | None = Field(None, ge=1)


class ThirdPartyErrorParameters(ParamsModel):
    status: int = Field(503, ge=500, le=599)
    probability: float = Field(1.0, gt=0, le=1)
    count: int | None = Field(None, ge=1)


class TokenRevocationParameters(ParamsModel):
    ownerId: str | None = Field(None, description="one account; default: every token")
