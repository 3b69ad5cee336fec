"""The catalog stack end to end: real gateway (JWT authorizer, tiers → 429), real runtime, real
DynamoDB, and real tokens: the emulator's Cognito client-credentials grant of each tenant's own
app client, RS256-signed with the pool's key, ``tenant_id``/``tier`` added by the pool's
pre-token-generation trigger (the stack's TokenClaimsFunction, run by the runtime)."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import Environment, Settings
from harness.aws import client_for
from harness.deploy import deploy_stack
from harness.model import DeployedStack
from harness.tokens import LocalIssuer, cognito_client_credentials, token_for_stack
from tests.fixtures.modules import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "catalog"
SCOPES = ["catalog/read", "catalog/orders.read", "catalog/orders.write"]


seed = load_module("catalog_seed", STACK_DIR / "fixtures" / "seed.py")


class Api:
    def __init__(self, env: Environment, stack: DeployedStack, runtime: Any) -> None:
        self.env = env
        self.stack = stack
        self.runtime = runtime
        base = urlsplit(stack.apis["CatalogApi"].base_url)
        self.host, self.port, self.prefix = base.hostname or "127.0.0.1", base.port, base.path
        self.pool_id = stack.resources["UserPool"].physical_id
        self._tokens: dict[tuple[str, tuple[str, ...]], str] = {}

    def token(self, tenant: str, scopes: list[str] | None = None) -> str:
        """The tenant's Cognito access token (``harness token``), one per tenant and scopes."""
        key = (tenant, tuple(scopes or SCOPES))
        if key not in self._tokens:
            found = token_for_stack(self.env.state_dir, "catalog", tenant, scopes=list(key[1]))
            assert found.source == "cognito" and found.token_use == "access", found
            self._tokens[key] = found.token
        return self._tokens[key]

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
        seed.seed(env, stack, {})  # what `harness deploy` runs: trigger wired, data written
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


def test_tokens_are_cognito_client_credentials_tokens(api: Api) -> None:
    import jwt

    token = api.token("tenant-basic")
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{api.pool_id}"
    jwks = json.loads(
        _get(f"{api.env.endpoints['aws_endpoint']}/{api.pool_id}/.well-known/jwks.json")
    )
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = jwt.decode(token, key, algorithms=["RS256"], issuer=issuer,
                        options={"verify_aud": False})  # fmt: skip
    client = api.stack.resources["BasicTenantClient"].physical_id
    assert claims["client_id"] == claims["sub"] == client and claims["token_use"] == "access"
    assert claims["tenant_id"] == "tenant-basic" and claims["tier"] == "basic"  # the trigger's
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600  # AccessTokenValidity: 60 minutes
    assert set(claims["scope"].split()) == set(SCOPES)


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def test_tokens_without_a_tenant_or_valid_signature_are_refused(api: Api) -> None:
    assert api.call("GET", "/catalog", None)[0] == 401
    forged = api.token("tenant-basic")[:-4] + "AAAA"
    assert api.call("GET", "/catalog", forged)[0] == 401
    # the local issuer's token with every right claim: only the pool's keys are trusted
    local = LocalIssuer(api.env.state_dir, api.env.endpoints["gateway_url"])
    audience = api.stack.apis["CatalogApi"].authorizers["TenantJwt"].audience
    minted = local.mint("x", tenant="tenant-basic", tier="basic", scopes=SCOPES,
                        client_id=audience[0], tenant_claim="tenant_id", tier_claim="tier")  # fmt: skip
    assert api.call("GET", "/catalog", minted)[0] == 401
    read_only = api.token("tenant-basic", scopes=["catalog/read"])
    assert api.call("GET", "/catalog?limit=1", read_only)[0] == 200
    status, _, _ = api.call("POST", "/orders", read_only,
                            {"items": [{"product_id": "prod-001", "quantity": 1}]})  # fmt: skip
    assert status == 403


