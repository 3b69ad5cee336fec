"""`harness logs --follow` against a real runtime: a new invocation shows up while following."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
import time
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


@pytest.fixture
def runtime(tmp_path: Path) -> Any:
    rt = rtkit.RuntimeUnderTest(None, tmp_path)
    rt.deploy("logsfollow", [rtkit.function("echo", "app.echo")])
    rt.start()
    yield rt
    rt.stop()


def test_follow_shows_a_new_invocation(runtime: Any) -> None:
    lam = runtime.lambda_client()
    lam.invoke(FunctionName="echo", Payload=json.dumps({"before": True}))
    follower = subprocess.Popen(
        [sys.executable, "-m", "harness", "logs", "logsfollow", "--follow", "--json"],
        env={**os.environ, "HARNESS_STATE_DIR": str(runtime.state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        time.sleep(1.5)  # the follower has read what was there; now invoke again
        response = lam.invoke(FunctionName="echo", Payload=json.dumps({"marker": "after-follow"}))
        request_id = json.loads(response["Payload"].read())["request_id"]
        seen: list[dict[str, Any]] = []
        deadline = time.time() + 15
        while time.time() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(json.loads(lines.get(timeout=0.5)))
            mine = [r for r in seen if r.get("requestId") == request_id]
            if any(r["record"].get("type") == "REPORT" for r in mine):
                break
        mine = [r for r in seen if r.get("requestId") == request_id]
        assert any("after-follow" in r["message"] for r in mine), seen
        assert any(r["message"].startswith("REPORT Duration") for r in mine), seen
        assert all(r["source"] == "function" and r["name"] == "echo" for r in mine)
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(10)
        assert follower.stdout is not None
        follower.stdout.close()
