"""Subscriptions and invoices in PostgreSQL: the rows and every state change of the lifecycle.

Statuses: ``APPROVAL_PENDING`` → ``ACTIVE`` (approved on PayPal) or ``APPROVAL_EXPIRED``;
``ACTIVE`` → ``PAST_DUE`` (a payment failed) → ``ACTIVE`` (paid within the grace period) or
``SUSPENDED``; any → ``CANCELLED``. Each change also updates the organisation's ``ORG`` item in
DynamoDB and writes an audit record.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudsaas import stores
from cloudsaas.db import fetch_all, fetch_one, transaction
from cloudsaas.plans import next_period_end, price_of

__all__ = [
    "LIVE",
    "PaymentBeforeActivation",
    "RefundExceedsPayment",
    "SaleNotRecorded",
    "SubscriptionNotFound",
    "get_invoice",
    "get_subscription",
    "list_invoices",
    "list_subscriptions",
    "mirror",
    "new_id",
]

LIVE = ("APPROVAL_PENDING", "ACTIVE", "PAST_DUE")
SUBSCRIPTION_FIELDS = (
    "id, org_id, plan, status, paypal_subscription_id, current_period_end, pending_plan, "
    "failed_attempts, grace_until, cancelled_at, created_by, created_at, updated_at"
)
INVOICE_FIELDS = (
    "id, org_id, subscription_id, kind, plan, amount_cents, currency, status, paypal_sale_id, "
    "refunded_cents, period_end, created_at, updated_at"
)


class SubscriptionNotFound(Exception):
    """No subscription with that id (or PayPal id); the error name state machines catch."""


class SaleNotRecorded(Exception):
    """A refund for a sale no invoice holds (yet: its payment may still be on its way; retried,
    then the dead-letter queue)."""


class RefundExceedsPayment(Exception):
    """A refund of nothing, or of more than the sale paid less what was already refunded: PayPal
    never sends one, so the event is poisoned (it ends in the dead-letter queue)."""


class PaymentBeforeActivation(Exception):
    """A sale for a subscription still waiting for its approval (delivered before
    ``BILLING.SUBSCRIPTION.ACTIVATED``): retried, it pays the invoice the activation opens."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def now() -> datetime:
    return datetime.now(UTC)


def _camel(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        head, *rest = key.split("_")
        out[head + "".join(p.title() for p in rest)] = value
    if "id" in out:
        kind = "subscriptionId" if "paypalSubscriptionId" in out else "invoiceId"
        out[kind] = out.pop("id")
    return out


def get_subscription(org: str | None, subscription_id: str) -> dict[str, Any] | None:
    """A subscription by id; with ``org``, only that organisation's."""
    sql = f"SELECT {SUBSCRIPTION_FIELDS} FROM subscriptions WHERE id = %s"
    params: tuple[Any, ...] = (subscription_id,)
    if org is not None:
        sql += " AND org_id = %s"
        params += (org,)
    row = fetch_one(sql, params)
    return _camel(row) if row else None


def by_paypal_id(paypal_id: str) -> dict[str, Any]:
    row = fetch_one(
        f"SELECT {SUBSCRIPTION_FIELDS} FROM subscriptions WHERE paypal_subscription_id = %s",
        (paypal_id,),
    )
    if row is None:
        raise SubscriptionNotFound(f"no subscription for PayPal id {paypal_id}")
    return _camel(row)


def list_subscriptions(org: str) -> list[dict[str, Any]]:
    rows = fetch_all(
        f"SELECT {SUBSCRIPTION_FIELDS} FROM subscriptions WHERE org_id = %s "
        "ORDER BY created_at DESC LIMIT 200",
        (org,),
    )
    return [_camel(r) for r in rows]


def list_invoices(org: str, subscription_id: str | None = None) -> list[dict[str, Any]]:
    sql = f"SELECT {INVOICE_FIELDS} FROM invoices WHERE org_id = %s"
    params: tuple[Any, ...] = (org,)
    if subscription_id:
        sql += " AND subscription_id = %s"
        params += (subscription_id,)
    rows = fetch_all(sql + " ORDER BY created_at DESC, id LIMIT 500", params)
    return [_camel(r) for r in rows]


def get_invoice(org: str, invoice_id: str) -> dict[str, Any] | None:
    row = fetch_one(
        f"SELECT {INVOICE_FIELDS} FROM invoices WHERE id = %s AND org_id = %s", (invoice_id, org)
    )
    return _camel(row) if row else None


def create_pending(org: str, plan: str, created_by: str) -> dict[str, Any]:
    """A new subscription waiting for the buyer's approval on PayPal (409 if one is live)."""
    price_of(plan)
    subscription_id = new_id("sub")
    paypal_id = "I-" + secrets.token_hex(6).upper()
    with transaction() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (org,))
        cur.execute(
            "SELECT id FROM subscriptions WHERE org_id = %s AND status = ANY(%s)", (org, list(LIVE))
        )
        live = cur.fetchone()
        if live is not None:
            return {"conflict": live["id"]}
        cur.execute(
            "INSERT INTO subscriptions (id, org_id, plan, status, paypal_subscription_id, created_by) "
            "VALUES (%s, %s, %s, 'APPROVAL_PENDING', %s, %s)",
            (subscription_id, org, plan, paypal_id, created_by),
        )
    found = get_subscription(org, subscription_id)
    assert found is not None
    mirror(found)
    return found


