"""Run LocalStack on the host with its Twisted server, every socket confined to loopback.

LocalStack's default HTTP server (Twisted) costs half the CPU per SQS call of the Hypercorn one
the harness used before (same machine, same LocalStack, one run: SendMessage 1.18 vs 2.70 ms,
ReceiveMessage(10) + DeleteMessageBatch 2.80 vs 5.60 ms; Hypercorn bridges every request from
asyncio to a WSGI thread and back). Twisted's endpoint takes a port but no interface and binds
``0.0.0.0``: this launcher (run by LocalStack's own interpreter, so standard library only)
confines every bind to the host of ``GATEWAY_LISTEN`` first, then runs LocalStack's own entry
point, ``python -m localstack.runtime.main``.
"""

from __future__ import annotations

import os
import runpy
import sys

if __package__:
    from harness.env.binds import confine_binds
else:  # run as a script by LocalStack's interpreter: this folder is sys.path[0]
    from binds import confine_binds  # type: ignore[no-redef]

__all__ = ["listen_host", "main"]


def listen_host(listen: str) -> str:
    """The host of LocalStack's first ``GATEWAY_LISTEN`` entry (``127.0.0.1:4566,...``)."""
    first = listen.split(",", 1)[0].strip()
    host = first.rsplit(":", 1)[0] if ":" in first else first
    return host.strip("[]") or "127.0.0.1"


def main() -> None:  # pragma: no cover - runs under LocalStack's interpreter
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # harness/env holds modules LocalStack must not see
    confine_binds(listen_host(os.environ.get("GATEWAY_LISTEN", "")))
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":  # pragma: no cover
    main()
