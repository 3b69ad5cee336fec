"""``harness down``: stop everything ``up`` started (safe to repeat)."""

from __future__ import annotations

import argparse

from harness.cli.common import settings

__all__ = ["HELP", "configure", "run"]

HELP = "stop everything `up` started (safe to repeat)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the emulators' state in <state_dir>/data (env HARNESS_KEEP_DATA)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment

    env = Environment(settings(args))
    stopped = env.stop(keep_data=True if args.keep_data else None)
    print("stopped" if stopped else "nothing was running")
    return 0
