"""The gateway's JWKS fetch: ``GET`` over its pooled async HTTP client, one pool per issuer
origin, for :class:`harness.auth.jwks.KeyStore` (which caches the keys and decides when to
fetch)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from harness.gateway.client import HttpPool, Unreachable
from harness.gateway.jsonutil import loads

__all__ = ["PooledJwksFetch"]


class PooledJwksFetch:
    """``await fetch(url)``: the decoded JWKS document at ``url``; ``ConnectionError`` when
    the issuer does not answer 200 (``TimeoutError`` past 5 s, ``ValueError`` for a body that
    is not JSON)."""

    def __init__(self) -> None:
        self._pools: dict[str, HttpPool] = {}

    async def __call__(self, url: str) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ConnectionError(f"only http:// JWKS URLs can be fetched locally ({url})")
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = HttpPool(origin, max_idle=2)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            response = await pool.request("GET", path, timeout=5.0)
        except Unreachable as exc:
            raise ConnectionError(str(exc)) from None
        if response.status != 200:
            raise ConnectionError(f"{url} answered {response.status}")
        return loads(response.body)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
