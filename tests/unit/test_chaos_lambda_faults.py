"""Lambda fault rules: validation, targeting, seeded selection, windows and the log."""

from __future__ import annotations

import time

import pytest

from harness.chaos.lambda_faults import LambdaFault, LambdaFaultEngine, parse_lambda_faults


def affected(engine: LambdaFaultEngine, calls: int, name: str = "fn") -> list[int]:
    return [i for i in range(calls) if engine.decide(name, "Fn", "stack", f"req-{i}") is not None]


def test_same_seed_same_invocations_different_seed_different() -> None:
    def run(seed: int) -> list[int]:
        engine = LambdaFaultEngine(seed=seed)
        engine.add([LambdaFault(mode="exception", invocationPercentage=30)])
        return affected(engine, 200)

    first, second, other = run(7), run(7), run(8)
    assert first == second
    assert first != other
    assert 40 <= len(first) <= 80  # ~30% of 200


def test_rule_seed_beats_engine_seed_and_clear_restarts_the_stream() -> None:
    engine = LambdaFaultEngine(seed=1)
    engine.add([LambdaFault(mode="error", invocationPercentage=50, seed=42)])
    before = affected(engine, 50)
    engine.remove(None)
    engine.add([LambdaFault(mode="error", invocationPercentage=50, seed=42)])
    assert affected(engine, 50) == before
    other = LambdaFaultEngine(seed=99)
    other.add([LambdaFault(mode="error", invocationPercentage=50, seed=42)])
    assert affected(other, 50) == before


def test_targets_by_name_logical_id_and_stack() -> None:
    engine = LambdaFaultEngine()
    engine.add([LambdaFault(mode="statuscode", statusCode=503, functions=["Orders"], stack="shop")])
    assert engine.decide("shop-orders-123", "Orders", "shop") is not None
    assert engine.decide("shop-orders-123", "Orders", "other") is None
    assert engine.decide("shop-users-1", "Users", "shop") is None
    assert engine.decide("Orders", "X", "shop") is not None  # by physical name too


def test_window_and_max_injections() -> None:
    now = time.time()
    engine = LambdaFaultEngine()
    engine.add([LambdaFault(mode="timeout", start_at=now + 60, duration_s=5)])
    assert engine.decide("fn", "Fn", "s") is None  # not started yet
    engine.remove(None)
    engine.add([LambdaFault(mode="timeout", start_at=now - 10, duration_s=5)])
    assert engine.decide("fn", "Fn", "s") is None  # over
    engine.remove(None)
    engine.add([LambdaFault(mode="timeout", max_injections=2)])
    assert affected(engine, 5) == [0, 1]


def test_directives_carry_what_the_environment_needs() -> None:
    engine = LambdaFaultEngine(seed=3)
    engine.add([LambdaFault(mode="latency", min_latency=100, max_latency=200)])
    delays = [engine.decide("fn", "Fn", "s")["delay_ms"] for _ in range(20)]  # type: ignore[index]
    assert all(100 <= d <= 200 for d in delays) and len(set(delays)) > 1
    engine.remove(None)
    engine.add([LambdaFault(mode="statuscode", statusCode=429, preventExecution=False)])
    assert engine.decide("fn", "Fn", "s") == {
        "mode": "statuscode",
        "status": 429,
        "content_type": "application/json",
        "prevent": False,
    }
    engine.remove(None)
    engine.add([LambdaFault(mode="denylist", deny_list=[r"\.amazonaws\.com$"])])
    assert engine.decide("fn", "Fn", "s") == {"mode": "denylist", "deny": [r"\.amazonaws\.com$"]}


def test_throttle_is_not_a_directive_and_is_counted() -> None:
    engine = LambdaFaultEngine()
    engine.add([LambdaFault(mode="throttle", functions=["fn"])])
    assert engine.decide("fn", "Fn", "s") is None
    assert engine.throttled("fn", "Fn", "s", "r1")
    assert not engine.throttled("other", "Other", "s")
    [entry] = list(engine.log)
    assert entry["mode"] == "throttle" and entry["target"] == "fn" and entry["time"] > 0
    assert sum(engine.counts.values()) == 1


def test_every_injection_is_logged_with_time_target_and_effect() -> None:
    engine = LambdaFaultEngine(seed=5)
    engine.add([LambdaFault(mode="latency", startupDelayMilliseconds=250)])
    engine.decide("fn", "Fn", "s", "req-1")
    [entry] = list(engine.log)
    assert entry["effect"] == "latency 250ms"
    assert entry["request_id"] == "req-1" and entry["delay_ms"] == 250
    assert engine.status()[0]["injected"] == 1


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"mode": "latency"}, "startupDelayMilliseconds"),
        ({"mode": "latency", "min_latency": 5, "max_latency": 1}, "above"),
        ({"mode": "denylist"}, "deny_list"),
        ({"mode": "denylist", "deny_list": ["("]}, "not a regex"),
        ({"mode": "exception", "invocationPercentage": 0}, "invocationPercentage"),
        ({"mode": "exception", "invocationPercentag": 5}, "invocationPercentag"),
        ({"mode": "bogus"}, "mode"),
        ({"mode": "statuscode", "statusCode": 99}, "statusCode"),
    ],
)
def test_bad_rules_name_the_field(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lambda_faults(rule)
