"""report.html in a real headless browser: every plot is laid out with a real size.

Chromium is installed by scripts/bootstrap.sh (apt). The page marks, once loaded, how many plot
SVGs it has and how many the browser rendered with a real size on <body>.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report import render_all
from harness.report.plots import PLOTS
from tests.unit.test_report import synthetic_run

BROWSER = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless browser (scripts/bootstrap.sh installs chromium)"
)


def rendered(page: Path) -> tuple[int, int, str]:
    assert BROWSER is not None
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    dom = done.stdout
    match = re.search(r'<body data-plots="(\d+)" data-plots-rendered="(\d+)"', dom)
    assert match, f"the page's script did not run; browser said: {done.stderr[-1000:]}"
    return int(match.group(1)), int(match.group(2)), dom


@pytest.mark.parametrize("passed", [True, False])
def test_every_plot_renders_in_a_headless_browser(tmp_path: Path, passed: bool) -> None:
    run = synthetic_run(passed=passed)
    page = render_all(run, tmp_path)["html"]
    plots, ok, dom = rendered(page)
    assert plots == len(PLOTS)
    assert ok == plots
    assert ("FAILED" in dom) is not passed
    for expectation in run.expectations:
        assert html.escape(expectation.name, quote=False) in dom
