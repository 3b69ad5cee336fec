"""``POST /orders``, ``GET /orders`` and ``GET /orders/{id}`` for the caller's tenant.

An order body::

    {"items": [{"product_id": "prod-001", "quantity": 2}], "client_reference": "po-77"}

Prices come from the tenant's own catalog, never from the client; unknown, inactive, duplicate
or malformed items are 400s with a JSON body saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from catalog_app import common
from catalog_app.common import ApiError, Request

MAX_ITEMS = 25
MAX_QUANTITY = 1000
CENT = Decimal("0.01")
ALLOWED_FIELDS = {"items", "client_reference", "tenant_id", "tenantId", "tenant"}
ORDER_FIELDS = ("order_id", "status", "items", "total", "currency", "item_count",
                "client_reference", "created_at", "created_by")  # fmt: skip


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ORDER_FIELDS if k in item}


def validate_order_body(body: dict[str, Any]) -> tuple[list[tuple[str, int]], str | None]:
    """The (product_id, quantity) lines and client reference of a create-order body, or 400."""
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        raise common.bad_request(f"unknown fields: {', '.join(unknown)}", fields=unknown)
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise common.bad_request("items must be a non-empty list", field="items")
    if len(items) > MAX_ITEMS:
        raise common.bad_request(f"at most {MAX_ITEMS} items per order", field="items")
    lines: list[tuple[str, int]] = []
    seen: set[str] = set()
    for index, entry in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(entry, dict):
            raise common.bad_request(f"{where} must be an object", field=where)
        extra = sorted(set(entry) - {"product_id", "quantity"})
        if extra:
            raise common.bad_request(
                f"{where}: unknown fields: {', '.join(extra)}", field=where, fields=extra
            )
        product_id = entry.get("product_id")
        if not isinstance(product_id, str) or not common.valid_id(product_id):
            raise common.bad_request(
                f"{where}.product_id is not valid", field=f"{where}.product_id"
            )
        quantity = entry.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise common.bad_request(
                f"{where}.quantity must be a whole number", field=f"{where}.quantity"
            )
        if not 1 <= quantity <= MAX_QUANTITY:
            raise common.bad_request(
                f"{where}.quantity must be between 1 and {MAX_QUANTITY}", field=f"{where}.quantity"
            )
        if product_id in seen:
            raise common.bad_request(
                f"{where}: product {product_id} is listed twice", field=f"{where}.product_id"
            )
        seen.add(product_id)
        lines.append((product_id, quantity))
    reference = body.get("client_reference")
    if reference is not None and (not isinstance(reference, str) or not 1 <= len(reference) <= 64):
        raise common.bad_request("client_reference must be a string of 1-64 characters",
                                 field="client_reference")  # fmt: skip
    return lines, reference


def price_lines(
    lines: list[tuple[str, int]], products: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], Decimal, str]:
    """Priced order lines, the total and the currency, from the tenant's catalog items."""
    missing = [pid for pid, _ in lines if pid not in products]
    if missing:
        raise common.bad_request(
            "unknown product ids for this tenant", code="unknown_products", product_ids=missing
        )
    inactive = [pid for pid, _ in lines if products[pid].get("active") is False]
    if inactive:
        raise common.bad_request(
            "products not available", code="products_unavailable", product_ids=inactive
        )
    currencies = {str(products[pid].get("currency", "USD")) for pid, _ in lines}
    if len(currencies) != 1:
        raise common.bad_request("products have different currencies", code="mixed_currency")
    priced: list[dict[str, Any]] = []
    total = Decimal("0")
    for pid, quantity in lines:
        unit = Decimal(str(products[pid]["price"])).quantize(CENT, ROUND_HALF_UP)
        line_total = (unit * quantity).quantize(CENT, ROUND_HALF_UP)
        total += line_total
        priced.append({"product_id": pid, "name": products[pid].get("name", pid),
                       "quantity": quantity, "unit_price": unit, "line_total": line_total})  # fmt: skip
    return priced, total.quantize(CENT, ROUND_HALF_UP), currencies.pop()


