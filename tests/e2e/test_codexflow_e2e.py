"""The CodexFlow stack (seed 003) end to end: the real gateway (REST API, Cognito user-pool
authorizer verifying the emulator's RS256 ID tokens), the real runtime, DynamoDB Local, Redis
through the fault proxy, EventBridge (LocalStack) delivering TaskCreated to both consumers.

Users come from harness.yaml (``acme``: acmealice, acmebob, acmecarol; ``globex``: globexdan,
globexerin); fixtures/seed.py gives each a project ``demo<user>`` with tasks ``demo<user>t1/t2``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import Environment, Settings
from harness.chaos.faults import Faults
from harness.deploy import deploy_stack
from harness.model import DeployedStack
from harness.tokens import token_for_stack
from tests.fixtures.modules import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "codexflow"


seed = load_module("codexflow_seed", STACK_DIR / "fixtures" / "seed.py")


class Api:
    def __init__(self, env: Environment, stack: DeployedStack) -> None:
        self.env = env
        self.stack = stack
        base = urlsplit(stack.apis["CodexFlowApi"].base_url)
        self.host, self.port, self.prefix = base.hostname or "127.0.0.1", base.port, base.path
        self.users: dict[str, tuple[str, str]] = seed.users(env, stack)  # user -> (tenant, sub)
        self._tokens: dict[str, str] = {}

    def sub(self, user: str) -> str:
        return self.users[user][1]

    def token(self, user: str) -> str:
        if user not in self._tokens:
            tenant = self.users[user][0]
            found = token_for_stack(self.env.state_dir, "codexflow", tenant, user=user)
            assert found.source == "cognito" and found.token_use == "id", found
            self._tokens[user] = found.token
        return self._tokens[user]

    def call(
        self, method: str, path: str, user: str | None = None, body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            headers = {"content-type": "application/json"}
            if user:
                headers["authorization"] = f"Bearer {self.token(user)}"
            data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            parsed = json.loads(raw) if raw else None
            return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def ok(self, method: str, path: str, user: str, body: Any = None, status: int = 200) -> Any:
        got, answer, _ = self.call(method, path, user, body)
        assert got == status, (method, path, user, got, answer)
        assert answer["success"] is True
        return answer

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        table = self.stack.resources["MainTable"].physical_id
        got = self.env.client("dynamodb").get_item(
            TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}}
        )
        des = TypeDeserializer()
        return {k: des.deserialize(v) for k, v in got["Item"].items()} if "Item" in got else None


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    state_dir = tmp_path_factory.mktemp("codexflow-e2e")
    with contextlib.ExitStack() as cleanup:
        # async retries after 1 s and 2 s instead of AWS's ~1 and ~2 min (the DLQ test waits
        # them out), for this module's runtime only
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HARNESS_RUNTIME_ASYNC_RETRY_DELAYS", "1,2")
            env = cleanup.enter_context(Environment(Settings.load(state_dir=state_dir)))
        stack = deploy_stack(env, STACK_DIR)  # runs fixtures/seed.py
        client = Api(env, stack)
        until = time.monotonic() + 30  # every gateway worker picks the new stack up
        while True:
            status, body, _ = client.call("GET", "/users/me", "acmealice")
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.3)
        assert status == 200, body
        yield client


# -- the seed's access patterns -----------------------------------------------------------------


def test_every_access_pattern_through_the_gateway(api: Api) -> None:
    alice, bob = api.sub("acmealice"), api.sub("acmebob")
    # user by id (USER#<id>/PROFILE), the caller's own and a workspace colleague's
    me = api.ok("GET", "/users/me", "acmealice")
    assert me["data"]["userId"] == alice and me["data"]["email"] == "acmealice@example.com"
    assert set(me["meta"]) >= {"timestamp", "requestId"} and me["meta"]["timestamp"].endswith("Z")
    assert api.ok("GET", f"/users/{bob}", "acmealice")["data"]["name"] == "acmebob"
    # user by email (GSI1 EMAIL#<email>)
    found = api.ok("GET", "/users?email=acmebob@example.com", "acmealice")["data"]
    assert found["userId"] == bob
    # project by id (PROJECT#<id>/METADATA)
    project = api.ok("GET", "/projects/demoacmealice", "acmealice")["data"]
    assert project["owner"] == f"USER#{alice}" and project["tenantId"] == "acme"
    # a user's projects (GSI1 OWNER#<userId>), plus a new one
    created = api.ok("POST", "/projects", "acmealice", {"name": "Apollo"}, status=201)["data"]
    pid = created["projectId"]
    item = api.item(f"PROJECT#{pid}", "METADATA")
    assert item and item["GSI1PK"] == f"OWNER#{alice}" and item["GSI1SK"] == f"PROJECT#{pid}"
    mine = api.ok("GET", "/projects", "acmealice")["data"]["items"]
    assert {"demoacmealice", pid} <= {p["projectId"] for p in mine}
    # task by id (PROJECT#<projectId>/TASK#<taskId>) and by id alone (GSI2 TASK#<taskId>)
    task = api.ok("GET", "/projects/demoacmealice/tasks/demoacmealicet1", "acmealice")["data"]
    assert task["assignee"] == f"USER#{alice}" and task["title"] == "Seeded task 1"
    assert api.ok("GET", "/tasks/demoacmealicet2", "acmealice")["data"]["priority"] == "low"
    # a project's tasks (PROJECT#<projectId>, begins_with(TASK#)), with a new one
    new = api.ok("POST", f"/projects/{pid}/tasks", "acmealice", {"title": "Kickoff"}, status=201)
    tid = new["data"]["taskId"]
    stored = api.item(f"PROJECT#{pid}", f"TASK#{tid}")
    assert stored and stored["GSI1PK"] == f"ASSIGNEE#{alice}" and stored["GSI1SK"] == f"TASK#{tid}"
    listed = api.ok("GET", f"/projects/{pid}/tasks", "acmealice")["data"]["items"]
    assert [t["taskId"] for t in listed] == [tid]
    # a user's tasks (GSI1 ASSIGNEE#<userId>): the seeded two and the new one
    tasks = api.ok("GET", "/tasks", "acmealice")["data"]["items"]
    assert {"demoacmealicet1", "demoacmealicet2", tid} <= {t["taskId"] for t in tasks}
    # membership (GSI2 MEMBER#<userId>): bob joins by email and then lists the project
    added = api.ok("POST", f"/projects/{pid}/members", "acmealice",
                   {"email": "acmebob@example.com"}, status=201)  # fmt: skip
    assert added["data"]["userId"] == bob
    assert pid in {p["projectId"] for p in api.ok("GET", "/projects", "acmebob")["data"]["items"]}
    assert api.ok("GET", f"/projects/{pid}/tasks", "acmebob")["data"]["count"] == 1


def test_another_users_project_answers_404_and_a_members_forbidden_action_403(api: Api) -> None:
    pid = api.ok("POST", "/projects", "acmecarol", {"name": "Private"}, status=201)["data"][
        "projectId"
    ]
    tid = api.ok("POST", f"/projects/{pid}/tasks", "acmecarol", {"title": "secret"}, status=201)[
        "data"
    ]["taskId"]
    for user in ("acmebob", "globexdan"):  # same workspace, and another workspace
        for method, path, body in (
            ("GET", f"/projects/{pid}", None),
            ("PATCH", f"/projects/{pid}", {"name": "mine now"}),
            ("GET", f"/projects/{pid}/tasks", None),
            ("GET", f"/projects/{pid}/tasks/{tid}", None),
            ("GET", f"/tasks/{tid}", None),
            ("POST", f"/projects/{pid}/tasks", {"title": "planted"}),
            ("GET", f"/projects/{pid}/analytics", None),
            ("POST", f"/projects/{pid}/members", {"email": f"{user}@example.com"}),
        ):
            status, body_out, _ = api.call(method, path, user, body)
            assert status == 404, (user, method, path, status, body_out)
            assert body_out["success"] is False and body_out["error"]["code"] == "NOT_FOUND"
        assert pid not in {
            p["projectId"] for p in api.ok("GET", "/projects", user)["data"]["items"]
        }
        assert tid not in {t["taskId"] for t in api.ok("GET", "/tasks", user)["data"]["items"]}
    # another workspace's user cannot be added, even by email
    status, _, _ = api.call("POST", f"/projects/{pid}/members", "acmecarol",
                            {"email": "globexdan@example.com"})  # fmt: skip
    assert status == 404
    # a member reads, but only the owner changes the project or its members: 403
    api.ok("POST", f"/projects/{pid}/members", "acmecarol", {"userId": api.sub("acmebob")}, 201)
    assert api.ok("GET", f"/projects/{pid}", "acmebob")["data"]["name"] == "Private"
    status, body_out, _ = api.call("PATCH", f"/projects/{pid}", "acmebob", {"name": "x"})
    assert status == 403 and body_out["error"]["code"] == "FORBIDDEN"
    assert api.item(f"PROJECT#{pid}", "METADATA")["name"] == "Private"  # type: ignore[index]


def test_validation_envelope_cors_and_auth(api: Api) -> None:
    status, body, headers = api.call("POST", "/projects/demoacmealice/tasks", "acmealice",
                                     {"title": "", "priority": "urgent"})  # fmt: skip
    assert status == 400 and body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in body["error"]["details"]} == {"title", "priority"}
    assert body["meta"]["requestId"] and headers["access-control-allow-origin"] == "*"
    status, body, _ = api.call(
        "POST", "/projects", "acmealice", {"name": "x", "tenantId": "globex"}
    )
    assert status == 400  # unknown fields are refused: the workspace comes from the token only
    status, body, _ = api.call("POST", "/projects", "acmealice", "{not json")
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR"
    status, _, _ = api.call("GET", "/projects")  # no token: the Cognito authorizer answers
    assert status == 401


# -- Redis ---------------------------------------------------------------------------------------


def test_cached_project_read_is_served_from_redis_and_invalidated_by_an_update(api: Api) -> None:
    redis = api.env.redis()
    pid = api.ok("POST", "/projects", "globexerin", {"name": "Cached"}, status=201)["data"][
        "projectId"
    ]
    first = api.ok("GET", f"/projects/{pid}", "globexerin")
    assert first["meta"]["cache"] == "miss"
    assert 850 <= redis.ttl(f"project:{pid}") <= 900  # 15 min
    # change DynamoDB behind the cache: the next read still answers the cached project
    api.env.client("dynamodb").update_item(
        TableName=api.stack.resources["MainTable"].physical_id,
        Key={"PK": {"S": f"PROJECT#{pid}"}, "SK": {"S": "METADATA"}},
        UpdateExpression="SET #n = :n",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":n": {"S": "changed behind the cache"}},
    )
    second = api.ok("GET", f"/projects/{pid}", "globexerin")
    assert second["meta"]["cache"] == "hit" and second["data"]["name"] == "Cached"
    # an update through the API invalidates project:<id>; the next read comes from DynamoDB
    updated = api.ok("PATCH", f"/projects/{pid}", "globexerin", {"description": "v2"})
    assert updated["meta"]["cacheInvalidated"] is True
    assert redis.exists(f"project:{pid}") == 0
    third = api.ok("GET", f"/projects/{pid}", "globexerin")
    assert third["meta"]["cache"] == "miss"
    assert third["data"]["name"] == "changed behind the cache"
    assert third["data"]["description"] == "v2"
    # the other keys of the seed's strategy, with their TTLs
    sub = api.sub("globexerin")
    api.ok("GET", "/users/me", "globexerin")
    api.ok("GET", "/tasks", "globexerin")
    assert 3500 <= redis.ttl(f"user:{sub}") <= 3600  # 1 h
    assert 250 <= redis.ttl(f"tasks:user:{sub}") <= 300  # 5 min
    assert 0 < redis.ttl(f"rate_limit:{sub}") <= 60  # 1 min
    sessions = [k for k in redis.scan_iter("session:*") if sub in (redis.get(k) or b"").decode()]
    assert sessions and 86000 <= redis.ttl(sessions[0]) <= 86400  # 24 h
    # a new task for the user invalidates tasks:user:<id>
    api.ok("POST", f"/projects/{pid}/tasks", "globexerin", {"title": "t"}, status=201)
    assert redis.exists(f"tasks:user:{sub}") == 0


def test_rate_limit_per_user_per_minute(api: Api) -> None:
    redis = api.env.redis()
    sub = api.sub("globexdan")
    limit = int(api.stack.parameters["RateLimitPerMinute"])
    redis.set(f"rate_limit:{sub}", limit, ex=60)  # the user's minute is used up
    try:
        status, body, _ = api.call("GET", "/users/me", "globexdan")
        assert status == 429 and body["error"]["code"] == "RATE_LIMITED"
        assert api.call("GET", "/users/me", "globexerin")[0] == 200  # per user
    finally:
        redis.delete(f"rate_limit:{sub}")
    assert api.call("GET", "/users/me", "globexdan")[0] == 200


def test_reads_keep_working_with_redis_down(api: Api) -> None:
    faults = Faults.for_environment(api.env)
    api.ok("GET", "/projects/demoacmebob", "acmebob")  # warm
    faults.add("redis", {"mode": "down", "duration_s": 60})
    try:
        for path in ("/projects/demoacmebob", "/tasks", "/users/me", "/projects"):
            started = time.monotonic()
            answer = api.ok("GET", path, "acmebob")
            assert time.monotonic() - started < 5, path
            if "cache" in answer["meta"]:
                assert answer["meta"]["cache"] == "bypass", (path, answer["meta"])
        # writes go on; their invalidation is skipped (and said so)
        updated = api.ok("PATCH", "/projects/demoacmebob", "acmebob", {"description": "down"})
        assert updated["meta"]["cacheInvalidated"] is False
    finally:
        faults.add("redis", {"mode": "ok"})
    api.env.redis().delete("project:demoacmebob")  # what the lost invalidation leaves behind
    assert api.ok("GET", "/projects/demoacmebob", "acmebob")["data"]["description"] == "down"


# -- the write path ------------------------------------------------------------------------------


def test_task_created_reaches_the_notification_and_analytics_consumers(api: Api) -> None:
    pid = api.ok("POST", "/projects", "acmealice", {"name": "Events"}, status=201)["data"][
        "projectId"
    ]
    api.ok("POST", f"/projects/{pid}/members", "acmealice", {"email": "acmecarol@example.com"}, 201)
    carol = api.sub("acmecarol")
    made = api.ok("POST", f"/projects/{pid}/tasks", "acmealice",
                  {"title": "Review PRD", "priority": "high", "assigneeId": carol}, status=201)  # fmt: skip
    assert made["meta"]["eventPublished"] is True
    tid = made["data"]["taskId"]
    deadline = time.monotonic() + 45
    notified = counted = False
    while time.monotonic() < deadline and not (notified and counted):
        items = api.ok("GET", "/notifications", "acmecarol")["data"]["items"]
        notified = any(n["taskId"] == tid and n["type"] == "TASK_ASSIGNED" for n in items)
        total = api.ok("GET", f"/projects/{pid}/analytics", "acmealice")["data"]["total"]
        counted = bool(total) and total["metrics"]["tasksCreated"] == 1
        time.sleep(0.5)
    assert notified, "TaskCreated did not reach the notification consumer"
    assert counted, "TaskCreated did not reach the analytics consumer"
    analytics = api.ok("GET", f"/projects/{pid}/analytics", "acmecarol")["data"]
    assert analytics["total"]["metrics"]["byPriority"] == {"high": 1}
    assert analytics["total"]["teamStats"] == [
        {"userId": carol, "tasksAssigned": 1, "tasksCompleted": 0, "hoursLogged": 0}
    ]
    assert len(analytics["daily"]) == 1
    # an assignee who is not a member is refused before anything is written
    status, body, _ = api.call("POST", f"/projects/{pid}/tasks", "acmealice",
                               {"title": "x", "assigneeId": api.sub("acmebob")})  # fmt: skip
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR"


def _wait(check: Any, seconds: float = 45.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_task_update_and_delete_with_cache_invalidation_and_stream_analytics(api: Api) -> None:
    """PATCH a task (invalidates the assignee's cached list), DELETE it (the seed's
    delete-task: owner or creator only), and the table's stream turning both into the seed's
    analytics metrics (tasksCompleted, velocity, teamEfficiency, hoursLogged)."""
    redis = api.env.redis()
    pid = api.ok("POST", "/projects", "acmealice", {"name": "Stream"}, status=201)["data"][
        "projectId"
    ]
    api.ok("POST", f"/projects/{pid}/members", "acmealice", {"email": "acmecarol@example.com"}, 201)
    carol = api.sub("acmecarol")
    tid = api.ok("POST", f"/projects/{pid}/tasks", "acmealice",
                 {"title": "Ship", "assigneeId": carol, "estimateHours": 4}, status=201)[
        "data"]["taskId"]  # fmt: skip
    # an earlier test took Redis down: an environment whose pooled connection died with it
    # answers "bypass" until its breaker closes (seconds); this test is about invalidation
    deadline = time.monotonic() + 30
    while api.ok("GET", "/tasks", "acmecarol")["meta"]["cache"] == "bypass":
        assert time.monotonic() < deadline, "the task list never left the cache's bypass"
        time.sleep(0.5)
    redis.delete(f"tasks:user:{carol}")
    assert api.ok("GET", "/tasks", "acmecarol")["meta"]["cache"] == "miss"
    assert api.ok("GET", "/tasks", "acmecarol")["meta"]["cache"] == "hit"
    patched = api.ok("PATCH", f"/projects/{pid}/tasks/{tid}", "acmecarol",
                     {"status": "done", "hoursLogged": 5})  # fmt: skip
    assert patched["meta"]["cacheInvalidated"] is True
    assert patched["data"]["status"] == "done" and patched["data"]["hoursLogged"] == 5
    assert redis.exists(f"tasks:user:{carol}") == 0
    mine = api.ok("GET", "/tasks", "acmecarol")
    assert mine["meta"]["cache"] == "miss"
    assert {t["taskId"]: t["status"] for t in mine["data"]["items"]}[tid] == "done"

    def total() -> Any:
        doc = api.ok("GET", f"/projects/{pid}/analytics", "acmealice")["data"]["total"]
        return doc if doc and doc["metrics"].get("tasksCompleted") == 1 else None

    doc = _wait(total)
    assert doc, "the task's completion did not reach the analytics through the stream"
    assert doc["metrics"]["velocity"] == 4.0 and doc["metrics"]["teamEfficiency"] == 0.8
    stats = {s["userId"]: s for s in doc["teamStats"]}
    assert stats[carol]["tasksCompleted"] == 1 and stats[carol]["hoursLogged"] == 5

    # delete: a member who neither owns the project nor created the task may not
    status, body, _ = api.call("DELETE", f"/projects/{pid}/tasks/{tid}", "acmecarol")
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    status, _, _ = api.call("DELETE", f"/projects/{pid}/tasks/{tid}", "globexdan")
    assert status == 404  # another workspace: not found, whether it exists or not
    api.ok("GET", "/tasks", "acmecarol")  # cached again
    deleted = api.ok("DELETE", f"/projects/{pid}/tasks/{tid}", "acmealice")
    assert deleted["data"] == {"taskId": tid, "projectId": pid, "deleted": True}
    assert deleted["meta"]["cacheInvalidated"] is True
    assert redis.exists(f"tasks:user:{carol}") == 0
    assert api.item(f"PROJECT#{pid}", f"TASK#{tid}") is None
    assert api.call("GET", f"/projects/{pid}/tasks/{tid}", "acmealice")[0] == 404
    assert api.call("DELETE", f"/projects/{pid}/tasks/{tid}", "acmealice")[0] == 404
    assert tid not in {t["taskId"] for t in api.ok("GET", "/tasks", "acmecarol")["data"]["items"]}

    def deletion() -> Any:
        doc = api.ok("GET", f"/projects/{pid}/analytics", "acmealice")["data"]["total"]
        return doc if doc["metrics"].get("tasksDeleted") == 1 else None

    assert _wait(deletion), "the deletion did not reach the analytics through the stream"


def test_a_failing_consumer_sends_the_event_to_the_dead_letter_queue(api: Api) -> None:
    """AnalyticsFunction raising on every invocation: EventBridge's async invocation is retried
    twice, then the event lands in ConsumerDeadLetterQueue; the notification consumer is not
    affected."""
    faults = Faults.for_environment(api.env)
    sqs = api.env.client("sqs")
    queue = api.stack.resources["ConsumerDeadLetterQueue"].physical_id
    faults.add("lambda", {"mode": "exception", "functions": ["AnalyticsFunction"],
                          "stack": "codexflow", "duration_s": 60})  # fmt: skip
    try:
        made = api.ok("POST", "/projects/demoglobexerin/tasks", "globexerin",
                      {"title": "doomed analytics"}, status=201)  # fmt: skip
        tid = made["data"]["taskId"]
        deadline = time.monotonic() + 60
        record = None
        while record is None and time.monotonic() < deadline:
            answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
            for message in answer.get("Messages", []):
                body = json.loads(message["Body"])
                if (body.get("requestPayload") or {}).get("detail", {}).get("taskId") == tid:
                    record = body
    finally:
        faults.clear("lambda")
    assert record is not None, "the failed TaskCreated never reached the dead-letter queue"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    items = api.ok("GET", "/notifications", "globexerin")["data"]["items"]
    assert tid in {n["taskId"] for n in items}


def test_prd_documents_are_versioned_per_project(api: Api) -> None:
    doc = {
        "title": "MVP requirements",
        "content": {"overview": "o", "objectives": ["ship"],
                    "requirements": {"functional": ["login"], "nonFunctional": ["p99<1s"]},
                    "userStories": [{"id": "US-001", "description": "As a user...",
                                     "acceptanceCriteria": ["works"]}]},
        "aiGenerated": True,
        "approvalStatus": "approved",
    }  # fmt: skip
    first = api.ok("POST", "/projects/demoglobexdan/prds", "globexdan", doc, status=201)["data"]
    second = api.ok("POST", "/projects/demoglobexdan/prds", "globexdan", doc, status=201)["data"]
    assert (first["version"], second["version"]) == (1, 2)
    assert first["createdBy"] == f"USER#{api.sub('globexdan')}"
    listed = api.ok("GET", "/projects/demoglobexdan/prds", "globexdan")["data"]["items"]
    assert [d["version"] for d in listed] == [1, 2]
    assert listed[0]["content"]["userStories"][0]["id"] == "US-001"
    assert api.call("GET", "/projects/demoglobexdan/prds", "globexerin")[0] == 404


# -- isolation -----------------------------------------------------------------------------------


def test_isolation_run_passes(api: Api, tmp_path: Path) -> None:
    """harness.yaml's isolation section (per user, projects and tasks) and token tampering."""
    from harness.isolation import run_isolation

    result = run_isolation(api.env, api.stack, examples=8, seed=0, report_dir=tmp_path)
    assert result.passed, result.violations
    assert (tmp_path / "isolation.json").exists()


