"""Stack fixtures (harness.yaml ``fixtures``): ``harness deploy`` starts the stack's fake servers as
child processes, binds their URLs to template parameters, runs the seed hook, keeps the servers on
an unchanged redeploy; ``destroy``/``down`` stop them; a bad server or hook leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.config import Settings
from harness.deploy import DeployError, deploy_stack, destroy_stack
from harness.deploy.fake_servers import load_records, records_file
from harness.env.environment import Environment
from harness.env.process import is_alive
from harness.errors import ConfigError
from harness.model import load_stacks, stack_file

pytestmark = pytest.mark.integration

FAKESTACK = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "fakestack"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    state = tmp_path_factory.mktemp("fakes-state")
    with Environment(Settings.load(state_dir=state, runtime=False)) as env:
        yield env


def fake_servers_running(state_dir: Path) -> list[str]:
    """Live fake-server processes of the environment in ``state_dir``."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            environ = proc.environ()
        except (psutil.Error, OSError):
            continue
        if environ.get("HARNESS_FAKE_SERVER") and environ.get("HARNESS_ENV_ID") == os.path.abspath(
            state_dir
        ):
            found.append(f"{proc.pid} {environ['HARNESS_STACK']}/{environ['HARNESS_FAKE_SERVER']}")
    return found


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def copy_stack(tmp_path: Path, name: str, fixtures: str | None = None) -> Path:
    """FAKESTACK under another stack name, optionally with another ``fixtures`` section."""
    folder = tmp_path / name
    shutil.copytree(FAKESTACK, folder)
    profile = (folder / "harness.yaml").read_text().replace("name: fakestack", f"name: {name}")
    if fixtures is not None:
        profile = profile[: profile.index("fixtures:")] + fixtures
    (folder / "harness.yaml").write_text(profile)
    return folder


def test_deploy_starts_binds_seeds_keeps_and_destroy_stops(env: Environment) -> None:
    stack = deploy_stack(env, FAKESTACK)
    url = stack.fake_servers["echo"]
    port = int(url.rsplit(":", 1)[1])
    assert url == f"http://127.0.0.1:{port}"
    assert get(url + "/greeting") == {"greeting": f"hello from {port}"}  # env with {port}
    # the URL reached the template parameter, the resource and the outputs
    assert stack.parameters["EchoUrl"] == url and stack.outputs["EchoUrl"] == url
    ssm = env.client("ssm")
    assert ssm.get_parameter(Name="/fakestack/echo-url")["Parameter"]["Value"] == url
    # the seed hook ran once, after the deploy, with (env, stack, fakes)
    assert get(url + "/seeds") == {"seeds": [{"stack": "fakestack", "fakes": {"echo": url}}]}
    # a real child process of this environment, recorded, logging to the state folder
    record = load_records(env.state_dir, "fakestack")["echo"]
    environ = psutil.Process(record.pid).environ()
    assert environ["HARNESS_ENV_ID"] == os.path.abspath(env.state_dir)
    assert environ["HARNESS_STACK"] == "fakestack"
    assert "echo listening" in (env.state_dir / "logs" / "fake-fakestack-echo.log").read_text()
    assert load_stacks(env.state_dir)["fakestack"].fake_servers == {"echo": url}

    again = deploy_stack(env, FAKESTACK)  # unchanged: same server, same URL, seeded again
    assert again.fake_servers == {"echo": url}
    assert load_records(env.state_dir, "fakestack")["echo"].pid == record.pid
    assert len(get(url + "/seeds")["seeds"]) == 2

    destroy_stack(env, "fakestack")
    assert not is_alive(record)
    assert not records_file(env.state_dir, "fakestack").exists()
    assert fake_servers_running(env.state_dir) == []
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/fakestack/echo-url")


def test_an_explicit_parameter_wins_and_no_seed_skips_the_hook(
    env: Environment, tmp_path: Path
) -> None:
    folder = copy_stack(tmp_path, "fakes-explicit")
    stack = deploy_stack(env, folder, {"EchoUrl": "http://elsewhere.invalid"}, seed=False)
    try:
        assert stack.parameters["EchoUrl"] == "http://elsewhere.invalid"
        assert get(stack.fake_servers["echo"] + "/seeds") == {"seeds": []}
    finally:
        destroy_stack(env, "fakes-explicit")
    assert fake_servers_running(env.state_dir) == []


def test_a_changed_declaration_restarts_and_a_removed_one_stops(
    env: Environment, tmp_path: Path
) -> None:
    folder = copy_stack(tmp_path, "fakes-change")
    first = deploy_stack(env, folder)
    old = load_records(env.state_dir, "fakes-change")["echo"]
    profile = folder / "harness.yaml"
    profile.write_text(profile.read_text().replace("hello from", "bonjour de"))
    second = deploy_stack(env, folder)
    new = load_records(env.state_dir, "fakes-change")["echo"]
    assert new.pid != old.pid and not is_alive(old)
    assert get(second.fake_servers["echo"] + "/greeting")["greeting"].startswith("bonjour de")
    assert first.fake_servers != second.fake_servers
    profile.write_text(profile.read_text()[: profile.read_text().index("fixtures:")])
    third = deploy_stack(env, folder)
    assert third.fake_servers == {} and not is_alive(new)
    assert not records_file(env.state_dir, "fakes-change").exists()
    destroy_stack(env, "fakes-change")