def test_a_cognito_token_without_the_tenant_claim_is_refused(api: Api) -> None:
    """A client of the pool whose name is no tenant: Cognito signs its token, the trigger adds no
    tenant. Not one of the API's clients: 401; made one (its id added to the deployed
    authorizer's audience, as a template change would): 403, the gateway's require_tenant."""
    idp = client_for(api.env.endpoints, "cognito-idp")
    made = idp.create_user_pool_client(
        UserPoolId=api.pool_id, ClientName="reporting-job", GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=SCOPES,
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]  # fmt: skip
    state = api.env.state_dir
    authorizer = api.stack.apis["CatalogApi"].authorizers["TenantJwt"]
    try:
        token = cognito_client_credentials(
            api.env.endpoints, made["ClientId"], made["ClientSecret"], SCOPES
        )["access_token"]
        import jwt

        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["client_id"] == made["ClientId"] and "tenant_id" not in claims
        assert api.call("GET", "/catalog", token)[0] == 401
        authorizer.audience.append(made["ClientId"])
        api.stack.save(state)
        until, status = time.monotonic() + 10, 0
        while time.monotonic() < until:  # the gateway reloads the stack within a second
            status, body, _ = api.call("GET", "/catalog", token)
            if status != 401:
                break
            time.sleep(0.2)
        assert status == 403, body
    finally:
        if made["ClientId"] in authorizer.audience:
            authorizer.audience.remove(made["ClientId"])
            api.stack.save(state)
        idp.delete_user_pool_client(UserPoolId=api.pool_id, ClientId=made["ClientId"])


def test_harness_token_command_gives_a_working_token(api: Api) -> None:
    from harness.cli.token import run as cmd_token

    args = type("Args", (), {"stack": "catalog", "tenant": "tenant-premium", "user": None,
                             "scope": [], "state_dir": str(api.env.state_dir)})()  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cmd_token(args) == 0
    status, body, _ = api.call("GET", "/catalog?limit=1", out.getvalue().strip())
    assert status == 200, body
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
    basic = api.token("tenant-basic")
    premium = api.token("tenant-premium")
    _burst(api, premium, 16, 8)  # warm execution environments, so the push really is > 10 RPS
    with ThreadPoolExecutor(2) as runner:
        pushed = runner.submit(_burst, api, basic, 60, 8)
        other = runner.submit(_burst, api, premium, 40, 4)
        (basic_codes, elapsed), (premium_codes, _) = pushed.result(), other.result()
    assert basic_codes.count(429) >= 1, (basic_codes, elapsed)
    assert set(basic_codes) <= {200, 429}
    assert basic_codes.count(200) <= 20 + 10 * elapsed + 2, (basic_codes.count(200), elapsed)
    assert premium_codes == [200] * 40, premium_codes


TIERS = [  # the seed's usage plans (harness.yaml tenancy.tiers): tenant, rate, burst, quota
    ("tenant-basic", 10, 20, 100_000),
    ("tenant-standard", 100, 200, 1_000_000),
    ("tenant-premium", 1000, 2000, 10_000_000),
]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redis_now(redis: Any) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1e6


def _tier_keys(api: Api, tenant: str) -> tuple[str, str]:
    """(the tenant's usage-plan bucket, its quota counter) in the gateway's Redis; one call
    first so that both exist."""
    assert api.call("GET", "/catalog/prod-001", api.token(tenant))[0] in (200, 429)
    redis = api.env.redis()
    base = "gw:catalog:CatalogApi"
    [bucket] = [_text(k) for k in redis.scan_iter(f"{base}:plan:*:tenant:{tenant}")]
    [quota] = [_text(k) for k in redis.scan_iter(f"{base}:quota:*:tenant:{tenant}:*")]
    return bucket, quota


def _probe(api: Api, tenant: str, tokens: float, last_refill: float) -> tuple[int, float]:
    """Set the tenant's bucket to ``tokens`` last refilled at ``last_refill`` (Redis time),
    call once, and return (status, tokens the gateway left in the bucket)."""
    bucket, _ = _tier_keys(api, tenant)
    redis = api.env.redis()
    time.sleep(0.06)  # past any lease (50 ms) a gateway worker holds: this call asks Redis
    redis.hset(bucket, mapping={"t": tokens, "ts": last_refill})
    status = api.call("GET", "/catalog/prod-001", api.token(tenant))[0]
    return status, float(_text(redis.hget(bucket, "t")))


