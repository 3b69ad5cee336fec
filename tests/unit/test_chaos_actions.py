"""Scenario fault actions for Lambda, AZ, DNS and third parties: validated before any run;
third-party and DNS targets resolved from the deployed stack record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.chaos.faults import Faults, dns_patterns
from harness.chaos.thirdparty import ThirdPartyFault, fake_server_url
from harness.errors import ConfigError
from harness.model import DeployedStack
from harness.scenario.actions import ACTIONS, validate_action
from harness.scenario.model import FaultSpec


def spec(action: str, targets: dict[str, Any] | None = None, **parameters: Any) -> FaultSpec:
    return FaultSpec.model_construct(
        action=action, targets=targets or {}, parameters=parameters, start_after=0, duration=5
    )


@pytest.mark.parametrize(
    ("action", "targets", "parameters"),
    [
        ("lambda:invocation-add-delay", {"functions": ["Api"]}, {"startupDelayMilliseconds": 800}),
        ("lambda:invocation-error", {"stack": "syncwell"}, {"invocationPercentage": 25}),
        ("lambda:invocation-http-integration-response", {}, {"statusCode": 503}),
        ("lambda:latency", {}, {"min_latency": 100, "max_latency": 900}),
        ("lambda:timeout", {"functions": ["Worker"]}, {}),
        ("lambda:exception", {}, {"exception_msg": "boom", "preventExecution": False}),
        ("lambda:statuscode", {}, {"statusCode": 502}),
        ("lambda:denylist", {}, {"deny_list": [r"\.fitbit\.com$"]}),
        ("lambda:diskspace", {}, {"disk_space": 100}),
        ("lambda:throttle", {"functions": ["Worker"]}, {}),
        ("lambda:cold-start", {"stack": "syncwell"}, {}),
        ("az:failure", {}, {"share": 0.5}),
        ("aws:connection-reset", {"service": "dynamodb"}, {"percentage": 50, "attempts": [1]}),
        ("dns:failure", {"stack": "syncwell"}, {"endpoints": ["providers"]}),
        ("thirdparty:latency", {"provider": "strava"}, {"latency_ms": 800}),
        ("thirdparty:rate-limit", {}, {"retry_after": 2}),
        ("thirdparty:error", {"stack": "syncwell"}, {"status": 502, "count": 3}),
        ("thirdparty:token-revocation", {"provider": "strava"}, {"ownerId": "u-1"}),
    ],
)
def test_valid_actions(action: str, targets: dict[str, Any], parameters: dict[str, Any]) -> None:
    validate_action(spec(action, targets, **parameters))


@pytest.mark.parametrize(
    ("action", "targets", "parameters", "message"),
    [
        ("lambda:invocation-add-delay", {}, {"startupDelayMs": 800}, "startupDelayMilliseconds"),
        ("lambda:latency", {}, {}, "startupDelayMilliseconds"),
        ("lambda:latency", {}, {"min_latency": 9, "max_latency": 1}, "above"),
        ("lambda:invocation-error", {}, {"invocationPercentage": 150}, "invocationPercentage"),
        ("lambda:denylist", {}, {"deny_list": ["("]}, "not a regex"),
        ("lambda:exception", {"function": ["x"]}, {}, "function"),
        ("az:failure", {}, {"share": 1.5}, "share"),
        ("aws:connection-reset", {}, {"attempts": [0]}, "attempts"),
        ("dr:restore", {"stack": "s", "table": "T"}, {"cutover": "appconfig"}, "needs 'appconfig'"),
        (
            "dr:restore",
            {"stack": "s", "table": "T"},
            {
                "appconfig": {
                    "application": "A",
                    "environment": "E",
                    "profile": "P",
                    "strategy": "S",
                }
            },
            "only for cutover",
        ),
        ("aws:blackhole", {}, {"percentage": 5, "probability": 0.1}, "not both"),
        ("dns:failure", {}, {}, "hosts"),
        ("thirdparty:error", {}, {"status": 404}, "status"),
        ("thirdparty:token-revocation", {}, {"ownerId": "u-1"}, "provider"),
        ("thirdparty:slow", {}, {}, "known actions"),
    ],
)
def test_typos_fail_before_the_run(
    action: str, targets: dict[str, Any], parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_action(spec(action, targets, **parameters))


def test_every_action_is_documented() -> None:
    for name, kind in ACTIONS.items():
        assert kind.description, name
        assert name.split(":")[0] in {
            "aws",
            "redis",
            "lambda",
            "az",
            "dns",
            "thirdparty",
            "faults",
            "dr",
        }


def test_thirdparty_modes_map_to_the_fake_server() -> None:
    body = ThirdPartyFault(mode="rate-limit", provider="strava", retry_after=3).control_body()
    assert body == {
        "provider": "strava",
        "mode": "rate_limit",
        "probability": 1.0,
        "retry_after": 3,
    }
    assert ThirdPartyFault(mode="latency", latency_ms=250).control_body()["mode"] == "slow"
    assert ThirdPartyFault(mode="token-revocation").control_body()["mode"] == "revoke"


def test_dns_patterns_name_host_and_port() -> None:
    endpoints = {
        "aws_endpoint": "http://127.0.0.1:4566",
        "redis_proxy_url": "redis://127.0.0.1:7001/0",
    }
    patterns = dns_patterns(
        endpoints, ["aws", "redis", "providers"], {"providers": "http://127.0.0.1:8710"}
    )
    assert patterns == [r"^127\.0\.0\.1:4566$", r"^127\.0\.0\.1:7001$", r"^127\.0\.0\.1:8710$"]
    with pytest.raises(ConfigError, match="unknown endpoint 'nope'"):
        dns_patterns(endpoints, ["nope"])


def _stack(state_dir: Path, name: str, servers: dict[str, str]) -> None:
    if "fake_servers" not in DeployedStack.__dataclass_fields__:
        pytest.skip("DeployedStack.fake_servers is not in this checkout yet")
    stack = DeployedStack(
        name=name, stack_dir="/x", template_path="/x/template.yaml", deployed_at=time.time()
    )
    stack.fake_servers = servers  # type: ignore[attr-defined]
    stack.save(state_dir)


def test_fake_server_url_from_the_deployed_stack(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no deployed stack records a fake server"):
        fake_server_url(tmp_path)
    _stack(tmp_path, "syncwell", {"providers": "http://127.0.0.1:8710/"})
    _stack(tmp_path, "catalog", {})
    assert fake_server_url(tmp_path) == "http://127.0.0.1:8710"
    with pytest.raises(ConfigError, match="stack 'catalog' records no fake server"):
        fake_server_url(tmp_path, stack="catalog")
    _stack(tmp_path, "other", {"providers": "http://127.0.0.1:9000"})
    with pytest.raises(ConfigError, match="several stacks"):
        fake_server_url(tmp_path)
    assert fake_server_url(tmp_path, stack="other") == "http://127.0.0.1:9000"


def test_bad_specs_name_the_field_without_touching_anything(tmp_path: Path) -> None:
    faults = Faults({"aws_endpoint": "http://127.0.0.1:9"}, state_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown fault kind 'lambdas'"):
        faults.add("lambdas", {})
    with pytest.raises(ConfigError, match="invocationPercentage"):
        faults.add("lambda", {"mode": "exception", "invocationPercentage": 0})
    with pytest.raises(ConfigError, match="duration_s"):
        faults.add("az", {})
    with pytest.raises(ConfigError, match="unknown field"):
        faults.add("cold-start", {"function": ["x"]})
    with pytest.raises(ConfigError, match="hosts"):
        faults.add("dns", {"stack": "s"})
