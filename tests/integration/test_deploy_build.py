"""Functions built the way ``sam build`` builds them: requirements.txt installed per function into
the build cache, a ``BuildMethod: python3.12`` layer under /opt/python, the declared interpreter,
nothing of the harness's own packages; a dependency that does not install fails the deploy with
pip's error and leaves nothing behind."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, destroy_stack
from harness.env.environment import Environment
from harness.model import stack_file

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deploy"
PROBE = ["harness", "locust", "hypothesis", "pydantic", "boto3", "humanize", "tabulate"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("build-cache")
    saved = os.environ.get("HARNESS_BUILD_CACHE_DIR")
    os.environ["HARNESS_BUILD_CACHE_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("HARNESS_BUILD_CACHE_DIR", None)
    else:
        os.environ["HARNESS_BUILD_CACHE_DIR"] = saved


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("build-state"))) as env:
        yield env


def _invoke(env: Environment, name: str, event: dict[str, Any]) -> Any:
    response = env.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_requirements_and_built_layer_install_once_and_isolate(
    env: Environment, cache: Path
) -> None:
    started = time.perf_counter()
    stack = deploy_stack(env, FIXTURES / "buildapp")
    cold_s = time.perf_counter() - started
    try:
        deps = stack.functions["Deps"]
        assert deps.execution_env == "python3.12" and "3.12" in os.path.basename(deps.interpreter)
        installed = sorted(p.name for p in (cache / "deps").iterdir())
        assert len(installed) == 2 and all(n.startswith("py312-") for n in installed)
        body = _invoke(env, deps.name, {"modules": PROBE})
        assert body["size"] == "3.0 MB"
        assert body["table"].split() == ["a", "1"]
        assert body["version"] == "3.12"
        assert body["execution_env"] == "AWS_Lambda_python3.12"
        assert body["found"] == {
            "harness": False,
            "locust": False,
            "hypothesis": False,
            "pydantic": False,
            "boto3": True,
            "humanize": True,
            "tabulate": True,  # the layer's dependency, under /opt/python
        }
        assert body["path"][0] == deps.code_dir
        assert deps.opt_dir and body["path"].index(deps.opt_dir + "/python") > 1
        # a function without requirements.txt gets nothing the other one installed
        plain = _invoke(env, stack.functions["Plain"].name, {"modules": PROBE})
        assert plain["version"] == "3.11"
        assert plain["found"]["humanize"] is False and plain["found"]["harness"] is False
        # a second deploy reuses the cache: no pip
        destroy_stack(env, stack.name)
        started = time.perf_counter()
        stack = deploy_stack(env, FIXTURES / "buildapp")
        warm_s = time.perf_counter() - started
        assert sorted(p.name for p in (cache / "deps").iterdir()) == installed
        print(f"buildapp deploy: cold cache {cold_s:.1f} s, warm cache {warm_s:.1f} s")
        assert warm_s < cold_s
        assert _invoke(env, stack.functions["Deps"].name, {})["size"] == "3.0 MB"
    finally:
        destroy_stack(env, stack.name)


def test_requirements_that_do_not_install_fail_the_deploy_and_leave_nothing(
    env: Environment,
) -> None:
    tables = env.client("dynamodb").list_tables()["TableNames"]
    with pytest.raises(DeployError) as info:
        deploy_stack(env, FIXTURES / "broken_requirements")
    message = str(info.value)
    assert info.value.logical_id == "Broken"
    assert "requirements.txt" in message
    # pip's own words
    assert "No matching distribution found for harness-no-such-package-for-tests" in message
    assert env.client("dynamodb").list_tables()["TableNames"] == tables
    assert not stack_file(env.state_dir, "broken_requirements").exists()


def test_node_package_json_dependencies_are_installed_for_commonjs_and_es_modules(
    env: Environment, cache: Path
) -> None:
    stack = deploy_stack(env, FIXTURES / "nodeapp")
    try:
        cjs = stack.functions["Cjs"]
        assert cjs.execution_env == "nodejs20.x" and cjs.task_root
        assert not (FIXTURES / "nodeapp" / "src" / "cjs" / "node_modules").exists()  # untouched
        assert len(list((cache / "node").iterdir())) == 2  # one install per package.json
        body = _invoke(env, cjs.name, {})
        assert body == {"ms": 172800000, "root": cjs.task_root}
        assert _invoke(env, stack.functions["Esm"].name, {}) == {"ms": 3600000}
    finally:
        destroy_stack(env, stack.name)
