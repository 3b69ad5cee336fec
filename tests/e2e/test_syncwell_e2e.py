"""SyncWell end to end: real gateway (HTTP API JWT authorizer on the local issuer, the direct
SQS integration for webhooks), real runtime (SQS event source with batches of 10 and
ReportBatchItemFailures, schedules), real DynamoDB/SQS/S3/Secrets Manager/Redis, and the fake
provider server."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
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


def test_pro_schedule_fires_and_jobs_run(api: Api) -> None:
    name = next(e.name for e in api.stack.event_sources if e.kind == "schedule" and "Pro" in e.name)
    api.runtime.fire_schedule(name)
    deadline = time.monotonic() + 30
    done: list[Any] = []
    while time.monotonic() < deadline:
        done = _jobs(api, "e2e-a", "schedule")
        if done and all(i["status"]["S"] == "SUCCEEDED" for i in done):
            break
        time.sleep(0.5)
    assert done and all(i["status"]["S"] == "SUCCEEDED" for i in done)


def test_isolation_machine_finds_no_cross_user_access(api: Api, tmp_path: Path) -> None:
    """The harness's isolation machine on harness.yaml's spec; tenant = user, so tokens carry
    sub = the tenant id (the machine's own user names are ignored)."""
    from harness.isolation.machine import MachineConfig
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
