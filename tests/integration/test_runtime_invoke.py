"""The runtime server against a real environment: Invoke API, execution environments, limits."""

from __future__ import annotations

import base64
import concurrent.futures
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "rtkit", Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)
function, wait_for, read_json_lines = rtkit.function, rtkit.wait_for, rtkit.read_json_lines


@pytest.fixture(scope="module")
def rt(harness_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("runtime-invoke")
    out = root / "out"
    out.mkdir()
    sqs = harness_env.client("sqs")
    dest_url = sqs.create_queue(QueueName="rt-invoke-dest")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="rt-invoke-dlq")["QueueUrl"]
    runtime = rtkit.RuntimeUnderTest(
        harness_env.state_dir,
        root,
        env={
            "HARNESS_RUNTIME_ASYNC_RETRY_DELAYS": "0.2,0.2",
            "HARNESS_RUNTIME_QUEUE_TIMEOUT_S": "2",
        },
    )
    functions = [
        function("counter", "app.counter"),
        function("echo", "app.echo", environment={"MY_SETTING": "on"}, memory_mb=256),
        function("fail", "app.fail"),
        function("slowpid", "app.pid", timeout=1.0),
        function("reserved1", "app.pid", reserved_concurrency=1),
        function("reserved0", "app.noop", reserved_concurrency=0),
        function("leave", "app.leave"),
        function("unmarshal", "app.unmarshal"),
        function("hog", "app.hog", memory_mb=128),
        function("nested", "pkg/sub/mod.handler"),
        function("stdin", "app.read_stdin"),
        function("big", "app.big", memory_mb=512),
        function("badimport", "app.handler", code="badimport"),
        function("imports", "app.imports"),
        function("imports312", "app.imports", runtime="python3.12"),
        function("imports399", "app.imports", runtime="python3.99"),
        function(
            "asyncok",
            "app.record",
            environment={"OUT_FILE": str(out / "asyncok.jsonl")},
        ),
        function(
            "asyncfail",
            "app.record",
            environment={"OUT_FILE": str(out / "asyncfail.jsonl"), "FAIL_ALWAYS": "1"},
            on_failure_arn="arn:aws:sqs:us-east-1:000000000000:rt-invoke-dest",
        ),
        function(
            "asyncdlq",
            "app.record",
            environment={"OUT_FILE": str(out / "asyncdlq.jsonl"), "FAIL_ALWAYS": "1"},
            dead_letter_arn="arn:aws:sqs:us-east-1:000000000000:rt-invoke-dlq",
            maximum_retry_attempts=1,
        ),
    ]
    runtime.deploy("invoke", functions)
    runtime.start()
    runtime.out = out
    runtime.sqs = sqs
    runtime.dest_url = dest_url
    runtime.dlq_url = dlq_url
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def lam(rt: Any) -> Any:
    return rt.lambda_client()


def payload(response: dict[str, Any]) -> Any:
    return json.loads(response["Payload"].read())


def test_health_and_metrics_answer(rt: Any) -> None:
    health = rt.process.client.health()
    assert health["status"] == "ok" and health["functions"] >= 10
    assert "counter" in rt.process.client.metrics()["functions"]


def test_sync_invoke_gives_context_and_environment(rt: Any, lam: Any, harness_env: Any) -> None:
    response = lam.invoke(
        FunctionName="echo",
        Payload=json.dumps({"headers": {"X-Correlation-Id": "corr-1"}, "n": 1}),
        LogType="Tail",
    )
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    body = payload(response)
    assert body["event"]["n"] == 1
    assert body["function_name"] == "echo"
    assert body["function_version"] == "$LATEST"
    assert body["memory_limit_in_mb"] == "256"
    assert body["invoked_function_arn"].endswith(":function:echo")
    assert body["log_group_name"] == "/aws/lambda/echo"
    assert "[$LATEST]" in body["log_stream_name"]
    assert 0 < body["remaining_ms"] <= 3000
    assert body["client_context"] is None and body["identity"] is None
    env = body["env"]
    assert env["MY_SETTING"] == "on"
    assert env["AWS_ENDPOINT_URL"] == harness_env.endpoints["aws_endpoint"]
    assert env["_HANDLER"] == "app.echo"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["LAMBDA_TASK_ROOT"].endswith("basic")
    assert body["sys_path_head"][0].endswith("basic")
    # Lambda's order: the task root, then /opt/python/lib/pythonX.Y/site-packages, /opt/python
    assert body["sys_path_head"][1].endswith("layer/python/lib/python3.11/site-packages")
    assert body["sys_path_head"][2].endswith("layer/python")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert tail.startswith("START RequestId:") and "REPORT RequestId:" in tail
    assert "echo " in tail and "[INFO]" in tail
    log = rt.state_dir / "logs" / "functions" / "echo.log"
    records = wait_for(
        lambda: [r for r in read_json_lines(log) if r.get("correlationId") == "corr-1"]
    )
    assert any(r.get("type") == "REPORT" for r in records)
    assert all(r["requestId"] == response["ResponseMetadata"]["RequestId"] for r in records)


