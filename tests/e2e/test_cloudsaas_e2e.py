"""The cloud SaaS stack (seed 004) end to end: the real gateway (REST API, Cognito authorizer,
the web ACL), the real runtime, PostgreSQL started by the stack's fixture, DynamoDB Local,
LocalStack's SNS/SQS, ministack's Step Functions running the lifecycle with its Lambda tasks in
the harness's runtime, S3 with pre-signed URLs.

Organisations and users come from harness.yaml (``acme``: acmeadmin, acmemember, acmeanalyst;
``globex``: globexadmin, globexmember; the admins have the admin role). Webhooks are signed with
the shared secret the stack keeps in Secrets Manager, as PayPal's would be.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.model import DeployedStack
from harness.tokens import token_for_stack
from tests.fixtures.modules import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STACK_DIR = Path(__file__).resolve().parents[2] / "stacks" / "cloudsaas"
seed = load_module("cloudsaas_seed", STACK_DIR / "fixtures" / "seed.py")
paypal = load_module("cloudsaas_paypal", STACK_DIR / "src" / "cloudsaas" / "paypal.py")
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 45.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


class Api:
    def __init__(self, env: Environment, stack: DeployedStack) -> None:
        self.env = env
        self.stack = stack
        base = urlsplit(stack.apis["CloudSaasApi"].base_url)
        self.host, self.port, self.prefix = base.hostname or "127.0.0.1", base.port, base.path
        self.users: dict[str, tuple[str, str]] = seed.users(env, stack)  # user -> (org, sub)
        self._tokens: dict[str, str] = {}
        self.db_info = seed.connection(env, stack)
        self._db: Any = None

    def sub(self, user: str) -> str:
        return self.users[user][1]

    def token(self, user: str) -> str:
        if user not in self._tokens:
            found = token_for_stack(self.env.state_dir, "cloudsaas", self.users[user][0], user=user)
            self._tokens[user] = found.token
        return self._tokens[user]

    def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            sent = {"content-type": "application/json", **(headers or {})}
            if user:
                sent["authorization"] = f"Bearer {self.token(user)}"
            data = None if body is None else (body if isinstance(body, bytes | str) else
                                              json.dumps(body))  # fmt: skip
            conn.request(method, self.prefix + path, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return resp.status, parsed
        finally:
            conn.close()

    def ok(self, method: str, path: str, user: str, body: Any = None, status: int = 200) -> Any:
        got, answer = self.call(method, path, user, body)
        assert got == status, (method, path, user, got, answer)
        return answer["data"]

    # -- PayPal ----------------------------------------------------------------------------------

    def webhook(
        self, event_type: str, resource: dict[str, Any], event_id: str | None = None
    ) -> tuple[int, Any]:
        secret = json.loads(
            self.env.client("secretsmanager").get_secret_value(
                SecretId=self.stack.resources["PayPalWebhookSecret"].physical_id
            )["SecretString"]
        )
        event = {
            "id": event_id or f"WH-{secrets.token_hex(8).upper()}",
            "event_version": "1.0",
            "create_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resource_type": "sale" if event_type.startswith("PAYMENT.") else "subscription",
            "event_type": event_type,
            "resource": resource,
        }
        body = json.dumps(event).encode()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        tx = secrets.token_hex(8)
        headers = {
            "paypal-transmission-id": tx,
            "paypal-transmission-time": stamp,
            "paypal-auth-algo": "HMACSHA256",
            "paypal-cert-url": "local",
            "paypal-transmission-sig": paypal.sign(
                secret["secret"], tx, stamp, secret["webhook_id"], body
            ),
        }
        return self.call("POST", "/webhooks/paypal", body=body, headers=headers)

    def webhook_ok(self, event_type: str, resource: dict[str, Any], **kw: Any) -> str:
        status, answer = self.webhook(event_type, resource, **kw)
        assert status == 200 and answer["received"] is True, (status, answer)
        return str(answer["id"])

    # -- data ------------------------------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        import psycopg

        for attempt in (1, 2):
            if self._db is None or self._db.closed:
                self._db = seed.connect(self.db_info)
            try:
                cur = self._db.execute(query, params)
                return list(cur.fetchall()) if cur.description else []
            except psycopg.OperationalError:  # a database fault ended this session too
                self._db.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def subscription_row(self, subscription_id: str) -> dict[str, Any]:
        return self.sql("SELECT * FROM subscriptions WHERE id = %s", subscription_id)[0]

    def wait_status(self, subscription_id: str, status: str, timeout: float = 45) -> dict[str, Any]:
        return wait_for(
            f"{subscription_id} to be {status}",
            lambda: (row := self.subscription_row(subscription_id))["status"] == status and row,
            timeout,
        )

    def org_item(self, org: str) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        got = self.env.client("dynamodb").get_item(
            TableName=self.stack.resources["ProfilesTable"].physical_id,
            Key={"PK": {"S": f"ORG#{org}"}, "SK": {"S": "ORG"}},
            ConsistentRead=True,
        )
        des = TypeDeserializer()
        return {k: des.deserialize(v) for k, v in got.get("Item", {}).items()}

    def subscribe(self, admin: str, plan: str) -> dict[str, Any]:
        """A new subscription, approved on PayPal (CREATED heartbeat, then ACTIVATED)."""
        made = self.ok("POST", "/subscriptions", admin, {"plan": plan}, status=201)
        sid, paypal_id = made["subscriptionId"], made["paypalSubscriptionId"]
        assert made["status"] == "APPROVAL_PENDING"
        wait_for("the approval callback", lambda: self.subscription_row(sid)["approval_token"])
        resource = {"id": paypal_id, "custom_id": sid, "plan_id": f"P-{plan.upper()}"}
        self.webhook_ok("BILLING.SUBSCRIPTION.CREATED", {**resource, "status": "APPROVAL_PENDING"})
        self.webhook_ok("BILLING.SUBSCRIPTION.ACTIVATED", {**resource, "status": "ACTIVE"})
        self.wait_status(sid, "ACTIVE")
        return made

    def sale(self, paypal_id: str, cents: int, event_id: str | None = None) -> str:
        return self.webhook_ok(
            "PAYMENT.SALE.COMPLETED",
            {"id": f"SALE-{secrets.token_hex(5).upper()}", "billing_agreement_id": paypal_id,
             "state": "completed",
             "amount": {"total": f"{cents / 100:.2f}", "currency": "USD"}},
            event_id=event_id,
        )  # fmt: skip

    def end_live_subscriptions(self, org: str) -> None:
        """Tests that subscribe need the organisation without a live subscription."""
        self.sql(
            "UPDATE subscriptions SET status = 'CANCELLED' WHERE org_id = %s AND status = ANY(%s)",
            org,
            ["APPROVAL_PENDING", "ACTIVE", "PAST_DUE"],
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    state_dir = tmp_path_factory.mktemp("cloudsaas-e2e")

    with contextlib.ExitStack() as cleanup:
        env = cleanup.enter_context(Environment(Settings.load(state_dir=state_dir)))
        stack = deploy_stack(env, STACK_DIR)  # starts PostgreSQL, runs fixtures/seed.py
        client = Api(env, stack)
        until = time.monotonic() + 30  # every gateway worker picks the new stack up
        while True:
            status, body = client.call("GET", "/me", "acmeadmin")
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.3)
        cleanup.callback(client.close)
        assert status == 200, body
        yield client


# -- users, roles, profiles, sessions, audit -----------------------------------------------------


def test_roles_profiles_sessions_and_user_management(api: Api) -> None:
    me = api.ok("GET", "/me", "acmeadmin")
    assert me["role"] == "admin" and me["orgId"] == "acme" and me["username"] == "acmeadmin"
    assert me["session"]["expiresAt"] - time.time() > 23 * 3600  # DynamoDB TTL, 24 h
    assert api.ok("GET", "/me", "acmemember")["role"] == "member"
    users = api.ok("GET", "/users", "acmemember")["items"]
    assert {"acmeadmin", "acmemember", "acmeanalyst"} <= {u["username"] for u in users}
    assert {u["orgId"] for u in users} == {"acme"}
    # admin-only actions
    name = f"new{secrets.token_hex(3)}"
    invite = {"username": name, "email": f"{name}@example.com", "role": "member"}
    status, body = api.call("POST", "/users", "acmemember", invite)
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    assert api.call("GET", "/audit", "acmemember")[0] == 403
    made = api.ok("POST", "/users", "acmeadmin", invite, status=201)
    assert api.sql("SELECT org_id, role FROM users WHERE id = %s", made["userId"]) == [
        {"org_id": "acme", "role": "member"}
    ]
    assert api.ok("GET", f"/users/{made['userId']}", "acmeanalyst")["email"] == invite["email"]
    assert api.call("POST", "/users", "acmeadmin", invite)[0] == 409
    # preferences in the DynamoDB profile; bad ones are 400
    prefs = {"language": "de", "timezone": "Europe/Berlin", "notifications": {"sms": True},
             "phone": "+15550100001"}  # fmt: skip
    updated = api.ok("PATCH", "/me/preferences", "acmemember", prefs)
    assert updated["preferences"]["notifications"] == {"email": True, "sms": True}
    assert api.call("PATCH", "/me/preferences", "acmemember", {"language": 5})[0] == 400
    assert api.call("PATCH", "/me/preferences", "acmemember", "{not json")[0] == 400
    actions = [a["action"] for a in api.ok("GET", "/audit", "acmeadmin")["items"]]
    assert "user.invited" in actions
    assert api.call("GET", "/me")[0] == 401  # no token: the Cognito authorizer answers


# -- the subscription lifecycle through PayPal webhooks -------------------------------------------


def test_a_subscription_created_renewed_failed_and_cancelled_through_webhooks(api: Api) -> None:
    api.end_live_subscriptions("acme")
    assert api.call("POST", "/subscriptions", "acmemember", {"plan": "pro"})[0] == 403
    made = api.subscribe("acmeadmin", "pro")
    sid, paypal_id = made["subscriptionId"], made["paypalSubscriptionId"]
    assert api.call("POST", "/subscriptions", "acmeadmin", {"plan": "basic"})[0] == 409
    org = wait_for("DynamoDB to follow", lambda: (
        item := api.org_item("acme"))["subscriptionStatus"] == "ACTIVE" and item)  # fmt: skip
    assert (org["subscriptionId"], org["plan"]) == (sid, "pro")
    first = api.sql("SELECT * FROM invoices WHERE subscription_id = %s", sid)
    assert [(i["status"], i["amount_cents"]) for i in first] == [("OPEN", 2900)]
    # the first payment pays the open invoice; the ledger records it once, even redelivered
    event_id = api.sale(paypal_id, 2900)
    wait_for("the first invoice paid", lambda: api.sql(
        "SELECT 1 FROM invoices WHERE subscription_id = %s AND status = 'PAID'", sid))  # fmt: skip
    status, again = api.webhook(
        "PAYMENT.SALE.COMPLETED", {"id": "SALE-X", "billing_agreement_id": paypal_id},
        event_id=event_id,
    )  # fmt: skip
    assert status == 200 and again["duplicate"] is True
    wait_for("the ledger row", lambda: api.sql(
        "SELECT 1 FROM payment_events WHERE event_id = %s", event_id))  # fmt: skip
    # a renewal: a new paid invoice, one more period
    end_before = api.subscription_row(sid)["current_period_end"]
    api.sale(paypal_id, 2900)
    wait_for("the renewal invoice", lambda: len(api.sql(
        "SELECT 1 FROM invoices WHERE subscription_id = %s AND status = 'PAID'", sid)) == 2)  # fmt: skip
    renewed = api.subscription_row(sid)
    assert (renewed["current_period_end"] - end_before).days == 30
    assert len(api.sql("SELECT 1 FROM payment_events WHERE subscription_id = %s", sid)) == 2
    # a failed payment: PAST_DUE, two retry windows of 2 s without payment, then SUSPENDED
    api.webhook_ok(
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        {"id": paypal_id, "status": "ACTIVE", "billing_info": {"failed_payments_count": 1,
         "last_failed_payment": {"amount": {"value": "29.00", "currency_code": "USD"}}}},
    )  # fmt: skip
    api.wait_status(sid, "PAST_DUE", timeout=20)
    wait_for("DynamoDB to follow", lambda: api.org_item("acme")["subscriptionStatus"] in
             ("PAST_DUE", "SUSPENDED"))  # fmt: skip
    suspended = api.wait_status(sid, "SUSPENDED", timeout=40)
    assert suspended["failed_attempts"] == 2
    wait_for("DynamoDB to say SUSPENDED",
             lambda: api.org_item("acme")["subscriptionStatus"] == "SUSPENDED")  # fmt: skip
    statuses = [i["status"] for i in api.sql(
        "SELECT status FROM invoices WHERE subscription_id = %s ORDER BY created_at", sid)]  # fmt: skip
    assert statuses == ["PAID", "PAID", "FAILED"]
    # cancelled on PayPal
    api.webhook_ok("BILLING.SUBSCRIPTION.CANCELLED", {"id": paypal_id, "status": "CANCELLED"})
    cancelled = api.wait_status(sid, "CANCELLED")
    assert cancelled["cancelled_at"] is not None
    wait_for("DynamoDB to say CANCELLED",
             lambda: api.org_item("acme")["subscriptionStatus"] == "CANCELLED")  # fmt: skip
    # the executions ran on Step Functions, and the API reads it all back
    sfn = api.env.client("stepfunctions")
    executions = sfn.list_executions(
        stateMachineArn=api.stack.resources["PaymentFailureMachine"].physical_id
    )["executions"]
    assert any(e["status"] == "SUCCEEDED" for e in executions)
    got = api.ok("GET", f"/subscriptions/{sid}", "acmemember")
    assert got["status"] == "CANCELLED" and len(got["invoices"]) == 3
    actions = {a["action"] for a in api.ok("GET", "/audit", "acmeadmin")["items"]}
    assert {"subscription.activated", "subscription.suspended", "subscription.cancelled"} <= actions


def test_a_payment_within_the_grace_period_recovers_and_plan_changes(api: Api) -> None:
    api.end_live_subscriptions("globex")
    made = api.subscribe("globexadmin", "basic")
    sid, paypal_id = made["subscriptionId"], made["paypalSubscriptionId"]
    api.sale(paypal_id, 900)
    wait_for("the first invoice paid", lambda: api.sql(
        "SELECT 1 FROM invoices WHERE subscription_id = %s AND status = 'PAID'", sid))  # fmt: skip
    api.webhook_ok("BILLING.SUBSCRIPTION.PAYMENT.FAILED", {"id": paypal_id})
    api.wait_status(sid, "PAST_DUE", timeout=20)
    api.sale(paypal_id, 900)  # PayPal's retry went through
    recovered = api.wait_status(sid, "ACTIVE")
    assert recovered["failed_attempts"] == 0
    time.sleep(5)  # the dunning loop ends (no suspension) once it sees the payment
    assert api.subscription_row(sid)["status"] == "ACTIVE"
    # upgrade: at once, with a proration invoice; downgrade: at the end of the period
    assert api.call("POST", f"/subscriptions/{sid}/plan", "globexmember", {"plan": "pro"})[0] == 403
    api.ok("POST", f"/subscriptions/{sid}/plan", "globexadmin", {"plan": "enterprise"}, 202)
    wait_for("the upgrade", lambda: api.subscription_row(sid)["plan"] == "enterprise")
    proration = wait_for("the proration invoice", lambda: api.sql(
        "SELECT * FROM invoices WHERE subscription_id = %s AND kind = 'proration'", sid))  # fmt: skip
    assert 8900 * 0.9 < proration[0]["amount_cents"] <= 9000  # nearly a whole period left
    api.ok("POST", f"/subscriptions/{sid}/plan", "globexadmin", {"plan": "pro"}, 202)
    wait_for("the scheduled downgrade", lambda: api.subscription_row(sid)["pending_plan"] == "pro")
    assert api.subscription_row(sid)["plan"] == "enterprise"
    status, body = api.call("POST", f"/subscriptions/{sid}/plan", "globexadmin", {"plan": "gold"})
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR"
    # cancelled by the admin through the API
    api.ok("POST", f"/subscriptions/{sid}/cancel", "globexadmin", {"reason": "moving"}, 202)
    api.wait_status(sid, "CANCELLED")
    wait_for("DynamoDB to say CANCELLED",
             lambda: api.org_item("globex")["subscriptionStatus"] == "CANCELLED")  # fmt: skip


def test_webhooks_delivered_out_of_order_end_as_in_order(api: Api) -> None:
    """PayPal does not promise delivery order. The worst order for a new subscription: its first
    sale, then ACTIVATED, then CREATED. It must end as the in-order delivery does: ACTIVE, the
    period's invoice paid by that sale, no renewal, the approval execution succeeded."""
    api.end_live_subscriptions("acme")
    made = api.ok("POST", "/subscriptions", "acmeadmin", {"plan": "pro"}, status=201)
    sid, paypal_id = made["subscriptionId"], made["paypalSubscriptionId"]
    wait_for("the approval callback", lambda: api.subscription_row(sid)["approval_token"])
    resource = {"id": paypal_id, "custom_id": sid, "plan_id": "P-PRO"}
    api.sale(paypal_id, 2900)
    api.webhook_ok("BILLING.SUBSCRIPTION.ACTIVATED", {**resource, "status": "ACTIVE"})
    api.webhook_ok("BILLING.SUBSCRIPTION.CREATED", {**resource, "status": "APPROVAL_PENDING"})
    api.wait_status(sid, "ACTIVE", timeout=60)
    paid = wait_for("the period's invoice paid", lambda: api.sql(
        "SELECT * FROM invoices WHERE subscription_id = %s AND status = 'PAID'", sid), timeout=60)  # fmt: skip
    time.sleep(8)  # a wrong second payment (a renewal) would land within one more receive
    invoices = api.sql("SELECT * FROM invoices WHERE subscription_id = %s", sid)
    assert [(i["kind"], i["status"], i["amount_cents"]) for i in invoices] == [
        ("subscription", "PAID", 2900)
    ], invoices
    assert paid[0]["paypal_sale_id"] and paid[0]["paypal_sale_id"].startswith("SALE-")
    row = api.subscription_row(sid)
    assert row["status"] == "ACTIVE" and row["approval_token"] is None
    sfn = api.env.client("stepfunctions")
    approval = wait_for("the approval execution to end", lambda: (
        got := sfn.describe_execution(executionArn=made["executionArn"]))["status"] != "RUNNING"
        and got)  # fmt: skip
    assert approval["status"] == "SUCCEEDED", approval
    dlq = api.stack.resources["SubscriptionEventsDLQ"].physical_id
    left = api.env.client("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                                VisibilityTimeout=0)  # fmt: skip
    assert not [m for m in left.get("Messages", []) if paypal_id in m["Body"]]


def test_refunds_partial_then_whole_once_each_and_never_beyond_the_payment(api: Api) -> None:
    api.end_live_subscriptions("acme")
    made = api.subscribe("acmeadmin", "pro")
    sid, paypal_id = made["subscriptionId"], made["paypalSubscriptionId"]
    api.sale(paypal_id, 2900)
    paid = wait_for("the invoice paid", lambda: api.sql(
        "SELECT * FROM invoices WHERE subscription_id = %s AND status = 'PAID'", sid))[0]  # fmt: skip
    invoice_id, sale_id = paid["id"], paid["paypal_sale_id"]

    def refund(refund_id: str, total: str) -> str:
        return api.webhook_ok("PAYMENT.SALE.REFUNDED", {
            "id": refund_id, "sale_id": sale_id, "state": "completed",
            "amount": {"total": total, "currency": "USD"}})  # fmt: skip

    def invoice() -> dict[str, Any]:
        return api.sql("SELECT * FROM invoices WHERE id = %s", invoice_id)[0]

    refund("REF-A", "10.00")
    wait_for("a partial refund", lambda: invoice()["status"] == "PARTIALLY_REFUNDED")
    assert invoice()["refunded_cents"] == 1000
    refund("REF-A", "10.00")  # the same refund again (a new event id): counted once
    refund("REF-B", "19.00")
    wait_for("the whole refund", lambda: invoice()["status"] == "REFUNDED")
    time.sleep(3)
    assert invoice()["refunded_cents"] == 2900
    assert [r["id"] for r in api.sql(
        "SELECT id FROM refunds WHERE invoice_id = %s ORDER BY id", invoice_id)] == ["REF-A", "REF-B"]  # fmt: skip
    # beyond what the sale paid: poisoned, it ends in the DLQ and changes nothing
    event_id = refund("REF-C", "1.00")
    sqs = api.env.client("sqs")
    dlq = api.stack.resources["SubscriptionEventsDLQ"].physical_id

    def in_dlq() -> dict[str, Any] | None:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=0)  # fmt: skip
        found = [m for m in got.get("Messages", []) if json.loads(m["Body"])["id"] == event_id]
        return found[0] if found else None

    wait_for("the over-refund in the DLQ", in_dlq, timeout=90)
    assert invoice()["refunded_cents"] == 2900
    got = api.ok("GET", f"/invoices/{invoice_id}", "acmemember")
    assert (got["status"], got["refundedCents"]) == ("REFUNDED", 2900)
    actions = [a for a in api.ok("GET", "/audit", "acmeadmin")["items"]
               if a["action"] == "invoice.refunded"]  # fmt: skip
    assert len([a for a in actions if a.get("target") == invoice_id]) == 2, actions
    # the payment ledger (billing queue) found the refunds' subscription through their sale
    ledger = api.sql("SELECT event_type FROM payment_events WHERE subscription_id = %s", sid)
    assert sum(r["event_type"] == "PAYMENT.SALE.REFUNDED" for r in ledger) >= 2


