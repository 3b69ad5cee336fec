"""Every stack's CI gate (scenarios/<stack>-gate.yaml): valid as shipped; the catalog gate runs
end to end in the default suite (< 3 minutes), the others are opt-in (``-m slow``, or
``make gameday-all``). A gate passes only if its fault paged the alarm it expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GATES = ["catalog", "syncwell", "synchub", "codexflow", "cloudsaas"]


def _run(stack: str, tmp_path: Path) -> dict[str, object]:
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / f"{stack}-gate.yaml"),
         "--report-dir", str(report), "--plain"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    summary: dict[str, object] = json.loads((report / "summary.json").read_text())
    return summary


def _paged(summary: dict[str, object]) -> None:
    verdicts = summary["expectations"]
    assert isinstance(verdicts, list)
    alarms = [v for v in verdicts if v.get("kind") == "alarm"]
    assert alarms and all(isinstance(v["observed"], float | int) for v in alarms), alarms


def test_catalog_gate_end_to_end(tmp_path: Path, no_leftover_processes: object) -> None:
    summary = _run("catalog", tmp_path)
    _paged(summary)


@pytest.mark.slow
@pytest.mark.parametrize("stack", [s for s in GATES if s != "catalog"])
def test_other_gates_end_to_end(stack: str, tmp_path: Path, no_leftover_processes: object) -> None:
    _paged(_run(stack, tmp_path))
