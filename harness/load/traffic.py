"""Turning the traffic mix into concrete requests, reproducibly.

:class:`RequestFactory` picks a request template by weight, a tenant (by tier or tenant weight)
and one of its users, and fills the placeholders, all from one seeded :class:`random.Random`:
the same seed gives the same sequence of requests. Templates are compiled once into literal
and placeholder parts so that rendering costs a few microseconds per request.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import ipaddress
import itertools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.load.profile import PLACEHOLDER, RequestTemplate, Tenants, TrafficMix

__all__ = ["CLIENT_NET", "PlannedRequest", "RequestFactory", "client_ip", "process_seed"]


CLIENT_NET = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544: addresses for benchmark traffic


@functools.lru_cache(maxsize=1 << 16)
def client_ip(tenant: str, user: str) -> str:
    """The simulated user's own address in CLIENT_NET: stable per (tenant, user) across runs,
    processes and seeds (a digest, not the run's random generator), never the network or
    broadcast address."""
    digest = hashlib.blake2b(f"{tenant}\x1f{user}".encode(), digest_size=8).digest()
    offset = 1 + int.from_bytes(digest, "big") % (CLIENT_NET.num_addresses - 2)
    return str(CLIENT_NET.network_address + offset)


def process_seed(seed: int, process: int, user: int | None = None) -> int:
    """The seed of one generator process (and, in the closed model, of one of its users)."""
    return seed * 1_000_003 + process * 7_919 + (0 if user is None else user + 1)


@dataclass(slots=True)
class PlannedRequest:
    endpoint: str
    template: int
    tenant: str
    user: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    seq: int = 0


class _Context:
    __slots__ = ("rng", "seq", "tenant", "tier", "user", "uuid")

    def __init__(self, rng: random.Random, tenant: str, tier: str, user: str, seq: int) -> None:
        self.rng = rng
        self.tenant = tenant
        self.tier = tier
        self.user = user
        self.seq = seq
        self.uuid: str | None = None


def _value(name: str) -> Callable[[_Context], str]:
    if name == "tenant":
        return lambda c: c.tenant
    if name == "user":
        return lambda c: c.user
    if name == "tier":
        return lambda c: c.tier
    if name == "seq":
        return lambda c: str(c.seq)
    if name == "client_ip":
        return lambda c: client_ip(c.tenant, c.user)
    if name == "uuid":

        def make_uuid(c: _Context) -> str:
            if c.uuid is None:  # one uuid per request, the same wherever it appears
                c.uuid = str(uuid.UUID(int=c.rng.getrandbits(128), version=4))
            return c.uuid

        return make_uuid
    options = name.split(":", 1)[1].split("|")
    return lambda c: options[int(c.rng.random() * len(options))]


def _escaped(get: Callable[[_Context], str]) -> Callable[[_Context], str]:
    return lambda c: json.dumps(get(c))[1:-1]


class _Text:
    """A string with placeholders, compiled to parts."""

    __slots__ = ("parts", "static")

    def __init__(self, text: str, escape: bool = False) -> None:
        pieces = PLACEHOLDER.split(text)  # literal, name, literal, name, ...
        self.parts: list[str | Callable[[_Context], str]] = []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                if piece:
                    self.parts.append(piece)
            else:
                get = _value(piece)
                self.parts.append(_escaped(get) if escape else get)
        self.static = all(isinstance(p, str) for p in self.parts)

    def render(self, ctx: _Context) -> str:
        if self.static:
            return "".join(self.parts)  # type: ignore[arg-type]
        return "".join(p if isinstance(p, str) else p(ctx) for p in self.parts)


class _Compiled:
    __slots__ = ("auth", "body", "headers", "method", "name", "path")

    def __init__(self, template: RequestTemplate, shared: dict[str, str]) -> None:
        self.name = template.name
        self.method = template.method
        self.path = _Text(template.path)
        own = {k.lower() for k in template.headers}
        headers = {**{k: v for k, v in shared.items() if k.lower() not in own}, **template.headers}
        self.headers = [(k, _Text(v)) for k, v in headers.items()]
        self.body = (
            None
            if template.json_body is None
            else _Text(json.dumps(template.json_body, separators=(",", ":")), escape=True)
        )
        self.auth = template.auth


class RequestFactory:
    """Draws requests from the mix for the tenants; deterministic for a given seed."""

    def __init__(
        self, mix: TrafficMix, tenants: Tenants, seed: int, *, seq_start: int = 0, seq_step: int = 1
    ) -> None:
        self.mix = mix
        self.rng = random.Random(seed)
        self.templates = [_Compiled(t, mix.headers) for t in mix.requests]
        self.template_cum = list(itertools.accumulate(t.weight for t in mix.requests))
        self.tenants = tenants.tenants
        self.users = [t.user_ids for t in self.tenants]
        self.tenant_cum = list(itertools.accumulate(tenants.weights()))
        self.seq = seq_start
        self.seq_step = seq_step

    def _pick(self, cum: list[float]) -> int:
        index = bisect.bisect_right(cum, self.rng.random() * cum[-1])
        return min(index, len(cum) - 1)

    def next(self) -> PlannedRequest:
        rng = self.rng
        t_index = self._pick(self.template_cum)
        n_index = self._pick(self.tenant_cum)
        tenant = self.tenants[n_index]
        users = self.users[n_index]
        user = users[int(rng.random() * len(users))]
        seq = self.seq
        self.seq += self.seq_step
        compiled = self.templates[t_index]
        ctx = _Context(rng, tenant.id, tenant.tier, user, seq)
        headers = {k: v.render(ctx) for k, v in compiled.headers}
        body = compiled.body.render(ctx) if compiled.body is not None else None
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return PlannedRequest(
            endpoint=compiled.name,
            template=t_index,
            tenant=tenant.id,
            user=user,
            method=compiled.method,
            path=compiled.path.render(ctx),
            headers=headers,
            body=body,
            seq=seq,
        )

    def plan(self, n: int) -> list[PlannedRequest]:
        return [self.next() for _ in range(n)]

    def auth_of(self, request: PlannedRequest) -> str:
        return self.templates[request.template].auth

    def describe(self) -> dict[str, Any]:
        return {
            "templates": [t.name for t in self.templates],
            "tenants": [t.id for t in self.tenants],
        }
