"""``harness deploy --watch``: saved code is served by the next request; data survives redeploys."""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.deploy import destroy_stack
from harness.env.environment import Environment
from harness.model import load_stacks

pytestmark = pytest.mark.integration

WATCHAPP = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "watchapp"


class Watcher:
    def __init__(self, env: Environment, stack_dir: Path) -> None:
        self.lines: list[str] = []
        argv = [sys.executable, "-m", "harness", "deploy", "--watch", str(stack_dir)]
        argv += ["--state-dir", str(env.state_dir)]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text: str, after: int = 0, timeout: float = 120.0) -> int:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            for index, line in enumerate(self.lines[after:], after):
                if text in line:
                    return index
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no line with {text!r}; output:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture(scope="module")
def watched(
    harness_env: Environment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    stack_dir = tmp_path_factory.mktemp("watch") / "watchapp"
    shutil.copytree(WATCHAPP, stack_dir)
    watcher = Watcher(harness_env, stack_dir)
    try:
        watcher.wait_line("watching ")
        stack = load_stacks(harness_env.state_dir)["watchapp"]
        yield {
            "dir": stack_dir,
            "watcher": watcher,
            "url": stack.apis["Api"].base_url + "/version",
            "stack": stack,
        }
        assert watcher.stop() == 0, "\n".join(watcher.lines)
    finally:
        if watcher.process.poll() is None:
            watcher.process.kill()
        destroy_stack(harness_env, "watchapp")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())  # type: ignore[no-any-return]


def _until(url: str, key: str, value: str, timeout: float = 60.0) -> float:
    """Poll ``url`` until its ``key`` is ``value``; seconds it took. Every answer on the way
    must be a 200 (the old code or the new one, never an error)."""
    started = time.perf_counter()
    while True:
        if _get(url)[key] == value:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"{key} never became {value!r}")
        time.sleep(0.005)


def _save(path: Path, text: str) -> None:
    path.write_text(text)


def test_code_change_is_served_by_the_next_request_in_under_a_second(
    watched: dict[str, Any],
) -> None:
    url, app = watched["url"], watched["dir"] / "src" / "app.py"
    assert _get(url)["version"] == "v1"
    source = app.read_text()
    latencies = []
    for i in range(2, 9):
        _save(app, source.replace('VERSION = "v1"', f'VERSION = "v{i}"'))
        latencies.append(_until(url, "version", f"v{i}"))
    low, mid, high = min(latencies), statistics.median(latencies), max(latencies)
    print(
        f"save -> first request on new code: min {low:.3f} s, median {mid:.3f} s, max {high:.3f} s"
    )
    assert mid < 1.0, latencies
    assert high < 2.5, latencies  # a loaded 2-core machine: one slow sample is not a failure
    watched["watcher"].wait_line("swapped ")


def test_new_module_and_layer_edit_are_picked_up(watched: dict[str, Any]) -> None:
    url, src = watched["url"], watched["dir"] / "src"
    (src / "extra.py").write_text('VERSION = "from-extra"\n')
    app = src / "app.py"
    text = app.read_text()
    start = text.index("VERSION = ")
    end = text.index("\n", start)
    app.write_text(text[:start] + "from extra import VERSION" + text[end:])
    _until(url, "version", "from-extra", timeout=10)
    layer = watched["dir"] / "layer" / "python" / "shared.py"
    layer.write_text('LAYER = "layer-v2"\n')
    assert _until(url, "layer", "layer-v2", timeout=10) < 5


def test_template_change_redeploys_and_keeps_table_and_queue_data(
    watched: dict[str, Any], harness_env: Environment
) -> None:
    outputs = load_stacks(harness_env.state_dir)["watchapp"].outputs
    ddb, sqs = harness_env.client("dynamodb"), harness_env.client("sqs")
    ddb.put_item(TableName=outputs["TableName"], Item={"pk": {"S": "kept"}})
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody="kept")
    watcher: Watcher = watched["watcher"]
    mark = len(watcher.lines)
    template = watched["dir"] / "template.yaml"
    template.write_text(template.read_text().replace("GREETING: hello", "GREETING: hola"))
    watcher.wait_line("redeployed stack watchapp", after=mark)
    assert _until(watched["url"], "greeting", "hola", timeout=10) < 5
    item = ddb.get_item(TableName=outputs["TableName"], Key={"pk": {"S": "kept"}})
    assert item.get("Item") == {"pk": {"S": "kept"}}
    messages = sqs.receive_message(QueueUrl=outputs["QueueUrl"], WaitTimeSeconds=2)
    assert [m["Body"] for m in messages.get("Messages", [])] == ["kept"]
    after = load_stacks(harness_env.state_dir)["watchapp"].outputs
    assert after == outputs  # the same table and queue, not new ones


