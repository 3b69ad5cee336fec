"""Lambda authorizers: policy evaluation, identity sources, simple responses, caching."""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.gateway import errors
from harness.gateway.invoke import InvokeOutcome
from harness.gateway.lambda_auth import (
    LambdaAuthorizer,
    evaluate_policy,
    identity_values,
    method_arn,
)
from harness.model import AuthorizerSpec, IntegrationSpec, RouteSpec
from tests.fixtures.gateway.helpers import api_of, ctx_for

ARN = "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/GET/pets/1"


def policy(*statements: tuple[str, object]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            for effect, resource in statements
        ],
    }


@pytest.mark.parametrize(
    ("document", "allowed"),
    [
        (policy(("Allow", ARN)), True),
        (policy(("Allow", "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/*")), True),
        (policy(("Allow", "arn:aws:execute-api:*:*:api-id/*/GET/pets/*")), True),
        (policy(("Allow", [ARN, "other"])), True),
        (policy(("Allow", "*"), ("Deny", ARN)), False),
        (policy(("Allow", "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/POST/*")), False),
        (policy(("Deny", "*")), False),
        ({"Statement": []}, False),
        (None, False),
        ("garbage", False),
    ],
)
def test_evaluate_policy(document, allowed) -> None:
    assert evaluate_policy(document, ARN) is allowed


def _api(auth: AuthorizerSpec, kind: str = "http"):
    route = RouteSpec(
        "GET", "/pets/{id}", IntegrationSpec(type="lambda", function="Fn"), authorizer="a"
    )
    api = api_of(kind, [route], authorizers={"a": auth}, stage="prod")
    api.authorizer_functions["a"] = "authfn"
    return api


def test_identity_values_and_method_arn() -> None:
    auth = AuthorizerSpec(name="a", type="lambda_request")
    ctx = ctx_for(
        _api(auth, "rest"), "GET", "/pets/1", query="token=q1&token=q2",
        headers=[("Authorization", "tok"), ("X-Id", "7")],
    )  # fmt: skip
    assert identity_values(
        ctx,
        ["method.request.header.Authorization", "$request.header.x-id",
         "$request.querystring.token", "$request.path.id", "$request.header.missing"],
    ) == ["tok", "7", "q1,q2", "1", None]  # fmt: skip
    assert method_arn(ctx) == "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/GET/pets/1"


class FakeInvoker:
    def __init__(self, result: object, kind: str = "ok") -> None:
        self.result = result
        self.kind = kind
        self.events: list[dict] = []

    async def invoke(self, name, event, timeout_s, extra_headers=None):
        self.events.append(event)
        body = self.result if isinstance(self.result, bytes) else json.dumps(self.result).encode()
        return InvokeOutcome(self.kind, 200, body, 1.0)


def authorize(auth, invoker, headers, kind="http"):
    ctx = ctx_for(_api(auth, kind), "GET", "/pets/1", headers=headers)
    try:
        asyncio.run(LambdaAuthorizer(invoker).authorize(ctx, auth))
    except errors.GatewayError as exc:
        return exc.status, ctx
    return 200, ctx


SIMPLE = AuthorizerSpec(
    name="a", type="lambda_request", identity_sources=["$request.header.Authorization"],
    payload_format="2.0", simple_responses=True, result_ttl_s=60,
)  # fmt: skip


def test_simple_response_allow_puts_context_under_lambda() -> None:
    invoker = FakeInvoker({"isAuthorized": True, "context": {"tenant": "t1"}})
    status, ctx = authorize(SIMPLE, invoker, [("authorization", "x")])
    assert status == 200 and ctx.authorizer == {"lambda": {"tenant": "t1"}}
    event = invoker.events[0]
    assert event["type"] == "REQUEST" and event["version"] == "2.0"
    assert event["identitySource"] == ["x"]
    assert event["routeArn"].endswith("/prod/GET/pets/{id}")
    assert "body" not in event and event["routeKey"] == "GET /pets/{id}"


def test_simple_response_deny_is_403_and_missing_identity_is_401() -> None:
    assert (
        authorize(SIMPLE, FakeInvoker({"isAuthorized": False}), [("authorization", "x")])[0] == 403
    )
    invoker = FakeInvoker({"isAuthorized": True})
    assert authorize(SIMPLE, invoker, [])[0] == 401
    assert invoker.events == []  # not invoked without an identity source


def test_authorizer_errors() -> None:
    unauthorized = FakeInvoker({"errorMessage": "Unauthorized"}, kind="function_error")
    assert authorize(SIMPLE, unauthorized, [("authorization", "x")])[0] == 401
    boom = FakeInvoker({"errorMessage": "boom"}, kind="function_error")
    assert authorize(SIMPLE, boom, [("authorization", "x")])[0] == 500
    assert authorize(SIMPLE, FakeInvoker(b"garbage"), [("authorization", "x")])[0] == 500