def test_invoke_channel_answers_as_the_invoke_api(rt: Any, lam: Any) -> None:
    """The gateway's path (harness.runtime.channel) is the Invoke API's code: same results,
    errors, throttles and metrics."""
    import asyncio
    from urllib.parse import urlsplit

    from harness.runtime.channel import ChannelClient, address_for_port

    before = rt.process.client.function_metrics("echo")["invocations"]

    async def calls() -> list[Any]:
        client = ChannelClient(address_for_port(urlsplit(rt.url).port or 0))
        try:
            return list(
                await asyncio.gather(
                    client.invoke("echo", json.dumps({"n": 7}).encode(), 10, tail=True),
                    client.invoke("fail", b"{}", 10),
                    client.invoke("no-such-function", b"{}", 10),
                    client.invoke("reserved0", b"{}", 10),
                    client.invoke("echo", b"x" * (6 * 1024 * 1024 + 1), 10),
                )
            )
        finally:
            client.close()

    echo, fail, missing, throttled, too_big = asyncio.run(calls())
    assert echo.status == 200 and json.loads(echo.body)["event"] == {"n": 7}
    assert "x-amz-function-error" not in echo.headers
    assert base64.b64decode(echo.headers["x-amz-log-result"]).startswith(b"START RequestId:")
    via_http = lam.invoke(FunctionName="fail")
    assert fail.status == 200 and fail.headers["x-amz-function-error"] == "Unhandled"
    assert json.loads(fail.body)["errorType"] == payload(via_http)["errorType"] == "OrderError"
    assert missing.status == 404
    assert missing.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert throttled.status == 429
    assert (
        json.loads(throttled.body)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    )
    assert too_big.status == 413
    assert rt.process.client.function_metrics("echo")["invocations"] == before + 1


def test_arn_and_nested_handler(lam: Any) -> None:
    response = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:nested")
    assert payload(response) == {"nested": True, "name": "pkg.sub.mod"}


def test_cold_then_warm_keeps_module_globals(rt: Any, lam: Any) -> None:
    first = payload(lam.invoke(FunctionName="counter"))
    second = payload(lam.invoke(FunctionName="counter"))
    assert second["count"] == first["count"] + 1
    assert second["pid"] == first["pid"]
    assert first["layer"] == "from-layer"
    metrics = rt.process.client.function_metrics("counter")
    assert metrics["cold_starts"] == 1
    assert metrics["init_duration_ms"]["last"] is not None
    assert metrics["invocations"] >= 2


def test_dry_run_and_unknown_function(lam: Any) -> None:
    assert lam.invoke(FunctionName="counter", InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no-such-function")


def test_handler_error_shape(lam: Any) -> None:
    response = lam.invoke(FunctionName="fail")
    assert response["FunctionError"] == "Unhandled"
    body = payload(response)
    assert body["errorType"] == "OrderError"
    assert body["errorMessage"] == "order 42 is broken"
    assert isinstance(body["stackTrace"], list) and "raise OrderError" in "".join(
        body["stackTrace"]
    )


@pytest.mark.parametrize(
    ("name", "error_type", "fragment"),
    [
        ("leave", "Runtime.ExitError", "exit status 3"),
        ("unmarshal", "Runtime.MarshalError", "Unable to marshal response"),
        ("badimport", "Runtime.ImportModuleError", "Unable to import module 'app'"),
        ("hog", "Runtime.OutOfMemory", "Runtime exited with error"),
    ],
)
def test_runtime_errors(lam: Any, name: str, error_type: str, fragment: str) -> None:
    response = lam.invoke(FunctionName=name, Payload=b'{"mb": 300}')
    assert response["FunctionError"] == "Unhandled"
    body = payload(response)
    assert body["errorType"] == error_type
    assert fragment in body["errorMessage"]


def test_handler_cannot_read_the_protocol_pipe(lam: Any) -> None:
    for _ in range(2):
        assert payload(lam.invoke(FunctionName="stdin", Payload=b'{"x": 1}')) == {
            "stdin": "",
            "child": "",
        }


def test_response_over_6mb_is_a_function_error(lam: Any) -> None:
    response = lam.invoke(FunctionName="big")
    assert response["FunctionError"] == "Unhandled"
    assert payload(response)["errorType"] == "Function.ResponseSizeTooLarge"


def test_timeout_replaces_the_environment(rt: Any, lam: Any) -> None:
    before = payload(lam.invoke(FunctionName="slowpid", Payload=b'{"sleep": 0}'))["pid"]
    started = time.monotonic()
    response = lam.invoke(FunctionName="slowpid", Payload=b'{"sleep": 5}')
    assert time.monotonic() - started < 3
    body = payload(response)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.0" in body["errorMessage"]
    after = payload(lam.invoke(FunctionName="slowpid", Payload=b'{"sleep": 0}'))["pid"]
    assert after != before
    assert not psutil.pid_exists(before) or psutil.Process(before).status() == psutil.STATUS_ZOMBIE
    assert rt.process.client.function_metrics("slowpid")["timeouts"] == 1


def test_reserved_concurrency_throttles(rt: Any, lam: Any) -> None:
    lam.invoke(FunctionName="reserved1", Payload=b'{"sleep": 0}')  # warm

    def call(_: int) -> str:
        try:
            lam.invoke(FunctionName="reserved1", Payload=b'{"sleep": 1.0}')
            return "ok"
        except lam.exceptions.TooManyRequestsException as exc:
            assert exc.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            return "throttled"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(call, range(3)))
    assert outcomes == ["ok", "throttled", "throttled"]
    assert rt.process.client.function_metrics("reserved1")["throttles"] == 2
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName="reserved0")


