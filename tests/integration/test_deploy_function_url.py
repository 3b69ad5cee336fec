"""Function URLs (AWS::Lambda::Url, SAM FunctionUrlConfig) served by the gateway at the URL the
stack outputs (tests/fixtures/deploy/fnurl)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config import Settings
from harness.deploy import deployed_stack
from harness.env.environment import Environment

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "fnurl"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("fnurl-state"))) as env:
        yield env


def test_a_function_url_answers_at_the_output_url(env: Environment) -> None:
    with deployed_stack(env, STACK) as stack:
        url = stack.outputs["EchoUrl"]
        assert url == f"{env.endpoints['gateway_url']}/fnurl/EchoUrl/"
        request = urllib.request.Request(
            url + "items/7", data=b'{"a": 1}', method="POST",
            headers={"Origin": "https://app.example.com", "content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
            allowed = response.headers.get("access-control-allow-origin")
        assert body == {"path": "/items/7", "method": "POST", "version": "2.0", "body": '{"a": 1}'}
        assert allowed == "https://app.example.com"
