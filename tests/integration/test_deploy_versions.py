"""Lambda versions and aliases as Lambda runs them (tests/fixtures/deploy/versions): each version
keeps the code and configuration it was published with, SAM's AutoPublishAlias publishes a new
version when the code changes (DeploymentPreference AllAtOnce moves the alias at once, the old
version is retained), an alias's RoutingConfig sends its weight of invocations to the additional
version, and the version that ran is reported (X-Amz-Executed-Version, context.function_version,
the log tail's START line)."""

from __future__ import annotations

import base64
import json
import math
import shutil
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, deployed_stack
from harness.deploy.local_urls import local_outputs
from harness.env.environment import Environment
from harness.model import load_stacks

pytestmark = pytest.mark.integration

VERSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "versions"

SPLIT = """
  Split:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      Name: split
      FunctionVersion: "2"
      RoutingConfig:
        AdditionalVersionWeights:
          - FunctionVersion: "1"
            FunctionWeight: 0.25
Outputs:"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("versions-state"))) as env:
        yield env


def _invoke(env: Environment, name: str, qualifier: str | None = None) -> tuple[str, Any]:
    extra = {"Qualifier": qualifier} if qualifier else {}
    answer = env.client("lambda").invoke(FunctionName=name, Payload=b"{}", **extra)
    version = answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"]
    return version, json.loads(answer["Payload"].read())


def test_versions_keep_their_code_and_an_alias_splits_by_its_weight(
    env: Environment, tmp_path: Path
) -> None:
    folder = tmp_path / "versions"
    shutil.copytree(VERSIONS, folder)
    with deployed_stack(env, folder) as stack:
        name = stack.functions["Fn"].name
        assert _invoke(env, name, "live") == (
            "1",
            {"code": "one", "colour": "blue", "version": "1"},
        )

        # new code and configuration: SAM publishes version 2 and moves `live` to it at once
        app = folder / "src" / "app.py"
        app.write_text(app.read_text().replace('CODE = "one"', 'CODE = "two"'))
        template = folder / "template.yaml"
        template.write_text(template.read_text().replace("COLOUR: blue", "COLOUR: green"))
        stack = deploy_stack(env, folder)
        assert _invoke(env, name, "live") == (
            "2",
            {"code": "two", "colour": "green", "version": "2"},
        )
        # version 1 is retained with its own code and configuration; $LATEST is the function
        assert _invoke(env, f"{name}:1") == ("1", {"code": "one", "colour": "blue", "version": "1"})
        assert _invoke(env, name) == (
            "$LATEST",
            {"code": "two", "colour": "green", "version": "$LATEST"},
        )
        tail = env.client("lambda").invoke(FunctionName=name, Qualifier="1", LogType="Tail")
        assert "Version: 1" in base64.b64decode(tail["LogResult"]).decode()
        # the HTTP API (SAM routes it to the alias) runs the alias's version
        url = local_outputs(stack)["ApiUrl"] + "which"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert json.loads(response.read())["version"] == "2"

        # an alias with RoutingConfig: 25 % of invocations run version 1
        template.write_text(template.read_text().replace("Outputs:", SPLIT.strip("\n"), 1))
        deploy_stack(env, folder)
        runs = 400
        seen = Counter()
        for _ in range(runs):
            version, body = _invoke(env, name, "split")
            assert body["version"] == version
            assert body["code"] == {"1": "one", "2": "two"}[version]
            seen[version] += 1
        assert set(seen) <= {"1", "2"}
        expected, spread = runs * 0.25, math.sqrt(runs * 0.25 * 0.75)
        # 4.5 standard deviations: a correct split fails this about once in 150,000 runs
        assert abs(seen["1"] - expected) <= 4.5 * spread, seen

        # an unknown qualifier is not found (it used to run $LATEST)
        with pytest.raises(env.client("lambda").exceptions.ResourceNotFoundException):
            _invoke(env, name, "nope")
    assert load_stacks(env.state_dir) == {}
    assert not (env.state_dir / "stacks" / "versions.code").exists()


def test_an_alias_routing_to_an_unpublished_version_is_refused(
    env: Environment, tmp_path: Path
) -> None:
    folder = tmp_path / "versions"
    shutil.copytree(VERSIONS, folder)
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("Outputs:", SPLIT.strip("\n"), 1))
    with pytest.raises(DeployError) as info:
        deploy_stack(env, folder)
    err = info.value
    assert (err.logical_id, err.property) == ("Split", "FunctionVersion")
    assert "routes to version 2 of Fn" in str(err) and "(published: 1)" in str(err)
    assert load_stacks(env.state_dir) == {}
