"""`harness logs`: the three sources merged in time order, the filters, --follow, the edge call log."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.cli.logs import build_reader
from harness.edge.proxy import EdgeProxy, FaultDecision
from harness.edge.routing import RequestInfo
from harness.errors import ConfigError
from harness.model import DeployedStack, FunctionSpec
from harness.obs import JsonLinesLog, trace_root
from harness.obs.logs import LogReader, parse_record

T0 = 1_800_000_000.0


def _iso(epoch: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(epoch)))
        + f".{int(epoch % 1 * 1000):03d}Z"
    )


def _fn(function: str, at: float, rid: str, cid: str, message: str) -> dict[str, Any]:
    return {
        "function": function,
        "time": _iso(at),
        "requestId": rid,
        "correlationId": cid,
        "stream": "stdout",
        "level": "INFO",
        "message": message,
    }


def _gw(
    at: float, rid: str, cid: str, trace: str, stack: str = "shop", status: int = 200
) -> dict[str, Any]:
    return {
        "requestId": rid,
        "requestTimeEpoch": int(at * 1000),
        "httpMethod": "GET",
        "path": "/orders",
        "routeKey": "GET /orders",
        "status": status,
        "responseLatency": 4.2,
        "stack": stack,
        "correlationId": cid,
        "traceId": trace,
        "tenantId": "t1",
    }


def _edge(
    at: float, trace: str | None, op: str = "GetItem", status: int = 200, fault: bool = False
) -> dict[str, Any]:
    return {
        "time": at,
        "service": "dynamodb",
        "operation": op,
        "region": "us-east-1",
        "status": status,
        "durationMs": 1.5,
        "fault": fault,
        "traceId": trace,
    }


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    # request A: gateway -> function shop-orders -> one DynamoDB call (faulted)
    _write(
        logs / "access.log",
        [
            _gw(T0 + 0.000, "gw-a", "corr-a", "1-aaa"),
            _gw(T0 + 1.0, "gw-b", "corr-b", "1-bbb", stack="other"),
        ],
    )
    _write(
        logs / "functions" / "shop-orders.log",
        [
            _fn("shop-orders", T0 - 0.010, "fn-a", "corr-a", "handling A"),
            _fn("shop-orders", T0 + 0.5, "fn-c", "corr-c", "later"),
        ],
    )
    _write(
        logs / "functions" / "other-fn.log",
        [_fn("other-fn", T0 + 0.99, "fn-b", "corr-b", "handling B")],
    )
    _write(
        logs / "edge-calls.log",
        [
            _edge(T0 - 0.005, "1-aaa", status=500, fault=True),
            _edge(T0 + 0.995, "1-bbb", op="PutItem"),
        ],
    )
    for name, fn in (("shop", "shop-orders"), ("other", "other-fn")):
        DeployedStack(
            name=name,
            stack_dir=str(tmp_path),
            template_path=str(tmp_path / "template.yaml"),
            deployed_at=T0,
            functions={
                "Orders": FunctionSpec(
                    logical_id="Orders",
                    name=fn,
                    arn=f"arn:aws:lambda:us-east-1:000000000000:function:{fn}",
                    runtime="python3.12",
                    handler="app.h",
                    code_dir=str(tmp_path),
                )
            },
        ).save(tmp_path)
    return tmp_path


def test_three_sources_merged_in_time_order(state: Path) -> None:
    records = LogReader(state).read()
    assert [(r.source, r.name) for r in records] == [
        ("function", "shop-orders"),
        ("edge", "dynamodb"),
        ("gateway", "shop"),
        ("function", "shop-orders"),
        ("function", "other-fn"),
        ("edge", "dynamodb"),
        ("gateway", "other"),
    ]
    assert [r.time for r in records] == sorted(r.time for r in records)
    edge = records[1]
    assert edge.level == "ERROR" and "fault=injected" in edge.message


def test_trace_joins_gateway_function_and_edge(state: Path) -> None:
    for ident in ("gw-a", "corr-a", "1-aaa"):
        records = LogReader(state, trace=ident).read()
        assert {(r.source, r.raw.get("requestId") or r.raw.get("operation")) for r in records} == {
            ("gateway", "gw-a"),
            ("function", "fn-a"),
            ("edge", "GetItem"),
        }, ident
    assert LogReader(state, trace="nope").read() == []


def test_filter_since_stack_and_function(state: Path) -> None:
    assert [r.message for r in LogReader(state, text="HANDLING b").read()] == ["handling B"]
    assert all(r.time >= T0 + 0.5 for r in LogReader(state, since=T0 + 0.5).read())
    shop = LogReader(state, stack="shop", functions={"shop-orders"}).read()
    assert {r.source for r in shop} == {"function", "gateway", "edge"}
    assert all(r.name in ("shop", "shop-orders") or r.raw.get("traceId") == "1-aaa" for r in shop)
    only_fn = LogReader(state, functions={"other-fn"}).read()
    assert [r.source for r in only_fn] == ["function"]


def _args(state: Path, **kw: Any) -> argparse.Namespace:
    base = {"stack": None, "function": None, "since": None, "filter": None, "trace": None}
    return argparse.Namespace(state_dir=str(state), **{**base, **kw})


def test_bad_input_names_the_field(state: Path) -> None:
    with pytest.raises(ConfigError, match="--since"):
        build_reader(_args(state, since="soon"), state)
    with pytest.raises(ConfigError, match=r"no deployed stack named 'nope'.*deployed: other, shop"):
        build_reader(_args(state, stack="nope"), state)
    with pytest.raises(ConfigError, match="no function 'Missing'"):
        build_reader(_args(state, stack="shop", function="Missing"), state)
    reader = build_reader(_args(state, stack="shop", function="Orders"), state)
    assert reader.functions == {"shop-orders"}
    assert main(["logs", "--state-dir", str(state), "--since", "soon"]) == 2


def test_cli_json_lines(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--state-dir", str(state), "--trace", "gw-a", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["source"] for line in lines] == ["function", "edge", "gateway"]
    assert lines[2]["requestId"] == "gw-a" and lines[2]["record"]["tenantId"] == "t1"
    assert main(["logs", "--state-dir", str(state), "shop", "--filter", "later"]) == 0
    text = capsys.readouterr().out
    assert "function:shop-orders" in text and "later" in text and "handling" not in text


def test_follow_prints_lines_as_they_are_appended(state: Path) -> None:
    reader = LogReader(state, trace="corr-new")
    assert reader.read() == []
    seen: list[str] = []
    done = threading.Event()

    def follow() -> None:
        for record in reader.follow(stop=done.is_set):
            seen.append(record.message)

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        path = state / "logs" / "functions" / "shop-orders.log"
        line = json.dumps(_fn("shop-orders", time.time(), "fn-n", "corr-new", "new invocation"))
        with open(path, "a", encoding="utf-8") as fh:  # a torn write: half a line, then the rest
            fh.write(line[:20])
            fh.flush()
            time.sleep(0.5)
            assert seen == []
            fh.write(line[20:] + "\n")
        deadline = time.time() + 5
        while not seen and time.time() < deadline:
            time.sleep(0.05)
        assert seen == ["new invocation"]
    finally:
        done.set()
        thread.join(5)


def test_parse_record_skips_junk() -> None:
    assert parse_record("gateway", "not json") is None
    assert parse_record("gateway", "[1]") is None
    assert parse_record("edge", json.dumps({"service": "s3"})) is None
    with pytest.raises(ValueError):
        parse_record("nope", "{}")


def test_trace_root() -> None:
    assert trace_root("Root=1-abc-def;Parent=12;Sampled=0") == "1-abc-def"
    assert trace_root("Parent=1;Root=1-x") == "1-x"
    assert trace_root("Parent=1") is None
    assert trace_root(None) is None


def test_edge_writes_one_line_per_call_with_the_fault_and_trace(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def hook(
            info: RequestInfo, headers: dict[str, str], body: bytes
        ) -> FaultDecision | None:
            if info.operation == "PutItem":
                return FaultDecision(response=b"HTTP/1.1 500 Internal\r\nContent-Length: 0\r\n\r\n")
            return None

        log = JsonLinesLog(tmp_path / "edge-calls.log")
        proxy = EdgeProxy(
            {"dynamodb": f"http://127.0.0.1:{port}"},
            f"http://127.0.0.1:{port}",
            fault_hook=hook,
            call_log=log,
        )
        edge = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        edge_port = edge.sockets[0].getsockname()[1]
        for op in ("GetItem", "PutItem"):
            reader, writer = await asyncio.open_connection("127.0.0.1", edge_port)
            body = b"{}"
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810."
                + op.encode()
                + b"\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request"
                + b"\r\nX-Amzn-Trace-Id: Root=1-trace-"
                + op.encode()
                + b";Parent=1;Sampled=0"
                + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            await reader.read()
            writer.close()
        log.close()
        edge.close()
        server.close()
        await edge.wait_closed()
        await server.wait_closed()
        return [json.loads(line) for line in (tmp_path / "edge-calls.log").read_text().splitlines()]

    lines = asyncio.run(scenario())
    assert [(x["operation"], x["status"], x["fault"], x["traceId"]) for x in lines] == [
        ("GetItem", 200, False, "1-trace-GetItem"),
        ("PutItem", 500, True, "1-trace-PutItem"),
    ]
    assert all(x["service"] == "dynamodb" and x["durationMs"] >= 0 for x in lines)
