"""Risk analysis: ``POST /projects/{projectId}/risk`` (body ``{"taskIds": [...]}``, optional).

The seed's inference Lambda: it extracts each task's features from the project's tasks and
invokes the ``codexflow-risk-analyzer`` endpoint with SageMaker Runtime's ``InvokeEndpoint``
(``RISK_ENDPOINT_NAME``; ``RISK_ENDPOINT_URL`` is the endpoint's base URL, the local model
server under the harness, empty on AWS). The answer has each task's ``riskScore``,
``riskLevel`` and ``recommendations``, and the project's highest open-task risk.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from codexflow import store
from codexflow.common import ApiError, Request, env, log, respond, run_api
from codexflow.domain import visible_project
from codexflow.models import RiskRequest

__all__ = ["features", "handler"]

PRIORITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}
STATUS = {"todo": 0, "in_progress": 1, "review": 2, "done": 3}

_clients: dict[str, Any] = {}


def _runtime() -> Any:
    client = _clients.get("sagemaker-runtime")
    if client is None:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=10
        )
        client = boto3.client(
            "sagemaker-runtime", endpoint_url=env("RISK_ENDPOINT_URL") or None, config=config
        )
        _clients["sagemaker-runtime"] = client
    return client


def _days(value: Any, today: date) -> float | None:
    if not value:
        return None
    try:
        return float((date.fromisoformat(str(value)[:10]) - today).days)
    except ValueError:
        return None


def features(task: dict[str, Any], tasks: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """The model's named features of one task (missing ones are left to the model's defaults)."""
    assignee = task.get("assigneeId")
    open_tasks = sum(
        1 for t in tasks if t.get("assigneeId") == assignee and t.get("status") != "done"
    )
    created = _days(task.get("createdAt"), today)
    out: dict[str, Any] = {
        "priority": PRIORITY.get(str(task.get("priority")), 1),
        "daysUntilDue": _days(task.get("dueDate"), today),
        "estimateHours": float(task["estimateHours"]) if task.get("estimateHours") else None,
        "assigneeOpenTasks": open_tasks,
        "descriptionLength": len(str(task.get("description") or "")),
        "ageDays": max(0.0, -created) if created is not None else 0.0,
        "status": STATUS.get(str(task.get("status")), 0),
    }
    return out


def analyse(req: Request) -> dict[str, Any]:
    body = RiskRequest.model_validate(req.body())
    project, _ = visible_project(req.caller, req.path.get("projectId", ""))
    tasks = store.query(f"PROJECT#{project['projectId']}", "TASK#", limit=1000)
    chosen = tasks
    if body.taskIds is not None:
        wanted = set(body.taskIds)
        chosen = [t for t in tasks if t.get("taskId") in wanted]
        missing = sorted(wanted - {str(t.get("taskId")) for t in chosen})
        if missing:
            raise ApiError(404, "NOT_FOUND", "task not found", {"taskIds": missing})
    chosen = chosen[:100]
    if not chosen:
        return respond(
            200,
            {"projectId": project["projectId"], "riskScore": 0.0, "riskLevel": "low", "tasks": []},
            req.request_id,
        )
    today = datetime.now(UTC).date()
    instances = [features(t, tasks, today) for t in chosen]
    try:
        answer = _runtime().invoke_endpoint(
            EndpointName=env("RISK_ENDPOINT_NAME", "codexflow-risk-analyzer"),
            Body=json.dumps({"instances": instances}),
            ContentType="application/json",
            Accept="application/json",
        )
        prediction = json.loads(answer["Body"].read())
    except Exception as exc:
        log(logging.ERROR, "risk endpoint failed", error=str(exc)[:300])
        raise ApiError(
            503, "RISK_ANALYZER_UNAVAILABLE", "the risk analyzer is unavailable"
        ) from None
    out = []
    for task, inst, pred in zip(chosen, instances, prediction["predictions"], strict=True):
        out.append(
            {
                "taskId": task["taskId"],
                "title": task.get("title"),
                "status": task.get("status"),
                "riskScore": pred["score"],
                "riskLevel": pred["level"],
                "recommendations": pred["recommendations"],
                "features": inst,
            }
        )
    open_scores = [t for t in out if t["status"] != "done"] or out
    top = max(open_scores, key=lambda t: t["riskScore"])
    data = {
        "projectId": project["projectId"],
        "modelVersion": prediction.get("modelVersion"),
        "riskScore": top["riskScore"],
        "riskLevel": top["riskLevel"],
        "tasks": out,
    }
    return respond(200, data, req.request_id)


ROUTES = {("POST", "/projects/{projectId}/risk"): analyse}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
