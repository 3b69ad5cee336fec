"""The ``harness`` argument parser: one sub-command per module of :mod:`harness.cli`.

Each command module has ``HELP`` (the line ``harness --help`` shows), ``configure(parser)``
(its arguments) and ``run(args) -> int`` (what it does; the exit code); :data:`COMMANDS` lists
them in the order ``--help`` does. Every command also takes ``--state-dir``.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from harness import __version__
from harness.cli import (
    bench,
    debug,
    deploy,
    destroy,
    down,
    fault,
    init,
    isolation,
    load,
    load_worker,
    logs,
    replay,
    report,
    run,
    setup,
    smoke,
    status,
    token,
    trace,
    up,
)
from harness.cli.common import add_common

__all__ = ["COMMANDS", "build_parser"]

COMMANDS: tuple[tuple[str, ModuleType], ...] = (
    ("up", up),
    ("status", status),
    ("down", down),
    ("setup", setup),
    ("smoke", smoke),
    ("deploy", deploy),
    ("init", init),
    ("destroy", destroy),
    ("token", token),
    ("logs", logs),
    ("debug", debug),
    ("trace", trace),
    ("load", load),
    ("load-worker", load_worker),
    ("fault", fault),
    ("run", run),
    ("isolation", isolation),
    ("replay", replay),
    ("report", report),
    ("bench", bench),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Run a multi-tenant serverless SaaS stack locally; load it, break it, check isolation.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS:
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command.set_defaults(func=module.run)
        add_common(command)
        module.configure(command)
    return parser
