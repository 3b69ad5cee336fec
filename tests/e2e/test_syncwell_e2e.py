"""SyncWell end to end: real gateway (HTTP API JWT authorizer on the local issuer, the direct
SQS integration for webhooks), real runtime (SQS event source with batches of 10 and
ReportBatchItemFailures, schedules), real DynamoDB/SQS/S3/Secrets Manager/Redis, and the fake
provider server."""

from __future__ import annotations

import http.client
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.tokens import LocalIssuer, local_issuer_url
from tests.fixtures.modules import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK = Path(__file__).resolve().parents[2] / "stacks" / "syncwell"


seed = load_module("syncwell_seed", STACK / "fixtures" / "seed.py")
checks = load_module("syncwell_checks", STACK / "checks.py")


class Api:
    def __init__(self, env: Environment, stack: Any, runtime: Any) -> None:
        self.env, self.stack, self.runtime = env, stack, runtime
        base = urlsplit(stack.apis["SyncWellApi"].base_url)
        self.host, self.port, self.prefix = base.hostname or "127.0.0.1", base.port, base.path
        self.issuer = LocalIssuer(env.state_dir, env.endpoints["gateway_url"])

    def token(self, user: str, tier: str = "FREE", **kw: Any) -> str:
        return self.issuer.mint(
            user,
            tenant=user,
            tier=tier,
            client_id="syncwell-prod",
            tenant_claim="custom:tenant_id",
            tier_claim="custom:tier",
            **kw,
        )

    def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = None,
        key: str | None = "auto",
        token: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if user or token:
            headers["authorization"] = f"Bearer {token or self.token(user or '')}"
        if key == "auto" and method in ("POST", "PUT", "DELETE"):
            key = str(uuid.uuid4())
        if key and key != "auto":
            headers["idempotency-key"] = key
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return resp.status, parsed
        finally:
            conn.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from harness.runtime.client import RuntimeClient

    state_dir = tmp_path_factory.mktemp("syncwell-e2e")
    with Environment(Settings.load(state_dir=state_dir)) as env:
        # harness.yaml binds RedisUrl and IssuerUrl to the environment and its fixtures start the
        # fake provider server (ProviderBaseUrl) and seed the profile's tenants
        stack = deploy_stack(env, STACK, {"BackoffBaseSeconds": "1", "CoalescingDelaySeconds": "1"})
        assert stack.parameters["IssuerUrl"] == local_issuer_url(env.endpoints["gateway_url"])
        seed.seed(env, stack, stack.fake_servers, users=[("e2e-a", "PRO"), ("e2e-b", "FREE")])
        # harness up started the runtime; the client reads its function logs
        holder = RuntimeClient(str(env.endpoints["runtime_url"]))
        client = Api(env, stack, holder)
        until = time.monotonic() + 20
        while True:
            status, body = client.call("GET", "/v1/connections", "e2e-a")
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.2)
        assert status == 200, body
        yield client


JOB = {
    "sourceConnectionId": "conn_strava_e2e-a",
    "destinationConnectionId": "conn_fitbit_e2e-a",
    "dataType": "workout",
    "mode": "manual",
    "priority": "high",
}


def test_auth_and_validation_at_the_gateway(api: Api) -> None:
    assert api.call("GET", "/v1/connections")[0] == 401
    assert api.call("GET", "/v1/connections", token=api.token("e2e-a", expires_in=-10))[0] == 401
    status, body = api.call("POST", "/v1/sync-jobs", "e2e-a", JOB, key=None)
    assert status == 400 and body["error"]["code"] == "MissingIdempotencyKey"
    status, body = api.call("POST", "/v1/sync-jobs", "e2e-a", {**JOB, "mode": "cold"})
    assert status == 400 and body["error"]["field"] == "mode"
    status, body = api.call("GET", "/v1/connections", "e2e-a")
    assert status == 200 and len(body["connections"]) == 2