def test_broken_template_keeps_the_previous_deployment_serving(watched: dict[str, Any]) -> None:
    watcher: Watcher = watched["watcher"]
    mark = len(watcher.lines)
    template = watched["dir"] / "template.yaml"
    good = template.read_text()
    template.write_text(good.replace("Handler: app.handler", "Handler: missing.handler"))
    watcher.wait_line("redeploy FAILED", after=mark)
    assert _get(watched["url"])["greeting"] == "hola"
    mark = len(watcher.lines)
    template.write_text(good)
    watcher.wait_line("redeployed stack watchapp", after=mark)


def _harness(env: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness", *args, "--state-dir", str(env.state_dir)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_debug_cli_starts_and_stops_a_session(
    watched: dict[str, Any], harness_env: Environment
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = _harness(harness_env, "debug", "watchapp", "Version", "--port", str(port), "--json")
    assert started.returncode == 0, started.stderr
    session = json.loads(started.stdout)
    assert session["function"] == watched["stack"].functions["Version"].name
    assert session["vscode"]["connect"] == {"host": "127.0.0.1", "port": port}
    assert session["vscode"]["pathMappings"][0]["localRoot"] == str(watched["dir"] / "src")
    stopped = _harness(harness_env, "debug", "--stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["stopped"] == [session["function"]]
    missing = _harness(harness_env, "debug", "nostack", "Version")
    assert missing.returncode == 2
    assert (
        "field 'STACK'" in missing.stderr and "no deployed stack named 'nostack'" in missing.stderr
    )
    wrong = _harness(harness_env, "debug", "watchapp", "Nope", "--port", str(port))
    assert wrong.returncode == 2 and "no function 'Nope' in stack 'watchapp'" in wrong.stderr
    assert _get(watched["url"])["greeting"] == "hola"  # served normally again


def test_requirements_change_rebuilds_the_function(
    watched: dict[str, Any], harness_env: Environment
) -> None:
    watcher: Watcher = watched["watcher"]
    before = load_stacks(harness_env.state_dir)["watchapp"].functions["Version"].path
    mark = len(watcher.lines)
    # no package to fetch: an install of nothing, into a dependency folder of its own
    (watched["dir"] / "src" / "requirements.txt").write_text(f"# rebuild {time.time()}\n")
    watcher.wait_line("dependencies of Version changed (rebuild)", after=mark)
    watcher.wait_line("redeployed stack watchapp", after=mark)
    after = load_stacks(harness_env.state_dir)["watchapp"].functions["Version"].path
    added = [p for p in after if p not in before]
    assert len(added) == 1 and "/deps/py311-" in added[0], (before, after)
    assert _get(watched["url"])["greeting"] == "hola"


def test_debug_cli_waits_until_ctrl_c_or_stop(
    watched: dict[str, Any], harness_env: Environment
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "harness", "debug", "watchapp", "Version", "--port", str(port)]
    for ending in ("interrupt", "stop"):
        session = subprocess.Popen(
            [*argv, "--state-dir", str(harness_env.state_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert session.stdout is not None
            for line in session.stdout:
                if "ends the session" in line:
                    break
            assert session.poll() is None  # it waits
            if ending == "interrupt":
                session.send_signal(signal.SIGINT)
            else:
                assert (
                    _harness(harness_env, "debug", "--stop", "watchapp", "Version").returncode == 0
                )
            rest = session.communicate(timeout=30)[0]
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
        assert session.returncode == 0, rest
        if ending == "stop":
            assert "ended elsewhere" in rest
        state = _harness(harness_env, "debug", "--stop", "--json")
        assert json.loads(state.stdout)["stopped"] == []  # nothing was left running
