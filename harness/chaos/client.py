"""Python API for faults on a running environment (what ``harness fault`` and scenarios use)."""

from __future__ import annotations

from typing import Any

from harness.chaos.rules import FaultRule
from harness.env.jsonhttp import call_json
from harness.errors import HarnessError

__all__ = ["FaultClient"]


class FaultClient:
    """Add, list and clear AWS fault rules on the edge; set the Redis proxy's mode."""

    def __init__(self, endpoints: dict[str, Any], *, timeout: float = 10.0) -> None:
        self.edge = str(endpoints["aws_endpoint"]).rstrip("/")
        self.redis_control = endpoints.get("redis_control_url")
        self.timeout = timeout

    def _call(self, method: str, url: str, payload: Any = None) -> Any:
        return call_json(method, url, payload, timeout=self.timeout)

    @staticmethod
    def _dump(rules: list[FaultRule | dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for rule in rules:
            model = rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule)
            out.append(model.model_dump(exclude_none=True))
        return out

    def add(self, rules: list[FaultRule | dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "PATCH", f"{self.edge}/_harness/edge/faults", self._dump(rules)
        )
        return result

    def replace(self, rules: list[FaultRule | dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "POST", f"{self.edge}/_harness/edge/faults", self._dump(rules)
        )
        return result

    def rules(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"{self.edge}/_harness/edge/faults")
        return result

    def clear(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "DELETE", f"{self.edge}/_harness/edge/faults", ids or []
        )
        return result

    def log(self, since: float = 0.0) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", f"{self.edge}/_harness/edge/faults/log?since={since}"
        )
        return result

    def redis(
        self, mode: str, *, latency_ms: float = 0.0, duration_s: float | None = None
    ) -> dict[str, Any]:
        if not self.redis_control:
            raise HarnessError(
                "this environment has no Redis fault proxy.", fix="restart it with `harness up`."
            )
        payload = {"mode": mode, "latency_ms": latency_ms, "duration_s": duration_s}
        result: dict[str, Any] = self._call("POST", f"{self.redis_control}/mode", payload)
        return result

    def redis_state(self) -> dict[str, Any]:
        if not self.redis_control:
            raise HarnessError(
                "this environment has no Redis fault proxy.", fix="restart it with `harness up`."
            )
        result: dict[str, Any] = self._call("GET", f"{self.redis_control}/state")
        return result
