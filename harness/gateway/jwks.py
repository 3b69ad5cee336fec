"""Public keys of JWT issuers, fetched once and cached per issuer.

Where the keys come from: the harness's local issuer (an issuer, or ``jwks_uri``, under
``/_harness/issuer``) is read from ``<state_dir>/issuer/`` directly, no HTTP; otherwise the
authorizer's ``jwks_uri`` or ``{issuer}/.well-known/jwks.json`` — where a real Cognito URL
(``https://cognito-idp.{region}.amazonaws.com/{pool}/...``) is fetched from the emulator at
``{aws_endpoint}/{pool}/.well-known/jwks.json``. An unknown ``kid`` triggers a refetch, at most once every
``refetch_interval`` seconds per issuer so that forged kids cannot hammer the issuer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.gateway.client import HttpPool, Unreachable
from harness.gateway.jsonutil import loads
from harness.tokens import ISSUER_PATH, LocalIssuer

__all__ = ["KeyStore", "jwks_url_for"]

_JWKS_SUFFIX = "/.well-known/jwks.json"

logger = logging.getLogger(__name__)


def _is_cognito(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.startswith("cognito-idp.") and host.endswith(".amazonaws.com")


def jwks_url_for(issuer: str, jwks_uri: str | None, aws_endpoint: str | None) -> str:
    """Where to fetch the keys: the template's ``jwks_uri`` if it gave one, else the issuer's
    well-known URL (the one place it is derived). Real Cognito URLs are served by the emulator
    behind ``aws_endpoint``."""
    url = jwks_uri or f"{issuer.rstrip('/')}/.well-known/jwks.json"
    if aws_endpoint and _is_cognito(url):
        pool = urlsplit(url).path.strip("/").split("/", 1)[0]
        return f"{aws_endpoint.rstrip('/')}/{pool}/.well-known/jwks.json"
    return url


class KeyStore:
    def __init__(self, state_dir: Path, refetch_interval: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.refetch_interval = refetch_interval
        self.aws_endpoint: str | None = None
        self._keys: dict[str, dict[str, Any]] = {}  # jwks url -> kid -> public key
        self._fetched: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pools: dict[str, HttpPool] = {}
        self._local: LocalIssuer | None = None
        self._local_public: Any = None

    def local_issuer(self) -> LocalIssuer:
        if self._local is None:
            self._local = LocalIssuer(self.state_dir)
        return self._local

    @staticmethod
    def is_local(issuer: str | None) -> bool:
        return bool(issuer) and issuer.rstrip("/").endswith(ISSUER_PATH)  # type: ignore[union-attr]

    def _local_key(self, kid: str | None) -> Any | None:
        local = self.local_issuer()
        if kid not in (None, local.kid):
            return None
        if self._local_public is None:
            self._local_public = local.public_key()
        return self._local_public

    async def key(self, issuer: str, jwks_uri: str | None, kid: str | None) -> Any | None:
        """The public key for ``kid`` (``None`` if the issuer has no such key)."""
        if (not jwks_uri and self.is_local(issuer)) or (
            jwks_uri and jwks_uri.endswith(ISSUER_PATH + _JWKS_SUFFIX)
        ):
            return self._local_key(kid)  # the harness's own issuer: keys on disk, no HTTP
        url = jwks_url_for(issuer, jwks_uri, self.aws_endpoint)
        keys = self._keys.get(url)
        if keys is not None:
            found = keys.get(kid) if kid is not None else (next(iter(keys.values()), None))
            if found is not None:
                return found
            if time.monotonic() - self._fetched.get(url, 0.0) < self.refetch_interval:
                return None
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            keys = self._keys.get(url)
            if (keys is None or (kid is not None and kid not in keys)) and (
                time.monotonic() - self._fetched.get(url, -1e9) >= self.refetch_interval
                or keys is None
            ):
                await self._fetch(url)
        keys = self._keys.get(url) or {}
        return keys.get(kid) if kid is not None else next(iter(keys.values()), None)

    async def _fetch(self, url: str) -> None:
        import jwt

        self._fetched[url] = time.monotonic()
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = HttpPool(origin, max_idle=2)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            if parts.scheme != "http":
                raise Unreachable(f"only http:// JWKS URLs can be fetched locally ({url})")
            response = await pool.request("GET", path, timeout=5.0)
            if response.status != 200:
                raise Unreachable(f"{url} answered {response.status}")
            document = loads(response.body)
        except (Unreachable, TimeoutError, ValueError) as exc:
            logger.warning("gateway: cannot fetch JWKS %s: %s", url, exc)
            self._keys.setdefault(url, {})
            return
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") != "RSA":
                continue
            try:
                keys[jwk.get("kid", "")] = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            except Exception as exc:
                logger.warning("gateway: bad key in %s: %s", url, exc)
        self._keys[url] = keys

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
