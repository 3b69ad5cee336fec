"""harness.runtime.debug: attachment detection, the suspended timeout, the debugpy folder."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import pytest

from harness.cli.debug import run as cmd_debug
from harness.cli.debug import vscode_attach
from harness.errors import ConfigError
from harness.runtime.debug import Deadline, client_attached, debugpy_path, port_refusal

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"


def _table(tmp_path: Path, *rows: tuple[str, str, str]) -> str:
    path = tmp_path / "tcp"
    lines = [
        f"   {i}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000     0\n"
        for i, (local, remote, state) in enumerate(rows)
    ]
    path.write_text(HEADER + "".join(lines))
    return str(path)


def test_client_attached_reads_established_connections_on_the_port(tmp_path: Path) -> None:
    listening = ("0100007F:162E", "00000000:0000", "0A")  # 127.0.0.1:5678 LISTEN
    accepted = ("0100007F:162E", "0100007F:A1B2", "01")  # ... ESTABLISHED
    other_port = ("0100007F:162F", "0100007F:A1B3", "01")
    other_host = ("0101A8C0:162E", "0100007F:A1B4", "01")  # 192.168.1.1:5678
    assert client_attached(5678, _table(tmp_path, listening, accepted)) is True
    assert client_attached(5678, _table(tmp_path, listening)) is False
    assert client_attached(5678, _table(tmp_path, listening, other_port, other_host)) is False
    assert client_attached(5678, str(tmp_path / "missing")) is False


def test_client_attached_sees_a_real_connection() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert client_attached(port) is False
        with socket.create_connection(("127.0.0.1", port)):
            conn, _ = server.accept()
            with conn:
                assert client_attached(port) is True


def _run_deadline(seconds: float, port: int | None, attached_for: float) -> tuple[float, float]:
    """When the deadline expired (s after start) with a debugger attached for ``attached_for``."""

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired = loop.create_future()
        deadline = Deadline(
            loop,
            seconds,
            lambda: fired.set_result(loop.time() - start),
            port,
            attached=lambda p: loop.time() - start < attached_for,
        )
        try:
            return await asyncio.wait_for(fired, 5), deadline.suspended_s
        finally:
            deadline.cancel()

    return asyncio.run(main())


def test_deadline_fires_on_time_without_a_debugger() -> None:
    fired, suspended = _run_deadline(0.1, None, attached_for=10)  # no debug port: not asked
    assert 0.09 <= fired < 0.3 and suspended == 0


def test_deadline_waits_while_a_debugger_is_attached() -> None:
    fired, suspended = _run_deadline(0.1, 5678, attached_for=0.6)
    assert 0.55 <= fired < 1.2  # not at 0.1: held while attached
    assert suspended >= 0.3


def test_deadline_resumes_with_what_was_left_after_the_debugger_leaves() -> None:
    # attached for the first 0.6 s, then 0.5 s of timeout still to run
    fired, suspended = _run_deadline(0.5, 5678, attached_for=0.6)
    assert 0.95 <= fired < 1.6
    assert 0.45 <= suspended < 0.9


def test_deadline_with_a_debug_port_but_no_client_fires_on_time() -> None:
    fired, suspended = _run_deadline(0.3, 5678, attached_for=0)
    assert 0.29 <= fired < 0.5 and suspended == 0


def test_deadline_cancel_stops_it() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        hit: list[bool] = []
        Deadline(loop, 0.05, lambda: hit.append(True)).cancel()
        await asyncio.sleep(0.15)
        return bool(hit)

    assert asyncio.run(main()) is False


def test_debugpy_path_holds_only_debugpy(tmp_path: Path) -> None:
    import debugpy

    folder = Path(debugpy_path(tmp_path / "dbg"))
    assert [p.name for p in folder.iterdir()] == ["debugpy"]
    assert (folder / "debugpy").resolve() == Path(debugpy.__file__).resolve().parent
    assert debugpy_path(tmp_path / "dbg") == str(folder)  # idempotent


def test_port_refusal() -> None:
    assert "1024-65535" in (port_refusal(80) or "")
    assert "1024-65535" in (port_refusal(70000) or "")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "already in use" in (port_refusal(port) or "")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert port_refusal(port) is None


def test_vscode_attach_configuration() -> None:
    config = vscode_attach(5679, "/src/fn")
    assert config["connect"] == {"host": "127.0.0.1", "port": 5679}
    assert config["request"] == "attach" and config["type"] == "debugpy"
    assert config["pathMappings"] == [{"localRoot": "/src/fn", "remoteRoot": "/src/fn"}]


@pytest.mark.parametrize(
    ("stack", "function", "stop", "field"),
    [("s", None, False, "FUNCTION"), (None, None, False, "STACK"), ("s", None, True, "FUNCTION")],
)
def test_cli_refuses_incomplete_arguments(
    stack: str | None, function: str | None, stop: bool, field: str
) -> None:
    args = argparse.Namespace(
        stack=stack, function=function, stop=stop, port=5678, json=False, state_dir=None
    )
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        cmd_debug(args)