def test_dual_issuer_authorizer_accepts_both_issuers_and_caches_for_5_minutes(api: Api) -> None:
    """The Lambda authorizer accepts the primary issuer's tokens (the local issuer standing in
    for Firebase) and the standby Cognito pool's (the emulator's RS256 access tokens, the
    username being the user id); a token is authorized once per 5-minute cache period."""
    from harness.tokens import cognito_user_tokens

    user = "e2e-cognito"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    primary = api.token(user)
    status, body = api.call("GET", "/v1/connections", token=primary)
    assert status == 200 and len(body["connections"]) == 2, body
    pool = api.stack.resources["StandbyUserPool"].physical_id
    client = api.stack.resources["StandbyUserPoolClient"].physical_id
    tokens = cognito_user_tokens(api.env.endpoints, pool, client, user, "Passw0rd!Passw0rd")
    status, standby = api.call("GET", "/v1/connections", token=tokens["AccessToken"])
    assert status == 200 and standby == body  # the same user, through the other issuer
    status, _ = api.call("GET", "/v1/connections", token=tokens["AccessToken"][:-4] + "AAAA")
    assert status == 401  # a tampered signature
    name = api.stack.resources["AuthorizerFunction"].physical_id
    before = api.runtime.function_metrics(name)["invocations"]
    token = api.token(user)
    for _ in range(10):
        assert api.call("GET", "/v1/connections", token=token)[0] == 200
    # once per gateway worker at most (each keeps its own cache), not once per request
    assert 1 <= api.runtime.function_metrics(name)["invocations"] - before < 10


def test_admin_endpoint_invalidates_the_shared_jwks_and_revokes_a_key(api: Api) -> None:
    """Seed [R-002]: JWKS documents are shared in Redis (``jwks##{url}``, 1 hour); a
    syncwell-admin principal can drop one (every authorizer refetches) or revoke a key."""
    import jwt

    r = api.env.redis(decode_responses=True)

    def fresh(user: str, **claims: Any) -> str:  # a token the gateway has not cached yet
        return api.token(user, claims={"nonce": uuid.uuid4().hex, **claims})

    assert api.call("GET", "/v1/connections", token=fresh("adm-plain"))[0] == 200
    shared = [k for k in r.scan_iter("jwks##http*/_harness/issuer/*")]  # the primary's
    assert len(shared) == 1 and 3000 < r.ttl(shared[0]) <= 3600
    url = shared[0].removeprefix("jwks##")
    path = "/v1/admin/jwks-cache/invalidate"
    status, body = api.call("POST", path, token=fresh("adm-plain"), body={"issuer": "primary"})
    assert status == 403 and body["error"]["code"] == "Forbidden"
    admin = fresh("ops-1", roles=["syncwell-admin"])
    status, body = api.call("POST", path, token=admin, body={"issuer": "primary", "extra": 1})
    assert status == 400
    status, body = api.call("POST", path, token=admin, body={"issuer": "primary"})
    assert status == 200 and body["revokedKid"] is None, body
    assert not r.exists(shared[0])
    assert api.call("GET", "/v1/connections", token=fresh("adm-plain"))[0] == 200
    assert r.exists(shared[0])  # refetched and shared again
    kid = jwt.get_unverified_header(admin)["kid"]
    status, body = api.call("POST", path, token=admin, body={"issuer": "primary", "kid": kid})
    assert status == 200 and body["revokedKid"] == kid  # (the admin's token is still cached)
    try:
        assert api.call("GET", "/v1/connections", token=fresh("adm-plain"))[0] == 401
    finally:
        r.srem(f"jwks##revoked##{url}", kid)
    assert api.call("GET", "/v1/connections", token=fresh("adm-plain"))[0] == 200


