"""``GET /catalog`` (list the caller's products, paginated) and ``GET /catalog/{id}``."""

from __future__ import annotations

from typing import Any

from catalog_app import common
from catalog_app.common import ApiError, Request

PUBLIC_FIELDS = ("product_id", "name", "description", "price", "currency", "category", "active")


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in PUBLIC_FIELDS if k in item}


def list_products(req: Request) -> dict:
    tenant = common.require_tenant(req)
    common.check_foreign_tenant(req)
    limit = common.parse_limit(req)
    start = common.decode_next_token(req, "PRODUCT#")
    category = req.query.get("category")
    if category is not None and not common.valid_id(category):
        raise common.bad_request("category is not valid", field="category")
    query: dict[str, Any] = {
        "TableName": common.table_name(),
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
        "ExpressionAttributeValues": {
            ":pk": {"S": common.product_pk(tenant)},
            ":sk": {"S": "PRODUCT#"},
        },
        "Limit": limit,
    }
    if start is not None:
        query["ExclusiveStartKey"] = common.key(common.product_pk(tenant), start)
    if category is not None:
        query["FilterExpression"] = "category = :category"
        query["ExpressionAttributeValues"][":category"] = {"S": category}
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


def get_product(req: Request) -> dict:
    tenant = common.require_tenant(req)
    common.check_foreign_tenant(req)
    product_id = req.path_params.get("id")
    if not common.valid_id(product_id):
        raise common.bad_request("product id is not valid", field="id")
    assert product_id is not None
    answer = common.ddb(tenant).get_item(
        TableName=common.table_name(),
        Key=common.key(common.product_pk(tenant), common.product_sk(product_id)),
    )
    item = answer.get("Item")
    if item is None:
        raise common.not_found("product")
    return common.response(req, 200, {"product": public(common.from_item(item))})


ROUTES = {
    ("GET", "/catalog"): list_products,
    ("GET", "/catalog/{id}"): get_product,
}


def dispatch(req: Request) -> dict:
    method, _, path = req.route.partition(" ")
    target = ROUTES.get((method, path))
    if target is None:
        raise ApiError(404, "not_found", f"no route {req.route}")
    return target(req)


def handler(event: Any, context: Any) -> dict:
    return common.run(event, context, dispatch)
