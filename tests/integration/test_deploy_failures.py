"""Templates that cannot be deployed fail up front, name the resource, and create nothing;
a failure half-way rolls back what was created."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config import Settings
from harness.deploy import DeployError, deploy_stack
from harness.env.environment import Environment
from harness.model import stack_file

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deploy"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("deploy-fail-state"))) as env:
        yield env


def _inventory(env: Environment) -> tuple[list[str], list[str], list[str]]:
    tables = env.client("dynamodb").list_tables()["TableNames"]
    queues = env.client("sqs").list_queues().get("QueueUrls", [])
    params = [p["Name"] for p in env.client("ssm").describe_parameters()["Parameters"]]
    return sorted(tables), sorted(queues), sorted(params)


@pytest.mark.parametrize(
    ("folder", "logical_id", "words"),
    [
        ("broken_ref", "Queue", ["MissingDlq"]),
        ("broken_type", "Cluster", ["AWS::ECS::Cluster", "not supported"]),
        ("broken_type_lint", "Thing", ["E3006", "AWS::Made::Up"]),
        ("broken_cycle", "First", ["Circular", "Second"]),
        ("broken_yaml", None, ["YAML syntax error", "line 5"]),
        ("broken_handler", "Handler", ["orders.missing.handler", "missing.py"]),
        ("broken_property", "Table", ["KinesisStreamSpecification", "DynamoDB Local"]),
    ],
)
def test_broken_template_fails_up_front_and_creates_nothing(
    env: Environment, folder: str, logical_id: str | None, words: list[str]
) -> None:
    before = _inventory(env)
    with pytest.raises(DeployError) as info:
        deploy_stack(env, FIXTURES / folder)
    error = info.value
    message = str(error)
    assert "template.yaml" in message
    if logical_id:
        assert error.logical_id == logical_id
        assert f"'{logical_id}'" in message
    for word in words:
        assert word in message
    assert "Fix:" in message
    assert _inventory(env) == before
    assert not list((env.state_dir / "stacks").glob("*.json"))


def test_failure_midway_rolls_back(env: Environment) -> None:
    ssm = env.client("ssm")
    ssm.put_parameter(Name="/taken/by-someone", Value="x", Type="String")
    before = _inventory(env)
    with pytest.raises(DeployError) as info:
        deploy_stack(env, FIXTURES / "rollback", {"TakenName": "/taken/by-someone"})
    assert info.value.logical_id == "Param"
    assert "ministack SSM" in str(info.value)
    assert _inventory(env) == before  # the table and the queue made before it are gone
    assert not stack_file(env.state_dir, "rollback").exists()
    assert ssm.get_parameter(Name="/taken/by-someone")["Parameter"]["Value"] == "x"