def _locked(cur: Any, subscription_id: str) -> dict[str, Any]:
    cur.execute(
        f"SELECT {SUBSCRIPTION_FIELDS} FROM subscriptions WHERE id = %s FOR UPDATE",
        (subscription_id,),
    )
    row = cur.fetchone()
    if row is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id}")
    return dict(row)


def _set(cur: Any, subscription_id: str, **fields: Any) -> None:
    assignments = ", ".join(f"{k} = %s" for k in fields)
    cur.execute(
        f"UPDATE subscriptions SET {assignments}, updated_at = now() WHERE id = %s",
        (*fields.values(), subscription_id),
    )


def _invoice(
    cur: Any, row: dict[str, Any], kind: str, plan: str, amount: int, status: str,
    sale_id: str | None = None, period_end: datetime | None = None,
) -> str:  # fmt: skip
    invoice_id = new_id("inv")
    cur.execute(
        "INSERT INTO invoices (id, org_id, subscription_id, kind, plan, amount_cents, status, "
        "paypal_sale_id, period_end) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (invoice_id, row["org_id"], row["id"], kind, plan, amount, status, sale_id, period_end),
    )
    return invoice_id


def mirror(subscription: dict[str, Any]) -> None:
    """The organisation's ``ORG`` item in DynamoDB follows the subscription."""
    stores.put_org_subscription(
        subscription["orgId"],
        {"id": subscription["subscriptionId"], "plan": subscription["plan"],
         "status": subscription["status"]},
    )  # fmt: skip


def _done(subscription_id: str, actor: str, action: str, **detail: Any) -> dict[str, Any]:
    found = get_subscription(None, subscription_id)
    assert found is not None
    mirror(found)
    stores.audit(found["orgId"], actor, action, subscription_id, **detail)
    return found


def store_approval_token(subscription_id: str, token: str) -> None:
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] != "APPROVAL_PENDING":
            raise SubscriptionNotFound(f"{subscription_id} is {row['status']}, not pending")
        _set(cur, subscription_id, approval_token=token)


def activate(subscription_id: str, actor: str) -> dict[str, Any]:
    """Approved: ACTIVE for one period, the period's invoice OPEN until PayPal's payment."""
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] == "APPROVAL_PENDING":
            end = next_period_end(None)
            _set(cur, subscription_id, status="ACTIVE", approval_token=None, current_period_end=end)
            _invoice(cur, row, "subscription", row["plan"], price_of(row["plan"]), "OPEN",
                     period_end=end)  # fmt: skip
    return _done(subscription_id, actor, "subscription.activated")


