"""A fake of the third-party health APIs (Fitbit, Strava, Garmin) for SyncWell.

Run it::

    python stacks/syncwell/fakes/providers.py --host 127.0.0.1 --port 8710

and point the stack's ``ProviderBaseUrl`` parameter at ``http://127.0.0.1:8710``. Every provider
is served under ``/{provider}`` (``fitbit``, ``strava``, ``garmin``):

* With ``--client-secret S``, ``/oauth/token`` and ``/oauth/revoke`` require the app's client
  credentials as HTTP Basic (``syncwell-<p>``:``S``), else ``401 invalid_client``.
* ``POST /{p}/oauth/revoke`` (form ``token=``, RFC 7009): the grant's tokens stop working;
  ``revoked.{p}`` counts revocations in the stats.
* ``POST /{p}/oauth/token`` (form): ``grant_type=authorization_code&code=code-<ownerId>`` or
  ``grant_type=refresh_token&refresh_token=...`` → ``{access_token, refresh_token, expires_in,
  scope, owner_id}``; a refused grant is ``400 {"error": "invalid_grant"}``.
* ``GET /{p}/v1/activities?dataType=workout&since=&until=&fields=metadata`` → metadata only
  (``id, activityType, startTime, durationSeconds``), activities strictly after ``since``.
  (``limit=n``: the first n only, the pre-flight check; counted as ``checks.{p}``)
* ``POST /{p}/v1/activities/hydrate {"ids": [...]}`` → full activities (with a heavy ``gpx``).
* ``POST /{p}/v1/activities {"items": [...]}`` → ``201 {"created": n, "updated": m}``
  (destination writes; an item with ``"replaces": <id>`` updates that record in place).

Control API (no auth), to make providers misbehave:

* ``POST /_control/faults`` ``{"provider": "strava"|"*", "mode": "ok"|"slow"|"rate_limit"|
  "error"|"revoke", "latency_ms": 800, "retry_after": 2, "status": 503, "probability": 1.0,
  "count": null}``; ``DELETE /_control/faults`` clears them.
* ``POST /_control/revoke {"provider", "ownerId"}``: that account's tokens answer 401 and its
  refresh token is refused (the connection must go to ``needs_reauth``).
* ``POST /_control/accounts {"provider", "ownerId", "activities": n}``: (re)create an account;
  ``{"provider", "ownerId", "add": ["2026-01-01T07:00:00Z" | {"startTime", "modifiedAt"?,
  "activityType"?, "calories"?}, ...]}``: new activities starting at those times (the user
  recorded more, at that provider) — ids ``{provider}-{owner}-new-{k}``.
* ``GET /_control/stats``: calls per provider and endpoint, bytes served, faults injected.
* ``GET /_control/duplicates``: source activities written more than once to a destination
  (``duplicates``), and how many source activities were written at all (``writes``).
* ``GET /_control/calls``: every provider call (the last 100,000) as
  ``[time, provider, kind]``, for checks on *when* the providers were called.
* ``POST /_control/reset``: forget everything.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import Any

PROVIDERS = ("fitbit", "strava", "garmin")
TOKEN_TTL_S = 3600
GPX_BYTES = 2048


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, activities_per_account: int = 5, seed: int = 7) -> None:
        self.default_activities = activities_per_account
        self.client_secret = ""
        self.seed = seed
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self.access: dict[str, tuple[str, str, float]] = {}
        self.refresh: dict[str, tuple[str, str]] = {}
        self.revoked: set[tuple[str, str]] = set()
        self.faults: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, Any] = defaultdict(int)
        self.calls: deque[tuple[float, str, str]] = deque(maxlen=100_000)
        self.rng = random.Random(self.seed)

    def account(self, provider: str, owner: str, activities: int | None = None) -> dict[str, Any]:
        key = (provider, owner)
        if key not in self.accounts or activities is not None:
            n = self.default_activities if activities is None else activities
            # distinct per provider, so that a fresh account's activities do not already
            # "exist" at another provider's account
            base = time.time() - 3600 - 17 * 60 * PROVIDERS.index(provider)
            items = []
            for i in range(n):
                start = base - i * 6 * 3600
                items.append(
                    {
                        "id": f"{provider}-{owner}-{i}",
                        "activityType": "run",
                        "startTime": _iso(start),
                        "endTime": _iso(start + 1800),
                        "durationSeconds": 1800,
                        "calories": 300 + i,
                        "distanceMeters": 5000 + 10 * i,
                        "timezone": "Europe/London",
                        "modifiedAt": _iso(start + 1800),
                    }
                )
            self.accounts[key] = {"activities": items, "written": []}
        return self.accounts[key]

    def issue(self, provider: str, owner: str) -> dict[str, Any]:
        access = f"at-{provider}-{secrets.token_hex(12)}"
        refresh = f"rt-{provider}-{secrets.token_hex(12)}"
        self.access[access] = (provider, owner, time.time() + TOKEN_TTL_S)
        self.refresh[refresh] = (provider, owner)
        self.account(provider, owner)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": TOKEN_TTL_S,
            "token_type": "Bearer",
            "scope": "activity",
            "owner_id": owner,
        }


STATE = State()


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(
    send: Any, status: int, body: Any = None, headers: dict[str, str] | None = None
) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})
    STATE.stats["bytes_out"] += len(raw)


def _fault(provider: str) -> dict[str, Any] | None:
    fault = STATE.faults.get(provider) or STATE.faults.get("*")
    if not fault or fault.get("mode", "ok") == "ok":
        return None
    if fault.get("count") is not None and fault["count"] <= 0:
        return None
    if STATE.rng.random() >= float(fault.get("probability", 1.0)):
        return None
    if fault.get("count") is not None:
        fault["count"] -= 1
    STATE.stats[f"faults.{provider}.{fault['mode']}"] += 1
    return fault


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method = scope["method"]
    path = scope["path"]
    query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode()))
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    body = await _read_body(receive)
    if path.startswith("/_control"):
        await _control(send, method, path, body)
        return
    parts = path.strip("/").split("/", 1)
    provider = parts[0]
    rest = "/" + (parts[1] if len(parts) > 1 else "")
    if provider not in PROVIDERS:
        await _send(send, 404, {"error": "unknown provider"})
        return
    kind = {
        "/oauth/token": "token",
        "/oauth/revoke": "revoke",
        "/v1/activities": "list" if method == "GET" else "write",
        "/v1/activities/hydrate": "hydrate",
    }.get(rest, "other")
    STATE.stats[f"calls.{provider}.{kind}"] += 1
    STATE.stats["calls.total"] += 1
    STATE.calls.append((time.time(), provider, kind))
    fault = _fault(provider)
    if fault is not None:
        mode = fault["mode"]
        if mode == "slow":
            await asyncio.sleep(float(fault.get("latency_ms", 1000)) / 1000)
        elif mode == "rate_limit":
            await _send(
                send,
                429,
                {"error": "rate_limited"},
                {"retry-after": str(fault.get("retry_after", 1))},
            )
            return
        elif mode == "error":
            await _send(send, int(fault.get("status", 503)), {"error": "provider_error"})
            return
        elif mode == "revoke" and kind != "other":
            await _send(
                send,
                401 if kind != "token" else 400,
                {"error": "invalid_token" if kind != "token" else "invalid_grant"},
            )
            return
    if kind in ("token", "revoke") and not _client_ok(provider, headers):
        STATE.stats[f"invalid_client.{provider}"] += 1
        await _send(send, 401, {"error": "invalid_client"})
        return
    if kind == "token" and method == "POST":
        await _token(send, provider, body, headers)
        return
    if kind == "revoke" and method == "POST":  # RFC 7009: 200 whether or not it was known
        token = dict(urllib.parse.parse_qsl(body.decode())).get("token", "")
        grant = STATE.refresh.pop(token, None) or STATE.access.get(token, (None, None))[:2]
        if grant[0] is not None:
            for access, (p, owner, _exp) in list(STATE.access.items()):
                if (p, owner) == tuple(grant):
                    del STATE.access[access]
            STATE.stats[f"revoked.{provider}"] += 1
        await _send(send, 200, {})
        return
    who = _authenticate(provider, headers)
    if who is None:
        await _send(send, 401, {"error": "invalid_token"})
        return
    account = STATE.account(provider, who)
    if kind == "list":
        since, until = query.get("since"), query.get("until")
        if until and len(until) == 10:
            until += "T23:59:59Z"
        items = (
            []
            if query.get("dataType", "workout") != "workout"
            else [
                a
                for a in account["activities"] + account["written"]
                if (not since or a["startTime"] > since) and (not until or a["startTime"] <= until)
            ]
        )
        meta = [
            {
                k: a.get(k)
                for k in ("id", "activityType", "startTime", "durationSeconds", "modifiedAt")
            }
            for a in items
        ]
        if str(query.get("limit", "")).isdigit():  # the pre-flight check asks for one item
            meta = meta[: int(query["limit"])]
            STATE.stats[f"checks.{provider}"] += 1
        await _send(send, 200, {"items": meta})
    elif kind == "hydrate":
        ids = set((json.loads(body or b"{}") or {}).get("ids", []))
        full = [{**a, "gpx": "x" * GPX_BYTES} for a in account["activities"] if a["id"] in ids]
        STATE.stats[f"hydrated.{provider}"] += len(full)
        await _send(send, 200, {"items": full})
    elif kind == "write":
        items = (json.loads(body or b"{}") or {}).get("items", [])
        created = updated = 0
        for item in items:
            record = {k: v for k, v in item.items() if k not in ("gpx", "replaces")}
            target = item.get("replaces")
            pool = account["activities"] + account["written"]
            existing = next((a for a in pool if a["id"] == target), None) if target else None
            if existing is not None:  # an update in place: the record keeps its id
                existing.clear()
                existing.update({"id": target, **record})
                updated += 1
            else:
                account["written"].append({"id": f"w-{secrets.token_hex(6)}", **record})
                created += 1
        STATE.stats[f"written.{provider}"] += created
        STATE.stats[f"updated.{provider}"] += updated
        await _send(send, 201, {"created": created, "updated": updated})
    else:
        await _send(send, 404, {"error": "not found"})


def _authenticate(provider: str, headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    entry = STATE.access.get(token)
    if entry is None or entry[0] != provider or entry[2] < time.time():
        return None
    if (provider, entry[1]) in STATE.revoked:
        return None
    return entry[1]


async def _token(send: Any, provider: str, body: bytes, headers: dict[str, str]) -> None:
    if headers.get("content-type", "").startswith("application/json"):
        form = json.loads(body or b"{}")
    else:
        form = dict(urllib.parse.parse_qsl(body.decode()))
    grant = form.get("grant_type")
    if grant == "authorization_code":
        code = str(form.get("code", ""))
        if not code.startswith("code-") or len(code) <= 5:
            await _send(send, 400, {"error": "invalid_grant"})
            return
        owner = code[5:]
        if (provider, owner) in STATE.revoked:
            STATE.revoked.discard((provider, owner))  # re-authorising restores access
        await _send(send, 200, STATE.issue(provider, owner))
    elif grant == "refresh_token":
        entry = STATE.refresh.get(str(form.get("refresh_token", "")))
        if entry is None or entry[0] != provider or entry in STATE.revoked:
            await _send(send, 400, {"error": "invalid_grant"})
            return
        await _send(send, 200, STATE.issue(provider, entry[1]))
    else:
        await _send(send, 400, {"error": "unsupported_grant_type"})


def _client_ok(provider: str, headers: dict[str, str]) -> bool:
    """With ``--client-secret``: the token and revoke endpoints want the app's credentials as
    HTTP Basic (RFC 6749 2.3.1), client id ``syncwell-<provider>``."""
    if not STATE.client_secret:
        return True
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(value).decode()
    except ValueError:
        return False
    client_id, _, secret = pair.partition(":")
    return (urllib.parse.unquote(client_id), urllib.parse.unquote(secret)) == (
        f"syncwell-{provider}",
        STATE.client_secret,
    )


async def _control(send: Any, method: str, path: str, body: bytes) -> None:
    data = json.loads(body) if body else {}
    if path == "/_control/faults" and method == "POST":
        STATE.faults[str(data.get("provider", "*"))] = dict(data)
        await _send(send, 200, {"faults": STATE.faults})
    elif path == "/_control/faults" and method == "DELETE":
        STATE.faults.clear()
        await _send(send, 200, {"faults": {}})
    elif path == "/_control/faults":
        await _send(send, 200, {"faults": STATE.faults})
    elif path == "/_control/revoke":
        STATE.revoked.add((str(data["provider"]), str(data["ownerId"])))
        await _send(send, 200, {"revoked": [list(r) for r in STATE.revoked]})
    elif path == "/_control/accounts" and "add" in data:
        provider, owner = str(data["provider"]), str(data["ownerId"])
        account = STATE.account(provider, owner)
        for spec in data["add"]:
            spec = spec if isinstance(spec, dict) else {"startTime": spec}
            begin = datetime.fromisoformat(
                str(spec["startTime"]).replace("Z", "+00:00")
            ).timestamp()
            index = len(account["activities"])
            account["activities"].append(
                {
                    "id": f"{provider}-{owner}-new-{index}",
                    "activityType": str(spec.get("activityType", "run")),
                    "startTime": _iso(begin),
                    "endTime": _iso(begin + 1800),
                    "durationSeconds": 1800,
                    "calories": int(spec.get("calories", 300)),
                    "distanceMeters": 5000,
                    "timezone": "America/New_York",
                    "modifiedAt": str(spec.get("modifiedAt") or _iso(begin + 1800)),
                }
            )
        await _send(send, 200, {"activities": len(account["activities"])})
    elif path == "/_control/accounts":
        account = STATE.account(
            str(data["provider"]), str(data["ownerId"]), int(data.get("activities", 5))
        )
        await _send(send, 200, {"activities": len(account["activities"])})
    elif path == "/_control/stats":
        await _send(send, 200, dict(STATE.stats))
    elif path == "/_control/calls":
        await _send(send, 200, {"calls": [list(c) for c in STATE.calls]})
    elif path == "/_control/reset":
        STATE.reset()
        await _send(send, 200, {"reset": True})
    elif path == "/_control/duplicates":
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for (provider, owner), account in STATE.accounts.items():
            for item in account["written"]:
                if item.get("sourceId"):
                    counts[(provider, owner, str(item["sourceId"]))] += 1
        dupes = [list(k) for k, n in counts.items() if n > 1]
        writes = sum(counts.values())  # without writes, "no duplicate" is no evidence
        await _send(send, 200, {"duplicates": len(dupes), "writes": writes, "examples": dupes[:20]})
    elif path == "/_control/health":
        await _send(send, 200, {"ok": True})
    else:
        await _send(send, 404, {"error": "not found"})


class ThreadedServer:
    """The fake in a background thread (tests): ``with ThreadedServer() as url: ...``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="SyncWell fake third-party providers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8710)
    parser.add_argument("--activities", type=int, default=5, help="activities per new account")
    parser.add_argument(
        "--client-secret", default="", help="require the app's OAuth client credentials (Basic)"
    )
    args = parser.parse_args()
    STATE.default_activities = args.activities
    STATE.client_secret = args.client_secret
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
