"""Benchmark ``tracing-cost``: what live tracing costs on SyncWell's full request mix.

Three figures, CPU time throughout (the machine is shared; wall time says nothing):

1. **in process** (:func:`in_process_cost`, deterministic): CPU microseconds of the tracing code
   per gateway request (trace context, step notes, headers, the five spans recorded and written),
   per invocation span (runtime) and per AWS-call span (edge), ``runs`` times.
2. **census** (one environment, tracing on): SyncWell's nominal mix at ``RATE`` arrivals/s for one
   step; the spans it recorded per request by service, read back from the span store, and the CPU
   per request of every process of the environment (the groups of
   :mod:`harness.bench.syncwell_capacity`). ``estimated_overhead`` = (gateway part + invocations x
   invocation span + AWS calls x call span) / the CPU per request without that cost. Target < 5%.
3. **side by side** (not with ``--quick``): two environments, tracing off and on, the same rate
   and seeds on each in turn, ``runs`` pairs; ``overhead`` = CPU per request on / off - 1.
   Needs a machine that serves the rate without errors in both at once (a shared 2-core machine
   under a load average of 20 does not: the steps time out, and CPU per failed request compares
   nothing); the result says so when a step broke its SLO.

The gateway path alone, side by side, is ``benchmarks/bench_gateway.py --tracing`` (< 10%).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.bench import spread
from harness.bench.syncwell_capacity import (
    drain_queues,
    measure_step,
    print_step,
    with_bench_tenants,
)
from harness.config import Settings, find_project_root
from harness.env.environment import Environment

__all__ = ["RATE", "in_process_cost", "run"]

RATE = 10.0  # arrivals/s: what a busy shared machine still serves without timeouts
RECORDERS = ("gateway", "runtime server", "AWS edge proxy")


def in_process_cost(iterations: int = 20_000) -> dict[str, float]:
    """CPU microseconds of the tracing code itself, in this process: per gateway request (trace
    context, step notes, headers, the 5 spans recorded and written), per invocation span and per
    AWS-call span (its resource name parsed; no carried-trace note: not a publish)."""
    from harness.edge.routing import RequestInfo
    from harness.edge.tracing import EdgeTracer
    from harness.gateway.context import RequestContext
    from harness.gateway.tracing import begin, emit, lambda_trace_header, response_header
    from harness.obs.spans import TraceConfig, recorder_for
    from harness.runtime.tracing import record_invocation

    folder = Path(tempfile.mkdtemp(prefix="bench-tracing-cost-"))
    try:
        config = TraceConfig(run="cost")
        gateway = recorder_for("gateway", folder, config)
        runtime = recorder_for("lambda", folder, config)
        aws = recorder_for("aws", folder, config)
        assert gateway is not None and runtime is not None and aws is not None
        edge = EdgeTracer(aws, folder, config)
        header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        info = RequestInfo(service="dynamodb", region="us-east-1", operation="PutItem")
        body = b'{"TableName":"syncwell-Items","Item":{"pk":{"S":"tenant#1"}}}'
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

        def gateway_part() -> None:
            ctx = RequestContext("GET", "/x", "/x", "", [("traceparent", "x")], "1", "HTTP/1.1")
            ctx.request_id, ctx.correlation_id = "abcdefghij0123=", "f" * 32
            begin(ctx)
            ctx.marks.append(("route", ctx.start))
            ctx.marks.append(("authorizer", time.perf_counter()))
            ctx.marks.append(("throttle", time.perf_counter()))
            ctx.marks.append(("integration", time.perf_counter()))
            lambda_trace_header(ctx)
            response_header(ctx)
            emit(gateway, ctx, 200)

        def invocation_part() -> None:
            record_invocation(
                runtime, function="noop", stack="bench", request_id="r" * 36,
                correlation_id="f" * 32, trace=header, trace_parent="53995c3f42cd8ad8",
                started_perf=time.perf_counter(), duration_ms=1.0, cold=False, init_ms=0.0,
                status="success", error_type=None, trigger=None,
            )  # fmt: skip

        def call_part() -> None:
            call = edge.begin(header)
            assert call is not None
            call.header()
            edge.end(call, info, "/", body, "attempt=1; max=3", response, 0.0, fault=False)

        out: dict[str, float] = {}
        parts = (("gateway", gateway_part), ("invocation", invocation_part), ("call", call_part))
        for name, part in parts:
            for _ in range(2000):
                part()
            started = time.process_time()
            for _ in range(iterations):
                part()
            out[name] = round((time.process_time() - started) / iterations * 1e6, 2)
        out["total"] = round(out["gateway"] + out["invocation"], 2)  # one request, one invocation
        edge.close()
        gateway.shutdown()
        runtime.shutdown()
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _census(state_dir: Path, since_ns: int) -> dict[str, int]:
    """Spans recorded since ``since_ns`` by service (and the gateway's request spans)."""
    from harness.obs.store import span_files

    counts = {"requests": 0, "gateway": 0, "lambda": 0, "aws": 0}
    import orjson

    for path in span_files(state_dir):
        for line in path.read_bytes().splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if int(record.get("start_ns") or 0) < since_ns:
                continue
            service = str(record.get("service"))
            counts[service] = counts.get(service, 0) + 1
            if service == "gateway" and record.get("kind") == "SERVER":
                counts["requests"] += 1
    return counts


def _environment(
    stack: contextlib.ExitStack, settings: Settings, tracing: bool
) -> tuple[Environment, Path, Any, str, Any, Any]:
    from harness.auth.providers import StackTokens
    from harness.deploy.engine import deploy_stack
    from harness.profile import load_profile
    from harness.scenario.plan import stack_traffic

    stack_dir = find_project_root(Path.cwd()) / "stacks" / "syncwell"
    profile = load_profile(stack_dir / "harness.yaml")
    traffic = stack_traffic(profile, None, str(stack_dir / "harness.yaml"))
    mode = "on" if tracing else "off"
    state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-tr-{mode}-")))
    env = stack.enter_context(
        Environment(dataclasses.replace(settings, state_dir=state_dir, tracing=tracing))
    )
    deployed = deploy_stack(env, stack_dir)
    base_url = deployed.apis[str((deployed.profile or {}).get("api"))].base_url
    traffic = with_bench_tenants(env, deployed, stack_dir, profile, traffic)
    return env, state_dir, deployed, base_url, traffic, StackTokens(state_dir, deployed.name)


def run(settings: Settings, runs: int = 3, quick: bool = False) -> dict[str, Any]:
    step_s = 20.0 if quick else 30.0
    costs = [in_process_cost() for _ in range(runs)]
    cost = {k: statistics.median(c[k] for c in costs) for k in ("gateway", "invocation", "call")}
    result: dict[str, Any] = {
        "benchmark": "tracing-cost",
        "target": "estimated_overhead (and, side by side, overhead.full_mix) < 0.05 on "
        f"SyncWell's nominal mix at {RATE:g} arrivals/s",
        "baseline": "the same environment with HARNESS_TRACING=0",
        "rate": RATE,
        "in_process_us": {
            key: spread([c[key] for c in costs]) for key in ("gateway", "invocation", "call")
        },
    }
    with contextlib.ExitStack() as stack:
        env, state_dir, deployed, base_url, traffic, tokens = _environment(stack, settings, True)
        warm = measure_step(env, state_dir, base_url, traffic, tokens, RATE, 10.0, 0)
        print_step("warm-up tracing on", warm)
        drain_queues(env, deployed)
        since = time.time_ns()
        step = measure_step(env, state_dir, base_url, traffic, tokens, RATE, step_s, 1)
        print_step("census tracing on", step)
        drain_queues(env, deployed)
        time.sleep(1.0)  # the span files' last flush
        counts = _census(state_dir, since)
    requests = max(1, counts["requests"])
    per_request = {
        "invocations": round(counts["lambda"] / requests, 3),
        "aws_calls": round(counts["aws"] / requests, 3),
        "gateway_spans": round(counts["gateway"] / requests, 3),
    }
    tracing_ms = (
        cost["gateway"]
        + per_request["invocations"] * cost["invocation"]
        + per_request["aws_calls"] * cost["call"]
    ) / 1000
    cpu_ms = sum(step["cpu_ms_per_request"].values())
    result["census"] = {
        "step": step,
        "spans": counts,
        "per_request": per_request,
        "cpu_ms_per_request": round(cpu_ms, 3),
        "tracing_ms_per_request": round(tracing_ms, 4),
        "slo_held": step["slo_held"],
    }
    result["estimated_overhead"] = round(tracing_ms / max(cpu_ms - tracing_ms, 1e-9), 5)
    # a step that broke its SLO (timeouts, throttles: a starved machine) measured failures, not
    # the mix: no verdict from it, whatever the ratio says
    result["census"]["verdict"] = (
        "measured" if step["slo_held"] else "inconclusive: the census step broke its SLO"
    )
    passed = (
        result["estimated_overhead"] < 0.05 and counts["requests"] > 0 and bool(step["slo_held"])
    )
    if not quick:
        result["side_by_side"] = _side_by_side(settings, runs, step_s)
        passed = passed and bool(result["side_by_side"].get("passed"))
    result["passed"] = passed
    return result


def _side_by_side(settings: Settings, runs: int, step_s: float) -> dict[str, Any]:
    pairs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        sides = {mode: _environment(stack, settings, mode == "on") for mode in ("off", "on")}

        def step(mode: str, duration: float, seed: int, label: str) -> dict[str, Any]:
            env, state_dir, deployed, base_url, traffic, tokens = sides[mode]
            summary = measure_step(env, state_dir, base_url, traffic, tokens, RATE, duration, seed)
            print_step(f"{label} tracing {mode}", summary)
            drain_queues(env, deployed)
            return summary

        for mode in ("off", "on"):
            step(mode, 10.0, 0, "warm-up")
        for index in range(runs):
            order = ("off", "on") if index % 2 == 0 else ("on", "off")
            measured = {m: step(m, step_s, 100 + index, f"pair {index + 1}/{runs}") for m in order}
            per = {
                m: {
                    "total": sum(measured[m]["cpu_ms_per_request"].values()),
                    "recorders": sum(
                        measured[m]["cpu_ms_per_request"].get(g, 0.0) for g in RECORDERS
                    ),
                }
                for m in measured
            }
            pairs.append(
                {
                    "pair": index + 1,
                    "order": list(order),
                    "off": measured["off"],
                    "on": measured["on"],
                    "slo_held": all(measured[m]["slo_held"] for m in measured),
                    "overhead": {
                        "full_mix": round(per["on"]["total"] / per["off"]["total"] - 1, 4),
                        "recording_processes": round(
                            per["on"]["recorders"] / per["off"]["recorders"] - 1, 4
                        ),
                    },
                }
            )
    overhead = {
        key: spread([p["overhead"][key] for p in pairs], 4)
        for key in ("full_mix", "recording_processes")
    }
    held = all(p["slo_held"] for p in pairs)
    return {
        "pairs": pairs,
        "overhead": overhead,
        "all_steps_held_their_slo": held,
        # a pair whose steps timed out compares failures, not the mix: no verdict from it
        "passed": held and overhead["full_mix"]["median"] < 0.05,
    }
