"""Benchmark ``gateway``: the gateway's throughput vs a bare ASGI app on the same server.

Side by side in one run, with the same server software (the daemon's: ``--server uvicorn``, its
default, or ``--server lean``, the httptools server of harness/daemon/server.py), the
same worker count and the same load settings:

* **bare** — a hello-world ASGI app (``hello`` below), served by
  ``python -m harness.daemon --app bench_gateway:hello --workers W`` (same server);
* **gateway** — ``python -m harness.daemon --workers W`` serving ``GET /bench/HttpApi/noop``:
  a JWT-authorized route (RS256 token from the local issuer), throttled (route throttle + the
  tenant's usage-plan bucket + quota, checked by the Lua script on a real Redis through token
  leases — limits set high so nothing is refused), Lambda proxy integration (payload 2.0)
  to a no-op Python handler (``tests/fixtures/gateway/handlers.py``) in the real runtime
  (``python -m harness.runtime``: its own execution-environment process per concurrent call),
  reached over the invoke channel (``--channel on``, the default) or the Invoke API over HTTP
  (``--channel off``). ``--target fake`` swaps the runtime for a fake Invoke API that runs the
  handler in its own process (``tests/fixtures/gateway/fake_runtime.py``, HTTP only).

Load: Locust ``FastHttpUser`` headless (``--users U``, no wait time), one Locust process; the
same settings for both targets, alternating 5-second slices (bare, gateway, bare, ...) so that
both see the same background load on a shared machine. Reports requests/s of each, the ratio gateway/bare (target
≥ 0.5) and CPU microseconds per request in the gateway workers, in the invoke target (fake
runtime process) and inside the handler, over ``--runs`` runs (min/median/max). Also the CPU
per request of the bare server and of Locust itself (``bare_server``, ``locust_bare``,
``locust_gateway``): both targets share the 2 cores with the load generator, whose CPU per
request is several times the bare server's, so these say what the ratio is made of. Saves JSON to
``benchmarks/results/gateway.json``.

    .venv/bin/python benchmarks/bench_gateway.py [--runs 3] [--duration 15] [--users 32]
        [--target real|fake] [--server uvicorn|lean] [--channel on|off]

``--tracing`` measures what live tracing costs instead: two gateway + runtime sets, tracing off
(``HARNESS_TRACING=0``) and on, the same JWT route, alternating slices; CPU per request of each
set's gateway workers, runtime server and runtime workers, and ``overhead`` = on / off - 1
(target: the whole gateway path < 10%). Saves ``benchmarks/results/gateway_tracing.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.5
GATEWAY_PATH = "/bench/HttpApi/noop"


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The bare baseline: the smallest useful ASGI app."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


LOCUSTFILE = """
import os
from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

PATH = os.environ["BENCH_PATH"]
HEADERS = {"Authorization": os.environ["BENCH_AUTH"]} if os.environ.get("BENCH_AUTH") else {}
RATE = float(os.environ.get("BENCH_USER_RPS") or 0)  # per user; 0: as fast as answered


