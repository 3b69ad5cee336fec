"""The daemon's ASGI application.

Requests under ``/_harness/`` are the control API; everything else goes to the gateway
(``harness.gateway``), which serves every deployed stack's APIs and answers API Gateway's own
404 for anything else.

Control API:

* ``GET /_harness/health`` — liveness of this worker.
* ``GET /_harness/info`` — endpoints, deployed stacks and their APIs' base URLs.
* ``POST /_harness/gateway/reload`` — re-read the stacks now (the worker that answers; every
  worker also notices a change to ``<state_dir>/stacks`` on its next request).
* ``GET /_harness/gateway/metrics`` — per-route/tenant counts, status codes and latency
  percentiles of the worker that answers (``"scope": "worker"``).
* ``GET|POST|DELETE /_harness/faults``, ``GET /_harness/faults/log`` — every fault kind
  (:mod:`harness.chaos.api`).
* ``GET /_harness/issuer/.well-known/jwks.json`` and ``.../openid-configuration`` — the local
  token issuer (``harness.auth.issuer``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from harness.gateway import Gateway
from harness.gateway.jsonutil import dumps

__all__ = ["app", "create_app"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = dumps(payload)
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


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


# Control paths anyone may call: liveness, and the local issuer's public keys (a JWT
# authorizer and any client fetch them). Everything else under /_harness/ needs the secret.
OPEN_PATHS = frozenset(
    {
        "/_harness/health",
        "/_harness/issuer/.well-known/jwks.json",
        "/_harness/issuer/.well-known/openid-configuration",
    }
)


def create_app(state_dir: Path) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    from harness.env.secret import ControlGuard

    started = time.time()
    gateway = Gateway(state_dir)
    guard = ControlGuard(state_dir, "gateway")

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await _drain(receive)
        client = scope.get("client")
        peer = (str(client[0]), int(client[1])) if client else None
        await asyncio.to_thread(guard.record, scope["method"], scope["path"], peer)
        await _json(send, 403, guard.refusal(scope["method"], scope["path"]))

    async def control(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        await _drain(receive)
        if path == "/_harness/health":
            await _json(
                send,
                200,
                {"status": "ok", "pid": os.getpid(), "uptime_s": round(time.time() - started, 3)},
            )
            return
        if path == "/_harness/info":
            gateway.maybe_reload()
            state_file = state_dir / "state.json"
            try:
                endpoints = (
                    json.loads(state_file.read_text()).get("endpoints", {})
                    if state_file.exists()
                    else {}
                )
            except (OSError, ValueError):
                endpoints = {}
            await _json(send, 200, {"endpoints": endpoints, **gateway.info()})
            return
        if path == "/_harness/gateway/reload":
            if method != "POST":
                await _json(send, 405, {"message": "use POST"})
                return
            gateway.reload()
            await _json(send, 200, {"reloaded": True, "pid": os.getpid(), **gateway.info()})
            return
        if path == "/_harness/gateway/metrics":
            await _json(send, 200, gateway.metrics.snapshot())
            return
        if path in (
            "/_harness/issuer/.well-known/jwks.json",
            "/_harness/issuer/.well-known/openid-configuration",
        ):
            issuer = gateway.keystore.local_issuer()
            try:
                document = (
                    issuer.jwks() if path.endswith("jwks.json") else issuer.openid_configuration()
                )
            except Exception as exc:
                logger.warning("local issuer unavailable: %s", exc)
                await _json(send, 503, {"message": f"local issuer unavailable: {exc}"})
                return
            await _json(send, 200, document)
            return
        await _json(
            send, 404, {"message": "Not Found"}, [(b"x-amzn-errortype", b"NotFoundException")]
        )

    async def faults(scope: Scope, receive: Receive, send: Send) -> None:
        from harness.chaos.api import handle_faults

        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        status, payload = await asyncio.to_thread(
            handle_faults,
            state_dir,
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode(),
            b"".join(chunks),
        )
        await _json(send, status, payload)

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await gateway.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if (
            scope["path"].startswith("/_harness/")
            and scope["path"] not in OPEN_PATHS
            and not guard.allowed(scope["headers"])
        ):
            await refuse(scope, receive, send)
            return
        if scope["path"].startswith("/_harness/faults"):  # every fault kind: harness.chaos.api
            await faults(scope, receive, send)
            return
        if scope["path"].startswith("/_harness/"):
            try:
                await control(scope, receive, send)
            except Exception:
                logger.exception("control API error on %s", scope["path"])
                await _json(send, 500, {"message": "Internal Server Error"})
            return
        await gateway(scope, receive, send)

    application.gateway = gateway  # type: ignore[attr-defined]
    return application


def _configure_logging() -> None:
    """Worker processes log warnings (Redis down, bad stack files...) to stderr, i.e. the
    daemon's log file; the library itself only installs a NullHandler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=os.environ.get("HARNESS_DAEMON_LOG_LEVEL", "WARNING").upper(),
            format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        )


_configure_logging()
app = create_app(Path(os.environ.get("HARNESS_STATE_DIR", ".harness")))