def test_notifications_reach_sms_and_the_email_outbox(api: Api) -> None:
    """The lifecycle tests above notified acme and globex: SMS recorded by the emulator for the
    organisation's number, e-mail messages on the outbox queue."""
    sns_url = api.env.endpoints["services"]["sns"]
    wanted = {"+15550100001": "acme", "+15550100002": "globex"}
    with urllib.request.urlopen(f"{sns_url}/_aws/sns/sms-messages", timeout=10) as answer:
        recorded = json.loads(answer.read())["sms_messages"]
    for phone in wanted:
        texts = [m["Message"] for m in recorded.get(phone, [])]
        assert any("subscription is active" in t for t in texts), (phone, texts)
    queue = api.stack.resources["EmailOutboxQueue"].physical_id
    seen: set[tuple[str, str]] = set()
    sqs = api.env.client("sqs")
    for _ in range(10):
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60)
        for message in got.get("Messages", []):
            body = json.loads(message["Body"])
            seen.add((body["orgId"], body["kind"]))
        if {("acme", "suspended"), ("globex", "recovered")} <= seen:
            break
    assert {("acme", "activated"), ("acme", "suspended"), ("acme", "cancelled"),
            ("globex", "recovered"), ("globex", "plan_changed")} <= seen  # fmt: skip


