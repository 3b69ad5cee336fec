"""CodexFlow's handler logic without AWS: envelope, routing, validation, access rule, analytics
documents, risk features and the model server's recommendations."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

STACK = Path(__file__).resolve().parents[2] / "stacks" / "codexflow"
sys.path.insert(0, str(STACK / "src"))

from codexflow import common, documents, domain, models, risk  # noqa: E402


def _event(method: str, resource: str, body: Any = None, claims: dict | None = None) -> dict:
    return {
        "httpMethod": method,
        "resource": resource,
        "path": resource,
        "body": None if body is None else json.dumps(body),
        "requestContext": {
            "requestId": "req-1",
            "authorizer": {"claims": claims if claims is not None else
                           {"sub": "u1", "custom:tenant_id": "acme", "origin_jti": "s1"}},
        },
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_envelope_routes_errors_and_cors() -> None:
    routes = {
        ("GET", "/ok"): lambda req: common.respond(
            200, {"who": req.caller.user_id}, req.request_id
        ),
        ("POST", "/v"): lambda req: common.respond(
            201, models.CreateTask.model_validate(req.body()).title, req.request_id
        ),
    }
    ok = common.run_api(_event("GET", "/ok"), routes)
    body = json.loads(ok["body"])
    assert ok["statusCode"] == 200 and body["success"] is True and body["data"] == {"who": "u1"}
    assert body["meta"]["requestId"] == "req-1" and body["meta"]["timestamp"].endswith("Z")
    assert ok["headers"]["Access-Control-Allow-Origin"] == "*"
    bad = common.run_api(_event("POST", "/v", {"title": "", "extra": 1}), routes)
    err = json.loads(bad["body"])
    assert bad["statusCode"] == 400 and err["success"] is False
    assert {d["field"] for d in err["error"]["details"]} == {"title", "extra"}
    assert common.run_api(_event("GET", "/nope"), routes)["statusCode"] == 404
    assert common.run_api(_event("GET", "/ok", claims={"sub": "u1"}), routes)["statusCode"] == 403
    assert common.run_api(_event("OPTIONS", "/ok"), routes)["statusCode"] == 204


def test_unexpected_errors_answer_a_500_envelope_without_details() -> None:
    def boom(req: common.Request) -> dict:
        raise RuntimeError("secret internals")

    answer = common.run_api(_event("GET", "/x"), {("GET", "/x"): boom})
    assert answer["statusCode"] == 500
    assert "secret" not in answer["body"] and json.loads(answer["body"])["error"]["code"] == (
        "INTERNAL_ERROR"
    )


def test_access_rule_owner_or_member_of_the_same_workspace() -> None:
    caller = common.Caller("u1", "acme", "a@x.io", "a", "s")
    assert domain.can_see(caller, {"tenantId": "acme", "ownerId": "u1", "members": []})
    assert domain.can_see(caller, {"tenantId": "acme", "ownerId": "u2", "members": ["u1"]})
    assert not domain.can_see(caller, {"tenantId": "acme", "ownerId": "u2", "members": ["u3"]})
    assert not domain.can_see(caller, {"tenantId": "globex", "ownerId": "u1", "members": []})
    with pytest.raises(common.ApiError) as raised:
        domain.visible_project(caller, "../../etc")
    assert raised.value.status == 404


def test_request_models() -> None:
    with pytest.raises(ValueError):
        models.AddMember.model_validate({"userId": "u", "email": "a@b.co"})
    with pytest.raises(ValueError):
        models.AddMember.model_validate({"email": "not-an-email"})
    with pytest.raises(ValueError):
        models.UpdateProject.model_validate({})
    task = models.CreateTask.model_validate({"title": " t ", "dueDate": "2026-05-01"})
    assert task.title == "t" and task.priority == "medium" and task.dueDate == date(2026, 5, 1)


def test_analytics_document_shape() -> None:
    doc = documents.analytics_document(
        {"projectId": "p", "date": "2026-01-02", "tasksCreated": 3, "priority_high": 2,
         "priority_low": 1, "assigned_u2": 1, "assigned_u1": 2}
    )  # fmt: skip
    assert doc["metrics"] == {"tasksCreated": 3, "byPriority": {"high": 2, "low": 1},
                              "tasksCompleted": 0, "tasksDeleted": 0, "velocity": 0.0,
                              "teamEfficiency": None}  # fmt: skip
    assert doc["teamStats"] == [
        {"userId": "u1", "tasksAssigned": 2, "tasksCompleted": 0, "hoursLogged": 0},
        {"userId": "u2", "tasksAssigned": 1, "tasksCompleted": 0, "hoursLogged": 0},
    ]


def test_analytics_document_has_the_seeds_metrics() -> None:
    """The seed's analytics document: tasksCompleted, velocity, teamEfficiency, and per member
    tasksCompleted and hoursLogged (the seed's example: 5 done, velocity 8.5, 0.87)."""
    item = {"projectId": "p", "date": "TOTAL", "tasksCompleted": 5, "estimateCompleted": 17,
            "hoursCompleted": 19.5, "completed_u1": 3, "hours_u1": 24, "completed_u2": 2,
            "hours_u2": 4.5, "assigned_u1": 3}  # fmt: skip
    doc = documents.analytics_document(item, active_days=2)
    metrics = doc["metrics"]
    assert metrics["tasksCompleted"] == 5
    assert metrics["velocity"] == 8.5  # 17 estimated hours done over 2 active days
    assert metrics["teamEfficiency"] == 0.87  # 17 / 19.5
    assert doc["teamStats"][0] == {
        "userId": "u1", "tasksAssigned": 3, "tasksCompleted": 3, "hoursLogged": 24
    }  # fmt: skip


def _stream_record(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
                   sk: str = "TASK#t1") -> dict[str, Any]:  # fmt: skip
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()

    def image(values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None
        return {k: ser.serialize(v) for k, v in {"PK": "PROJECT#p", "SK": sk, **values}.items()}

    body: dict[str, Any] = {"Keys": {"PK": {"S": "PROJECT#p"}, "SK": {"S": sk}}}
    if old is not None:
        body["OldImage"] = image(old)
    if new is not None:
        body["NewImage"] = image(new)
    return {"eventID": "e1", "eventName": name, "dynamodb": body}


def test_stream_changes_that_move_the_analytics() -> None:
    from decimal import Decimal

    from codexflow import consumers

    base = {"projectId": "p", "assigneeId": "u1", "estimateHours": Decimal(4),
            "updatedAt": "2026-01-02T10:00:00Z"}  # fmt: skip
    done = consumers.task_change(
        _stream_record("MODIFY", {**base, "status": "review", "hoursLogged": Decimal(3)},
                       {**base, "status": "done", "hoursLogged": Decimal(5)})
    )  # fmt: skip
    assert done is not None
    assert done["completed"] == 1 and done["estimate"] == 4 and done["hours"] == 5
    assert done["hoursDelta"] == 2 and done["day"] == "2026-01-02" and not done["deleted"]
    reopened = consumers.task_change(
        _stream_record("MODIFY", {**base, "status": "done"}, {**base, "status": "todo"})
    )
    assert reopened is not None and reopened["completed"] == -1
    removed = consumers.task_change(_stream_record("REMOVE", {**base, "status": "todo"}, None))
    assert removed is not None and removed["deleted"] and removed["completed"] == 0
    # a title change moves nothing; analytics and marker items are not tasks
    assert consumers.task_change(
        _stream_record("MODIFY", {**base, "title": "a"}, {**base, "title": "b"})
    ) is None  # fmt: skip
    assert consumers.task_change(
        _stream_record("INSERT", None, {"projectId": "p", "status": "done"}, sk="ANALYTICS#TOTAL")
    ) is None  # fmt: skip


def test_risk_features() -> None:
    today = date(2026, 3, 10)
    tasks = [
        {"taskId": "a", "assigneeId": "u1", "status": "todo", "priority": "critical",
         "dueDate": "2026-03-08", "estimateHours": 12, "createdAt": "2026-03-01T00:00:00Z"},
        {"taskId": "b", "assigneeId": "u1", "status": "done", "priority": "low"},
        {"taskId": "c", "assigneeId": "u1", "status": "review", "priority": "low"},
    ]  # fmt: skip
    got = risk.features(tasks[0], tasks, today)
    assert got == {"priority": 3, "daysUntilDue": -2.0, "estimateHours": 12.0,
                   "assigneeOpenTasks": 2, "descriptionLength": 0, "ageDays": 9.0, "status": 0}  # fmt: skip


def test_model_server_recommendations_and_training() -> None:
    spec = importlib.util.spec_from_file_location("cf_risk", STACK / "model" / "risk_endpoint.py")
    assert spec and spec.loader
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    values = {**server.DEFAULTS, "daysUntilDue": -1, "assigneeOpenTasks": 9}
    recs = server.recommendations(values, {"daysUntilDue": -1})
    assert any("overdue" in r for r in recs) and any("workload" in r for r in recs)
    x, y = server.generate(200, seed=3)
    x2, y2 = server.generate(200, seed=3)
    assert x.shape == (200, len(server.FEATURES)) and (x == x2).all() and (y == y2).all()
    assert 0.05 < y.mean() < 0.6


def test_profile_mixes_and_isolation_section_validate() -> None:
    from harness.isolation.spec import load_spec
    from harness.load.profile import TrafficMix
    from harness.profile import load_profile

    profile = load_profile(STACK / "harness.yaml")
    assert set(profile.traffic.mixes) == {"nominal", "invalid"}
    for mix in profile.traffic.mixes.values():
        TrafficMix.model_validate(mix)
    users = [u for t in profile.tenants for u in t.users]  # type: ignore[union-attr]
    assert all(str(u).isalnum() for u in users)  # project ids demo<user> must be alphanumeric
    spec = load_spec(STACK)
    assert spec.owner == "user" and set(spec.resources) == {"project", "task"}
