"""A user's own project, as the README's first install path has it: the harness built as a wheel,
installed (with constraints.txt) into a fresh virtualenv outside this repository, and used from a
project folder holding a small SAM app of its own (tests/fixtures/userproject): `harness setup`
(reusing the vendor cache: every piece already present), `harness up`, `harness deploy .`, the
project's own pytest test with the harness's plugin fixtures, `harness init .` and `harness run`
of the smoke scenario it wrote, `harness down`.

Slow: building and installing the wheel takes one to five minutes (pip's cache decides).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "tests" / "fixtures" / "userproject"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def test_wheel_in_a_fresh_venv_serves_the_users_own_project(
    tmp_path: Path, no_leftover_processes: Callable[[Path], list[str]]
) -> None:
    # the user's environment: none of this repository's HARNESS_* settings or virtualenv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-w", str(dist), "-q"],
         tmp_path, env)  # fmt: skip
    (wheel,) = dist.glob("harness-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, "-c", str(REPO / "constraints.txt"), str(wheel), "pytest"], tmp_path, env)
    harness = str(venv / "bin" / "harness")

    project = tmp_path / "myapp"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("check_app.py"))
    (project / "tests").mkdir()
    shutil.copy(PROJECT / "check_app.py", project / "tests" / "test_app.py")

    # the vendor cache is reused: nothing to install, so no network
    started = time.monotonic()
    steps = json.loads(_run([harness, "setup", "--json"], project, env))
    assert {s["status"] for s in steps} == {"present"}, steps
    assert time.monotonic() - started < 30

    _run([harness, "up"], project, env)
    try:
        # the installed package runs (not this checkout): its files are in the venv
        state = json.loads((project / ".harness" / "state.json").read_text())
        assert state["endpoints"]["state_dir"] == str((project / ".harness").resolve())
        deployed = json.loads(_run([harness, "deploy", ".", "--json"], project, env))
        assert deployed["stack"] == "myapp"
        url = deployed["local_outputs"]["HelloUrl"]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert json.loads(response.read()) == {"hello": "world"}

        tests = _run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "--harness-attach",
                      "tests"], project, env)  # fmt: skip
        assert "1 passed" in tests

        _run([harness, "init", "."], project, env)
        assert (project / "harness.yaml").is_file() and (project / "smoke.yaml").is_file()
        _run([harness, "deploy", "."], project, env)
        run = _run([harness, "run", "smoke.yaml", "--plain"], project, env)
        assert "PASSED" in run, run
        assert "ok   no 5xx" in run
    finally:
        subprocess.run([harness, "down"], cwd=project, env=env, capture_output=True, timeout=120)
    installed = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    package = installed / "site-packages" / "harness"
    assert (package / "runtime" / "bootstrap.js").is_file()
    assert (package / "env" / "java" / "LoopbackDynamoDB.java").is_file()
