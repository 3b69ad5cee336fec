"""IAM ``dynamodb:LeadingKeys`` enforced at the edge for assumed-role keys, on a real environment.

The catalog stack deployed; ``sts:AssumeRole`` of its ``TenantAccessRole`` with the session tag
``TenantId`` made through the edge, then DynamoDB calls through boto3 with those credentials:
the caller's own partition is allowed, another tenant's (a prefix collision included) is refused
with DynamoDB's ``AccessDeniedException``, and every decision is on ``/_harness/edge/iam``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.model import DeployedStack

pytestmark = pytest.mark.integration

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "catalog"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(
        Settings.load(state_dir=tmp_path_factory.mktemp("edge-iam-state"), runtime=False)
    ) as env:
        yield env


@pytest.fixture(scope="module")
def stack(env: Environment) -> DeployedStack:
    deployed = deploy_stack(env, STACK_DIR)
    base = env.client("dynamodb")
    for tenant in ("acme", "acme-corp"):
        base.put_item(
            TableName=deployed.resources["CatalogTable"].physical_id,
            Item={"PK": {"S": f"TENANT#{tenant}#PRODUCT"}, "SK": {"S": "PRODUCT#p1"}},
        )
    return deployed


def _tenant_client(env: Environment, stack: DeployedStack, tenant: str) -> Any:
    role_arn = stack.resources["TenantAccessRole"].arn
    creds = env.client("sts").assume_role(
        RoleArn=role_arn,
        RoleSessionName=f"test-{tenant}",
        Tags=[{"Key": "TenantId", "Value": tenant}],
        DurationSeconds=900,
    )["Credentials"]
    return boto3.client(
        "dynamodb",
        endpoint_url=env.endpoints["aws_endpoint"],
        region_name=env.endpoints.get("region", "us-east-1"),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _iam_log(env: Environment) -> dict[str, Any]:
    from harness.env.secret import control_headers

    url = f"{env.endpoints['aws_endpoint']}/_harness/edge/iam"
    request = urllib.request.Request(url, headers=control_headers(env.endpoints))
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.load(answer))


def test_leading_keys_enforced_for_assumed_role_credentials(
    env: Environment, stack: DeployedStack
) -> None:
    table = stack.resources["CatalogTable"].physical_id
    acme = _tenant_client(env, stack, "acme")
    own = acme.get_item(
        TableName=table, Key={"PK": {"S": "TENANT#acme#PRODUCT"}, "SK": {"S": "PRODUCT#p1"}}
    )
    assert own["Item"]["SK"]["S"] == "PRODUCT#p1"
    answer = acme.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "TENANT#acme#PRODUCT"}},
    )
    assert answer["Count"] == 1

    with pytest.raises(ClientError) as denied:
        acme.get_item(
            TableName=table,
            Key={"PK": {"S": "TENANT#acme-corp#PRODUCT"}, "SK": {"S": "PRODUCT#p1"}},
        )
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "assumed-role/" in error["Message"] and "/test-acme is not authorized" in error["Message"]
    )
    assert error["Message"].endswith(
        f"table/{table} because no identity-based policy allows the dynamodb:GetItem action"
    )
    with pytest.raises(ClientError) as denied_query:
        acme.query(
            TableName=table,
            KeyConditionExpression="#p = :pk",
            ExpressionAttributeNames={"#p": "PK"},
            ExpressionAttributeValues={":pk": {"S": "TENANT#acme-corp#PRODUCT"}},
        )
    assert denied_query.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as denied_scan:
        acme.scan(TableName=table)
    assert denied_scan.value.response["Error"]["Code"] == "AccessDeniedException"

    # the other tenant's session reaches its own rows; the base credentials are not evaluated
    corp = _tenant_client(env, stack, "acme-corp")
    assert "Item" in corp.get_item(
        TableName=table,
        Key={"PK": {"S": "TENANT#acme-corp#PRODUCT"}, "SK": {"S": "PRODUCT#p1"}},
    )
    env.client("dynamodb").scan(TableName=table)

    log = _iam_log(env)
    assert log["enforce"] is True
    assert (log["allowed"], log["denied"]) == (3, 3)
    assert log["evaluated"] == 6
    denied_calls = [d for d in log["decisions"] if not d["allowed"]]
    assert {d["action"] for d in denied_calls} == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
    assert all(d["tags"] == {"TenantId": "acme"} for d in denied_calls)
    assert ["TENANT#acme-corp#PRODUCT"] in [d["leading_keys"] for d in denied_calls]