def fetch_products(tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    client = common.ddb(tenant)
    table = common.table_name()
    keys = [common.key(common.product_pk(tenant), common.product_sk(pid)) for pid in ids]
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {table: {"Keys": keys}}
    for attempt in range(5):
        answer = client.batch_get_item(RequestItems=request)
        for item in answer.get("Responses", {}).get(table, []):
            product = common.from_item(item)
            found[str(product["product_id"])] = product
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(0.02 * 2**attempt)
    raise ApiError(503, "service_unavailable", "try again later")


def create_order(req: Request) -> dict:
    tenant = common.require_tenant(req)
    body = common.parse_json_body(req)
    common.check_foreign_tenant(req, body)
    lines, reference = validate_order_body(body)
    products = fetch_products(tenant, [pid for pid, _ in lines])
    priced, total, currency = price_lines(lines, products)
    idempotency_key = req.headers.get("idempotency-key")
    if idempotency_key is not None and not common.IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
        raise common.bad_request(
            "Idempotency-Key must be 1-64 characters [A-Za-z0-9_.:-]", field="Idempotency-Key"
        )
    request_hash = hashlib.sha256(
        json.dumps([lines, reference], separators=(",", ":")).encode()
    ).hexdigest()
    if idempotency_key is None:
        order_id = common.new_order_id(tenant)
    else:
        order_id = common.idempotent_order_id(tenant, idempotency_key)
    order = {
        "order_id": order_id,
        "tenant_id": tenant,
        "status": "PLACED",
        "items": priced,
        "item_count": sum(q for _, q in lines),
        "total": total,
        "currency": currency,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "created_by": req.principal or "unknown",
    }
    if reference is not None:
        order["client_reference"] = reference
    key = {"PK": common.order_pk(tenant), "SK": common.order_sk(order_id)}
    item = common.to_item({**key, **order, "request_hash": request_hash})
    client = common.ddb(tenant)
    try:
        client.put_item(
            TableName=common.table_name(),
            Item=item,
            ConditionExpression="attribute_not_exists(PK)",
        )
    except Exception as exc:
        if _error_code(exc) != "ConditionalCheckFailedException" or idempotency_key is None:
            raise
        return _replay(req, client, key, request_hash)
    return common.response(req, 201, {"order": public(order)}, location=f"/orders/{order_id}")


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _replay(req: Request, client: Any, key: dict[str, str], request_hash: str) -> dict:
    """A POST retried with the same Idempotency-Key: the first answer again (200), or 409 if the
    key was used for a different order."""
    answer = client.get_item(
        TableName=common.table_name(),
        Key=common.key(key["PK"], key["SK"]),
        ConsistentRead=True,
    )
    existing = common.from_item(answer.get("Item") or {})
    if existing.get("request_hash") != request_hash:
        raise ApiError(
            409, "idempotency_conflict", "this Idempotency-Key was used for a different order"
        )
    order_id = str(existing["order_id"])
    return common.response(
        req, 200, {"order": public(existing)}, location=f"/orders/{order_id}",
        **{"idempotent-replay": "true"},
    )  # fmt: skip


def get_order(req: Request) -> dict:
    tenant = common.require_tenant(req)
    common.check_foreign_tenant(req)
    order_id = req.path_params.get("id")
    if not common.valid_id(order_id):
        raise common.bad_request("order id is not valid", field="id")
    assert order_id is not None
    if common.order_id_issued_to(tenant, order_id) is False:
        # An order id this API issued to another tenant (or a forged one): never looked up.
        common.security_violation(req, "foreign_order_id", order_id=order_id)
        raise common.not_found("order")
    answer = common.ddb(tenant).get_item(
        TableName=common.table_name(),
        Key=common.key(common.order_pk(tenant), common.order_sk(order_id)),
    )
    item = answer.get("Item")
    if item is None:
        raise common.not_found("order")
    return common.response(req, 200, {"order": public(common.from_item(item))})


def list_orders(req: Request) -> dict:
    tenant = common.require_tenant(req)
    common.check_foreign_tenant(req)
    limit = common.parse_limit(req)
    start = common.decode_next_token(req, "ORDER#")
    query: dict[str, Any] = {
        "TableName": common.table_name(),
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
        "ExpressionAttributeValues": {
            ":pk": {"S": common.order_pk(tenant)},
            ":sk": {"S": "ORDER#"},
        },
        "Limit": limit,
    }
    if start is not None:
        query["ExclusiveStartKey"] = common.key(common.order_pk(tenant), start)
    answer = common.ddb(tenant).query(**query)
    items = [public(common.from_item(i)) for i in answer.get("Items", [])]
    return common.response(
        req,
        200,
        {
            "items": items,
            "count": len(items),
            "next_token": common.encode_next_token(answer.get("LastEvaluatedKey")),
        },
    )


ROUTES = {
    ("POST", "/orders"): create_order,
    ("GET", "/orders"): list_orders,
    ("GET", "/orders/{id}"): get_order,
}


def dispatch(req: Request) -> dict:
    method, _, path = req.route.partition(" ")
    target = ROUTES.get((method, path))
    if target is None:
        raise ApiError(404, "not_found", f"no route {req.route}")
    return target(req)


def handler(event: Any, context: Any) -> dict:
    return common.run(event, context, dispatch)
