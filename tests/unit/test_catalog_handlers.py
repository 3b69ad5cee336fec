"""The catalog stack's handler logic, in-process, against an in-memory DynamoDB fake.

Validation (400 JSON, never 500), key building, tenant extraction from the authorizer claims
only, cross-tenant denial (403/404 + a ``security violation`` line), pagination tokens that
cannot leave the tenant's partition, EMF metric lines, and the seed data's shape.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.modules import load_module

STACK = Path(__file__).resolve().parents[2] / "stacks" / "catalog"
sys.path.insert(0, str(STACK / "src"))

from catalog_app import common, orders, products, token_claims  # noqa: E402

events = load_module("catalog_events", STACK / "fixtures" / "events.py")
seed = load_module("catalog_seed", STACK / "fixtures" / "seed.py")
http_event, claims_for, LambdaContext = events.http_event, events.claims_for, events.LambdaContext

TABLE = "catalog-table"


class FakeDynamo:
    """Just enough DynamoDB for the handlers: keys, begins_with queries, Limit, start keys."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def put(self, item: dict[str, Any]) -> None:
        self.items[(item["PK"]["S"], item["SK"]["S"])] = item

    def get_item(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("GetItem", kw))
        item = self.items.get((kw["Key"]["PK"]["S"], kw["Key"]["SK"]["S"]))
        return {"Item": item} if item else {}

    def put_item(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("PutItem", kw))
        key = (kw["Item"]["PK"]["S"], kw["Item"]["SK"]["S"])
        assert kw.get("ConditionExpression") == "attribute_not_exists(PK)"
        if key in self.items:
            from botocore.exceptions import ClientError

            error = {"Code": "ConditionalCheckFailedException", "Message": "exists"}
            raise ClientError({"Error": error}, "PutItem")
        self.items[key] = kw["Item"]
        return {}

    def batch_get_item(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("BatchGetItem", kw))
        out: dict[str, list[Any]] = {}
        for table, spec in kw["RequestItems"].items():
            out[table] = [
                self.items[(k["PK"]["S"], k["SK"]["S"])]
                for k in spec["Keys"]
                if (k["PK"]["S"], k["SK"]["S"]) in self.items
            ]
        return {"Responses": out, "UnprocessedKeys": {}}

    def query(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("Query", kw))
        assert kw["KeyConditionExpression"] == "PK = :pk AND begins_with(SK, :sk)"
        values = kw["ExpressionAttributeValues"]
        pk, prefix = values[":pk"]["S"], values[":sk"]["S"]
        rows = sorted(
            (sk, item) for (p, sk), item in self.items.items() if p == pk and sk.startswith(prefix)
        )
        start = kw.get("ExclusiveStartKey")
        if start:
            assert start["PK"]["S"] == pk
            rows = [r for r in rows if r[0] > start["SK"]["S"]]
        page = rows[: kw["Limit"]]
        if kw.get("FilterExpression"):
            category = values[":category"]["S"]
            page_items = [i for _, i in page if i.get("category", {}).get("S") == category]
        else:
            page_items = [i for _, i in page]
        answer: dict[str, Any] = {"Items": page_items, "Count": len(page_items)}
        if len(rows) > kw["Limit"]:
            answer["LastEvaluatedKey"] = {"PK": {"S": pk}, "SK": {"S": page[-1][0]}}
        return answer


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDynamo]:
    from boto3.dynamodb.types import TypeSerializer

    fake = FakeDynamo()
    ser = TypeSerializer()
    for row in seed.items():
        fake.put({k: ser.serialize(v) for k, v in row.items()})
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("TENANT_CLAIM", "tenant_id")
    monkeypatch.setenv("TIER_CLAIM", "tier")
    monkeypatch.setenv("ORDER_ID_KEY", "unit-test-key")
    monkeypatch.delenv("TENANT_ROLE_ARN", raising=False)
    monkeypatch.setattr(common, "ddb", lambda tenant: fake)
    yield fake


