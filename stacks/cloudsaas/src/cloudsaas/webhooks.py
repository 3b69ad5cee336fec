"""``POST /webhooks/paypal``: PayPal's payment and subscription events.

No authorizer: the transmission signature is the authentication (``paypal.verify`` with the
shared secret from Secrets Manager, ``PAYPAL_SECRET_ARN`` = ``{"webhook_id", "secret"}``).
Answers: 401 for a bad or stale signature, 400 for a body that is not an event, 200
``{"duplicate": true}`` for an event id already received (idempotent), 503 when the event
cannot be published (PayPal redelivers), else 200 after the event is on the payment events
topic (FIFO, one message group per PayPal subscription), which fans it out to the subscription
and billing queues.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from pydantic import ValidationError

from cloudsaas import stores
from cloudsaas.common import env, log
from cloudsaas.paypal import SignatureError, WebhookEvent, verify

__all__ = ["handler"]

_cache: dict[str, Any] = {}
SECRET_TTL_S = 300


def _secret() -> tuple[str, str]:
    cached = _cache.get("secret")
    if cached is None or cached[0] < time.monotonic():
        import boto3

        raw = boto3.client("secretsmanager").get_secret_value(SecretId=env("PAYPAL_SECRET_ARN"))
        value = json.loads(raw["SecretString"])
        cached = (time.monotonic() + SECRET_TTL_S, str(value["secret"]), str(value["webhook_id"]))
        _cache["secret"] = cached
    return cached[1], cached[2]


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}  # fmt: skip


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    secret, webhook_id = _secret()
    try:
        verify(headers, body, secret, webhook_id)
    except SignatureError as exc:
        log(logging.WARNING, "webhook refused", reason=str(exc))
        return _answer(401, {"error": {"code": "INVALID_SIGNATURE", "message": str(exc)}})
    try:
        parsed = WebhookEvent.model_validate_json(body)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        return _answer(400, {"error": {"code": "VALIDATION_ERROR",
                                       "message": "not a webhook event", "fields": fields}})  # fmt: skip
    if not stores.claim_webhook(parsed.id, parsed.event_type):
        log(logging.INFO, "webhook duplicate", eventId=parsed.id)
        return _answer(200, {"received": True, "duplicate": True, "id": parsed.id})
    try:
        if "sns" not in _cache:
            import boto3

            _cache["sns"] = boto3.client("sns")
        _cache["sns"].publish(
            TopicArn=env("PAYMENT_EVENTS_TOPIC_ARN"),
            Message=body.decode(),
            # one group per PayPal subscription: its events are handled in delivery order
            MessageGroupId=parsed.subscription_ref() or parsed.sale_ref() or parsed.id,
            MessageDeduplicationId=parsed.id,
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": parsed.event_type}
            },
        )
    except Exception as exc:
        stores.release_webhook(parsed.id)
        log(logging.ERROR, "webhook not published", eventId=parsed.id, error=repr(exc)[:300])
        return _answer(503, {"error": {"code": "UNAVAILABLE", "message": "try again later"}})
    log(logging.INFO, "webhook accepted", eventId=parsed.id, eventType=parsed.event_type)
    return _answer(200, {"received": True, "duplicate": False, "id": parsed.id})
