"""Which sockets an environment listens on, and which of them are reachable from outside.

Every process the environment started is followed with its descendants (gateway workers,
LocalStack's and ministack's helpers, a JVM's threads are one process); each TCP socket in
``LISTEN`` and each bound, unconnected UDP socket is a door. Only loopback doors are allowed:
the emulators have no authentication, so anything else would let another machine read a
tenant's data.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from harness.env.process import ProcessRecord, is_alive

__all__ = ["Listener", "exposed", "is_loopback", "listeners_of", "listeners_of_processes"]


@dataclass(frozen=True)
class Listener:
    """One listening socket: the piece it belongs to, the process, the address and port."""

    piece: str
    pid: int
    ip: str
    port: int
    protocol: str  # "tcp" or "udp"

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.piece} (pid {self.pid}) {self.protocol} {host}:{self.port}"


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``); nothing else."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def listeners_of_processes(pieces: Iterable[tuple[str, int]]) -> list[Listener]:
    """The listening sockets of each ``(piece name, pid)`` and of all its descendants."""
    found: set[Listener] = set()
    for piece, pid in pieces:
        for proc in _tree(pid):
            with contextlib.suppress(psutil.Error):
                for conn in proc.net_connections(kind="inet"):
                    if not conn.laddr:
                        continue
                    if conn.type == socket.SOCK_STREAM and conn.status == psutil.CONN_LISTEN:
                        protocol = "tcp"
                    elif conn.type == socket.SOCK_DGRAM and not conn.raddr:
                        protocol = "udp"
                    else:
                        continue
                    found.add(Listener(piece, proc.pid, conn.laddr.ip, conn.laddr.port, protocol))
    return sorted(found, key=lambda item: (item.piece, item.pid, item.port, item.protocol))


def listeners_of(records: Iterable[ProcessRecord]) -> list[Listener]:
    """The listening sockets of an environment's recorded processes (those still running)."""
    return listeners_of_processes((r.name, r.pid) for r in records if is_alive(r))


def exposed(listeners: Iterable[Listener]) -> list[Listener]:
    """The listeners reachable from another host: bound to anything but loopback."""
    return [item for item in listeners if not is_loopback(item.ip)]