def call(handler: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    result = handler(http_event(*args, **kwargs), LambdaContext())
    return result["statusCode"], json.loads(result["body"]), result["headers"]


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def violations(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [r for r in log_lines(capsys) if r.get("message") == "security violation"]


# -- keys and tenant extraction -------------------------------------------------------------------


def test_keys_follow_the_single_table_design() -> None:
    assert common.product_pk("tenant-basic") == "TENANT#tenant-basic#PRODUCT"
    assert common.order_pk("tenant-basic") == "TENANT#tenant-basic#ORDER"
    assert common.product_sk("prod-001") == "PRODUCT#prod-001"
    assert common.order_sk("order-001") == "ORDER#order-001"
    assert common.key("A", "B") == {"PK": {"S": "A"}, "SK": {"S": "B"}}


def test_tenant_comes_only_from_the_authorizer_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_CLAIM", "tenant_id")
    event = http_event(
        "GET", "/catalog", tenant="tenant-a", headers={"x-tenant-id": "tenant-b"},
        query={"tenant_id": "tenant-b"},
    )  # fmt: skip
    assert common.tenant_from_event(event)[0] == "tenant-a"
    event["requestContext"]["authorizer"] = {}
    assert common.tenant_from_event(event)[0] is None  # never from the header or query
    rest = {"requestContext": {"authorizer": {"claims": {"tenant_id": "t-rest"}}}}
    assert common.tenant_from_event(rest)[0] == "t-rest"
    lam = {"requestContext": {"authorizer": {"lambda": {"tenant_id": "t-lambda"}}}}
    assert common.tenant_from_event(lam)[0] == "t-lambda"
    monkeypatch.setenv("TENANT_CLAIM", "custom:tenant_id")
    custom = http_event("GET", "/catalog", claims={"custom:tenant_id": "t-custom"})
    assert common.tenant_from_event(custom)[0] == "t-custom"


@pytest.mark.parametrize(
    "tenant, ok",
    [("tenant-basic", True), ("acme", True), ("a.b_c-1", True), ("acme#ORDER", False),
     ("", False), ("x" * 65, False), ("-lead", False), ("t/1", False), ("t 1", False)],
)  # fmt: skip
def test_tenant_ids_that_could_cross_a_key_prefix_are_refused(tenant: str, ok: bool) -> None:
    assert common.valid_tenant(tenant) is ok


def test_missing_tenant_claim_is_403_and_logged(db: FakeDynamo, capsys) -> None:
    status, body, _ = call(products.handler, "GET", "/catalog", claims=claims_for(None))
    assert status == 403 and body["error"] == "forbidden" and body["tenant_id"] is None
    assert body["request_id"]
    [line] = violations(capsys)
    assert line["violation"] == "missing_tenant_claim" and line["level"] == "WARNING"
    assert db.calls == []


def test_malformed_tenant_claim_is_403(db: FakeDynamo, capsys) -> None:
    status, _, _ = call(products.handler, "GET", "/catalog", tenant="tenant-basic#PRODUCT")
    assert status == 403
    assert violations(capsys)[0]["violation"] == "malformed_tenant_claim"
    assert db.calls == []


# -- catalog ------------------------------------------------------------------------------------


def test_list_catalog_is_scoped_and_carries_tenant_and_request_id(db: FakeDynamo) -> None:
    status, body, headers = call(products.handler, "GET", "/catalog", tenant="tenant-basic")
    assert status == 200
    assert body["tenant_id"] == "tenant-basic" and body["request_id"] == headers["x-request-id"]
    assert body["count"] == 6 and body["next_token"] is None
    assert {p["product_id"] for p in body["items"]} == {f"prod-00{i}" for i in range(1, 7)}
    assert all("PK" not in p and "tenant_id" not in p for p in body["items"])
    assert body["items"][0]["price"] == 4.99
    [(op, params)] = db.calls
    assert op == "Query"
    assert params["ExpressionAttributeValues"][":pk"] == {"S": "TENANT#tenant-basic#PRODUCT"}


def test_pagination_walks_the_tenant_partition_only(db: FakeDynamo) -> None:
    seen, token = [], None
    for _ in range(10):
        query = {"limit": "5", **({"next_token": token} if token else {})}
        status, body, _ = call(
            products.handler, "GET", "/catalog", tenant="tenant-premium", query=query
        )
        assert status == 200 and body["count"] <= 5
        seen += [p["product_id"] for p in body["items"]]
        token = body["next_token"]
        if not token:
            break
    assert seen == [f"prod-{i:03d}" for i in range(1, 13)]


def test_a_next_token_cannot_move_the_query_to_another_partition(db: FakeDynamo) -> None:
    _, body, _ = call(
        products.handler, "GET", "/catalog", tenant="tenant-premium", query={"limit": "2"}
    )
    token = body["next_token"]
    status, other, _ = call(
        products.handler, "GET", "/catalog", tenant="tenant-basic",
        query={"limit": "2", "next_token": token},
    )  # fmt: skip
    assert status == 200 and other["tenant_id"] == "tenant-basic"
    assert all("(basic)" in p["name"] for p in other["items"])
    assert db.calls[-1][1]["ExclusiveStartKey"]["PK"] == {"S": "TENANT#tenant-basic#PRODUCT"}


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "-1"}, {"limit": "101"}, {"limit": "abc"}, {"limit": "1.5"},
     {"limit": ""}, {"next_token": "%%%"}, {"next_token": "eyJzayI6ICJPUkRFUiMxIn0"},
     {"next_token": "bm90IGpzb24"}, {"category": "a b"}],
)  # fmt: skip
def test_bad_list_parameters_are_400(db: FakeDynamo, query: dict[str, str]) -> None:
    status, body, headers = call(
        products.handler, "GET", "/catalog", tenant="tenant-basic", query=query
    )
    assert status == 400, body
    assert body["error"] == "validation_error" and body["tenant_id"] == "tenant-basic"
    assert headers["content-type"] == "application/json"


