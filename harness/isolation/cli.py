"""``harness isolation STACK_DIR`` and ``harness replay FILE``.

``isolation`` brings the environment up if none is running (and stops it afterwards only if it
started it), deploys the stack, runs token tampering, the state machine and the data-layer/IAM
invariants, prints a summary and writes ``isolation.json`` (and, on a machine violation,
``isolation-replay.json``) under ``--report-dir``. Exit 0: no violation; 1: a violation; 2: a
usage error.

``replay`` re-runs a replay file's calls against a fresh environment (a private one in a
temporary folder, stopped afterwards; ``--attach`` uses the running one) and a fresh deploy of
the stack it names. Exit 1 if the violation reproduces, 0 if it no longer does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["cmd_isolation", "cmd_replay", "configure_isolation", "configure_replay"]

logger = logging.getLogger(__name__)


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"HARNESS_{name}", default)


def configure_isolation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack_dir", help="folder with template.yaml and harness.yaml")
    parser.add_argument(
        "--examples",
        type=int,
        default=int(_env("ISOLATION_EXAMPLES", 50)),
        help="state-machine examples (env HARNESS_ISOLATION_EXAMPLES; default 50)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(_env("ISOLATION_SEED", 0)),
        help="Hypothesis seed (env HARNESS_ISOLATION_SEED; default 0)",
    )
    parser.add_argument(
        "--report-dir",
        default=_env("REPORT_DIR"),
        help="where isolation.json and the replay file go (env HARNESS_REPORT_DIR; "
        "default reports/isolation-<stack>)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="template parameter override for the deploy (repeatable), e.g. a test variant's "
        "switch; recorded in the replay file",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def configure_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a replay file written by `harness isolation`")
    parser.add_argument(
        "--attach",
        action="store_true",
        default=_env("REPLAY_ATTACH", "") == "1",
        help="use the running environment instead of a fresh private one (env "
        "HARNESS_REPLAY_ATTACH=1)",
    )


def _stack_dir(raw: str) -> Path:
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


@contextmanager
def _environment(settings: Any) -> Iterator[Any]:
    """The running environment, or one started here and stopped at the end."""
    from harness.env.environment import Environment

    env = Environment(settings)
    env.start()
    try:
        yield env
    finally:
        if env.owned:
            env.stop()


def cmd_isolation(args: argparse.Namespace, settings: Any) -> int:
    from harness.deploy import deploy_stack
    from harness.deploy.cli import parse_params
    from harness.isolation.run import run_isolation
    from harness.isolation.spec import load_spec

    stack_dir = _stack_dir(args.stack_dir)
    params = parse_params(getattr(args, "param", None))
    try:
        load_spec(stack_dir)  # a bad isolation section fails before anything starts
        infer = False
    except ConfigError as exc:
        if getattr(exc, "field", None) != "isolation":
            raise
        infer = True  # no section: proposed from the API's shape once it is deployed
    if args.examples < 1:
        raise ConfigError(
            f"--examples must be at least 1 (got {args.examples}).",
            source="--examples",
            fix="pass a positive number, e.g. --examples 50.",
        )
    report_dir = Path(args.report_dir or Path("reports") / f"isolation-{stack_dir.name}")
    with _environment(settings) as env:
        stack = deploy_stack(env, stack_dir, params or None)
        if infer:
            from harness.isolation.infer import propose

            section, notes = propose(env, stack, report_dir)
            stack.profile = {**(stack.profile or {}), "isolation": section}
            print(
                f"no `isolation` section in {stack_dir / 'harness.yaml'}: inferred "
                f"(written to {report_dir / 'isolation-proposed.yaml'}):"
            )
            for line in notes:
                print(f"  - {line}")

        def redeploy() -> Any:
            """A fresh deployment (empty data) of the same stack, to confirm replays on."""
            from harness.deploy.engine import destroy_stack

            destroy_stack(env, stack.name)
            return deploy_stack(env, stack_dir, params or None)

        result = run_isolation(
            env,
            stack,
            examples=args.examples,
            seed=args.seed,
            report_dir=report_dir,
            redeploy=redeploy,
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _summary(result, report_dir)
    return 0 if result.passed else 1


def _summary(result: Any, report_dir: Path) -> None:
    rows = [
        ("stack", str(result.stack)),
        ("seed", str(result.seed)),
        ("examples", str(result.examples)),
        ("steps", str(result.steps)),
        ("HTTP calls", f"{result.calls} ({result.throttled} 429s waited out)"),
        ("endpoints covered", f"{result.endpoints_covered}: {', '.join(result.endpoints)}"),
        ("tenants covered", f"{result.tenants_covered}: {', '.join(map(repr, result.tenants))}"),
        (
            "token tampering",
            f"{sum(1 for c in result.tampering if c['passed'])}/{len(result.tampering)} as expected",
        ),
        (
            "data layer",
            ", ".join(f"{k}: {v}" for k, v in result.data_layer.items()) or "no rules",
        ),
        (
            "IAM at the edge",
            str(result.iam.get("summary", "not available"))
            + ("" if result.iam.get("enforce", True) else " (recorded only)"),
        ),
        (
            "replays confirmed",
            "; ".join(
                f"{Path(f).name}: fresh {'yes' if c['fresh'] else 'NO'}, "
                f"pre-filled {'yes' if c['prefilled'] else 'NO'}"
                for f, c in result.confirmed.items()
            )
            or "none to confirm",
        ),
        (
            "control plane",
            (
                f"{result.control_plane.get('refused', 0)} call(s) without the secret refused"
                + (
                    f" (tenant code probed it: {', '.join(result.control_plane['functions'])})"
                    if result.control_plane.get("functions")
                    else ""
                )
            )
            if result.control_plane.get("available")
            else "not available",
        ),
        ("seconds", f"{result.seconds:.1f}"),
        ("violations", str(len(result.violations))),
    ]
    verdict = "PASSED: no isolation violation" if result.passed else "FAILED: isolation violated"
    if getattr(result, "status", "") == "inconclusive":
        verdict = f"FAILED (inconclusive): {result.inconclusive}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for key, value in rows:
            print(f"  {key:<18} {value}")
        for line in result.violations:
            print(f"  VIOLATION {line}")
    else:
        table = Table(title=f"harness isolation: {result.stack}", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(key, value)
        console = Console(soft_wrap=True)
        console.print(table)
        for line in result.violations:
            console.print(f"[red]VIOLATION[/red] {line}", markup=True, highlight=False)
    print(verdict)
    print(f"results: {report_dir / 'isolation.json'}")
    if result.replay_file:
        print(
            f"replay file: {result.replay_file}  (reproduce: harness replay {result.replay_file})"
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
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("spec", *first["loc"]))
            problems = [(where, f"a valid isolation spec: {first['msg']}")]
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


def cmd_replay(args: argparse.Namespace, settings: Any) -> int:
    from harness.deploy import deploy_stack
    from harness.isolation.replay import replay
    from harness.isolation.spec import IsolationSpec
    from harness.isolation.stack import machine_config

    document = _read_replay(args.file)
    stack_dir = _stack_dir(document["stack_dir"])
    params = {str(k): str(v) for k, v in (document.get("params") or {}).items()}
    with _fresh(settings, attach=args.attach) as env:
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
def _fresh(settings: Any, *, attach: bool) -> Iterator[Any]:
    if attach:
        with _environment(settings) as env:
            yield env
        return
    with (
        tempfile.TemporaryDirectory(prefix="harness-replay-") as folder,
        _environment(replace(settings, state_dir=Path(folder))) as env,
    ):
        yield env
