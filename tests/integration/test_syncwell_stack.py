"""SyncWell deployed on a real environment; handlers called in-process with API Gateway 2.0 and
SQS events built here, SQS receive/visibility driven by the test (short visibility timeouts)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.aws import aws_environ
from harness.config import Settings
from harness.deploy import deploy_stack
from harness.env.environment import Environment
from tests.fixtures.modules import load_module
from tests.fixtures.openapi_contract import OpenApiContract

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[2] / "stacks" / "syncwell"
sys.path.insert(0, str(STACK / "src"))


seed_mod = load_module("syncwell_seed", STACK / "fixtures" / "seed.py")
# every answer of World.call is checked against the stack's OpenAPI document
CONTRACT = OpenApiContract(STACK / "openapi" / "spec.yaml")
checks = load_module("syncwell_checks", STACK / "checks.py")


class World:
    def __init__(self, env: Environment, stack: Any, provider_url: str) -> None:
        self.env = env
        self.stack = stack
        self.provider_url = provider_url
        self.sqs = env.client("sqs")
        self.ddb = env.client("dynamodb")
        self.queue = stack.resources["HotPathSyncQueue"].physical_id
        self.dlq = stack.resources["HotPathSyncDlq"].physical_id
        self.table = stack.resources["SyncWellMetadata"].physical_id
        self.historical_queue = stack.resources["HistoricalSyncQueue"].physical_id
        self.chunk_queue = stack.resources["HistoricalChunkQueue"].physical_id
        from syncwell import api, coalescer, exporter, historical, scheduler, worker

        self.api, self.worker, self.coalescer = api, worker, coalescer
        self.exporter, self.scheduler, self.historical = exporter, scheduler, historical

    # -- API -------------------------------------------------------------------------------------
    def call(
        self,
        user: str,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = "auto",
        tier: str = "FREE",
    ) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if key == "auto" and method in ("POST", "PUT", "DELETE"):
            key = str(uuid.uuid4())
        if key and key != "auto":
            headers["idempotency-key"] = key
        event = {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "headers": headers,
            "requestContext": {
                "http": {"method": method, "path": path},
                "requestId": str(uuid.uuid4()),
                "authorizer": {"jwt": {"claims": {"sub": user, "custom:tier": tier}}},
            },
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
        }
        answer = self.api.handler(event)
        parsed = json.loads(answer["body"]) if answer.get("body") else None
        CONTRACT.check(method, path, answer["statusCode"], parsed)
        return answer["statusCode"], parsed

    def submit(self, user: str, key: str | None = None, **change: Any) -> str:
        body = {
            "sourceConnectionId": f"conn_strava_{user}",
            "destinationConnectionId": f"conn_fitbit_{user}",
            "dataType": "workout",
            "mode": "manual",
            **change,
        }
        status, answer = self.call(
            user, "POST", "/v1/sync-jobs", body, key=key or str(uuid.uuid4())
        )
        assert status == 202, answer
        return str(answer["jobId"])

    def job(self, user: str, job_id: str) -> dict[str, Any]:
        status, answer = self.call(user, "GET", f"/v1/sync-jobs/{job_id}")
        assert status == 200, answer
        return dict(answer)

    # -- SQS as the Lambda event source mapping would drive it -----------------------------------
    def receive(
        self, url: str | None = None, visibility: int = 2, limit: int = 10
    ) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=url or self.queue,
            MaxNumberOfMessages=limit,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return answer.get("Messages", [])

    @staticmethod
    def records(messages: list[dict[str, Any]], arn: str) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        k: {"stringValue": a.get("StringValue"), "dataType": a["DataType"]}
                        for k, a in (m.get("MessageAttributes") or {}).items()
                    },
                    "md5OfBody": m.get("MD5OfBody"),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }

    def run_worker_once(self, visibility: int = 2) -> tuple[list[str], dict[str, Any]]:
        messages = self.receive(visibility=visibility)
        if not messages:
            return [], {"batchItemFailures": []}
        result = self.worker.handler(
            self.records(messages, self.stack.resources["HotPathSyncQueue"].arn)
        )
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        for m in done:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return [m["MessageId"] for m in messages], result

    def run_queue_once(
        self, url: str, logical_id: str, handler: Any, limit: int = 10, **attributes: str
    ) -> tuple[list[str], dict[str, Any]]:
        """One poll of ``url`` handed to ``handler`` as the event source mapping would (deleting
        what succeeded); ``attributes`` override the records' SQS attributes."""
        messages = self.receive(url, limit=limit)
        if not messages:
            return [], {"batchItemFailures": []}
        event = self.records(messages, self.stack.resources[logical_id].arn)
        for record in event["Records"]:
            record["attributes"].update(attributes)
        result = handler(event)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [m["MessageId"] for m in messages], result

    def run_historical_once(self) -> list[str]:
        started, _ = self.run_queue_once(
            self.historical_queue, "HistoricalSyncQueue", self.historical.orchestrator_handler
        )
        chunks, _ = self.run_queue_once(
            self.chunk_queue, "HistoricalChunkQueue", self.historical.chunk_handler
        )
        return started + chunks

    def drain(self, rounds: int = 30, pause: float = 0.3, until: Any = None) -> None:
        queues = (self.queue, self.historical_queue, self.chunk_queue)
        for _ in range(rounds):
            seen, _ = self.run_worker_once()
            seen += self.run_historical_once()
            if until is not None and until():
                return
            if not seen and until is None and all(self.depth(q) == 0 for q in queues):
                return
            time.sleep(pause)

    def depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url or self.queue, AttributeNames=["All"])[
            "Attributes"
        ]
        return sum(
            int(attrs[k])
            for k in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )

    def fake(self, path: str, body: Any = None, method: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.provider_url + path, data=data, method=method or ("POST" if data else "GET")
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def account(self, provider_account: str) -> list[dict[str, Any]]:
        return self.ddb.query(
            TableName=self.table,
            IndexName="ProviderAccount-gsi",
            KeyConditionExpression="ProviderAccount = :a",
            ExpressionAttributeValues={":a": {"S": provider_account}},
        )["Items"]

    def items(self, pk: str) -> list[dict[str, Any]]:
        return self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            ConsistentRead=True,
        )["Items"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state = tmp_path_factory.mktemp("syncwell-state")
    with Environment(Settings.load(state_dir=state, runtime=False)) as env:
        # harness.yaml's fixtures: deploy starts the fake provider server (ProviderBaseUrl) and
        # seeds the profile's tenants; RedisUrl is bound to the fault proxy by the profile
        stack = deploy_stack(env, STACK)
        provider_url = stack.fake_servers["providers"]
        assert stack.parameters["ProviderBaseUrl"] == provider_url
        assert stack.parameters["RedisUrl"] == env.endpoints["redis_proxy_url"]
        with pytest.MonkeyPatch.context() as mp:
            for key, value in {
                **stack.functions["WorkerFunction"].environment,
                **aws_environ(env.endpoints),
            }.items():
                mp.setenv(key, value)
            mp.setenv("BACKOFF_BASE_S", "0.2")
            mp.setenv("BACKOFF_CAP_S", "1")
            mp.setenv("LOCK_LEASE_S", "5")
            mp.setenv("PROVIDER_DISABLED_RETRY_S", "1")
            yield World(env, stack, provider_url)


def seed(world: World, user: str, tier: str = "FREE") -> None:
    seed_mod.seed(world.env, world.stack, world.stack.fake_servers, users=[(user, tier)])


# -- contracts -----------------------------------------------------------------------------------


def test_connections_sync_jobs_and_replays(world: World) -> None:
    seed(world, "c1")
    status, answer = world.call("c1", "GET", "/v1/connections")
    assert status == 200
    assert sorted(c["connectionId"] for c in answer["connections"]) == [
        "conn_fitbit_c1",
        "conn_strava_c1",
    ]
    strava = next(c for c in answer["connections"] if c["provider"] == "strava")
    assert strava["status"] == "active" and strava["displayName"] == "Strava"
    assert strava["providerIconUrl"].endswith("/strava_icon.png")

    key = str(uuid.uuid4())
    before = world.depth()
    job_id = world.submit("c1", key=key)
    assert job_id.startswith("job_") and uuid.UUID(job_id[4:]).version == 4
    assert world.submit("c1", key=key) == job_id  # replay: same job, not enqueued again
    assert world.depth() == before + 1
    status, answer = world.call(
        "c1",
        "POST",
        "/v1/sync-jobs",
        {
            "sourceConnectionId": "conn_strava_c1",
            "destinationConnectionId": "conn_fitbit_c1",
            "dataType": "steps",
            "mode": "manual",
        },
        key=key,
    )
    assert status == 409 and answer["error"]["code"] == "IdempotencyKeyReused"
    assert world.job("c1", job_id)["status"] == "QUEUED"
    assert world.job("c1", job_id)["progress"] == {
        "totalChunks": 1,
        "processedChunks": 0,
        "failedChunks": 0,
    }

    # tenant = the user: another user cannot see the job, nor use c1's connections
    seed(world, "c2")
    assert world.call("c2", "GET", f"/v1/sync-jobs/{job_id}")[0] == 404
    status, answer = world.call(
        "c2",
        "POST",
        "/v1/sync-jobs",
        {
            "sourceConnectionId": "conn_strava_c1",
            "destinationConnectionId": "conn_fitbit_c2",
            "dataType": "workout",
            "mode": "manual",
        },
    )
    assert status == 404 and answer["error"]["field"] == "sourceConnectionId"

    historical = world.submit(
        "c1", mode="historical", dateRange={"startDate": "2025-01-01", "endDate": "2025-12-31"}
    )
    assert world.job("c1", historical)["progress"]["totalChunks"] == 53
    world.drain()
    assert world.job("c1", job_id)["status"] == "SUCCEEDED"
    assert world.job("c1", historical)["status"] == "SUCCEEDED"


def test_sync_config_api_creates_changes_and_deletes_with_versions(world: World) -> None:
    """POST/GET/DELETE /v1/sync-configs (the client's offline queue replays these): create
    without a version, change with the current one, 409 when it moved on, 404 when it is gone,
    the same answer for a retried Idempotency-Key, only the caller's own connections."""
    from syncwell.users import load_user_config

    seed(world, "sc9")
    seed(world, "sc8")
    status, listing = world.call("sc9", "GET", "/v1/sync-configs")
    assert status == 200
    assert [c["syncConfigId"] for c in listing["syncConfigs"]] == ["conn_strava_sc9:workout"]
    body = {
        "sourceConnectionId": "conn_strava_sc9",
        "destinationConnectionId": "conn_fitbit_sc9",
        "dataType": "steps",
    }
    key = str(uuid.uuid4())
    status, created = world.call("sc9", "POST", "/v1/sync-configs", body, key=key)
    assert status == 201 and created["version"] == 1 and created["isEnabled"] is True
    assert created["conflictStrategy"] == "newest_wins"
    assert world.call("sc9", "POST", "/v1/sync-configs", body, key=key) == (201, created)
    status, answer = world.call("sc9", "POST", "/v1/sync-configs", body)
    assert status == 409 and answer["error"]["code"] == "VersionConflict"
    status, changed = world.call(
        "sc9", "POST", "/v1/sync-configs", {**body, "version": 1, "isEnabled": False}
    )
    assert status == 200 and changed["version"] == 2 and changed["isEnabled"] is False
    stale = world.call("sc9", "POST", "/v1/sync-configs", {**body, "version": 1})
    assert stale[0] == 409
    gone = world.call(
        "sc9", "POST", "/v1/sync-configs", {**body, "dataType": "sleep_session", "version": 3}
    )
    assert gone[0] == 404
    # another user's connection is not yours to sync into
    foreign = world.call(
        "sc9", "POST", "/v1/sync-configs", {**body, "destinationConnectionId": "conn_fitbit_sc8"}
    )
    assert foreign[0] == 404
    assert world.call("sc9", "POST", "/v1/sync-configs", {**body, "extra": 1})[0] == 400
    same = {**body, "destinationConnectionId": "conn_strava_sc9"}
    assert world.call("sc9", "POST", "/v1/sync-configs", same)[0] == 400
    # the worker and the scheduler read configs through the (invalidated) config cache
    config = load_user_config(world.worker.Context().table, "sc9") or {}
    assert config["syncConfigs"]["conn_strava_sc9##steps"]["IsEnabled"] is False
    key = str(uuid.uuid4())
    path = "/v1/sync-configs/conn_strava_sc9:steps"
    assert world.call("sc9", "DELETE", path, key=key)[0] == 204
    assert world.call("sc9", "DELETE", path, key=key)[0] == 204  # a retry
    assert world.call("sc9", "DELETE", path)[0] == 404  # a new request
    assert world.call("sc8", "DELETE", "/v1/sync-configs/conn_strava_sc9:workout")[0] == 404
    assert world.call("sc9", "DELETE", "/v1/sync-configs/nonsense")[0] == 400
    listing = world.call("sc9", "GET", "/v1/sync-configs")[1]
    assert [c["syncConfigId"] for c in listing["syncConfigs"]] == ["conn_strava_sc9:workout"]


def test_the_app_authenticates_to_providers_with_credentials_from_secrets_manager(
    world: World,
) -> None:
    """The OAuth client credentials live in the stack's ProviderAppCredentials secret; the
    functions send them (HTTP Basic) on every token and revoke call, and the fake providers
    refuse calls without them."""
    from syncwell import providers

    secret = world.stack.resources["ProviderAppCredentials"].physical_id
    stored = json.loads(
        world.env.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    )
    assert stored["strava"]["clientId"] == "syncwell-strava"
    request = urllib.request.Request(
        world.provider_url + "/strava/oauth/token",
        data=b"grant_type=authorization_code&code=code-nobody",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401 and b"invalid_client" in refused.value.read()
    before = world.fake("/_control/stats").get("invalid_client.strava", 0)
    providers._APP_CREDENTIALS.update(value=None, until=0.0)
    status, conn = world.call(
        "ac1",
        "POST",
        "/v1/connections",
        {"provider": "strava", "authorizationCode": "code-strava-ac1"},
    )
    assert status == 201, conn
    assert world.fake("/_control/stats").get("invalid_client.strava", 0) == before
    tags = (
        world.env.client("secretsmanager")
        .describe_secret(
            SecretId=next(
                i["CredentialArn"]["S"] for i in world.items("USER#ac1") if "CredentialArn" in i
            )
        )
        .get("Tags", [])
    )
    assert {"Key": "userId", "Value": "ac1"} in tags


def test_settings_optimistic_locking(world: World) -> None:
    seed(world, "s1")
    status, answer = world.call(
        "s1",
        "PUT",
        "/v1/users/me/settings",
        {
            "settings": {
                "conflictResolutionStrategy": "AI_POWERED_MERGE",
                "notificationsEnabled": True,
            }
        },
    )
    assert status == 200 and answer["version"] == 2
    status, answer = world.call(
        "s1",
        "PUT",
        "/v1/users/me/settings",
        {"settings": {"notificationsEnabled": False}, "version": 1},
    )
    assert status == 409 and answer["error"]["code"] == "VersionConflict"
    status, answer = world.call(
        "s1",
        "PUT",
        "/v1/users/me/settings",
        {"settings": {"notificationsEnabled": False}, "version": 2},
    )
    assert status == 200 and answer == {
        "settings": {
            "conflictResolutionStrategy": "AI_POWERED_MERGE",
            "notificationsEnabled": False,
        },
        "version": 3,
    }
    assert world.call("s1", "GET", "/v1/users/me/settings")[1]["version"] == 3


def test_export_job_zip_and_presigned_url(world: World) -> None:
    seed(world, "e1")
    key = str(uuid.uuid4())
    status, answer = world.call("e1", "POST", "/v1/export-jobs", {}, key=key)
    assert status == 202 and answer["status"] == "PENDING"
    assert answer["jobId"].startswith("export-job-")
    assert world.call("e1", "POST", "/v1/export-jobs", {}, key=key)[1]["jobId"] == answer["jobId"]
    export_queue = world.stack.resources["ExportQueue"]
    messages = world.receive(export_queue.physical_id)
    assert len(messages) == 1  # the replay did not enqueue a second export
    result = world.exporter.handler(world.records(messages, export_queue.arn))
    assert result == {"batchItemFailures": []}
    world.sqs.delete_message(
        QueueUrl=export_queue.physical_id, ReceiptHandle=messages[0]["ReceiptHandle"]
    )
    status, job = world.call("e1", "GET", f"/v1/export-jobs/{answer['jobId']}")
    assert status == 200 and job["status"] == "SUCCEEDED"
    assert "X-Amz-Expires=3600" in job["downloadUrl"] or "Expires=" in job["downloadUrl"]
    expires = time.mktime(time.strptime(job["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 3600)) < 120
    assert world.call("c1", "GET", f"/v1/export-jobs/{answer['jobId']}")[0] == 404
    obj = world.env.client("s3").get_object(
        Bucket=world.stack.resources["ExportBucket"].physical_id,
        Key=f"exports/e1/{answer['jobId']}.zip",
    )
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(obj["Body"].read())).namelist()
    assert {"account.json", "connections.json", "workout.json", "steps.json"} <= set(names)


def test_device_upload_and_delete_connection(world: World) -> None:
    seed(world, "d1")
    data = [
        {
            "id": f"hk-{i}",
            "activityType": "walk",
            "startTime": f"2026-01-0{i + 1}T08:00:00Z",
            "durationSeconds": 600,
        }
        for i in range(3)
    ]
    status, answer = world.call(
        "d1",
        "POST",
        "/v1/device-upload",
        {"data": data, "destinationConnectionId": "conn_fitbit_d1"},
    )
    assert status == 202 and answer["status"] == "QUEUED"
    written = world.fake("/_control/stats").get("written.fitbit", 0)
    world.drain()
    assert world.job("d1", answer["jobId"])["status"] == "SUCCEEDED"
    assert world.fake("/_control/stats")["written.fitbit"] == written + 3
    # the same records uploaded again (a new request): conflict resolution writes nothing
    status, again = world.call(
        "d1",
        "POST",
        "/v1/device-upload",
        {"data": data, "destinationConnectionId": "conn_fitbit_d1"},
    )
    assert status == 202 and again["jobId"] != answer["jobId"]
    world.drain()
    assert world.job("d1", again["jobId"])["recordsWritten"] == 0
    assert world.fake("/_control/stats")["written.fitbit"] == written + 3
    uploads = world.env.client("s3").list_objects_v2(
        Bucket=world.stack.resources["UploadBucket"].physical_id, Prefix="uploads/d1/"
    )
    assert uploads.get("KeyCount", 0) == 0  # staged data deleted once written

    key = str(uuid.uuid4())
    revoked = world.fake("/_control/stats").get("revoked.strava", 0)
    status, _ = world.call("d1", "DELETE", "/v1/connections/conn_strava_d1", key=key)
    assert status == 204
    # [C-009] de-authorized at the provider, not only forgotten here
    assert world.fake("/_control/stats")["revoked.strava"] == revoked + 1
    assert world.call("d1", "DELETE", "/v1/connections/conn_strava_d1", key=key)[0] == 204  # replay
    assert world.call("d1", "DELETE", "/v1/connections/conn_strava_d1")[0] == 404  # a new request
    assert world.call("d2", "DELETE", "/v1/connections/conn_fitbit_d1")[0] == 404  # not d2's
    ids = [c["connectionId"] for c in world.call("d1", "GET", "/v1/connections")[1]["connections"]]
    assert ids == ["conn_fitbit_d1"]
    sks = {i["SK"]["S"] for i in world.items("USER#d1")}
    assert not any(sk.startswith("SYNCCONFIG#conn_strava_d1") for sk in sks)
    assert world.account("strava#strava-d1") == []
    status, answer = world.call(
        "d1",
        "POST",
        "/v1/sync-jobs",
        {
            "sourceConnectionId": "conn_strava_d1",
            "destinationConnectionId": "conn_fitbit_d1",
            "dataType": "workout",
            "mode": "manual",
        },
    )
    assert status == 404

    # an upload whose destination is removed before it runs: cancelled, staged raw data deleted
    status, late = world.call(
        "d1",
        "POST",
        "/v1/device-upload",
        {"data": data, "destinationConnectionId": "conn_fitbit_d1"},
    )
    assert status == 202
    assert world.call("d1", "DELETE", "/v1/connections/conn_fitbit_d1")[0] == 204
    world.drain()
    assert world.job("d1", late["jobId"])["status"] == "CANCELLED"
    uploads = world.env.client("s3").list_objects_v2(
        Bucket=world.stack.resources["UploadBucket"].physical_id, Prefix="uploads/d1/"
    )
    assert uploads.get("KeyCount", 0) == 0


def test_an_export_that_keeps_failing_is_failed_on_its_last_receive(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(world, "x1")
    status, answer = world.call("x1", "POST", "/v1/export-jobs", {})
    assert status == 202
    queue = world.stack.resources["ExportQueue"]
    messages = world.receive(queue.physical_id)
    assert len(messages) == 1
    monkeypatch.setenv("EXPORT_BUCKET", f"no-such-bucket-{uuid.uuid4().hex[:8]}")
    event = world.records(messages, queue.arn)
    event["Records"][0]["attributes"] = {"ApproximateReceiveCount": "1"}
    assert len(world.exporter.handler(event)["batchItemFailures"]) == 1
    assert world.call("x1", "GET", f"/v1/export-jobs/{answer['jobId']}")[1]["status"] == "PENDING"
    event["Records"][0]["attributes"] = {"ApproximateReceiveCount": "3"}  # maxReceiveCount
    assert len(world.exporter.handler(event)["batchItemFailures"]) == 1
    assert world.call("x1", "GET", f"/v1/export-jobs/{answer['jobId']}")[1]["status"] == "FAILED"
    world.sqs.delete_message(QueueUrl=queue.physical_id, ReceiptHandle=messages[0]["ReceiptHandle"])


# -- the hot path ----------------------------------------------------------------------------------


def test_job_delivered_twice_is_processed_once_and_empty_syncs_write_nothing(world: World) -> None:
    seed(world, "i1")
    world.fake(
        "/_control/accounts", {"provider": "strava", "ownerId": "strava-i1", "activities": 4}
    )
    job_id = world.submit("i1")
    messages = world.receive()
    assert len(messages) == 1
    arn = world.stack.resources["HotPathSyncQueue"].arn
    # at-least-once delivery: the same message handed to two invocations
    first = world.worker.handler(world.records(messages, arn))
    second = world.worker.handler(world.records(messages, arn))
    assert first == second == {"batchItemFailures": []}
    world.sqs.delete_message(QueueUrl=world.queue, ReceiptHandle=messages[0]["ReceiptHandle"])
    job = world.job("i1", job_id)
    assert job["status"] == "SUCCEEDED" and job["recordsWritten"] == 4
    dupes = world.fake("/_control/duplicates")
    assert dupes["duplicates"] == 0
    lock = world.ddb.get_item(
        TableName=world.table,
        Key={"PK": {"S": "USER#i1"}, "SK": {"S": f"IDEM#{job_id[4:]}"}},
        ConsistentRead=True,
    ).get("Item")
    # the lock is keyed by the Idempotency-Key; the key given above was random, look it up
    locks = [i for i in world.items("USER#i1") if i["SK"]["S"].startswith("IDEM#")]
    assert len(locks) == 1 and locks[0]["status"]["S"] == "COMPLETED"
    assert abs(int(locks[0]["ttl"]["N"]) - (time.time() + 86400)) < 120
    assert lock is None or lock["status"]["S"] == "COMPLETED"

    state = [i for i in world.items("USER#i1") if i["SK"]["S"].startswith("SYNCSTATE#")]
    assert len(state) == 1
    stamp = state[0]["lastSyncTime"]["S"]
    time.sleep(1.1)
    empty = world.submit("i1")  # nothing new at the source: no sync-state write
    world.drain()
    assert world.job("i1", empty)["recordsWritten"] == 0
    state = [i for i in world.items("USER#i1") if i["SK"]["S"].startswith("SYNCSTATE#")]
    assert state[0]["lastSyncTime"]["S"] == stamp

    # metadata first: re-syncing a range the destination already holds hydrates nothing
    stats = world.fake("/_control/stats")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
    again = world.submit(
        "i1", mode="historical", dateRange={"startDate": month_ago, "endDate": today}
    )
    world.drain()
    after = world.fake("/_control/stats")
    assert world.job("i1", again)["recordsWritten"] == 0
    chunks = world.job("i1", again)["progress"]["totalChunks"]
    assert chunks == 5  # 31 days in 7-day chunks, one source listing each
    assert after["calls.strava.list"] == stats["calls.strava.list"] + chunks
    assert after.get("calls.strava.hydrate", 0) == stats.get("calls.strava.hydrate", 0)


def test_sync_confidence_skips_destination_reads_after_empty_ones(world: World) -> None:
    """sync:confidence:{userId}:{dest}: after SYNC_CONFIDENCE_THRESHOLD (3) empty destination
    reads, syncs skip the read; every third one past the threshold reads anyway, and a
    non-empty read (a conflicting activity at the destination) resets the counter."""
    assert os.environ["SYNC_CONFIDENCE_THRESHOLD"] == "3"  # the template's default
    seed(world, "sc1")
    world.submit("sc1")  # the seeded activities: the destination's overlap, read and reset
    world.drain()
    r = world.env.redis(decode_responses=True)
    assert r.get("sync:confidence:sc1:fitbit") is None
    t0 = time.time() - 1800  # after every seeded activity (those end an hour ago)

    def stamp(k: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 60 * k))

    reads, written = [], []
    for k in range(1, 11):
        if k == 7:  # the user also recorded the 9th activity at the destination
            world.fake(
                "/_control/accounts",
                {"provider": "fitbit", "ownerId": "fitbit-sc1", "add": [stamp(9)]},
            )
        world.fake(
            "/_control/accounts", {"provider": "strava", "ownerId": "strava-sc1", "add": [stamp(k)]}
        )
        before = world.fake("/_control/stats").get("calls.fitbit.list", 0)
        job_id = world.submit("sc1")
        world.drain()
        job = world.job("sc1", job_id)
        assert job["status"] == "SUCCEEDED", job
        reads.append(world.fake("/_control/stats").get("calls.fitbit.list", 0) - before)
        written.append(job["recordsWritten"])
        if k == 8:
            assert r.get("sync:confidence:sc1:fitbit") == "8"
            assert 7 * 86400 - 60 < r.ttl("sync:confidence:sc1:fitbit") <= 7 * 86400
    assert reads == [1, 1, 1, 0, 0, 1, 0, 0, 1, 1]
    # the 9th read found the destination's own copy: not written twice, and confidence reset
    assert written == [1, 1, 1, 1, 1, 1, 1, 1, 0, 1]
    assert r.get("sync:confidence:sc1:fitbit") == "1"
    assert world.fake("/_control/duplicates")["duplicates"] == 0


def test_conflicts_resolve_by_strategy_and_the_user_s_setting_drives_it(world: World) -> None:
    """A record the user also has at the destination (same start, same activity): newest_wins
    (the default) updates the destination's copy in place when the source's is newer; after the
    user PUTs dest_wins (PUT /v1/users/me/settings, through the invalidated config cache) the
    next conflict leaves it alone; source_wins overwrites even an older one. Never a duplicate."""
    seed(world, "cs1")
    world.submit("cs1")
    world.drain()

    def stamp(minutes_ago: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 * minutes_ago))

    def conflict(minutes_ago: int, source_newer: bool) -> tuple[int, int, int]:
        start = stamp(minutes_ago)
        older, newer = stamp(minutes_ago - 5), stamp(minutes_ago - 10)
        world.fake(
            "/_control/accounts",
            {"provider": "fitbit", "ownerId": "fitbit-cs1",
             "add": [{"startTime": start, "modifiedAt": older if source_newer else newer}]},
        )  # fmt: skip
        world.fake(
            "/_control/accounts",
            {"provider": "strava", "ownerId": "strava-cs1",
             "add": [{"startTime": start, "modifiedAt": newer if source_newer else older}]},
        )  # fmt: skip
        stats = world.fake("/_control/stats")
        job_id = world.submit("cs1")
        world.drain()
        after = world.fake("/_control/stats")
        return (
            int(world.job("cs1", job_id)["recordsWritten"]),
            after.get("updated.fitbit", 0) - stats.get("updated.fitbit", 0),
            after.get("written.fitbit", 0) - stats.get("written.fitbit", 0),
        )

    assert conflict(40, source_newer=True) == (1, 1, 0)  # newest wins: updated in place
    assert conflict(35, source_newer=False) == (0, 0, 0)  # the destination's is newer
    status, _ = world.call(
        "cs1",
        "PUT",
        "/v1/users/me/settings",
        {"settings": {"conflictResolutionStrategy": "dest_wins"}},
    )
    assert status == 200
    assert conflict(30, source_newer=True) == (0, 0, 0)  # dest wins even against a newer one
    status, _ = world.call(
        "cs1",
        "PUT",
        "/v1/users/me/settings",
        {"settings": {"conflictResolutionStrategy": "source_wins"}},
    )
    assert conflict(25, source_newer=False) == (1, 1, 0)  # source wins even when older
    assert world.fake("/_control/duplicates")["duplicates"] == 0


class OpsConfig:
    """The stack's AppConfig profile, changed the way operations would: a new hosted version,
    then a deployment."""

    def __init__(self, world: World) -> None:
        from syncwell import settings

        self.settings = settings
        self.client = world.env.client("appconfig")
        res = world.stack.resources
        self.app = res["OpsConfigApplication"].physical_id
        self.env = res["OpsConfigEnvironment"].physical_id
        self.profile = res["OpsConfigProfile"].physical_id
        self.strategy = res["OpsConfigImmediate"].physical_id
        version = self.client.get_hosted_configuration_version(
            ApplicationId=self.app,
            ConfigurationProfileId=self.profile,
            VersionNumber=int(res["OpsConfigVersion"].physical_id),
        )
        self.deployed = json.loads(version["Content"].read())

    def deploy(self, document: dict[str, Any]) -> None:
        version = self.client.create_hosted_configuration_version(
            ApplicationId=self.app,
            ConfigurationProfileId=self.profile,
            Content=json.dumps(document).encode(),
            ContentType="application/json",
        )
        self.client.start_deployment(
            ApplicationId=self.app,
            EnvironmentId=self.env,
            DeploymentStrategyId=self.strategy,
            ConfigurationProfileId=self.profile,
            ConfigurationVersion=str(version["VersionNumber"]),
        )
        self.settings.reset()  # do not wait out the functions' 45 s cache


def test_functions_read_the_operational_configuration_from_appconfig(world: World) -> None:
    ops = OpsConfig(world)
    assert ops.deployed["resources"]["tableName"] == world.table
    assert ops.deployed["scheduling"]["shard-count"] == 16
    ops.settings.reset()
    assert ops.settings.table_name() == world.table
    assert ops.settings.source() == "appconfig"
    assert ops.settings.rate_limit() == (50.0, 25.0)  # the template's parameters


def test_appconfig_kill_switch_defers_a_provider_s_jobs_and_loses_none(world: World) -> None:
    seed(world, "ks1")
    world.submit("ks1")
    world.drain()
    ops = OpsConfig(world)
    off = json.loads(json.dumps(ops.deployed))
    off["providers"]["strava"]["enabled"] = False
    ops.deploy(off)
    try:
        world.fake(
            "/_control/accounts",
            {
                "provider": "strava",
                "ownerId": "strava-ks1",
                "add": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))],
            },
        )
        before = world.fake("/_control/stats")["calls.total"]
        job_id = world.submit("ks1")
        seen, result = world.run_worker_once()
        # deferred: handed back to SQS (a batch item failure, its visibility set to the retry
        # delay), not failed and not deleted
        assert len(seen) == 1 and result["batchItemFailures"] == [{"itemIdentifier": seen[0]}]
        assert world.job("ks1", job_id)["status"] not in ("SUCCEEDED", "FAILED")
        assert world.fake("/_control/stats")["calls.total"] == before  # no third-party call
        assert world.depth() >= 1  # still queued (returned with a delay)
    finally:
        ops.deploy(ops.deployed)
    world.drain(until=lambda: world.job("ks1", job_id)["status"] == "SUCCEEDED")
    assert world.job("ks1", job_id)["recordsWritten"] == 1
    assert world.depth(world.dlq) == 0