def test_get_product_and_404s(db: FakeDynamo) -> None:
    status, body, _ = call(
        products.handler, "GET", "/catalog/{id}", tenant="tenant-premium",
        path_params={"id": "prod-011"},
    )  # fmt: skip
    assert status == 200 and body["product"]["product_id"] == "prod-011"
    # premium-only product: another tenant's catalog does not have it
    status, body, _ = call(
        products.handler, "GET", "/catalog/{id}", tenant="tenant-basic",
        path_params={"id": "prod-011"},
    )  # fmt: skip
    assert status == 404 and body["error"] == "not_found"
    status, body, _ = call(
        products.handler, "GET", "/catalog/{id}", tenant="tenant-basic",
        path_params={"id": "PRODUCT#x"},
    )  # fmt: skip
    assert status == 400


def test_naming_another_tenant_is_403_and_logged(db: FakeDynamo, capsys) -> None:
    for kwargs in (
        {"query": {"tenant_id": "tenant-premium"}},
        {"headers": {"X-Tenant-Id": "tenant-premium"}},
    ):
        status, body, _ = call(products.handler, "GET", "/catalog", tenant="tenant-basic", **kwargs)
        assert status == 403 and body["tenant_id"] == "tenant-basic"
    lines = violations(capsys)
    assert [v["detail"]["where"] for v in lines] == ["query.tenant_id", "header.x-tenant-id"]
    assert all(v["tenant_id"] == "tenant-basic" for v in lines)
    assert lines[0]["detail"]["requested_tenant"] == "tenant-premium"
    assert db.calls == []
    # naming one's own tenant is harmless and ignored
    status, _, _ = call(
        products.handler, "GET", "/catalog", tenant="tenant-basic",
        query={"tenant_id": "tenant-basic"},
    )  # fmt: skip
    assert status == 200


# -- orders -------------------------------------------------------------------------------------


def create(tenant: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any], dict]:
    return call(orders.handler, "POST", "/orders", tenant=tenant, body=body, **kw)


def test_create_order_prices_from_the_catalog(db: FakeDynamo) -> None:
    status, body, headers = create(
        "tenant-standard",
        {"items": [{"product_id": "prod-002", "quantity": 3},
                   {"product_id": "prod-003", "quantity": 1}], "client_reference": "po-1"},
    )  # fmt: skip
    assert status == 201, body
    order = body["order"]
    assert body["tenant_id"] == "tenant-standard" and body["request_id"]
    assert order["total"] == 72.47  # 3 x 19.99 + 12.50
    assert [line["line_total"] for line in order["items"]] == [59.97, 12.5]
    assert order["item_count"] == 4 and order["currency"] == "USD" and order["status"] == "PLACED"
    assert order["client_reference"] == "po-1" and order["created_by"] == "client-1"
    assert headers["location"] == f"/orders/{order['order_id']}"
    assert common.order_id_issued_to("tenant-standard", order["order_id"]) is True
    put = next(p for op, p in db.calls if op == "PutItem")
    assert put["Item"]["PK"] == {"S": "TENANT#tenant-standard#ORDER"}
    assert put["Item"]["SK"] == {"S": f"ORDER#{order['order_id']}"}
    assert put["Item"]["total"] == {"N": "72.47"}
    status, got, _ = call(
        orders.handler, "GET", "/orders/{id}", tenant="tenant-standard",
        path_params={"id": order["order_id"]},
    )  # fmt: skip
    assert status == 200 and got["order"] == order