@pytest.mark.parametrize(("tenant", "rate", "burst", "quota"), TIERS, ids=[t[0] for t in TIERS])
def test_each_tier_has_its_usage_plan_rate_and_burst(
    api: Api, tenant: str, rate: int, burst: int, quota: int
) -> None:
    """No machine here sends 1,000 RPS through Lambda, so the tier's bucket is read instead of
    flooded: a bucket left full holds exactly ``burst`` tokens when a call draws from it, and an
    empty one refilled for 1 s holds ``rate`` (the call takes one token, or a lease of at most
    5 % of the rate; the call's own latency refills a little more)."""
    redis = api.env.redis()
    lease = max(1, int(0.05 * min(rate, burst)))
    status, left = _probe(api, tenant, 10**9, _redis_now(redis))
    assert status == 200 and burst - lease <= left <= burst - 1, (left, burst)
    started = _redis_now(redis)
    status, left = _probe(api, tenant, 0, started - 1.0)
    took = _redis_now(redis) - started
    assert status == 200 and rate - lease <= left <= min(burst, rate * (1.0 + took)), (left, rate)
    # and an empty bucket is a 429 for this tenant only
    status, _ = _probe(api, tenant, 0, _redis_now(redis) + 5.0)
    assert status == 429
    others = [t for t, *_ in TIERS if t != tenant]
    assert api.call("GET", "/catalog/prod-001", api.token(others[0]))[0] == 200
    bucket, _ = _tier_keys(api, tenant)
    redis.delete(bucket)


@pytest.mark.parametrize(("tenant", "rate", "burst", "quota"), TIERS, ids=[t[0] for t in TIERS])
def test_each_tier_has_its_monthly_quota(
    api: Api, tenant: str, rate: int, burst: int, quota: int
) -> None:
    """The month's counter is preset to one short of the tier's quota (the window is the real
    calendar month, not scaled): one more call passes, the next is API Gateway's 429 "Limit
    Exceeded", and the counter expires after the month ends."""
    import calendar
    import datetime as dt

    bucket, counter = _tier_keys(api, tenant)
    redis = api.env.redis()
    now = dt.datetime.now(dt.UTC)
    assert counter.endswith(f":{now:%Y%m}")
    days = calendar.monthrange(now.year, now.month)[1]
    month_end = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC) + dt.timedelta(days=days)
    left_in_month = (month_end - now).total_seconds()
    assert left_in_month <= redis.ttl(counter) <= left_in_month + 3600 + 5
    token = api.token(tenant)
    try:
        time.sleep(0.06)
        redis.hset(bucket, mapping={"t": burst, "ts": _redis_now(redis)})  # not rate limited
        redis.set(counter, quota - 1, keepttl=True)
        status, body, _ = api.call("GET", "/catalog/prod-001", token)
        assert status == 200, body
        status, body, _ = api.call("GET", "/catalog/prod-001", token)
        assert status == 429 and body == {"message": "Limit Exceeded"}, (status, body)
        assert int(_text(redis.get(counter))) == quota
    finally:
        redis.set(counter, 0, keepttl=True)
        redis.delete(bucket)
    assert api.call("GET", "/catalog/prod-001", token)[0] == 200


def test_per_tenant_metrics_and_logs_reach_the_function_log(api: Api) -> None:
    api.call("GET", "/catalog?limit=1", api.token("tenant-standard"))
    lines = api.logs("CatalogFunction")
    emf = [x for x in lines if "_aws" in x]
    assert {"tenant-standard", "tenant-premium"} <= {x["tenant_id"] for x in emf}
    sample = next(x for x in emf if x["tenant_id"] == "tenant-standard")
    assert sample["Requests"] == 1 and sample["Latency"] >= 0 and sample["request_id"]
    done = [x for x in lines if x.get("message") == "request completed"]
    assert any(x["tier"] == "standard" and x["status"] == 200 for x in done)