def test_concurrent_jobs_of_one_user_never_write_an_activity_twice(world: World) -> None:
    """Six jobs of one user handled by two invocations at once: the lane lease serialises them,
    jobs after the first in a batch are answered by its sync, nothing is written twice."""
    from concurrent.futures import ThreadPoolExecutor

    seed(world, "q1")
    world.fake(
        "/_control/accounts", {"provider": "strava", "ownerId": "strava-q1", "activities": 3}
    )
    jobs = [world.submit("q1") for _ in range(6)]
    written = world.fake("/_control/stats").get("written.fitbit", 0)
    arn = world.stack.resources["HotPathSyncQueue"].arn
    batches = []
    for _ in range(10):
        got = world.sqs.receive_message(
            QueueUrl=world.queue, MaxNumberOfMessages=3, VisibilityTimeout=5, AttributeNames=["All"]
        )
        batches += [got.get("Messages", [])] if got.get("Messages") else []
        if sum(len(b) for b in batches) >= 6:
            break
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda b: world.worker.handler(world.records(b, arn)), batches))
    for batch, result in zip(batches, results, strict=True):
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in batch:
            if m["MessageId"] not in failed:
                world.sqs.delete_message(QueueUrl=world.queue, ReceiptHandle=m["ReceiptHandle"])
    world.drain(
        rounds=40,
        pause=0.5,
        until=lambda: all(world.job("q1", j)["status"] == "SUCCEEDED" for j in jobs),
    )
    assert all(world.job("q1", j)["status"] == "SUCCEEDED" for j in jobs)
    assert world.fake("/_control/stats")["written.fitbit"] == written + 3
    assert world.fake("/_control/duplicates")["duplicates"] == 0
    assert sum(world.job("q1", j)["recordsWritten"] for j in jobs) == 3
    world.drain()
    assert world.depth() == 0


