"""Live spans on a real environment: one client request that fans out through SQS, EventBridge
and SNS comes back from `harness trace` as ONE trace with every hop, and the fault injected on
one of its AWS calls is on that call's span."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.chaos.client import FaultClient
from harness.cli import main
from harness.deploy.fixtures import deployed_stack
from harness.model import DeployedStack

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "tracing"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    settings = Settings.load(state_dir=tmp_path_factory.mktemp("tracing"))
    with Environment(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stack(env: Environment) -> Iterator[DeployedStack]:
    with deployed_stack(env, STACK) as deployed:
        yield deployed


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def _trace(env: Environment, ident: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["trace", ident, "--state-dir", str(env.state_dir), "--json"])
    return dict(json.loads(capsys.readouterr().out))


def test_one_request_fanning_out_is_one_trace_with_every_hop_and_the_fault(
    env: Environment, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = FaultClient(env.endpoints)
    faults.clear()
    faults.add(
        [
            {
                "service": "dynamodb",
                "operation": "GetItem",
                "error": {"statusCode": 400, "code": "ValidationException"},
            }
        ]
    )
    trace_id = os.urandom(16).hex()
    client_span = os.urandom(8).hex()
    try:
        status, headers = _get(
            stack.apis["Api"].base_url + "/order",
            {"traceparent": f"00-{trace_id}-{client_span}-01", "Authorization": "allow"},
        )
    finally:
        faults.clear()
    assert status == 503
    # the client's trace id is kept, and said back in X-Ray form
    assert headers["x-amzn-trace-id"] == f"Root=1-{trace_id[:8]}-{trace_id[8:]}"
    consumers = {"FromQueue", "FromBus", "FromTopic"}
    spans: list[dict[str, Any]] = []
    deadline = time.time() + 40  # three pollers, three consumers, the span files' flush
    while time.time() < deadline:
        answer = _trace(env, trace_id, capsys)
        spans = answer["spans"]
        invoked = {s["attributes"].get("faas.name", "") for s in spans}
        if all(any(name.endswith(c) or c in name for name in invoked) for c in consumers) and (
            sum(1 for s in spans if s["name"] == "dynamodb.PutItem") >= 4
        ):
            break
        time.sleep(0.5)
    assert answer["source"] == "live"
    assert {s["trace_id"] for s in spans} == {trace_id}, spans
    by_id = {s["span_id"]: s for s in spans}

    def one(pred: Any) -> dict[str, Any]:
        found = [s for s in spans if pred(s)]
        assert len(found) == 1, (found, spans)
        return found[0]

    def invocation(logical: str) -> dict[str, Any]:
        return one(lambda s: s["service"] == "lambda" and logical in s["attributes"]["faas.name"])

    root = one(lambda s: s["service"] == "gateway" and s["parent_id"] == client_span)
    assert root["attributes"]["http.response.status_code"] == 503
    steps = {s["name"]: s for s in spans if s["parent_id"] == root["span_id"]}
    assert set(steps) == {"route", "authorizer", "throttle", "integration"}, steps
    # the Lambda authorizer's invocation is a child of the authorizer step
    assert invocation("Gate")["parent_id"] == steps["authorizer"]["span_id"]
    order = invocation("Order")
    assert order["parent_id"] == steps["integration"]["span_id"]
    calls = {s["name"]: s for s in spans if s["parent_id"] == order["span_id"]}
    for name in ("sqs.SendMessage", "events.PutEvents", "sns.Publish", "dynamodb.PutItem"):
        assert name in calls, (name, sorted(calls))
        assert calls[name]["attributes"]["fault.injected"] is False
    gets = [s for s in spans if s["name"] == "dynamodb.GetItem"]
    assert gets and all(g["parent_id"] == order["span_id"] for g in gets)
    assert all(g["attributes"]["fault.injected"] is True for g in gets)
    assert all(g["error"] and "fault injected" in g["error"] for g in gets)
    assert all(g["attributes"]["http.response.status_code"] == 400 for g in gets)
    assert calls["dynamodb.PutItem"]["attributes"]["aws.resource"]
    # each consumer continues from the call that sent it its message
    assert invocation("FromQueue")["parent_id"] == calls["sqs.SendMessage"]["span_id"]
    assert invocation("FromBus")["parent_id"] == calls["events.PutEvents"]["span_id"]
    assert invocation("FromTopic")["parent_id"] == calls["sns.Publish"]["span_id"]
    for logical in ("FromQueue", "FromBus", "FromTopic"):
        consumer = invocation(logical)
        assert any(
            s["name"] == "dynamodb.PutItem" and s["parent_id"] == consumer["span_id"] for s in spans
        ), logical
    # every span's parent is in the trace, except the root's (the client's span)
    assert all(s["parent_id"] in by_id for s in spans if s is not root)
    # the same trace by the gateway's request id and in X-Ray form
    request_id = headers["apigw-requestid"]
    assert {s["span_id"] for s in _trace(env, request_id, capsys)["spans"]} >= set(by_id)
    xray = f"1-{trace_id[:8]}-{trace_id[8:]}"
    assert len(_trace(env, xray, capsys)["spans"]) >= len(spans)


def test_an_x_ray_header_from_the_client_is_continued_too(
    env: Environment, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    parent = os.urandom(8).hex()
    status, headers = _get(
        stack.apis["Api"].base_url + "/order",
        {"X-Amzn-Trace-Id": f"Root={root};Parent={parent};Sampled=1", "Authorization": "allow"},
    )
    assert status == 200
    assert headers["x-amzn-trace-id"] == f"Root={root}"
    spans: list[dict[str, Any]] = []
    deadline = time.time() + 10
    while time.time() < deadline:
        spans = _trace(env, root, capsys)["spans"]
        if {"lambda", "gateway"} <= {s["service"] for s in spans}:
            break  # each process flushes its spans on its own (within 0.5 s)
        time.sleep(0.3)
    requests = [s for s in spans if s["service"] == "gateway" and s["name"].startswith("GET ")]
    assert len(requests) == 1 and requests[0]["parent_id"] == parent, spans


def test_a_node_js_invocation_continues_the_request_trace(
    env: Environment, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = os.urandom(16).hex()
    client_span = os.urandom(8).hex()
    request = urllib.request.Request(
        stack.apis["Api"].base_url + "/node",
        headers={"traceparent": f"00-{trace_id}-{client_span}-01", "Authorization": "allow"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        seen = json.loads(answer.read())["trace"]
    xray = f"1-{trace_id[:8]}-{trace_id[8:]}"
    assert seen.startswith(f"Root={xray};Parent="), seen  # the handler's env continues it
    handler_span = seen.split(";")[1].removeprefix("Parent=")
    spans: list[dict[str, Any]] = []
    deadline = time.time() + 20
    while time.time() < deadline:
        spans = _trace(env, trace_id, capsys)["spans"]
        steps = {s["name"] for s in spans}  # each process flushes its spans on its own
        if "integration" in steps and any(
            s["service"] == "lambda" and "NodeEcho" in s["attributes"]["faas.name"] for s in spans
        ):
            break
        time.sleep(0.3)
    node = [
        s for s in spans if s["service"] == "lambda" and "NodeEcho" in s["attributes"]["faas.name"]
    ]
    assert len(node) == 1, spans
    # its span is the Parent the handler saw (its AWS calls are its children), under the
    # gateway's integration step: one trace, as for Python functions
    assert node[0]["span_id"] == handler_span
    integration = [s for s in spans if s["name"] == "integration"]
    assert integration and node[0]["parent_id"] in {s["span_id"] for s in integration}
