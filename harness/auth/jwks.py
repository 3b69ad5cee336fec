"""Public keys of JWT issuers: where an issuer's JWKS is, fetching it, and the verifying side's
cache (:class:`KeyStore`, the gateway's).

Where the keys come from: the harness's local issuer (an issuer, or ``jwks_uri``, under
``/_harness/issuer``) is read from ``<state_dir>/issuer/`` directly, no HTTP; otherwise the
authorizer's ``jwks_uri`` or ``{issuer}/.well-known/jwks.json`` — where a real Cognito URL
(``https://cognito-idp.{region}.amazonaws.com/{pool}/...``) is fetched from the emulator at
``{aws_endpoint}/{pool}/.well-known/jwks.json``. An unknown ``kid`` triggers a refetch, at most
once every ``refetch_interval`` seconds per issuer so that forged kids cannot hammer the issuer.

The :class:`KeyStore` fetches with the coroutine it is given (the gateway passes its pooled
HTTP client, :class:`harness.gateway.jwks_fetch.PooledJwksFetch`); without one it fetches with
:func:`fetch_jwks_document` in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.auth.issuer import ISSUER_PATH, LocalIssuer, is_local_issuer
from harness.env.jsonhttp import call_json
from harness.errors import HarnessError

__all__ = ["JwksFetch", "KeyStore", "fetch_jwks", "fetch_jwks_document", "jwks_url_for"]

JWKS_SUFFIX = "/.well-known/jwks.json"

JwksFetch = Callable[[str], Awaitable[Any]]
"""``await fetch(url)``: the decoded JWKS document; raises ``HarnessError``, ``OSError``,
``TimeoutError`` or ``ValueError`` when there is none."""

logger = logging.getLogger(__name__)


def _is_cognito(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.startswith("cognito-idp.") and host.endswith(".amazonaws.com")


def jwks_url_for(issuer: str, jwks_uri: str | None, aws_endpoint: str | None) -> str:
    """Where to fetch the keys: the template's ``jwks_uri`` if it gave one, else the issuer's
    well-known URL (the one place it is derived). Real Cognito URLs are served by the emulator
    behind ``aws_endpoint``."""
    url = jwks_uri or f"{issuer.rstrip('/')}{JWKS_SUFFIX}"
    if aws_endpoint and _is_cognito(url):
        pool = urlsplit(url).path.strip("/").split("/", 1)[0]
        return f"{aws_endpoint.rstrip('/')}/{pool}{JWKS_SUFFIX}"
    return url


def fetch_jwks_document(url: str, timeout: float = 10.0) -> Any:
    """The JWKS document at ``url`` (a blocking GET); ``HarnessError`` when it cannot be had."""
    return call_json("GET", url, timeout=timeout, fix="check the issuer's JWKS URL.")


def fetch_jwks(url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The keys (JWKs) at ``url``; ``HarnessError`` when it cannot be had."""
    document = fetch_jwks_document(url, timeout)
    keys = document.get("keys", []) if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise HarnessError(f"{url} answered no JWKS (no list of keys)")
    return [k for k in keys if isinstance(k, dict)]


async def _fetch_in_thread(url: str) -> Any:
    if urlsplit(url).scheme != "http":
        raise HarnessError(f"only http:// JWKS URLs can be fetched locally ({url})")
    return await asyncio.to_thread(fetch_jwks_document, url, 5.0)


class KeyStore:
    """The verifying keys of every issuer the gateway's authorizers name, cached per JWKS URL."""

    def __init__(
        self,
        state_dir: Path,
        refetch_interval: float = 10.0,
        *,
        fetch: JwksFetch | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.refetch_interval = refetch_interval
        self.aws_endpoint: str | None = None
        self.fetch: JwksFetch = fetch or _fetch_in_thread
        self._keys: dict[str, dict[str, Any]] = {}  # jwks url -> kid -> public key
        self._fetched: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._local: LocalIssuer | None = None
        self._local_public: Any = None

    def local_issuer(self) -> LocalIssuer:
        if self._local is None:
            self._local = LocalIssuer(self.state_dir)
        return self._local

    @staticmethod
    def is_local(issuer: str | None) -> bool:
        return is_local_issuer(issuer)

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
            jwks_uri and jwks_uri.endswith(ISSUER_PATH + JWKS_SUFFIX)
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
        try:
            document = await self.fetch(url)
        except (HarnessError, OSError, TimeoutError, ValueError) as exc:
            logger.warning("gateway: cannot fetch JWKS %s: %s", url, exc)
            self._keys.setdefault(url, {})
            return
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if jwk.get("kty") != "RSA":
                continue
            try:
                keys[jwk.get("kid", "")] = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            except (jwt.PyJWTError, ValueError, KeyError) as exc:
                logger.warning("gateway: bad key in %s: %s", url, exc)
        self._keys[url] = keys
