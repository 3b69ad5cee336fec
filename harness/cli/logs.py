"""``harness logs``: function, gateway and edge logs of the environment merged in time order
(read by :mod:`harness.obs.logs`).

``--trace ID`` keeps the records joined to ID (a gateway request id finds the function lines of
its invocation and the AWS calls the handler made). ``--follow`` keeps reading the files as
they grow (like ``sam logs --tail``), polling every 0.2 s, until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.obs.logs import LogReader, LogRecord, iso_time

__all__ = ["HELP", "build_reader", "configure", "run"]

HELP = "function, gateway and edge logs merged in time order (--follow to keep printing)"


_COLOURS = {"function": "cyan", "gateway": "magenta", "edge": "yellow"}
_LEVEL_STYLE = {"ERROR": "bold red", "WARN": "yellow", "WARNING": "yellow"}


def _printer(as_json: bool, out: IO[str]) -> Any:
    if as_json:

        def emit_json(record: LogRecord) -> None:
            out.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
            out.flush()

        return emit_json
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, soft_wrap=True)

    def emit_text(record: LogRecord) -> None:
        line = Text(iso_time(record.time) + " ", style="dim")
        line.append(f"{record.source}:{record.name} ", style=_COLOURS.get(record.source, ""))
        rid = record.raw.get("requestId")
        if rid:
            line.append(f"{str(rid)[:8]} ", style="dim")
        line.append(record.message, style=_LEVEL_STYLE.get(record.level.upper(), ""))
        console.print(line)
        out.flush()

    return emit_text


def _stack_functions(state_dir: Path, stack: str) -> set[str]:
    from harness.model import load_stacks

    stacks = load_stacks(state_dir)
    if stack not in stacks:
        known = ", ".join(sorted(stacks)) or "none"
        raise ConfigError(
            f"no deployed stack named {stack!r} in {state_dir} (deployed: {known}); "
            "deploy it with `harness deploy STACK_DIR` or name one of the deployed stacks",
            source="harness logs",
            field="STACK",
        )
    return {spec.name for spec in stacks[stack].functions.values()}


def _resolve_function(state_dir: Path, stack: str | None, function: str) -> set[str]:
    if stack is None:
        return {function}
    from harness.model import load_stacks

    spec_map = load_stacks(state_dir)[stack].functions
    if function in spec_map:  # the template's logical id
        return {spec_map[function].name}
    names = {spec.name for spec in spec_map.values()}
    if function in names:
        return {function}
    known = ", ".join(sorted(spec_map)) or "none"
    raise ConfigError(
        f"stack {stack!r} has no function {function!r} (its functions: {known}); "
        "give a logical id of its template or the function's name",
        source="harness logs",
        field="--function",
    )


def build_reader(args: argparse.Namespace, state_dir: Path) -> LogReader:
    since: float | None = None
    if args.since:
        try:
            since = time.time() - parse_duration(args.since)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                str(exc),
                source="harness logs",
                field="--since",
            ) from None
    stack_functions = _stack_functions(state_dir, args.stack) if args.stack else None
    functions = stack_functions
    if args.function:
        functions = _resolve_function(state_dir, args.stack, args.function)
    return LogReader(
        state_dir,
        functions=functions,
        stack=args.stack,
        since=since,
        text=args.filter,
        trace=args.trace,
    )


def run(args: argparse.Namespace) -> int:
    from harness.config import Settings

    state_dir = Path(args.state_dir) if args.state_dir else Settings.load().state_dir
    reader = build_reader(args, state_dir)
    emit = _printer(args.json, sys.stdout)
    records = reader.read()
    for record in records:
        emit(record)
    if not args.follow:
        if not records and not (state_dir / "logs").is_dir():
            print(f"no logs under {state_dir / 'logs'} (is an environment up?)", file=sys.stderr)
        return 0
    try:
        for record in reader.follow():
            emit(record)
    except KeyboardInterrupt:
        return 0
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", nargs="?", help="only this deployed stack's logs")
    parser.add_argument(
        "--function", help="only this function (its name, or a logical id of STACK's template)"
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C"
    )
    parser.add_argument("--since", help="only lines newer than this (e.g. 30s, 5m, 2h)")
    parser.add_argument("--filter", help="only lines containing this text (case-insensitive)")
    parser.add_argument(
        "--trace",
        metavar="ID",
        help="only the lines of one request: a gateway request id, correlation id or trace root",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
