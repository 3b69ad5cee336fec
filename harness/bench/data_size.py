"""Benchmark ``data-size``: does an emulator's cost per operation stay flat as data grows?

For DynamoDB GetItem and Query (10 vs 10,000 items in the table) and SQS SendMessage and
ReceiveMessage+DeleteMessageBatch (queue depth ~0 vs 10,000) it measures, against the emulator
serving that service in a private environment:

- server CPU per operation: CPU seconds of the emulator process (psutil) over N calls / N,
- wall time per operation, as seen by one boto3 client.

The baseline is the same operation on the same emulator with little data; the target is a
large/small ratio under 2 (issue: "must differ by less than 2x"). It also reports the AWS edge's
own CPU per forwarded call, which every handler's AWS call pays.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.bench import spread
from harness.config import Settings
from harness.env.environment import Environment

__all__ = ["run"]

TARGET_RATIO = 2.0


def _proc(env: Environment, service: str) -> tuple[psutil.Process, str]:
    """The process serving ``service`` directly, and its component name."""
    services = env.endpoints["services"]
    url = services.get(service, services["default"])
    record = next(p for p in env.processes if p.endpoint == url)
    return psutil.Process(record.pid), record.name


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    total = times.user + times.system
    for child in proc.children(recursive=True):
        try:
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        except psutil.Error:
            pass
    return total


def _measure(proc: psutil.Process, calls: int, func: Callable[[int], None]) -> tuple[float, float]:
    """(server CPU ms per op, wall ms per op) over ``calls`` calls of ``func(i)``."""
    cpu0, wall0 = _cpu(proc), time.perf_counter()
    for i in range(calls):
        func(i)
    wall = time.perf_counter() - wall0
    cpu = _cpu(proc) - cpu0
    return cpu * 1000 / calls, wall * 1000 / calls


def _dynamodb(env: Environment, calls: int, large: int) -> dict[str, dict[str, float]]:
    ddb = env.client("dynamodb", direct=True)
    proc, _ = _proc(env, "dynamodb")
    table = f"bench-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    payload = {"S": "x" * 200}

    def put_many(pks: range, per_pk: int) -> None:
        batch: list[dict[str, Any]] = []
        for p in pks:
            for s in range(per_pk):
                item = {"pk": {"S": f"TENANT#{p}"}, "sk": {"S": f"ITEM#{s:05d}"}, "data": payload}
                batch.append({"PutRequest": {"Item": item}})
                if len(batch) == 25:
                    ddb.batch_write_item(RequestItems={table: batch})
                    batch = []
        if batch:
            ddb.batch_write_item(RequestItems={table: batch})

    def get(i: int) -> None:
        ddb.get_item(
            TableName=table, Key={"pk": {"S": "TENANT#0"}, "sk": {"S": f"ITEM#{i % 10:05d}"}}
        )

    def query(i: int) -> None:
        ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "TENANT#0"}},
            Limit=10,
        )

    put_many(range(1), 10)  # 10 items
    for _ in range(2):  # warm up (JIT) so the small case is not penalised
        _measure(proc, calls, get)
        _measure(proc, calls, query)
    small = {"GetItem": _measure(proc, calls, get), "Query": _measure(proc, calls, query)}
    # grow to `large` items: TENANT#0 gets 100 items, the rest spread over other partitions
    per_pk = 100
    ddb.delete_item(TableName=table, Key={"pk": {"S": "TENANT#0"}, "sk": {"S": "ITEM#00000"}})
    put_many(range(1), per_pk)
    put_many(range(1, large // per_pk), per_pk)
    count = ddb.scan(TableName=table, Select="COUNT")["Count"]
    big = {"GetItem": _measure(proc, calls, get), "Query": _measure(proc, calls, query)}
    ddb.delete_table(TableName=table)
    return {
        f"dynamodb.{op}": {"small": small[op], "large": big[op], "items_large": count}  # type: ignore[dict-item]
        for op in small
    }


def _sqs(env: Environment, calls: int, large: int) -> dict[str, dict[str, Any]]:
    sqs = env.client("sqs", direct=True)
    proc, _ = _proc(env, "sqs")
    url = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def send(i: int) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}")

    def fill(n: int) -> None:
        for start in range(0, n, 10):
            entries = [
                {"Id": str(j), "MessageBody": f"fill-{start + j}"}
                for j in range(min(10, n - start))
            ]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)

    def receive_delete(i: int) -> None:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]}
                    for j, m in enumerate(messages)
                ],
            )

    sqs.purge_queue(QueueUrl=url)
    small_send = _measure(proc, calls, send)
    sqs.purge_queue(QueueUrl=url)
    cycles = max(10, calls // 10)
    fill(cycles * 10)  # depth ~0: the cycles empty it
    small_recv = _measure(proc, cycles, receive_delete)
    sqs.purge_queue(QueueUrl=url)
    fill(large)
    depth = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    large_recv = _measure(proc, cycles, receive_delete)
    large_send = _measure(proc, calls, send)
    sqs.delete_queue(QueueUrl=url)
    return {
        "sqs.SendMessage": {"small": small_send, "large": large_send, "depth_large": depth},
        "sqs.ReceiveMessage+DeleteMessageBatch": {
            "small": small_recv,
            "large": large_recv,
            "depth_large": depth,
            "per": "cycle of receive(10) + delete batch",
        },
    }


def _edge(env: Environment, calls: int) -> dict[str, float]:
    """CPU the edge spends per forwarded call (DynamoDB GetItem through aws_endpoint)."""
    ddb = env.client("dynamodb")
    edge = psutil.Process(next(p.pid for p in env.processes if p.name == "edge"))
    table = f"edge-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}})
    cpu, wall = _measure(
        edge, calls, lambda i: ddb.get_item(TableName=table, Key={"pk": {"S": "k"}})
    )
    ddb.delete_table(TableName=table)
    return {"edge_cpu_ms_per_call": cpu, "wall_ms_per_call": wall}


def run(settings: Settings, *, runs: int = 3, quick: bool = False) -> dict[str, Any]:
    calls = 100 if quick else 300
    large = 2_000 if quick else 10_000
    samples: dict[str, dict[str, list[float]]] = {}
    extra: dict[str, Any] = {}
    edge_samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        bench_settings = Settings.load(state_dir=Path(tmp), backend=settings.backend)
        with Environment(bench_settings) as env:
            engines = {op: _proc(env, op.split(".")[0])[1] for op in ("dynamodb", "sqs")}
            for run_no in range(runs):
                found = {**_dynamodb(env, calls, large), **_sqs(env, calls, large)}
                for op, values in found.items():
                    bucket = samples.setdefault(
                        op, {k: [] for k in ("small_cpu", "large_cpu", "small_wall", "large_wall")}
                    )
                    bucket["small_cpu"].append(values["small"][0])
                    bucket["large_cpu"].append(values["large"][0])
                    bucket["small_wall"].append(values["small"][1])
                    bucket["large_wall"].append(values["large"][1])
                    extra[op] = {k: v for k, v in values.items() if k not in ("small", "large")}
                edge_samples.append(_edge(env, calls)["edge_cpu_ms_per_call"])
                print(f"run {run_no + 1}/{runs} done")
    results: dict[str, Any] = {}
    for op, bucket in samples.items():
        ratio = statistics.median(bucket["large_cpu"]) / max(
            statistics.median(bucket["small_cpu"]), 1e-6
        )
        results[op] = {
            "server": engines[op.split(".")[0]],
            "server_cpu_ms": {
                "small": spread(bucket["small_cpu"]),
                "large": spread(bucket["large_cpu"]),
            },
            "wall_ms": {
                "small": spread(bucket["small_wall"]),
                "large": spread(bucket["large_wall"]),
            },
            "ratio_large_to_small_cpu": round(ratio, 2),
            "passed": ratio < TARGET_RATIO,
            **extra[op],
        }
    summary = {
        "benchmark": "data-size",
        "runs": runs,
        "calls_per_measurement": calls,
        "large_size": large,
        "baseline": "same operation on the same emulator with 10 items / an empty queue",
        "target": f"server CPU per op at {large} items (depth) < {TARGET_RATIO}x the small case",
        "results": results,
        "edge_cpu_ms_per_call": spread(edge_samples),
        # no operation measured: nothing to judge, so no pass (never all([]) == True)
        "passed": bool(results) and all(r["passed"] for r in results.values()),
        "status": "inconclusive"
        if not results
        else ("passed" if all(r["passed"] for r in results.values()) else "failed"),
    }
    _print(summary)
    return summary


def _print(summary: dict[str, Any]) -> None:
    print(f"data-size benchmark ({summary['runs']} runs; server CPU ms/op, median [min-max])")
    for op, r in summary["results"].items():
        s, l_ = r["server_cpu_ms"]["small"], r["server_cpu_ms"]["large"]
        print(
            f"  {op:<40} {r['server']:<15} small {s['median']:7.3f} [{s['min']:.3f}-{s['max']:.3f}]"
            f"  large {l_['median']:7.3f} [{l_['min']:.3f}-{l_['max']:.3f}]"
            f"  x{r['ratio_large_to_small_cpu']:<5} {'ok' if r['passed'] else 'OVER TARGET'}"
        )
    e = summary["edge_cpu_ms_per_call"]
    print(f"  edge CPU per forwarded call: {e['median']:.3f} ms [{e['min']:.3f}-{e['max']:.3f}]")