@pytest.mark.slow  # ~21 s: it waits out the 20 s heartbeat
def test_an_approval_without_heartbeats_expires(api: Api) -> None:
    """The approval callback's HeartbeatSeconds (20 s in harness.yaml): no PayPal event at all,
    so the task fails with States.HeartbeatTimeout and the subscription expires."""
    api.end_live_subscriptions("acme")
    made = api.ok("POST", "/subscriptions", "acmeadmin", {"plan": "basic"}, status=201)
    sid = made["subscriptionId"]
    expired = api.wait_status(sid, "APPROVAL_EXPIRED", timeout=60)
    assert expired["approval_token"] is None
    sfn = api.env.client("stepfunctions")

    def ended() -> dict[str, Any] | None:
        got = sfn.describe_execution(executionArn=made["executionArn"])
        return dict(got) if got["status"] != "RUNNING" else None

    execution = wait_for("the execution to end", ended, timeout=20)
    assert execution["status"] == "FAILED" and execution["error"] == "Subscription.ApprovalExpired"
    history = sfn.get_execution_history(executionArn=made["executionArn"])["events"]
    failures = [e.get("taskFailedEventDetails", {}).get("error") for e in history]
    assert "States.HeartbeatTimeout" in failures


# -- webhooks: authentication, idempotency, the DLQ -----------------------------------------------