def expire_approval(subscription_id: str, actor: str, reason: str) -> dict[str, Any]:
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] == "APPROVAL_PENDING":
            _set(cur, subscription_id, status="APPROVAL_EXPIRED", approval_token=None)
    return _done(subscription_id, actor, "subscription.approval_expired", reason=reason)


def record_payment(
    subscription_id: str, sale_id: str, amount: int | None, actor: str
) -> dict[str, Any]:
    """A completed sale: pays the open invoice, or renews for one more period (once per sale)."""
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] == "APPROVAL_PENDING":
            # not a renewal: the first payment, ahead of the activation that opens its invoice
            raise PaymentBeforeActivation(subscription_id)
        cur.execute("SELECT id FROM invoices WHERE paypal_sale_id = %s", (sale_id,))
        if cur.fetchone() is None and row["status"] not in ("CANCELLED", "APPROVAL_EXPIRED"):
            cur.execute(
                "SELECT id FROM invoices WHERE subscription_id = %s AND status = 'OPEN' "
                "ORDER BY created_at LIMIT 1",
                (subscription_id,),
            )
            open_invoice = cur.fetchone()
            if open_invoice is not None:
                cur.execute(
                    "UPDATE invoices SET status = 'PAID', paypal_sale_id = %s, updated_at = now() "
                    "WHERE id = %s",
                    (sale_id, open_invoice["id"]),
                )
                end = row["current_period_end"]
                if row["status"] == "PAST_DUE":  # paid within the grace period
                    end = next_period_end(row["current_period_end"])
            else:
                plan = row["pending_plan"] or row["plan"]
                end = next_period_end(row["current_period_end"])
                _invoice(cur, row, "renewal", plan, amount or price_of(plan), "PAID", sale_id, end)
                _set(cur, subscription_id, plan=plan, pending_plan=None)
            _set(cur, subscription_id, status="ACTIVE", failed_attempts=0, grace_until=None,
                 current_period_end=end)  # fmt: skip
    return _done(subscription_id, actor, "subscription.payment_completed", saleId=sale_id)


def by_sale_id(sale_id: str) -> dict[str, Any]:
    """The subscription whose invoice a sale paid."""
    row = fetch_one(
        f"SELECT {', '.join('s.' + f.strip() for f in SUBSCRIPTION_FIELDS.split(','))} "
        "FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id "
        "WHERE i.paypal_sale_id = %s",
        (sale_id,),
    )
    if row is None:
        raise SaleNotRecorded(f"no invoice paid by sale {sale_id}")
    return _camel(row)


def refund(sale_id: str, refund_id: str, amount: int | None, actor: str) -> dict[str, Any]:
    """A completed refund (``PAYMENT.SALE.REFUNDED``) of the invoice ``sale_id`` paid: once per
    refund id; ``amount`` None refunds what is left. The invoice is ``PARTIALLY_REFUNDED`` until
    its refunds add up to what it paid, then ``REFUNDED``."""
    with transaction() as cur:
        cur.execute(
            f"SELECT {INVOICE_FIELDS} FROM invoices WHERE paypal_sale_id = %s FOR UPDATE",
            (sale_id,),
        )
        invoice = cur.fetchone()
        if invoice is None:
            raise SaleNotRecorded(f"no invoice paid by sale {sale_id}")
        cur.execute("SELECT 1 FROM refunds WHERE id = %s", (refund_id,))
        first = cur.fetchone() is None  # a redelivered refund changes nothing
        if first:
            left = invoice["amount_cents"] - invoice["refunded_cents"]
            cents = left if amount is None else abs(amount)
            if cents <= 0 or cents > left:
                raise RefundExceedsPayment(
                    f"refund {refund_id} of {cents} cents: invoice {invoice['id']} has {left} left"
                )
            total = invoice["refunded_cents"] + cents
            status = "REFUNDED" if total == invoice["amount_cents"] else "PARTIALLY_REFUNDED"
            cur.execute(
                "INSERT INTO refunds (id, invoice_id, org_id, amount_cents) VALUES (%s, %s, %s, %s)",
                (refund_id, invoice["id"], invoice["org_id"], cents),
            )
            cur.execute(
                "UPDATE invoices SET refunded_cents = %s, status = %s, updated_at = now() "
                "WHERE id = %s",
                (total, status, invoice["id"]),
            )
    if first:
        stores.audit(invoice["org_id"], actor, "invoice.refunded", invoice["id"],
                     refundId=refund_id, amountCents=cents, status=status)  # fmt: skip
    found = get_invoice(invoice["org_id"], invoice["id"])
    assert found is not None
    return found


