"""Lambda faults, decided per invocation inside the runtime, reproducibly, and recorded.

Vocabulary: AWS FIS's Lambda actions (``invocationPercentage``, ``startupDelayMilliseconds``,
``preventExecution``, ``statusCode``, ``contentTypeHeader``) and failure-lambda's modes:

``latency``     the invocation starts late: ``startupDelayMilliseconds`` (fixed) or
                ``min_latency``/``max_latency`` (ms, uniform, as failure-lambda)
``timeout``     the handler never returns: the invocation hits the function's ``Timeout`` and the
                environment is destroyed (``Sandbox.Timedout``), as on Lambda
``exception``   the handler raises ``exception_msg`` (before running when ``preventExecution``)
``error``       FIS ``invocation-error``: the invocation fails (``preventExecution`` skips the code)
``statuscode``  a proxy response with ``statusCode`` (FIS ``http-integration-response``)
``denylist``    connections to hosts matching ``deny_list`` (regexes on ``host`` and
                ``host:port``) fail as a DNS failure does (``socket.gaierror``)
``diskspace``   ``/tmp`` is full: writes under ``/tmp`` (and ``TMPDIR``) fail with ``ENOSPC``
``throttle``    reserved concurrency 0: every invocation gets ``TooManyRequestsException``

A rule targets ``functions`` (names or logical ids; empty = all) of one ``stack`` (or all
stacks), has a window (``start_at``/``duration_s``) and a ``seed``. Each rule draws from its own
``random.Random`` seeded from (seed, rule position, mode, targets), so the n-th invocation that
matches a rule gets the same decision in every run with that seed.

``diskspace`` is simulated inside the execution environment (open/os.open refuse writes) rather
than by writing ``disk_space`` MB: every environment here shares the host's ``/tmp``, and
filling it would fill it for the whole machine.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.chaos.rules import validate_each

__all__ = [
    "LAMBDA_MODES",
    "LambdaFault",
    "LambdaFaultEngine",
    "LambdaInjection",
    "parse_lambda_faults",
]

LambdaMode = Literal[
    "latency", "timeout", "exception", "error", "statuscode", "denylist", "diskspace", "throttle"
]
LAMBDA_MODES: tuple[str, ...] = (
    "latency",
    "timeout",
    "exception",
    "error",
    "statuscode",
    "denylist",
    "diskspace",
    "throttle",
)


class LambdaFault(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    mode: LambdaMode
    functions: list[str] = Field(default_factory=list, description="names or logical ids")
    stack: str | None = None
    invocationPercentage: float = Field(100.0, gt=0, le=100)
    startupDelayMilliseconds: float | None = Field(None, ge=0)
    min_latency: float | None = Field(None, ge=0, description="ms (failure-lambda)")
    max_latency: float | None = Field(None, ge=0, description="ms (failure-lambda)")
    preventExecution: bool = True
    statusCode: int = Field(500, ge=100, le=599)
    contentTypeHeader: str = "application/json"
    exception_msg: str = "Exception message!"
    deny_list: list[str] = Field(default_factory=list)
    disk_space: int = Field(512, ge=1, description="MB of /tmp taken (reported)")
    start_at: float | None = None
    duration_s: float | None = Field(None, gt=0)
    max_injections: int | None = Field(None, ge=1)
    seed: int | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> LambdaFault:
        if self.mode == "latency":
            if self.startupDelayMilliseconds is None and self.max_latency is None:
                raise ValueError(
                    "latency needs 'startupDelayMilliseconds' or 'min_latency'/'max_latency'"
                )
            if (
                self.max_latency is not None
                and self.min_latency is not None
                and self.min_latency > self.max_latency
            ):
                raise ValueError("'min_latency' is above 'max_latency'")
        if self.mode == "denylist":
            if not self.deny_list:
                raise ValueError("denylist needs 'deny_list' (host regexes)")
            for pattern in self.deny_list:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"deny_list entry {pattern!r} is not a regex: {exc}") from None
        return self

    def active(self, now: float) -> bool:
        if self.start_at is not None and now < self.start_at:
            return False
        if self.duration_s is not None and self.start_at is not None:
            return now < self.start_at + self.duration_s
        return True

    def targets(self, name: str, logical_id: str, stack: str) -> bool:
        if self.stack is not None and self.stack != stack:
            return False
        return not self.functions or name in self.functions or logical_id in self.functions

    @property
    def effect(self) -> str:
        mode = self.mode
        if mode == "latency":
            if self.startupDelayMilliseconds is not None:
                return f"latency {self.startupDelayMilliseconds:g}ms"
            return f"latency {self.min_latency or 0:g}-{self.max_latency:g}ms"
        if mode == "statuscode":
            return f"statuscode {self.statusCode}"
        if mode in ("exception", "error"):
            return f"{mode}{' (handler not run)' if self.preventExecution else ''}"
        if mode == "denylist":
            return "denylist " + ",".join(self.deny_list)
        if mode == "diskspace":
            return f"diskspace /tmp full ({self.disk_space} MB)"
        return mode


def parse_lambda_faults(data: Any) -> list[LambdaFault]:
    """Rules from JSON-like data (one object or a list); ``ValueError`` naming the bad field."""
    return validate_each(LambdaFault, data if isinstance(data, list) else [data])


@dataclass(frozen=True)
class LambdaInjection:
    """One injected Lambda fault: when, by which rule, on which invocation, with what effect."""

    time: float
    rule_id: str
    function: str
    mode: str
    effect: str
    request_id: str = ""
    match_index: int = 0
    delay_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 6),
            "kind": "lambda",
            "rule_id": self.rule_id,
            "target": self.function,
            "function": self.function,
            "mode": self.mode,
            "effect": self.effect,
            "request_id": self.request_id,
            "match_index": self.match_index,
            "delay_ms": round(self.delay_ms, 3),
        }


@dataclass
class _Slot:
    rule: LambdaFault
    rng: random.Random
    matches: int = 0
    injected: int = 0


@dataclass
class LambdaFaultEngine:
    """The rules of one runtime and the log of what they did."""

    seed: int = 0
    slots: list[_Slot] = field(default_factory=list)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100_000))
    counts: Counter[str] = field(default_factory=Counter)
    _added: int = 0

    def add(self, rules: list[LambdaFault], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for rule in rules:
            if rule.start_at is None:
                rule.start_at = now
            base = rule.seed if rule.seed is not None else self.seed
            key = f"{base}:{self._added}:{rule.mode}:{rule.stack}:{','.join(rule.functions)}"
            self.slots.append(_Slot(rule=rule, rng=random.Random(key)))
            self._added += 1

    def remove(self, ids: list[str] | None = None) -> int:
        before = len(self.slots)
        if ids is None:
            self.slots = []
            self._added = 0
        else:
            wanted = set(ids)
            self.slots = [s for s in self.slots if s.rule.id not in wanted]
            if not self.slots:  # positions restart, so a run after a clear draws the same
                self._added = 0
        return before - len(self.slots)

    def rules(self) -> list[LambdaFault]:
        return [slot.rule for slot in self.slots]

    def status(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        return [
            {
                **slot.rule.model_dump(exclude_none=True),
                "active": slot.rule.active(now),
                "matches": slot.matches,
                "injected": slot.injected,
            }
            for slot in self.slots
        ]

    def record(self, entry: dict[str, Any]) -> None:
        """Record a fault that is not per invocation (recycle, capacity)."""
        self.log.append(entry)
        self.counts[f"{entry.get('kind', 'lambda')}:{entry.get('effect', '')}"] += 1

    def _note(self, slot: _Slot, function: str, request_id: str, delay_ms: float = 0.0) -> None:
        rule = slot.rule
        injection = LambdaInjection(
            time=time.time(),
            rule_id=rule.id,
            function=function,
            mode=rule.mode,
            effect=rule.effect,
            request_id=request_id,
            match_index=slot.matches,
            delay_ms=delay_ms,
        )
        self.log.append(injection.to_json())
        self.counts[f"{rule.id}:{rule.mode}"] += 1

    def _candidates(self, name: str, logical_id: str, stack: str, now: float) -> list[_Slot]:
        out = []
        for slot in self.slots:
            rule = slot.rule
            if not rule.active(now) or not rule.targets(name, logical_id, stack):
                continue
            if rule.max_injections is not None and slot.injected >= rule.max_injections:
                continue
            out.append(slot)
        return out

    def throttled(self, name: str, logical_id: str, stack: str, request_id: str = "") -> bool:
        """Whether an active ``throttle`` rule sets this function's concurrency to 0 now."""
        if not self.slots:
            return False
        for slot in self._candidates(name, logical_id, stack, time.time()):
            if slot.rule.mode != "throttle":
                continue
            slot.matches += 1
            slot.injected += 1
            self._note(slot, name, request_id)
            return True
        return False

    def decide(
        self, name: str, logical_id: str, stack: str, request_id: str = ""
    ) -> dict[str, Any] | None:
        """The fault directive for one invocation (sent to the worker), or None.

        The first active matching rule that wins its ``invocationPercentage`` draw applies.
        """
        if not self.slots:
            return None
        for slot in self._candidates(name, logical_id, stack, time.time()):
            rule = slot.rule
            if rule.mode == "throttle":
                continue
            slot.matches += 1
            if rule.invocationPercentage < 100 and (
                slot.rng.random() * 100 >= rule.invocationPercentage
            ):
                continue
            slot.injected += 1
            directive = _directive(rule, slot.rng)
            self._note(slot, name, request_id, float(directive.get("delay_ms", 0.0)))
            return directive
        return None


def _directive(rule: LambdaFault, rng: random.Random) -> dict[str, Any]:
    """What the execution environment does for this invocation (see bootstrap.py)."""
    mode = rule.mode
    if mode == "latency":
        if rule.startupDelayMilliseconds is not None:
            delay = rule.startupDelayMilliseconds
        else:
            low = rule.min_latency or 0.0
            delay = rng.uniform(low, rule.max_latency if rule.max_latency is not None else low)
        return {"mode": mode, "delay_ms": round(delay, 3)}
    if mode == "timeout":
        return {"mode": mode}
    if mode in ("exception", "error"):
        message = (
            rule.exception_msg
            if mode == "exception"
            else "Injected invocation error (aws:lambda:invocation-error)"
        )
        return {"mode": mode, "message": message, "prevent": rule.preventExecution}
    if mode == "statuscode":
        return {
            "mode": mode,
            "status": rule.statusCode,
            "content_type": rule.contentTypeHeader,
            "prevent": rule.preventExecution,
        }
    if mode == "denylist":
        return {"mode": mode, "deny": list(rule.deny_list)}
    if mode == "diskspace":
        return {"mode": mode, "mb": rule.disk_space}
    raise ValueError(f"mode {mode} has no per-invocation directive")