BAD_BODIES = [
    ({}, "validation_error"),
    ({"items": []}, "validation_error"),
    ({"items": "prod-001"}, "validation_error"),
    ({"items": [{"product_id": "prod-001"}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 0}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": -2}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 1.5}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 2.0}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": "2"}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": True}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 10**30}]}, "validation_error"),
    ({"items": [{"product_id": 7, "quantity": 1}]}, "validation_error"),
    ({"items": [{"product_id": "PRODUCT#x", "quantity": 1}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 1, "price": 0.01}]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 1}] * 2}, "validation_error"),
    ({"items": [{"product_id": f"p-{i}", "quantity": 1} for i in range(26)]}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 1}], "total": 1}, "validation_error"),
    ({"items": [{"product_id": "prod-001", "quantity": 1}], "client_reference": 5},
     "validation_error"),
    ({"items": [{"product_id": "prod-099", "quantity": 1}]}, "unknown_products"),
    ({"items": [{"product_id": "prod-006", "quantity": 1}]}, "products_unavailable"),
    ({"items": [{"product_id": "prod-010", "quantity": 1}]}, "unknown_products"),  # premium's
]  # fmt: skip


@pytest.mark.parametrize("body, code", BAD_BODIES)
def test_bad_order_bodies_are_400_json(db: FakeDynamo, body: Any, code: str) -> None:
    status, answer, _ = create("tenant-basic", body)
    assert status == 400, answer
    assert answer["error"] == code and answer["message"] and answer["tenant_id"] == "tenant-basic"
    assert not any(op == "PutItem" for op, _ in db.calls)


@pytest.mark.parametrize(
    "raw",
    ["", "not json", "[1, 2]", '"text"', "{", "null", '{"items": [{"product_id": "\\ud800"'],
)
def test_unparseable_bodies_are_400(db: FakeDynamo, raw: str) -> None:
    result = orders.handler(
        http_event("POST", "/orders", tenant="tenant-basic", raw_body=raw), LambdaContext()
    )
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["error"] == "invalid_body"


def test_base64_and_oversized_bodies(db: FakeDynamo) -> None:
    import base64

    event = http_event("POST", "/orders", tenant="tenant-basic")
    event["body"] = base64.b64encode(
        json.dumps({"items": [{"product_id": "prod-001", "quantity": 1}]}).encode()
    ).decode()
    event["isBase64Encoded"] = True
    assert orders.handler(event, LambdaContext())["statusCode"] == 201
    event["body"], event["isBase64Encoded"] = "!!!not base64", True
    assert orders.handler(event, LambdaContext())["statusCode"] == 400
    big = http_event("POST", "/orders", tenant="tenant-basic", raw_body=" " * 70000 + "{}")
    assert orders.handler(big, LambdaContext())["statusCode"] == 413


def test_creating_for_another_tenant_is_403_and_nothing_is_written(db: FakeDynamo, capsys) -> None:
    status, body, _ = create(
        "tenant-basic",
        {"tenant_id": "tenant-premium", "items": [{"product_id": "prod-001", "quantity": 1}]},
    )
    assert status == 403 and body["tenant_id"] == "tenant-basic"
    [line] = violations(capsys)
    assert line["violation"] == "foreign_tenant_in_request"
    assert line["detail"] == {"where": "body.tenant_id", "requested_tenant": "tenant-premium"}
    assert db.calls == []
    status, body, _ = create(  # its own tenant id in the body is ignored
        "tenant-basic",
        {"tenant_id": "tenant-basic", "items": [{"product_id": "prod-001", "quantity": 1}]},
    )
    assert status == 201


