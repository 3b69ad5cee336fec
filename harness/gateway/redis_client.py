"""A minimal asyncio Redis client (RESP2) for the throttle's one script call per request.

redis-py's asyncio client costs tens of microseconds of Python per command; the gateway needs
exactly one ``EVALSHA`` per throttled request, so this writes the command bytes directly and
parses the small reply, over a pool of kept-alive connections. ``NOSCRIPT`` (a Redis restarted
or flushed) loads the script again and retries once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["RespClient", "RespError"]


class RespError(Exception):
    """An error reply from Redis (``-ERR ...``)."""


def _encode(*args: Any) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read(reader: asyncio.StreamReader) -> Any:
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RespError(rest.decode(errors="replace"))
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        return [await _read(reader) for _ in range(count)]
    raise RespError(f"unexpected reply {line[:40]!r}")


class RespClient:
    def __init__(self, url: str, timeout: float = 0.5, max_idle: int = 64) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.password = unquote(parts.password) if parts.password else None
        self.username = unquote(parts.username) if parts.username else None
        path = parts.path.strip("/")
        self.db = int(path) if path.isdigit() else 0
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._scripts: dict[str, bytes] = {}

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        setup = []
        if self.password:
            setup.append(
                _encode("AUTH", self.username, self.password)
                if self.username
                else _encode("AUTH", self.password)
            )
        if self.db:
            setup.append(_encode("SELECT", self.db))
        for command in setup:
            writer.write(command)
            reply = await _read(reader)
            if isinstance(reply, RespError):
                writer.close()
                raise reply
        return reader, writer

    async def execute(self, *args: Any) -> Any:
        async with asyncio.timeout(self.timeout):
            while self._idle:
                reader, writer = self._idle.pop()
                if writer.is_closing() or reader.at_eof():
                    writer.close()
                    continue
                break
            else:
                reader, writer = await self._connect()
            try:
                writer.write(_encode(*args))
                reply = await _read(reader)
            except BaseException:
                writer.close()
                raise
        if len(self._idle) < self.max_idle:
            self._idle.append((reader, writer))
        else:
            writer.close()
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def evalsha(self, script: str, keys: list[str], args: list[Any]) -> Any:
        sha = hashlib.sha1(script.encode()).hexdigest()
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except RespError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.execute("SCRIPT", "LOAD", script)
        return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def close(self) -> None:
        while self._idle:
            _reader, writer = self._idle.pop()
            with contextlib.suppress(Exception):
                writer.close()
