"""``harness report DIR``: re-render a run folder's reports."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "re-render summary.json, junit.xml and report.html from a run folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="a report folder written by `harness run` (holds raw.json)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.report import load_run, render_all

    folder = Path(args.dir)
    run = load_run(folder)
    for name, path in render_all(run, folder).items():
        print(f"  {name:<8} {path}")
    print(f"{run.title}: {'PASSED' if run.passed else 'FAILED'}")
    return 0