def test_results_are_cached_by_identity_source() -> None:
    invoker = FakeInvoker({"isAuthorized": True, "context": {}})
    api = _api(SIMPLE)
    authorizer = LambdaAuthorizer(invoker)
    for token in ("a", "a", "b", "a"):
        ctx = ctx_for(api, "GET", "/pets/1", headers=[("authorization", token)])
        asyncio.run(authorizer.authorize(ctx, SIMPLE))
    assert len(invoker.events) == 2


class SlowInvoker(FakeInvoker):
    """An authorizer that takes a while (a cold start), so requests overlap."""

    async def invoke(self, name, event, timeout_s, extra_headers=None):
        self.events.append(event)
        await asyncio.sleep(0.05)
        body = json.dumps(self.result).encode()
        return InvokeOutcome(self.kind, 200, body, 1.0)


def _burst(authorizer: LambdaAuthorizer, tokens: list[str]) -> list[object]:
    api = _api(SIMPLE)

    async def one(token: str) -> object:
        ctx = ctx_for(api, "GET", "/pets/1", headers=[("authorization", token)])
        try:
            await authorizer.authorize(ctx, SIMPLE)
        except errors.GatewayError as exc:
            return exc.status
        return ctx.authorizer

    async def all_of() -> list[object]:
        return list(await asyncio.gather(*(one(t) for t in tokens)))

    return asyncio.run(all_of())


def test_concurrent_requests_of_one_identity_share_one_invocation() -> None:
    invoker = SlowInvoker({"isAuthorized": True, "context": {"tenant": "t1"}})
    authorizer = LambdaAuthorizer(invoker)
    answers = _burst(authorizer, ["a"] * 20 + ["b"] * 5)
    assert len(invoker.events) == 2  # one per identity, not one per request
    assert answers == [{"lambda": {"tenant": "t1"}}] * 25
    assert authorizer.inflight == {}  # nothing left waiting


def test_a_failed_shared_authorization_fails_every_waiter_and_is_not_cached() -> None:
    invoker = SlowInvoker({"errorMessage": "Unauthorized"}, kind="function_error")
    authorizer = LambdaAuthorizer(invoker)
    assert _burst(authorizer, ["a"] * 5) == [401] * 5
    assert len(invoker.events) == 1
    assert _burst(authorizer, ["a"]) == [401] and len(invoker.events) == 2  # asked again


def test_rest_token_authorizer_policy_and_context() -> None:
    auth = AuthorizerSpec(name="a", type="lambda_token", payload_format="1.0",
                          identity_sources=["method.request.header.Authorization"])  # fmt: skip
    arn = "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/GET/pets/1"
    allow = FakeInvoker({"principalId": "u1", "policyDocument": policy(("Allow", arn)),
                         "context": {"tenant": "t1", "n": 1, "ok": True}})  # fmt: skip
    status, ctx = authorize(auth, allow, [("Authorization", "tok")], kind="rest")
    assert status == 200
    assert allow.events[0] == {"type": "TOKEN", "authorizationToken": "tok", "methodArn": arn}
    assert ctx.authorizer["principalId"] == "u1" and ctx.authorizer["tenant"] == "t1"
    assert ctx.authorizer["n"] == 1 and ctx.authorizer["ok"] is True
    assert "integrationLatency" in ctx.authorizer
    deny = FakeInvoker({"principalId": "u1", "policyDocument": policy(("Deny", arn))})
    assert authorize(auth, deny, [("Authorization", "tok")], kind="rest")[0] == 403


def test_a_traced_request_passes_its_trace_to_the_authorizer() -> None:
    from harness.obs.spans import parse_xray

    class Recording(FakeInvoker):
        async def invoke(self, name, event, timeout_s, extra_headers=None):
            self.extra = extra_headers
            return await super().invoke(name, event, timeout_s, extra_headers)

    def traced(auth, invoker, headers, kind):
        ctx = ctx_for(_api(auth, kind), "GET", "/pets/1", headers=headers)
        ctx.trace_id = 0x5759E988BD862E3FE1BE46A994272793
        asyncio.run(LambdaAuthorizer(invoker).authorize(ctx, auth))
        return ctx

    request = Recording({"isAuthorized": True})
    ctx = traced(SIMPLE, request, [("authorization", "x")], "http")
    carried = parse_xray(request.events[0]["headers"]["x-amzn-trace-id"])
    assert carried is not None and carried.trace_id == ctx.trace_id
    assert carried.parent == ctx.authorizer_span != 0  # the authorizer step's span
    assert request.extra is None  # REQUEST: in the event's headers, as API Gateway does
    token = AuthorizerSpec(name="a", type="lambda_token", payload_format="1.0",
                           identity_sources=["method.request.header.Authorization"])  # fmt: skip
    arn = "arn:aws:execute-api:us-east-1:123456789012:api-id/prod/GET/pets/1"
    allow = Recording({"principalId": "u1", "policyDocument": policy(("Allow", arn))})
    ctx = traced(token, allow, [("Authorization", "tok")], "rest")
    assert "headers" not in allow.events[0]  # the TOKEN event keeps AWS's shape
    ((name, value),) = allow.extra
    assert name == b"x-amzn-trace-id" and parse_xray(value.decode()).parent == ctx.authorizer_span
