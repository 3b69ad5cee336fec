"""The fault control API served by the AWS edge.

``/_harness/edge/faults`` (and, for existing scripts, LocalStack's ``/_localstack/chaos/faults``):
``GET`` lists the rules with their counters, ``POST`` replaces them, ``PATCH`` adds to them,
``DELETE`` removes the rules whose ``id`` is given (or rules equal to the ones given, as LocalStack
does; an empty body removes all). ``/_harness/edge/faults/log`` lists every injected fault.
``/_localstack/chaos/effects`` accepts ``{"latency": ms}`` like LocalStack (a latency on every call).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from harness.chaos.engine import FaultEngine
from harness.chaos.rules import FaultRule, LatencySpec, parse_rules
from harness.edge.proxy import AdminHandler

__all__ = ["fault_admin", "parse_rules"]

_FAULTS = ("/_harness/edge/faults", "/_localstack/chaos/faults")
_EFFECTS_ID = "localstack-effects-latency"


def fault_admin(engine: FaultEngine) -> AdminHandler:
    def handle(method: str, path: str, target: str, body: bytes) -> tuple[int, Any] | None:
        try:
            if path in _FAULTS:
                return _faults(engine, method, body)
            if path == "/_harness/edge/faults/log":
                if method == "DELETE":
                    engine.log.clear()
                    engine.counts.clear()
                    return 200, {"injected": []}
                since = float(parse_qs(target.partition("?")[2]).get("since", ["0"])[0])
                return 200, {
                    "injected": [f.to_json() for f in engine.log if f.time >= since],
                    "counts": dict(engine.counts),
                }
            if path == "/_localstack/chaos/effects":
                return _effects(engine, method, body)
        except ValueError as exc:
            return 400, {"message": f"invalid fault rule: {exc}"}
        return None

    return handle


def _faults(engine: FaultEngine, method: str, body: bytes) -> tuple[int, Any]:
    if method == "GET":
        return 200, engine.status()
    if method == "POST":
        engine.replace(parse_rules(body))
    elif method == "PATCH":
        engine.add(parse_rules(body))
    elif method == "DELETE":
        data = json.loads(body or b"null")
        if data in (None, [], {}):
            engine.remove(None)
        else:
            items = data if isinstance(data, list) else [data]
            ids = [i for i in items if isinstance(i, str)]
            ids += [i["id"] for i in items if isinstance(i, dict) and "id" in i]
            wanted = [
                FaultRule.model_validate(i).model_dump(exclude={"id", "start_at"})
                for i in items
                if isinstance(i, dict) and "id" not in i
            ]
            ids += [
                r.id for r in engine.rules() if r.model_dump(exclude={"id", "start_at"}) in wanted
            ]
            engine.remove(ids)
    else:
        return 405, {"message": f"method {method} not allowed"}
    return 200, engine.status()


def _effects(engine: FaultEngine, method: str, body: bytes) -> tuple[int, Any]:
    current = next((r for r in engine.rules() if r.id == _EFFECTS_ID), None)
    if method == "POST":
        data = json.loads(body or b"{}")
        latency = float(data.get("latency", 0))
        engine.remove([_EFFECTS_ID])
        if latency > 0:
            engine.add([FaultRule(id=_EFFECTS_ID, latency=LatencySpec(ms=latency))])
        return 200, {"latency": latency}
    return 200, {"latency": current.latency.ms if current and current.latency else 0}