def test_manual_sync_completes_through_queue_and_runtime(api: Api) -> None:
    started = time.monotonic()
    key = str(uuid.uuid4())
    status, body = api.call("POST", "/v1/sync-jobs", "e2e-a", JOB, key=key)
    assert status == 202 and body["status"] == "QUEUED", body
    job_id = body["jobId"]
    assert api.call("POST", "/v1/sync-jobs", "e2e-a", JOB, key=key)[1]["jobId"] == job_id
    assert api.call("GET", f"/v1/sync-jobs/{job_id}", "e2e-b")[0] == 404  # another user's job
    deadline = time.monotonic() + 30
    status_now = None
    while time.monotonic() < deadline:
        status, body = api.call("GET", f"/v1/sync-jobs/{job_id}", "e2e-a")
        status_now = body.get("status")
        if status_now in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.3)
    assert status_now == "SUCCEEDED", body
    assert time.monotonic() - started < 15  # the manual-sync SLO (p95 < 15 s), for one job


def test_a_finished_sync_and_export_are_pushed_to_the_user(api: Api) -> None:
    """SyncSucceeded (worker) and ExportCompleted (exporter) on the bus → EventBridge rule →
    NotifierFunction → the push topic (SNS Mobile Push stand-in), read here through an SQS
    subscription."""
    user = "e2e-push"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    sqs, sns = api.env.client("sqs"), api.env.client("sns")
    inbox = sqs.create_queue(QueueName=f"push-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=api.stack.resources["PushTopic"].arn
        or api.stack.resources["PushTopic"].physical_id,
        Protocol="sqs",
        Endpoint=arn,
    )
    body = {
        **JOB,
        "sourceConnectionId": f"conn_strava_{user}",
        "destinationConnectionId": f"conn_fitbit_{user}",
    }
    status, answer = api.call("POST", "/v1/sync-jobs", user, body)
    assert status == 202, answer
    assert api.call("POST", "/v1/export-jobs", user, {})[0] == 202
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 2:
        for m in sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=2, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            envelope = json.loads(m["Body"])
            attributes = envelope.get("MessageAttributes") or {}
            if attributes.get("userId", {}).get("Value") == user:
                seen[attributes["event"]["Value"]] = envelope
    assert set(seen) == {"SyncSucceeded", "ExportCompleted"}, seen
    assert seen["SyncSucceeded"]["Message"].startswith("Sync complete")
    assert seen["ExportCompleted"]["Message"].startswith("Your export is ready")