def test_webhooks_need_a_valid_signature_and_an_event_body(api: Api) -> None:
    body = json.dumps({"id": "WH-FORGED", "event_type": "PAYMENT.SALE.COMPLETED",
                       "resource": {"billing_agreement_id": "I-SEEDACME"}})  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = {"paypal-transmission-id": "tx", "paypal-transmission-time": stamp,
              "paypal-auth-algo": "HMACSHA256",
              "paypal-transmission-sig": paypal.sign("guess", "tx", stamp, "WH-CLOUDSAAS-LOCAL",
                                                     body.encode())}  # fmt: skip
    status, answer = api.call("POST", "/webhooks/paypal", body=body, headers=forged)
    assert status == 401 and answer["error"]["code"] == "INVALID_SIGNATURE"
    assert api.call("POST", "/webhooks/paypal", body=body)[0] == 401  # no signature headers
    status, answer = api.webhook("NOT AN EVENT TYPE", {})
    assert status == 400 and "event_type" in answer["error"]["fields"]
    assert api.sql("SELECT 1 FROM payment_events WHERE event_id = 'WH-FORGED'") == []


def test_a_poisoned_webhook_ends_in_the_dead_letter_queue(api: Api) -> None:
    """A signed event about a subscription this system never created: the subscription
    processor fails it on every receive, and after 3 receives SQS moves it to the DLQ."""
    event_id = api.webhook_ok(
        "BILLING.SUBSCRIPTION.ACTIVATED", {"id": "I-NEVERCREATED", "status": "ACTIVE"}
    )
    sqs = api.env.client("sqs")
    dlq = api.stack.resources["SubscriptionEventsDLQ"].physical_id

    def in_dlq() -> dict[str, Any] | None:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=0, AttributeNames=["All"])  # fmt: skip
        for message in got.get("Messages", []):
            if json.loads(message["Body"])["id"] == event_id:
                return message
        return None

    message = wait_for("the poisoned event in the DLQ", in_dlq, timeout=90)
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= 3
    assert (
        api.sql("SELECT 1 FROM subscriptions WHERE paypal_subscription_id = 'I-NEVERCREATED'") == []
    )


