"""The whole scenario against a remote target, without an AWS account: a separate emulator process
(ministack, with its own CloudFormation, started apart from any harness environment on a free
loopback port) plays the account. The test deploys a stack into it through CloudFormation and
creates a Cognito test user, as a user would on AWS; the harness then reaches the stack only
through the AWS APIs (outputs, resources, Cognito InitiateAuth) and loads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from harness.config import Settings
from harness.env.process import free_port
from harness.remote.target import AwsTarget, read_stack

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "remote"
STACK = "remote-shop"
REGION = "us-east-1"
PASSWORD = "Passw0rd!remote"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def _python() -> Path:
    python = Settings.load().resolved_vendor_dir / "venvs" / "ministack" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"the ministack emulator is not installed ({python}); run harness setup")
    return python


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("account")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(folder / "ministack.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(_python()), "-m", "ministack"],
        env={
            **os.environ,
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "TMPDIR": str(folder),
            "S3_DATA_DIR": str(folder / "s3"),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/_ministack/health", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError((folder / "ministack.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        kw: dict[str, Any] = {
            "endpoint_url": url,
            "region_name": REGION,
            **{"aws_access_key_id": "test", "aws_secret_access_key": "test"},
        }
        cfn = boto3.client("cloudformation", **kw)
        cfn.create_stack(
            StackName=STACK,
            TemplateBody=(FIXTURE / "template.yaml").read_text(),
            Parameters=[{"ParameterKey": "EmulatorUrl", "ParameterValue": url}],
            Capabilities=["CAPABILITY_IAM"],
        )
        cfn.get_waiter("stack_create_complete").wait(
            StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        }
        for i in range(3):  # the account's data, which the checks read after the run
            boto3.client("dynamodb", **kw).put_item(
                TableName=resources["Orders"], Item={"pk": {"S": f"order-{i}"}}
            )
        idp = boto3.client("cognito-idp", **kw)
        idp.admin_create_user(
            UserPoolId=resources["Pool"], Username="loadtest", MessageAction="SUPPRESS"
        )
        idp.admin_set_user_password(
            UserPoolId=resources["Pool"], Username="loadtest", Password=PASSWORD, Permanent=True
        )
        yield {"url": url, "resources": resources, "folder": folder}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _target(account: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "aws",
        "stack": STACK,
        "region": REGION,
        "endpoint_url": account["url"],
        "api": "ApiUrl",
        "auth": {
            "user": {
                "username": "loadtest",
                "password_env": "REMOTE_PASSWORD",
                "client": "WebClient",
            }
        },
    }


def test_the_stack_is_read_through_the_aws_apis_only(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    stack = read_stack(AwsTarget.model_validate(_target(account)))
    assert stack.status == "CREATE_COMPLETE"
    assert (
        stack.api_url("ApiUrl")
        == f"{account['url']}/_aws/execute-api/{account['resources']['Api']}/prod"
    )
    assert stack.of_type("AWS::CloudWatch::Alarm") == {"ErrorsAlarm": "remote-errors"}
    assert "OrdersFunction" in stack.of_type("AWS::Lambda::Function")
    with pytest.raises(Exception, match="could not read stack nope"):
        read_stack(AwsTarget.model_validate({**_target(account), "stack": "nope"}))


def test_a_scenario_runs_against_the_remote_stack(account: dict[str, Any], tmp_path: Path) -> None:
    scenario = {
        "title": "remote target smoke",
        "seed": 3,
        "stacks": [str(FIXTURE)],
        "target": _target(account),
        "timeline": [{"name": "steady", "duration": "5s", "load": {"rate": 2}}],
        "expectations": [
            {
                "name": "no errors",
                "metric": "error_rate",
                "scope": "phase:steady",
                "op": "<=",
                "target": "0%",
            },
            {"name": "nothing dropped", "metric": "dropped_ratio", "op": "<=", "target": "0%"},
            {
                "name": "orders kept",
                "kind": "check",
                "check": "orders_kept",
                "op": ">=",
                "target": 3,
            },
            {"name": "dlq empty", "kind": "dlq_max", "queue": "OrdersDlq", "max": 0},
        ],
    }
    path = tmp_path / "remote.yaml"
    path.write_text(yaml.safe_dump(scenario))
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path), "--report-dir", str(report), "--plain"],
        env={**os.environ, **CREDENTIALS, "REMOTE_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    text = json.dumps(summary)
    assert "no errors" in text and "nothing dropped" in text
    verdicts = {e["name"]: e for e in summary["expectations"]}
    assert verdicts["orders kept"]["passed"] and verdicts["orders kept"]["observed"] == 3
    assert verdicts["dlq empty"]["passed"] and verdicts["dlq empty"]["observed"] == 0
    phases = {p["name"]: p for p in summary["phases"]}
    assert phases["steady"]["requests"] >= 9  # 2 RPS x 5 s, all answered 200 (bearer token)


def test_a_wrong_password_fails_before_any_load(account: dict[str, Any], tmp_path: Path) -> None:
    scenario = {
        "title": "remote target, bad password",
        "stacks": [str(FIXTURE)],
        "target": _target(account),
        "timeline": [{"name": "steady", "duration": "2s", "load": {"rate": 5}}],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(path),
            "--report-dir",
            str(tmp_path / "r"),
            "--plain",
        ],
        env={**os.environ, **CREDENTIALS, "REMOTE_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "InitiateAuth for loadtest failed" in done.stdout + done.stderr


def test_a_remote_check_that_does_not_hold_fails_the_run(
    account: dict[str, Any], tmp_path: Path
) -> None:
    scenario = {
        "title": "remote target, check fails",
        "stacks": [str(FIXTURE)],
        "target": _target(account),
        "timeline": [{"name": "steady", "duration": "2s", "load": {"rate": 1}}],
        "expectations": [
            {
                "name": "orders kept",
                "kind": "check",
                "check": "orders_kept",
                "op": ">=",
                "target": 4,
            }
        ],
    }
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump(scenario))
    report = tmp_path / "r"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path), "--report-dir", str(report), "--plain"],
        env={**os.environ, **CREDENTIALS, "REMOTE_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    [verdict] = [
        e
        for e in json.loads((report / "summary.json").read_text())["expectations"]
        if e["name"] == "orders kept"
    ]
    assert verdict["passed"] is False and verdict["observed"] == 3


def test_client_credentials_tokens_from_the_stacks_pool(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.remote.target import token_provider

    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    target = AwsTarget.model_validate(
        {
            **_target(account),
            # the emulator serves the pool's token endpoint itself (AWS: the pool's domain)
            "auth": {
                "client_credentials": {
                    "client": "M2MClient",
                    "scope": "orders/read",
                    "domain": account["url"],
                }
            },
        }
    )
    provider = token_provider(target, read_stack(target), "test")
    token = provider.token("t1", "u1")
    assert token.value.count(".") == 2 and token.remaining() > 60  # a JWT, valid for a while
    wrong = AwsTarget.model_validate(
        {**target.model_dump(), "auth": {"client_credentials": {"client": "WebClient"}}}
    )
    with pytest.raises(Exception, match="has no secret"):
        token_provider(wrong, read_stack(wrong), "test")