def test_historical_job_runs_through_orchestrator_and_chunk_workers(api: Api) -> None:
    """POST (mode=historical) → HistoricalSyncQueue → orchestrator → HistoricalChunkQueue →
    chunk workers, all run by the runtime's SQS pollers; progress read through the API."""
    today = datetime.now(UTC).date()
    window = {"startDate": (today - timedelta(days=13)).isoformat(), "endDate": today.isoformat()}
    status, body = api.call(
        "POST", "/v1/sync-jobs", "e2e-a", {**JOB, "mode": "historical", "dateRange": window}
    )
    assert status == 202 and body["status"] == "QUEUED", body
    job_id = body["jobId"]
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = api.call("GET", f"/v1/sync-jobs/{job_id}", "e2e-a")
        assert status == 200, body
        seen.append(body["status"])
        if body["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.3)
    assert body["status"] == "SUCCEEDED", body
    assert body["progress"] == {"totalChunks": 2, "processedChunks": 2, "failedChunks": 0}
    assert body["mode"] == "historical"


def _jobs(api: Api, user: str, origin: str | None = None) -> list[dict[str, Any]]:
    items = api.env.client("dynamodb").query(
        TableName=api.stack.resources["SyncWellMetadata"].physical_id,
        KeyConditionExpression="PK = :p AND begins_with(SK, :j)",
        ExpressionAttributeValues={":p": {"S": f"USER#{user}"}, ":j": {"S": "JOB#"}},
        ConsistentRead=True,
    )["Items"]
    return [i for i in items if origin is None or i.get("origin", {}).get("S") == origin]


def test_webhooks_go_to_the_fifo_buffer_and_coalesce_into_one_job(api: Api) -> None:
    """API → SQS FIFO (direct integration, no Lambda) → coalescer → hot path → worker."""
    for _ in range(3):
        status, body = api.call("POST", "/v1/webhooks/strava", body={"ownerId": "strava-e2e-b"})
        assert status == 200, body
        assert body["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    deadline = time.monotonic() + 30
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        jobs = _jobs(api, "e2e-b", "webhook")
        if jobs and all(j["status"]["S"] == "SUCCEEDED" for j in jobs):
            break
        time.sleep(0.5)
    assert jobs and all(j["status"]["S"] == "SUCCEEDED" for j in jobs), jobs
    assert len(jobs) == 1  # three webhooks for one user within the buffer delay: one job


# -- every contract, the hot path's guarantees and deletion, through the gateway -------------------


def _fake(api: Api, path: str, body: Any = None, method: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api.stack.fake_servers["providers"] + path,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _items(api: Api, user: str) -> list[dict[str, Any]]:
    return api.env.client("dynamodb").query(
        TableName=api.stack.resources["SyncWellMetadata"].physical_id,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": f"USER#{user}"}},
        ConsistentRead=True,
    )["Items"]


def _wait_job(
    api: Api,
    user: str,
    job_id: str,
    until: tuple[str, ...] = ("SUCCEEDED", "FAILED"),
    t: float = 40,
) -> dict[str, Any]:
    path = (
        f"/v1/export-jobs/{job_id}" if job_id.startswith("export-") else f"/v1/sync-jobs/{job_id}"
    )
    deadline = time.monotonic() + t
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, body = api.call("GET", path, user)
        assert status == 200, body
        if body["status"] in until:
            return body
        time.sleep(0.3)
    return body


def _job(user: str, **change: Any) -> dict[str, Any]:
    return {
        "sourceConnectionId": f"conn_strava_{user}",
        "destinationConnectionId": f"conn_fitbit_{user}",
        "dataType": "workout",
        "mode": "manual",
        **change,
    }


def test_every_contract_answers_as_section_3d_says(api: Api) -> None:
    user = "e2e-contracts"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    # connections: list, and a new one through the provider's OAuth code exchange
    status, body = api.call("GET", "/v1/connections", user)
    assert status == 200 and {c["provider"] for c in body["connections"]} == {"strava", "fitbit"}
    conn = body["connections"][0]
    assert set(conn) >= {"connectionId", "provider", "displayName", "providerIconUrl", "status"}
    status, body = api.call(
        "POST",
        "/v1/connections",
        user,
        {"provider": "garmin", "authorizationCode": f"code-g-{user}"},
    )
    assert status == 201 and body["provider"] == "garmin" and body["status"] == "active", body
    status, body = api.call(
        "POST", "/v1/connections", user, {"provider": "garmin", "authorizationCode": "nope"}
    )
    assert status == 400 and body["error"]["code"] == "InvalidAuthorizationCode", body
    status, body = api.call(
        "POST", "/v1/connections", user, {"provider": "myspace", "authorizationCode": "x"}
    )
    assert status == 400 and body["error"]["field"] == "provider", body

    # sync jobs: 202 with job_<uuidv4>, replay, a reused key with another body, validation
    key = str(uuid.uuid4())
    status, body = api.call("POST", "/v1/sync-jobs", user, _job(user), key=key)
    assert status == 202 and body["status"] == "QUEUED", body
    job_id = body["jobId"]
    assert job_id.startswith("job_") and uuid.UUID(job_id[4:]).version == 4
    assert api.call("POST", "/v1/sync-jobs", user, _job(user), key=key) == (202, body)
    status, err = api.call("POST", "/v1/sync-jobs", user, _job(user, dataType="steps"), key=key)
    assert status == 409 and err["error"]["code"] == "IdempotencyKeyReused", err
    status, err = api.call(
        "POST",
        "/v1/sync-jobs",
        user,
        _job(user, dateRange={"startDate": "2026-01-01", "endDate": "2026-01-02"}),
    )
    assert status == 400 and err["error"]["field"] == "dateRange", err
    status, err = api.call("POST", "/v1/sync-jobs", user, {**_job(user), "userId": "someone-else"})
    assert status == 400 and err["error"]["code"] == "UnknownField", err
    status, err = api.call("POST", "/v1/sync-jobs", user, "x" * 20_000)
    assert status == 413, err
    status, err = api.call(
        "POST", "/v1/sync-jobs", user, _job(user, sourceConnectionId="conn_nope")
    )
    assert status == 404 and err["error"]["code"] == "ConnectionNotFound", err
    done = _wait_job(api, user, job_id)
    assert done["status"] == "SUCCEEDED" and done["jobId"] == job_id, done
    assert done["progress"] == {"totalChunks": 1, "processedChunks": 1, "failedChunks": 0}

    # settings with optimistic locking
    status, body = api.call("GET", "/v1/users/me/settings", user)
    assert status == 200 and "settings" in body, body
    version = body.get("version", 1)
    new = {"conflictResolutionStrategy": "source_wins", "notificationsEnabled": False}
    status, body = api.call(
        "PUT", "/v1/users/me/settings", user, {"settings": new, "version": version}
    )
    assert status == 200 and body["version"] == version + 1, body
    status, err = api.call(
        "PUT", "/v1/users/me/settings", user, {"settings": new, "version": version}
    )
    assert status == 409 and err["error"]["code"] == "VersionConflict", err
    status, err = api.call(
        "PUT",
        "/v1/users/me/settings",
        user,
        {"settings": {"conflictResolutionStrategy": "COIN_FLIP"}},
    )
    assert status == 400 and err["error"]["code"] != "InternalError", err

    # export: 202 PENDING, the exporter (runtime SQS poller) writes a ZIP, a 1-hour URL
    status, body = api.call("POST", "/v1/export-jobs", user, {})
    assert status == 202 and body["status"] == "PENDING" and body["jobId"].startswith("export-job-")
    export = _wait_job(api, user, body["jobId"])
    assert export["status"] == "SUCCEEDED", export
    expires = datetime.strptime(export["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((expires - datetime.now(UTC)).total_seconds() - 3600) < 120
    with urllib.request.urlopen(export["downloadUrl"], timeout=10) as response:
        names = set(zipfile.ZipFile(io.BytesIO(response.read())).namelist())
    assert {"account.json", "connections.json", "workout.json"} <= names
    assert api.call("GET", f"/v1/export-jobs/{body['jobId']}", "e2e-b")[0] == 404

    # device upload: staged in S3, written by the worker, the staged object deleted
    data = [
        {
            "id": f"hk-{i}",
            "activityType": "walk",
            "startTime": f"2026-02-0{i + 1}T08:00:00Z",
            "durationSeconds": 600,
        }
        for i in range(3)
    ]
    status, body = api.call(
        "POST",
        "/v1/device-upload",
        user,
        {"data": data, "destinationConnectionId": f"conn_fitbit_{user}"},
    )
    assert status == 202 and body["status"] == "QUEUED", body
    assert _wait_job(api, user, body["jobId"])["status"] == "SUCCEEDED"
    staged = api.env.client("s3").list_objects_v2(
        Bucket=api.stack.resources["UploadBucket"].physical_id, Prefix=f"uploads/{user}/"
    )
    assert staged.get("KeyCount", 0) == 0

    # deleting a connection: 204, a replay 204, a new request 404, another user's 404
    key = str(uuid.uuid4())
    path = f"/v1/connections/conn_strava_{user}"
    assert api.call("DELETE", path, user, key=key)[0] == 204
    assert api.call("DELETE", path, user, key=key)[0] == 204
    assert api.call("DELETE", path, user)[0] == 404
    assert api.call("DELETE", "/v1/connections/conn_fitbit_e2e-a", user)[0] == 404
    status, body = api.call("GET", "/v1/connections", user)
    assert "strava" not in {c["provider"] for c in body["connections"]}
    assert api.call("POST", "/v1/sync-jobs", user, _job(user))[0] == 404


def test_sync_configs_through_the_gateway(api: Api) -> None:
    user = "e2e-configs"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    status, listing = api.call("GET", "/v1/sync-configs", user)
    assert status == 200 and len(listing["syncConfigs"]) == 1
    body = {
        "sourceConnectionId": f"conn_strava_{user}",
        "destinationConnectionId": f"conn_fitbit_{user}",
        "dataType": "sleep_session",
        "conflictStrategy": "source_wins",
    }
    status, created = api.call("POST", "/v1/sync-configs", user, body)
    assert status == 201 and created["syncConfigId"] == f"conn_strava_{user}:sleep_session"
    status, _ = api.call("POST", "/v1/sync-configs", user, body, key=None)
    assert status == 400  # every state-changing call needs an Idempotency-Key
    status, _ = api.call("DELETE", f"/v1/sync-configs/{created['syncConfigId']}", user)
    assert status == 204


def test_a_job_submitted_twice_with_one_key_is_processed_once(api: Api) -> None:
    user = "e2e-twice"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    _fake(
        api,
        "/_control/accounts",
        {"provider": "strava", "ownerId": f"strava-{user}", "activities": 4},
    )
    written = _fake(api, "/_control/stats").get("written.fitbit", 0)
    key = str(uuid.uuid4())
    # the same request sent twice at once (a client retrying before the first answer)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: api.call("POST", "/v1/sync-jobs", user, _job(user), key=key), range(2)
            )
        )
    assert [a[0] for a in answers] == [202, 202], answers
    assert answers[0][1]["jobId"] == answers[1][1]["jobId"], answers  # (status: as it is now)
    job_id = answers[0][1]["jobId"]
    assert _wait_job(api, user, job_id)["status"] == "SUCCEEDED"
    assert api.call("POST", "/v1/sync-jobs", user, _job(user), key=key)[1]["jobId"] == job_id
    time.sleep(2)  # a second message, had one been sent, would have run by now
    jobs = [i for i in _items(api, user) if i["SK"]["S"].startswith("JOB#")]
    assert [j["SK"]["S"] for j in jobs] == [f"JOB#{job_id}"]
    assert _fake(api, "/_control/stats")["written.fitbit"] == written + 4  # each activity once
    assert _fake(api, "/_control/duplicates")["duplicates"] == 0


def test_a_poison_job_lands_in_the_dlq_after_five_receives(api: Api) -> None:
    """A job whose provider token is revoked (401 after a refresh) fails on every receive; the
    runtime's SQS poller reports it as a batch item failure, SQS moves it to the DLQ after
    maxReceiveCount = 5 and the job reads FAILED. An unparseable message goes the same way."""
    user = "e2e-poison"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "FREE")])
    _fake(api, "/_control/revoke", {"provider": "strava", "ownerId": f"strava-{user}"})
    sqs = api.env.client("sqs")
    queue = api.stack.resources["HotPathSyncQueue"].physical_id
    garbage = sqs.send_message(QueueUrl=queue, MessageBody="{not a job")["MessageId"]
    status, body = api.call("POST", "/v1/sync-jobs", user, _job(user))
    assert status == 202, body
    job_id = body["jobId"]
    job = _wait_job(api, user, job_id, until=("FAILED", "SUCCEEDED"), t=60)
    assert job["status"] == "FAILED", job
    item = next(i for i in _items(api, user) if i["SK"]["S"] == f"JOB#{job_id}")
    assert int(item["attempts"]["N"]) == 5 and "needs_reauth" in item["error"]["S"]
    deadline = time.monotonic() + 20
    dead: set[str] = set()
    while time.monotonic() < deadline and job_id not in dead:
        dead = checks.dlq_job_ids(api.env, api.stack)
        time.sleep(0.5)
    assert job_id in dead
    dlq = api.stack.resources["HotPathSyncDlq"].physical_id
    deadline = time.monotonic() + 20
    found = None
    while time.monotonic() < deadline and found is None:
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        ):
            if m["Body"] == "{not a job":
                found = m
        time.sleep(0.3 if found is None else 0)
    assert found is not None and found["MessageId"] == garbage
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=found["ReceiptHandle"])
    conns = {
        c["connectionId"]: c for c in api.call("GET", "/v1/connections", user)[1]["connections"]
    }
    assert conns[f"conn_strava_{user}"]["status"] == "needs_reauth"
    status, err = api.call("POST", "/v1/sync-jobs", user, _job(user))
    assert status == 409 and err["error"]["code"] == "ConnectionNotActive", err


