"""Subscriptions and billing API: ``POST /subscriptions`` (admin), ``GET /subscriptions``,
``GET /subscriptions/{subscriptionId}``, ``POST /subscriptions/{subscriptionId}/plan`` (admin:
upgrade/downgrade), ``POST /subscriptions/{subscriptionId}/cancel`` (admin), ``GET /invoices``,
``GET /invoices/{invoiceId}``.

A new subscription waits for the buyer's approval on PayPal: the ``NewSubscription`` state
machine holds a callback that PayPal's ``BILLING.SUBSCRIPTION.ACTIVATED`` webhook answers.
Plan changes and cancellations run their own state machines; the API answers 202 with the
execution. Another organisation's subscription or invoice is 404.
"""

from __future__ import annotations

from typing import Any

from cloudsaas import billing, machines, stores
from cloudsaas.common import ApiError, Request, env, respond, run_api
from cloudsaas.models import CancelBody, ChangePlanBody, SubscriptionBody

__all__ = ["handler"]


def _own(req: Request) -> dict[str, Any]:
    found = billing.get_subscription(req.caller.org_id, req.path.get("subscriptionId", ""))
    if found is None:
        raise ApiError(404, "NOT_FOUND", "subscription not found")
    return found


def create(req: Request) -> dict[str, Any]:
    req.caller.require_admin()
    body = SubscriptionBody.model_validate(req.body())
    made = billing.create_pending(req.caller.org_id, body.plan, req.caller.user_id)
    if "conflict" in made:
        raise ApiError(409, "CONFLICT", "the organisation already has a live subscription",
                       {"subscriptionId": made["conflict"]})  # fmt: skip
    execution = machines.start(
        "NEW_SUBSCRIPTION_MACHINE_ARN",
        machines.execution_name("new", made["subscriptionId"]),
        {
            "subscriptionId": made["subscriptionId"],
            "orgId": req.caller.org_id,
            "plan": body.plan,
            "approvalTimeoutSeconds": int(env("APPROVAL_TIMEOUT_SECONDS", "86400")),
            "approvalHeartbeatSeconds": int(env("APPROVAL_HEARTBEAT_SECONDS", "3600")),
        },
    )
    stores.audit(req.caller.org_id, req.caller.user_id, "subscription.created",
                 made["subscriptionId"], plan=body.plan)  # fmt: skip
    return respond(201, {**made, "executionArn": execution}, req.request_id)


def list_all(req: Request) -> dict[str, Any]:
    items = billing.list_subscriptions(req.caller.org_id)
    return respond(200, {"items": items, "count": len(items)}, req.request_id)


def get_one(req: Request) -> dict[str, Any]:
    found = _own(req)
    found["invoices"] = billing.list_invoices(req.caller.org_id, found["subscriptionId"])
    return respond(200, found, req.request_id)


def change_plan(req: Request) -> dict[str, Any]:
    req.caller.require_admin()
    body = ChangePlanBody.model_validate(req.body())
    found = _own(req)
    if found["status"] != "ACTIVE":
        raise ApiError(409, "CONFLICT", f"a {found['status']} subscription cannot change plan")
    if found["plan"] == body.plan:
        raise ApiError(409, "CONFLICT", f"the subscription is already on {body.plan}")
    execution = machines.start(
        "CHANGE_PLAN_MACHINE_ARN",
        machines.execution_name("plan", found["subscriptionId"], body.plan, req.request_id[:12]),
        {"subscriptionId": found["subscriptionId"], "orgId": req.caller.org_id,
         "plan": body.plan, "requestedBy": req.caller.user_id},
    )  # fmt: skip
    return respond(202, {"subscriptionId": found["subscriptionId"], "plan": body.plan,
                         "executionArn": execution}, req.request_id)  # fmt: skip


def cancel(req: Request) -> dict[str, Any]:
    req.caller.require_admin()
    body = CancelBody.model_validate(req.body())
    found = _own(req)
    if found["status"] == "CANCELLED":
        raise ApiError(409, "CONFLICT", "the subscription is already cancelled")
    execution = machines.start(
        "CANCELLATION_MACHINE_ARN",
        machines.execution_name("cancel", found["subscriptionId"]),
        {"subscriptionId": found["subscriptionId"], "orgId": req.caller.org_id,
         "reason": body.reason, "requestedBy": req.caller.user_id},
    )  # fmt: skip
    return respond(202, {"subscriptionId": found["subscriptionId"],
                         "executionArn": execution}, req.request_id)  # fmt: skip


def invoices(req: Request) -> dict[str, Any]:
    items = billing.list_invoices(req.caller.org_id, req.query.get("subscriptionId") or None)
    return respond(200, {"items": items, "count": len(items)}, req.request_id)


def invoice(req: Request) -> dict[str, Any]:
    found = billing.get_invoice(req.caller.org_id, req.path.get("invoiceId", ""))
    if found is None:
        raise ApiError(404, "NOT_FOUND", "invoice not found")
    return respond(200, found, req.request_id)


ROUTES = {
    ("POST", "/subscriptions"): create,
    ("GET", "/subscriptions"): list_all,
    ("GET", "/subscriptions/{subscriptionId}"): get_one,
    ("POST", "/subscriptions/{subscriptionId}/plan"): change_plan,
    ("POST", "/subscriptions/{subscriptionId}/cancel"): cancel,
    ("GET", "/invoices"): invoices,
    ("GET", "/invoices/{invoiceId}"): invoice,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_api(event, ROUTES)