def test_another_tenants_order_id_is_404_and_logged(db: FakeDynamo, capsys) -> None:
    _, made, _ = create("tenant-premium", {"items": [{"product_id": "prod-001", "quantity": 1}]})
    order_id = made["order"]["order_id"]
    capsys.readouterr()
    before = len(db.calls)
    status, body, _ = call(
        orders.handler, "GET", "/orders/{id}", tenant="tenant-basic", path_params={"id": order_id}
    )
    assert status == 404 and body["error"] == "not_found" and body["tenant_id"] == "tenant-basic"
    [line] = violations(capsys)
    assert line["violation"] == "foreign_order_id" and line["detail"]["order_id"] == order_id
    assert len(db.calls) == before  # never even looked up
    # unsigned ids (the seeded ones) are looked up in the caller's own partition only
    status, body, _ = call(
        orders.handler, "GET", "/orders/{id}", tenant="tenant-basic",
        path_params={"id": "order-001"},
    )  # fmt: skip
    assert status == 200 and body["order"]["created_by"] == "seed"
    assert db.calls[-1][1]["Key"]["PK"] == {"S": "TENANT#tenant-basic#ORDER"}


def test_idempotency_key_replays_the_first_order(db: FakeDynamo) -> None:
    body = {"items": [{"product_id": "prod-001", "quantity": 2}]}
    headers = {"Idempotency-Key": "retry-1"}
    status, first, _ = create("tenant-basic", body, headers=headers)
    assert status == 201
    status, again, replay_headers = create("tenant-basic", body, headers=headers)
    assert status == 200 and again["order"] == first["order"]
    assert replay_headers["idempotent-replay"] == "true"
    puts = [p for op, p in db.calls if op == "PutItem"]
    assert len(puts) == 2 and puts[0]["Item"] == puts[1]["Item"] | {
        "created_at": puts[0]["Item"]["created_at"]
    }
    orders_stored = [k for k in db.items if k[0] == "TENANT#tenant-basic#ORDER"]
    assert len(orders_stored) == 4  # 3 seeded + 1, not 2
    other = {"items": [{"product_id": "prod-002", "quantity": 1}]}
    status, conflict, _ = create("tenant-basic", other, headers=headers)
    assert status == 409 and conflict["error"] == "idempotency_conflict"
    # the same key from another tenant is another order
    status, theirs, _ = create("tenant-premium", body, headers=headers)
    assert status == 201 and theirs["order"]["order_id"] != first["order"]["order_id"]
    status, bad, _ = create("tenant-basic", body, headers={"Idempotency-Key": "bad key!"})
    assert status == 400 and bad["field"] == "Idempotency-Key"


def test_list_orders_sees_only_the_tenants_orders(db: FakeDynamo) -> None:
    create("tenant-premium", {"items": [{"product_id": "prod-001", "quantity": 1}]})
    status, body, _ = call(orders.handler, "GET", "/orders", tenant="tenant-basic")
    assert status == 200 and body["count"] == 3
    assert {o["order_id"] for o in body["items"]} == {"order-001", "order-002", "order-003"}
    status, body, _ = call(orders.handler, "GET", "/orders", tenant="tenant-premium")
    assert body["count"] == 4
    status, body, _ = call(
        orders.handler, "GET", "/orders", tenant="tenant-basic", query={"limit": "x"}
    )
    assert status == 400


def test_order_ids_are_bound_to_their_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDER_ID_KEY_SECRET", raising=False)
    monkeypatch.delenv("ORDER_ID_KEY", raising=False)
    with pytest.raises(RuntimeError, match="ORDER_ID_KEY"):  # no made-up default key
        common.new_order_id("acme")
    monkeypatch.setenv("ORDER_ID_KEY", "unit-test-key")
    order_id = common.new_order_id("acme")
    assert common.order_id_issued_to("acme", order_id) is True
    assert common.order_id_issued_to("acme-corp", order_id) is False
    assert common.order_id_issued_to("acme", "order-001") is None
    assert common.valid_id(order_id)


# -- errors, logs and metrics ---------------------------------------------------------------------


def test_unknown_route_is_404_json(db: FakeDynamo) -> None:
    status, body, _ = call(products.handler, "DELETE", "/catalog", tenant="tenant-basic")
    assert status == 404 and body["error"] == "not_found"


