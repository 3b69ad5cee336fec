"""Notifications of the subscription lifecycle: one message on the notifications topic (SNS),
which fans it out to the organisation's SMS subscribers (recorded by the emulator) and to the
e-mail outbox queue (SNS e-mail delivery needs SES, which the local emulator does not run)."""

from __future__ import annotations

import json
import logging
from typing import Any

from cloudsaas import stores
from cloudsaas.common import env, log

__all__ = ["MESSAGES", "handler"]

MESSAGES = {
    "activated": "Your {plan} subscription is active.",
    "payment_completed": "We received your payment for the {plan} plan.",
    "payment_failed": "Your payment for the {plan} plan failed; we will retry it.",
    "recovered": "Your payment went through; your {plan} subscription is active again.",
    "suspended": "Your {plan} subscription is suspended after failed payments.",
    "cancelled": "Your {plan} subscription is cancelled.",
    "plan_changed": "Your plan change to {plan} is recorded.",
}

_clients: dict[str, Any] = {}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    kind = str(event.get("kind") or "")
    subscription = event.get("subscription") or {}
    org = str(subscription.get("orgId") or event.get("orgId") or "")
    if kind not in MESSAGES or not org:
        raise ValueError(f"cannot notify {kind!r} for organisation {org!r}")
    text = MESSAGES[kind].format(plan=subscription.get("plan", ""))
    if "sns" not in _clients:
        import boto3

        _clients["sns"] = boto3.client("sns")
    message_id = _clients["sns"].publish(
        TopicArn=env("NOTIFICATIONS_TOPIC_ARN"),
        Subject=f"Subscription {kind.replace('_', ' ')}",
        Message=json.dumps(
            {
                "default": text,
                "sms": text,
                "sqs": json.dumps(
                    {
                        "orgId": org,
                        "kind": kind,
                        "subscriptionId": subscription.get("subscriptionId"),
                        "text": text,
                    }
                ),
            }
        ),
        MessageStructure="json",
        MessageAttributes={
            "org": {"DataType": "String", "StringValue": org},
            "kind": {"DataType": "String", "StringValue": kind},
        },
    )["MessageId"]
    stores.audit(org, "system:notify", f"notification.{kind}", str(subscription.get("subscriptionId") or ""),
                 messageId=message_id)  # fmt: skip
    log(logging.INFO, "notified", org=org, kind=kind, messageId=message_id)
    return {"messageId": message_id, "kind": kind}
