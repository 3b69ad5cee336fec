"""The Sync Hub stack (seed 000) end to end: the real gateway (HTTP API, JWT authorizer verifying
the emulator's RS256 Cognito tokens), the real runtime (the API function on Lambda Powertools, the
history function on five DynamoDB streams, the backup job, the CUSTOM_AUTH triggers called by the
emulator's Cognito), DynamoDB Local, S3 and SSM, the CDN and Google stand-ins, and the web console
in headless Chromium.

Users come from harness.yaml (``acme``: acmealice, acmebob, acmecarol; ``globex``: globexdan,
globexerin). fixtures/seed.py gives each bookmarks ``seed1``/``seed2`` and ``editor.theme``, and
each tenant a group ``<tenant>-team`` (first user owner, second member).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.model import DeployedStack
from harness.tokens import token_for_stack
from tests.fixtures.browser import BROWSER, Browser
from tests.fixtures.modules import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "synchub"
seed = load_module("synchub_seed", STACK_DIR / "fixtures" / "seed.py")
FORM = "application/x-www-form-urlencoded"


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request without following redirects."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Api:
    def __init__(self, env: Environment, stack: DeployedStack) -> None:
        self.env, self.stack = env, stack
        self.base = stack.apis["SyncHubApi"].base_url
        self.users: dict[str, tuple[str, str]] = seed.users(env, stack)  # user -> (tenant, sub)
        self._tokens: dict[str, str] = {}

    def sub(self, user: str) -> str:
        return self.users[user][1]

    def token(self, user: str) -> str:
        if user not in self._tokens:
            found = token_for_stack(self.env.state_dir, "synchub", self.users[user][0], user=user)
            assert found.source == "cognito" and found.token_use == "id", found
            self._tokens[user] = found.token
        return self._tokens[user]

    def call(
        self, method: str, path: str, user: str | None = None, body: Any = None, *,
        token: str | None = None, headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        sent = {"content-type": "application/json", **(headers or {})}
        bearer = token or (self.token(user) if user else None)
        if bearer:
            sent["authorization"] = f"Bearer {bearer}"
        data = None
        if body is not None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        status, got_headers, raw = request(self.base + path, method, data, sent)
        return status, (json.loads(raw) if raw else None), got_headers

    def ok(self, method: str, path: str, user: str, body: Any = None, status: int = 200) -> Any:
        got, answer, _ = self.call(method, path, user, body)
        assert got == status, (method, path, user, got, answer)
        return answer

    def device(self, path: str, form: dict[str, str]) -> tuple[int, Any]:
        data = urllib.parse.urlencode(form).encode()
        status, _, raw = request(self.base + path, "POST", data, {"content-type": FORM})
        return status, json.loads(raw)

    def items(self, logical: str, tenant: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        got = self.env.client("dynamodb").query(
            TableName=self.stack.resources[logical].physical_id,
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues={":t": {"S": tenant}},
        )
        return [{k: des.deserialize(v) for k, v in i.items()} for i in got["Items"]]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    state_dir = tmp_path_factory.mktemp("synchub-e2e")
    with contextlib.ExitStack() as cleanup:
        env = cleanup.enter_context(Environment(Settings.load(state_dir=state_dir)))
        stack = deploy_stack(env, STACK_DIR)  # starts the fakes, runs fixtures/seed.py
        client = Api(env, stack)
        until = time.monotonic() + 30  # every gateway worker picks the new stack up
        while True:
            status, body, _ = client.call("GET", "/bookmarks", "acmealice")
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.3)
        assert status == 200, body
        yield client


# -- routes and auth ----------------------------------------------------------------------------


def test_public_routes_and_the_jwt_authorizer(api: Api) -> None:
    status, body, _ = api.call("GET", "/_health")
    assert status == 200 and body["status"] == "ok"
    status, body, _ = api.call("GET", "/settings/public")
    assert status == 200
    assert {s["key"] for s in body["items"]} == {"minExtensionVersion", "feedbackEmojis"}
    for path in ("/settings", "/bookmarks", "/groups", "/sessions", "/auth/device/approve"):
        method = "POST" if path.startswith("/auth") else "GET"
        status, _, _ = api.call(method, path)
        assert status == 401, path  # no token: the authorizer refuses before the function
        status, _, _ = api.call(method, path, token="not.a.token")
        assert status == 401, path


def test_cors_answers_the_console_and_the_extension_only(api: Api) -> None:
    console = api.stack.fake_servers["cdn"].rstrip("/")
    for origin in (console, "vscode-webview://synchub"):
        status, _, headers = api.call(
            "OPTIONS", "/bookmarks",
            headers={"origin": origin, "access-control-request-method": "POST",
                     "access-control-request-headers": "authorization,content-type"},
        )  # fmt: skip
        assert status == 204 and headers.get("access-control-allow-origin") == origin
    _, _, headers = api.call(
        "OPTIONS",
        "/bookmarks",
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in headers
    # throttling: the stage's default route settings reach the gateway (its token buckets are
    # tested by the harness's own gateway tests), and the tenants' tier on top of it
    spec = api.stack.apis["SyncHubApi"]
    assert spec.stage_throttle is not None
    assert (spec.stage_throttle.rate, spec.stage_throttle.burst) == (500, 1000)
    assert api.stack.profile["tenancy"]["tiers"]["team"] == {"rate": 200, "burst": 400}


# -- bookmarks and tenant isolation ------------------------------------------------------------


def test_bookmarks_with_tags_belong_to_their_user_and_tenant(api: Api) -> None:
    made = api.ok("POST", "/bookmarks", "acmealice",
                  {"url": "https://docs.python.org", "title": "Python", "tags": ["py", "docs"]},
                  status=201)["bookmark"]  # fmt: skip
    bid = made["bookmark_id"]
    assert made["tags"] == ["docs", "py"]
    listed = api.ok("GET", "/bookmarks?tag=py", "acmealice")["items"]
    assert [b["bookmark_id"] for b in listed] == [bid]
    patched = api.ok("PATCH", f"/bookmarks/{bid}", "acmealice", {"title": "Python docs"})
    assert patched["bookmark"]["title"] == "Python docs"
    for other in ("acmebob", "globexdan"):  # same tenant another user, and another tenant
        assert api.call("GET", f"/bookmarks/{bid}", other)[0] == 404
        assert api.call("DELETE", f"/bookmarks/{bid}", other)[0] == 404
        assert bid not in {b["bookmark_id"] for b in api.ok("GET", "/bookmarks", other)["items"]}
    # tenant hints are never trusted
    status, answer, _ = api.call("POST", "/bookmarks", "globexdan",
                                 {"url": "https://x.example", "tenant_id": "acme"})  # fmt: skip
    assert status == 400 and answer["code"] == "invalid_body"
    globex = api.ok("GET", "/bookmarks?tenant_id=acme", "globexdan")["items"]
    assert {b["bookmark_id"] for b in globex} == {"seed1", "seed2"}
    assert all(i["tenant_id"] == "globex" for i in api.items("BookmarksTable", "globex"))
    api.ok("DELETE", f"/bookmarks/{bid}", "acmealice")
    assert api.call("GET", f"/bookmarks/{bid}", "acmealice")[0] == 404


def test_bad_input_is_400_json_never_500(api: Api) -> None:
    cases = [
        ("POST", "/bookmarks", "{not json"),
        ("POST", "/bookmarks", {"url": "javascript:alert(1)"}),
        ("POST", "/groups", {"name": ""}),
        ("PUT", "/settings/editor.tabSize", {"nope": 1}),
        ("POST", "/sessions/seed1/feedback", {"emoji": "x"}),
    ]
    for method, path, body in cases:
        status, answer, _ = api.call(method, path, "acmebob", body)
        assert status in (400, 404), (path, status, answer)
        assert answer["message"]


# -- settings: versions and history from the streams ------------------------------------------


def test_settings_are_versioned_and_every_change_reaches_history(api: Api) -> None:
    first = api.ok("PUT", "/settings/editor.tabSize", "acmecarol", {"value": 2})["setting"]
    second = api.ok("PUT", "/settings/editor.tabSize", "acmecarol",
                    {"value": 4, "expected_version": first["version"]})["setting"]  # fmt: skip
    assert second["version"] == first["version"] + 1 and second["value"] == 4
    status, answer, _ = api.call("PUT", "/settings/editor.tabSize", "acmecarol",
                                 {"value": 8, "expected_version": first["version"]})  # fmt: skip
    assert status == 409 and answer["code"] == "version_conflict"
    assert api.call("GET", "/settings/editor.tabSize", "acmealice")[0] == 404  # carol's own
    until, versions = time.monotonic() + 30, []
    while time.monotonic() < until:  # the stream reaches the history function asynchronously
        history = api.ok("GET", "/settings/editor.tabSize/history", "acmecarol")["items"]
        versions = [h["version"] for h in history]
        if second["version"] in versions:
            break
        time.sleep(0.5)
    assert {first["version"], second["version"]} <= set(versions), versions
    assert [h["value"] for h in history if h["version"] == second["version"]] == [4]
    records = api.items("HistoryTable", "acme")
    assert records and all(r["tenant_id"] == "acme" for r in records)
    assert not api.items("HistoryTable", "_device")  # device grants are nobody's history


# -- groups: RBAC --------------------------------------------------------------------------------


def test_group_roles_decide_who_reads_and_changes_settings_and_members(api: Api) -> None:
    gid = api.ok("POST", "/groups", "acmealice", {"name": "Platform"}, status=201)["group"][
        "group_id"
    ]
    bob, carol, dan = api.sub("acmebob"), api.sub("acmecarol"), api.sub("globexdan")
    api.ok("PUT", f"/groups/{gid}/members/{bob}", "acmealice", {"role": "member"}, status=201)
    api.ok("PUT", f"/groups/{gid}/members/{carol}", "acmealice", {"role": "admin"}, status=201)
    # a user of another tenant cannot be added, nor see the group
    assert (
        api.call("PUT", f"/groups/{gid}/members/{dan}", "acmealice", {"role": "member"})[0] == 404
    )
    assert api.call("GET", f"/groups/{gid}", "globexdan")[0] == 404
    assert api.call("GET", f"/groups/{gid}/settings", "globexdan")[0] == 404
    # admin writes settings, member reads them but may not write
    api.ok("PUT", f"/groups/{gid}/settings/lint.strict", "acmecarol", {"value": True})
    assert api.ok("GET", f"/groups/{gid}/settings", "acmebob")["items"][0]["value"] is True
    status, answer, _ = api.call(
        "PUT", f"/groups/{gid}/settings/lint.strict", "acmebob", {"value": False}
    )
    assert status == 403 and answer["code"] == "forbidden"
    assert api.call("DELETE", f"/groups/{gid}/settings/lint.strict", "acmebob")[0] == 403
    # an admin may not make admins nor remove them; only the owner deletes the group
    assert api.call("PUT", f"/groups/{gid}/members/{bob}", "acmecarol", {"role": "admin"})[0] == 403
    assert api.call("DELETE", f"/groups/{gid}", "acmecarol")[0] == 403
    roles = {
        m["user_id"]: m["role"] for m in api.ok("GET", f"/groups/{gid}/members", "acmebob")["items"]
    }
    assert roles == {api.sub("acmealice"): "owner", bob: "member", carol: "admin"}
    # a removed member loses access at once
    api.ok("DELETE", f"/groups/{gid}/members/{bob}", "acmecarol")
    assert api.call("GET", f"/groups/{gid}/settings", "acmebob")[0] == 404
    assert gid not in {g["group_id"] for g in api.ok("GET", "/groups", "acmebob")["items"]}
    api.ok("DELETE", f"/groups/{gid}", "acmealice")
    assert api.call("GET", f"/groups/{gid}", "acmecarol")[0] == 404


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_take_emoji_feedback_and_stay_private(api: Api) -> None:
    sid = api.ok("POST", "/sessions", "globexerin", {"device_name": "laptop"}, status=201)[
        "session"]["session_id"]  # fmt: skip
    api.ok("POST", f"/sessions/{sid}/feedback", "globexerin", {"emoji": "🎉", "comment": "nice"},
           status=201)  # fmt: skip
    got = api.ok("GET", f"/sessions/{sid}", "globexerin")["session"]
    assert got["feedback_count"] == 1 and got["feedback"][0]["emoji"] == "🎉"
    assert api.call("POST", f"/sessions/{sid}/feedback", "globexerin", {"emoji": "💩"})[0] == 400
    for other in ("globexdan", "acmealice"):
        assert api.call("GET", f"/sessions/{sid}", other)[0] == 404
        assert api.call("POST", f"/sessions/{sid}/feedback", other, {"emoji": "👍"})[0] == 404
    api.ok("DELETE", f"/sessions/{sid}", "globexerin")


# -- the device flow (RFC 8628), as the VS Code extension runs it ------------------------------


def test_device_flow_sign_in_from_a_script(api: Api) -> None:
    client_id = api.stack.resources["DeviceClient"].physical_id
    status, code = api.device(
        "/auth/device/code", {"client_id": client_id, "device_name": "vscode-e2e"}
    )
    assert status == 200, code
    assert code["verification_uri"] == api.stack.fake_servers["cdn"].rstrip("/") + "/device"
    assert code["verification_uri_complete"].endswith(code["user_code"])
    interval = code["interval"]
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": code["device_code"], "client_id": client_id}  # fmt: skip
    assert api.device("/auth/device/token", poll) == (400, {
        "error": "authorization_pending", "error_description": "the user has not approved the code yet"})  # fmt: skip
    status, fast = api.device("/auth/device/token", poll)  # too soon
    assert status == 400 and fast["error"] == "slow_down"
    interval += 5
    # the user approves in the console (typing the code loosely)
    approved = api.ok("POST", "/auth/device/approve", "acmealice",
                      {"user_code": code["user_code"].lower().replace("-", " ")})  # fmt: skip
    assert approved["status"] == "approved" and approved["session"]["device_name"] == "vscode-e2e"
    assert (
        api.call("POST", "/auth/device/approve", "acmebob", {"user_code": code["user_code"]})[0]
        == 400
    )
    time.sleep(interval + 0.5)
    status, tokens = api.device("/auth/device/token", poll)
    assert status == 200, tokens
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["custom:tenant_id"] == "acme" and claims["sub"] == api.sub("acmealice")
    assert claims["aud"] == client_id
    listed = api.call("GET", "/bookmarks", token=tokens["id_token"])
    assert listed[0] == 200 and {"seed1", "seed2"} <= {b["bookmark_id"] for b in listed[1]["items"]}
    sessions = api.ok("GET", "/sessions", "acmealice")["items"]
    assert any(s["session_id"] == tokens["session_id"] and s["paired_via"] == "device_flow"
               for s in sessions)  # fmt: skip
    status, again = api.device("/auth/device/token", poll)
    assert status == 400 and again["error"] == "invalid_grant"  # a device code is spent once


def test_device_flow_denied_and_unknown_codes(api: Api) -> None:
    client_id = api.stack.resources["DeviceClient"].physical_id
    _, code = api.device("/auth/device/code", {"client_id": client_id})
    api.ok(
        "POST",
        "/auth/device/approve",
        "globexdan",
        {"user_code": code["user_code"], "approve": False},
    )
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": code["device_code"], "client_id": client_id}  # fmt: skip
    status, answer = api.device("/auth/device/token", poll)
    assert status == 400 and answer["error"] == "access_denied"
    status, answer = api.device("/auth/device/token", {**poll, "device_code": "made-up"})
    assert status == 400 and answer["error"] == "invalid_grant"
    assert api.device("/auth/device/code", {"client_id": "someone-else"})[0] == 401


# -- hosted UI: authorization code + PKCE, email and Google --------------------------------------


def _pkce() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _exchange(api: Api, code: str, verifier: str) -> dict[str, Any]:
    config = seed.console_config(api.env, api.stack, api.stack.fake_servers["cdn"])
    form = {"grant_type": "authorization_code", "client_id": config["clientId"], "code": code,
            "redirect_uri": config["redirectUri"], "code_verifier": verifier}  # fmt: skip
    status, _, raw = request(config["hostedUiUrl"] + "/oauth2/token", "POST",
                             urllib.parse.urlencode(form).encode(), {"content-type": FORM})  # fmt: skip
    assert status == 200, raw
    return dict(json.loads(raw))


def test_google_sign_in_through_the_hosted_ui_maps_the_workspace_domain_to_the_tenant(
    api: Api,
) -> None:
    config = seed.console_config(api.env, api.stack, api.stack.fake_servers["cdn"])
    verifier, challenge = _pkce()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": config["clientId"], "redirect_uri": config["redirectUri"],
        "scope": config["scopes"], "state": "s1", "identity_provider": "Google",
        "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    status, headers, _ = request(f"{config['hostedUiUrl']}/oauth2/authorize?{query}")
    assert status == 302 and headers["location"].startswith(api.stack.fake_servers["google"])
    status, headers, _ = request(headers["location"] + "&login_hint=grace%40acme.example")
    assert status == 302 and "/oauth2/idpresponse" in headers["location"]
    status, headers, body = request(headers["location"])
    assert status == 302, body
    back = urllib.parse.urlsplit(headers["location"])
    params = dict(urllib.parse.parse_qsl(back.query))
    assert headers["location"].startswith(config["redirectUri"]) and params["state"] == "s1"
    tokens = _exchange(api, params["code"], verifier)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["custom:tenant_id"] == "acme" and claims["email"] == "grace@acme.example"
    status, body, _ = api.call("GET", "/bookmarks", token=tokens["id_token"])
    assert status == 200 and body["items"] == []  # a new acme user: nobody else's bookmarks
    assert api.call("GET", "/groups/acme-team", token=tokens["id_token"])[0] == 404  # not a member


def test_email_sign_up_cannot_choose_a_tenant(api: Api) -> None:
    cognito = api.env.client("cognito-idp")
    client_id = api.stack.resources["WebClient"].physical_id
    pool = api.stack.resources["UserPool"].physical_id
    with pytest.raises(Exception, match=r"(?i)tenant|attribute|not.*writ"):
        cognito.sign_up(ClientId=client_id, Username="mallory@evil.example", Password="Sign-up-1234!",
                        UserAttributes=[{"Name": "email", "Value": "mallory@evil.example"},
                                        {"Name": "custom:tenant_id", "Value": "acme"}])  # fmt: skip
    cognito.sign_up(ClientId=client_id, Username="newbie@example.com", Password="Sign-up-1234!",
                    UserAttributes=[{"Name": "email", "Value": "newbie@example.com"}])  # fmt: skip
    cognito.admin_confirm_sign_up(UserPoolId=pool, Username="newbie@example.com")
    result = cognito.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "newbie@example.com", "PASSWORD": "Sign-up-1234!"},
    )["AuthenticationResult"]  # fmt: skip
    status, _, _ = api.call("GET", "/bookmarks", token=result["IdToken"])
    assert status == 403  # signed up, but no tenant until one is assigned


# -- data stack, backups, SSM outputs and the observability stack --------------------------------


def test_tables_streams_and_the_backup_bucket(api: Api) -> None:
    ddb, s3 = api.env.client("dynamodb"), api.env.client("s3")
    for logical in (
        "SettingsTable",
        "BookmarksTable",
        "GroupsTable",
        "GroupMembersTable",
        "SessionsTable",
    ):
        record = api.stack.resources[logical]
        table = ddb.describe_table(TableName=record.physical_id)["Table"]
        assert [k["AttributeName"] for k in table["KeySchema"]] == ["tenant_id", "resource_id"]
        assert table["StreamSpecification"]["StreamEnabled"] is True
        assert record.properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    bucket = api.stack.resources["BackupBucket"].physical_id
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                  "RestrictPublicBuckets"))  # fmt: skip
    runtime = api.env.endpoints["runtime_url"].rstrip("/")
    backup_fn = api.stack.functions["BackupFunction"].name  # its nightly schedule, fired now
    from harness.env.secret import control_headers

    status, _, body = request(
        f"{runtime}/_harness/runtime/schedules/{backup_fn}/fire",
        "POST",
        b"{}",
        control_headers(api.env.endpoints),
    )
    assert status in (200, 202), body
    until, keys = time.monotonic() + 60, []
    while time.monotonic() < until:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        wanted = ("acme/bookmarks", "globex/bookmarks", "acme/sessions")  # the last table: done
        names = {f"{k.split('/')[1]}/{k.rsplit('/', 1)[-1][:-5]}" for k in keys}
        if all(w in names for w in wanted):
            break
        time.sleep(1)
    assert any(k.startswith("backups/acme/") and k.endswith("/settings.json") for k in keys), keys
    assert all(k.split("/")[1] in ("acme", "globex", "_public") for k in keys), keys
    acme = next(k for k in keys if k.startswith("backups/acme/") and k.endswith("/bookmarks.json"))
    items = json.loads(s3.get_object(Bucket=bucket, Key=acme)["Body"].read())
    assert items and {i["tenant_id"] for i in items} == {"acme"}


def test_outputs_in_ssm_and_a_second_stack_reading_them(api: Api) -> None:
    ssm = api.env.client("ssm")
    api_id = ssm.get_parameter(Name="/synchub/dev/api/id")["Parameter"]["Value"]
    assert api_id == api.stack.resources["SyncHubApi"].physical_id
    pool = ssm.get_parameter(Name="/synchub/dev/auth/user-pool-id")["Parameter"]["Value"]
    assert pool == api.stack.resources["UserPool"].physical_id
    observability = deploy_stack(api.env, STACK_DIR / "observability")
    assert observability.outputs["MonitoredApiId"] == api_id
    assert observability.outputs["MonitoredUserPool"] == pool
    alarms = api.env.client("cloudwatch").describe_alarms(AlarmNamePrefix="synchub-dev-")[
        "MetricAlarms"
    ]
    by_name = {a["AlarmName"]: a for a in alarms}
    five = by_name["synchub-dev-api-5xx"]
    assert (five["Threshold"], five["Period"], five["EvaluationPeriods"]) == (10, 600, 1)
    assert five["Dimensions"] == [{"Name": "ApiId", "Value": api_id}]
    latency = by_name["synchub-dev-api-latency"]
    assert (latency["Threshold"], latency["Period"], latency["EvaluationPeriods"]) == (5000, 60, 3)


def test_structured_logs_carry_the_correlation_id(api: Api) -> None:
    """Powertools' JSON log lines carry the gateway's correlation id and the caller's tenant;
    metrics go out as EMF."""
    api.call("GET", "/bookmarks", "acmebob", headers={"x-correlation-id": "corr-synchub-e2e"})
    fn = api.stack.functions["ApiFunction"].name
    path = api.env.state_dir / "logs" / "functions" / f"{fn}.log"
    until, found = time.monotonic() + 10, []
    while time.monotonic() < until and not found:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("correlationId") != "corr-synchub-e2e":
                continue
            with contextlib.suppress(ValueError, TypeError):
                found.append(json.loads(record.get("message") or "null"))
        time.sleep(0.3)
    answered = [r for r in found if isinstance(r, dict) and r.get("message") == "answered"]
    assert answered, f"no Powertools line with the correlation id in {path}: {found}"
    line = answered[0]
    assert line["correlation_id"] == "corr-synchub-e2e" and line["tenant_id"] == "acme"
    assert line["level"] == "INFO" and line["status"] == 200 and line["service"] == "synchub"
    assert line["user_id"] == api.sub("acmebob") and "cold_start" in line
    assert str(line.get("xray_trace_id", "")).startswith("1-")  # Lambda's _X_AMZN_TRACE_ID
    assert any("CloudWatchMetrics" in json.dumps(r) for r in found)  # EMF metrics


# -- the web console in a real browser ---------------------------------------------------------


@pytest.mark.skipif(BROWSER is None, reason="no chromium (scripts/bootstrap.sh installs it)")
def test_web_console_signs_in_and_manages_bookmarks_and_group_settings(
    api: Api, tmp_path: Path
) -> None:
    console = api.stack.fake_servers["cdn"].rstrip("/")
    status, headers, body = request(console + "/some/deep/link")
    assert status == 200 and headers.get("x-spa-fallback") == "index.html" and b"Sync Hub" in body
    api.token("acmealice")  # the user exists with a known password
    password = token_password(api, "acmealice")
    with Browser.start(tmp_path) as page:
        page.navigate(console + "/")
        page.wait_for("document.body.dataset.state === 'signed-out'", what="the sign-in page")
        page.evaluate("document.querySelector('#signin').click()")
        page.wait_for("!!document.querySelector('form[action=\"/login\"] input[name=password]')",
                      what="the hosted UI's sign-in form")  # fmt: skip
        page.evaluate(f"""(() => {{
            const form = document.querySelector('form[action="/login"]');
            form.querySelector('input[name=username]').value = 'acmealice';
            form.querySelector('input[name=password]').value = {json.dumps(password)};
            form.submit(); }})()""")
        page.wait_for("document.body.dataset.state === 'ready'", 45, "the console after sign-in")
        assert "acme" in page.evaluate("document.querySelector('#user').textContent")
        page.wait_for("document.querySelectorAll('#bookmarks li').length >= 2")
        page.evaluate("""(() => {
            document.querySelector('#bookmark-url').value = 'https://browser.example/page';
            document.querySelector('#bookmark-title').value = 'Added in Chromium';
            document.querySelector('#bookmark-tags').value = 'e2e, browser';
            document.querySelector('#bookmark-add').click(); })()""")
        page.wait_for(
            "[...document.querySelectorAll('#bookmarks li')].some(li => "
            "li.textContent.includes('Added in Chromium'))",
            what="the new bookmark",
        )
        bookmarks = api.ok("GET", "/bookmarks", "acmealice")["items"]
        added = next(b for b in bookmarks if b["title"] == "Added in Chromium")
        assert added["tags"] == ["browser", "e2e"]
        # group settings of the seeded group the user owns
        page.evaluate("document.querySelector('#groups li[data-id=\"acme-team\"] a').click()")
        page.wait_for("document.querySelector('#group-settings').dataset.group === 'acme-team'")
        page.evaluate("""(() => {
            document.querySelector('#setting-key').value = 'editor.rulers';
            document.querySelector('#setting-value').value = '[80, 100]';
            document.querySelector('#setting-add').click(); })()""")
        page.wait_for("!!document.querySelector('#group-settings li[data-id=\"editor.rulers\"]')")
        saved = api.ok("GET", "/groups/acme-team/settings/editor.rulers", "acmebob")["setting"]
        assert saved["value"] == [80, 100]
        shot = page.screenshot(tmp_path / "synchub-console.png")
        # remove both again through the console
        page.evaluate(
            "document.querySelector('#group-settings li[data-id=\"editor.rulers\"] button.delete').click()"
        )
        page.wait_for("!document.querySelector('#group-settings li[data-id=\"editor.rulers\"]')")
        page.evaluate(
            f"document.querySelector('#bookmarks li[data-id=\"{added['bookmark_id']}\"] button.delete').click()"
        )
        page.wait_for(
            f"!document.querySelector('#bookmarks li[data-id=\"{added['bookmark_id']}\"]')"
        )
        # the VS Code extension asks for a code; the signed-in user approves it in the console
        client_id = api.stack.resources["DeviceClient"].physical_id
        _, code = api.device(
            "/auth/device/code", {"client_id": client_id, "device_name": "chromium-vscode"}
        )
        page.navigate(code["verification_uri_complete"])
        page.wait_for("document.body.dataset.state === 'device'", what="the device page")
        assert page.evaluate("document.querySelector('#device-code').value") == code["user_code"]
        page.evaluate("document.querySelector('#device-approve').click()")
        page.wait_for("document.querySelector('#device').dataset.result === 'approved'")
        page.screenshot(tmp_path / "synchub-device.png")
        # sign out, then in with Google (the stand-in's account chooser) as a globex user
        page.navigate(console + "/")
        page.wait_for("document.body.dataset.state === 'ready'")
        page.evaluate("document.querySelector('#signout').click()")
        page.wait_for("document.body.dataset.state === 'signed-out'", what="signed out")
        page.evaluate("document.querySelector('#signin-google').click()")
        page.wait_for("!!document.querySelector('a.account[data-email=\"heidi@globex.example\"]')",
                      what="the Google stand-in's account chooser")  # fmt: skip
        page.evaluate(
            "document.querySelector('a.account[data-email=\"heidi@globex.example\"]').click()"
        )
        page.wait_for("document.body.dataset.state === 'ready'", 45, "the console after Google")
        assert "globex" in page.evaluate("document.querySelector('#user').textContent")
        assert page.evaluate("document.querySelector('#bookmarks').dataset.count") == "0"
        assert page.evaluate("document.querySelector('#groups').dataset.count") == "0"
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": code["device_code"], "client_id": client_id}  # fmt: skip
    status, tokens = api.device("/auth/device/token", poll)
    assert status == 200, tokens
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["sub"] == api.sub("acmealice") and claims["custom:tenant_id"] == "acme"
    assert api.call("GET", "/groups/acme-team/settings/editor.rulers", "acmealice")[0] == 404
    assert api.call("GET", f"/bookmarks/{added['bookmark_id']}", "acmealice")[0] == 404
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def token_password(api: Api, user: str) -> str:
    """The password `harness token` gave the user (harness/tokens.py's derivation)."""
    import hashlib

    pool = api.stack.resources["UserPool"].physical_id
    return "Harness-" + hashlib.sha256(f"{pool}/{user}".encode()).hexdigest()[:16] + "!1a"


# -- isolation ----------------------------------------------------------------------------------


def test_isolation_run_passes(api: Api, tmp_path: Path) -> None:
    """harness.yaml's isolation section (per user: bookmarks, groups, sessions, settings), the
    data-layer rules on the six tables and the backup bucket, and token tampering."""
    from harness.isolation import run_isolation

    result = run_isolation(api.env, api.stack, examples=12, seed=0, report_dir=tmp_path)
    assert result.passed, result.violations
    assert (tmp_path / "isolation.json").exists()
    print(f"isolation: {result.examples} examples, {result.steps} steps, {result.calls} calls, "
          f"{result.seconds:.1f} s, tenants {result.tenants}, data layer {result.data_layer}")  # fmt: skip
    assert result.calls > 50 and set(result.tenants) >= {"acme", "globex"}
    assert result.tampering and all(t.get("passed", True) for t in result.tampering)
    exercised = {e.split(" ", 1)[-1] for e in result.statuses}
    assert any("/bookmarks" in e for e in exercised) and any("/groups" in e for e in exercised)
