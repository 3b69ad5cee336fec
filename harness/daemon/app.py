"""The daemon's ASGI application.

Requests under ``/_harness/`` are the control API; everything else is routed to the deployed
stacks' APIs. Until a stack is deployed every other path answers API Gateway's own 404.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["app", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(state_dir: Path) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    started = time.time()

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
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
        path: str = scope["path"]
        if path == "/_harness/health":
            await _json(
                send,
                200,
                {"status": "ok", "pid": os.getpid(), "uptime_s": round(time.time() - started, 3)},
            )
            return
        if path == "/_harness/info":
            state_file = state_dir / "state.json"
            endpoints = (
                json.loads(state_file.read_text()).get("endpoints", {})
                if state_file.exists()
                else {}
            )
            await _json(send, 200, {"endpoints": endpoints, "stacks": []})
            return
        await _json(
            send, 404, {"message": "Not Found"}, [(b"x-amzn-errortype", b"NotFoundException")]
        )

    return application


app = create_app(Path(os.environ.get("HARNESS_STATE_DIR", ".harness")))