def test_a_rate_limited_provider_delays_jobs_without_losing_them(api: Api) -> None:
    users = [f"e2e-429-{i}" for i in range(3)]
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(u, "FREE") for u in users])
    before = _fake(api, "/_control/stats").get("faults.strava.rate_limit", 0)
    _fake(
        api,
        "/_control/faults",
        {"provider": "strava", "mode": "rate_limit", "retry_after": 1, "count": 8},
    )
    try:
        started = time.monotonic()
        jobs = {}
        for u in users:
            status, body = api.call("POST", "/v1/sync-jobs", u, _job(u))
            assert status == 202, body
            jobs[u] = body["jobId"]
        done = {u: _wait_job(api, u, j, t=60) for u, j in jobs.items()}
    finally:
        _fake(api, "/_control/faults", method="DELETE")
    assert all(d["status"] == "SUCCEEDED" for d in done.values()), done
    throttled = _fake(api, "/_control/stats").get("faults.strava.rate_limit", 0) - before
    assert throttled >= 3  # the provider did answer 429 ...
    assert time.monotonic() - started > 1  # ... and the jobs waited for it (Retry-After: 1 s)
    assert not set(jobs.values()) & checks.dlq_job_ids(api.env, api.stack)


def test_deleting_a_user_leaves_no_item_object_secret_or_cache_key(api: Api) -> None:
    user = "e2e-gone"
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[(user, "PRO")])
    status, body = api.call("POST", "/v1/sync-jobs", user, _job(user))
    assert _wait_job(api, user, body["jobId"])["status"] == "SUCCEEDED"
    status, body = api.call("POST", "/v1/export-jobs", user, {})
    assert _wait_job(api, user, body["jobId"])["status"] == "SUCCEEDED"
    api.call("GET", "/v1/connections", user)  # fills the config cache
    redis = api.env.redis(decode_responses=True)
    assert [k for k in redis.scan_iter(match=f"*{user}*") if not k.startswith("gw:")]
    pointers = [i["CredentialArn"]["S"] for i in _items(api, user) if "CredentialArn" in i]
    assert len(pointers) == 2
    s3 = api.env.client("s3")
    exports = api.stack.resources["ExportBucket"].physical_id
    assert s3.list_objects_v2(Bucket=exports, Prefix=f"exports/{user}/").get("KeyCount", 0) == 1

    status, _ = api.call("DELETE", "/v1/users/me", user)
    assert status == 202
    assert _items(api, user) == []
    for bucket in ("ExportBucket", "UploadBucket"):
        name = api.stack.resources[bucket].physical_id
        for prefix in (f"exports/{user}/", f"uploads/{user}/"):
            assert s3.list_objects_v2(Bucket=name, Prefix=prefix).get("KeyCount", 0) == 0
    # (gw:* keys are the emulated API Gateway's usage-plan buckets, not SyncWell's data)
    assert [k for k in redis.scan_iter(match=f"*{user}*") if not k.startswith("gw:")] == []
    secrets = api.env.client("secretsmanager")
    for pointer in pointers:
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.get_secret_value(SecretId=pointer)
    status, body = api.call("GET", "/v1/connections", user)
    assert status == 200 and body["connections"] == []


