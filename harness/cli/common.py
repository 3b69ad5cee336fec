"""What every command module shares: ``HARNESS_*`` defaults, JSON output, the settings from the
common flags, SIGTERM as an interrupt, and the running (or a started) environment."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError

__all__ = [
    "add_common",
    "checked_stack_dir",
    "environment",
    "from_env",
    "parse_params",
    "print_json",
    "running_environment",
    "settings",
    "sigterm_as_interrupt",
]


def from_env(name: str, default: Any = None) -> Any:
    """The ``HARNESS_{name}`` environment variable (a flag's default)."""
    return os.environ.get(f"HARNESS_{name}", default)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        backend=getattr(args, "backend", None),
        localstack_url=getattr(args, "localstack_url", None),
        state_dir=getattr(args, "state_dir", None),
        otlp_endpoint=getattr(args, "otlp", None),
        tracing=False if getattr(args, "no_tracing", False) else None,
    )


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        default=from_env("STATE_DIR"),
        help="folder for the state file and logs (env HARNESS_STATE_DIR; default ./.harness)",
    )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the block runs, so the environments it started
    are torn down by their context managers instead of outliving a killed command."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def running_environment(args: argparse.Namespace) -> Any:
    """The environment ``harness up`` started (``NotRunningError``, with the fix, if none)."""
    from harness.env.environment import Environment

    found = Environment(Settings.load(state_dir=getattr(args, "state_dir", None)))
    found.refresh()
    return found


@contextlib.contextmanager
def environment(config: Any) -> Iterator[Any]:
    """The running environment, or one started here and stopped at the end."""
    from harness.env.environment import Environment

    started = Environment(config)
    started.start()
    try:
        yield started
    finally:
        if started.owned:
            started.stop()


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``--param K=V`` (repeatable) as a dict."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"'{pair}' is not KEY=VALUE.", source="--param", fix="write --param Name=value."
            )
        params[key.strip()] = value
    return params


def checked_stack_dir(raw: str) -> Path:
    """A stack folder given on the command line (``STACK_DIR``), checked to hold a template."""
    path = Path(raw)
    if not path.is_dir():
        raise ConfigError(
            f"stack folder {raw} does not exist.",
            source="STACK_DIR",
            fix="pass a folder holding template.yaml and harness.yaml, e.g. stacks/catalog.",
        )
    if not any((path / name).is_file() for name in ("template.yaml", "template.yml")):
        raise ConfigError(
            f"{raw} has no template.yaml.",
            source="STACK_DIR",
            fix="pass a stack folder (template.yaml, src/, harness.yaml), e.g. stacks/catalog.",
        )
    return path.resolve()
