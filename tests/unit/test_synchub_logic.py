"""Sync Hub's logic without processes: group RBAC, the RFC 8628 device-flow decisions, the
CUSTOM_AUTH triggers, history items from stream records, backups grouped by tenant, the CDN's SPA
keys, the API's answers to bad input (400 JSON before any AWS call), and the profile."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.modules import load_module

STACK = Path(__file__).resolve().parents[2] / "stacks" / "synchub"
sys.path.insert(0, str(STACK / "src"))

from synchub import auth_triggers, backup, device, history, rbac  # noqa: E402

cdn = load_module("synchub_cdn", STACK / "fakes" / "cdn.py")
seed = load_module("synchub_seed", STACK / "fixtures" / "seed.py")

# -- RBAC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("owner", {"read", "write_settings", "add_member", "remove_member", "change_role",
                   "delete_group"}),
        ("admin", {"read", "write_settings", "add_member", "remove_member"}),
        ("member", {"read"}),
        (None, set()),
        ("superuser", set()),
    ],
)  # fmt: skip
def test_each_role_may_do_exactly_its_actions(role: str | None, allowed: set[str]) -> None:
    actions = ("read", "write_settings", "add_member", "remove_member", "change_role",
               "delete_group")  # fmt: skip
    assert {a for a in actions if rbac.can(role, a)} == allowed  # type: ignore[arg-type]


def test_roles_an_actor_may_hand_out() -> None:
    assert rbac.may_set_role("owner", None, "admin") and rbac.may_set_role(
        "owner", "admin", "member"
    )
    assert rbac.may_set_role("admin", None, "member")
    assert not rbac.may_set_role("admin", None, "admin")  # only the owner makes admins
    assert not rbac.may_set_role("admin", "admin", "member")  # nor demotes them
    assert not rbac.may_set_role("member", None, "member")
    assert not rbac.may_set_role("owner", None, "owner")  # no second owner
    assert not rbac.may_set_role("owner", "owner", "member")  # the owner stays owner
    assert not rbac.may_set_role("owner", None, "root")


def test_who_may_remove_whom() -> None:
    assert rbac.may_remove("owner", "o", "admin", "a") and rbac.may_remove(
        "owner", "o", "member", "m"
    )
    assert rbac.may_remove("admin", "a", "member", "m")
    assert not rbac.may_remove("admin", "a", "admin", "a2")
    assert not rbac.may_remove("member", "m", "member", "m2")
    assert rbac.may_remove("member", "m", "member", "m")  # leaving
    assert not rbac.may_remove("owner", "o", "owner", "o")  # the owner deletes the group instead
    assert not rbac.may_remove("owner", "o", None, "x")


# -- device flow --------------------------------------------------------------------------------


def grant(**fields: Any) -> dict[str, Any]:
    return {"status": "pending", "interval": 5, "expires_at": 1000, **fields}


def test_user_codes_follow_rfc_8628_section_6_1() -> None:
    codes = {device.new_user_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert set(code.replace("-", "")) <= set(device.USER_CODE_ALPHABET)
    assert device.normalize_user_code("bcdf ghjk") == "BCDF-GHJK"
    assert device.normalize_user_code("BCDFGHJK") == "BCDF-GHJK"
    for bad in ("BCDF-GHJ", "ABCD-EFGH", "", None, 12345678, "B" * 40):
        assert device.normalize_user_code(bad) is None
    assert device.code_hash("x") != "x" and len(device.code_hash("x")) == 64


def test_polling_pending_then_slow_down_then_tokens_once() -> None:
    assert device.poll(grant(), 100).outcome == "authorization_pending"
    first = device.poll(grant(), 100)
    assert first.updates == {"last_poll": 100}
    fast = device.poll(grant(last_poll=100), 102)  # sooner than the interval
    assert fast.outcome == "slow_down" and fast.updates["interval"] == 10
    assert device.poll(grant(last_poll=100), 105).outcome == "authorization_pending"
    assert device.poll(grant(status="approved", last_poll=100), 105).outcome == "issue"
    # approved but polled too fast: still slow_down (the interval is the contract)
    assert device.poll(grant(status="approved", last_poll=100), 101).outcome == "slow_down"
    assert device.poll(grant(status="consumed"), 105).outcome == "invalid_grant"


def test_polling_denied_expired_and_unknown_codes() -> None:
    assert device.poll(grant(status="denied"), 100).outcome == "access_denied"
    assert device.poll(grant(), 1000).outcome == "expired_token"
    assert device.poll(grant(status="approved"), 1001).outcome == "expired_token"
    assert device.poll(None, 100).outcome == "invalid_grant"


def test_only_pending_unexpired_codes_can_be_decided() -> None:
    assert device.can_decide(grant(), 10) is None
    assert device.can_decide(grant(), 1000) == "the code has expired"
    assert device.can_decide(grant(status="approved"), 10) == "the code was already used"
    assert device.can_decide(None, 10) == "unknown user code"


# -- CUSTOM_AUTH triggers -----------------------------------------------------------------------


def trigger(source: str, **request: Any) -> dict[str, Any]:
    return {"triggerSource": source, "userName": "acmealice", "request": request, "response": {}}


def test_define_create_challenge_flow() -> None:
    first = auth_triggers.handler(trigger("DefineAuthChallenge_Authentication", session=[]), None)
    assert first["response"] == {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False,
                                 "failAuthentication": False}  # fmt: skip
    passed = auth_triggers.handler(
        trigger("DefineAuthChallenge_Authentication", session=[{"challengeResult": True}]), None
    )
    assert passed["response"]["issueTokens"] is True
    failed = auth_triggers.handler(
        trigger("DefineAuthChallenge_Authentication", session=[{"challengeResult": False}]), None
    )
    assert failed["response"]["failAuthentication"] is True
    created = auth_triggers.handler(trigger("CreateAuthChallenge_Authentication"), None)
    assert "device_code" in json.dumps(created["response"])


def test_a_device_code_answers_only_for_its_approver_right_after_the_claim() -> None:
    claimed = {
        "status": "consumed",
        "username": "AcmeAlice",
        "expires_at": 2000,
        "consumed_at": 990,
    }
    assert auth_triggers.answer_correct(claimed, "acmealice", 1000)
    assert not auth_triggers.answer_correct(claimed, "acmebob", 1000)
    assert not auth_triggers.answer_correct({**claimed, "status": "approved"}, "acmealice", 1000)
    assert not auth_triggers.answer_correct(claimed, "acmealice", 990 + 61)
    assert not auth_triggers.answer_correct({**claimed, "expires_at": 999}, "acmealice", 1000)
    assert not auth_triggers.answer_correct(None, "acmealice", 1000)


def test_verify_trigger_with_a_wrong_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_triggers, "grant_for", lambda answer: None)
    event = trigger("VerifyAuthChallengeResponse_Authentication", challengeAnswer="guess")
    assert auth_triggers.handler(event, None)["response"]["answerCorrect"] is False


# -- history and backups ------------------------------------------------------------------------


def stream_record(tenant: str, rid: str, event: str = "MODIFY") -> dict[str, Any]:
    return {
        "eventID": "e1", "eventName": event,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/synchub-dev-group-members/stream/2026",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"tenant_id": {"S": tenant}, "resource_id": {"S": rid}},
            "NewImage": {"tenant_id": {"S": tenant}, "resource_id": {"S": rid},
                         "role": {"S": "admin"}, "version": {"N": "3"}},
            "OldImage": {"tenant_id": {"S": tenant}, "resource_id": {"S": rid},
                         "role": {"S": "member"}, "version": {"N": "2"}},
        },
    }  # fmt: skip


def test_history_items_stay_in_the_changed_items_tenant() -> None:
    item = history.history_item(stream_record("acme", "group#g1#member#u1"))
    assert item is not None
    assert item["tenant_id"] == "acme" and item["table"] == "group_members"
    assert item["resource_id"] == "group_members#group#g1#member#u1@2026-01-01T00:00:00.000000Z#e1"
    assert json.loads(item["new_image"])["version"] == 3
    assert json.loads(item["old_image"])["role"] == "member"
    assert history.history_item(stream_record("_device", "code#abc")) is None
    assert (
        history.table_of("arn:aws:dynamodb:r:1:table/synchub-prd-settings/stream/x") == "settings"
    )


def test_backups_are_split_per_tenant_without_device_grants() -> None:
    from decimal import Decimal

    grouped = backup.group_by_tenant([
        {"tenant_id": "acme", "resource_id": "a", "version": Decimal(2)},
        {"tenant_id": "globex", "resource_id": "b"},
        {"tenant_id": "acme", "resource_id": "c"},
        {"tenant_id": "_device", "resource_id": "code#x"},
    ])  # fmt: skip
    assert set(grouped) == {"acme", "globex"}
    assert [i["resource_id"] for i in grouped["acme"]] == ["a", "c"]
    assert grouped["acme"][0]["version"] == 2


# -- the CDN's SPA routing ----------------------------------------------------------------------


def test_cdn_maps_paths_to_bucket_keys() -> None:
    assert cdn.object_key("/") == "index.html"
    assert cdn.object_key("/app.js?v=1") == "app.js"
    assert cdn.object_key("/docs/") == "docs/index.html"
    assert cdn.object_key("/device") == "device"  # no object: the CDN answers index.html


# -- the API's answers to bad input (no AWS call is made) ---------------------------------------


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    for kind in ("SETTINGS", "BOOKMARKS", "GROUPS", "GROUP_MEMBERS", "SESSIONS", "HISTORY"):
        monkeypatch.setenv(f"{kind}_TABLE", f"t-{kind.lower()}")
    monkeypatch.setenv("DEVICE_CLIENT_ID", "device-client")
    monkeypatch.setenv("USER_POOL_ID", "us-east-1_x")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SyncHubTest")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from synchub import api as module

    def refuse(kind: str) -> Any:
        raise AssertionError(f"no table call expected ({kind})")

    monkeypatch.setattr(module, "table", refuse)
    return module


class Context:
    function_name = "synchub-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:synchub-api"
    aws_request_id = "req-1"


def event(
    method: str,
    path: str,
    body: str | None = None,
    *,
    tenant: str | None = "acme",
    content_type: str = "application/json",
) -> dict[str, Any]:
    claims = {"sub": "u-1", "cognito:username": "acmealice"}
    if tenant is not None:
        claims["custom:tenant_id"] = tenant
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": content_type, "x-correlation-id": "corr-1"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "test"},
            "requestId": "r1", "stage": "$default", "routeKey": "$default",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
        },
        "body": body, "isBase64Encoded": False,
    }  # fmt: skip


def call(api: Any, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    answer = api.handler(event(*args, **kwargs), Context())
    return answer["statusCode"], json.loads(answer["body"])


def test_health_is_public_and_json(api: Any) -> None:
    status, body = call(api, "GET", "/_health", tenant=None)
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/bookmarks", "{not json", "invalid_json"),
        ("POST", "/bookmarks", "[1, 2]", "invalid_body"),
        ("POST", "/bookmarks", json.dumps({"url": "javascript:alert(1)"}), "invalid_body"),
        ("POST", "/bookmarks", json.dumps({"url": "https://x", "tags": "x"}), "invalid_body"),
        ("POST", "/bookmarks", json.dumps({"url": "https://x", "tenant_id": "globex"}), "invalid_body"),
        ("POST", "/groups", json.dumps({"name": ""}), "invalid_body"),
        ("POST", "/sessions", json.dumps({"device_name": "x" * 200}), "invalid_body"),
        ("PUT", "/settings/theme", json.dumps({"value": 1, "expected_version": -1}), "invalid_body"),
        ("POST", "/auth/device/approve", json.dumps({"approve": True}), "invalid_body"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_with_a_json_error(
    api: Any, method: str, path: str, body: str, code: str
) -> None:
    status, answer = call(api, method, path, body)
    assert status == 400, answer
    assert answer["code"] == code and answer["message"]


def test_malformed_ids_are_not_found_and_unknown_routes_404(api: Any) -> None:
    assert call(api, "GET", "/bookmarks/a%23b")[0] == 404
    assert call(api, "GET", "/settings/-bad")[0] == 404
    assert call(api, "GET", "/nowhere")[0] == 404


def test_a_token_without_a_tenant_is_refused(api: Any) -> None:
    status, answer = call(api, "GET", "/bookmarks", tenant=None)
    assert status == 403 and answer["code"] == "no_tenant"
    assert call(api, "GET", "/bookmarks", tenant="bad tenant!")[0] == 403


def test_device_endpoints_speak_oauth_errors(api: Any) -> None:
    status, answer = call(api, "POST", "/auth/device/token", "grant_type=password",
                          content_type="application/x-www-form-urlencoded", tenant=None)  # fmt: skip
    assert status == 400 and answer["error"] == "unsupported_grant_type"
    form = f"grant_type={device.GRANT_TYPE}&client_id=other&device_code=x"
    status, answer = call(api, "POST", "/auth/device/token", form,
                          content_type="application/x-www-form-urlencoded", tenant=None)  # fmt: skip
    assert status == 401 and answer["error"] == "invalid_client"
    status, answer = call(api, "POST", "/auth/device/code", "client_id=nope",
                          content_type="application/x-www-form-urlencoded", tenant=None)  # fmt: skip
    assert status == 401 and answer["error"] == "invalid_client"


# -- seed data and profile ----------------------------------------------------------------------


def test_seed_items_are_partitioned_by_their_tenant() -> None:
    known = {
        "acmealice": ("acme", "s-a"),
        "acmebob": ("acme", "s-b"),
        "globexdan": ("globex", "s-d"),
    }
    rows = seed.items_for(known)
    for kind, item in rows:
        assert kind in ("settings", "bookmarks", "groups", "group_members")
        assert item["tenant_id"] in ("acme", "globex")
    members = [i for k, i in rows if k == "group_members" and i["resource_id"].startswith("group#")]
    roles = {(i["group_id"], i["user_id"]): i["role"] for i in members}
    assert roles == {("acme-team", "s-a"): "owner", ("acme-team", "s-b"): "member",
                     ("globex-team", "s-d"): "owner"}  # fmt: skip
    assert all(i["tenant_id"] == "_public" for _, i in seed.public_items())


def test_profile_and_isolation_section_validate() -> None:
    from harness.isolation.spec import load_spec
    from harness.profile import load_profile

    profile = load_profile(STACK / "harness.yaml")
    assert profile.name == "synchub" and profile.api == "SyncHubApi"
    assert profile.auth.issuer == "cognito" and profile.tenancy.tenant_claim == "custom:tenant_id"
    assert {a.name for a in profile.alarms} == {"api-5xx-errors", "api-latency"}
    latency = next(a for a in profile.alarms if a.name == "api-latency")
    assert latency.evaluation_periods == 3
    assert set(profile.fixtures.fake_servers) == {"cdn", "google"}
    spec = load_spec(STACK)
    assert spec.owner == "user" and set(spec.resources) == {
        "bookmark",
        "group",
        "session",
        "setting",
    }
    assert {r.table for r in spec.data.dynamodb} >= {"SettingsTable", "BookmarksTable",
                                                    "GroupsTable", "GroupMembersTable",
                                                    "SessionsTable"}  # fmt: skip


def test_self_sign_up_cannot_name_a_tenant() -> None:
    event = trigger("PreSignUp_SignUp", userAttributes={"email": "m@x", "custom:tenant_id": "acme"})
    with pytest.raises(auth_triggers.SignUpRefused):
        auth_triggers.handler(event, None)
    plain = trigger("PreSignUp_SignUp", userAttributes={"email": "m@x"})
    assert auth_triggers.handler(plain, None)["response"] == {}
    admin = trigger("PreSignUp_AdminCreateUser", userAttributes={"custom:tenant_id": "acme"})
    assert auth_triggers.handler(admin, None)["response"] == {}


# -- the seed's alarms, evaluated on the access log (checks.py) ---------------------------------

checks = load_module("synchub_checks", STACK / "checks.py")


def test_five_xx_alarm_counts_any_ten_minute_window(tmp_path: Path) -> None:
    from types import SimpleNamespace

    stack = SimpleNamespace(name="synchub", profile={"alarms": [
        {"name": "api-5xx-errors", "metric": "count_5xx", "threshold": 10, "period": "10m"},
        {"name": "api-latency", "metric": "p99", "threshold": "5000ms", "period": "1m",
         "evaluation_periods": 3}]})  # fmt: skip
    env = SimpleNamespace(state_dir=tmp_path)
    (tmp_path / "logs").mkdir()

    def write(rows: list[tuple[float, int, float]]) -> None:
        lines = [json.dumps({"stack": "synchub", "requestTimeEpoch": t * 1000, "status": s,
                             "responseLatency": ms}) for t, s, ms in rows]  # fmt: skip
        lines.append(json.dumps({"stack": "other", "requestTimeEpoch": 5000, "status": 500}))
        (tmp_path / "logs" / "access.log").write_text("\n".join(lines) + "\n")

    # 10 errors in 10 minutes is OK, the 11th within the window fires; spread out they do not
    write([(1000 + i * 50, 502, 20) for i in range(11)])
    assert checks.alarm_api_5xx_errors(env, stack)["observed"] == 11
    assert not checks.alarm_api_5xx_errors(env, stack)["passed"]
    assert checks.alarm_api_5xx_errors(env, stack, since=1001)["passed"]
    write([(1000 + i * 70, 502, 20) for i in range(11)])
    assert checks.alarm_api_5xx_errors(env, stack)["passed"]
    # latency: 3 consecutive minutes with p99 above 5 s fire, 2 (or a gap) do not
    slow = [(60 * m + s, 200, 6000.0) for m in (10, 11, 12) for s in range(5)]
    write(slow)
    assert not checks.alarm_api_latency(env, stack)["passed"]
    write([r for r in slow if r[0] < 60 * 12])
    assert checks.alarm_api_latency(env, stack)["passed"]
    write([(60 * m + s, 200, 6000.0) for m in (10, 11, 13) for s in range(5)])
    assert checks.alarm_api_latency(env, stack)["passed"]
