"""Faults injected into a real environment, seen by real SDK and Redis clients."""

from __future__ import annotations

import time
import uuid

import botocore.exceptions
import pytest
import redis
from botocore.config import Config

from harness import Environment, Settings
from harness.chaos.client import FaultClient

pytestmark = pytest.mark.integration

NO_RETRY = Config(
    retries={"max_attempts": 1, "mode": "standard"}, read_timeout=2, connect_timeout=2
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("chaos"))) as running:
        yield running


@pytest.fixture
def faults(env: Environment):  # type: ignore[no-untyped-def]
    client = FaultClient(env.endpoints)
    client.clear()
    yield client
    client.clear()
    client.redis("ok")


@pytest.fixture(scope="module")
def table(env: Environment) -> str:
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    env.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_throttle_is_retried_by_the_sdk_then_surfaces(
    env: Environment, faults: FaultClient, table: str
) -> None:
    faults.add(
        [
            {
                "service": "dynamodb",
                "operation": "PutItem",
                "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"},
            }
        ]
    )
    ddb = env.client("dynamodb", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ddb.put_item(TableName=table, Item={"pk": {"S": "TENANT#a#1"}})
    assert info.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    # botocore's "max_attempts" counts retries: 1 call + 3 retries, each one throttled.
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 3
    assert len(faults.log()["injected"]) == 4
    # other operations are untouched
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "TENANT#a#1"}})


def test_tenant_scoped_fault_spares_other_tenants(
    env: Environment, faults: FaultClient, table: str
) -> None:
    faults.add([{"service": "dynamodb", "tenant": {"partition_key_prefix": "TENANT#acme#"}}])
    ddb = env.client("dynamodb", config=NO_RETRY)
    ddb.put_item(TableName=table, Item={"pk": {"S": "TENANT#acme-corp#1"}})
    with pytest.raises(botocore.exceptions.ClientError, match="ServiceUnavailable"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "TENANT#acme#1"}})


def test_latency_window_ends_by_itself(env: Environment, faults: FaultClient, table: str) -> None:
    faults.add(
        [{"service": "dynamodb", "operation": "GetItem", "latency": {"ms": 300}, "duration_s": 1.5}]
    )
    ddb = env.client("dynamodb", config=NO_RETRY)
    started = time.perf_counter()
    ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
    assert time.perf_counter() - started >= 0.3
    time.sleep(1.6)
    started = time.perf_counter()
    ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
    assert time.perf_counter() - started < 0.3


def test_blackhole_times_the_client_out(env: Environment, faults: FaultClient) -> None:
    faults.add([{"service": "secretsmanager", "blackhole": True}])
    client = env.client(
        "secretsmanager", config=Config(retries={"max_attempts": 1}, read_timeout=1)
    )
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.list_secrets()


def test_reset_drops_the_connection(env: Environment, faults: FaultClient) -> None:
    faults.add([{"service": "sqs", "reset": True}])
    sqs = env.client("sqs", config=NO_RETRY)
    with pytest.raises(
        (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)
    ):
        sqs.list_queues()


def test_same_seed_injects_the_same_sequence(
    env: Environment, faults: FaultClient, table: str
) -> None:
    ddb = env.client("dynamodb", config=NO_RETRY)

    def run() -> list[bool]:
        faults.replace(
            [{"service": "dynamodb", "operation": "GetItem", "probability": 0.5, "seed": 1234}]
        )
        outcome = []
        for _ in range(30):
            try:
                ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
                outcome.append(False)
            except botocore.exceptions.ClientError:
                outcome.append(True)
        return outcome

    first, second = run(), run()
    assert first == second and 3 < sum(first) < 27


def test_redis_proxy_modes(env: Environment, faults: FaultClient) -> None:
    direct = env.redis()
    direct.set("chaos:key", "v")
    proxied = redis.Redis.from_url(
        env.endpoints["redis_proxy_url"], socket_timeout=0.5, socket_connect_timeout=0.5
    )
    assert proxied.get("chaos:key") == b"v"

    faults.redis("latency", latency_ms=200)
    started = time.perf_counter()
    proxied.ping()
    assert time.perf_counter() - started >= 0.2

    faults.redis("hang")
    with pytest.raises(redis.exceptions.TimeoutError):
        redis.Redis.from_url(env.endpoints["redis_proxy_url"], socket_timeout=0.5).ping()

    faults.redis("down", duration_s=1.0)
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(env.endpoints["redis_proxy_url"], socket_connect_timeout=0.5).ping()
    time.sleep(1.3)
    assert faults.redis_state()["mode"] == "ok"
    assert redis.Redis.from_url(env.endpoints["redis_proxy_url"], socket_timeout=1).ping()

    faults.redis("reboot")
    assert direct.get("chaos:key") is None  # the data is gone, as after a node restart
    assert [h["mode"] for h in faults.redis_state()["history"]][-4:] == [
        "hang",
        "down",
        "ok",
        "reboot",
    ]