# -- documents, exports ---------------------------------------------------------------------------


def test_documents_upload_and_download_with_presigned_urls(api: Api) -> None:
    content = b"quarterly report " * 64
    made = api.ok("POST", "/documents", "acmemember",
                  {"name": "q1.txt", "contentType": "text/plain", "size": len(content)}, 201)  # fmt: skip
    assert made["key"].startswith("orgs/acme/documents/")
    upload = urllib.request.Request(made["upload"]["url"], data=content, method="PUT",
                                    headers=made["upload"]["headers"])  # fmt: skip
    with urllib.request.urlopen(upload, timeout=30) as answer:
        assert answer.status == 200
    got = api.ok("GET", f"/documents/{made['documentId']}", "acmeadmin")
    assert got["uploaded"] is True and got["size"] == len(content)
    assert got["encryption"] == "aws:kms"
    with urllib.request.urlopen(got["download"]["url"], timeout=30) as answer:
        assert answer.read() == content
    too_big = {"name": "huge.bin", "size": 100 * 1024 * 1024 + 1}
    status, body = api.call("POST", "/documents", "acmemember", too_big)
    assert status == 400 and body["error"]["details"][0]["field"] == "size"
    assert api.ok("POST", "/documents", "acmemember",
                  {"name": "max.bin", "size": 100 * 1024 * 1024}, 201)["upload"]["headers"][
        "Content-Length"] == str(100 * 1024 * 1024)  # fmt: skip


