"""How one execution environment of a function is launched: the interpreter of its runtime,
the path after its task root (layers, the runtime's boto3) and its environment variables (the
reserved Lambda ones the function's configuration cannot override)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from harness.model import FunctionSpec
from harness.runtime.interpreters import python_version, resolve, runtime_packages

__all__ = ["function_environ", "launch_of"]


def _layer_paths(layers: list[str], runtime: str) -> list[str]:
    """Where Lambda looks in /opt for each layer: ``python/lib/pythonX.Y/site-packages`` and
    ``python``; for Node.js ``nodejs/nodeNN/node_modules`` and ``nodejs/node_modules``."""
    if runtime.startswith("nodejs"):
        major = runtime.removeprefix("nodejs").removesuffix(".x")
        return [
            os.path.join(layer, "nodejs", *sub, "node_modules")
            for layer in layers
            for sub in ((f"node{major}",), ())
        ]
    version = runtime.removeprefix("python") or "3"
    paths: list[str] = []
    for layer in layers:
        paths += [
            os.path.join(layer, "python", "lib", f"python{version}", "site-packages"),
            os.path.join(layer, "python"),
        ]
    return paths


@functools.cache
def _runtime_sdk() -> Path:
    return runtime_packages()


def launch_of(spec: FunctionSpec) -> tuple[str, str, list[str], str]:
    """``(interpreter, runtime it really is, path after the task root, note)`` of ``spec``: what
    the deploy built (:mod:`harness.deploy.build`), or, for a spec made by hand, the interpreter
    of its runtime, its layers' ``python`` folders and the runtime's boto3."""
    if spec.interpreter:
        actual = spec.execution_env or spec.runtime
        return spec.interpreter, actual, list(spec.path), spec.runtime_note
    launch = resolve(spec.runtime)  # LookupError: no such runtime here
    path = _layer_paths(spec.layers, launch.runtime)
    if python_version(launch.runtime) is not None:
        path.append(str(_runtime_sdk()))
    return launch.interpreter, launch.runtime, path, launch.note


def function_environ(spec: FunctionSpec, aws: dict[str, str], log_stream: str) -> dict[str, str]:
    """The environment of one execution environment of ``spec`` (not the server's own)."""
    _, actual, path, note = launch_of(spec)
    base = {
        k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ
    }
    env = {
        **base,
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        **aws,
        **spec.environment,
        # Reserved variables: the function's own configuration cannot override these.
        "AWS_LAMBDA_FUNCTION_NAME": spec.name.split(":", 1)[0],  # a version runs as "name:3"
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": spec.task_root or spec.code_dir,
        "LAMBDA_RUNTIME_DIR": os.path.dirname(os.path.abspath(__file__)),
        # the runtime it really runs on: python3.11 when a python3.12 function fell back
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{actual}",
        "HARNESS_RUNTIME_PATH": os.pathsep.join(path),
        "HARNESS_TRACING_MODE": spec.tracing or "PassThrough",
    }
    if note:
        env["HARNESS_RUNTIME_NOTE"] = note
    if spec.opt_dir:
        env["HARNESS_OPT_DIR"] = spec.opt_dir  # where /opt is for this function
    if "AWS_REGION" in aws:
        env["AWS_REGION"] = aws["AWS_REGION"]
        env["AWS_DEFAULT_REGION"] = aws["AWS_DEFAULT_REGION"]
    return env
