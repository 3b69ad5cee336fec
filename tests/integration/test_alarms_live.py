"""Alarms evaluated live by the AWS edge on a deployed stack: a fault (the function failing)
breaches AWS/Lambda Errors and a Powertools EMF metric, both alarms and their composite go to
ALARM within their evaluation window, the SNS action reaches the subscribed runbook function
with CloudWatch's alarm message, and everything returns to OK after; DescribeAlarms,
DescribeAlarmHistory and SetAlarmState answer through aws_endpoint with the live state. The SQS
gauges: a queue's visible messages, and the age of its oldest message while its consumer fails
(ALARM) and after the message is consumed (OK)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.env.secret import control_headers
from harness.model import DeployedStack

pytestmark = pytest.mark.integration

STACK_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "stacks" / "alarms"


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Environment, DeployedStack]]:
    state_dir = tmp_path_factory.mktemp("alarms-live")
    with Environment(Settings.load(state_dir=state_dir)) as env:
        stack = deploy_stack(env, STACK_DIR)
        yield env, stack


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=15) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.5)


def test_fault_pages_through_sns_and_recovers(deployed: tuple[Environment, DeployedStack]) -> None:
    env, stack = deployed
    cw = env.client("cloudwatch")
    base = f"{env.endpoints['gateway_url']}/{stack.name}/Api/work"
    errors_name = f"{stack.name}-work-errors"
    emf_name = f"{stack.name}-emf-failures"
    both_name = f"{stack.name}-both"
    _wait("the API answers", lambda: _get(base) == 200, 60)
    # the template's 10 s periods, scaled down 5x (what a scenario's `alarm_period_scale` does)
    config = urllib.request.Request(
        f"{env.endpoints['aws_endpoint']}/_harness/edge/alarms/config",
        data=b'{"scale": 5}',
        method="POST",
        headers=control_headers(env.endpoints),
    )
    with urllib.request.urlopen(config, timeout=10) as answer:
        snapshot = json.loads(answer.read())
    assert {a["period"] for a in snapshot["alarms"] if a["kind"] == "metric"} == {2.0}
    assert snapshot["problems"] == []

    def states() -> dict[str, str]:
        answer = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        found = answer["MetricAlarms"] + answer["CompositeAlarms"]
        return {a["AlarmName"]: a["StateValue"] for a in found}

    _wait("alarms evaluated OK", lambda: states().get(errors_name) == "OK", 40)
    assert states()[emf_name] == "OK"

    for _ in range(3):
        assert _get(base + "?fail=1") == 502
    fault_started = time.time()  # the last failure answered (cold starts can be slow here)
    # Period 2 s, 1 of 2 datapoints: ALARM once the failing second's period closes (+2 s lag)
    _wait("ALARM", lambda: states().get(both_name) == "ALARM", 40)
    detected = time.time() - fault_started
    assert states()[errors_name] == "ALARM" and states()[emf_name] == "ALARM"
    # 2 s periods, 1 of 2, evaluated 2 s after a period closes: ~5 s; slack for a loaded machine
    assert detected < 20, detected

    alarm = cw.describe_alarms(AlarmNames=[errors_name])["MetricAlarms"][0]
    assert alarm["Namespace"] == "AWS/Lambda" and alarm["Statistic"] == "Sum"
    assert "1 of" in alarm["StateReason"] or "datapoints" in alarm["StateReason"]

    pages = env.client("dynamodb")
    table = stack.resources["Pages"].physical_id

    def page_items() -> list[dict[str, Any]]:
        return list(pages.scan(TableName=table)["Items"])

    def errors_pages() -> list[dict[str, Any]]:  # each alarm pages on its own: wait for this one
        return [i for i in page_items() if i["pk"]["S"].startswith(f"{errors_name}#ALARM#")]

    page = _wait("the runbook got the errors alarm's page", errors_pages, 30)[0]
    message = json.loads(page["message"]["S"])
    assert message["NewStateValue"] == "ALARM" and message["OldStateValue"] == "OK"
    assert message["Trigger"]["MetricName"] == "Errors"
    assert message["Trigger"]["Dimensions"] == [
        {"value": stack.functions["Work"].name, "name": "FunctionName"}
    ]
    assert page["subject"]["S"].startswith(f'ALARM: "{errors_name}"')

    # recovery: successes only; two clean periods take the alarm back to OK (and page OK)
    deadline = time.monotonic() + 45
    while states().get(errors_name) != "OK":
        assert time.monotonic() < deadline, "no recovery to OK"
        _get(base)
        time.sleep(0.5)
    _wait("composite OK", lambda: states().get(both_name) == "OK", 20)
    _wait(
        "the OK page",
        lambda: any(i["pk"]["S"].startswith(f"{errors_name}#OK#") for i in page_items()),
        30,
    )

    history = cw.describe_alarm_history(AlarmName=errors_name, HistoryItemType="StateUpdate")
    summaries = [h["HistorySummary"] for h in history["AlarmHistoryItems"]]
    assert "Alarm updated from ALARM to OK" in summaries
    assert "Alarm updated from OK to ALARM" in summaries

    cw.set_alarm_state(AlarmName=emf_name, StateValue="ALARM", StateReason="gameday drill")
    assert states()[emf_name] == "ALARM"
    _wait("the next evaluation overrides SetAlarmState", lambda: states()[emf_name] == "OK", 20)
    # a gauge: the queue's visible messages, sampled by the edge once a second
    backlog = f"{stack.name}-backlog"
    sqs = env.client("sqs")
    queue_url = stack.resources["Backlog"].physical_id
    assert states()[backlog] != "ALARM"
    for i in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
    _wait("the backlog alarm", lambda: states()[backlog] == "ALARM", 40)
    sqs.purge_queue(QueueUrl=queue_url)
    _wait("the backlog drained", lambda: states()[backlog] == "OK", 40)

    # the age of the oldest message: the consumer fails until `fail_until`, the message is
    # received and returned again and again (in flight counts: it is not deleted), ages past
    # the 4 s threshold, then is consumed and deleted, and the empty queue's age is 0
    oldest = f"{stack.name}-oldest-job"
    _wait("the oldest-job alarm evaluated OK", lambda: states()[oldest] == "OK", 30)
    jobs_url = stack.resources["Jobs"].physical_id
    sent = time.time()
    sqs.send_message(QueueUrl=jobs_url, MessageBody=json.dumps({"fail_until": sent + 10}))
    _wait("the oldest-job alarm", lambda: states()[oldest] == "ALARM", 30)
    detected = time.time() - sent
    # age >= 4 s, in a 2 s period, evaluated 2 s after it closes: 6-8 s; slack for load
    assert 4 <= detected < 20, detected
    _wait("the job consumed and the alarm back to OK", lambda: states()[oldest] == "OK", 60)
    assert time.time() - sent >= 10  # not before the consumer recovered
    assert (
        sqs.get_queue_attributes(QueueUrl=jobs_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{env.endpoints['aws_endpoint']}/_harness/edge/alarms",
            headers=control_headers(env.endpoints),
        ),
        timeout=10,
    ) as answer:
        assert json.loads(answer.read())["problems"] == []

    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.set_alarm_state(AlarmName="no-such-alarm", StateValue="OK", StateReason="x")