def test_the_export_job_writes_the_organisations_data_to_the_data_lake(api: Api) -> None:
    assert api.call("POST", "/exports", "acmemember", {})[0] == 403
    done = api.ok("POST", "/exports", "acmeadmin", {"dataset": "invoices"}, status=201)
    assert done["key"].startswith("exports/org=acme/dataset=invoices/dt=")
    obj = api.env.client("s3").get_object(
        Bucket=api.stack.resources["DataLakeBucket"].physical_id, Key=done["key"]
    )
    rows = [json.loads(line) for line in obj["Body"].read().splitlines()]
    assert len(rows) == done["records"] and {r["org_id"] for r in rows} == {"acme"}
    assert "inv-acme-seed" in {r["id"] for r in rows} and done["truncated"] is False


# -- isolation, edge protection, limits -----------------------------------------------------------


def test_one_organisation_never_sees_anothers_users_invoices_or_documents(api: Api) -> None:
    doc = api.ok("POST", "/documents", "acmeadmin", {"name": "secret.pdf", "size": 10}, 201)
    acme_user = api.sub("acmemember")
    for user in ("globexadmin", "globexmember"):
        for path in (f"/users/{acme_user}", "/invoices/inv-acme-seed",
                     "/subscriptions/sub-acme-seed", f"/documents/{doc['documentId']}"):  # fmt: skip
            status, body = api.call("GET", path, user)
            assert status == 404 and body["error"]["code"] == "NOT_FOUND", (user, path, body)
        assert acme_user not in {u["userId"] for u in api.ok("GET", "/users", user)["items"]}
        invoices = api.ok("GET", "/invoices", user)["items"]
        assert invoices and {i["orgId"] for i in invoices} == {"globex"}
        assert doc["documentId"] not in {d["documentId"] for d in
                                         api.ok("GET", "/documents", user)["items"]}  # fmt: skip
        # a tenant id in the request changes nothing: the organisation comes from the token
        status, _ = api.call("GET", "/invoices?tenant_id=acme", user,
                             headers={"x-tenant-id": "acme"})  # fmt: skip
        assert status == 200
        status, _ = api.call("POST", "/documents", user,
                             {"name": "x.pdf", "size": 1, "orgId": "acme"})  # fmt: skip
        assert status == 400


