"""The public corpus as the acceptance set: 26 SAM applications nobody on this project wrote
(../shared/corpus/serverless-patterns), each deployed unmodified, then the test steps its README
gives, asserting the README's answers. What the harness cannot honour must be refused by name
(and listed in the README's known limits), with nothing left behind.

Slow (one environment, 26 deploys, ~4 minutes): ``pytest -m slow tests/integration/test_corpus.py``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, destroy_stack
from harness.deploy.local_urls import local_outputs
from harness.env.environment import Environment
from harness.model import DeployedStack, load_stacks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "serverless-patterns"
if not CORPUS.is_dir():  # a checkout without shared/ beside it
    pytest.skip(f"the corpus is not at {CORPUS}", allow_module_level=True)


@dataclass
class App:
    """What the README promises, or why the harness refuses the app (the known limit)."""

    refused: list[str] = field(default_factory=list)  # words the refusal must contain
    params: dict[str, str] = field(default_factory=dict)  # what `sam deploy --guided` asks
    check: Callable[[Environment, DeployedStack], None] | None = None


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode()


def _log_lines(env: Environment, stack: DeployedStack, function: str) -> list[dict[str, Any]]:
    path = env.state_dir / "logs" / "functions" / f"{stack.functions[function].name}.log"
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def _reports(env: Environment, stack: DeployedStack, function: str) -> list[dict[str, Any]]:
    return [line for line in _log_lines(env, stack, function) if line.get("type") == "REPORT"]


def _until(probe: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    return probe()


def _invoke(env: Environment, name: str, payload: Any, qualifier: str | None = None) -> Any:
    args: dict[str, Any] = {"FunctionName": name, "Payload": json.dumps(payload).encode()}
    if qualifier:
        args["Qualifier"] = qualifier
    answer = env.client("lambda").invoke(**args)
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read() or b"null")


# -- the README steps ------------------------------------------------------------------------


def regional_api(env: Environment, stack: DeployedStack) -> None:
    # "curl https://aabbccddee.execute-api.eu-west-1.amazonaws.com/Prod/get"
    status, body = _http("GET", local_outputs(stack)["EndpointUrl"])
    assert (status, body) == (200, {"message": "Hello World! This is the regional API"})


def throttled_api(env: Environment, stack: DeployedStack) -> None:
    # load.yaml (Artillery) sends GET and POST / at up to 100 rps: POST is throttled at 50 rps,
    # burst 25 (the stage's MethodSettings for POST /), GET only by the stage's 2000 / 1000
    from concurrent.futures import ThreadPoolExecutor

    routes = {(r.method, r.path): r.throttle for r in stack.apis["ThrottlingApi"].routes}
    post = routes[("POST", "/")]
    assert post is not None and (post.rate, post.burst) == (50.0, 25)
    url = local_outputs(stack)["ThrottlingApiUrl"]
    assert _http("GET", url)[0] == 200
    with ThreadPoolExecutor(16) as pool:
        posts = list(pool.map(lambda n: _http("POST", url, {"n": n})[0], range(120)))
        gets = list(pool.map(lambda n: _http("GET", url)[0], range(60)))
    assert posts.count(429) > 0 and posts.count(200) >= 25, posts
    assert set(gets) == {200}, gets


def sns_to_lambda(env: Environment, stack: DeployedStack) -> None:
    # "Send 10 messages to the SNS topic" and see the function receive them
    sns = env.client("sns")
    for i in range(1, 11):
        sns.publish(
            TopicArn=stack.outputs["ProcessingTopicArn"],
            Message=json.dumps({"message": f"Test message-{i}"}),
        )
    assert _until(lambda: len(_reports(env, stack, "ProcessorFunction")) >= 10)
    assert {r["status"] for r in _reports(env, stack, "ProcessorFunction")} == {"success"}


def esm_filters(env: Environment, stack: DeployedStack) -> None:
    # publish events/testMessage.json; the table of the README says which functions run
    message = (CORPUS / "lambda-esm-sqs-filters-sam" / "events" / "testMessage.json").read_text()
    env.client("sns").publish(TopicArn=stack.outputs["SNSArn"], Message=message)
    ran = ["NoFilter", "Prefix", "IP", "AnythingBut", "And", "Or"]
    for name in ran:
        assert _until(lambda name=name: _reports(env, stack, f"EsmSqsFilterFunction{name}")), name


def fifo_redrive(env: Environment, stack: DeployedStack) -> None:
    # step 1: send; step 2: the function fails it and it ends in the DLQ
    sqs = env.client("sqs")
    sqs.send_message(
        QueueUrl=stack.outputs["MyOriginalQueueUrl"],
        MessageBody=json.dumps({"id": 123, "name": "John", "data": {"age": 30}}),
        MessageGroupId="group1",
        MessageDeduplicationId="m1",
    )
    dlq = sqs.get_queue_url(QueueName="MyDeadLetterQueue.fifo")["QueueUrl"]

    def in_dlq() -> int:
        attrs = sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    assert _until(in_dlq, timeout=90) == 1
    assert {r["status"] for r in _reports(env, stack, "MyOriginalQueueFunction")} != {"success"}


def version_alias(env: Environment, stack: DeployedStack) -> None:
    # "run it. You should see: Hello from Lambda! version 1" (through the alias dev)
    name = stack.functions["lambdaFunctionAlias"].name
    answer = _invoke(env, name, {}, qualifier="dev")
    assert json.loads(answer["body"]) == {"message": "Hello from Lambda! version 1"}


def lambda_s3(env: Environment, stack: DeployedStack) -> None:
    # "aws lambda invoke --function-name ENTER_FUNCTION_NAME": the object lands in the bucket
    _invoke(env, stack.functions["PutObjectFunction"].name, {})
    listing = env.client("s3").list_objects_v2(Bucket="corpus-lambda-s3-destination")
    assert listing.get("KeyCount", 0) >= 1


def scheduled(env: Environment, stack: DeployedStack) -> None:
    # "You will see the new events every minute": fire one now
    from harness.runtime.client import RuntimeClient

    source = next(s for s in stack.event_sources if s.kind == "schedule")
    RuntimeClient(env.endpoints["runtime_url"]).fire_schedule(source.name)
    assert _until(
        lambda: any(
            line.get("message") == "Hello World"
            for line in _log_lines(env, stack, "ScheduledFunction")
        ),
        timeout=75,
    )


def xray_chain(env: Environment, stack: DeployedStack) -> None:
    # "Invoke the Lambda Producer Function": Producer -> SNS -> SQS -> Consumer
    _invoke(env, stack.functions["ProducerFunction"].name, {})
    assert _until(lambda: _reports(env, stack, "ConsumerFunction"))


def kinesis_errors(env: Environment, stack: DeployedStack) -> None:
    # scenario 1: three valid records are processed; scenario 2: the poison pill is isolated by
    # bisecting and, after its retries, sent to AnomalyDataQueue with its KinesisBatchInfo
    import base64

    kinesis = env.client("kinesis")
    folder = CORPUS / "kinesis-lambda-error-handling" / "kinesis-producer"

    def put(file: str) -> int:
        records = json.loads((folder / file).read_text())
        kinesis.put_records(
            StreamName="DataActivityKinesisStream",
            Records=[
                {"Data": base64.b64decode(r["Data"]), "PartitionKey": r["PartitionKey"]}
                for r in records
            ],
        )
        return len(records)

    fn = "KinesisDataStreamProcessor"
    sent = put("test-records-without-poison-pill.json")
    assert _until(lambda: len(_reports(env, stack, fn)) >= 1)
    assert {r["status"] for r in _reports(env, stack, fn)} == {"success"}
    before = len(_reports(env, stack, fn))
    put("test-records-with-poison-pill.json")
    sqs = env.client("sqs")
    queue = sqs.get_queue_url(QueueName="AnomalyDataQueue")["QueueUrl"]
    got = _until(
        lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"), 120
    )
    assert got, "the poison pill never reached AnomalyDataQueue"
    failure = json.loads(got[0]["Body"])
    info = failure["KinesisBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"].endswith(
        ":stream/DataActivityKinesisStream"
    )
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    reports = _reports(env, stack, fn)[before:]
    assert any(r["status"] == "success" for r in reports)  # the good half went through
    # the pill's invocations all failed, at least its 5 retries (MaximumRetryAttempts: 5)
    assert sum(r["status"] != "success" for r in reports) >= 5
    time.sleep(2)  # and it is reported once
    assert not sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages")
    assert sent == 3


APPS: dict[str, App] = {
    "alb-lambda-rest-api-sam-py": App(refused=["AWS::ElasticLoadBalancingV2::LoadBalancer"]),
    "apigw-cors-proxy": App(refused=["integration type AWS"]),
    "apigw-data-validation": App(refused=["x-amazon-apigateway-request-validators"]),
    "apigw-kinesis-lambda": App(refused=["integration type AWS", "kinesis:action/PutRecord"]),
    "apigw-lambda-dynamodb-kinesis-lambda": App(refused=["KinesisStreamSpecification"]),
    "apigw-lambda-sns-monitoring-sam": App(refused=["AWS::Synthetics::Canary"]),
    "apigw-lambda-tenant-isolation": App(
        refused=["SecurityPolicy", "AWS::ApiGateway::RequestValidator", "TenancyConfig"]
    ),
    "apigw-mappingtemplate-lambda": App(refused=["integration type AWS"]),
    "apigw-rest-api-lambda-python": App(),  # its handler calls checkip.amazonaws.com
    "apigw-rest-regional-lambda": App(check=regional_api),
    "apigw-throttle-sam": App(check=throttled_api),
    "dynamodb-eventbridge-scheduler": App(refused=["Custom::TestSchedule"]),
    "eventbridge-pipes-ddb-stream-lambda-sfn-enrich": App(refused=["AWS::Pipes::Pipe"]),
    "eventbridge-scheduled-lambda": App(check=scheduled),
    "fifo-sqs-redrive": App(check=fifo_redrive),
    "kinesis-lambda-error-handling": App(check=kinesis_errors),
    "lambda-esm-sqs-filters-sam": App(check=esm_filters),
    "lambda-eventbridge-sns-sam": App(),
    "lambda-s3": App(
        params={"DestinationBucketName": "corpus-lambda-s3-destination"}, check=lambda_s3
    ),
    "lambda-s3-async-lambda": App(params={"PayloadBucketName": "corpus-lambda-s3-async-payload"}),
    "lambda-version-alias": App(check=version_alias),
    "s3-event-sfn-lambda-ddb-sns": App(refused=["EventBridgeConfiguration"]),
    "serverless-message-processing": App(),
    "sns-lambda-python-sam": App(check=sns_to_lambda),
    "sns-sqs-lambda-xray": App(check=xray_chain),
    "stepfunctions-eventbridge-schedule-sam-python": App(),
}


def test_the_table_covers_the_whole_corpus() -> None:
    assert sorted(APPS) == sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def test_every_refused_app_is_in_the_readmes_known_limits() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, app in APPS.items():
        if app.refused:
            assert f"`{name}`" in readme, f"README's known limits do not list {name}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("corpus-state"))) as env:
        yield env


@pytest.mark.parametrize("name", sorted(APPS))
def test_corpus_app(env: Environment, name: str) -> None:
    app = APPS[name]
    folder = CORPUS / name
    if app.refused:
        queues_before = env.client("sqs").list_queues().get("QueueUrls", [])
        with pytest.raises(DeployError) as info:
            deploy_stack(env, folder, dict(app.params))
        message = str(info.value)
        assert str(folder) in message
        for word in app.refused:
            assert word in message
        # nothing half-deployed stays behind
        assert name not in load_stacks(env.state_dir)
        assert env.client("sqs").list_queues().get("QueueUrls", []) == queues_before
        return
    stack = deploy_stack(env, folder, dict(app.params))
    try:
        assert stack.unsupported == []
        if app.check is not None:
            app.check(env, stack)
    finally:
        destroy_stack(env, stack.name)


def test_init_then_a_generated_smoke_run_passes_on_a_corpus_app(
    env: Environment, tmp_path: Path
) -> None:
    """`harness init` on an app with no harness.yaml, then `harness run` of its smoke.yaml,
    with no hand-editing."""
    import shutil

    from harness.deploy.init import init_stack
    from harness.scenario.runner import RunOptions, run_scenario

    folder = tmp_path / "apigw-rest-regional-lambda"
    shutil.copytree(CORPUS / folder.name, folder)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the corpus is read-only
    result = init_stack(folder)
    assert result.api == "ApiRegional"
    run = run_scenario(
        result.scenario_path,
        RunOptions(report_dir=tmp_path / "report", settings=env.settings),
    )
    try:
        assert run.passed, [(e.name, e.observed) for e in run.expectations if not e.passed]
        assert run.phases[0].requests >= 30
    finally:
        if "apigw-rest-regional-lambda" in load_stacks(env.state_dir):
            destroy_stack(env, "apigw-rest-regional-lambda")
