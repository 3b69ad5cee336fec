"""Keep an emulator's sockets on loopback, whatever address its own code binds.

Standard library only: the emulators' launchers (``ministack_main.py``, ``localstack_main.py``)
import it under the emulator's own interpreter, where the harness is not installed. Some of
their listeners bind the wildcard address whatever they are told (ministack's IoT broker, RDS and
DSQL proxies; LocalStack's Twisted server, which takes a port but no interface), and an
environment must not be reachable from another machine.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["WILDCARDS_V4", "WILDCARDS_V6", "confine_binds"]

WILDCARDS_V4 = ("", "0.0.0.0")
WILDCARDS_V6 = ("::", "::0", "0:0:0:0:0:0:0:0")


def confine_binds(host: str) -> None:
    """Make every later ``bind`` to a wildcard address bind ``host`` (IPv4) / ``::1`` instead."""
    if getattr(socket.socket.bind, "_harness_confined", False):
        return
    original = socket.socket.bind

    def bind(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address and isinstance(address[0], str):
            if self.family == socket.AF_INET and address[0] in WILDCARDS_V4:
                address = (host, *address[1:])
            elif self.family == socket.AF_INET6 and address[0] in (*WILDCARDS_V6, ""):
                address = ("::1", *address[1:])
        original(self, address)

    bind._harness_confined = True  # type: ignore[attr-defined]
    socket.socket.bind = bind  # type: ignore[method-assign,assignment]