def test_the_web_acl_blocks_injection_a_deny_list_and_a_flooding_ip(api: Api) -> None:
    for method, path, body in (
        ("GET", "/invoices?status=1'%20OR%20'1'='1", None),
        ("GET", "/documents?q=%3Cscript%3Ealert(1)%3C/script%3E", None),
        ("POST", "/documents", {"name": "<img src=x onerror=alert(1)>", "size": 1}),
        ("POST", "/webhooks/paypal", '{"id": "1; DROP TABLE invoices"}'),
    ):
        status, answer = api.call(method, path, "acmeadmin", body)
        assert status == 403 and answer == {"message": "Forbidden"}, (path, status, answer)
    status, _ = api.call("GET", "/me", "acmeadmin", headers={"x-forwarded-for": "203.0.113.9"})
    assert status == 403
    # the rate-based rule: this client IP's 5-minute budget is spent
    redis = api.env.redis()
    key = "waf:cloudsaas:CloudSaasApi:ip:198.51.100.77"
    redis.hset(key, mapping={"t": 0, "ts": redis.time()[0] + 60})  # empty for the next minute
    try:
        assert api.call("GET", "/me", "acmeadmin", headers={"x-forwarded-for": "198.51.100.77"})[
            0] == 403  # fmt: skip
        assert api.call("GET", "/me", "acmeadmin", headers={"x-forwarded-for": "198.51.100.78"})[
            0] == 200  # fmt: skip
    finally:
        redis.delete(key)


