"""Run reports: raw data (``raw.json``) and what is rendered from it.

``summary.json`` (DESIGN.md's schema), ``junit.xml`` (one test case per expectation) and
``report.html`` (self-contained, inline SVG plots). ``harness report DIR`` re-renders them.
"""

from harness.report.data import Expectation, FaultWindow, PhaseStats, RunData, load_run, save_run
from harness.report.writers import WRITERS, render_all, summary_json

__all__ = [
    "WRITERS",
    "Expectation",
    "FaultWindow",
    "PhaseStats",
    "RunData",
    "load_run",
    "render_all",
    "save_run",
    "summary_json",
]
