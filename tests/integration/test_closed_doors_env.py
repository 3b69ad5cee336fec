"""Closed doors, environment side: loopback only, owner-only state, nothing shared between two
environments, a reset emulator noticed by `status`, and `down` after `kill -9` of every piece."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness import Environment, Settings
from harness.env.process import port_owner
from harness.env.secret import control_headers, read_probes
from harness.env.sockets import exposed, listeners_of
from harness.model import DeployedStack, ResourceRecord
from tests.integration.conftest import processes_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Environment, Environment]]:
    root = tmp_path_factory.mktemp("doors")
    with (
        Environment(Settings.load(state_dir=root / "a")) as a,
        Environment(Settings.load(state_dir=root / "b")) as b,
    ):
        yield a, b
    assert processes_of(root) == []


def _harness(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HARNESS_STATE_DIR": str(state_dir)},
    )


def test_every_listener_binds_loopback_only(pair: tuple[Environment, Environment]) -> None:
    for env in pair:
        listeners = listeners_of(env.processes)
        ports = {item.port for item in listeners}
        # every recorded piece is among the sockets found (the list is not vacuously empty)
        assert {p.port for p in env.processes if p.port} <= ports, listeners
        assert exposed(listeners) == [], [str(item) for item in exposed(listeners)]
        assert 8883 not in ports  # ministack's MQTT broker is off


def test_state_is_owner_only(pair: tuple[Environment, Environment]) -> None:
    for env in pair:
        pool = env.client("cognito-idp").create_user_pool(PoolName="doors")["UserPool"]["Id"]
        assert pool
        loose = []
        for folder, _dirs, files in os.walk(env.state_dir):
            mode = stat.S_IMODE(os.stat(folder).st_mode)
            if mode != 0o700:
                loose.append(f"{folder} {mode:o}")
            for name in files:
                path = os.path.join(folder, name)
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                if not os.path.islink(path) and mode & 0o077:
                    loose.append(f"{path} {mode:o}")
        assert loose == []
        keys = list((env.state_dir / "data" / "services").rglob("*.pem"))
        assert keys, "the Cognito signing keys are not in the environment's own folder"


def test_two_environments_share_nothing(pair: tuple[Environment, Environment]) -> None:
    a, b = pair
    ports_a = {p.port for p in a.processes if p.port}
    ports_b = {p.port for p in b.processes if p.port}
    assert ports_a and ports_b and not ports_a & ports_b
    open_a = {f.path for p in a.processes for f in psutil.Process(p.pid).open_files()}
    open_b = {f.path for p in b.processes for f in psutil.Process(p.pid).open_files()}
    assert not {path for path in open_a | open_b if path.startswith(str(b.state_dir))} & open_a
    assert not {path for path in open_a | open_b if path.startswith(str(a.state_dir))} & open_b

    def signing_keys(env: Environment) -> set[str]:
        ids = env.client("cognito-idp").list_user_pools(MaxResults=50)["UserPools"]
        kids: set[str] = set()
        for pool in ids:
            url = f"{env.endpoints['aws_endpoint']}/{pool['Id']}/.well-known/jwks.json"
            with urllib.request.urlopen(url, timeout=10) as response:
                kids |= {key["n"] for key in json.loads(response.read())["keys"]}
        return kids

    env_a_pool = a.client("cognito-idp").create_user_pool(PoolName="side")["UserPool"]["Id"]
    env_b_pool = b.client("cognito-idp").create_user_pool(PoolName="side")["UserPool"]["Id"]
    assert env_a_pool and env_b_pool
    keys_a, keys_b = signing_keys(a), signing_keys(b)
    assert keys_a and keys_b and not keys_a & keys_b
    files_a = {p.read_bytes() for p in (a.state_dir / "data").rglob("*.pem")}
    files_b = {p.read_bytes() for p in (b.state_dir / "data").rglob("*.pem")}
    assert files_a and files_b and not files_a & files_b


def test_status_notices_a_reset_emulator(pair: tuple[Environment, Environment]) -> None:
    env = pair[1]
    table = "doors-orders"
    env.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    pool = env.client("cognito-idp").create_user_pool(PoolName="doors-pool")["UserPool"]["Id"]
    stack = DeployedStack(
        name="doors",
        stack_dir="stacks/doors",
        template_path="stacks/doors/template.yaml",
        deployed_at=time.time(),
        resources={
            "Orders": ResourceRecord("Orders", "AWS::DynamoDB::Table", table),
            "Pool": ResourceRecord("Pool", "AWS::Cognito::UserPool", pool),
        },
    )
    stack.save(env.state_dir)
    try:
        healthy = _harness("status", "--json", state_dir=env.state_dir)
        assert healthy.returncode == 0, healthy.stdout
        # the services emulator's reset, on its own port: refused without the secret...
        services = env.endpoints["services"]["default"]
        request = urllib.request.Request(f"{services}/_ministack/reset", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
        refused.value.close()
        assert _harness("status", state_dir=env.state_dir).returncode == 0
        assert any(p["path"] == "/_ministack/reset" for p in read_probes(env.state_dir))
        # ...and with it (the user's own reset) the emulator forgets everything
        request = urllib.request.Request(
            f"{services}/_ministack/reset", method="POST", headers=control_headers(env.endpoints)
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
        status = _harness("status", state_dir=env.state_dir)
        assert status.returncode == 1, status.stdout
        assert "AWS::Cognito::UserPool" in status.stdout and pool in status.stdout
        assert "harness deploy stacks/doors" in status.stdout
        assert "doors-orders" not in status.stdout  # DynamoDB Local still has the table
    finally:
        (env.state_dir / "stacks" / "doors.json").unlink()


def test_down_after_kill_9_of_every_piece_leaves_nothing(tmp_path: Path) -> None:
    up = _harness("up", "--json", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    ports = [p["port"] for p in info["processes"] if p["port"]]
    by_name = {p["name"]: p["pid"] for p in info["processes"]}
    workers = psutil.Process(by_name["gateway"]).children()
    assert workers, "the gateway runs workers under a supervisor"
    # the gateway supervisor first: its workers keep serving the port
    os.kill(by_name["gateway"], signal.SIGKILL)
    for name, pid in by_name.items():
        if name != "gateway":
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert any(port_owner(port) for port in ports)  # survivors hold ports
    status = _harness("status", state_dir=tmp_path)
    assert status.returncode == 1
    assert "DOWN" in status.stdout
    down = _harness("down", state_dir=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_of(tmp_path) == []
    assert [port for port in ports if port_owner(port)] == []
    assert not (tmp_path / "data").exists()
    assert _harness("down", state_dir=tmp_path).returncode == 0
