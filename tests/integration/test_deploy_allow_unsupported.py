"""``harness deploy`` refuses what it cannot honour (nothing created), and ``--allow-unsupported``
deploys the rest with each refusal repeated at the end and listed by ``harness status``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.deploy import deploy as cmd_deploy
from harness.config import Settings
from harness.env.environment import Environment
from harness.errors import DeployError
from harness.model import load_stacks

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "unhonoured"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    settings = Settings.load(state_dir=tmp_path_factory.mktemp("unhonoured"), runtime=False)
    with Environment(settings) as env:
        yield env


def _args(env: Environment, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(
        stack_dir=str(STACK), param=[], no_seed=False, state_dir=str(env.state_dir), **kw
    )


def test_refused_then_allowed_with_warnings_in_deploy_and_status(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = env.client("sqs").list_queues().get("QueueUrls", [])
    with pytest.raises(DeployError) as info:
        cmd_deploy(_args(env, json=False, allow_unsupported=False))
    assert {p.split("property ")[1].split(" ")[0] for p in info.value.problems} == {
        "'ObjectLockEnabled'",
        "'Type'",
    }
    assert "unhonoured" not in load_stacks(env.state_dir)
    assert env.client("sqs").list_queues().get("QueueUrls", []) == queues

    assert cmd_deploy(_args(env, json=False, allow_unsupported=True)) == 0
    out = capsys.readouterr().out
    tail = out[out.index("WARNING: 2 thing(s)") :]  # repeated at the very end
    assert "'ObjectLockEnabled'" in tail and "AWS::ECS::Cluster" in tail
    stack = load_stacks(env.state_dir)["unhonoured"]
    assert set(stack.resources) == {"Archive", "Jobs"}  # the unknown type is left out

    main(["status", "--json", "--state-dir", str(env.state_dir)])  # health aside
    status = json.loads(capsys.readouterr().out)
    listed = status["not_honoured"]["unhonoured"]
    assert len(listed) == 2 and any("ObjectLockEnabled" in line for line in listed)
    main(["status", "--state-dir", str(env.state_dir)])
    assert "NOT honoured" in capsys.readouterr().out
    assert main(["destroy", "unhonoured", "--state-dir", str(env.state_dir)]) == 0
