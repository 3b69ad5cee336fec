"""The control-plane boundary: a hostile function tries every control path it can reach; each
is refused (403), recorded with the function's name and shown by the isolation report, while
the harness's own clients (holding the environment's secret) keep working."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.chaos.client import FaultClient
from harness.deploy.fixtures import deployed_stack
from harness.env.secret import control_headers, read_secret
from harness.isolation.run import IsolationResult, control_plane_section, edge_iam
from harness.model import DeployedStack

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "stacks" / "hostile"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    settings = Settings.load(state_dir=tmp_path_factory.mktemp("ctlplane"), gateway_workers=1)
    with Environment(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stack(env: Environment) -> Iterator[DeployedStack]:
    with deployed_stack(env, STACK) as deployed:
        yield deployed


def _probe(env: Environment) -> dict[str, Any]:
    endpoints = env.endpoints
    bases = {
        "gateway": endpoints["gateway_url"],
        "runtime": endpoints["runtime_url"],
        "redis_control": endpoints["redis_control_url"],
    }
    answer = env.client("lambda").invoke(
        FunctionName="hostile-probe", Payload=json.dumps({"bases": bases})
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    return dict(json.loads(answer["Payload"].read()))


def test_tenant_code_is_refused_recorded_and_reported(
    env: Environment, stack: DeployedStack
) -> None:
    faults_before = FaultClient(env.endpoints).rules()
    report = _probe(env)
    results = report["results"]
    assert len(results) == 15
    leaked = [r for r in results if r["status"] != 403]
    assert leaked == [], leaked
    assert all("secret" in r["body"] for r in results)

    # functions never receive the secret, nor where it is kept
    secret = read_secret(env.state_dir)
    assert secret
    environ = report["environ"]
    assert not [k for k, v in environ.items() if secret in v]
    assert not [k for k, v in environ.items() if str(env.state_dir) in v]
    assert not [k for k in environ if k.startswith("HARNESS_") and "SECRET" in k]

    # nothing the probes asked for happened: no fault added, the emulator kept its state
    assert FaultClient(env.endpoints).rules() == faults_before
    assert env.client("lambda").get_function(FunctionName="hostile-probe")

    # every refused call is recorded with the function that made it; the report shows it
    section, violations = control_plane_section(env, since=stack.deployed_at)
    assert section["refused"] >= 15
    assert section["functions"] == ["hostile-probe"]
    assert {c["server"] for c in section["calls"]} == {"edge", "gateway", "runtime", "redis-proxy"}
    assert len(violations) == 1 and "tenant code probed the control plane" in violations[0]
    result = IsolationResult(passed=False, seed=0, examples=0, steps=0, calls=0, seconds=0.0)
    result.control_plane = section
    assert result.to_json()["control_plane"]["functions"] == ["hostile-probe"]


def test_the_harness_clients_hold_the_secret(env: Environment, stack: DeployedStack) -> None:
    assert edge_iam(env) is not None  # the IAM log answers the isolation checks
    client = FaultClient(env.endpoints)
    added = client.add(
        [{"service": "s3", "operation": "ListBuckets", "error": {"statusCode": 503}}]
    )
    assert added
    client.clear()
    assert client.rules() == []
    assert client.redis_state()["mode"] == "ok"
    # a user's script with the secret keeps LocalStack's chaos API
    headers = {**control_headers(env.endpoints), "Content-Type": "application/json"}
    url = f"{env.endpoints['aws_endpoint']}/_localstack/chaos/faults"
    body = json.dumps([{"service": "sqs", "error": {"statusCode": 503}}]).encode()
    with urllib.request.urlopen(
        urllib.request.Request(url, data=body, method="POST", headers=headers), timeout=10
    ) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(
        urllib.request.Request(url, data=b"[]", method="DELETE", headers=headers), timeout=10
    ) as answer:
        assert answer.status == 200
    # and without it the same call is refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=10)
    assert refused.value.code == 403
    refused.value.close()