# -- risk analyzer -------------------------------------------------------------------------------


def test_risk_analysis_invokes_the_trained_model_like_a_sagemaker_endpoint(api: Api) -> None:
    import urllib.request

    import boto3
    from botocore.exceptions import ClientError

    url = api.stack.fake_servers["risk_model"]
    with urllib.request.urlopen(f"{url}/_control/model", timeout=10) as response:
        model = json.loads(response.read())
    assert model["algorithm"].startswith("RandomForestClassifier(n_estimators=100, max_depth=10")
    assert model["accuracy"] > 0.75 and model["rocAuc"] > 0.8  # held-out quarter
    pid = api.ok("POST", "/projects", "globexdan", {"name": "Risky"}, status=201)["data"][
        "projectId"
    ]
    overdue = {"title": "Migrate billing", "priority": "critical", "dueDate": "2026-01-01",
               "estimateHours": 40}  # fmt: skip
    calm = {"title": "Polish docs", "priority": "low", "dueDate": "2099-01-01", "status": "done",
            "description": "Acceptance: every page has an example and a link to the API."}  # fmt: skip
    hot = api.ok("POST", f"/projects/{pid}/tasks", "globexdan", overdue, status=201)["data"]
    cold = api.ok("POST", f"/projects/{pid}/tasks", "globexdan", calm, status=201)["data"]
    answer = api.ok("POST", f"/projects/{pid}/risk", "globexdan", {})["data"]
    assert answer["modelVersion"] == "rf-100-10-seed7-rows3000"
    scores = {t["taskId"]: t for t in answer["tasks"]}
    assert scores[hot["taskId"]]["riskScore"] > scores[cold["taskId"]]["riskScore"]
    assert scores[hot["taskId"]]["riskLevel"] == "high"
    assert scores[cold["taskId"]]["riskLevel"] == "low"
    assert any("overdue" in r for r in scores[hot["taskId"]]["recommendations"])
    assert answer["riskScore"] == scores[hot["taskId"]]["riskScore"]  # highest open task
    one = api.ok("POST", f"/projects/{pid}/risk", "globexdan", {"taskIds": [cold["taskId"]]})
    assert [t["taskId"] for t in one["data"]["tasks"]] == [cold["taskId"]]
    assert api.call("POST", f"/projects/{pid}/risk", "globexerin", {})[0] == 404
    # the endpoint failing (a third-party fault on the model server): 503 in the envelope
    faults = Faults.for_environment(api.env)
    faults.add("thirdparty", {"mode": "error", "server": "risk_model", "stack": "codexflow"})
    try:
        status, body, _ = api.call("POST", f"/projects/{pid}/risk", "globexdan", {})
        assert status == 503 and body["error"]["code"] == "RISK_ANALYZER_UNAVAILABLE"
    finally:
        faults.clear("thirdparty")
    assert api.call("POST", f"/projects/{pid}/risk", "globexdan", {})[0] == 200
    # the endpoint speaks SageMaker Runtime: an unknown endpoint is SageMaker's ValidationError
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="nope", Body=b"{}", ContentType="application/json")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
