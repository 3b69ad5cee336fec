"""``harness debug STACK FUNCTION [--port 5678]``: stop a function in VS Code or PyCharm.

The runtime (:mod:`harness.runtime.debug`) makes the function's next execution environment
listen on ``127.0.0.1:PORT`` and wait for a debugpy client; this command starts the session,
prints how to attach, and waits: Ctrl-C (or SIGTERM) ends the session, as does
``harness debug --stop [STACK FUNCTION]`` from another terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from harness.errors import ConfigError, NotRunningError

__all__ = ["HELP", "configure", "run", "vscode_attach"]

HELP = "the next execution environment of a function waits for a debugpy client (VS Code)"

POLL_S = 0.5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", nargs="?", help="the deployed stack")
    parser.add_argument(
        "function", nargs="?", help="the function: its logical id in STACK's template, or its name"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=5678,
        help="port the debugged environment listens on, on 127.0.0.1 only (default 5678)",
    )
    parser.add_argument(
        "--stop",
        action="store_true",
        help="end the debug session of STACK FUNCTION (every session without them)",
    )
    parser.add_argument("--json", action="store_true", help="print the session as JSON and exit")


def vscode_attach(port: int, code_dir: str | None) -> dict[str, Any]:
    """A VS Code ``launch.json`` configuration that attaches to the session."""
    config: dict[str, Any] = {
        "name": "harness debug",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": port},
        "justMyCode": True,
    }
    if code_dir:  # the function runs from its CodeUri folder itself: the paths are the same
        config["pathMappings"] = [{"localRoot": code_dir, "remoteRoot": code_dir}]
    return config


def _client(args: argparse.Namespace) -> Any:
    from harness.config import Settings
    from harness.env.environment import Environment
    from harness.runtime.client import RuntimeClient

    env = Environment(Settings.load(state_dir=getattr(args, "state_dir", None)))
    env.refresh()  # NotRunningError (with the fix) when `harness up` was not run
    url = env.endpoints.get("runtime_url")
    if not url:
        raise NotRunningError(
            "the environment has no function runtime (no runtime_url in its state file)",
            fix="harness down && harness up",
        )
    return RuntimeClient(str(url)), env.state_dir


def _refused(exc: RuntimeError) -> ConfigError:
    detail = str(exc).split(": ", 1)[-1]
    with contextlib.suppress(ValueError):
        answer = json.loads(detail)
        if isinstance(answer, dict) and "message" in answer:
            detail = str(answer["message"])
    return ConfigError(
        detail,
        source="harness debug",
        field="FUNCTION" if "no function" in detail else "--port",
        fix="harness debug STACK FUNCTION [--port N] with a deployed stack's function "
        "and a free port",
    )


def _code_dir(state_dir: Path, stack: str, function: str) -> str | None:
    from harness.model import load_stacks

    deployed = load_stacks(state_dir).get(stack)
    if deployed is None:
        names = ", ".join(sorted(load_stacks(state_dir))) or "none"
        raise ConfigError(
            f"no deployed stack named {stack!r} (deployed: {names})",
            source="harness debug",
            field="STACK",
            fix="harness deploy STACK_DIR first, or name a deployed stack",
        )
    spec = deployed.functions.get(function) or next(
        (f for f in deployed.functions.values() if f.name == function), None
    )
    return (spec.task_root or spec.code_dir) if spec is not None else None


def run(args: argparse.Namespace) -> int:
    if args.stack and not args.function:
        raise ConfigError(
            "name both the stack and the function (harness debug STACK FUNCTION)",
            source="harness debug",
            field="FUNCTION",
            fix="harness debug STACK FUNCTION [--port 5678], or harness debug --stop",
        )
    if not args.stop and not args.stack:
        raise ConfigError(
            "which function? (harness debug STACK FUNCTION)",
            source="harness debug",
            field="STACK",
            fix="harness debug STACK FUNCTION [--port 5678]",
        )
    client, state_dir = _client(args)
    if args.stop:
        try:
            result = client.debug_stop(args.function, args.stack)
        except RuntimeError as exc:
            raise _refused(exc) from None
        if args.json:
            print(json.dumps(result, indent=2, sort_keys=True))
        else:
            print("stopped: " + (", ".join(result["stopped"]) or "no debug session was running"))
        return 0
    code_dir = _code_dir(state_dir, args.stack, args.function)
    try:
        state = client.debug_start(args.function, args.port, args.stack)
    except RuntimeError as exc:
        raise _refused(exc) from None
    session = next(s for s in state["sessions"] if s["port"] == args.port)
    if args.json:
        print(json.dumps({**session, "vscode": vscode_attach(args.port, code_dir)}, indent=2))
        return 0
    name = session["function"]
    print(
        f"debugging {args.stack}/{args.function} ({name}): its next execution environment "
        f"waits for a debugger on 127.0.0.1:{args.port}.\n"
        f"Invoke the function, then attach (VS Code launch.json configuration below; PyCharm: "
        f"a 'Python Debug Server'/'attach' to 127.0.0.1:{args.port}). While debugging, the "
        f"function's concurrency is 1 and its timeout waits while a debugger is attached.\n"
        + json.dumps(vscode_attach(args.port, code_dir), indent=2)
        + "\nCtrl-C (or harness debug --stop) ends the session.",
        flush=True,
    )

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    attached = False
    try:
        while True:
            time.sleep(POLL_S)
            sessions = client.debug_state()["sessions"]
            mine = next((s for s in sessions if s["function"] == name), None)
            if mine is None or mine["port"] != args.port:
                print("the debug session was ended elsewhere (harness debug --stop)")
                return 0
            if mine["client_attached"] != attached:
                attached = mine["client_attached"]
                print("debugger attached" if attached else "debugger detached", flush=True)
    except KeyboardInterrupt:
        client.debug_stop(args.function, args.stack)
        print(f"\ndebug session of {name} ended", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
