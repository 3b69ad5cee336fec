"""Benchmark ``cold-start``: what one new execution environment costs, exec vs fork (issue 26).

The handler imports boto3 and Powertools (``aws-lambda-powertools``, installed into the build
cache as a function's requirements are: :func:`harness.deploy.build.install_requirements`) and
does nothing else at init. Each path starts ``runs`` environments one after the other, straight
through :class:`harness.runtime.worker.Worker` (no AWS environment needed), and records:

* **wall**: from asking for the environment to its ready frame (the handler imported);
* **CPU**: the new process's own user+system seconds up to ready, plus for a fork the
  template's CPU spent forking it (the fork's parent side). The template's one-time start is
  reported apart (``template_start``), not charged to every environment.

``fork_to_exec_cpu`` is the fork path's median CPU over the exec path's (targets: <= 0.10, and
fork wall <= 50 ms). The template preloads boto3/botocore and, since the dependency set has it,
Powertools (:func:`harness.runtime.fork.preload_for`), as the runtime's templates do. On a
shared or loaded machine the figures are noisier and higher: the result records the load
average before and after.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.bench import spread
from harness.config import Settings
from harness.deploy.build import install_requirements
from harness.model import FunctionSpec
from harness.runtime.fork import Template, preload_for
from harness.runtime.interpreters import python_version, resolve, runtime_packages
from harness.runtime.pool import function_environ
from harness.runtime.worker import Worker

__all__ = ["run"]

RUNTIME = "python3.11"
POWERTOOLS = "aws-lambda-powertools==3.37.0"
HANDLER = '''"""A handler whose init is boto3 and Powertools (the cold-start benchmark)."""

import boto3
from aws_lambda_powertools import Logger

logger = Logger(service="bench")


def handler(event, context):
    return {"boto3": boto3.__version__}
'''
FORK_CPU_TARGET = 0.10
FORK_WALL_TARGET_MS = 50.0


def _cpu(pid: int | None) -> float:
    """CPU seconds of ``pid`` so far, to the nanosecond (``/proc/PID/schedstat``: the
    scheduler's run time; ``cpu_times`` counts 10 ms ticks, coarser than a fork), else from
    psutil."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


async def _measure(
    spec: FunctionSpec, work: Path, runs: int, template: Template | None
) -> list[dict[str, float]]:
    samples = []
    for i in range(runs):
        worker = Worker(spec.name, 0)
        env = function_environ(
            spec, {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}, f"bench-{i}"
        )
        template_before = _cpu(template.pid) if template else 0.0
        started = time.perf_counter()
        await worker.start(
            spec.interpreter, env, spec.code_dir, work / "worker.log", 60.0, template
        )
        wall = time.perf_counter() - started
        if worker.init_error is not None:
            raise RuntimeError(f"the benchmark handler failed to init: {worker.init_error}")
        cpu = _cpu(worker.pid) + ((_cpu(template.pid) - template_before) if template else 0.0)
        samples.append({"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "init_ms": worker.init_ms})
        worker.kill()
        await worker.reap()
    return samples


def _figures(samples: list[dict[str, float]]) -> dict[str, Any]:
    return {
        name: spread([s[name] for s in samples], 2) for name in ("wall_ms", "cpu_ms", "init_ms")
    }


def run(settings: Settings, runs: int = 3, quick: bool = False) -> dict[str, Any]:
    launch = resolve(RUNTIME)
    version = python_version(launch.runtime)
    assert version is not None
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        work = Path(tmp)
        code = work / "code"
        code.mkdir()
        (code / "app.py").write_text(HANDLER)
        requirements = work / "requirements.txt"
        requirements.write_text(POWERTOOLS + "\n")
        deps, _ = install_requirements(
            requirements, launch.interpreter, version, owner="cold-start benchmark",
            file=str(requirements),
        )  # fmt: skip
        spec = FunctionSpec(
            logical_id="Bench", name="bench-cold-start",
            arn="arn:aws:lambda:us-east-1:000000000000:function:bench-cold-start",
            handler="app.handler", runtime=RUNTIME, code_dir=str(code),
            interpreter=launch.interpreter, execution_env=launch.runtime,
            path=[str(deps), str(runtime_packages())], memory_mb=512,
        )  # fmt: skip
        load_before = os.getloadavg()

        async def both() -> tuple[list[dict[str, float]], list[dict[str, float]], dict[str, Any]]:
            exec_samples = await _measure(spec, work, runs, None)
            template = Template(
                spec.interpreter,
                os.pathsep.join(spec.path),
                work / "t.log",
                preload_for({"HARNESS_RUNTIME_PATH": os.pathsep.join(spec.path)}),
            )
            started = time.perf_counter()
            await template.start()
            start_wall = time.perf_counter() - started
            start_cpu = _cpu(template.pid)
            try:
                fork_samples = await _measure(spec, work, runs, template)
            finally:
                template.close()
                await template.wait_closed()
            return (
                exec_samples,
                fork_samples,
                {"wall_ms": round(start_wall * 1000, 2), "cpu_ms": round(start_cpu * 1000, 2)},
            )

        exec_samples, fork_samples, template_start = asyncio.run(both())
        load_after = os.getloadavg()
    exec_fig, fork_fig = _figures(exec_samples), _figures(fork_samples)
    ratio = round(
        statistics.median(s["cpu_ms"] for s in fork_samples)
        / max(statistics.median(s["cpu_ms"] for s in exec_samples), 1e-9),
        3,
    )
    fork_wall = fork_fig["wall_ms"]["median"]
    result = {
        "benchmark": "cold-start",
        "handler": "imports boto3 and aws_lambda_powertools (Logger), nothing else at init",
        "runtime": launch.runtime,
        "runs": runs,
        "exec": exec_fig,
        "fork": fork_fig,
        "template_start": template_start,
        "fork_to_exec_cpu": ratio,
        "targets": {
            "fork_to_exec_cpu": f"<= {FORK_CPU_TARGET}",
            "fork_wall_ms": f"<= {FORK_WALL_TARGET_MS:g}",
        },
        "passed": ratio <= FORK_CPU_TARGET and fork_wall <= FORK_WALL_TARGET_MS,
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "samples": {"exec": exec_samples, "fork": fork_samples},
    }
    print(
        f"cold start ({runs} each): exec CPU {exec_fig['cpu_ms']['median']} ms wall "
        f"{exec_fig['wall_ms']['median']} ms; fork CPU {fork_fig['cpu_ms']['median']} ms wall "
        f"{fork_wall} ms; fork/exec CPU {ratio} (target <= {FORK_CPU_TARGET}); "
        f"template start {template_start['wall_ms']} ms; load {load_before[0]:.1f}"
    )
    return result
