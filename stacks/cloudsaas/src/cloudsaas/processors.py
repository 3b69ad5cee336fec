"""The payment events queues' consumers (SQS, partial batch failures; a message that keeps
failing goes to the queue's DLQ after ``maxReceiveCount`` receives).

* ``subscription_events``: the lifecycle. ``BILLING.SUBSCRIPTION.CREATED`` sends a heartbeat to
  the new subscription's approval callback, ``...ACTIVATED`` completes it; ``PAYMENT.SALE.COMPLETED``
  starts ``Renewal``, ``BILLING.SUBSCRIPTION.PAYMENT.FAILED`` starts ``PaymentFailure``,
  ``BILLING.SUBSCRIPTION.CANCELLED`` starts ``Cancellation``, ``PAYMENT.SALE.REFUNDED`` refunds
  the invoice its sale paid (partly or wholly, once per refund id). Executions are named after the
  event (or the subscription), so redeliveries do not start them twice.
* ``billing_events``: the payment ledger (``payment_events`` in PostgreSQL, one row per event).

Both queues are FIFO with a message group per PayPal subscription. Events may still arrive out
of order from PayPal: a sale delivered before ``...ACTIVATED`` answers the approval callback itself
and is retried until the activation has opened the invoice it pays; a late ``...CREATED`` or
``...ACTIVATED`` is then ignored.

An event about a subscription this system does not know raises ``SubscriptionNotFound``: the
message is retried and then lands in the DLQ (a poisoned webhook).
"""

from __future__ import annotations

import logging
from typing import Any

from cloudsaas import billing, machines
from cloudsaas.common import env, log
from cloudsaas.db import transaction
from cloudsaas.paypal import WebhookEvent

__all__ = ["ApprovalNotReady", "billing_events", "handle_lifecycle", "subscription_events"]


class ApprovalNotReady(Exception):
    """The approval callback's token is not stored yet (the state machine is starting)."""


def _subscription(event: WebhookEvent) -> dict[str, Any]:
    ref = event.subscription_ref()
    if not ref and event.sale_ref():  # a refund names its sale, not always the subscription
        return billing.by_sale_id(str(event.sale_ref()))
    if not ref:
        raise billing.SubscriptionNotFound(f"{event.id} names no subscription")
    return billing.by_paypal_id(ref)


def handle_lifecycle(event: WebhookEvent) -> str:
    """What the event did (for the log)."""
    kind = event.event_type
    if kind in ("BILLING.SUBSCRIPTION.CREATED", "BILLING.SUBSCRIPTION.ACTIVATED"):
        sub = _subscription(event)
        if sub["status"] != "APPROVAL_PENDING":
            return f"ignored: subscription is {sub['status']}"
        token = billing.approval_token(sub["subscriptionId"])
        if not token:
            raise ApprovalNotReady(sub["subscriptionId"])
        if kind.endswith(".CREATED"):
            return "heartbeat" if machines.send_heartbeat(token) else "ignored: already approved"
        if machines.send_success(token, {"approved": True, "eventId": event.id}):
            return "approved"
        return "ignored: already approved"
    if kind == "PAYMENT.SALE.COMPLETED":
        sub = _subscription(event)
        if sub["status"] == "APPROVAL_PENDING":
            # PayPal does not promise delivery order: a sale before ACTIVATED proves the buyer
            # approved, so it answers the approval callback; the sale itself is retried (this
            # message comes back after its visibility timeout, ahead of the rest of its group)
            # and then pays the period's invoice that the activation opened
            token = billing.approval_token(sub["subscriptionId"])
            if not token:
                raise ApprovalNotReady(sub["subscriptionId"])
            machines.send_success(token, {"approved": True, "eventId": event.id})
            raise billing.PaymentBeforeActivation(sub["subscriptionId"])
        cents, _currency = event.amount_cents()
        machines.start("RENEWAL_MACHINE_ARN", machines.execution_name("pay", event.id),
                       {"subscriptionId": sub["subscriptionId"], "orgId": sub["orgId"],
                        "saleId": str(event.resource.get("id") or event.id),
                        "amountCents": cents, "eventId": event.id})  # fmt: skip
        return "renewal started"
    if kind == "PAYMENT.SALE.REFUNDED":
        sale = event.sale_ref()
        if not sale:
            raise billing.SaleNotRecorded(f"refund {event.id} names no sale")
        cents, _currency = event.amount_cents()
        invoice = billing.refund(sale, str(event.resource.get("id") or event.id), cents, "paypal")
        return f"refund recorded: invoice {invoice['invoiceId']} {invoice['status']}"
    if kind == "BILLING.SUBSCRIPTION.PAYMENT.FAILED":
        sub = _subscription(event)
        machines.start("PAYMENT_FAILURE_MACHINE_ARN", machines.execution_name("fail", event.id),
                       {"subscriptionId": sub["subscriptionId"], "orgId": sub["orgId"],
                        "eventId": event.id,
                        "retryIntervalSeconds": int(env("DUNNING_INTERVAL_SECONDS", "86400")),
                        "maxAttempts": int(env("DUNNING_MAX_ATTEMPTS", "3"))})  # fmt: skip
        return "payment failure started"
    if kind == "BILLING.SUBSCRIPTION.CANCELLED":
        sub = _subscription(event)
        machines.start("CANCELLATION_MACHINE_ARN",
                       machines.execution_name("cancel", sub["subscriptionId"]),
                       {"subscriptionId": sub["subscriptionId"], "orgId": sub["orgId"],
                        "reason": "cancelled on PayPal", "requestedBy": "paypal"})  # fmt: skip
        return "cancellation started"
    return "ignored: not a lifecycle event"


def _batch(event: dict[str, Any], work: Any, name: str) -> dict[str, Any]:
    """Each record of an SQS batch; the failed ones are reported for a retry. The queues are
    FIFO: once a record of a message group fails, the later records of that group are reported
    failed too without being handled (handling them would break the group's order)."""
    failures: list[dict[str, str]] = []
    held: set[str] = set()  # message groups with a failed record in this batch
    for record in event.get("Records") or []:
        message_id = record.get("messageId", "")
        group = str((record.get("attributes") or {}).get("MessageGroupId") or "")
        if group and group in held:
            failures.append({"itemIdentifier": message_id})
            continue
        try:
            parsed = WebhookEvent.model_validate_json(record.get("body") or "")
            outcome = work(parsed)
            log(logging.INFO, name, eventId=parsed.id, eventType=parsed.event_type, outcome=outcome)
        except Exception as exc:
            log(logging.ERROR, f"{name} failed", messageId=message_id, error=repr(exc)[:300],
                receiveCount=(record.get("attributes") or {}).get("ApproximateReceiveCount"))  # fmt: skip
            failures.append({"itemIdentifier": message_id})
            if group:
                held.add(group)
    return {"batchItemFailures": failures}


def subscription_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _batch(event, handle_lifecycle, "subscription event")


def record_payment_event(event: WebhookEvent) -> str:
    sub = _subscription(event)
    cents, currency = event.amount_cents()
    with transaction() as cur:
        cur.execute(
            "INSERT INTO payment_events (event_id, org_id, subscription_id, event_type, "
            "amount_cents, currency) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (event.id, sub["orgId"], sub["subscriptionId"], event.event_type, cents, currency),
        )
        return "recorded" if cur.rowcount else "already recorded"


def billing_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _batch(event, record_payment_event, "billing event")