def test_async_invoke_runs_later(rt: Any, lam: Any) -> None:
    response = lam.invoke(FunctionName="asyncok", InvocationType="Event", Payload=b'{"a": 1}')
    assert response["StatusCode"] == 202
    events = wait_for(lambda: read_json_lines(rt.out / "asyncok.jsonl"))
    assert events == [{"a": 1}]


def test_async_failure_retries_then_on_failure_destination(rt: Any, lam: Any) -> None:
    lam.invoke(FunctionName="asyncfail", InvocationType="Event", Payload=b'{"order": 7}')

    def received() -> list[dict[str, Any]]:
        return rt.sqs.receive_message(QueueUrl=rt.dest_url, WaitTimeSeconds=1).get("Messages", [])

    messages = wait_for(received, timeout=30)
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:asyncfail:$LATEST")
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert len(read_json_lines(rt.out / "asyncfail.jsonl")) == 3  # first try + 2 retries


def test_async_failure_goes_to_dead_letter_queue(rt: Any, lam: Any) -> None:
    lam.invoke(FunctionName="asyncdlq", InvocationType="Event", Payload=b'{"order": 8}')

    def received() -> list[dict[str, Any]]:
        return rt.sqs.receive_message(
            QueueUrl=rt.dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])

    message = wait_for(received, timeout=30)[0]
    assert json.loads(message["Body"]) == {"order": 8}
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "failing as configured"
    assert len(read_json_lines(rt.out / "asyncdlq.jsonl")) == 2  # MaximumRetryAttempts=1


def test_stack_file_change_is_picked_up(rt: Any, lam: Any) -> None:
    rt.deploy("later", [function("later", "app.counter")], reload=False)
    wait_for(lambda: "later" in rt.process.client.metrics()["functions"], timeout=10)
    assert payload(lam.invoke(FunctionName="later"))["count"] == 1


ISOLATION_PROBE = ["harness", "locust", "hypothesis", "pydantic", "boto3", "botocore", "layered"]


def test_function_path_holds_its_code_layers_and_boto3_only(lam: Any) -> None:
    response = lam.invoke(FunctionName="imports", Payload=json.dumps({"modules": ISOLATION_PROBE}))
    body = payload(response)
    # the harness's own packages are not the function's: Lambda's Python runtime has none of them
    assert body["found"] == {
        "harness": False,
        "locust": False,
        "hypothesis": False,
        "pydantic": False,
        "boto3": True,
        "botocore": True,
        "layered": True,
    }
    assert body["version"] == "3.11" and body["execution_env"] == "AWS_Lambda_python3.11"
    assert not [
        p
        for p in body["path"]
        if ".venv" in p or (p.endswith("site-packages") and "layer" not in p)
    ]


def test_function_runs_on_its_declared_python(lam: Any) -> None:
    response = lam.invoke(
        FunctionName="imports312", Payload=json.dumps({"modules": ISOLATION_PROBE})
    )
    body = payload(response)
    assert body["version"] == "3.12", body
    assert body["execution_env"] == "AWS_Lambda_python3.12"
    assert body["found"]["boto3"] and not body["found"]["harness"]


def test_missing_python_version_falls_back_and_says_so(lam: Any) -> None:
    response = lam.invoke(
        FunctionName="imports399", Payload=json.dumps({"modules": []}), LogType="Tail"
    )
    body = payload(response)
    assert body["version"] == "3.11"
    assert body["execution_env"] == "AWS_Lambda_python3.11"  # the truth, not the template's
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "Runtime python3.99: no python3.99 interpreter on this machine" in tail
