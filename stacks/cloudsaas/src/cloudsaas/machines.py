"""Starting the subscription lifecycle's state machines (Step Functions) and answering their
callbacks. Execution names are derived from what started them (a webhook event id, a
subscription id), so a redelivered event cannot start a second execution."""

from __future__ import annotations

import json
import re
from typing import Any

from cloudsaas.common import env

__all__ = ["execution_name", "send_heartbeat", "send_success", "start"]

_clients: dict[str, Any] = {}


def _sfn() -> Any:
    client = _clients.get("sfn")
    if client is None:
        import boto3

        client = _clients["sfn"] = boto3.client("stepfunctions")
    return client


def execution_name(*parts: str) -> str:
    """A valid execution name (≤ 80 of ``[A-Za-z0-9-_]``) from ``parts``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts))[:80]


def start(machine_variable: str, name: str, payload: dict[str, Any]) -> str:
    """Start ``machine_variable``'s state machine once per ``name``; the execution's ARN."""
    arn = env(machine_variable)
    client = _sfn()
    try:
        return str(
            client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))[
                "executionArn"
            ]
        )
    except client.exceptions.ExecutionAlreadyExists:
        return arn.replace(":stateMachine:", ":execution:") + f":{name}"


def send_success(token: str, output: dict[str, Any]) -> bool:
    """Answer a callback; False when it was already answered (an out-of-order sale answered
    it before ``...ACTIVATED`` came), which Step Functions reports as a timed-out task."""
    client = _sfn()
    try:
        client.send_task_success(taskToken=token, output=json.dumps(output))
    except (client.exceptions.TaskTimedOut, client.exceptions.TaskDoesNotExist):
        return False
    return True


def send_heartbeat(token: str) -> bool:
    """False when the callback was already answered (see :func:`send_success`)."""
    client = _sfn()
    try:
        client.send_task_heartbeat(taskToken=token)
    except (client.exceptions.TaskTimedOut, client.exceptions.TaskDoesNotExist):
        return False
    return True
