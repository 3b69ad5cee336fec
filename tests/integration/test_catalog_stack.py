"""The catalog stack deployed on a real environment, its handlers called in-process.

One environment and one deploy for the module (~15 s); the seed data is loaded through boto3; the
handlers get HTTP API payload 2.0 events built here and talk to the real DynamoDB through the
AWS edge. Every DynamoDB request they make is recorded and evaluated against the stack's IAM
policies with the local ``dynamodb:LeadingKeys`` evaluator.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.aws import aws_environ
from harness.deploy import deploy_stack
from harness.isolation.iam import Principal, dynamodb_context, evaluate
from harness.model import DeployedStack
from tests.fixtures.modules import load_module

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / "stacks" / "catalog"
sys.path.insert(0, str(STACK_DIR / "src"))

from catalog_app import common, orders, products  # noqa: E402

events = load_module("catalog_events", STACK_DIR / "fixtures" / "events.py")
seed = load_module("catalog_seed", STACK_DIR / "fixtures" / "seed.py")

TENANTS = ("tenant-basic", "tenant-standard", "tenant-premium")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(
        Settings.load(state_dir=tmp_path_factory.mktemp("catalog-state"), runtime=False)
    ) as env:
        yield env


@pytest.fixture(scope="module")
def stack(env: Environment) -> DeployedStack:
    deployed = deploy_stack(env, STACK_DIR)
    counts = seed.load(env, deployed)
    assert counts["tenant-premium:products"] == 12 and counts["tenant-basic:orders"] == 3
    return deployed


class Recorder:
    """Every DynamoDB request the handlers send: (operation, params, tenant of the client)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, json.loads(json.dumps(params, default=str))))


