"""``harness smoke``: bring the environment up, make one real call to every service, take it down.

Every call goes through ``aws_endpoint`` (the edge), exactly as a deployed function's calls do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from harness.config import Settings
from harness.env.environment import Environment

__all__ = ["run_smoke", "smoke_checks"]


def _check(name: str, func: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = func()
        passed = True
    except Exception as exc:  # a smoke check reports every failure instead of stopping
        detail = f"{exc.__class__.__name__}: {exc}"
        passed = False
    return {
        "name": name,
        "passed": passed,
        "detail": detail,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def smoke_checks(env: Environment) -> list[dict[str, Any]]:
    """One real round trip per service; returns a result per check."""
    suffix = uuid.uuid4().hex[:8]
    checks: list[dict[str, Any]] = []

    def dynamodb() -> str:
        ddb = env.client("dynamodb")
        table = f"smoke-{suffix}"
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName=table, Item={"pk": {"S": "tenant-a#1"}, "v": {"N": "42"}})
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "tenant-a#1"}})["Item"]
        ddb.delete_table(TableName=table)
        assert item["v"]["N"] == "42", item
        return "CreateTable/PutItem/GetItem/DeleteTable"

    def sqs() -> str:
        client = env.client("sqs")
        url = client.create_queue(QueueName=f"smoke-{suffix}")["QueueUrl"]
        client.send_message(QueueUrl=url, MessageBody="hello")
        messages = client.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        assert messages and messages[0]["Body"] == "hello", messages
        client.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        client.delete_queue(QueueUrl=url)
        return "CreateQueue/SendMessage/ReceiveMessage/DeleteMessage"

    def sns() -> str:
        client = env.client("sns")
        arn = client.create_topic(Name=f"smoke-{suffix}")["TopicArn"]
        client.publish(TopicArn=arn, Message="hello")
        client.delete_topic(TopicArn=arn)
        return "CreateTopic/Publish"

    def events() -> str:
        client = env.client("events")
        result = client.put_events(
            Entries=[{"Source": "harness.smoke", "DetailType": "Smoke", "Detail": "{}"}]
        )
        assert result["FailedEntryCount"] == 0, result
        return "PutEvents"

    def s3() -> str:
        client = env.client("s3")
        bucket = f"smoke-{suffix}"
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
        body = client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read()
        client.delete_object(Bucket=bucket, Key="a/b.txt")
        client.delete_bucket(Bucket=bucket)
        assert body == b"hello", body
        return "CreateBucket/PutObject/GetObject"

    def ssm() -> str:
        client = env.client("ssm")
        name = f"/smoke/{suffix}"
        client.put_parameter(Name=name, Value="v1", Type="String")
        value = client.get_parameter(Name=name)["Parameter"]["Value"]
        client.delete_parameter(Name=name)
        assert value == "v1", value
        return "PutParameter/GetParameter"

    def secrets() -> str:
        client = env.client("secretsmanager")
        name = f"smoke/{suffix}"
        client.create_secret(Name=name, SecretString="s3cret")
        value = client.get_secret_value(SecretId=name)["SecretString"]
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        assert value == "s3cret", value
        return "CreateSecret/GetSecretValue"

    def sts() -> str:
        account: str = env.client("sts").get_caller_identity()["Account"]
        return f"GetCallerIdentity: {account}"

    def iam() -> str:
        client = env.client("iam")
        name = f"smoke-{suffix}"
        client.create_role(
            RoleName=name, AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}'
        )
        client.delete_role(RoleName=name)
        return "CreateRole/DeleteRole"

    def logs() -> str:
        client = env.client("logs")
        group = f"/smoke/{suffix}"
        client.create_log_group(logGroupName=group)
        client.delete_log_group(logGroupName=group)
        return "CreateLogGroup/DeleteLogGroup"

    def cognito() -> str:
        client = env.client("cognito-idp")
        pool = client.create_user_pool(PoolName=f"smoke-{suffix}")["UserPool"]["Id"]
        client.delete_user_pool(UserPoolId=pool)
        return "CreateUserPool/DeleteUserPool"

    def redis() -> str:
        conn = env.redis(socket_timeout=2)
        assert conn.ping()
        conn.set(f"smoke:{suffix}", "1", ex=10)
        assert conn.get(f"smoke:{suffix}") == b"1"
        return "PING/SET/GET"

    def gateway() -> str:
        from harness.env.probes import http_ok

        url = env.endpoints["gateway_url"] + "/_harness/health"
        assert http_ok(url, accept_any_status=False), url
        return "GET /_harness/health"

    for name, func in [
        ("dynamodb", dynamodb),
        ("sqs", sqs),
        ("sns", sns),
        ("events", events),
        ("s3", s3),
        ("ssm", ssm),
        ("secretsmanager", secrets),
        ("sts", sts),
        ("iam", iam),
        ("logs", logs),
        ("cognito-idp", cognito),
        ("redis", redis),
        ("gateway", gateway),
    ]:
        checks.append(_check(name, func))
    return checks


def run_smoke(settings: Settings, *, keep: bool = False) -> dict[str, Any]:
    env = Environment(settings)
    started = time.perf_counter()
    env.start()
    up_seconds = time.perf_counter() - started
    attached = not env.owned
    try:
        checks = smoke_checks(env)
    finally:
        if not keep and env.owned:
            env.stop()
    return {
        "passed": all(c["passed"] for c in checks),
        "up_seconds": round(up_seconds, 2),
        "attached": attached,
        "endpoints": env.endpoints if keep else None,
        "checks": checks,
    }
