"""Fault rules for AWS calls, in LocalStack's chaos rule shape plus what LocalStack lacks.

LocalStack's fields keep their names and meaning (``service``, ``region``, ``operation``,
``probability``, ``error: {statusCode, code}``; ``[{}]`` faults every call with a 503
``ServiceUnavailable``). On top: ``latency`` (fixed or a distribution), ``blackhole`` (never
answer), ``reset`` (close the connection), a ``tenant`` selector, an ``attempts`` selector (which SDK
attempts of a call: ``[1]`` lets retries through), a time window
(``start_at``/``duration_s``), ``max_injections`` and a ``seed``, so the same seed gives the same
decisions for the n-th matching call.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.yamlpos import describe_validation

__all__ = [
    "ErrorSpec",
    "FaultRule",
    "LatencySpec",
    "TenantSelector",
    "parse_rules",
    "validate_each",
]

M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorSpec(_Model):
    """The AWS error to answer with (rendered in the service's own wire protocol)."""

    statusCode: int = Field(503, ge=400, le=599)
    code: str = "ServiceUnavailable"
    message: str | None = None


class LatencySpec(_Model):
    """Delay before the call is forwarded (or answered with the rule's error)."""

    distribution: Literal["fixed", "uniform", "normal", "exponential"] = "fixed"
    ms: float | None = Field(None, ge=0, description="fixed delay")
    min_ms: float = Field(0, ge=0)
    max_ms: float | None = Field(None, ge=0)
    mean_ms: float | None = Field(None, ge=0)
    stddev_ms: float = Field(0, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> LatencySpec:
        if self.distribution == "fixed" and self.ms is None:
            raise ValueError("a fixed latency needs 'ms'")
        if self.distribution == "uniform" and self.max_ms is None:
            raise ValueError("a uniform latency needs 'max_ms' (and optionally 'min_ms')")
        if self.distribution in ("normal", "exponential") and self.mean_ms is None:
            raise ValueError(f"a {self.distribution} latency needs 'mean_ms'")
        return self

    def draw(self, rng: random.Random) -> float:
        """A delay in seconds."""
        if self.distribution == "fixed":
            ms = self.ms or 0.0
        elif self.distribution == "uniform":
            ms = rng.uniform(self.min_ms, self.max_ms or self.min_ms)
        elif self.distribution == "normal":
            ms = rng.gauss(self.mean_ms or 0.0, self.stddev_ms)
        else:
            ms = rng.expovariate(1.0 / max(self.mean_ms or 1.0, 1e-6))
        if self.max_ms is not None:
            ms = min(ms, self.max_ms)
        return max(ms, self.min_ms, 0.0) / 1000.0


class TenantSelector(_Model):
    """Hit only calls made for one tenant, where the tenant can be read from the request."""

    partition_key_prefix: str | None = None  # a DynamoDB key/item string value starts with it
    message_attribute: dict[str, str] | None = None  # {"name": ..., "value": ...} on SQS/SNS sends
    contains: str | None = None  # the raw request body contains this text

    @model_validator(mode="after")
    def _one(self) -> TenantSelector:
        if not (self.partition_key_prefix or self.message_attribute or self.contains):
            raise ValueError("give partition_key_prefix, message_attribute or contains")
        if self.message_attribute is not None and set(self.message_attribute) != {"name", "value"}:
            raise ValueError("message_attribute needs exactly 'name' and 'value'")
        return self


class FaultRule(_Model):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    service: str | None = None
    region: str | None = None
    operation: str | None = None
    probability: float = Field(1.0, ge=0.0, le=1.0)
    error: ErrorSpec | None = None
    latency: LatencySpec | None = None
    blackhole: bool = False
    reset: bool = False
    tenant: TenantSelector | None = None
    # only these SDK attempts of a call (the AWS SDKs' ``amz-sdk-request: attempt=N`` header; a
    # call without it is attempt 1): ``[1]`` hits first attempts and lets every retry through
    attempts: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)
    start_at: float | None = Field(None, description="epoch seconds; default: now")
    duration_s: float | None = Field(None, gt=0)
    max_injections: int | None = Field(None, ge=1)
    seed: int | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _effect(self) -> FaultRule:
        effects = sum(bool(x) for x in (self.blackhole, self.reset))
        if effects > 1:
            raise ValueError("a rule can blackhole or reset, not both")
        if (self.blackhole or self.reset) and self.error is not None:
            raise ValueError("'error' cannot be combined with 'blackhole' or 'reset'")
        if not (self.error or self.latency or self.blackhole or self.reset):
            # LocalStack's default: a rule with no effect answers 503 ServiceUnavailable.
            self.error = ErrorSpec()
        return self

    def active(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.start_at is not None and now < self.start_at:
            return False
        if self.duration_s is not None:
            begin = self.start_at if self.start_at is not None else now
            return now < begin + self.duration_s
        return True

    @property
    def effect(self) -> str:
        if self.blackhole:
            return "blackhole"
        if self.reset:
            return "reset"
        if self.error is not None:
            label = f"error {self.error.statusCode} {self.error.code}"
            return f"latency+{label}" if self.latency else label
        return "latency"


def parse_rules(body: bytes | str | list[Any] | dict[str, Any]) -> list[FaultRule]:
    """Rules from JSON (one object or a list). Raises ``ValueError`` naming the bad field."""
    data: Any = json.loads(body or b"[]") if isinstance(body, bytes | str) else body
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("expected a JSON list of fault rules (or one rule object)")
    return validate_each(FaultRule, data)


def validate_each(model: type[M], items: list[Any]) -> list[M]:
    """Each item as a ``model`` (the AWS and the Lambda fault rules alike); ``ValueError``
    naming the item's index and the bad field (``[2].error.statusCode: ...``)."""
    rules = []
    for index, item in enumerate(items):
        try:
            rules.append(model.model_validate(item))
        except ValidationError as exc:
            raise ValueError(describe_validation(exc, prefix=(index,))) from None
    return rules
