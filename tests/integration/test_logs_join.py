"""`harness logs --trace` on a real environment: one gateway request, its function's lines and
the AWS calls its handler made through the edge (one of them faulted), joined by their ids."""

from __future__ import annotations

import json
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

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "logs"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    settings = Settings.load(state_dir=tmp_path_factory.mktemp("logsjoin"))
    with Environment(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stack(env: Environment) -> Iterator[DeployedStack]:
    with deployed_stack(env, STACK) as deployed:
        yield deployed


def _get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, dict(exc.headers)


def _trace(
    env: Environment, ident: str, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["logs", "--state-dir", str(env.state_dir), "--trace", ident, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_trace_joins_request_function_and_faulted_aws_call(
    env: Environment, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = FaultClient(env.endpoints)
    faults.clear()
    faults.add(
        [
            {
                "service": "dynamodb",
                "operation": "GetItem",
                "error": {"statusCode": 500, "code": "InternalServerError"},
            }
        ]
    )
    try:
        status, headers = _get(stack.apis["Api"].base_url + "/put")
    finally:
        faults.clear()
    assert status == 503
    request_id = {k.lower(): v for k, v in headers.items()}["apigw-requestid"]
    deadline = time.time() + 15  # the access log, function log and call log flush within ~1 s
    lines: list[dict[str, Any]] = []
    while time.time() < deadline:
        lines = _trace(env, request_id, capsys)
        sources = {line["source"] for line in lines}
        if sources == {"gateway", "function", "edge"} and any(
            line["record"].get("type") == "REPORT" for line in lines
        ):
            break
        time.sleep(0.5)
    by_source = {s: [x for x in lines if x["source"] == s] for s in ("gateway", "function", "edge")}
    assert [x["requestId"] for x in by_source["gateway"]] == [request_id], lines
    assert any("putting item" in x["message"] for x in by_source["function"]), lines
    assert any("get failed" in x["message"] for x in by_source["function"]), lines
    calls = {
        (x["record"]["operation"], x["record"]["status"], x["record"]["fault"])
        for x in by_source["edge"]
    }
    assert ("PutItem", 200, False) in calls, lines
    assert ("GetItem", 500, True) in calls, lines
    assert [x["time"] for x in lines] == sorted(x["time"] for x in lines)
    # another request is not part of this one's trace
    assert _get(stack.apis["Api"].base_url + "/put")[0] == 200
    time.sleep(1.5)
    again = _trace(env, request_id, capsys)
    assert {x["record"].get("requestId") for x in again if x["source"] == "gateway"} == {request_id}
    # the same request as a trace: request span > invocation span > the two AWS-call spans
    capsys.readouterr()
    assert (
        main(["trace", request_id, "--state-dir", str(env.state_dir), "--json", "--source", "logs"])
        == 0
    )
    spans = json.loads(capsys.readouterr().out)["spans"]
    by_id = {s["span_id"]: s for s in spans}
    root = next(s for s in spans if s["service"] == "gateway")
    invocation = next(s for s in spans if s["service"] == "lambda")
    assert invocation["parent_id"] == root["span_id"]
    assert invocation["attributes"]["status"] == "success"
    faulted = [s for s in spans if s["name"] == "dynamodb.GetItem"]
    assert faulted and all(s["attributes"]["fault"] for s in faulted)
    assert all(by_id[s["parent_id"]]["service"] == "lambda" for s in faulted)
    assert any(
        s["name"] == "dynamodb.PutItem" and s["parent_id"] == invocation["span_id"] for s in spans
    )
    assert root["duration_ms"] >= invocation["duration_ms"]


def test_the_queued_jobs_consumer_continues_the_requests_trace(
    env: Environment, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, headers = _get(stack.apis["Api"].base_url + "/put")
    assert status == 200
    request_id = {k.lower(): v for k, v in headers.items()}["apigw-requestid"]
    spans: list[dict[str, Any]] = []
    deadline = time.time() + 20  # the SQS poller, then the consumer, then the logs' flush
    while time.time() < deadline:
        capsys.readouterr()
        code = main(
            ["trace", request_id, "--state-dir", str(env.state_dir), "--json", "--source", "logs"]
        )
        spans = json.loads(capsys.readouterr().out)["spans"]
        assert code == (0 if spans else 1)
        if sum(1 for s in spans if s["name"] == "dynamodb.PutItem") >= 2:
            break
        time.sleep(0.5)
    names = [s["name"] for s in spans]
    assert "sqs.SendMessage" in names, spans
    puts = [s for s in spans if s["name"] == "dynamodb.PutItem"]
    assert len(puts) == 2, spans  # the handler's, and the consumer's under the same trace root
    assert len({s["attributes"]["traceId"] for s in spans if s["service"] != "lambda"}) == 1
