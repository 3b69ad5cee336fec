"""``harness replay FILE``: reproduce an isolation replay file.

Re-runs a replay file's calls against a fresh environment (a private one in a temporary folder,
stopped afterwards; ``--attach`` uses the running one) and a fresh deploy of the stack it names.
Exit 1 if the violation reproduces, 0 if it no longer does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cli.common import checked_stack_dir, environment, from_env, settings
from harness.errors import ConfigError
from harness.yamlpos import validation_problems

__all__ = ["HELP", "configure", "run"]

HELP = "reproduce an isolation replay file on a fresh environment and deploy"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a replay file written by `harness isolation`")
    parser.add_argument(
        "--attach",
        action="store_true",
        default=from_env("REPLAY_ATTACH", "") == "1",
        help="use the running environment instead of a fresh private one (env "
        "HARNESS_REPLAY_ATTACH=1)",
    )


def _read_replay(raw: str) -> dict[str, Any]:
    path = Path(raw)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read the replay file {raw}: {exc.strerror}.",
            source=raw,
            fix="pass the isolation-replay.json a `harness isolation` run printed.",
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"not JSON ({exc}).",
            source=raw,
            fix="pass the isolation-replay.json a `harness isolation` run printed.",
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"not a replay file of `harness isolation` (a JSON object is expected, "
            f"got {type(document).__name__}).",
            source=raw,
            fix="pass the isolation-replay.json a `harness isolation` run printed.",
        )
    missing = [k for k in ("calls", "check", "spec", "stack_dir") if k not in document]
    if missing:
        raise ConfigError(
            f"not a replay file of `harness isolation` (missing: {', '.join(missing)}).",
            source=raw,
            field=missing[0],
            fix="files written by the Python API without a stack can be replayed with "
            "harness.isolation.run.replay(document, base_url, tokens).",
        )
    problems = [
        (name, want)
        for name, kind, want in (
            ("calls", list, "a list of calls"),
            ("check", dict, "an object with call_index"),
            ("spec", dict, "the isolation spec object"),
            ("stack_dir", str, "the stack folder"),
            ("params", dict, "an object of template parameters"),
        )
        if name in document and not isinstance(document[name], kind)
    ]
    if not problems and not document["calls"]:
        problems = [("calls", "at least one call")]
    if not problems:
        problems = _call_problems(document["calls"])
    index = document["check"].get("call_index") if not problems else 0
    if not problems and not (isinstance(index, int) and 0 <= index < len(document["calls"])):
        problems = [
            ("check.call_index", f"the index of the failing call, 0..{len(document['calls']) - 1}")
        ]
    if not problems:
        from pydantic import ValidationError

        from harness.isolation.spec import IsolationSpec

        try:
            IsolationSpec.model_validate(document["spec"])
        except ValidationError as exc:
            first = validation_problems(exc, prefix=("spec",))[0]
            problems = [(first.field, f"a valid isolation spec: {first.message}")]
    if problems:
        name, want = problems[0]
        raise ConfigError(
            f"this replay file's `{name}` is malformed (expected {want}).",
            source=raw,
            field=name,
            fix="pass an isolation-replay.json as `harness isolation` wrote it.",
        )
    return dict(document)


def _call_problems(calls: list[Any]) -> list[tuple[str, str]]:
    for n, call in enumerate(calls):
        if not isinstance(call, dict):
            return [(f"calls[{n}]", "an object")]
        for name in ("step", "method", "path", "tenant", "user"):
            if not isinstance(call.get(name), str):
                return [(f"calls[{n}].{name}", "a string")]
    return []


def run(args: argparse.Namespace) -> int:
    from harness.deploy import deploy_stack
    from harness.isolation.replay import replay
    from harness.isolation.spec import IsolationSpec
    from harness.isolation.stack import machine_config

    document = _read_replay(args.file)
    stack_dir = checked_stack_dir(document["stack_dir"])
    params = {str(k): str(v) for k, v in (document.get("params") or {}).items()}
    with _fresh(settings(args), attach=args.attach) as env:
        stack = deploy_stack(env, stack_dir, params or None)
        spec = IsolationSpec.model_validate(document["spec"])
        config = machine_config(env, stack, spec)
        started = time.perf_counter()
        from harness.isolation.datalayer import EmulatorData

        reproduced, how, calls = replay(
            document, config.base_url, config.tokens, data=EmulatorData(env, stack)
        )
    print(
        f"replayed {len(calls)} calls against stack {stack.name} in {time.perf_counter() - started:.1f} s"
    )
    print(f"violation: {document.get('violation', {}).get('message', '?')}")
    if reproduced:
        print(f"REPRODUCED: {how}")
        return 1
    print(f"NOT REPRODUCED (fixed, or depends on state the calls do not create): {how}")
    return 0


@contextmanager
def _fresh(config: Any, *, attach: bool) -> Iterator[Any]:
    if attach:
        with environment(config) as env:
            yield env
        return
    with (
        tempfile.TemporaryDirectory(prefix="harness-replay-") as folder,
        environment(replace(config, state_dir=Path(folder))) as env,
    ):
        yield env