def test_pro_schedule_fires_preflight_checks_and_jobs_run_only_for_new_data(api: Api) -> None:
    """Schedule → scheduler → pre-flight queue → PollingPreflightFunction (one cheap check per
    config) → a hot-path job only for the user whose source has new data; the idle user's
    next poll backs off (section 3f)."""
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=[("e2e-sched", "PRO")])
    idle = [j["jobId"]["S"] for j in _jobs(api, "e2e-a", "schedule")]
    # e2e-a synced everything earlier in this module: make both users due now
    for user in ("e2e-sched", "e2e-a"):
        api.env.client("dynamodb").update_item(
            TableName=api.stack.resources["SyncWellMetadata"].physical_id,
            Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": "PROFILE"}},
            UpdateExpression="SET NextSyncTimestamp = :n",
            ExpressionAttributeValues={":n": {"N": str(int(time.time()) - 1)}},
        )
    checks_before = _fake(api, "/_control/stats").get("checks.strava", 0)
    name = next(e.name for e in api.stack.event_sources if e.kind == "schedule" and "Pro" in e.name)
    api.runtime.fire_schedule(name)
    deadline = time.monotonic() + 30
    done: list[Any] = []
    while time.monotonic() < deadline:
        done = _jobs(api, "e2e-sched", "schedule")
        if done and all(i["status"]["S"] == "SUCCEEDED" for i in done):
            break
        time.sleep(0.5)
    assert done and all(i["status"]["S"] == "SUCCEEDED" for i in done), done
    assert _fake(api, "/_control/stats").get("checks.strava", 0) >= checks_before + 2
    profile = next(i for i in _items(api, "e2e-a") if i["SK"]["S"] == "PROFILE")
    assert int(profile["IdleStreak"]["N"]) >= 1  # nothing new at e2e-a's source: backed off
    assert int(profile["NextSyncTimestamp"]["N"]) > time.time() + 1700
    assert [j["jobId"]["S"] for j in _jobs(api, "e2e-a", "schedule")] == idle  # and no job


