import json
import random

import pytest
from pydantic import ValidationError

from harness.chaos.control import fault_admin, parse_rules
from harness.chaos.engine import FaultEngine
from harness.chaos.rules import FaultRule, LatencySpec
from harness.edge.routing import RequestInfo

GET = RequestInfo(service="dynamodb", region="us-east-1", operation="GetItem")


def test_empty_rule_is_localstacks_default_503() -> None:
    rule = FaultRule()
    assert rule.error is not None and (rule.error.statusCode, rule.error.code) == (
        503,
        "ServiceUnavailable",
    )


def test_latency_only_rule_has_no_error() -> None:
    assert FaultRule(latency=LatencySpec(ms=100)).error is None


@pytest.mark.parametrize(
    "bad",
    [
        {"probability": 1.5},
        {"error": {"statusCode": 200}},
        {"blackhole": True, "reset": True},
        {"blackhole": True, "error": {"code": "X"}},
        {"latency": {"distribution": "uniform"}},
        {"tenant": {}},
        {"servce": "dynamodb"},
        {"attempts": []},
        {"attempts": [0]},
    ],
)
def test_invalid_rules_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        FaultRule.model_validate(bad)


def test_parse_rules_names_the_index_and_field() -> None:
    with pytest.raises(ValueError, match=r"\[1\]\.probability"):
        parse_rules(json.dumps([{}, {"probability": 3}]))


def test_same_seed_same_decisions_for_the_nth_matching_call() -> None:
    def decisions(seed: int) -> list[bool]:
        engine = FaultEngine(seed=seed)
        engine.add([FaultRule(service="dynamodb", probability=0.3)])
        return [engine.decide(GET, {}, b"") is not None for _ in range(200)]

    assert decisions(42) == decisions(42)
    assert decisions(42) != decisions(43)
    assert 30 < sum(decisions(42)) < 90


def test_first_matching_rule_wins_and_filters_apply() -> None:
    engine = FaultEngine()
    engine.add(
        [
            FaultRule(id="sqs", service="sqs"),
            FaultRule(id="put", service="dynamodb", operation="PutItem"),
            FaultRule(
                id="any-ddb",
                service="dynamodb",
                error={"statusCode": 400, "code": "ThrottlingException"},
            ),
        ]
    )
    engine.decide(GET, {}, b"")
    assert [f.rule_id for f in engine.log] == ["any-ddb"]


def test_time_window_and_max_injections() -> None:
    engine = FaultEngine()
    engine.add([FaultRule(id="later", start_at=9e12)])
    assert engine.decide(GET, {}, b"") is None
    engine.replace([FaultRule(id="twice", max_injections=2)])
    assert [engine.decide(GET, {}, b"") is not None for _ in range(4)] == [True, True, False, False]
    expired = FaultRule(id="over", start_at=1.0, duration_s=1.0)
    assert not expired.active(now=5.0) and expired.active(now=1.5)


def test_attempts_selector_hits_first_attempts_and_lets_retries_through() -> None:
    """An AZ's connections reset: the SDK's retry goes through a healthy AZ (az-failure.yaml)."""
    engine = FaultEngine()
    engine.add([FaultRule(reset=True, attempts=[1])])
    first = {"amz-sdk-request": "attempt=1; max=3"}
    retry = {"amz-sdk-request": "attempt=2; max=3"}
    assert engine.decide(GET, first, b"") is not None
    assert engine.decide(GET, retry, b"") is None
    assert engine.decide(GET, {}, b"") is not None  # no header: a first attempt
    engine.replace([FaultRule(attempts=[2, 3])])
    assert engine.decide(GET, first, b"") is None and engine.decide(GET, retry, b"") is not None


def test_tenant_selector_by_partition_key_prefix() -> None:
    engine = FaultEngine()
    engine.add([FaultRule(tenant={"partition_key_prefix": "TENANT#acme#"})])
    acme = json.dumps({"TableName": "t", "Key": {"pk": {"S": "TENANT#acme#ORDER"}}}).encode()
    corp = json.dumps({"TableName": "t", "Key": {"pk": {"S": "TENANT#acme-corp#ORDER"}}}).encode()
    batch = json.dumps(
        {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "TENANT#acme#1"}}}}]}}
    ).encode()
    assert engine.decide(GET, {}, acme) is not None
    assert engine.decide(GET, {}, corp) is None
    assert engine.decide(GET, {}, batch) is not None


def test_tenant_selector_by_sqs_message_attribute() -> None:
    engine = FaultEngine()
    engine.add(
        [FaultRule(service="sqs", tenant={"message_attribute": {"name": "tenant", "value": "a"}})]
    )
    send = RequestInfo("sqs", "us-east-1", "SendMessage")
    body = {
        "QueueUrl": "q",
        "MessageBody": "x",
        "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "a"}},
    }
    assert engine.decide(send, {}, json.dumps(body).encode()) is not None
    body["MessageAttributes"]["tenant"]["StringValue"] = "b"
    assert engine.decide(send, {}, json.dumps(body).encode()) is None


def test_latency_distributions_stay_in_bounds() -> None:
    rng = random.Random(1)
    spec = LatencySpec(distribution="normal", mean_ms=100, stddev_ms=50, max_ms=150)
    draws = [spec.draw(rng) for _ in range(500)]
    assert all(0 <= d <= 0.150 for d in draws)
    uniform = LatencySpec(distribution="uniform", min_ms=10, max_ms=20)
    assert all(0.010 <= uniform.draw(rng) <= 0.020 for _ in range(100))


def test_control_api_verbs() -> None:
    engine = FaultEngine()
    admin = fault_admin(engine)
    status, rules = admin(
        "POST", "/_localstack/chaos/faults", "", json.dumps([{"service": "s3"}]).encode()
    )
    assert status == 200 and len(rules) == 1
    admin("PATCH", "/_harness/edge/faults", "", json.dumps({"service": "sqs", "id": "x"}).encode())
    assert [r.service for r in engine.rules()] == ["s3", "sqs"]
    admin("DELETE", "/_harness/edge/faults", "", json.dumps(["x"]).encode())
    admin("DELETE", "/_localstack/chaos/faults", "", json.dumps([{"service": "s3"}]).encode())
    assert engine.rules() == []
    status, body = admin("PATCH", "/_harness/edge/faults", "", b'[{"probability": 9}]')
    assert status == 400 and "probability" in body["message"]
    assert admin("POST", "/_localstack/chaos/effects", "", b'{"latency": 50}') == (
        200,
        {"latency": 50.0},
    )
    assert engine.rules()[0].latency is not None


def test_cli_durations_name_the_option() -> None:
    from harness.cli.fault import parse_duration as cli_duration
    from harness.errors import ConfigError

    assert cli_duration("250ms", "--latency") == 0.25
    with pytest.raises(ConfigError, match="--duration"):
        cli_duration("5x", "--duration")
