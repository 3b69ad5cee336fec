"""Runtime benchmark: (a) CPU overhead per warm invocation, (b) SQS source drain rate.

    .venv/bin/python benchmarks/bench_runtime.py              # full: 2,000 invokes, 10,000 messages
    .venv/bin/python benchmarks/bench_runtime.py --quick      # 500 invokes, 1,000 messages
    .venv/bin/python benchmarks/bench_runtime.py --invokes 2000 --messages 5000 --runs 3

(a) A no-op function is invoked N times over one keep-alive HTTP connection (the client is this
process and is not counted). Overhead = CPU of the runtime server process + CPU of the worker
process, minus the handler's own time as the worker measured it, divided by N. Target < 300 µs.

(b) The same queue depth is drained twice per run, side by side: by a plain loop of
ReceiveMessage(10) + DeleteMessageBatch against the emulator (its own rate, the baseline), and by
the runtime's SQS poller invoking a no-op handler with batches of 10. Target: poller rate ≥ 0.5x
the baseline's.

Prints min/median/max of ``--runs`` runs and saves JSON to benchmarks/results/runtime.json
(runtime_quick.json with --quick). ``run(settings, runs=, quick=)`` has the signature the
``harness bench`` registry expects.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.config import Settings  # noqa: E402
from harness.model import EventSourceSpec  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "rtkit", ROOT / "tests" / "fixtures" / "runtime" / "rtkit.py"
)
assert _spec and _spec.loader
rtkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtkit)


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


# -- (a) overhead per warm invocation ----------------------------------------------------------


def overhead_run(root: Path, invokes: int) -> dict[str, float]:
    runtime = rtkit.RuntimeUnderTest(None, root)
    runtime.deploy("bench", [rtkit.function("noop", "app.noop")], reload=False)
    process = runtime.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", process.port)
        path = "/2015-03-31/functions/noop/invocations"
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": "RequestResponse",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request",
            "X-Amz-Date": "20260101T000000Z",
            "User-Agent": "Boto3/1.44 md/Botocore#1.44 ua/2.1 os/linux lang/python#3.11",
        }

        def call() -> None:
            conn.request("POST", path, body=b'{"k": "v"}', headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        for _ in range(max(50, invokes // 10)):  # cold start + warm-up
            call()
        server = psutil.Process(process.process.pid)
        workers = server.children()
        assert len(workers) == 1, workers
        before_metrics = process.client.function_metrics("noop")["duration_ms"]["total"]
        cpu_before = _cpu(server) + _cpu(workers[0])
        started = time.perf_counter()
        for _ in range(invokes):
            call()
        wall = time.perf_counter() - started
        cpu_after = _cpu(server) + _cpu(workers[0])
        handler_ms = (
            process.client.function_metrics("noop")["duration_ms"]["total"] - before_metrics
        )
        conn.close()
        total_us = (cpu_after - cpu_before) * 1e6 / invokes
        return {
            "overhead_cpu_us": total_us - handler_ms * 1000 / invokes,
            "total_cpu_us": total_us,
            "handler_us": handler_ms * 1000 / invokes,
            "wall_us": wall * 1e6 / invokes,
        }
    finally:
        runtime.stop()


# -- (b) SQS drain rate ------------------------------------------------------------------------


def _fill(sqs: Any, url: str, count: int) -> None:
    for start in range(0, count, 10):
        n = min(10, count - start)
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(n)],
        )


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _baseline_drain(sqs: Any, url: str, count: int) -> float:
    drained = 0
    started = time.perf_counter()
    while drained < count:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            continue
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        drained += len(messages)
    return count / (time.perf_counter() - started)


def drain_run(env: Any, root: Path, messages: int, run: int) -> dict[str, float]:
    sqs = env.client("sqs", direct=True)  # the emulator's own rate: no edge hop
    base_url = sqs.create_queue(QueueName=f"bench-rt-base-{run}")["QueueUrl"]
    _fill(sqs, base_url, messages)
    baseline = _baseline_drain(sqs, base_url, messages)
    sqs.delete_queue(QueueUrl=base_url)

    url = sqs.create_queue(QueueName=f"bench-rt-src-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _fill(sqs, url, messages)
    runtime = rtkit.RuntimeUnderTest(env.state_dir, root / f"drain-{run}")
    runtime.deploy("bench", [rtkit.function("noop", "app.noop")], reload=False)
    process = runtime.start()
    try:
        runtime.deploy(
            "bench",
            [rtkit.function("noop", "app.noop")],
            [EventSourceSpec(kind="sqs", function="noop", source_arn=arn, batch_size=10, name="B")],
        )
        started = time.perf_counter()
        while True:
            sources = process.client.metrics()["event_sources"]
            done = sources[0]["records"] if sources else 0
            if done >= messages:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rate = messages / elapsed
        remaining = _depth(sqs, url)
    finally:
        runtime.stop()
        sqs.delete_queue(QueueUrl=url)
    return {
        "baseline_msgs_s": baseline,
        "poller_msgs_s": rate,
        "ratio": rate / baseline,
        "left": remaining,
    }


# -- driver ------------------------------------------------------------------------------------


def run(
    settings: Settings | None = None,
    *,
    runs: int = 3,
    quick: bool = False,
    invokes: int | None = None,
    messages: int | None = None,
) -> dict[str, Any]:
    from harness.env.environment import Environment

    invokes = invokes or (500 if quick else 2000)
    messages = messages or (1000 if quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        root = Path(tmp)
        overhead = [overhead_run(root / f"overhead-{i}", invokes) for i in range(runs)]
        env_settings = Settings.load(
            state_dir=root / "env", backend=(settings.backend if settings else None)
        )
        with Environment(env_settings) as env:
            drains = [drain_run(env, root, messages, i) for i in range(runs)]
    result = {
        "benchmark": "runtime",
        "invokes": invokes,
        "messages": messages,
        "runs": runs,
        "overhead": {
            "baseline": "target: < 300 µs CPU per warm invocation (server + worker - handler)",
            "overhead_cpu_us": spread([o["overhead_cpu_us"] for o in overhead], 1),
            "total_cpu_us": spread([o["total_cpu_us"] for o in overhead], 1),
            "handler_us": spread([o["handler_us"] for o in overhead], 2),
            "wall_us": spread([o["wall_us"] for o in overhead], 1),
            "passed": statistics.median([o["overhead_cpu_us"] for o in overhead]) < 300,
        },
        "sqs_drain": {
            "baseline": "the emulator's own ReceiveMessage(10)+DeleteMessageBatch loop, same depth",
            "baseline_msgs_s": spread([d["baseline_msgs_s"] for d in drains], 1),
            "poller_msgs_s": spread([d["poller_msgs_s"] for d in drains], 1),
            "ratio": spread([d["ratio"] for d in drains], 2),
            "left_in_queue": max(d["left"] for d in drains),
            "passed": statistics.median([d["ratio"] for d in drains]) >= 0.5,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    result["passed"] = result["overhead"]["passed"] and result["sqs_drain"]["passed"]
    return result


def _print(result: dict[str, Any]) -> None:
    o, d = result["overhead"], result["sqs_drain"]

    def fmt(s: dict[str, float]) -> str:
        return f"{s['median']} [{s['min']}-{s['max']}]"

    print(f"runtime benchmark: {result['runs']} runs (median [min-max])")
    print(f"(a) {result['invokes']} warm no-op invokes")
    print(
        f"    overhead CPU per invoke (server+worker-handler): {fmt(o['overhead_cpu_us'])} µs  target < 300  {'PASS' if o['passed'] else 'FAIL'}"
    )
    print(
        f"    total CPU per invoke: {fmt(o['total_cpu_us'])} µs; handler: {fmt(o['handler_us'])} µs; wall: {fmt(o['wall_us'])} µs"
    )
    print(f"(b) draining {result['messages']} SQS messages")
    print(f"    emulator receive+delete loop: {fmt(d['baseline_msgs_s'])} msg/s")
    print(f"    runtime SQS poller (no-op):   {fmt(d['poller_msgs_s'])} msg/s")
    print(f"    ratio: {fmt(d['ratio'])}  target >= 0.5  {'PASS' if d['passed'] else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--invokes", type=int, default=None)
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(runs=args.runs, quick=args.quick, invokes=args.invokes, messages=args.messages)
    folder = Path(os.environ.get("HARNESS_RESULTS_DIR") or ROOT / "benchmarks" / "results")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"runtime{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2) if args.json else "", end="")
    _print(result)
    print(f"saved {path}")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
