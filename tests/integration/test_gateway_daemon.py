"""The gateway in a real daemon (2 uvicorn workers), with a real Redis and a fake Invoke API.

Drives it over HTTP: payloads reach the handler with the right fields, the authorizer matrix,
per-tier throttling shared across workers, API Gateway's own error answers, CORS, service
integrations, reload, metrics and access logs, and failing open without Redis.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.tokens import LocalIssuer
from tests.fixtures.gateway.env import GatewayEnv, call, new_env
from tests.fixtures.gateway.stack import AUDIENCE, build_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

H = "/gwtest/HttpApi"
R = "/gwtest/RestApi/prod"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    environment = new_env(tmp_path_factory.mktemp("gateway"))
    environment.write_state()
    proxy_target = f"http://127.0.0.1:{environment.runtime_port}"
    build_stack(environment.gateway_url, proxy_target=proxy_target).save(environment.state_dir)
    try:
        environment.start()
        yield environment
    finally:
        environment.stop()
        log = environment.daemon_log()
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def issuer(env: GatewayEnv) -> LocalIssuer:
    return LocalIssuer(env.state_dir, env.gateway_url)


def get(env: GatewayEnv, path: str, headers: dict[str, str] | None = None, **kw):
    return call(env.gateway_port, kw.pop("method", "GET"), path, headers, kw.pop("body", None))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token(local: LocalIssuer, tenant: str | None = "tenant-basic", **kwargs) -> str:
    kwargs.setdefault("client_id", AUDIENCE)
    return local.mint("user-1", tenant=tenant, **kwargs)


# -- payloads ---------------------------------------------------------------------------------


def test_http_api_payload_2_0_reaches_the_handler(env: GatewayEnv) -> None:
    r = get(
        env,
        f"{H}/items/42?a=1&a=2&b=",
        {"Cookie": "c1=v1; c2=v2", "X-Custom": "yes", "User-Agent": "tester/1",
         "x-correlation-id": "corr-123", "X-Forwarded-For": "6.6.6.6"},
        method="PUT",
        body=b'{"not": "valid json',
    )  # fmt: skip
    assert r.status == 200, r.body
    event = r.json()
    assert event["version"] == "2.0" and event["routeKey"] == "ANY /items/{id}"
    assert event["rawPath"] == "/items/42" and event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "yes" and "cookie" not in event["headers"]
    assert event["headers"]["x-correlation-id"] == "corr-123"
    assert event["headers"]["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"  # appended, not trusted
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] == '{"not": "valid json' and event["isBase64Encoded"] is False
    assert event["stageVariables"] == {"env": "test"}
    rc = event["requestContext"]
    assert rc["http"] == {"method": "PUT", "path": "/items/42", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "tester/1"}  # fmt: skip
    assert (
        rc["apiId"] == "h1abc" and rc["stage"] == "$default" and rc["accountId"] == "123456789012"
    )
    assert rc["requestId"] == r.headers["apigw-requestid"] == r.headers["x-amzn-requestid"]
    assert abs(rc["timeEpoch"] / 1000 - time.time()) < 30
    assert r.headers["x-correlation-id"] == "corr-123"


def test_correlation_id_is_generated_when_absent(env: GatewayEnv) -> None:
    r = get(env, f"{H}/echo")
    assert r.json()["headers"]["x-correlation-id"] == r.headers["x-correlation-id"]


def test_binary_body_goes_base64_and_comes_back_decoded(env: GatewayEnv) -> None:
    r = get(env, f"{H}/echo", {"Content-Type": "image/png"}, method="POST", body=b"\x89PNG\x00\xff")
    event = r.json()
    assert event["isBase64Encoded"] is True and event["body"] == "iVBORwD/"
    r = get(env, f"{H}/binary")
    assert r.status == 200 and r.body == b"\x89PNG\r\n\x1a\n\x00\x01"
    assert r.headers["content-type"] == "image/png"


def test_response_cookies_and_multi_value_headers(env: GatewayEnv) -> None:
    r = get(env, f"{H}/cookies")
    assert r.status == 201 and r.body == b"made"
    assert [v for k, v in r.all_headers if k == "set-cookie"] == ["a=1; Path=/", "b=2"]
    assert [v for k, v in r.all_headers if k == "x-multi"] == ["one", "two"]


def test_handler_result_without_status_code_is_json_200(env: GatewayEnv) -> None:
    r = get(env, f"{H}/plain")
    assert r.status == 200 and r.json() == {"hello": "world"}


def test_payload_1_0_on_http_api(env: GatewayEnv) -> None:
    event = get(env, f"{H}/v1echo?x=1&x=2").json()
    assert event["version"] == "1.0" and event["resource"] == "/v1echo"
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    # an HTTP API's 1.0 event keeps the first of repeated values (AWS's HTTP API payload 1.0
    # example and powertools' sample event; a REST API keeps the last: test_event_shapes.py)
    assert event["queryStringParameters"] == {"x": "1"}


def test_rest_api_payload_1_0_reaches_the_handler(env: GatewayEnv) -> None:
    r = get(env, f"{R}/pets/7?q=a&q=b", {"X-Multi": "1", "User-Agent": "ua"})
    assert r.status == 200, r.body
    event = r.json()
    assert "version" not in event
    assert event["resource"] == "/pets/{id}" and event["path"] == "/pets/7"
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"id": "7"}
    assert event["headers"]["X-Multi"] == "1" and event["multiValueHeaders"]["X-Multi"] == ["1"]
    assert event["multiValueQueryStringParameters"] == {"q": ["a", "b"]}
    rc = event["requestContext"]
    assert (
        rc["path"] == "/prod/pets/7"
        and rc["stage"] == "prod"
        and rc["resourcePath"] == "/pets/{id}"
    )
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and rc["identity"]["userAgent"] == "ua"
    assert event["stageVariables"] == {"env": "prod"}
    assert len(rc["requestId"]) == 36  # REST request ids are UUIDs


def test_greedy_proxy_on_rest(env: GatewayEnv) -> None:
    event = get(env, f"{R}/a/b/c", method="DELETE").json()
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c"}


# -- authorizers ------------------------------------------------------------------------------


def test_jwt_authorizer_matrix(env: GatewayEnv, issuer: LocalIssuer) -> None:
    ok = get(env, f"{H}/secure/echo", bearer(token(issuer, scopes=["read"])))
    assert ok.status == 200, ok.body
    auth = ok.json()["requestContext"]["authorizer"]["jwt"]
    assert auth["claims"]["custom:tenant_id"] == "tenant-basic" and auth["scopes"] == ["read"]
    now = int(time.time())
    cases = {
        "no token": (None, 401),
        "garbage": ("abc.def.ghi", 401),
        "expired": (token(issuer, issued_at=now - 7200, expires_in=60), 401),
        "not yet valid": (token(issuer, not_before=now + 300), 401),
        "wrong audience": (token(issuer, client_id="other"), 401),
        "wrong issuer": (token(issuer, issuer="http://evil/_harness/issuer"), 401),
        "no tenant": (token(issuer, tenant=None), 403),
    }
    for name, (tok, expected) in cases.items():
        r = get(env, f"{H}/secure/echo", bearer(tok) if tok else {})
        assert r.status == expected, name
        assert r.json() == {"message": "Unauthorized" if expected == 401 else "Forbidden"}, name
    assert get(env, f"{H}/secure/admin", bearer(token(issuer, scopes=["read"]))).status == 403
    assert get(env, f"{H}/secure/admin", bearer(token(issuer, scopes=["admin"]))).status == 200


def test_jwks_fetched_over_http(env: GatewayEnv, issuer: LocalIssuer) -> None:
    r = get(env, f"{H}/secure-http/echo", bearer(token(issuer)))
    assert r.status == 200, r.body
    jwks = get(env, "/_harness/issuer/.well-known/jwks.json").json()
    assert jwks["keys"][0]["kid"] == issuer.kid
    config = get(env, "/_harness/issuer/.well-known/openid-configuration").json()
    assert config["issuer"] == issuer.issuer


def test_lambda_request_authorizer_simple_responses(env: GatewayEnv) -> None:
    r = get(env, f"{H}/lambda-auth/echo", {"Authorization": "allow:premium"})
    assert r.status == 200, r.body
    assert r.json()["requestContext"]["authorizer"]["lambda"] == {
        "custom:tenant_id": "t-lambda-premium", "custom:tier": "premium", "n": 7,
    }  # fmt: skip
    assert get(env, f"{H}/lambda-auth/echo", {"Authorization": "nope"}).status == 403
    assert get(env, f"{H}/lambda-auth/echo").status == 401
    assert get(env, f"{H}/lambda-auth/echo", {"Authorization": "raise"}).status == 401


def test_rest_lambda_authorizers_with_policies(env: GatewayEnv) -> None:
    for path in ("tok", "req"):
        r = get(env, f"{R}/{path}/echo", {"Authorization": "allow"})
        assert r.status == 200, (path, r.body)
        auth = r.json()["requestContext"]["authorizer"]
        assert auth["principalId"] == "user-42" and auth["custom:tenant_id"] == "t-policy"
        assert auth["flag"] is True and auth["count"] == 3
        denied = get(env, f"{R}/{path}/echo", {"Authorization": "deny"})
        assert denied.status == 403
        assert denied.json() == {"message": "User is not authorized to access this resource"}
        assert get(env, f"{R}/{path}/echo", {"Authorization": "unauthorized"}).status == 401
        assert get(env, f"{R}/{path}/echo").status == 401


def test_rest_cognito_authorizer(env: GatewayEnv, issuer: LocalIssuer) -> None:
    id_token = token(issuer, token_use="id")
    r = get(env, f"{R}/cog/echo", {"Authorization": id_token})  # raw token, no "Bearer"
    assert r.status == 200, r.body
    assert r.json()["requestContext"]["authorizer"]["claims"]["token_use"] == "id"
    assert get(env, f"{R}/cog/echo", {"Authorization": "x.y.z"}).status == 401


def test_api_key_required(env: GatewayEnv) -> None:
    assert get(env, f"{H}/keyed").status == 403
    assert get(env, f"{H}/keyed", {"x-api-key": "wrong"}).status == 403
    assert get(env, f"{H}/keyed", {"x-api-key": "secret-key-1"}).status == 200


# -- throttling -------------------------------------------------------------------------------


def burst_responses(env: GatewayEnv, path: str, headers: dict[str, str], n: int) -> list:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda _: get(env, path, headers), range(n)))


def burst(env: GatewayEnv, path: str, headers: dict[str, str], n: int) -> list[int]:
    return [r.status for r in burst_responses(env, path, headers, n)]


def test_basic_tier_is_throttled_while_premium_is_not(env: GatewayEnv, issuer: LocalIssuer) -> None:
    basic = bearer(token(issuer, "tenant-basic-x", tier="basic"))
    premium = bearer(token(issuer, "tenant-premium-x", tier="premium"))
    started = time.time()
    basic_responses = burst_responses(env, f"{H}/secure/noop", basic, 80)
    elapsed = time.time() - started
    basic_codes = [r.status for r in basic_responses]
    premium_codes = burst(env, f"{H}/secure/noop", premium, 80)
    allowed = basic_codes.count(200)
    assert basic_codes.count(429) > 0, basic_codes
    assert allowed <= 20 + 10 * elapsed + 2, (allowed, elapsed)  # burst + rate * time
    assert premium_codes == [200] * 80
    throttled = next(r for r in basic_responses if r.status == 429)
    assert throttled.json() == {"message": "Too Many Requests"}


def test_route_throttle(env: GatewayEnv) -> None:
    codes = burst(env, f"{H}/route-throttled", {}, 10)
    assert 2 <= codes.count(200) <= 4 and codes.count(429) >= 6


def test_api_key_quota_is_limit_exceeded(env: GatewayEnv) -> None:
    codes = [get(env, f"{H}/keyed", {"x-api-key": "secret-key-1"}) for _ in range(4)]
    last = codes[-1]
    assert last.status == 429 and last.json() == {"message": "Limit Exceeded"}


# -- API Gateway's own answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/gwtest/BareApi/unknown", 404, "Not Found"),
        ("/nothing/here", 404, "Not Found"),
        ("/gwtest/RestApi/dev/pets/1", 404, "Not Found"),
        (f"{R}/", 403, "Missing Authentication Token"),
        (f"{H}/garbage", 502, "Internal Server Error"),
        (f"{H}/bad-body", 502, "Internal Server Error"),
        (f"{H}/injection", 502, "Internal Server Error"),
        (f"{H}/boom", 502, "Internal Server Error"),
        (f"{R}/garbage", 502, "Internal server error"),
        (f"{H}/throttled-fn", 429, "Too Many Requests"),
        (f"{H}/missing-fn", 500, "Internal Server Error"),
    ],
)
def test_error_answers(env: GatewayEnv, path: str, status: int, message: str) -> None:
    r = get(env, path)
    assert r.status == status, r.body
    assert r.json() == {"message": message}
    assert r.headers["x-amzn-requestid"]
    assert "x-evil" not in r.headers


def test_slow_handler_times_out_with_504(env: GatewayEnv) -> None:
    started = time.time()
    r = get(env, f"{H}/slow")
    assert r.status == 504 and r.json() == {"message": "Endpoint request timed out"}
    assert time.time() - started < 1.5


def test_payload_over_10_mb_is_413(env: GatewayEnv) -> None:
    r = get(env, f"{H}/echo", method="POST", body=b"x" * (10 * 1024 * 1024 + 1))
    assert r.status == 413
    assert get(env, f"{H}/echo").status == 200  # the worker is fine


def test_cors(env: GatewayEnv) -> None:
    origin = {"Origin": "https://app.example.com"}
    pre = get(env, f"{H}/secure/echo", {**origin, "Access-Control-Request-Method": "GET"},
              method="OPTIONS")  # fmt: skip
    assert pre.status == 204  # answered before the authorizer
    assert pre.headers["access-control-allow-origin"] == "https://app.example.com"
    assert pre.headers["access-control-max-age"] == "600"
    r = get(env, f"{H}/echo", origin)
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-expose-headers"] == "x-handler"
    assert (
        "access-control-allow-origin" not in get(env, f"{H}/echo", {"Origin": "https://x"}).headers
    )


# -- service integrations ---------------------------------------------------------------------


def test_sqs_send_message_integration(env: GatewayEnv) -> None:
    r = get(env, f"{H}/sqs", {"x-tenant": "t1"}, method="POST", body=b'{"order": 1}')
    assert r.status == 200, r.body
    result = r.json()["SendMessageResponse"]["SendMessageResult"]
    assert result["MessageId"] and result["MD5OfMessageBody"]
    calls = call(env.runtime_port, "GET", "/_fake/calls").json()["aws"]
    sent = [c for c in calls if c["target"] == "AmazonSQS.SendMessage"][-1]["payload"]
    assert sent["MessageBody"] == '{"order": 1}'
    assert sent["QueueUrl"].endswith("/orders")
    assert sent["MessageAttributes"]["tenant"]["StringValue"] == "t1"


def test_eventbridge_put_events_integration(env: GatewayEnv) -> None:
    r = get(env, f"{H}/events", method="POST", body=b'{"id": 9}')
    assert r.status == 200 and r.json()["FailedEntryCount"] == 0
    calls = call(env.runtime_port, "GET", "/_fake/calls").json()["aws"]
    entry = [c for c in calls if c["target"] == "AWSEvents.PutEvents"][-1]["payload"]["Entries"][0]
    assert entry == {"Source": "app.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 9}',
                     "EventBusName": "default"}  # fmt: skip


def test_mock_and_http_proxy_integrations(env: GatewayEnv) -> None:
    mocked = get(env, "/gwtest/BareApi/mocked", method="OPTIONS")
    assert mocked.status == 200 and mocked.json() == {"mock": True}
    assert mocked.headers["access-control-allow-origin"] == "*"
    proxied = get(env, "/gwtest/BareApi/proxy/_fake/calls")
    assert proxied.status == 200 and "calls" in proxied.json()
    assert get(env, "/gwtest/BareApi/proxy/nowhere").status == 404  # the target's own 404


# -- control API, reload, logs ----------------------------------------------------------------


def test_info_metrics_and_access_log(env: GatewayEnv) -> None:
    info = get(env, "/_harness/info").json()
    stack = next(s for s in info["stacks"] if s["name"] == "gwtest")
    urls = {a["logical_id"]: a["base_url"] for a in stack["apis"]}
    assert urls["RestApi"] == f"{env.gateway_url}/gwtest/RestApi/prod"
    metrics = get(env, "/_harness/gateway/metrics").json()
    assert metrics["scope"] == "worker" and metrics["requests"] > 0
    route = metrics["routes"][0]
    assert {"p50", "p95", "p99"} <= set(route["latency_ms"])
    time.sleep(0.7)  # flushed every 0.5 s
    lines = (env.state_dir / "logs" / "access.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r["status"] == 504 and r["integrationErrorMessage"] for r in records)
    assert any(r["tenantId"] == "tenant-basic" for r in records)
    sample = records[-1]
    for key in ("requestId", "ip", "requestTime", "httpMethod", "routeKey", "status", "protocol",
                "responseLength", "integrationLatency", "correlationId"):  # fmt: skip
        assert key in sample


def test_reload_on_new_stack(env: GatewayEnv) -> None:
    assert get(env, "/late/HttpApi/echo").status == 404
    build_stack(env.gateway_url, "late").save(env.state_dir)
    time.sleep(1.1)  # every worker re-checks the folder at most once a second
    deadline = time.time() + 5
    while time.time() < deadline and {get(env, "/late/HttpApi/echo").status for _ in range(6)} != {
        200
    }:
        time.sleep(0.3)
    assert {get(env, "/late/HttpApi/echo").status for _ in range(6)} == {200}
    assert get(env, "/_harness/gateway/reload", method="POST").json()["reloaded"] is True
    (env.state_dir / "stacks" / "late.json").unlink()


def test_runtime_unreachable_is_503(env: GatewayEnv) -> None:
    from tests.fixtures.gateway.env import free_port

    env.write_state(runtime_url=f"http://127.0.0.1:{free_port()}")
    try:
        deadline = time.time() + 5
        statuses: set[int] = set()
        while time.time() < deadline:
            statuses = {get(env, f"{H}/noop").status for _ in range(4)}
            if statuses == {503}:
                break
            time.sleep(0.2)
        assert statuses == {503}
        assert get(env, f"{H}/noop").json() == {"message": "Service Unavailable"}
    finally:
        env.write_state()
        time.sleep(1.2)


def test_without_redis_throttling_fails_open(env: GatewayEnv, issuer: LocalIssuer) -> None:
    env.stop_one("redis")
    try:
        basic = bearer(token(issuer, "tenant-open", tier="basic"))
        codes = burst(env, f"{H}/secure/noop", basic, 40)
        assert codes == [200] * 40
        assert "fails OPEN" in env.daemon_log()
    finally:
        env.start_redis()


def test_state_dir_layout(env: GatewayEnv) -> None:
    assert (env.state_dir / "issuer" / "private.pem").exists()
    assert Path(env.state_dir / "logs" / "access.log").exists()
