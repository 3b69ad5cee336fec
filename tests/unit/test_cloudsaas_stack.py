"""The cloud SaaS stack's logic without AWS: plans and proration, the PayPal signature, the
caller and its role, request validation, the state machines' definitions, the profile."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

STACK = Path(__file__).resolve().parents[2] / "stacks" / "cloudsaas"
sys.path.insert(0, str(STACK / "src"))

from cloudsaas import common, lifecycle, models, notify, paypal, plans  # noqa: E402

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _event(method: str, resource: str, claims: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "resource": resource,
        "path": resource,
        "body": None,
        "requestContext": {"requestId": "r1", "authorizer": {"claims": claims or {}}},
    }


@pytest.fixture(autouse=True)
def _no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


# -- plans ------------------------------------------------------------------------------------


def test_an_upgrade_is_charged_pro_rata_and_applies_now() -> None:
    half = NOW + plans.PERIOD / 2
    change = plans.plan_change("basic", "pro", half, NOW)
    assert change.direction == "upgrade" and change.effective == "now"
    assert change.amount_cents == (2900 - 900) // 2
    assert plans.plan_change("basic", "enterprise", None, NOW).amount_cents == 9000
    lapsed = plans.plan_change("basic", "pro", NOW - timedelta(days=1), NOW)
    assert lapsed.amount_cents == 0


def test_a_downgrade_waits_for_the_period_end_and_a_same_price_change_is_refused() -> None:
    change = plans.plan_change("enterprise", "basic", NOW + timedelta(days=3), NOW)
    assert (change.direction, change.amount_cents, change.effective) == (
        "downgrade",
        0,
        "period_end",
    )
    assert plans.plan_change("pro", "pro", None, NOW).direction == "unchanged"
    with pytest.raises(ValueError, match="unknown plan"):
        plans.plan_change("pro", "gold", None, NOW)


def test_renewal_extends_from_the_period_end_or_from_now_when_lapsed() -> None:
    end = NOW + timedelta(days=5)
    assert plans.next_period_end(end, NOW) == end + plans.PERIOD
    assert plans.next_period_end(NOW - timedelta(days=5), NOW) == NOW + plans.PERIOD
    assert plans.next_period_end(None, NOW) == NOW + plans.PERIOD


# -- PayPal signatures ----------------------------------------------------------------------------


def _headers(body: bytes, secret: str = "s3cret", when: datetime = NOW) -> dict[str, str]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "paypal-transmission-id": "tx-1",
        "paypal-transmission-time": stamp,
        "paypal-auth-algo": "HMACSHA256",
        "paypal-transmission-sig": paypal.sign(secret, "tx-1", stamp, "WH-1", body),
    }


def test_a_signed_transmission_verifies_and_anything_else_is_refused() -> None:
    body = b'{"id": "WH-EVT-1", "event_type": "PAYMENT.SALE.COMPLETED", "resource": {}}'
    paypal.verify(_headers(body), body, "s3cret", "WH-1", now=NOW)
    cases = [
        (_headers(body, secret="other"), body, "does not match"),
        (_headers(body), body + b" ", "does not match"),  # the CRC32 of the body is signed
        (_headers(body, when=NOW - timedelta(minutes=6)), body, "old"),
        ({**_headers(body), "paypal-auth-algo": "SHA256withRSA"}, body, "HMACSHA256"),
        ({k: v for k, v in _headers(body).items() if k != "paypal-transmission-sig"}, body, "SIG"),
        ({**_headers(body), "paypal-transmission-time": "yesterday"}, body, "ISO 8601"),
    ]
    for headers, sent, words in cases:
        with pytest.raises(paypal.SignatureError, match=words):
            paypal.verify(headers, sent, "s3cret", "WH-1", now=NOW)
    # the signed string is PayPal's: id|time|webhook id|crc32(body)
    assert paypal.signed_string("a", "t", "w", b"x").startswith("a|t|w|")


def test_webhook_events_name_their_subscription_and_amount() -> None:
    sale = paypal.WebhookEvent.model_validate(
        {"id": "WH-1", "event_type": "PAYMENT.SALE.COMPLETED",
         "resource": {"id": "SALE-1", "billing_agreement_id": "I-ABC",
                      "amount": {"total": "29.00", "currency": "USD"}}}
    )  # fmt: skip
    assert sale.subscription_ref() == "I-ABC" and sale.amount_cents() == (2900, "USD")
    failed = paypal.WebhookEvent.model_validate(
        {"id": "WH-2", "event_type": "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
         "resource": {"id": "I-ABC", "billing_info": {"last_failed_payment": {
             "amount": {"value": "9.00", "currency_code": "EUR"}}}}}
    )  # fmt: skip
    assert failed.subscription_ref() == "I-ABC" and failed.amount_cents() == (900, "EUR")
    for bad in ({"id": "x y", "event_type": "A.B", "resource": {}}, {"id": "WH-3"}):
        with pytest.raises(ValidationError):
            paypal.WebhookEvent.model_validate(bad)


# -- the caller, roles and validation ------------------------------------------------------------


def test_the_role_comes_from_the_cognito_groups_claim() -> None:
    base = {"sub": "u1", "custom:tenant_id": "acme", "cognito:username": "ann"}
    assert common.caller_of(_event("GET", "/me", {**base, "cognito:groups": "[admin]"})).is_admin
    member = common.caller_of(_event("GET", "/me", {**base, "cognito:groups": "[member]"}))
    assert member.role == "member" and member.org_id == "acme"
    with pytest.raises(common.ApiError) as raised:
        member.require_admin()
    assert raised.value.status == 403
    assert common.caller_of(_event("GET", "/me", {**base, "cognito:groups": ["admin"]})).is_admin


def test_the_api_envelope_refuses_callers_without_an_organisation_and_unknown_routes() -> None:
    routes: dict[tuple[str, str], Any] = {("GET", "/me"): lambda req: common.respond(200, {}, "r1")}
    answer = common.run_api(_event("GET", "/me", {"sub": "u1"}), routes)
    assert answer["statusCode"] == 403
    assert json.loads(answer["body"])["error"]["code"] == "FORBIDDEN"
    claims = {"sub": "u1", "custom:tenant_id": "acme"}
    assert common.run_api(_event("GET", "/nope", claims), routes)["statusCode"] == 404
    assert common.run_api(_event("GET", "/me", claims), routes)["statusCode"] == 200


def test_uploads_are_limited_to_100_mb_and_unknown_fields_refused() -> None:
    ok = models.DocumentBody.model_validate({"name": "a.pdf", "size": 100 * 1024 * 1024})
    assert ok.contentType == "application/octet-stream"
    for bad in (
        {"name": "a.pdf", "size": 100 * 1024 * 1024 + 1},
        {"name": "a.pdf", "size": 0},
        {"name": "../etc/passwd", "size": 1},
        {"name": "a.pdf", "size": 1, "orgId": "globex"},
    ):
        with pytest.raises(ValidationError):
            models.DocumentBody.model_validate(bad)
    with pytest.raises(ValidationError):
        models.SubscriptionBody.model_validate({"plan": "gold"})


# -- the state machines --------------------------------------------------------------------------


def _machines() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((STACK / "statemachines").glob("*.json"))
    }


def test_every_state_machine_is_consistent_and_calls_known_actions() -> None:
    machines = _machines()
    assert set(machines) == {
        "new-subscription.asl.json", "renewal.asl.json", "payment-failure.asl.json",
        "cancellation.asl.json", "change-plan.asl.json",
    }  # fmt: skip
    for name, machine in machines.items():
        states = machine["States"]
        assert machine["StartAt"] in states, name
        for state_name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, (name, state_name, target)
            if state["Type"] != "Task":
                continue
            # every task: bounded in time, retried on transient errors
            assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, (name, state_name)
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            if "waitForTaskToken" not in state["Resource"]:
                assert {"DatabaseUnavailable", "Lambda.ServiceException"} <= retried
            params = state["Parameters"]
            payload = params.get("Payload", params)
            if state["Resource"].endswith("${NotifyFunctionArn}"):
                assert payload["kind"] in notify.MESSAGES, (name, state_name)
            else:
                assert payload["action"] in lifecycle.ACTIONS, (name, state_name)


def test_the_approval_callback_has_a_timeout_and_a_heartbeat_and_dunning_a_grace_loop() -> None:
    machines = _machines()
    wait = machines["new-subscription.asl.json"]["States"]["AwaitApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["HeartbeatSecondsPath"] == "$.approvalHeartbeatSeconds"
    assert wait["TimeoutSecondsPath"] == "$.approvalTimeoutSeconds"
    caught = {e for c in wait["Catch"] for e in c["ErrorEquals"]}
    assert {"States.HeartbeatTimeout", "States.Timeout"} <= caught
    dunning = machines["payment-failure.asl.json"]["States"]
    assert dunning["GracePeriod"]["Type"] == "Wait"
    assert dunning["CountAttempt"]["Next"] == "GracePeriod"
    assert {c["Next"] for c in dunning["Paid"]["Choices"]} == {"NotifyRecovered", "Done", "Suspend"}


# -- the profile -------------------------------------------------------------------------------


def test_the_profile_validates_with_its_isolation_waf_and_roles() -> None:
    from harness.isolation.spec import IsolationSpec
    from harness.load.slo import parse_slo
    from harness.profile import load_profile

    profile = load_profile(STACK / "harness.yaml")
    spec = IsolationSpec.model_validate(profile.isolation)
    assert set(spec.resources) == {"document", "invoice", "subscription"}
    assert profile.waf is not None and profile.waf.managed_rules == ["sqli", "xss"]
    assert profile.roles["admin"] == ["acmeadmin", "globexadmin"]
    assert [parse_slo(s).target for s in profile.slos if isinstance(s, str)] == [200.0, 0.001]
    assert set(profile.traffic.mixes) == {"nominal", "invalid"}


# -- payment events: FIFO groups and out-of-order delivery ----------------------------------------


def _record(message_id: str, group: str, event_type: str, ref: str) -> dict[str, Any]:
    key = "id" if event_type.startswith("BILLING.SUBSCRIPTION.") else "billing_agreement_id"
    body = {"id": f"WH-{message_id}", "event_type": event_type, "resource": {key: ref}}
    return {"messageId": message_id, "body": json.dumps(body),
            "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"}}  # fmt: skip


def test_a_failed_record_holds_back_the_rest_of_its_message_group_only() -> None:
    from cloudsaas import processors

    handled: list[str] = []

    def work(event: paypal.WebhookEvent) -> str:
        handled.append(event.id)
        if event.id == "WH-a1":
            raise RuntimeError("the database is down")
        return "ok"

    batch = {"Records": [
        _record("a1", "I-A", "PAYMENT.SALE.COMPLETED", "I-A"),
        _record("b1", "I-B", "BILLING.SUBSCRIPTION.ACTIVATED", "I-B"),
        _record("a2", "I-A", "BILLING.SUBSCRIPTION.ACTIVATED", "I-A"),
        _record("b2", "I-B", "PAYMENT.SALE.COMPLETED", "I-B"),
    ]}  # fmt: skip
    answer = processors._batch(batch, work, "test")
    # a2 comes after a1's failure in group I-A: reported failed, never handled; group I-B goes on
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a1"}, {"itemIdentifier": "a2"}]}
    assert handled == ["WH-a1", "WH-b1", "WH-b2"]


def test_a_sale_before_the_activation_answers_the_approval_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cloudsaas import billing, machines, processors

    calls: list[tuple[str, Any]] = []
    sub = {"subscriptionId": "sub-1", "orgId": "acme", "status": "APPROVAL_PENDING"}
    monkeypatch.setattr(billing, "by_paypal_id", lambda ref: dict(sub))
    monkeypatch.setattr(billing, "approval_token", lambda sid: "token-1")
    monkeypatch.setattr(machines, "send_success", lambda t, o: calls.append(("success", t)) or True)
    monkeypatch.setattr(machines, "start", lambda *a: calls.append(("start", a[0])) or "arn")
    sale = paypal.WebhookEvent.model_validate_json(
        _record("s1", "I-A", "PAYMENT.SALE.COMPLETED", "I-A")["body"]
    )
    with pytest.raises(billing.PaymentBeforeActivation):
        processors.handle_lifecycle(sale)
    assert calls == [("success", "token-1")]  # approved; no renewal started for a first payment
    sub["status"] = "ACTIVE"  # the retry, after the activation opened the period's invoice
    assert processors.handle_lifecycle(sale) == "renewal started"
    assert calls[-1] == ("start", "RENEWAL_MACHINE_ARN")
    # the late ACTIVATED of an already active subscription changes nothing
    activated = paypal.WebhookEvent.model_validate_json(
        _record("s2", "I-A", "BILLING.SUBSCRIPTION.ACTIVATED", "I-A")["body"]
    )
    assert processors.handle_lifecycle(activated).startswith("ignored")
