"""Execution environments forked from a warm template (issue 26): fidelity.

Module globals, environment variables, file descriptors and random state are per environment,
never the template's or another function's; what cannot be forked safely uses exec and says why
in the function's log."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "rtkit", Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)
function = rtkit.function


def _runtime(tmp_path: Path, **env: str) -> Any:
    runtime = rtkit.RuntimeUnderTest(None, tmp_path, env=env)
    runtime.deploy(
        "forks",
        [
            function("fa", "app.handler", code="forkcheck", environment={"FORKCHECK_A": "a"}),
            function(
                "fb", "app.handler", code="forkcheck", environment={"FORKCHECK_B": "b"},
                memory_mb=256,
            ),
            function("shadow", "app.handler", code="forkshadow"),
        ],
    )  # fmt: skip
    runtime.start()
    return runtime


@pytest.fixture
def forking(tmp_path: Path) -> Any:
    runtime = _runtime(tmp_path)
    yield runtime
    runtime.stop()


def _call(lam: Any, name: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return dict(body)


def test_forked_environments_share_nothing(forking: Any) -> None:
    lam = forking.lambda_client()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: _call(lam, "fa", {"sleep": 0.5}), range(2))
    other = _call(lam, "fb")
    templates = forking.process.client.metrics()["runtime"]["templates"]
    assert len(templates) == 1 and templates[0]["forks"] == 3 and templates[0]["failure"] is None
    # the template really holds boto3 (a module of the runtime shadowing the standard library's
    # once made every preload fail, silently slow)
    assert templates[0]["preload_failed"] == {}
    assert {"boto3", "botocore.session"} <= set(templates[0]["preloaded"])
    template_pid = templates[0]["pid"]
    # three environments, each a child of the template (a fork, not an exec)
    assert len({first["pid"], second["pid"], other["pid"]}) == 3
    assert first["ppid"] == second["ppid"] == other["ppid"] == template_pid
    # module globals are per environment: each counter starts at 1, and stays its own
    assert first["counter"] == second["counter"] == other["counter"] == 1
    again = _call(lam, "fb")
    assert again["pid"] == other["pid"] and again["counter"] == 2
    # no shared random state: each environment's import drew its own number
    assert len({first["random"], second["random"], other["random"]}) == 3
    # the function's environment only, never another function's or the template's
    assert first["env"] == {"FORKCHECK_A": "a"} and other["env"] == {"FORKCHECK_B": "b"}
    assert first["function"] == first["context_function"] == "fa"
    assert other["function"] == other["context_function"] == "fb" and other["memory"] == "256"
    # fds: 0-2, the two protocol pipes the bootstrap moved off 0/1, and listdir's own; none
    # of the template's (its socket, its log) or of another environment's pipes
    assert first["fds"] == other["fds"] == [0, 1, 2, 3, 4, 5]
    assert first["root_handlers"] == 1  # the bootstrap's handler only
    assert first["tz"] == "UTC"
    assert first["cwd"] == first["path0"]  # the task root
    assert len(first["path"]) == len(set(first["path"]))  # the exec path's sys.path, no repeats


def test_what_cannot_be_forked_is_exec_with_the_reason_logged(forking: Any) -> None:
    lam = forking.lambda_client()
    body = _call(lam, "shadow")
    template_pid = forking.process.client.metrics()["runtime"]["templates"]
    assert all(body["ppid"] != t["pid"] for t in template_pid)  # not a fork
    messages = [r.get("message", "") for r in forking.process.client.logs("shadow")]
    assert any("started by exec" in m and "own boto3" in m for m in messages), messages


def test_fork_off_is_exec(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, HARNESS_RUNTIME_FORK="0")
    try:
        lam = runtime.lambda_client()
        body = _call(lam, "fa")
        metrics = runtime.process.client.metrics()["runtime"]
        assert metrics["templates"] == []
        assert body["counter"] == 1 and body["env"] == {"FORKCHECK_A": "a"}
        assert body["fds"][:6] == [0, 1, 2, 3, 4, 5]  # (exec inherits a few of the server's)
        assert body["ppid"] == runtime.process.process.pid  # a child of the runtime itself
    finally:
        runtime.stop()


def test_a_fork_has_the_sys_path_of_an_exec(tmp_path: Path) -> None:
    forked = _runtime(tmp_path / "fork")
    try:
        fork_path = _call(forked.lambda_client(), "fa")["path"]
    finally:
        forked.stop()
    execed = _runtime(tmp_path / "exec", HARNESS_RUNTIME_FORK="0")
    try:
        assert _call(execed.lambda_client(), "fa")["path"] == fork_path
    finally:
        execed.stop()