DIES = """fixtures:
  fake_servers:
    echo:
      command: ["{python}", "-c", "import sys; print('boom: no licence file'); sys.exit(3)", "{port}"]
      parameter: EchoUrl
"""
NEVER_HEALTHY = """fixtures:
  fake_servers:
    echo:
      command: ["{python}", "{stack_dir}/echo.py", "--port", "{port}"]
      health: /not-here
      parameter: EchoUrl
      startup_timeout: 1.5
"""


@pytest.mark.parametrize(
    ("fixtures", "words"),
    [
        (DIES, ["exited during start", "boom: no licence file"]),
        (NEVER_HEALTHY, ["did not answer within 2 s", "echo listening", "/not-here"]),
    ],
    ids=["dies", "never-healthy"],
)
def test_a_server_that_fails_leaves_nothing_behind(
    env: Environment, tmp_path: Path, fixtures: str, words: list[str]
) -> None:
    folder = copy_stack(tmp_path, "fakes-broken", fixtures)
    with pytest.raises(DeployError) as info:
        deploy_stack(env, folder)
    message = str(info.value)
    assert str(folder / "harness.yaml") in message
    assert "fixtures.fake_servers.echo" in message and "Fix:" in message
    for word in words:
        assert word in message
    assert fake_servers_running(env.state_dir) == []
    assert not records_file(env.state_dir, "fakes-broken").exists()
    assert not stack_file(env.state_dir, "fakes-broken").exists()


def test_bad_fixtures_are_refused_before_anything_starts(env: Environment, tmp_path: Path) -> None:
    typo = copy_stack(
        tmp_path,
        "fakes-typo",
        'fixtures:\n  fake_servers:\n    echo:\n      command: ["{pyhton}", "{port}"]\n',
    )
    with pytest.raises(ConfigError) as info:
        deploy_stack(env, typo)
    line = (
        (typo / "harness.yaml")
        .read_text()
        .splitlines()
        .index('      command: ["{pyhton}", "{port}"]')
    )
    assert f"line {line + 1}, field fixtures.fake_servers.echo.command" in str(info.value)
    assert "{pyhton}" in str(info.value)
    unbound = copy_stack(
        tmp_path,
        "fakes-unbound",
        'fixtures:\n  fake_servers:\n    echo:\n      command: ["{python}", "{port}"]\n'
        "      parameter: NoSuchParam\n",
    )
    with pytest.raises(DeployError, match=r"NoSuchParam.*EchoUrl"):
        deploy_stack(env, unbound)
    assert fake_servers_running(env.state_dir) == []


def test_a_failing_seed_hook_destroys_a_new_stack(env: Environment, tmp_path: Path) -> None:
    folder = copy_stack(tmp_path, "fakes-seedfail")
    (folder / "fixtures" / "seed.py").write_text(
        "def seed(env, stack, fakes):\n    raise RuntimeError('tenant table missing')\n"
    )
    with pytest.raises(DeployError) as info:
        deploy_stack(env, folder)
    assert "RuntimeError: tenant table missing" in str(info.value)
    assert str(folder / "fixtures" / "seed.py") in str(info.value)
    assert not stack_file(env.state_dir, "fakes-seedfail").exists()
    assert fake_servers_running(env.state_dir) == []
    with pytest.raises(env.client("ssm").exceptions.ParameterNotFound):
        env.client("ssm").get_parameter(Name="/fakes-seedfail/echo-url")


def test_cli_deploy_json_and_destroy_across_processes(env: Environment) -> None:
    """The fake outlives the `harness deploy` process; `harness destroy` (another process)
    finds it by its record and stops it."""
    environ = {**os.environ, "HARNESS_STATE_DIR": str(env.state_dir)}

    def harness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harness", *args],
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )

    deployed = harness("deploy", str(FAKESTACK), "--json")
    assert deployed.returncode == 0, deployed.stderr
    url = json.loads(deployed.stdout)["fake_servers"]["echo"]
    assert get(url + "/seeds")["seeds"] == [{"stack": "fakestack", "fakes": {"echo": url}}]
    assert len(fake_servers_running(env.state_dir)) == 1
    destroyed = harness("destroy", "fakestack")
    assert destroyed.returncode == 0, destroyed.stderr
    assert fake_servers_running(env.state_dir) == []


def test_down_stops_the_fake_servers_of_deployed_stacks(tmp_path: Path) -> None:
    state = tmp_path / "own-state"
    with Environment(Settings.load(state_dir=state, runtime=False)) as own:
        stack = deploy_stack(own, FAKESTACK)
        assert get(stack.fake_servers["echo"] + "/health") == {"ok": True}
        assert own.stop() is True  # what `harness down` does
    assert fake_servers_running(state) == []
    assert not records_file(state, "fakestack").exists()
