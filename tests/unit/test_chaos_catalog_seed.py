"""Same seed -> identical fault sequence, for every scenario of the seed-001 chaos catalog.

The fault scheduler runs each catalog scenario against a recording stand-in for the one fault
API every action goes through (``harness.chaos.Faults``; no environment), so what it would send
to the edge, the runtime, the Redis proxy and the fake servers is captured. Two runs with one seed must send identical rules, and the
probabilistic ones (``percentage`` / ``invocationPercentage``) must then draw identical
per-call decisions in the real decision engines; another seed must draw differently.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.chaos.engine import FaultEngine
from harness.chaos.lambda_faults import LambdaFault, LambdaFaultEngine
from harness.chaos.rules import FaultRule
from harness.edge.routing import RequestInfo
from harness.scenario.actions import ActionContext
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.timeline import FaultScheduler, plan_faults

CATALOG = Path(__file__).resolve().parents[2] / "scenarios" / "chaos"
SCENARIOS = sorted(CATALOG.glob("*.yaml"))

# the run clock is set this far in the past, so every planned fault starts and ends at once
PAST = 10_000.0
_VOLATILE = {"id", "start_at"}


class _Recorder:
    """Stands in for Faults (the edge, the Redis proxy, the runtime, the fake servers)."""

    sent: list[tuple[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _id(self) -> str:
        return f"rule-{len(self.sent)}"

    def add(self, kind: str, spec: dict[str, Any] | None = None) -> Any:
        rule = _stable(spec or {})
        self.sent.append((kind, [rule] if kind == "aws" else rule))
        return {"id": self._id(), "kind": kind}

    def remove(self, kind: str, ids: list[str]) -> None:
        self.sent.append(("remove", kind))

    def clear(self, kind: str | None = None) -> None:
        self.sent.append(("clear", kind))


def _stable(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rule.items() if k not in _VOLATILE}


def _schedule(scenario: Scenario, seed: int, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import harness.chaos.faults

    monkeypatch.setattr(harness.chaos.faults, "Faults", _Recorder)
    _Recorder.sent = []
    context = ActionContext(endpoints={}, seed=seed, run_started=time.time() - PAST)
    scheduler = FaultScheduler(context, plan_faults(scenario))
    scheduler.start()
    deadline = time.time() + 10
    while time.time() < deadline and not all(p.stopped or p.error for p in scheduler.planned):
        time.sleep(0.02)
    scheduler.stop_all()
    assert scheduler.errors() == []
    return list(_Recorder.sent)


def _draws(sent: list[Any], calls: int = 200) -> list[str]:
    """Feed the recorded rules to the real decision engines and decide ``calls`` calls."""
    now = time.time()
    aws = FaultEngine()
    lam = LambdaFaultEngine()
    for kind, payload in sent:
        if kind == "aws":
            aws.add(
                [
                    FaultRule.model_validate({**r, "start_at": now, "duration_s": 3600})
                    for r in payload
                ]
            )
        elif kind == "lambda":
            rule = {**payload, "start_at": now, "duration_s": 3600}
            lam.add([LambdaFault.model_validate(rule)], now=now)
    out: list[str] = []
    services = sorted({r.service or "dynamodb" for r in aws.rules()})
    for i in range(calls):
        for service in services:
            info = RequestInfo(service=service, operation="Op", region="us-east-1")
            out.append("A" if aws.decide(info, {}, b"") else ".")
        for rule in lam.rules():
            for fn in rule.functions or ["WorkerFunction"]:
                out.append("L" if lam.decide(fn, fn, rule.stack or "syncwell", str(i)) else ".")
    return out


def test_the_catalog_covers_seed_001_section_3b() -> None:
    actions = {f.action for p in SCENARIOS for ph in load_scenario(p).timeline for f in ph.faults}
    for needed in (
        "az:failure",
        "lambda:invocation-error",
        "thirdparty:latency",
        "aws:api-error",
        "redis:reboot",
        "dns:failure",
    ):
        assert needed in actions
    services = {
        f.targets.get("service")
        for p in SCENARIOS
        for ph in load_scenario(p).timeline
        for f in ph.faults
        if f.action == "aws:api-error"
    }
    assert {"dynamodb", "sqs", "secretsmanager"} <= services


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_one_seed_gives_one_fault_sequence(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(path)
    first = _schedule(scenario, scenario.seed, monkeypatch)
    second = _schedule(scenario, scenario.seed, monkeypatch)
    assert first and first == second
    assert _draws(first) == _draws(second)


def test_percentage_faults_are_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probabilistic faults draw the same calls with one seed, other calls with another."""
    scenario = Scenario.model_validate(
        {
            "title": "percentages",
            "stacks": ["stacks/syncwell"],
            "timeline": [
                {
                    "name": "chaos",
                    "duration": "20s",
                    "faults": [
                        {
                            "action": "aws:api-error",
                            "targets": {"service": "dynamodb"},
                            "parameters": {"percentage": 30},
                        },
                        {
                            "action": "lambda:invocation-error",
                            "targets": {"functions": ["WorkerFunction"], "stack": "syncwell"},
                            "parameters": {"invocationPercentage": 30},
                        },
                    ],
                }
            ],
        }
    )
    one = _draws(_schedule(scenario, 1001, monkeypatch))
    again = _draws(_schedule(scenario, 1001, monkeypatch))
    other = _draws(_schedule(scenario, 1002, monkeypatch))
    assert one == again
    assert one != other
    hits = one.count("A") + one.count("L")
    assert 0.2 * len(one) < hits < 0.4 * len(one)  # ~30% of the calls