def test_backend_failures_are_json_503_or_500(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from botocore.exceptions import ClientError

    monkeypatch.setenv("TABLE_NAME", TABLE)

    class Broken:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def query(self, **kw: Any) -> Any:
            raise self.exc

    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "Query",
    )
    monkeypatch.setattr(common, "ddb", lambda tenant: Broken(throttled))
    status, body, headers = call(products.handler, "GET", "/catalog", tenant="tenant-basic")
    assert status == 503 and body["error"] == "service_unavailable" and headers["retry-after"]
    monkeypatch.setattr(common, "ddb", lambda tenant: Broken(RuntimeError("boom")))
    status, body, _ = call(products.handler, "GET", "/catalog", tenant="tenant-basic")
    assert status == 500 and body == {
        "error": "internal_error", "message": "internal error", "tenant_id": "tenant-basic",
        "request_id": body["request_id"],
    }  # fmt: skip
    errors = [r for r in log_lines(capsys) if r.get("message") == "request failed"]
    assert [e["error"] for e in errors] == ["ClientError", "RuntimeError"]


def test_every_request_logs_one_line_and_one_emf_metric(db: FakeDynamo, capsys) -> None:
    call(products.handler, "GET", "/catalog", tenant="tenant-basic",
         claims=claims_for("tenant-basic", tier="basic"))  # fmt: skip
    call(products.handler, "GET", "/catalog", tenant="tenant-basic", query={"limit": "0"})
    lines = log_lines(capsys)
    done = [r for r in lines if r.get("message") == "request completed"]
    emf = [r for r in lines if "_aws" in r]
    assert [r["status"] for r in done] == [200, 400] and len(emf) == 2
    assert done[0]["tenant_id"] == "tenant-basic" and done[0]["tier"] == "basic"
    assert done[0]["request_id"] and done[0]["route"] == "GET /catalog"
    metrics = emf[0]["_aws"]["CloudWatchMetrics"][0]
    assert ["service", "tenant_id"] in metrics["Dimensions"]
    assert {m["Name"] for m in metrics["Metrics"]} == {
        "Requests", "ClientErrors", "ServerErrors", "Latency"
    }  # fmt: skip
    assert emf[0]["tenant_id"] == "tenant-basic" and emf[0]["Requests"] == 1
    assert emf[1]["ClientErrors"] == 1 and emf[1]["ServerErrors"] == 0
    assert isinstance(emf[0]["Latency"], float)


def test_a_non_dict_event_is_answered(db: FakeDynamo) -> None:
    result = products.handler(None, LambdaContext())
    assert result["statusCode"] in (403, 404)


# -- the Cognito claims trigger and the seed data -----------------------------------------------------


def test_token_trigger_adds_tenant_and_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_TIERS", json.dumps({"tenant-basic": "basic"}))
    monkeypatch.setattr(token_claims, "client_tenant", lambda pool, client: "tenant-basic")
    event = {
        "triggerSource": "TokenGeneration_ClientCredentials",
        "userPoolId": "us-east-1_x",
        "callerContext": {"clientId": "abc"},
        "response": {},
    }
    out = token_claims.handler(event, None)
    added = out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    assert added["claimsToAddOrOverride"] == {"tenant_id": "tenant-basic", "tier": "basic"}
    other = token_claims.handler({"triggerSource": "TokenGeneration_HostedAuth"}, None)
    assert "claimsAndScopeOverrideDetails" not in other.get("response", {})


def test_token_trigger_gives_no_tenant_to_a_client_that_is_no_known_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANT_TIERS", json.dumps({"tenant-basic": "basic"}))
    monkeypatch.setattr(token_claims, "client_tenant", lambda pool, client: "reporting-job")
    event = {
        "triggerSource": "TokenGeneration_ClientCredentials",
        "userPoolId": "us-east-1_x",
        "callerContext": {"clientId": "abc"},
        "response": {},
    }
    out = token_claims.handler(event, None)
    assert "claimsAndScopeOverrideDetails" not in out["response"]


def test_seed_data_is_consistent() -> None:
    rows = seed.items()
    tenants = {r["tenant_id"] for r in rows}
    assert tenants == {"tenant-basic", "tenant-standard", "tenant-premium"}
    for row in rows:
        assert row["PK"] in (
            f"TENANT#{row['tenant_id']}#PRODUCT",
            f"TENANT#{row['tenant_id']}#ORDER",
        )
        assert row["SK"].startswith(("PRODUCT#", "ORDER#"))
    order = next(
        r for r in rows if r["SK"] == "ORDER#order-002" and r["tenant_id"] == "tenant-basic"
    )
    assert order["total"] == Decimal("39.98") and order["item_count"] == 2
