"""The local IAM evaluator, on the tenant-isolation policies people actually write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.isolation.iam import Principal, dynamodb_context, evaluate

TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/orders"


def leading_keys_policy(pattern: str, operator: str = "ForAllValues:StringLike") -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantRows",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                "Resource": TABLE,
                "Condition": {operator: {"dynamodb:LeadingKeys": [pattern]}},
            }
        ],
    }


def check(policy: dict, tenant: str, key: str, action: str = "dynamodb:GetItem") -> bool:
    principal = Principal(tags={"TenantId": tenant})
    return evaluate(
        [policy], action, TABLE, context={"dynamodb:LeadingKeys": [key]}, principal=principal
    ).allowed


def test_exact_tenant_partition_is_allowed() -> None:
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}", "ForAllValues:StringEquals")
    assert check(policy, "acme", "acme")
    assert not check(policy, "acme", "globex")


def test_the_prefix_collision_bug_is_visible() -> None:
    """'acme*' lets acme-corp in: the classic LeadingKeys mistake."""
    sloppy = leading_keys_policy("${aws:PrincipalTag/TenantId}*")
    assert check(sloppy, "acme", "acme#ORDER#1")
    assert check(sloppy, "acme", "acme-corp#ORDER#1")  # the bug
    strict = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    assert check(strict, "acme", "acme#ORDER#1")
    assert not check(strict, "acme", "acme-corp#ORDER#1")


def test_wildcards_inside_a_tag_value_are_literal() -> None:
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    # a tenant named 'a*' must not match every tenant starting with 'a'
    assert not check(policy, "a*", "abc#1")
    assert check(policy, "a*", "a*#1")


def test_missing_tag_never_matches() -> None:
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    decision = evaluate(
        [policy], "dynamodb:GetItem", TABLE, context={"dynamodb:LeadingKeys": ["x#1"]}
    )
    assert decision.effect == "ImplicitDeny"


def test_explicit_deny_wins() -> None:
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    deny = {
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "dynamodb:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/Suspended": "true"}},
            }
        ]
    }
    principal = Principal(tags={"TenantId": "acme", "Suspended": "true"})
    decision = evaluate(
        [policy, deny],
        "dynamodb:GetItem",
        TABLE,
        context={"dynamodb:LeadingKeys": ["acme#1"]},
        principal=principal,
    )
    assert decision.effect == "Deny"


def test_scan_has_no_leading_keys_so_forallvalues_is_vacuously_true() -> None:
    """IAM semantics: ForAllValues over a missing key matches - which is why policies must also
    deny Scan (or use a Null condition)."""
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    policy["Statement"][0]["Action"].append("dynamodb:Scan")
    (action, _, context) = dynamodb_context("Scan", {"TableName": "orders"}, {"orders": "pk"})[0]
    assert evaluate(
        [policy], action, TABLE, context=context, principal=Principal(tags={"TenantId": "acme"})
    ).allowed
    guarded = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    guarded["Statement"][0]["Action"].append("dynamodb:Scan")
    guarded["Statement"][0]["Condition"]["Null"] = {"dynamodb:LeadingKeys": "false"}
    assert not evaluate(
        [guarded], action, TABLE, context=context, principal=Principal(tags={"TenantId": "acme"})
    ).allowed


def test_action_and_resource_wildcards() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "dynamodb:Get*",
                "Resource": "arn:aws:dynamodb:*:*:table/ord*",
            }
        ]
    }
    assert evaluate([policy], "dynamodb:GetItem", TABLE).allowed
    assert not evaluate([policy], "dynamodb:PutItem", TABLE).allowed
    not_action = {
        "Statement": [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}]
    }
    assert evaluate([not_action], "dynamodb:GetItem", TABLE).allowed
    assert not evaluate([not_action], "dynamodb:DeleteItem", TABLE).allowed


def test_query_leading_key_comes_from_the_key_condition() -> None:
    request = {
        "TableName": "orders",
        "KeyConditionExpression": "#p = :t AND begins_with(sk, :s)",
        "ExpressionAttributeNames": {"#p": "pk"},
        "ExpressionAttributeValues": {":t": {"S": "acme#ORDER"}, ":s": {"S": "2026"}},
    }
    [(action, table, context)] = dynamodb_context("Query", request, {"orders": "pk"})
    assert (action, table, context["dynamodb:LeadingKeys"]) == (
        "dynamodb:Query",
        "orders",
        ["acme#ORDER"],
    )


def test_batch_write_expands_every_key() -> None:
    request = {
        "RequestItems": {
            "orders": [
                {"PutRequest": {"Item": {"pk": {"S": "acme#1"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "globex#2"}}}},
            ]
        }
    }
    [(_, _, context)] = dynamodb_context("BatchWriteItem", request, {"orders": "pk"})
    assert context["dynamodb:LeadingKeys"] == ["acme#1", "globex#2"]
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    policy["Statement"][0]["Action"] = "dynamodb:*"
    decision = evaluate(
        [policy],
        "dynamodb:BatchWriteItem",
        TABLE,
        context=context,
        principal=Principal(tags={"TenantId": "acme"}),
    )
    assert not decision.allowed  # one foreign key poisons the whole batch


@pytest.mark.parametrize(
    ("operator", "expected"), [("StringEqualsIgnoreCase", True), ("StringEquals", False)]
)
def test_case_variants(operator: str, expected: bool) -> None:
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}", f"ForAllValues:{operator}")
    assert check(policy, "Acme", "acme") is expected


tenant_ids = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=12
)


@given(owner=tenant_ids, other=tenant_ids, suffix=st.text(max_size=8))
def test_strict_policy_never_lets_another_tenant_in(owner: str, other: str, suffix: str) -> None:
    """Property: with '<tenant>#*', a key of another tenant (one without '#' in it) is refused."""
    if "#" in owner or "#" in other or owner == other:
        return
    policy = leading_keys_policy("${aws:PrincipalTag/TenantId}#*")
    assert check(policy, owner, f"{owner}#{suffix}")
    assert not check(policy, owner, f"{other}#{suffix}")