@pytest.fixture
def recorder(env: Environment, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The handlers' environment (the function's variables + the edge) and a fresh client."""
    for name, value in {
        **stack.functions["OrdersFunction"].environment,
        **aws_environ(env.endpoints),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(common, "_CLIENTS", {})
    monkeypatch.setattr(common, "_TENANT_CREDS", {})
    rec = Recorder()
    real_ddb = common.ddb

    def ddb(tenant: str) -> Any:
        client = real_ddb(tenant)
        if not getattr(client, "_catalog_recorded", False):
            client.meta.events.register("provide-client-params.dynamodb.*", rec)
            client._catalog_recorded = True
        return client

    monkeypatch.setattr(common, "ddb", ddb)
    return rec


def call(handler: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    result = handler(events.http_event(*args, **kwargs), events.LambdaContext())
    assert result["headers"]["content-type"] == "application/json"
    return result["statusCode"], json.loads(result["body"])


def violations(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("message") == "security violation"]


def table(stack: DeployedStack) -> str:
    return stack.resources["CatalogTable"].physical_id


def partition(env: Environment, stack: DeployedStack, pk: str) -> list[dict[str, Any]]:
    answer = env.client("dynamodb").query(
        TableName=table(stack),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return list(answer["Items"])


# -- the deployed shape -------------------------------------------------------------------------


def test_deployed_stack_matches_the_seed(stack: DeployedStack, env: Environment) -> None:
    api = stack.apis["CatalogApi"]
    assert api.kind == "http"
    routes = {(r.method, r.path): r for r in api.routes}
    assert set(routes) == {("GET", "/catalog"), ("GET", "/catalog/{id}"), ("POST", "/orders"),
                           ("GET", "/orders"), ("GET", "/orders/{id}")}  # fmt: skip
    assert all(r.authorizer == "TenantJwt" for r in routes.values())
    auth = api.authorizers["TenantJwt"]
    assert auth.type == "jwt" and len(auth.audience) == 3
    assert auth.issuer.startswith("https://cognito-idp.us-east-1.amazonaws.com/")
    described = env.client("dynamodb").describe_table(TableName=table(stack))["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {
        "PK": "HASH", "SK": "RANGE"
    }  # fmt: skip
    idp = env.client("cognito-idp")
    pool = stack.resources["UserPool"].physical_id
    for logical, tenant in (("BasicTenantClient", "tenant-basic"),
                            ("PremiumTenantClient", "tenant-premium")):  # fmt: skip
        client = idp.describe_user_pool_client(
            UserPoolId=pool, ClientId=stack.resources[logical].physical_id
        )["UserPoolClient"]
        assert client["ClientName"] == tenant and client.get("ClientSecret")
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
    tiers = stack.profile["tenancy"]["tiers"]
    assert (tiers["basic"]["rate"], tiers["basic"]["burst"], tiers["basic"]["quota"]) == (
        10, 20, 100000
    )  # fmt: skip
    assert (tiers["premium"]["rate"], tiers["premium"]["quota"]) == (1000, 10000000)


# -- contracts ----------------------------------------------------------------------------------


def test_catalog_list_get_and_pagination(stack: DeployedStack, recorder: Recorder) -> None:
    status, body = call(products.handler, "GET", "/catalog", tenant="tenant-premium",
                        query={"limit": "5"})  # fmt: skip
    assert status == 200 and body["count"] == 5 and body["next_token"]
    assert body["tenant_id"] == "tenant-premium" and body["request_id"]
    ids = [p["product_id"] for p in body["items"]]
    token = body["next_token"]
    while token:
        status, body = call(products.handler, "GET", "/catalog", tenant="tenant-premium",
                            query={"limit": "5", "next_token": token})  # fmt: skip
        assert status == 200
        ids += [p["product_id"] for p in body["items"]]
        token = body["next_token"]
    assert ids == [f"prod-{i:03d}" for i in range(1, 13)]
    status, body = call(products.handler, "GET", "/catalog/{id}", tenant="tenant-standard",
                        path_params={"id": "prod-002"})  # fmt: skip
    assert status == 200 and body["product"]["name"] == "Hammer (standard)"
    assert body["product"]["price"] == 19.99
    status, body = call(products.handler, "GET", "/catalog/{id}", tenant="tenant-basic",
                        path_params={"id": "prod-010"})  # fmt: skip
    assert status == 404 and body["error"] == "not_found"
    status, body = call(products.handler, "GET", "/catalog", tenant="tenant-basic",
                        query={"limit": "500"})  # fmt: skip
    assert status == 400 and body["tenant_id"] == "tenant-basic"


def test_orders_create_get_list(env: Environment, stack: DeployedStack, recorder: Recorder) -> None:
    status, body = call(
        orders.handler, "POST", "/orders", tenant="tenant-standard",
        body={"items": [{"product_id": "prod-001", "quantity": 3},
                        {"product_id": "prod-005", "quantity": 2}]},
    )  # fmt: skip
    assert status == 201, body
    order = body["order"]
    assert order["total"] == 34.47  # 3 x 4.99 + 2 x 9.75
    stored = env.client("dynamodb").get_item(
        TableName=table(stack),
        Key={
            "PK": {"S": "TENANT#tenant-standard#ORDER"},
            "SK": {"S": f"ORDER#{order['order_id']}"},
        },
    )["Item"]
    assert stored["tenant_id"] == {"S": "tenant-standard"} and stored["total"] == {"N": "34.47"}
    status, got = call(orders.handler, "GET", "/orders/{id}", tenant="tenant-standard",
                       path_params={"id": order["order_id"]})  # fmt: skip
    assert status == 200 and got["order"] == order
    status, listed = call(orders.handler, "GET", "/orders", tenant="tenant-standard")
    assert status == 200 and order["order_id"] in {o["order_id"] for o in listed["items"]}
    retry = {"items": [{"product_id": "prod-003", "quantity": 1}]}
    key = {"Idempotency-Key": "integration-retry-1"}
    status, first = call(orders.handler, "POST", "/orders", tenant="tenant-standard", body=retry,
                         headers=key)  # fmt: skip
    assert status == 201
    status, again = call(orders.handler, "POST", "/orders", tenant="tenant-standard", body=retry,
                         headers=key)  # fmt: skip
    assert status == 200 and again["order"] == first["order"]
    status, conflict = call(orders.handler, "POST", "/orders", tenant="tenant-standard",
                            body={"items": [{"product_id": "prod-004", "quantity": 1}]},
                            headers=key)  # fmt: skip
    assert status == 409 and conflict["error"] == "idempotency_conflict"
    for bad in ({"items": []}, {"items": [{"product_id": "prod-001", "quantity": 0}]},
                {"items": [{"product_id": "prod-404", "quantity": 1}]}):  # fmt: skip
        status, answer = call(orders.handler, "POST", "/orders", tenant="tenant-standard", body=bad)
        assert status == 400 and answer["error"] in ("validation_error", "unknown_products")


def test_order_ids_are_signed_with_the_key_in_secrets_manager(
    env: Environment, stack: DeployedStack, recorder: Recorder
) -> None:
    """Seed 002: secrets in Secrets Manager. The order-id HMAC key is a secret generated at
    deploy (no template default), and the handlers sign with what it holds."""
    import hashlib
    import hmac

    secret = stack.functions["OrdersFunction"].environment["ORDER_ID_KEY_SECRET"]
    assert stack.functions["CatalogFunction"].environment["ORDER_ID_KEY_SECRET"] == secret
    assert "ORDER_ID_KEY" not in stack.functions["OrdersFunction"].environment
    value = env.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    assert len(value) == 48 and value.isalnum()
    status, body = call(orders.handler, "POST", "/orders", tenant="tenant-basic",
                        body={"items": [{"product_id": "prod-001", "quantity": 1}]})  # fmt: skip
    assert status == 201, body
    match = common.SIGNED_ORDER_RE.fullmatch(body["order"]["order_id"])
    assert match is not None
    raw, tag = match.groups()
    expected = hmac.new(value.encode(), f"tenant-basic/{raw}".encode(), hashlib.sha256)
    assert tag == expected.hexdigest()[:12]


# -- isolation ----------------------------------------------------------------------------------


def test_tenant_a_cannot_reach_tenant_b(
    env: Environment, stack: DeployedStack, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    status, body = call(orders.handler, "POST", "/orders", tenant="tenant-premium",
                        body={"items": [{"product_id": "prod-011", "quantity": 1}]})  # fmt: skip
    assert status == 201
    b_order = body["order"]["order_id"]
    b_before = partition(env, stack, "TENANT#tenant-premium#ORDER")
    capsys.readouterr()

    # read B's order by id
    status, body = call(orders.handler, "GET", "/orders/{id}", tenant="tenant-basic",
                        path_params={"id": b_order})  # fmt: skip
    assert status == 404 and body["tenant_id"] == "tenant-basic"
    [line] = violations(capsys)
    assert line["violation"] == "foreign_order_id" and line["tenant_id"] == "tenant-basic"
    # list: only A's own orders, whatever A says about the tenant
    status, body = call(orders.handler, "GET", "/orders", tenant="tenant-basic")
    assert status == 200 and b_order not in {o["order_id"] for o in body["items"]}
    status, body = call(orders.handler, "GET", "/orders", tenant="tenant-basic",
                        query={"tenant_id": "tenant-premium"})  # fmt: skip
    assert status == 403
    status, body = call(products.handler, "GET", "/catalog", tenant="tenant-basic",
                        headers={"x-tenant-id": "tenant-premium"})  # fmt: skip
    assert status == 403
    # create in B's name, or with B's product ids
    status, body = call(orders.handler, "POST", "/orders", tenant="tenant-basic",
                        body={"tenant_id": "tenant-premium",
                              "items": [{"product_id": "prod-001", "quantity": 1}]})  # fmt: skip
    assert status == 403
    status, body = call(orders.handler, "POST", "/orders", tenant="tenant-basic",
                        body={"items": [{"product_id": "prod-011", "quantity": 1}]})  # fmt: skip
    assert status == 400 and body["error"] == "unknown_products"
    lines = violations(capsys)
    assert [x["violation"] for x in lines] == ["foreign_tenant_in_request"] * 3
    assert all(x["tenant_id"] == "tenant-basic" for x in lines)
    assert partition(env, stack, "TENANT#tenant-premium#ORDER") == b_before
    # no request of tenant-basic ever touched another partition
    for _op, params in recorder.calls:
        text = json.dumps(params)
        assert "tenant-premium" not in text or "TENANT#tenant-premium#" in text
    basic_calls = [p for _, p in recorder.calls if "TENANT#tenant-basic#" in json.dumps(p)]
    assert basic_calls and all("tenant-premium" not in json.dumps(p) for p in basic_calls)


# -- IAM: LeadingKeys on every key the handlers touch -------------------------------------------


def _tenant_policies(stack: DeployedStack) -> list[dict[str, Any]]:
    role = stack.resources["TenantAccessRole"]
    return [p["PolicyDocument"] for p in role.properties["Policies"]]


def _exercise_every_handler(tenant: str) -> None:
    call(products.handler, "GET", "/catalog", tenant=tenant, query={"limit": "2"})
    call(products.handler, "GET", "/catalog/{id}", tenant=tenant, path_params={"id": "prod-001"})
    status, body = call(orders.handler, "POST", "/orders", tenant=tenant,
                        body={"items": [{"product_id": "prod-001", "quantity": 1},
                                        {"product_id": "prod-002", "quantity": 1}]})  # fmt: skip
    assert status == 201, body
    call(orders.handler, "GET", "/orders/{id}", tenant=tenant,
         path_params={"id": body["order"]["order_id"]})  # fmt: skip
    call(orders.handler, "GET", "/orders", tenant=tenant)
    retried = {"items": [{"product_id": "prod-003", "quantity": 1}]}
    for expected in (201, 200):  # a retried POST: PutItem refused, then a consistent GetItem
        status, _ = call(orders.handler, "POST", "/orders", tenant=tenant, body=retried,
                         headers={"Idempotency-Key": f"iam-{tenant}"})  # fmt: skip
        assert status == expected


def test_every_dynamodb_key_passes_only_the_callers_leading_keys_policy(
    stack: DeployedStack, recorder: Recorder
) -> None:
    arn = stack.resources["CatalogTable"].arn
    assert arn is not None
    hash_keys = {table(stack): "PK"}
    tenant_policies = _tenant_policies(stack)
    for tenant in TENANTS:
        recorder.calls.clear()
        _exercise_every_handler(tenant)
        ops = {op for op, _ in recorder.calls}
        assert ops == {"Query", "GetItem", "BatchGetItem", "PutItem"}
        for op, params in recorder.calls:
            for action, _table, context in dynamodb_context(op, params, hash_keys):
                assert context["dynamodb:LeadingKeys"], (op, params)
                function_role = stack.functions["OrdersFunction"].policies
                if op in ("Query", "GetItem"):
                    function_role = [*function_role, *stack.functions["CatalogFunction"].policies]
                assert evaluate(function_role, action, arn, context=context).allowed
                own = evaluate(tenant_policies, action, arn, context=context,
                               principal=Principal(tags={"TenantId": tenant}))  # fmt: skip
                assert own.allowed, (tenant, op, context, own.reason)
                for other in (t for t in TENANTS if t != tenant):
                    denied = evaluate(tenant_policies, action, arn, context=context,
                                      principal=Principal(tags={"TenantId": other}))  # fmt: skip
                    assert not denied.allowed, (other, op, context)
                # the prefix is '#'-terminated: "tenant" does not reach "tenant-basic"
                prefix = evaluate(tenant_policies, action, arn, context=context,
                                  principal=Principal(tags={"TenantId": "tenant"}))  # fmt: skip
                assert not prefix.allowed


def test_tenant_policy_refuses_scans_and_untagged_sessions(stack: DeployedStack) -> None:
    arn = stack.resources["CatalogTable"].arn
    policies = _tenant_policies(stack)
    tagged = Principal(tags={"TenantId": "tenant-basic"})
    scan = dynamodb_context("Scan", {"TableName": table(stack)}, {table(stack): "PK"})[0]
    assert not evaluate(policies, scan[0], arn, context=scan[2], principal=tagged).allowed
    empty = {"dynamodb:LeadingKeys": None}
    assert not evaluate(policies, "dynamodb:Query", arn, context=empty, principal=tagged).allowed
    key = {"dynamodb:LeadingKeys": ["TENANT#tenant-basic#ORDER"]}
    assert not evaluate(
        policies, "dynamodb:GetItem", arn, context=key, principal=Principal()
    ).allowed
    assert not evaluate(policies, "dynamodb:DeleteItem", arn, context=key, principal=tagged).allowed


def test_the_stronger_variant_runs_on_tenant_scoped_credentials(
    env: Environment, stack: DeployedStack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TENANT_ROLE_ARN the handlers assume the tenant role (session tag TenantId) first."""
    role_arn = stack.resources["TenantAccessRole"].arn
    assert role_arn
    monkeypatch.setenv("TENANT_ROLE_ARN", role_arn)
    status, body = call(products.handler, "GET", "/catalog", tenant="tenant-standard")
    assert status == 200 and body["count"] == 9
    assert "tenant-standard" in common._TENANT_CREDS
    status, body = call(orders.handler, "POST", "/orders", tenant="tenant-standard",
                        body={"items": [{"product_id": "prod-001", "quantity": 1}]})  # fmt: skip
    assert status == 201