def test_poison_and_revoked_jobs_reach_the_dlq_after_five_receives(world: World) -> None:
    """Both in one batch: a poison message and a job whose provider token was revoked (the
    connection goes to needs_reauth). Neither is deleted (partial batch failure), SQS moves
    them to the DLQ after maxReceiveCount = 5."""
    seed(world, "r1")
    world.fake("/_control/revoke", {"provider": "strava", "ownerId": "strava-r1"})
    world.drain()  # nothing else in the queue: every receive below is one of these two
    poison_id = world.sqs.send_message(QueueUrl=world.queue, MessageBody="{not a job")["MessageId"]
    job_id = world.submit("r1")
    receives = 0
    for _ in range(16):
        seen, result = world.run_worker_once(visibility=1)
        if poison_id in seen:
            receives += 1
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            assert poison_id in failed  # reported, not deleted
        if world.depth(world.dlq) >= 2:
            break
        time.sleep(1.1)
    assert receives == 5
    dead = world.receive(world.dlq, visibility=0)
    poison = [m for m in dead if m["Body"] == "{not a job"]
    assert len(poison) == 1 and len(dead) == 2, [m["Body"][:80] for m in dead]
    world.sqs.delete_message(QueueUrl=world.dlq, ReceiptHandle=poison[0]["ReceiptHandle"])
    job = world.job("r1", job_id)
    assert job["status"] == "FAILED" and "needs_reauth" in job["error"]
    conns = {
        c["connectionId"]: c for c in world.call("r1", "GET", "/v1/connections")[1]["connections"]
    }
    assert conns["conn_strava_r1"]["status"] == "needs_reauth"
    reauth = world.ddb.query(
        TableName=world.table,
        IndexName="ReAuthStatus-gsi",
        KeyConditionExpression="ReAuthStatus = :p",
        ExpressionAttributeValues={":p": {"S": "pending_user_action"}},
    )["Items"]
    assert {
        "PK": {"S": "USER#r1"},
        "SK": {"S": "CONN#conn_strava_r1"},
        "ReAuthStatus": {"S": "pending_user_action"},
    } in reauth
    assert job_id in checks.dlq_job_ids(world.env, world.stack)
    status, answer = world.call(
        "r1",
        "POST",
        "/v1/sync-jobs",
        {
            "sourceConnectionId": "conn_strava_r1",
            "destinationConnectionId": "conn_fitbit_r1",
            "dataType": "workout",
            "mode": "manual",
        },
    )
    assert status == 409 and answer["error"]["code"] == "ConnectionNotActive"

    # the user signs in to Strava again: the same connection is renewed (its configs go on)
    status, renewed = world.call(
        "r1",
        "POST",
        "/v1/connections",
        {"provider": "strava", "authorizationCode": "code-strava-r1"},
    )
    assert status == 200, renewed
    assert renewed["connectionId"] == "conn_strava_r1" and renewed["status"] == "active"
    reauth = world.ddb.query(
        TableName=world.table,
        IndexName="ReAuthStatus-gsi",
        KeyConditionExpression="ReAuthStatus = :p",
        ExpressionAttributeValues={":p": {"S": "pending_user_action"}},
    )["Items"]
    assert not [i for i in reauth if i["PK"]["S"] == "USER#r1"]  # off the sparse index
    ids = sorted(
        c["connectionId"] for c in world.call("r1", "GET", "/v1/connections")[1]["connections"]
    )
    assert ids == ["conn_fitbit_r1", "conn_strava_r1"]  # no second Strava connection
    job_id = world.submit("r1")
    world.drain(until=lambda: world.job("r1", job_id)["status"] == "SUCCEEDED")
    assert world.job("r1", job_id)["status"] == "SUCCEEDED"