class Client(FastHttpUser):
    wait_time = constant_throughput(RATE) if RATE else constant(0)

    @task
    def call(self):
        with self.client.get(PATH, headers=HEADERS, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
"""


def _stack(gateway_url: str) -> Any:
    from harness.model import (
        ApiSpec,
        AuthorizerSpec,
        DeployedStack,
        FunctionSpec,
        IntegrationSpec,
        RouteSpec,
        ThrottleSpec,
        UsagePlanSpec,
    )

    fn = FunctionSpec(
        logical_id="NoopFn",
        name="noop",
        arn="arn:aws:lambda:us-east-1:123456789012:function:noop",
        handler="handlers.noop",
        runtime="python3.11",
        code_dir=str(ROOT / "tests" / "fixtures" / "gateway"),
    )
    issuer = f"{gateway_url}/_harness/issuer"
    api = ApiSpec(
        logical_id="HttpApi",
        kind="http",
        api_id="bench1",
        stage="$default",
        base_url=f"{gateway_url}/bench/HttpApi",
        routes=[
            RouteSpec(
                "GET",
                "/noop",
                IntegrationSpec(type="lambda", function="NoopFn", payload_format="2.0"),
                authorizer="jwt",
                throttle=ThrottleSpec(rate=1_000_000, burst=2_000_000),
            )
        ],
        authorizers={"jwt": AuthorizerSpec("jwt", "jwt", issuer=issuer, audience=["bench"])},
        usage_plans=[
            UsagePlanSpec(
                "Bench", ThrottleSpec(1_000_000, 2_000_000), 10**12, "MONTH", tier="bench"
            )
        ],
    )
    return DeployedStack(
        name="bench",
        stack_dir=str(ROOT),
        template_path="",
        deployed_at=time.time(),
        functions={"NoopFn": fn},
        apis={"HttpApi": api},
        profile={
            "tenancy": {
                "tenant_claim": "custom:tenant_id",
                "tier_claim": "custom:tier",
                "require_tenant": True,
                "tiers": {"bench": {"usage_plan": "Bench"}},
            }
        },
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, path: str = "/", timeout: float = 30.0) -> None:
    import http.client

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} does not answer")


def _tree_cpu(pid: int, part: str = "all") -> float:
    """CPU seconds (user+system) of a process and its children (``part``: all, self, children).

    Children that exited in between are not counted (the real runtime keeps its workers warm).
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
        procs = {"all": [proc, *children], "self": [proc], "children": children}[part]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _locust(
    url: str, path: str, auth: str | None, users: int, duration: int, work: Path,
    user_rps: float = 0.0,
) -> dict[str, float]:  # fmt: skip
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = work / f"stats-{time.time_ns()}"
    env = {**os.environ, "BENCH_PATH": path, "BENCH_AUTH": auth or "",
           "BENCH_USER_RPS": str(user_rps)}  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")), "-f", str(locustfile), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--host", url,
            "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "2",
        ],
        env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=duration + 60,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    locust_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    agg = rows["Aggregated"]
    errors: dict[str, int] = {}
    with open(f"{prefix}_failures.csv") as handle:
        for row in csv.DictReader(handle):
            errors[row["Error"]] = errors.get(row["Error"], 0) + int(row["Occurrences"])

    def number(text: str) -> float:  # "N/A" when nothing completed (a cold warm-up slice)
        try:
            return float(text)
        except ValueError:
            return 0.0

    result: dict[str, Any] = {
        "errors": errors,
        "requests": number(agg["Request Count"]),
        "failures": number(agg["Failure Count"]),
        "rps": number(agg["Requests/s"]),
        "p50_ms": number(agg["50%"]),
        "p99_ms": number(agg["99%"]),
        "locust_cpu_s": locust_cpu,
    }
    return result


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several slices of one target as one: total requests, mean RPS, worst percentiles."""
    errors: dict[str, int] = {}
    for part in parts:
        for key, count in part["errors"].items():
            errors[key] = errors.get(key, 0) + count
    return {
        "errors": errors,
        "requests": sum(p["requests"] for p in parts),
        "failures": sum(p["failures"] for p in parts),
        "rps": statistics.mean(p["rps"] for p in parts),
        "p50_ms": statistics.median(p["p50_ms"] for p in parts),
        "p99_ms": max(p["p99_ms"] for p in parts),
        "slices_rps": [round(p["rps"], 1) for p in parts],
        "locust_cpu_s": sum(p["locust_cpu_s"] for p in parts),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


def _target_stats(target: str, port: int) -> dict[str, float]:
    """Invocations served so far (and, for the fake runtime, CPU inside handlers)."""
    import http.client

    from harness.env.secret import headers_for

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    path = "/_fake/calls" if target == "fake" else "/_harness/runtime/metrics"
    conn.request("GET", path, headers=headers_for(f"http://127.0.0.1:{port}"))
    data = json.loads(conn.getresponse().read())
    conn.close()
    if target == "fake":
        return {"calls": data["handler_calls"], "handler_cpu_s": data["handler_cpu_s"]}
    calls = sum(f.get("invocations", 0) for f in data.get("functions", {}).values())
    return {"calls": calls, "handler_cpu_s": 0.0}


def _default_target() -> str:
    return "real" if (ROOT / "harness" / "runtime" / "__main__.py").exists() else "fake"


def run(
    runs: int = 3,
    duration: int = 15,
    users: int = 32,
    workers: int | None = None,
    target: str = "fake",
    server: str = "uvicorn",
    channel: bool = True,
) -> dict[str, Any]:
    from harness.tokens import LocalIssuer

    workers = workers or os.cpu_count() or 2
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    state = work / "state"
    ports = {name: _free_port() for name in ("gateway", "bare", "runtime", "redis")}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    state.mkdir(parents=True)
    (state / "state.json").write_text(
        json.dumps(
            {
                "format": 1,
                "backend": "bench",
                "endpoints": {
                    "gateway_url": gateway_url,
                    "runtime_url": f"http://127.0.0.1:{ports['runtime']}",
                    "aws_endpoint": f"http://127.0.0.1:{ports['runtime']}",
                    "redis_url": f"redis://127.0.0.1:{ports['redis']}/0",
                    "region": "us-east-1",
                },
            }
        )
    )
    _stack(gateway_url).save(state)
    token = LocalIssuer(state, gateway_url).mint(
        "bench-user", tenant="bench-tenant", tier="bench", client_id="bench", expires_in=86400
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    log = open(work / "servers.log", "ab")  # noqa: SIM115
    try:
        procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(ports["redis"]), "--save", "", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if target == "real":
            from harness.env.secret import ensure_secret, register

            ensure_secret(state)  # the runtime's metrics are control API: they need the secret
            register({"runtime_url": f"http://127.0.0.1:{ports['runtime']}"}, state)
            procs["runtime"] = subprocess.Popen(
                [sys.executable, "-m", "harness.runtime", "--port", str(ports["runtime"]),
                 "--state-dir", str(state), "--log-level", "WARNING"],
                stdout=log, stderr=log, cwd=str(ROOT),
            )  # fmt: skip
        else:
            procs["runtime"] = subprocess.Popen(
                [sys.executable, str(ROOT / "tests/fixtures/gateway/fake_runtime.py"),
                 "--port", str(ports["runtime"])],
                stdout=log, stderr=log,
            )  # fmt: skip
        procs["gateway"] = subprocess.Popen(
            [sys.executable, "-m", "harness.daemon", "--port", str(ports["gateway"]),
             "--workers", str(workers), "--state-dir", str(state), "--server", server],
            stdout=log, stderr=log, cwd=str(ROOT),
            env={**os.environ, "HARNESS_GATEWAY_INVOKE_CHANNEL": "1" if channel else "0"},
        )  # fmt: skip
        # the bare app on the same server software, same worker count (the daemon's options)
        procs["bare"] = subprocess.Popen(
            [sys.executable, "-m", "harness.daemon", "--app", "bench_gateway:hello",
             "--port", str(ports["bare"]), "--workers", str(workers), "--state-dir", str(state),
             "--server", server],
            stdout=log, stderr=log, cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        )  # fmt: skip
        _wait(ports["runtime"], "/_fake/calls" if target == "fake" else "/_harness/health")
        _wait(ports["gateway"], "/_harness/health")
        _wait(ports["bare"])
        _locust(gateway_url, GATEWAY_PATH, f"Bearer {token}", users, 3, work)  # warm-up
        _locust(f"http://127.0.0.1:{ports['bare']}", "/", None, users, 3, work)
        results: list[dict[str, Any]] = []
        slices = max(1, duration // 5)  # alternate 5 s slices: both see the same machine load
        for index in range(runs):
            bare_parts: list[dict[str, Any]] = []
            gw_parts: list[dict[str, Any]] = []
            gw_cpu = rt_cpu = workers_cpu = bare_cpu = 0.0
            stats_before = _target_stats(target, ports["runtime"])
            for _slice in range(slices):
                before_bare = _tree_cpu(procs["bare"].pid)
                bare_parts.append(
                    _locust(f"http://127.0.0.1:{ports['bare']}", "/", None, users, 5, work)
                )
                bare_cpu += _tree_cpu(procs["bare"].pid) - before_bare
                before_gw = _tree_cpu(procs["gateway"].pid)
                before_rt = _tree_cpu(procs["runtime"].pid, "self")
                before_workers = _tree_cpu(procs["runtime"].pid, "children")
                gw_parts.append(
                    _locust(gateway_url, GATEWAY_PATH, f"Bearer {token}", users, 5, work)
                )
                gw_cpu += _tree_cpu(procs["gateway"].pid) - before_gw
                rt_cpu += _tree_cpu(procs["runtime"].pid, "self") - before_rt
                workers_cpu += _tree_cpu(procs["runtime"].pid, "children") - before_workers
            stats_after = _target_stats(target, ports["runtime"])
            bare, gw = _merge(bare_parts), _merge(gw_parts)
            handled = max(1, stats_after["calls"] - stats_before["calls"])
            if target == "fake":  # handlers run inside the fake runtime's process
                handler_cpu = stats_after["handler_cpu_s"] - stats_before["handler_cpu_s"]
                rt_cpu -= handler_cpu
            else:  # the real runtime's worker processes: bootstrap loop + handler
                handler_cpu = workers_cpu
            n = max(1.0, gw["requests"])
            n_bare = max(1.0, bare["requests"])
            result = {
                "run": index + 1,
                "bare": bare,
                "gateway": gw,
                "ratio": round(gw["rps"] / bare["rps"], 3) if bare["rps"] else 0.0,
                "cpu_us_per_request": {
                    "gateway_workers": round(gw_cpu / n * 1e6, 1),
                    "invoke_target": round(rt_cpu / handled * 1e6, 1),
                    "handler": round(handler_cpu / handled * 1e6, 2),
                    # what the ratio is made of: ratio ~ (locust + bare) / (locust + path)
                    "bare_server": round(bare_cpu / n_bare * 1e6, 1),
                    "locust_bare": round(bare["locust_cpu_s"] / n_bare * 1e6, 1),
                    "locust_gateway": round(gw["locust_cpu_s"] / n * 1e6, 1),
                },
            }
            results.append(result)
            print(json.dumps(result), flush=True)
        summary = {
            "benchmark": "gateway",
            "load": f"Locust {_locust_version()} FastHttpUser headless, {users} users, no wait, "
            f"{slices} alternating 5 s slices per target per run, one Locust process",
            "server": f"{server} (python -m harness.daemon --server {server}), {workers} workers, "
            "for both",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "target_ratio": TARGET_RATIO,
            "runs": results,
            "bare_rps": _spread([r["bare"]["rps"] for r in results]),
            "gateway_rps": _spread([r["gateway"]["rps"] for r in results]),
            "ratio": _spread([r["ratio"] for r in results]),
            "gateway_failures": sum(r["gateway"]["failures"] for r in results),
            "cpu_us_per_request": {
                key: _spread([r["cpu_us_per_request"][key] for r in results])
                for key in results[0]["cpu_us_per_request"]
            },
            "invoke_target": (
                "fake Invoke API (tests/fixtures/gateway/fake_runtime.py); handler = CPU inside "
                "the handler call"
                if target == "fake"
                else "the real runtime (python -m harness.runtime): invoke_target = its server "
                "process, handler = its worker processes (bootstrap loop + handler)"
            ),
            "gateway_to_runtime": "invoke channel" if channel and target == "real" else "HTTP",
        }
        summary["passed"] = summary["ratio"]["median"] >= TARGET_RATIO
        return summary
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def _gateway_set(
    work: Path, name: str, tracing: bool, workers: int, server: str, redis_port: int,
    log: Any, procs: dict[str, subprocess.Popen[bytes]],
) -> tuple[int, int, str]:  # fmt: skip
    """A gateway daemon and a real runtime on their own state folder, tracing on or off
    (``HARNESS_TRACING``); returns (gateway port, runtime port, bearer token)."""
    from harness.env.secret import ensure_secret, register
    from harness.tokens import LocalIssuer

    state = work / name
    state.mkdir(parents=True)
    gw_port, rt_port = _free_port(), _free_port()
    gateway_url = f"http://127.0.0.1:{gw_port}"
    endpoints = {
        "gateway_url": gateway_url,
        "runtime_url": f"http://127.0.0.1:{rt_port}",
        "aws_endpoint": f"http://127.0.0.1:{rt_port}",
        "redis_url": f"redis://127.0.0.1:{redis_port}/0",
        "region": "us-east-1",
    }
    (state / "state.json").write_text(
        json.dumps({"format": 1, "backend": "bench", "endpoints": endpoints})
    )
    _stack(gateway_url).save(state)
    token = LocalIssuer(state, gateway_url).mint(
        "bench-user", tenant=f"bench-{name}", tier="bench", client_id="bench", expires_in=86400
    )
    ensure_secret(state)
    register({"runtime_url": endpoints["runtime_url"]}, state)
    env = {**os.environ, "HARNESS_TRACING": "1" if tracing else "0", "HARNESS_TRACE_RUN": name}
    procs[f"runtime-{name}"] = subprocess.Popen(
        [sys.executable, "-m", "harness.runtime", "--port", str(rt_port),
         "--state-dir", str(state), "--log-level", "WARNING"],
        stdout=log, stderr=log, cwd=str(ROOT), env=env,
    )  # fmt: skip
    procs[f"gateway-{name}"] = subprocess.Popen(
        [sys.executable, "-m", "harness.daemon", "--port", str(gw_port),
         "--workers", str(workers), "--state-dir", str(state), "--server", server],
        stdout=log, stderr=log, cwd=str(ROOT), env=env,
    )  # fmt: skip
    _wait(rt_port, "/_harness/health")
    _wait(gw_port, "/_harness/health")
    return gw_port, rt_port, f"Bearer {token}"


# what the gateway path costs without tracing on a quiet machine (results/gateway.json, medians:
# gateway workers + runtime server + runtime workers), the denominator of the in-process figure
QUIET_PATH_US = 190.9 + 83.3 + 146.4


# the tracing comparison runs both sets at the same fixed rate (users x this, open enough to be
# under capacity on a busy machine): CPU per request depends on throughput (batching in the event
# loops), so "as fast as answered" would compare two different loads
RATE_PER_USER = 10.0


def run_tracing(
    runs: int = 3, duration: int = 15, users: int = 16, workers: int | None = None,
    server: str = "uvicorn",
) -> dict[str, Any]:  # fmt: skip
    """Tracing on vs off, side by side: two gateway + runtime sets (HARNESS_TRACING=1 / 0), the
    same route, the same fixed rate (``users`` x ``RATE_PER_USER`` requests/s), alternating
    5-second slices (off, on, off, ...); CPU
    per request of each set's gateway workers, runtime server and runtime workers (the gateway
    path). ``overhead`` = on / off - 1 per run, for the gateway workers alone and the whole path."""
    workers = workers or os.cpu_count() or 2
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-tracing-"))
    redis_port = _free_port()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    log = open(work / "servers.log", "ab")  # noqa: SIM115
    try:
        procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--save", "", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        sets = {
            mode: _gateway_set(work, mode, mode == "on", workers, server, redis_port, log, procs)
            for mode in ("off", "on")
        }
        for gw_port, _, token in sets.values():  # warm-up: environments, JIT-free caches
            _locust(f"http://127.0.0.1:{gw_port}", GATEWAY_PATH, token, users, 3, work)
        slices = max(1, duration // 5)
        results: list[dict[str, Any]] = []
        for index in range(runs):
            measured: dict[str, dict[str, Any]] = {}
            parts: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            cpu = {m: {"gateway": 0.0, "runtime": 0.0, "workers": 0.0} for m in sets}
            for _slice in range(slices):
                for mode, (gw_port, _rt, token) in sets.items():
                    gw, rt = procs[f"gateway-{mode}"].pid, procs[f"runtime-{mode}"].pid
                    before = (_tree_cpu(gw), _tree_cpu(rt, "self"), _tree_cpu(rt, "children"))
                    parts[mode].append(
                        _locust(
                            f"http://127.0.0.1:{gw_port}", GATEWAY_PATH, token, users, 5, work,
                            RATE_PER_USER,
                        )
                    )  # fmt: skip
                    cpu[mode]["gateway"] += _tree_cpu(gw) - before[0]
                    cpu[mode]["runtime"] += _tree_cpu(rt, "self") - before[1]
                    cpu[mode]["workers"] += _tree_cpu(rt, "children") - before[2]
            for mode in sets:
                merged = _merge(parts[mode])
                n = max(1.0, merged["requests"])
                per = {k: round(v / n * 1e6, 1) for k, v in cpu[mode].items()}
                per["path"] = round(sum(per.values()), 1)
                measured[mode] = {"load": merged, "cpu_us_per_request": per}
            off, on = measured["off"]["cpu_us_per_request"], measured["on"]["cpu_us_per_request"]
            result = {
                "run": index + 1,
                **measured,
                "overhead": {
                    "gateway_workers": round(on["gateway"] / off["gateway"] - 1, 4),
                    "gateway_path": round(on["path"] / off["path"] - 1, 4),
                },
            }
            results.append(result)
            print(json.dumps(result["overhead"]), flush=True)
        summary = {
            "benchmark": "gateway-tracing",
            "load": f"Locust {_locust_version()} FastHttpUser headless, {users} users at "
            f"{RATE_PER_USER:g} requests/s each (constant_throughput), {slices} alternating 5 s "
            "slices per set per run, one Locust process",
            "sets": "tracing off (HARNESS_TRACING=0) and on (default), each a gateway daemon "
            f"({server}, {workers} workers) and a real runtime on its own state folder, one Redis",
            "route": "GET /bench/HttpApi/noop: JWT, route + usage-plan throttle, Lambda proxy "
            "to a no-op Python handler (5 spans a request: request, route, authorizer, "
            "throttle, integration; 1 invocation span)",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "target": "overhead.gateway_path < 0.10",
            "runs": results,
            "cpu_us_per_request": {
                mode: {
                    key: _spread([r[mode]["cpu_us_per_request"][key] for r in results])
                    for key in results[0][mode]["cpu_us_per_request"]
                }
                for mode in ("off", "on")
            },
            "overhead": {
                key: _spread([r["overhead"][key] for r in results])
                for key in ("gateway_workers", "gateway_path")
            },
            "failures": {m: sum(r[m]["load"]["failures"] for r in results) for m in ("off", "on")},
        }
        from harness.bench.tracing_cost import in_process_cost

        costs = [in_process_cost() for _ in range(runs)]
        summary["in_process_us_per_request"] = {
            key: _spread([c[key] for c in costs]) for key in ("gateway", "invocation", "total")
        }
        summary["in_process_share_of_path"] = {
            "of_this_run_off_path": round(
                statistics.median(c["total"] for c in costs)
                / summary["cpu_us_per_request"]["off"]["path"]["median"],
                4,
            ),
            "of_quiet_machine_path": round(
                statistics.median(c["total"] for c in costs) / QUIET_PATH_US, 4
            ),
            "quiet_machine_path_us": QUIET_PATH_US,
        }
        summary["passed"] = (
            summary["overhead"]["gateway_path"]["median"] < 0.10
            and summary["in_process_share_of_path"]["of_quiet_machine_path"] < 0.10
        )
        return summary
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def _locust_version() -> str:
    try:
        from importlib.metadata import version

        return version("locust")
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--target",
        choices=("real", "fake"),
        default=_default_target(),
        help="invoke target: the real runtime (default when present) or the fake Invoke API",
    )
    parser.add_argument(
        "--server", choices=("lean", "uvicorn"), default="uvicorn",
        help="the daemon's HTTP server, used for both the gateway and the bare app",
    )  # fmt: skip
    parser.add_argument(
        "--channel", choices=("on", "off"), default="on",
        help="gateway to runtime over the invoke channel (on) or the Invoke API over HTTP (off)",
    )  # fmt: skip
    parser.add_argument(
        "--tracing", action="store_true",
        help="instead of bare vs gateway: the gateway with tracing off vs on, side by side "
        "(saves benchmarks/results/gateway_tracing.json)",
    )  # fmt: skip
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.tracing:
        summary = run_tracing(args.runs, args.duration, 16, args.workers, args.server)
        out = Path(args.out or ROOT / "benchmarks" / "results" / "gateway_tracing.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
        print(json.dumps({k: summary[k] for k in ("cpu_us_per_request", "overhead", "failures",
                                                   "in_process_us_per_request",
                                                   "in_process_share_of_path", "passed")},
                         indent=2))  # fmt: skip
        return 0 if summary["passed"] else 1
    args.out = args.out or str(ROOT / "benchmarks" / "results" / "gateway.json")
    summary = run(
        args.runs, args.duration, args.users, args.workers, args.target, args.server,
        args.channel == "on",
    )  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("bare_rps", "gateway_rps", "ratio",
                                               "cpu_us_per_request", "passed")}, indent=2))  # fmt: skip
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
