"""S3 event notifications delivered as S3 sends them: SAM ``Events: Type: S3`` and plain
``NotificationConfiguration`` to a function, an SQS queue and an SNS topic, with prefix/suffix
filters (tests/fixtures/deploy/s3notify)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.deploy import deployed_stack
from harness.env.environment import Environment

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "s3notify"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("s3notify-state"))) as env:
        yield env


def _wait(probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    return probe()


def _messages(env: Environment, url: str) -> list[dict[str, Any]]:
    sqs = env.client("sqs")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_uploads_reach_function_queue_and_topic_by_filter(env: Environment) -> None:
    with deployed_stack(env, STACK) as stack:
        s3 = env.client("s3")
        uploads = stack.resources["Uploads"].physical_id
        results = stack.resources["Results"].physical_id
        s3.put_object(Bucket=uploads, Key="in/data 1.csv", Body=b"a,b\n")
        s3.put_object(Bucket=uploads, Key="other/skip.csv", Body=b"x")  # prefix filtered out
        s3.put_object(Bucket=uploads, Key="in/notes.txt", Body=b"hello")

        # the function: only in/*.csv, one record, the key URL-encoded as S3 does
        listing = _wait(lambda: s3.list_objects_v2(Bucket=results).get("Contents"))
        assert [o["Key"] for o in listing] == ["in/data+1.csv"]
        event = json.loads(s3.get_object(Bucket=results, Key="in/data+1.csv")["Body"].read())
        (record,) = event["Records"]
        assert record["eventSource"] == "aws:s3" and record["eventVersion"] == "2.1"
        assert record["eventName"] == "ObjectCreated:Put"
        assert record["awsRegion"] == env.endpoints.get("region", "us-east-1")
        assert record["s3"]["bucket"] == {
            "name": uploads,
            "ownerIdentity": {"principalId": "HARNESSLOCAL"},
            "arn": f"arn:aws:s3:::{uploads}",
        }
        assert record["s3"]["object"]["size"] == 4 and len(record["s3"]["object"]["eTag"]) == 32

        # the queue: only *.txt
        text = _wait(lambda: _messages(env, stack.outputs["TextQueueUrl"]))
        assert [r["s3"]["object"]["key"] for m in text for r in m["Records"]] == ["in/notes.txt"]

        # the topic: removals under in/ only
        s3.delete_object(Bucket=uploads, Key="other/skip.csv")
        s3.delete_object(Bucket=uploads, Key="in/notes.txt")
        removed = _wait(lambda: _messages(env, stack.outputs["RemovalQueueUrl"]))
        records = [r for m in removed for r in m["Records"]]
        assert [(r["eventName"], r["s3"]["object"]["key"]) for r in records] == [
            ("ObjectRemoved:Delete", "in/notes.txt")
        ]
        assert "size" not in records[0]["s3"]["object"]
        time.sleep(1.5)  # nothing else arrives
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=results)["Contents"]] == [
            "in/data+1.csv"
        ]