def test_rate_limited_provider_delays_jobs_without_losing_them(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(world, "l1")
    world.fake("/_control/faults", {"provider": "strava", "mode": "rate_limit", "retry_after": 1})
    job_id = world.submit("l1")
    calls = []
    real = world.worker.change_visibility
    monkeypatch.setattr(
        world.worker,
        "change_visibility",
        lambda record, seconds, **kw: calls.append(seconds) or real(record, seconds, **kw),
    )
    seen, result = world.run_worker_once(visibility=30)
    assert len(seen) == 1 and len(result["batchItemFailures"]) == 1
    assert calls and 1 <= calls[0] <= 2  # Retry-After 1 s as the floor of the jittered backoff
    assert world.job("l1", job_id)["status"] == "QUEUED"
    # several deferrals: from the 3rd receive it is re-sent fresh, so it never reaches the DLQ
    for _ in range(6):
        time.sleep(1.2)
        world.run_worker_once(visibility=1)
    assert job_id not in checks.dlq_job_ids(world.env, world.stack)
    world.fake("/_control/faults", method="DELETE")
    world.drain(
        rounds=20, pause=0.6, until=lambda: world.job("l1", job_id)["status"] == "SUCCEEDED"
    )
    assert world.job("l1", job_id)["status"] == "SUCCEEDED"

    # the distributed token bucket: an empty bucket defers without calling the provider (the
    # thresholds are operational configuration: changed in AppConfig)
    ops = OpsConfig(world)
    ops.deploy({**ops.deployed, "rateLimit": {"capacity": 1, "refillPerSecond": 0.01}})
    world.env.redis().delete("ratelimit##strava", "ratelimit##fitbit")
    first, second = world.submit("l1"), world.submit("l1")
    before = world.fake("/_control/stats")["calls.total"]
    world.run_worker_once(visibility=30)
    statuses = sorted(world.job("l1", j)["status"] for j in (first, second))
    assert statuses == ["QUEUED", "QUEUED"]  # strava took the only token, fitbit's bucket too
    assert world.fake("/_control/stats")["calls.total"] == before
    ops.deploy(ops.deployed)
    world.env.redis().delete("ratelimit##strava", "ratelimit##fitbit")
    world.drain(
        rounds=30,
        pause=0.5,
        until=lambda: all(world.job("l1", j)["status"] == "SUCCEEDED" for j in (first, second)),
    )
    assert all(world.job("l1", j)["status"] == "SUCCEEDED" for j in (first, second))


def test_the_seeds_user_scoped_role_is_enforced_at_the_edge(world: World) -> None:
    """Seed 001, 6.2: a session of UserScopedAccessRole tagged userId=<user> reaches only
    ``USER#<user>`` items (GetItem/PutItem/UpdateItem), as the harness's AWS edge enforces it:
    another user's partition, a look-alike prefix and a Scan are AccessDeniedException."""
    import boto3
    from botocore.exceptions import ClientError

    creds = world.env.client("sts").assume_role(
        RoleArn=world.stack.resources["UserScopedAccessRole"].arn,
        RoleSessionName="worker-u-free-01",
        Tags=[{"Key": "userId", "Value": "u-free-01"}],
        DurationSeconds=900,
    )["Credentials"]
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=world.env.endpoints["aws_endpoint"],
        region_name=world.env.endpoints.get("region", "us-east-1"),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    own = {"PK": {"S": "USER#u-free-01"}, "SK": {"S": "PROFILE"}}
    assert "Item" in ddb.get_item(TableName=world.table, Key=own)
    ddb.update_item(TableName=world.table, Key=own, UpdateExpression="SET iamChecked = :t",
                    ExpressionAttributeValues={":t": {"BOOL": True}})  # fmt: skip
    refused = [
        lambda: ddb.get_item(
            TableName=world.table, Key={"PK": {"S": "USER#u-free-02"}, "SK": {"S": "PROFILE"}}
        ),
        lambda: ddb.put_item(
            TableName=world.table, Item={"PK": {"S": "USER#u-free-010"}, "SK": {"S": "X"}}
        ),
        lambda: ddb.scan(TableName=world.table, Limit=1),
    ]
    for call in refused:
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_permanently_throttled_job_reaches_the_dlq_as_a_failure(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferrals are capped (MAX_DEFERRALS re-sends): a provider that never stops answering
    429 sends the job to the DLQ after maxReceiveCount more receives, FAILED, and the hot-path
    success ratio counts it (seed 3b: a job that ends in the DLQ is a failed job)."""
    seed(world, "t1")
    monkeypatch.setenv("MAX_DEFERRALS", "1")
    world.fake("/_control/faults", {"provider": "strava", "mode": "rate_limit", "retry_after": 0})
    try:
        job_id = world.submit("t1")
        deadline = time.time() + 90
        while time.time() < deadline and job_id not in checks.dlq_job_ids(world.env, world.stack):
            world.run_worker_once(visibility=1)
            time.sleep(1.1)
        assert job_id in checks.dlq_job_ids(world.env, world.stack)
        job = world.job("t1", job_id)
        assert job["status"] == "FAILED", job
        ratio = checks.hot_path_success_ratio(world.env, world.stack)
        assert ratio < 1.0
    finally:
        world.fake("/_control/faults", method="DELETE")


def test_redis_down_is_degraded_mode_and_loses_no_job(world: World) -> None:
    from harness.chaos.client import FaultClient

    seed(world, "x1")
    faults = FaultClient(world.env.endpoints)
    faults.redis("down")
    try:
        job_id = world.submit("x1")  # the API still accepts (config read from DynamoDB)
        before = world.fake("/_control/stats")["calls.total"]
        for _ in range(4):
            world.run_worker_once(visibility=1)
            time.sleep(1.1)
        assert world.fake("/_control/stats")["calls.total"] == before  # no third-party call
        assert world.job("x1", job_id)["status"] == "QUEUED"
        assert job_id not in checks.dlq_job_ids(world.env, world.stack) and world.depth() >= 1
    finally:
        faults.redis("ok")
    world.drain(
        rounds=30, pause=0.5, until=lambda: world.job("x1", job_id)["status"] == "SUCCEEDED"
    )
    assert world.job("x1", job_id)["status"] == "SUCCEEDED"


def test_hanging_redis_costs_one_timeout_then_the_breaker_answers_at_once(world: World) -> None:
    from harness.chaos.client import FaultClient

    seed(world, "h1")
    world.worker.cache.reset_breaker()
    world.env.redis().delete("config##h1")
    faults = FaultClient(world.env.endpoints)
    faults.redis("hang")
    try:
        took = []
        for _ in range(5):
            started = time.perf_counter()
            status, _ = world.call("h1", "GET", "/v1/connections")
            took.append(time.perf_counter() - started)
            assert status == 200
        assert took[0] < 1.5  # one 250 ms timeout, then DynamoDB
        assert max(took[1:]) < 0.25, took  # the breaker is open: no waiting on Redis
    finally:
        faults.redis("ok")
        world.worker.cache.reset_breaker()


# -- coalescing, scheduling ------------------------------------------------------------------------


def test_webhooks_for_one_user_coalesce_into_one_job(world: World) -> None:
    seed(world, "w1")
    seed(world, "w2")
    hooks = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "rh",
            "Body": json.dumps({"ownerId": owner}),
            "Attributes": {},
            "MessageAttributes": {"provider": {"DataType": "String", "StringValue": "strava"}},
        }
        for owner in ["strava-w1"] * 10 + ["strava-w2"] * 3 + ["strava-nobody"]
    ]
    arn = world.stack.resources["CoalescingBufferQueue"].arn
    before = world.depth()
    result = world.coalescer.handler(world.records(hooks, arn))
    assert result == {"users": 2, "jobs": 2}
    assert world.coalescer.handler(world.records(hooks, arn))["jobs"] == 0  # a retried batch
    assert world.depth() == before + 2
    world.drain()
    jobs = [i for i in world.items("USER#w1") if i["SK"]["S"].startswith("JOB#")]
    assert len(jobs) == 1 and jobs[0]["status"]["S"] == "SUCCEEDED"


def test_tiered_scheduler_enqueues_due_users_of_its_tier(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the pre-flight queue the scheduler enqueues one job per due user's config."""
    monkeypatch.delenv("POLLING_PREFLIGHT_QUEUE_URL", raising=False)
    seed(world, "p1", "PRO")
    seed(world, "f1", "FREE")
    before = world.depth()
    result = world.scheduler.handler({"tier": "PRO"})
    assert result["shards"] == 16 and result["jobs"] >= 1
    pro_jobs = [i for i in world.items("USER#p1") if i["SK"]["S"].startswith("JOB#")]
    assert len(pro_jobs) == 1
    assert [i for i in world.items("USER#f1") if i["SK"]["S"].startswith("JOB#")] == []
    profile = next(i for i in world.items("USER#p1") if i["SK"]["S"] == "PROFILE")
    assert int(profile["NextSyncTimestamp"]["N"]) > time.time() + 800
    assert world.scheduler.handler({"tier": "PRO"})["jobs"] == 0  # not due any more
    assert world.depth() >= before + 1
    world.drain()


def _profile(world: World, user: str) -> dict[str, Any]:
    return next(i for i in world.items(f"USER#{user}") if i["SK"]["S"] == "PROFILE")


def test_preflight_checks_start_jobs_only_for_new_data_and_adapt_the_schedule(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Section 3f: scheduler → pre-flight queue → one cheap hasNewData call per config → a job
    only where the source has something new; an idle user's next poll backs off (PRO: 15 min,
    then 30 min, 1 h, ... 24 h)."""
    from syncwell import preflight

    seed(world, "pf-new", "PRO")
    seed(world, "pf-idle", "PRO")
    world.submit("pf-idle")  # pf-idle's activities are synced: its cursor is at the newest
    world.drain()
    ddb_due = {":n": {"N": str(int(time.time()) - 1)}}
    for user in ("pf-new", "pf-idle"):  # both due now
        world.ddb.update_item(
            TableName=world.table,
            Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": "PROFILE"}},
            UpdateExpression="SET NextSyncTimestamp = :n",
            ExpressionAttributeValues=ddb_due,
        )
    queue = world.stack.resources["PollingPreflightQueue"].physical_id
    monkeypatch.setenv("POLLING_PREFLIGHT_QUEUE_URL", queue)
    jobs_before = {u: len(_jobs_of(world, u)) for u in ("pf-new", "pf-idle")}
    hot_before = world.depth()
    result = world.scheduler.handler({"tier": "PRO"})
    assert result["jobs"] == 0 and result["checks"] >= 2, result
    assert world.depth() == hot_before  # nothing reaches the worker fleet before the check
    checks_before = world.fake("/_control/stats").get("checks.strava", 0)
    for _ in range(3):
        seen, answer = world.run_queue_once(queue, "PollingPreflightQueue", preflight.handler)
        assert answer["batchItemFailures"] == []
        if not seen:
            break
    assert world.fake("/_control/stats")["checks.strava"] >= checks_before + 2
    new_jobs = _jobs_of(world, "pf-new")
    assert len(new_jobs) == jobs_before["pf-new"] + 1
    assert new_jobs[-1]["origin"]["S"] == "schedule"
    assert len(_jobs_of(world, "pf-idle")) == jobs_before["pf-idle"]  # no new data: no job
    now = time.time()
    idle, fresh = _profile(world, "pf-idle"), _profile(world, "pf-new")
    assert idle["IdleStreak"]["N"] == "1" and fresh["IdleStreak"]["N"] == "0"
    assert abs(int(idle["NextSyncTimestamp"]["N"]) - (now + 1800)) < 60  # backed off to 30 min
    assert abs(int(fresh["NextSyncTimestamp"]["N"]) - (now + 900)) < 60  # the tier's 15 min
    assert preflight.adaptive_delay_s("PRO", 2) == 3600
    world.drain()


def _jobs_of(world: World, user: str) -> list[dict[str, Any]]:
    return sorted(
        (i for i in world.items(f"USER#{user}") if i["SK"]["S"].startswith("JOB#")),
        key=lambda i: float(i["acceptedAt"]["N"]),
    )


def test_a_cached_config_counts_only_for_the_table_it_was_read_from(world: World) -> None:
    """After a DR restore is cut over (AppConfig resources.tableName), what the config cache
    holds from the damaged table is a miss: the restored connection is found at once, not after
    the cache's 15 minutes (scenarios/syncwell-dr.yaml: 10% 404s after the cutover)."""
    from syncwell.store import Table
    from syncwell.users import load_user_config

    seed(world, "dr1")
    ddb = world.env.client("dynamodb")
    backup = ddb.create_backup(TableName=world.table, BackupName="dr1")["BackupDetails"]
    restored = f"{world.table}-dr1"
    ddb.restore_table_from_backup(TargetTableName=restored, BackupArn=backup["BackupArn"])
    try:
        # the bad migration: a connection deleted, and the damaged view cached
        ddb.delete_item(TableName=world.table,
                        Key={"PK": {"S": "USER#dr1"}, "SK": {"S": "CONN#conn_fitbit_dr1"}})  # fmt: skip
        world.env.redis().delete("config##dr1")
        damaged = load_user_config(Table(world.table), "dr1") or {}
        assert "conn_fitbit_dr1" not in damaged["connections"]
        assert world.env.redis().exists("config##dr1")
        # repointed at the restored table: the cached entry is not its data
        back = load_user_config(Table(restored), "dr1") or {}
        assert "conn_fitbit_dr1" in back["connections"]
        assert "_table" not in back  # the marker stays in the cache
        again = load_user_config(Table(restored), "dr1") or {}  # now cached for the new table
        assert "conn_fitbit_dr1" in again["connections"]
    finally:
        ddb.delete_table(TableName=restored)
        world.env.redis().delete("config##dr1")


# -- deletion and the invariants -------------------------------------------------------------------


def test_deleting_a_user_leaves_no_item_object_secret_or_cache_key(world: World) -> None:
    seed(world, "z1")
    world.submit("z1")
    world.drain()
    world.call("z1", "GET", "/v1/connections")  # fills config##z1
    world.call(
        "z1",
        "POST",
        "/v1/device-upload",
        {"data": [{"id": "a", "activityType": "run", "startTime": "2026-01-01T07:00:00Z"}]},
    )
    world.call("z1", "POST", "/v1/export-jobs", {})
    export_queue = world.stack.resources["ExportQueue"]
    messages = world.receive(export_queue.physical_id)
    world.exporter.handler(world.records(messages, export_queue.arn))
    for m in messages:
        world.sqs.delete_message(
            QueueUrl=export_queue.physical_id, ReceiptHandle=m["ReceiptHandle"]
        )
    r = world.env.redis(decode_responses=True)
    r.set("sync:confidence:z1:fitbit", 3)
    assert r.exists("config##z1")
    pointers = [i["CredentialArn"]["S"] for i in world.items("USER#z1") if "CredentialArn" in i]
    assert len(pointers) == 2

    status, _answer = world.call("z1", "DELETE", "/v1/users/me")
    assert status == 202
    assert world.items("USER#z1") == []
    assert world.account("strava#strava-z1") == [] and world.account("fitbit#fitbit-z1") == []
    s3 = world.env.client("s3")
    for bucket in ("ExportBucket", "UploadBucket"):
        name = world.stack.resources[bucket].physical_id
        for prefix in ("exports/z1/", "uploads/z1/"):
            assert s3.list_objects_v2(Bucket=name, Prefix=prefix).get("KeyCount", 0) == 0
    assert [k for k in r.scan_iter(match="*z1*")] == []
    secrets = world.env.client("secretsmanager")
    for pointer in pointers:
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.get_secret_value(SecretId=pointer)
    world.drain()  # the staged device upload's job is discarded, not resurrected
    assert world.items("USER#z1") == []


def _chunks(world: World, user: str, job_id: str) -> list[dict[str, Any]]:
    return [i for i in world.items(f"USER#{user}") if i["SK"]["S"].startswith(f"HCHUNK#{job_id}#")]


def test_historical_job_is_chunked_orchestrated_and_reports_progress(world: World) -> None:
    seed(world, "h1", "PRO")
    # 40 activities six hours apart: the last ten days
    world.fake(
        "/_control/accounts", {"provider": "strava", "ownerId": "strava-h1", "activities": 40}
    )
    today = datetime.now(UTC).date()
    window = {"startDate": (today - timedelta(days=20)).isoformat(), "endDate": today.isoformat()}
    key = str(uuid.uuid4())
    job_id = world.submit("h1", key=key, mode="historical", dateRange=window)
    assert world.job("h1", job_id)["progress"] == {
        "totalChunks": 3,
        "processedChunks": 0,
        "failedChunks": 0,
    }
    # the same key again is the same execution: one job, one start message, nothing on the hot path
    assert world.submit("h1", key=key, mode="historical", dateRange=window) == job_id
    assert world.depth(world.historical_queue) == 1 and world.depth() == 0

    started, _ = world.run_queue_once(
        world.historical_queue, "HistoricalSyncQueue", world.historical.orchestrator_handler
    )
    assert len(started) == 1
    job = world.job("h1", job_id)
    assert job["status"] == "RUNNING" and job["progress"]["totalChunks"] == 3
    chunks = _chunks(world, "h1", job_id)
    assert [c["status"]["S"] for c in chunks] == ["PENDING"] * 3
    assert [(c["startDate"]["S"], c["endDate"]["S"]) for c in chunks] == [
        (window["startDate"], (today - timedelta(days=14)).isoformat()),
        ((today - timedelta(days=13)).isoformat(), (today - timedelta(days=7)).isoformat()),
        ((today - timedelta(days=6)).isoformat(), today.isoformat()),
    ]
    # a redelivered start re-sends the pending chunks: duplicates are dropped when they run
    body = {
        "userId": "h1",
        "jobId": job_id,
        "sourceConnectionId": "conn_strava_h1",
        "destinationConnectionId": "conn_fitbit_h1",
        "dataType": "workout",
        "dateRange": window,
    }
    assert world.historical.start_job(world.historical.Table(), body) == 3

    # one chunk at a time: progress is visible through GET /v1/sync-jobs/{id}
    world.run_queue_once(
        world.chunk_queue, "HistoricalChunkQueue", world.historical.chunk_handler, limit=1
    )
    job = world.job("h1", job_id)
    assert job["status"] == "RUNNING" and job["progress"]["processedChunks"] == 1
    world.drain(rounds=60)
    job = world.job("h1", job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["progress"] == {"totalChunks": 3, "processedChunks": 3, "failedChunks": 0}
    assert job["recordsWritten"] == 40  # every activity of the range, each written once
    assert world.fake("/_control/duplicates")["duplicates"] == 0
    assert [c["status"]["S"] for c in _chunks(world, "h1", job_id)] == ["DONE"] * 3
    assert world.depth(world.chunk_queue) == 0
    assert world.depth(world.stack.resources["HistoricalChunkDlq"].physical_id) == 0


def test_historical_chunks_that_keep_failing_are_counted_not_lost(world: World) -> None:
    seed(world, "h2")
    world.fake("/_control/revoke", {"provider": "strava", "ownerId": "strava-h2"})
    today = datetime.now(UTC).date()
    window = {"startDate": (today - timedelta(days=13)).isoformat(), "endDate": today.isoformat()}
    job_id = world.submit("h2", mode="historical", dateRange=window)
    world.run_queue_once(
        world.historical_queue, "HistoricalSyncQueue", world.historical.orchestrator_handler
    )
    assert world.job("h2", job_id)["progress"]["totalChunks"] == 2
    # the last allowed receive (MAX_RECEIVE_COUNT = 5): the chunk worker's Catch
    _, result = world.run_queue_once(
        world.chunk_queue,
        "HistoricalChunkQueue",
        world.historical.chunk_handler,
        ApproximateReceiveCount="5",
    )
    assert result == {"batchItemFailures": []}
    job = world.job("h2", job_id)
    assert job["status"] == "FAILED" and job["error"] == "2 of 2 chunks failed"
    assert job["progress"] == {"totalChunks": 2, "processedChunks": 0, "failedChunks": 2}
    assert [c["status"]["S"] for c in _chunks(world, "h2", job_id)] == ["FAILED"] * 2
    assert world.depth(world.chunk_queue) == 0


def test_zz_checks_no_lost_and_no_duplicate_jobs(world: World) -> None:
    world.drain()
    lost = checks.no_lost_jobs(world.env, world.stack, drain_timeout_s=5)
    assert lost["passed"], lost
    assert lost["details"]["accepted"] >= 10
    dupes = checks.no_duplicate_jobs(world.env, world.stack)
    assert dupes["passed"], dupes
    assert CONTRACT.checked >= 100  # the module's API answers, each checked against openapi/
    assert checks.hot_path_success_ratio(world.env, world.stack) < 1.0  # the revoked user's job
    assert 0 < checks.manual_sync_p95_s(world.env, world.stack) < 15
