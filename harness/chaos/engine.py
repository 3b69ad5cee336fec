"""The AWS fault engine: which call gets which fault, decided reproducibly, and recorded.

Rules are evaluated in order and the first active rule that matches the call (and wins its
probability draw) applies, as in LocalStack's chaos API. Each rule draws from its own
``random.Random`` seeded from the rule's ``seed`` (or the engine's), so the n-th call that matches
a rule gets the same decision in every run with that seed, whatever else runs concurrently.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.aws_errors import render_error
from harness.chaos.rules import FaultRule
from harness.edge.proxy import FaultDecision
from harness.edge.routing import RequestInfo

__all__ = ["FaultEngine", "InjectedFault", "sdk_attempt"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InjectedFault:
    """One fault that was injected: when, by which rule, on which call, with what effect."""

    time: float
    rule_id: str
    service: str
    operation: str
    region: str
    effect: str
    delay_ms: float = 0.0
    match_index: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 6),
            "rule_id": self.rule_id,
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "effect": self.effect,
            "delay_ms": round(self.delay_ms, 3),
            "match_index": self.match_index,
        }


@dataclass
class _Slot:
    rule: FaultRule
    rng: random.Random
    matches: int = 0
    injected: int = 0


@dataclass
class FaultEngine:
    seed: int = 0
    slots: list[_Slot] = field(default_factory=list)
    log: deque[InjectedFault] = field(default_factory=lambda: deque(maxlen=100_000))
    counts: Counter[str] = field(default_factory=Counter)

    # -- rule management (LocalStack verbs: POST replaces, PATCH adds, DELETE removes) ----

    def rules(self) -> list[FaultRule]:
        return [slot.rule for slot in self.slots]

    def replace(self, rules: list[FaultRule]) -> None:
        self.slots = []
        self.add(rules)

    def add(self, rules: list[FaultRule]) -> None:
        now = time.time()
        for rule in rules:
            if rule.start_at is None:
                rule.start_at = now
            base = rule.seed if rule.seed is not None else self.seed
            # Each rule gets its own stream: same seed + same rule position -> same draws.
            rng = random.Random(f"{base}:{len(self.slots)}:{rule.service}:{rule.operation}")
            self.slots.append(_Slot(rule=rule, rng=rng))

    def remove(self, ids: list[str] | None = None) -> int:
        """Remove rules by id (all when ``ids`` is None); returns how many were removed."""
        before = len(self.slots)
        if ids is None:
            self.slots = []
        else:
            self.slots = [s for s in self.slots if s.rule.id not in set(ids)]
        return before - len(self.slots)

    def status(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {
                **slot.rule.model_dump(exclude_none=True),
                "active": slot.rule.active(now),
                "matches": slot.matches,
                "injected": slot.injected,
            }
            for slot in self.slots
        ]

    # -- the hot path --------------------------------------------------------------------

    async def __call__(
        self, info: RequestInfo, headers: dict[str, str], body: bytes
    ) -> FaultDecision | None:
        return self.decide(info, headers, body)

    def decide(
        self, info: RequestInfo, headers: dict[str, str], body: bytes
    ) -> FaultDecision | None:
        if not self.slots:
            return None
        now = time.time()
        for slot in self.slots:
            rule = slot.rule
            if rule.service and rule.service != info.service:
                continue
            if rule.region and rule.region != info.region:
                continue
            if rule.operation and rule.operation != info.operation:
                continue
            if not rule.active(now):
                continue
            if rule.max_injections is not None and slot.injected >= rule.max_injections:
                continue
            if rule.tenant is not None and not _tenant_matches(rule, body):
                continue
            if rule.attempts is not None and sdk_attempt(headers) not in rule.attempts:
                continue
            slot.matches += 1
            if rule.probability < 1.0 and slot.rng.random() >= rule.probability:
                continue
            slot.injected += 1
            delay = rule.latency.draw(slot.rng) if rule.latency else 0.0
            decision = FaultDecision(delay=delay, blackhole=rule.blackhole, reset=rule.reset)
            if rule.error is not None:
                decision.response = render_error(
                    info.service,
                    rule.error.statusCode,
                    rule.error.code,
                    rule.error.message,
                    request_content_type=headers.get("content-type", ""),
                )
            record = InjectedFault(
                time=now,
                rule_id=rule.id,
                service=info.service,
                operation=info.operation,
                region=info.region,
                effect=rule.effect,
                delay_ms=delay * 1000,
                match_index=slot.matches,
            )
            self.log.append(record)
            self.counts[f"{rule.id}:{rule.effect}"] += 1
            return decision
        return None


def sdk_attempt(headers: dict[str, str]) -> int:
    """Which attempt of a call this is, from the AWS SDKs' ``amz-sdk-request: attempt=N; max=M``
    header (botocore, the JavaScript and Java SDKs send it); 1 without it."""
    value = headers.get("amz-sdk-request", "")
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name == "attempt" and number.isdigit():
            return int(number)
    return 1


def _tenant_matches(rule: FaultRule, body: bytes) -> bool:
    selector = rule.tenant
    assert selector is not None
    if selector.contains is not None:
        return selector.contains.encode() in body
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    if selector.partition_key_prefix is not None:
        prefix = selector.partition_key_prefix
        return any(v.startswith(prefix) for v in _key_strings(data))
    if selector.message_attribute is not None:
        name, value = selector.message_attribute["name"], selector.message_attribute["value"]
        return value in _message_attribute_values(data, name, body)
    return False


def _key_strings(data: Any) -> list[str]:
    """String values of DynamoDB keys/items/condition values in a request body."""
    found: list[str] = []
    if not isinstance(data, dict):
        return found
    for field_name in ("Key", "Item", "ExclusiveStartKey"):
        _collect_attr_strings(data.get(field_name), found)
    _collect_attr_strings(data.get("ExpressionAttributeValues"), found)
    for requests in (data.get("RequestItems") or {}).values():
        if isinstance(requests, list):  # BatchWriteItem
            for request in requests:
                for op in ("PutRequest", "DeleteRequest"):
                    inner = request.get(op) or {}
                    _collect_attr_strings(inner.get("Item") or inner.get("Key"), found)
        elif isinstance(requests, dict):  # BatchGetItem
            for key in requests.get("Keys", []):
                _collect_attr_strings(key, found)
    for item in data.get("TransactItems", []) or []:
        for op in item.values():
            if isinstance(op, dict):
                _collect_attr_strings(op.get("Key") or op.get("Item"), found)
    return found


def _collect_attr_strings(attrs: Any, found: list[str]) -> None:
    if isinstance(attrs, dict):
        for value in attrs.values():
            if isinstance(value, dict) and isinstance(value.get("S"), str):
                found.append(value["S"])


def _message_attribute_values(data: Any, name: str, raw: bytes) -> list[str]:
    values: list[str] = []
    if isinstance(data, dict):
        entries = [data, *(data.get("Entries") or [])]
        for entry in entries:
            attr = (entry.get("MessageAttributes") or {}).get(name)
            if isinstance(attr, dict) and "StringValue" in attr:
                values.append(str(attr["StringValue"]))
    if (
        not values and raw
    ):  # query protocol: MessageAttribute.N.Name=...&MessageAttribute.N.Value.StringValue=...
        from urllib.parse import parse_qs

        params = parse_qs(raw.decode("utf-8", errors="replace"))
        for key, vals in params.items():
            if key.endswith(".Name") and vals and vals[0] == name:
                prefix = key[: -len(".Name")]
                values += params.get(f"{prefix}.Value.StringValue", [])
    return values
