"""Event sources against a real environment: SQS (standard, FIFO, DLQ), SNS, EventBridge,
DynamoDB Streams and schedules, each driving a handler that records what it received."""

from __future__ import annotations

import collections
import importlib.util
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from harness.model import EventSourceSpec
from harness.runtime.events import aws_arn

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "rtkit", Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)
function, wait_for = rtkit.function, rtkit.wait_for
read_lines, read_json_lines = rtkit.read_lines, rtkit.read_json_lines
ARN = "arn:aws:{}:us-east-1:000000000000:{}"


def queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:000000000000:schedule"
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def stream_table(env: Any, name: str) -> str:
    ddb = env.client("dynamodb")
    table = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(table["TableDescription"]["LatestStreamArn"])


@pytest.fixture(scope="module")
def world(harness_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("runtime-sources")
    out = root / "out"
    out.mkdir()
    sqs = harness_env.client("sqs")
    w: dict[str, Any] = {"out": out, "sqs": sqs, "env": harness_env}
    w["bulk_url"], bulk_arn = queue(sqs, "rt-bulk")
    w["dlq_url"], dlq_arn = queue(sqs, "rt-poison-dlq")
    w["poison_url"], poison_arn = queue(
        sqs,
        "rt-poison",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
    )
    w["filtered_url"], filtered_arn = queue(sqs, "rt-filtered")
    w["fifo_url"], fifo_arn = queue(
        sqs, "rt-orders.fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    sns = harness_env.client("sns")
    w["topic"] = sns.create_topic(Name="rt-topic")["TopicArn"]
    events = harness_env.client("events")
    rule_arn = events.put_rule(
        Name="rt-orders-rule", EventPattern=json.dumps({"source": ["rt.orders"]})
    )["RuleArn"]
    stream_arn = stream_table(harness_env, "rt-items")
    failing_stream_arn = stream_table(harness_env, "rt-failing")
    w["ddb_fail_dest_url"], ddb_fail_dest_arn = queue(sqs, "rt-ddb-failures")

    def recorder(name: str, **kwargs: Any) -> Any:
        env = {"OUT_FILE": str(out / f"{name}.jsonl"), **kwargs.pop("environment", {})}
        return function(name, "app.record", environment=env, **kwargs)

    functions = [
        recorder("bulk"),
        function("poison", "app.sqs_batch", environment={"OUT_FILE": str(out / "poison.tsv")}),
        recorder("fifo"),
        recorder("filtered"),
        recorder("onsns"),
        recorder("onrule"),
        recorder("onstream"),
        recorder("failstream", environment={"FAIL_ALWAYS": "1"}),
        recorder("nightly"),
        recorder("report1"),
    ]
    sources = [
        EventSourceSpec(
            kind="sqs", function="bulk", source_arn=bulk_arn, batch_size=10, name="Bulk"
        ),
        EventSourceSpec(
            kind="sqs",
            function="poison",
            source_arn=poison_arn,
            batch_size=5,
            report_batch_item_failures=True,
            name="Poison",
        ),
        EventSourceSpec(
            kind="sqs", function="fifo", queue_url=w["fifo_url"], source_arn=fifo_arn, batch_size=3
        ),
        EventSourceSpec(
            kind="sqs",
            function="filtered",
            source_arn=filtered_arn,
            filter_patterns=[{"body": {"kind": ["order"]}}],
            name="Filtered",
        ),
        EventSourceSpec(kind="sns", function="onsns", source_arn=w["topic"], name="Topic"),
        EventSourceSpec(kind="eventbridge", function="onrule", source_arn=rule_arn, name="Rule"),
        EventSourceSpec(
            kind="dynamodb",
            function="onstream",
            source_arn=stream_arn,
            starting_position="TRIM_HORIZON",
            batch_size=100,
            name="Stream",
        ),
        EventSourceSpec(
            kind="dynamodb",
            function="failstream",
            source_arn=failing_stream_arn,
            starting_position="TRIM_HORIZON",
            batch_size=4,
            bisect_on_error=True,
            maximum_retry_attempts=1,
            on_failure_arn=ddb_fail_dest_arn,
            name="FailingStream",
        ),
        EventSourceSpec(
            kind="schedule", function="nightly", schedule="cron(0 3 * * ? *)", name="Nightly"
        ),
        # an AWS::Scheduler::Schedule whose Name another stack uses too
        EventSourceSpec(
            kind="schedule",
            function="report1",
            schedule="cron(0 4 * * ? *)",
            source_arn=f"{SCHEDULE_ARN}/default/nightly-report",
            name="ReportSchedule",
        ),
    ]
    runtime = rtkit.RuntimeUnderTest(
        harness_env.state_dir,
        root,
        env={"HARNESS_RUNTIME_STREAM_RETRY_DELAY_S": "0.1", "HARNESS_RUNTIME_POLL_WAIT_S": "1"},
    )
    runtime.deploy("sources", functions, sources)
    runtime.deploy(
        "sources2",
        [recorder("report2")],
        [
            EventSourceSpec(
                kind="schedule",
                function="report2",
                schedule="cron(0 4 * * ? *)",
                source_arn=f"{SCHEDULE_ARN}/default/nightly-report",
                name="ReportSchedule",
                input='{"schedule": "<aws.scheduler.schedule-arn>"}',  # a context attribute
            )
        ],
    )
    runtime.start()
    w["rt"] = runtime
    w["stream_arn"] = stream_arn
    w["rule_arn"] = rule_arn
    yield w
    runtime.stop()


def test_sqs_source_processes_every_message(world: Any) -> None:
    sqs = world["sqs"]
    sent = set()
    for start in range(0, 50, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=world["bulk_url"], Entries=entries)
        sent |= {e["MessageBody"] for e in entries}
    path = world["out"] / "bulk.jsonl"
    wait_for(lambda: sum(len(e["Records"]) for e in read_json_lines(path)) >= 50, timeout=60)
    events = read_json_lines(path)
    bodies = [r["body"] for e in events for r in e["Records"]]
    assert sorted(bodies) == sorted(sent)  # each exactly once
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":rt-bulk")
    assert record["awsRegion"] == "us-east-1"
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert all(len(e["Records"]) <= 10 for e in events)
    metrics = world["rt"].process.client.metrics()
    bulk = next(s for s in metrics["event_sources"] if s["name"] == "Bulk")
    assert bulk["records"] == 50 and bulk["batches"] >= 5 and bulk["queue_depth"] == 0


def test_poison_message_goes_to_dlq_and_nothing_is_lost_or_repeated(world: Any) -> None:
    sqs = world["sqs"]
    good = [f"good-{i}" for i in range(20)]
    for body in [*good[:10], "poison", *good[10:]]:
        sqs.send_message(QueueUrl=world["poison_url"], MessageBody=body)

    def dead() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=world["dlq_url"], WaitTimeSeconds=1).get("Messages", [])

    messages = wait_for(dead, timeout=60)
    assert [m["Body"] for m in messages] == ["poison"]
    lines = read_lines(world["out"] / "poison.tsv")
    bodies = [line.split("\t")[1] for line in lines]
    assert sorted(bodies) == sorted(good)
    assert len(set(line.split("\t")[0] for line in lines)) == len(lines) == 20
    attrs = sqs.get_queue_attributes(
        QueueUrl=world["poison_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attrs == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_fifo_source_keeps_group_order(world: Any) -> None:
    sqs = world["sqs"]
    for i in range(5):
        for group in ("a", "b", "c"):
            sqs.send_message(
                QueueUrl=world["fifo_url"], MessageBody=f"{group}{i}", MessageGroupId=group
            )
    path = world["out"] / "fifo.jsonl"
    wait_for(lambda: sum(len(e["Records"]) for e in read_json_lines(path)) >= 15, timeout=60)
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for event in read_json_lines(path):
        for record in event["Records"]:
            group = record["attributes"]["MessageGroupId"]
            seen[group].append(record["body"])
    assert seen == {g: [f"{g}{i}" for i in range(5)] for g in "abc"}


def test_sqs_filter_criteria_drop_what_does_not_match(world: Any) -> None:
    sqs = world["sqs"]
    for body in (
        {"kind": "order", "n": 1},
        {"kind": "refund"},
        "not json",
        {"kind": "order", "n": 2},
    ):
        sqs.send_message(
            QueueUrl=world["filtered_url"],
            MessageBody=json.dumps(body) if isinstance(body, dict) else body,
        )
    path = world["out"] / "filtered.jsonl"
    wait_for(
        lambda: (
            next(
                s
                for s in world["rt"].process.client.metrics()["event_sources"]
                if s["name"] == "Filtered"
            )["filtered"]
            == 2
        ),
        timeout=30,
    )
    wait_for(lambda: sum(len(e["Records"]) for e in read_json_lines(path)) >= 2, timeout=30)
    bodies = sorted(json.loads(r["body"])["n"] for e in read_json_lines(path) for r in e["Records"])
    assert bodies == [1, 2]
    wait_for(
        lambda: (
            sqs.get_queue_attributes(
                QueueUrl=world["filtered_url"],
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
        ),
        timeout=10,
    )


def test_sns_subscription_delivers_sns_events(world: Any) -> None:
    sns = world["env"].client("sns")
    sns.publish(
        TopicArn=world["topic"],
        Message="hello",
        Subject="greeting",
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": "t1"}},
    )
    events = wait_for(lambda: read_json_lines(world["out"] / "onsns.jsonl"), timeout=30)
    record = events[0]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    sns_part = record["Sns"]
    assert sns_part["Type"] == "Notification"
    assert sns_part["TopicArn"] == world["topic"]
    assert sns_part["Message"] == "hello" and sns_part["Subject"] == "greeting"
    assert sns_part["MessageAttributes"]["tenant"] == {"Type": "String", "Value": "t1"}
    assert sns_part["MessageId"] and sns_part["Timestamp"]


def test_eventbridge_rule_delivers_matching_events(world: Any) -> None:
    events = world["env"].client("events")
    events.put_events(
        Entries=[
            {"Source": "rt.other", "DetailType": "Ignored", "Detail": "{}"},
            {"Source": "rt.orders", "DetailType": "OrderPlaced", "Detail": json.dumps({"id": 5})},
        ]
    )
    got = wait_for(lambda: read_json_lines(world["out"] / "onrule.jsonl"), timeout=30)
    assert len(got) == 1
    assert got[0]["source"] == "rt.orders"
    assert got[0]["detail-type"] == "OrderPlaced"
    assert got[0]["detail"] == {"id": 5}
    # every field of the documented EventBridge event (powertools' sample), with its JSON type
    doc = json.loads((EVENTS / "powertools_eventBridgeEvent.json").read_text())
    doc.pop("replay-name")  # only on replayed events
    assert set(got[0]) == set(doc)
    assert all(type(got[0][k]) is type(v) for k, v in doc.items()), got[0]
    assert got[0]["region"] == "us-east-1" and re.fullmatch(r"\d{12}", got[0]["account"])


def test_dynamodb_stream_delivers_records(world: Any) -> None:
    ddb = world["env"].client("dynamodb")
    ddb.put_item(TableName="rt-items", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName="rt-items", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    ddb.delete_item(TableName="rt-items", Key={"pk": {"S": "a"}})
    path = world["out"] / "onstream.jsonl"
    wait_for(lambda: sum(len(e["Records"]) for e in read_json_lines(path)) >= 3, timeout=30)
    records = [r for e in read_json_lines(path) for r in e["Records"]]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    first, second = records[0], records[1]
    assert first["eventSource"] == "aws:dynamodb"
    # AWS's region and an AWS-shaped stream ARN, not DynamoDB Local's "ddblocal"
    assert first["awsRegion"] == "us-east-1"
    assert first["eventSourceARN"] == aws_arn(world["stream_arn"], "us-east-1")
    assert re.fullmatch(
        r"arn:aws:dynamodb:us-east-1:\d{12}:table/rt-items/stream/\S+", first["eventSourceARN"]
    )
    assert first["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
    assert first["dynamodb"]["NewImage"]["v"] == {"N": "1"}
    assert second["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert first["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert first["dynamodb"]["SequenceNumber"]
    assert first["eventID"]
    # AWS/Lambda IteratorAge (ms): now minus the arrival of each batch's last record, recorded
    # by the runtime's mapping as CloudWatch has it (the alarms of a stack can watch it)
    from harness.metrics import MetricStore, series_key

    store = MetricStore(world["rt"].state_dir / "metrics")
    age = series_key("AWS/Lambda", "IteratorAge", {"FunctionName": "onstream"})

    def recorded() -> float | None:
        store.refresh()
        return store.datapoint(age, 0, time.time() + 5, "SampleCount")

    wait_for(lambda: bool(recorded()), timeout=15)
    oldest = store.datapoint(age, 0, time.time() + 5, "Maximum")
    assert oldest is not None and 0 <= oldest < 30_000, oldest


def test_dynamodb_stream_failure_bisects_then_goes_to_destination(world: Any) -> None:
    ddb = world["env"].client("dynamodb")
    for i in range(4):
        ddb.put_item(TableName="rt-failing", Item={"pk": {"S": f"k{i}"}})
    sqs = world["sqs"]

    def failures() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        for _ in range(3):
            got += sqs.receive_message(
                QueueUrl=world["ddb_fail_dest_url"], WaitTimeSeconds=1, MaxNumberOfMessages=10
            ).get("Messages", [])
        return (
            got
            if sum(json.loads(m["Body"])["DDBStreamBatchInfo"]["batchSize"] for m in got) >= 4
            else []
        )

    messages = wait_for(failures, timeout=60)
    infos = [json.loads(m["Body"]) for m in messages]
    assert all(i["requestContext"]["condition"] == "RetryAttemptsExhausted" for i in infos)
    assert sum(i["DDBStreamBatchInfo"]["batchSize"] for i in infos) == 4
    assert all(i["DDBStreamBatchInfo"]["batchSize"] < 4 for i in infos)  # bisected
    assert all(
        i["DDBStreamBatchInfo"]["streamArn"].endswith(
            "stream/" + i["DDBStreamBatchInfo"]["streamArn"].split("stream/")[-1]
        )
        for i in infos
    )


def test_schedule_fires_now(world: Any) -> None:
    request_id = world["rt"].process.client.fire_schedule("Nightly")
    assert request_id
    events = wait_for(lambda: read_json_lines(world["out"] / "nightly.jsonl"), timeout=20)
    event = events[0]
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert event["resources"] and event["resources"][0].startswith("arn:aws:events:")
    metrics = world["rt"].process.client.metrics()
    nightly = next(s for s in metrics["event_sources"] if s["name"] == "Nightly")
    assert nightly["fired"] == 1 and nightly["next_fire_at"] is not None


def test_schedule_fires_by_its_name_in_the_stack_named(world: Any) -> None:
    client = world["rt"].process.client
    # two stacks have a schedule named nightly-report: a bare name is refused, nothing fires
    with pytest.raises(RuntimeError, match=r"409.*sources, sources2"):
        client.fire_schedule("nightly-report")
    with pytest.raises(RuntimeError, match="404"):
        client.fire_schedule("nightly-report", stack="no-such-stack")
    assert client.fire_schedule("nightly-report", stack="sources2")
    second = wait_for(lambda: read_json_lines(world["out"] / "report2.jsonl"), timeout=20)
    assert second == [{"schedule": f"{SCHEDULE_ARN}/default/nightly-report"}]
    assert not read_json_lines(world["out"] / "report1.jsonl")  # the other stack's did not fire
    assert client.fire_schedule("nightly-report", stack="sources")
    first = wait_for(lambda: read_json_lines(world["out"] / "report1.jsonl"), timeout=20)
    assert first[0]["detail-type"] == "Scheduled Event"
    assert first[0]["resources"] == [f"{SCHEDULE_ARN}/default/nightly-report"]
    assert len(read_json_lines(world["out"] / "report2.jsonl")) == 1
