"""The edge's IAM guard: AssumeRole bookkeeping, DynamoDB request parsing and decisions."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.edge.iam_guard import IamGuard, Session, access_key_of, deny_response

ACCOUNT = "000000000000"
TABLE = "catalog-table"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/catalog-TenantAccessRole"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TenantPartitionOnly",
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
            ],
            "Resource": TABLE_ARN,
            "Condition": {
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": ["TENANT#${aws:PrincipalTag/TenantId}#*"]
                },
                "Null": {"dynamodb:LeadingKeys": "false"},
            },
        }
    ],
}


async def _describe(table: str, region: str) -> Mapping[str, Any] | None:
    if table != TABLE:
        return None
    return {
        "TableName": TABLE,
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {"IndexName": "bySku", "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}]}
        ],
    }


def _guard(enforce: bool = True, policy: dict[str, Any] = POLICY) -> tuple[IamGuard, Session]:
    guard = IamGuard(None, enforce=enforce)
    session = Session(
        "ASIATEST",
        ROLE_ARN,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/catalog-TenantAccessRole/catalog-acme",
        {"TenantId": "acme"},
        time.time() + 900,
        [policy],
    )
    guard.sessions[session.access_key] = session
    return guard, session


def _check(guard: IamGuard, session: Session, operation: str, request: dict[str, Any]) -> Any:
    body = json.dumps(request).encode()
    return asyncio.run(guard.check(session, operation, "us-east-1", body, _describe))


def key(pk: str, sk: str = "PRODUCT#1") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


OWN = "TENANT#acme#PRODUCT"
OTHER = "TENANT#acme-corp#PRODUCT"  # the prefix collision a bare "acme*" would let through


@pytest.mark.parametrize(
    ("operation", "request_body"),
    [
        ("GetItem", {"TableName": TABLE, "Key": key(OWN)}),
        ("PutItem", {"TableName": TABLE, "Item": {**key(OWN), "name": {"S": "x"}}}),
        ("UpdateItem", {"TableName": TABLE, "Key": key(OWN), "UpdateExpression": "SET a = :a"}),
        ("DeleteItem", {"TableName": TABLE, "Key": key(OWN)}),
        (
            "Query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "#pk = :pk AND begins_with(SK, :sk)",
                "ExpressionAttributeNames": {"#pk": "PK"},
                "ExpressionAttributeValues": {":pk": {"S": OWN}, ":sk": {"S": "PRODUCT#"}},
            },
        ),
        (
            "Query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "PK = :p",
                "ExpressionAttributeValues": {":p": {"S": OWN}},
            },
        ),
        ("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [key(OWN, "A"), key(OWN, "B")]}}}),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    TABLE: [
                        {"PutRequest": {"Item": key(OWN, "A")}},
                        {"DeleteRequest": {"Key": key(OWN, "B")}},
                    ]
                }
            },
        ),
    ],
)
def test_own_partition_is_allowed_and_another_tenants_denied(
    operation: str, request_body: dict[str, Any]
) -> None:
    guard, session = _guard()
    assert _check(guard, session, operation, request_body) is None
    foreign = json.loads(json.dumps(request_body).replace(OWN, OTHER))
    denial = _check(guard, session, operation, foreign)
    assert denial is not None
    assert denial.action.startswith("dynamodb:")
    head, _, body = denial.response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    error = json.loads(body)
    assert error["__type"] == "com.amazon.coral.service#AccessDeniedException"
    assert error["Message"] == (
        f"User: {session.arn} is not authorized to perform: {denial.action} on resource: "
        f"{TABLE_ARN} because no identity-based policy allows the {denial.action} action"
    )
    assert guard.counts["allowed"] >= 1 and guard.counts["denied"] == 1
    last = guard.log(denied_only=True)[-1]
    assert last["tags"] == {"TenantId": "acme"} and OTHER in last["leading_keys"]


def test_batch_write_with_mixed_tenants_is_denied() -> None:
    guard, session = _guard()
    request = {
        "RequestItems": {
            TABLE: [
                {"PutRequest": {"Item": key(OWN, "A")}},
                {"PutRequest": {"Item": key(OTHER, "B")}},
            ]
        }
    }
    denial = _check(guard, session, "BatchWriteItem", request)
    assert denial is not None and denial.action == "dynamodb:BatchWriteItem"


def test_transactions_authorise_each_item_action() -> None:
    guard, session = _guard()
    items = [
        {"Put": {"TableName": TABLE, "Item": key(OWN, "A")}},
        {"Delete": {"TableName": TABLE, "Key": key(OTHER, "B")}},
    ]
    denial = _check(guard, session, "TransactWriteItems", {"TransactItems": items})
    assert denial is not None and denial.action == "dynamodb:DeleteItem"
    own = [{"Get": {"TableName": TABLE, "Key": key(OWN, "A")}}]
    # TransactGetItems is authorised as GetItem per item: allowed on the caller's partition.
    assert _check(guard, session, "TransactGetItems", {"TransactItems": own}) is None


def test_scan_has_no_leading_keys_and_the_null_condition_denies_it() -> None:
    guard, session = _guard()
    assert _check(guard, session, "Scan", {"TableName": TABLE}) is not None
    # Without the Null condition, ForAllValues over no values is true: the Scan is allowed.
    loose = json.loads(json.dumps(POLICY))
    del loose["Statement"][0]["Condition"]["Null"]
    guard, session = _guard(policy=loose)
    assert _check(guard, session, "Scan", {"TableName": TABLE}) is None


def test_index_query_uses_the_index_key_and_resource() -> None:
    guard, session = _guard()
    request = {
        "TableName": TABLE,
        "IndexName": "bySku",
        "KeyConditionExpression": "sku = :s",
        "ExpressionAttributeValues": {":s": {"S": "TENANT#acme#sku1"}},
    }
    denial = _check(guard, session, "Query", request)
    # the policy names the table, not its indexes: AWS denies on table/T/index/I
    assert denial is not None and denial.resource == TABLE_ARN + "/index/bySku"
    assert guard.log()[-1]["leading_keys"] == ["TENANT#acme#sku1"]


def test_actions_the_policy_does_not_name_are_denied() -> None:
    guard, session = _guard()
    denial = _check(guard, session, "DescribeTable", {"TableName": TABLE})
    assert denial is not None and denial.action == "dynamodb:DescribeTable"


def test_record_only_mode_never_denies_but_counts() -> None:
    guard, session = _guard(enforce=False)
    assert _check(guard, session, "GetItem", {"TableName": TABLE, "Key": key(OTHER)}) is None
    assert guard.summary()["denied"] == 1 and guard.summary()["enforce"] is False


def test_expired_credentials_answer_expired_token() -> None:
    guard, session = _guard()
    session.expires = time.time() - 1
    denial = _check(guard, session, "GetItem", {"TableName": TABLE, "Key": key(OWN)})
    assert denial is not None and b"ExpiredTokenException" in denial.response


def test_explicit_deny_message() -> None:
    text = deny_response("arn:p", "dynamodb:GetItem", "arn:t", explicit=True).decode()
    assert "with an explicit deny in an identity-based policy" in text


def test_access_key_of_sigv4_header() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=abc"
    )
    assert access_key_of(header) == "ASIAXYZ"
    assert access_key_of("") == ""


def test_assume_role_response_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = IamGuard(None)
    monkeypatch.setattr(guard, "policies_of", lambda arn: [POLICY] if arn == ROLE_ARN else None)
    request = (
        f"Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=catalog-acme"
        "&Tags.member.1.Key=TenantId&Tags.member.1.Value=acme&DurationSeconds=900"
    ).encode()
    xml = (
        "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
        "<AccessKeyId>ASIANEW</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
        "<SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
        "</Credentials><AssumedRoleUser><AssumedRoleId>AROA:catalog-acme</AssumedRoleId>"
        f"<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/catalog-TenantAccessRole/catalog-acme</Arn>"
        "</AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
    )
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n" + xml.encode()
    guard.observe_assume_role(request, "/", response)
    session = guard.session_of("AWS4-HMAC-SHA256 Credential=ASIANEW/20260101/us-east-1/dynamodb/x")
    assert session is not None
    assert session.tags == {"TenantId": "acme"} and session.role_arn == ROLE_ARN
    assert session.arn.endswith("assumed-role/catalog-TenantAccessRole/catalog-acme")
    assert session.expires is not None and session.expires > time.time()
    # an unknown role is not tracked; an error response is ignored
    guard.observe_assume_role(request.replace(b"TenantAccessRole", b"Other"), "/", response)
    guard.observe_assume_role(request, "/", b"HTTP/1.1 403 Forbidden\r\n\r\n<Error/>")
    assert len(guard.sessions) == 1


def test_isolation_iam_section_counts_the_run_and_reports_denials() -> None:
    from harness.isolation.run import iam_section

    guard, session = _guard()
    before = guard.summary()
    _check(guard, session, "GetItem", {"TableName": TABLE, "Key": key(OWN)})
    _check(guard, session, "GetItem", {"TableName": TABLE, "Key": key(OTHER)})
    after = {**guard.summary(), "decisions": guard.log(denied_only=True)}
    section, violations = iam_section(before, after)
    assert section["summary"] == "every call evaluated: 1 allowed, 1 denied"
    assert section["evaluated"] == 2 and len(section["denied_calls"]) == 1
    assert len(violations) == 1 and "dynamodb:GetItem" in violations[0]
    assert iam_section(None, after) == ({"available": False}, [])


def test_role_policies_come_from_the_state_dir_and_follow_a_redeploy(tmp_path: Path) -> None:
    from harness.model import DeployedStack, ResourceRecord

    def save(actions: list[str]) -> None:
        policy = {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        role = ResourceRecord(
            "TenantAccessRole",
            "AWS::IAM::Role",
            "catalog-TenantAccessRole",
            arn=ROLE_ARN,
            properties={"Policies": [{"PolicyName": "p", "PolicyDocument": policy}]},
        )
        stack = DeployedStack("catalog", "stacks/catalog", "template.yaml", time.time())
        stack.resources["TenantAccessRole"] = role
        stack.save(tmp_path)

    save(["dynamodb:GetItem"])
    guard = IamGuard(tmp_path)
    first = guard.policies_of(ROLE_ARN)
    assert first is not None and first[0]["Statement"][0]["Action"] == ["dynamodb:GetItem"]
    assert guard.policies_of("arn:aws:iam::000000000000:role/unknown") is None
    save(["dynamodb:Query"])
    stack_json = tmp_path / "stacks" / "catalog.json"
    os.utime(stack_json, (time.time() + 5, time.time() + 5))  # a later deploy, whatever the clock
    again = guard.policies_of(ROLE_ARN)
    assert again is not None and again[0]["Statement"][0]["Action"] == ["dynamodb:Query"]
