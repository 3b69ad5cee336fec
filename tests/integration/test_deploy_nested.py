"""Nested stacks deployed as CloudFormation does (tests/fixtures/deploy/nested): the parent's
HTTP API calls a function of a local child stack through `!GetAtt Child.Outputs.FunctionArn`, a
second instance of the same child gets other parameters and never collides with the first, and
destroying the parent destroys both; a child deploy that fails leaves nothing behind."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.deploy import summary
from harness.cli.status import run as cmd_status
from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, deployed_stack, destroy_stack
from harness.env.environment import Environment
from harness.model import load_stacks

pytestmark = pytest.mark.integration

NESTED = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "nested"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("nested-state"))) as env:
        yield env


def _get(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(json.loads(response.read()))


def test_parent_api_calls_the_child_function_and_two_children_do_not_collide(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    with deployed_stack(env, NESTED) as stack:
        stacks = load_stacks(env.state_dir)
        assert {n: s.parent for n, s in stacks.items()} == {
            "nested": "",
            "nested-English": "nested",
            "nested-French": "nested",
        }
        english, french = stacks["nested-English"], stacks["nested-French"]
        english_count = len(english.resources)
        assert english_count >= 4  # function, role, HTTP API, its stage...
        assert english.parameters == {"Greeting": "hello"}
        assert french.parameters == {"Greeting": "bonjour"}
        # each child's resources are named after its own stack
        assert stack.outputs["EnglishFunction"] == english.functions["Greeter"].name
        assert stack.outputs["FrenchFunction"] == french.functions["Greeter"].name
        assert english.functions["Greeter"].name.startswith("nested-English-Greeter-")
        assert french.functions["Greeter"].name.startswith("nested-French-Greeter-")
        # Ref of a nested stack is its stack ARN
        assert stack.resources["English"].physical_id.startswith(
            "arn:aws:cloudformation:us-east-1:000000000000:stack/nested-English/"
        )
        # the parent's API -> the English child's function (found by the ARN the child output)
        local = summary(stack, env.state_dir)["local_outputs"]
        body = _get(local["FrontUrl"] + "greet")
        assert body == {
            "greeting": "hello",
            "function": english.functions["Greeter"].name,
            "path": "/greet",
        }
        # the French child's own API, its URL passed up through the parent's outputs
        body = _get(local["FrenchUrl"] + "hello")
        assert body["greeting"] == "bonjour"
        assert body["function"] == french.functions["Greeter"].name

        # a redeploy with nothing changed keeps the children (and their functions) as they were
        again = deploy_stack(env, NESTED)
        assert again.resources["English"].physical_id == stack.resources["English"].physical_id
        after = load_stacks(env.state_dir)
        assert (
            after["nested-English"].functions["Greeter"].name == english.functions["Greeter"].name
        )

        # `harness status` lists the children under their parent, and checks their resources
        assert cmd_status(argparse.Namespace(json=True, state_dir=str(env.state_dir))) == 0
        listed = json.loads(capsys.readouterr().out)["stacks"]
        assert listed["nested-English"] == {"resources": english_count, "parent": "nested"}
        assert listed["nested"]["parent"] is None
        assert cmd_status(argparse.Namespace(json=False, state_dir=str(env.state_dir))) == 0
        assert "stack nested-French (" in capsys.readouterr().out

        # a child is destroyed with its parent, not on its own
        with pytest.raises(DeployError, match="nested in 'nested'"):
            destroy_stack(env, "nested-English")
        assert "nested-English" in load_stacks(env.state_dir)
    assert load_stacks(env.state_dir) == {}
    assert not (env.state_dir / "stacks" / "nested-English.code").exists()


def test_a_child_that_fails_to_deploy_leaves_nothing_behind(
    env: Environment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="harness.deploy.engine")
    folder = tmp_path / "nested"
    shutil.copytree(NESTED, folder)
    child = folder / "child" / "template.yaml"
    # the English child fails after the French one was created (cfn-lint refuses its template)
    broken = folder / "child" / "broken.yaml"
    broken.write_text(
        child.read_text().replace(
            "      Events:\n",
            "      ReservedConcurrentExecutions: -5\n      Events:\n",
        )
    )
    template = folder / "template.yaml"
    template.write_text(
        template.read_text().replace("Location: child/template.yaml", "Location: child/broken.yaml")
    )
    with pytest.raises(DeployError) as info:
        deploy_stack(env, folder)
    assert info.value.file == str(broken)
    assert info.value.logical_id == "Greeter"
    # the French child, created first, was destroyed by the parent's rollback
    assert "rollback: deleting French" in caplog.text
    assert load_stacks(env.state_dir) == {}
    assert sorted(p.name for p in (env.state_dir / "stacks").glob("*.json")) == []
