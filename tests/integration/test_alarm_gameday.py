"""A gameday with alarm expectations, through `harness run`: the fault pages (ErrorsAlarm goes
ALARM within its window; the detection time is reported), the steady phase stays quiet, and
an expected alarm that does not fire (FailuresAlarm: the injected exception skips the handler
that emits its EMF metric) fails the run, naming the alarm and what was seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "fixtures" / "scenarios" / "alarm-gameday.yaml"


def test_alarm_gameday_detects_and_fails_on_the_alarm_that_did_not_fire(
    tmp_path: Path, no_leftover_processes: object
) -> None:
    report = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(SCENARIO),
            "--report-dir",
            str(report),
            "--plain",
        ],
        capture_output=True,
        text=True,
        timeout=480,
        cwd=ROOT,
        env={**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")},
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    verdicts = {e["name"]: e for e in summary["expectations"]}
    page = verdicts["errors page"]
    assert page["passed"], page
    assert 0 < page["observed"] <= 20  # seconds from the fault's start to ALARM
    assert verdicts["steady is quiet"]["passed"], verdicts["steady is quiet"]
    missed = verdicts["emf pages too"]
    assert not missed["passed"] and missed["observed"] is None
    assert "never reached ALARM" in missed["detail"] and "scaled down 5x" in missed["detail"]

    assert summary["alarms"]["scale"] == 5
    detect = [f for f in summary["alarms"]["faults"] if f["alarm"].endswith("work-errors")]
    assert detect and detect[0]["fault"] == "work-fails"
    assert detect[0]["recovered_s"] is not None  # back to OK after the fault ended
    delivered = [a for a in summary["alarms"]["actions"] if a["state"] == "ALARM"]
    assert delivered and all(a["delivered"] for a in delivered)

    html = (report / "report.html").read_text()
    assert "<h2>Alarms</h2>" in html and "time to detect" in html
    failures = [
        c.get("name")
        for c in ET.parse(report / "junit.xml").getroot().iter("testcase")
        if c.find("failure") is not None
    ]
    assert failures == ["emf pages too"]
