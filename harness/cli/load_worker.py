"""``harness load-worker --master HOST:PORT``: join a distributed load run as a worker."""

from __future__ import annotations

import argparse
import os
import sys

from harness.cli.common import from_env

__all__ = ["HELP", "configure", "run"]

HELP = "join a distributed load run (`harness load --expect-workers N`) as one of its workers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--master",
        required=from_env("MASTER") is None,
        default=from_env("MASTER"),
        metavar="HOST:PORT",
        help="where the master listens (env HARNESS_MASTER)",
    )


def run(args: argparse.Namespace) -> int:
    """Become a Locust worker (this process is replaced: Locust monkey-patches it on import)."""
    from harness.load.worker import check_master_address

    check_master_address(args.master)  # a ConfigError naming --master
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "harness.load.worker", "--master", args.master])