def test_each_user_has_1000_requests_a_minute(api: Api) -> None:
    redis = api.env.redis()
    sub = api.sub("acmeanalyst")
    limit = int(api.stack.parameters["RateLimitPerMinute"])
    assert limit == 1000
    key = f"ratelimit:acme:{sub}:{int(time.time() // 60)}"
    redis.set(key, limit, ex=60)
    try:
        status, body = api.call("GET", "/me", "acmeanalyst")
        if status == 200:  # the minute turned between set and call
            redis.set(f"ratelimit:acme:{sub}:{int(time.time() // 60)}", limit, ex=60)
            status, body = api.call("GET", "/me", "acmeanalyst")
        assert status == 429 and body["error"]["code"] == "RATE_LIMITED"
        assert api.call("GET", "/me", "acmemember")[0] == 200  # per user
    finally:
        for k in redis.scan_iter(f"ratelimit:acme:{sub}:*"):
            redis.delete(k)


def test_a_database_outage_answers_503_and_recovers(api: Api) -> None:
    """An RDS outage through the harness's third-party fault on the postgres fixture."""
    from harness.chaos.faults import Faults

    faults = Faults.for_environment(api.env)
    faults.add("thirdparty", {"mode": "error", "server": "postgres", "stack": "cloudsaas"})
    try:
        status, body = api.call("GET", "/invoices", "globexmember")
        assert status == 503 and body["error"]["code"] == "DATABASE_UNAVAILABLE"
        assert faults.list()["thirdparty"]["cloudsaas/postgres"]["mode"] == "error"
    finally:
        faults.clear("thirdparty")
    assert api.call("GET", "/invoices", "globexmember")[0] == 200


def test_step_functions_retry_a_task_through_a_short_database_outage(api: Api) -> None:
    """Seed 004's Step Functions retries: a plan change started while the database refuses
    sessions. Its Prorate task fails with DatabaseUnavailable and is retried (1 s, 2 s, 4 s);
    the database comes back after the first failure and the execution succeeds, the plan
    changed once. Without the Retry the execution would fail on that first error."""
    from harness.chaos.faults import Faults

    api.end_live_subscriptions("acme")
    sid = api.subscribe("acmeadmin", "basic")["subscriptionId"]
    sfn = api.env.client("stepfunctions")
    machine = api.stack.resources["ChangePlanMachine"].physical_id
    faults = Faults.for_environment(api.env)

    def history(arn: str) -> list[dict[str, Any]]:
        return list(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])

    def failed_on_the_database(arn: str) -> bool:
        return any(
            (e.get("taskFailedEventDetails") or {}).get("error") == "DatabaseUnavailable"
            for e in history(arn)
        )

    faults.add("thirdparty", {"mode": "error", "server": "postgres", "stack": "cloudsaas"})
    try:
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name=f"retry-{sid}"[:80],
            input=json.dumps({"subscriptionId": sid, "orgId": "acme", "plan": "enterprise",
                              "requestedBy": "e2e"}),
        )["executionArn"]  # fmt: skip
        wait_for("a task failure on the database", lambda: failed_on_the_database(arn), 30)
    finally:
        faults.clear("thirdparty")

    def ended() -> dict[str, Any] | None:
        got = sfn.describe_execution(executionArn=arn)
        return dict(got) if got["status"] != "RUNNING" else None

    execution = wait_for("the execution to end", ended, timeout=60)
    assert execution["status"] == "SUCCEEDED", execution
    events = history(arn)
    failures = [e for e in events if e.get("taskFailedEventDetails")]
    assert failures and all(
        e["taskFailedEventDetails"]["error"] == "DatabaseUnavailable" for e in failures
    )
    assert sum(1 for e in events if e["type"] == "TaskSucceeded") >= 1
    wait_for("the upgrade", lambda: api.subscription_row(sid)["plan"] == "enterprise")


def test_isolation_run_passes(api: Api, tmp_path: Path) -> None:
    """harness.yaml's isolation section (per organisation: documents, invoices, subscriptions),
    token tampering and the data-layer rules."""
    from harness.isolation import run_isolation

    result = run_isolation(api.env, api.stack, examples=8, seed=0, report_dir=tmp_path)
    assert result.passed, result.violations
    assert (tmp_path / "isolation.json").exists()
