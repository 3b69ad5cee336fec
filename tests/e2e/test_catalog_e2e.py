"""The catalog stack end to end: real gateway (JWT authorizer, tiers → 429), real runtime, real
DynamoDB. Tokens come from the harness's local issuer with the claims the stack's Cognito trigger
adds on AWS (``tenant_id``, ``tier``, scopes)."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.model import DeployedStack
from harness.tokens import LocalIssuer, token_for_stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "catalog"
SCOPES = ["catalog/read", "catalog/orders.read", "catalog/orders.write"]


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = sys.modules.setdefault(name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


seed = _module("catalog_seed", STACK_DIR / "fixtures" / "seed.py")


class Api:
    def __init__(self, env: Environment, stack: DeployedStack, runtime: Any) -> None:
        self.env = env
        self.stack = stack
        self.runtime = runtime
        base = urlsplit(stack.apis["CatalogApi"].base_url)
        self.host, self.port, self.prefix = base.hostname or "127.0.0.1", base.port, base.path
        self.issuer = LocalIssuer(env.state_dir, env.endpoints["gateway_url"])
        self.audience = stack.apis["CatalogApi"].authorizers["TenantJwt"].audience[0]
        self.tiers = {t["id"]: t["tier"] for t in stack.profile["tenants"]}

    def token(self, tenant: str | None, user: str = "client-1", **kw: Any) -> str:
        kw.setdefault("scopes", SCOPES)
        tier = self.tiers.get(tenant) if tenant else None
        return self.issuer.mint(user, tenant=tenant, tier=tier, client_id=self.audience,
                                tenant_claim="tenant_id", tier_claim="tier", **kw)  # fmt: skip

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            sent = {"content-type": "application/json", **(headers or {})}
            if token:
                sent["authorization"] = f"Bearer {token}"
            data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
            conn.request(method, self.prefix + path, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read()
            parsed = json.loads(raw) if raw else None
            return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def logs(self, logical_id: str) -> list[dict[str, Any]]:
        name = self.stack.functions[logical_id].name
        out = []
        for record in self.runtime.logs(name, limit=500):
            try:
                out.append(json.loads(record.get("message", "")))
            except (TypeError, ValueError):
                continue
        return out


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from harness.runtime.client import RuntimeClient

    state_dir = tmp_path_factory.mktemp("catalog-e2e")
    with Environment(Settings.load(state_dir=state_dir)) as env:
        stack = deploy_stack(env, STACK_DIR)
        seed.load(env, stack)
        # harness up started the runtime; the client reads its function logs
        holder = RuntimeClient(str(env.endpoints["runtime_url"]))
        client = Api(env, stack, holder)
        # every gateway worker notices the new state within a second
        token = client.token("tenant-premium")
        until = time.monotonic() + 20
        while True:
            status, body, _ = client.call("GET", "/catalog?limit=1", token)
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.2)
        assert status == 200, body
        yield client


# -- contracts ----------------------------------------------------------------------------------


def test_catalog_and_orders_contracts(api: Api) -> None:
    token = api.token("tenant-standard")
    status, body, headers = api.call("GET", "/catalog?limit=4", token)
    assert status == 200 and body["count"] == 4 and body["next_token"]
    assert body["tenant_id"] == "tenant-standard" and body["request_id"]
    assert headers["content-type"] == "application/json"
    status, page2, _ = api.call("GET", f"/catalog?limit=4&next_token={body['next_token']}", token)
    assert status == 200 and page2["items"][0]["product_id"] == "prod-005"
    status, body, _ = api.call("GET", "/catalog/prod-002", token)
    assert status == 200 and body["product"]["price"] == 19.99
    status, body, _ = api.call("GET", "/catalog/prod-012", token)
    assert status == 404 and body["error"] == "not_found"
    status, body, headers = api.call(
        "POST", "/orders", token, {"items": [{"product_id": "prod-002", "quantity": 2}]}
    )
    assert status == 201, body
    order = body["order"]
    assert order["total"] == 39.98 and headers["location"] == f"/orders/{order['order_id']}"
    status, body, _ = api.call("GET", f"/orders/{order['order_id']}", token)
    assert status == 200 and body["order"] == order and body["tenant_id"] == "tenant-standard"
    status, body, _ = api.call("GET", "/orders?limit=100", token)
    assert status == 200 and order["order_id"] in {o["order_id"] for o in body["items"]}


@pytest.mark.parametrize(
    "method, path, body",
    [("GET", "/catalog?limit=0", None), ("GET", "/catalog?limit=abc", None),
     ("GET", "/catalog?next_token=zzz", None), ("POST", "/orders", "not json"),
     ("POST", "/orders", {"items": [{"product_id": "prod-001", "quantity": -1}]}),
     ("POST", "/orders", {"items": [{"product_id": "prod-777", "quantity": 1}]}),
     ("POST", "/orders", {"items": [{"product_id": "prod-001", "quantity": 1, "price": 0}]})],
)  # fmt: skip
def test_bad_input_is_a_400_json_never_a_500(api: Api, method: str, path: str, body: Any) -> None:
    status, answer, _ = api.call(method, path, api.token("tenant-premium"), body)
    assert status == 400, answer
    assert answer["error"] and answer["message"] and answer["tenant_id"] == "tenant-premium"


# -- auth ---------------------------------------------------------------------------------------


def test_tokens_without_a_tenant_or_valid_signature_are_refused(api: Api) -> None:
    assert api.call("GET", "/catalog", None)[0] == 401
    assert api.call("GET", "/catalog", api.token(None))[0] == 403  # the gateway: require_tenant
    forged = api.token("tenant-basic")[:-4] + "AAAA"
    assert api.call("GET", "/catalog", forged)[0] == 401
    expired = api.token("tenant-basic", expires_in=-10)
    assert api.call("GET", "/catalog", expired)[0] == 401
    read_only = api.token("tenant-basic", scopes=["catalog/read"])
    status, _, _ = api.call("POST", "/orders", read_only,
                            {"items": [{"product_id": "prod-001", "quantity": 1}]})  # fmt: skip
    assert status == 403


def test_harness_token_command_gives_a_working_token(api: Api) -> None:
    result = token_for_stack(api.env.state_dir, "catalog", "tenant-premium", user="premium-1")
    status, body, _ = api.call("GET", "/catalog?limit=1", result.token)
    assert status == 200, (result.source, result.note, body)
    assert body["tenant_id"] == "tenant-premium"


# -- isolation ----------------------------------------------------------------------------------


def test_cross_tenant_ids_are_404_or_403_and_logged(api: Api) -> None:
    premium, basic = api.token("tenant-premium"), api.token("tenant-basic")
    status, body, _ = api.call(
        "POST", "/orders", premium, {"items": [{"product_id": "prod-010", "quantity": 1}]}
    )
    assert status == 201
    foreign = body["order"]["order_id"]
    status, body, _ = api.call("GET", f"/orders/{foreign}", basic)
    assert status == 404 and body["tenant_id"] == "tenant-basic"
    status, body, _ = api.call("GET", "/orders?tenant_id=tenant-premium", basic)
    assert status == 403
    status, body, _ = api.call("GET", "/catalog", basic, headers={"x-tenant-id": "tenant-premium"})
    assert status == 403
    status, body, _ = api.call(
        "POST", "/orders", basic,
        {"tenant_id": "tenant-premium", "items": [{"product_id": "prod-001", "quantity": 1}]},
    )  # fmt: skip
    assert status == 403
    status, body, _ = api.call(
        "POST", "/orders", basic, {"items": [{"product_id": "prod-010", "quantity": 1}]}
    )
    assert status == 400 and body["error"] == "unknown_products"
    status, body, _ = api.call("GET", "/orders?limit=100", basic)
    assert foreign not in {o["order_id"] for o in body["items"]}

    def seen() -> list[dict[str, Any]]:
        lines = api.logs("OrdersFunction") + api.logs("CatalogFunction")
        return [x for x in lines if x.get("message") == "security violation"]

    until = time.monotonic() + 10
    while len(seen()) < 4 and time.monotonic() < until:
        time.sleep(0.2)
    kinds = sorted(x["violation"] for x in seen() if x.get("tenant_id") == "tenant-basic")
    assert kinds.count("foreign_order_id") >= 1 and kinds.count("foreign_tenant_in_request") >= 3


# -- tiers ----------------------------------------------------------------------------------------


def _burst(api: Api, token: str, n: int, threads: int) -> tuple[list[int], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(lambda _: api.call("GET", "/catalog/prod-001", token)[0], range(n)))
    return codes, time.monotonic() - started


def test_basic_tenant_past_10_rps_gets_429_premium_does_not(api: Api) -> None:
    """A basic tenant pushed as fast as 8 connections go gets its burst (20) plus 10/s, then
    429s; a premium tenant calling at the same time through the same gateway is never throttled."""
    basic = api.token("tenant-basic", user="burst-basic")
    premium = api.token("tenant-premium", user="burst-premium")
    _burst(api, premium, 16, 8)  # warm execution environments, so the push really is > 10 RPS
    with ThreadPoolExecutor(2) as runner:
        pushed = runner.submit(_burst, api, basic, 60, 8)
        other = runner.submit(_burst, api, premium, 40, 4)
        (basic_codes, elapsed), (premium_codes, _) = pushed.result(), other.result()
    assert basic_codes.count(429) >= 1, (basic_codes, elapsed)
    assert set(basic_codes) <= {200, 429}
    assert basic_codes.count(200) <= 20 + 10 * elapsed + 2, (basic_codes.count(200), elapsed)
    assert premium_codes == [200] * 40, premium_codes


def test_per_tenant_metrics_and_logs_reach_the_function_log(api: Api) -> None:
    api.call("GET", "/catalog?limit=1", api.token("tenant-standard"))
    lines = api.logs("CatalogFunction")
    emf = [x for x in lines if "_aws" in x]
    assert {"tenant-standard", "tenant-premium"} <= {x["tenant_id"] for x in emf}
    sample = next(x for x in emf if x["tenant_id"] == "tenant-standard")
    assert sample["Requests"] == 1 and sample["Latency"] >= 0 and sample["request_id"]
    done = [x for x in lines if x.get("message") == "request completed"]
    assert any(x["tier"] == "standard" and x["status"] == 200 for x in done)
