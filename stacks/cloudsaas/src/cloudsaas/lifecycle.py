"""The subscription functions the lifecycle state machines call (one Lambda, one action per
Task state; see ``statemachines/*.asl.json``).

Errors a state machine can catch are raised by name: ``SubscriptionNotFound`` (no such
subscription: not retried), ``DatabaseUnavailable`` (retried with backoff by every Task state).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cloudsaas import billing
from cloudsaas.common import log, plain
from cloudsaas.db import DatabaseUnavailable
from cloudsaas.plans import plan_change

__all__ = ["ACTIONS", "DatabaseUnavailable", "SubscriptionNotFound", "handler"]

SubscriptionNotFound = billing.SubscriptionNotFound
ACTOR = "system:lifecycle"


def _id(event: dict[str, Any]) -> str:
    value = event.get("subscriptionId")
    if not isinstance(value, str) or not value:
        raise SubscriptionNotFound("the task's input has no subscriptionId")
    return value


def await_approval(event: dict[str, Any]) -> dict[str, Any]:
    """Keep the callback token until PayPal's BILLING.SUBSCRIPTION.ACTIVATED answers it."""
    billing.store_approval_token(_id(event), str(event["taskToken"]))
    return {"stored": True}


def activate(event: dict[str, Any]) -> dict[str, Any]:
    return billing.activate(_id(event), ACTOR)


def expire_approval(event: dict[str, Any]) -> dict[str, Any]:
    error = event.get("error") or {}
    return billing.expire_approval(_id(event), ACTOR, str(error.get("Error") or "timeout"))


def record_payment(event: dict[str, Any]) -> dict[str, Any]:
    amount = event.get("amountCents")
    return billing.record_payment(
        _id(event), str(event.get("saleId") or event.get("eventId")),
        int(amount) if amount else None, ACTOR,
    )  # fmt: skip


def payment_failed(event: dict[str, Any]) -> dict[str, Any]:
    grace = int(event.get("retryIntervalSeconds", 1)) * int(event.get("maxAttempts", 1))
    return billing.payment_failed(_id(event), grace, ACTOR)


def check_payment(event: dict[str, Any]) -> dict[str, Any]:
    found = billing.get_subscription(None, _id(event))
    if found is None:
        raise SubscriptionNotFound(_id(event))
    return {
        "paid": found["status"] == "ACTIVE",
        "status": found["status"],
        "attempts": found["failedAttempts"],
        "subscription": found,
    }


def count_attempt(event: dict[str, Any]) -> dict[str, Any]:
    return billing.count_attempt(_id(event))


def suspend(event: dict[str, Any]) -> dict[str, Any]:
    return billing.suspend(_id(event), ACTOR)


def cancel(event: dict[str, Any]) -> dict[str, Any]:
    return billing.cancel(_id(event), str(event.get("requestedBy") or ACTOR),
                          str(event.get("reason") or ""))  # fmt: skip


def prorate(event: dict[str, Any]) -> dict[str, Any]:
    found = billing.get_subscription(None, _id(event))
    if found is None:
        raise SubscriptionNotFound(_id(event))
    period_end = found["currentPeriodEnd"]
    change = plan_change(found["plan"], str(event["plan"]), period_end, datetime.now(UTC))
    return {"direction": change.direction, "amountCents": change.amount_cents,
            "effective": change.effective, "from": found["plan"], "to": event["plan"]}  # fmt: skip


def apply_upgrade(event: dict[str, Any]) -> dict[str, Any]:
    change = event.get("change") or {}
    return billing.apply_upgrade(_id(event), str(event["plan"]),
                                 int(change.get("amountCents") or 0), ACTOR)  # fmt: skip


def schedule_downgrade(event: dict[str, Any]) -> dict[str, Any]:
    return billing.schedule_downgrade(_id(event), str(event["plan"]), ACTOR)


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "await_approval": await_approval,
    "activate": activate,
    "expire_approval": expire_approval,
    "record_payment": record_payment,
    "payment_failed": payment_failed,
    "check_payment": check_payment,
    "count_attempt": count_attempt,
    "suspend": suspend,
    "cancel": cancel,
    "prorate": prorate,
    "apply_upgrade": apply_upgrade,
    "schedule_downgrade": schedule_downgrade,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = ACTIONS.get(str(event.get("action")))
    if action is None:
        raise ValueError(f"unknown action {event.get('action')!r}")
    result: dict[str, Any] = plain(action(event))
    log(logging.INFO, "lifecycle", action=event.get("action"),
        subscriptionId=event.get("subscriptionId"), status=result.get("status"))  # fmt: skip
    return result