def test_isolation_machine_finds_no_cross_user_access(api: Api, tmp_path: Path) -> None:
    """The harness's isolation machine on harness.yaml's spec; tenant = user, so tokens carry
    sub = the tenant id (the machine's own user names are ignored)."""
    from harness.isolation.model import MachineConfig
    from harness.isolation.run import run_machine
    from harness.isolation.spec import IsolationSpec

    users = [("iso-a", "FREE"), ("iso-b", "PRO"), ("iso-c", "FREE")]
    seed.seed(api.env, api.stack, api.stack.fake_servers, users=users)
    spec = IsolationSpec.model_validate(api.stack.profile["isolation"])
    fixture_ids = {u: [f"conn_strava_{u}", f"conn_fitbit_{u}"] for u, _ in users}
    spec.resources["connection"].fixture_ids = fixture_ids
    tiers = dict(users)
    config = MachineConfig(
        base_url=api.stack.apis["SyncWellApi"].base_url,
        spec=spec,
        tokens=lambda tenant, user: api.token(tenant, tiers.get(tenant, "FREE")),
        tenants=[u for u, _ in users],
        generated=False,
    )
    result = run_machine(config, examples=8, steps=12, seed_value=1, report_dir=tmp_path)
    assert result.passed, result.violation
    assert result.calls > 20


def test_zz_no_job_lost_or_duplicated(api: Api) -> None:
    lost = checks.no_lost_jobs(api.env, api.stack, drain_timeout_s=20)
    assert lost["passed"], lost
    dupes = checks.no_duplicate_jobs(api.env, api.stack)
    assert dupes["passed"], dupes