def payment_failed(subscription_id: str, grace_s: int, actor: str) -> dict[str, Any]:
    """A failed payment: PAST_DUE with a grace period; the period's invoice stays OPEN."""
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] in ("ACTIVE", "PAST_DUE"):
            cur.execute(
                "SELECT id FROM invoices WHERE subscription_id = %s AND status = 'OPEN'",
                (subscription_id,),
            )
            if cur.fetchone() is None:
                _invoice(cur, row, "renewal", row["plan"], price_of(row["plan"]), "OPEN",
                         period_end=next_period_end(row["current_period_end"]))  # fmt: skip
            _set(cur, subscription_id, status="PAST_DUE", failed_attempts=1,
                 grace_until=now() + timedelta(seconds=grace_s))  # fmt: skip
    return _done(subscription_id, actor, "subscription.payment_failed", graceSeconds=grace_s)


def count_attempt(subscription_id: str) -> dict[str, Any]:
    """One more dunning attempt went by without a payment."""
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] == "PAST_DUE":
            _set(cur, subscription_id, failed_attempts=row["failed_attempts"] + 1)
    found = get_subscription(None, subscription_id)
    assert found is not None
    return found


def suspend(subscription_id: str, actor: str) -> dict[str, Any]:
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] == "PAST_DUE":
            _set(cur, subscription_id, status="SUSPENDED", grace_until=None)
            cur.execute(
                "UPDATE invoices SET status = 'FAILED', updated_at = now() "
                "WHERE subscription_id = %s AND status = 'OPEN'",
                (subscription_id,),
            )
    return _done(subscription_id, actor, "subscription.suspended")


def cancel(subscription_id: str, actor: str, reason: str) -> dict[str, Any]:
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["status"] != "CANCELLED":
            _set(cur, subscription_id, status="CANCELLED", cancelled_at=now(),
                 approval_token=None, pending_plan=None, grace_until=None)  # fmt: skip
            cur.execute(
                "UPDATE invoices SET status = 'VOID', updated_at = now() "
                "WHERE subscription_id = %s AND status = 'OPEN'",
                (subscription_id,),
            )
    return _done(subscription_id, actor, "subscription.cancelled", reason=reason or None)


def apply_upgrade(subscription_id: str, plan: str, amount: int, actor: str) -> dict[str, Any]:
    with transaction() as cur:
        row = _locked(cur, subscription_id)
        if row["plan"] != plan:
            _set(cur, subscription_id, plan=plan, pending_plan=None)
            if amount > 0:
                _invoice(cur, row, "proration", plan, amount, "PAID",
                         period_end=row["current_period_end"])  # fmt: skip
    return _done(subscription_id, actor, "subscription.upgraded", plan=plan, amountCents=amount)


def schedule_downgrade(subscription_id: str, plan: str, actor: str) -> dict[str, Any]:
    with transaction() as cur:
        _locked(cur, subscription_id)
        _set(cur, subscription_id, pending_plan=plan)
    return _done(subscription_id, actor, "subscription.downgrade_scheduled", plan=plan)


def approval_token(subscription_id: str) -> str | None:
    row = fetch_one("SELECT approval_token FROM subscriptions WHERE id = %s", (subscription_id,))
    return row["approval_token"] if row else None
