"""Parameter-mapping expressions of service integrations, and MOCK integration answers."""

from __future__ import annotations

import json

from harness.gateway.integration import mock_response
from harness.gateway.mapping import evaluate, substitute
from harness.model import IntegrationSpec, RouteSpec
from tests.fixtures.gateway.helpers import api_of, ctx_for


def _ctx():
    api = api_of(
        "http",
        [RouteSpec("POST", "/t/{tenant}", IntegrationSpec(type="sqs"))],
        stage_variables={"queue": "orders"},
    )
    ctx = ctx_for(
        api,
        "POST",
        "/t/acme",
        query="a=1&a=2&b=x",
        headers=[("X-Tenant", "acme"), ("content-type", "application/json")],
        body=b'{"order": {"id": 7, "items": [1, 2]}, "note": "hi"}',
    )
    ctx.claims = {"sub": "u1", "custom:tenant_id": "acme"}
    ctx.authorizer = {"jwt": {"claims": {"sub": "u1"}}}
    return ctx


def test_whole_value_expressions() -> None:
    ctx = _ctx()
    assert evaluate(ctx, "$request.body") == ctx.body.decode()
    assert json.loads(evaluate(ctx, "$request.body.order")) == {"id": 7, "items": [1, 2]}
    assert evaluate(ctx, "$request.body.order.id") == "7"
    assert evaluate(ctx, "$request.body.note") == "hi"
    assert evaluate(ctx, "$request.body.missing") is None
    assert evaluate(ctx, "$request.header.x-tenant") == "acme"
    assert evaluate(ctx, "$request.querystring.a") == "2"
    assert evaluate(ctx, "$request.path.tenant") == "acme"
    assert evaluate(ctx, "$context.requestId") == "id"
    assert evaluate(ctx, "$context.authorizer.claims.custom:tenant_id") == "acme"
    assert evaluate(ctx, "$stageVariables.queue") == "orders"
    assert evaluate(ctx, "literal") == "literal"


def test_embedded_expressions() -> None:
    ctx = _ctx()
    assert substitute(ctx, "q-${stageVariables.queue}-${request.path.tenant}") == "q-orders-acme"
    assert substitute(ctx, "${request.header.nope}") == ""


def test_body_that_is_not_json() -> None:
    ctx = _ctx()
    ctx.body = b"{not json"
    assert evaluate(ctx, "$request.body") == "{not json"
    assert evaluate(ctx, "$request.body.a") is None


def test_mock_responses() -> None:
    simple = mock_response({"statusCode": 201, "body": {"ok": True}, "headers": {"X-A": "1"}})
    assert simple.status == 201 and json.loads(simple.body) == {"ok": True}
    assert (b"x-a", b"1") in simple.headers
    openapi = mock_response(
        {
            "default": {
                "statusCode": "204",
                "responseParameters": {
                    "method.response.header.Access-Control-Allow-Methods": "'GET,POST'",
                    "method.response.header.X-From-Integration": "integration.response.header.X",
                },
                "responseTemplates": {"application/json": ""},
            }
        }
    )
    assert openapi.status == 204
    assert (b"access-control-allow-methods", b"GET,POST") in openapi.headers
    assert all(name != b"x-from-integration" for name, _ in openapi.headers)
    assert mock_response({}).status == 200
