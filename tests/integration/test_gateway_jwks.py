"""JWKS fetched over HTTP from an issuer: caching, key rotation, refetch limits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from harness.auth.jwks import KeyStore
from harness.gateway.jwks_fetch import PooledJwksFetch
from harness.gateway.jwt_auth import JwtRejected, verify_token
from harness.tokens import LocalIssuer

pytestmark = pytest.mark.integration


class Issuer:
    """An OIDC issuer on loopback serving the JWKS of the keys it currently has."""

    def __init__(self, tmp: Path) -> None:
        self.keys = [LocalIssuer(tmp / "k1", "http://unused")]
        self.tmp = tmp
        self.fetches = 0
        self.url = ""

    def rotate(self) -> LocalIssuer:
        new = LocalIssuer(self.tmp / f"k{len(self.keys) + 1}", "http://unused")
        self.keys.append(new)
        return new

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.fetches += 1
                body = json.dumps({"keys": [k.jwk for k in self.keys]}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def mint(self, key: LocalIssuer) -> str:
        return key.mint("u", issuer=self.url, client_id="app")


def test_fetch_cache_rotation_and_refetch_limit(tmp_path: Path) -> None:
    issuer = Issuer(tmp_path)

    async def go() -> None:
        server = await asyncio.start_server(issuer.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        issuer.url = f"http://127.0.0.1:{port}/issuer"
        fetch = PooledJwksFetch()  # the gateway's fetch
        store = KeyStore(tmp_path / "state", refetch_interval=0.3, fetch=fetch)

        async def check(token: str) -> dict:
            return await verify_token(token, issuer=issuer.url, jwks_uri=None, keystore=store)

        try:
            first = issuer.keys[0]
            assert (await check(issuer.mint(first)))["client_id"] == "app"
            await check(issuer.mint(first))
            assert issuer.fetches == 1  # cached
            rotated = issuer.rotate()
            time.sleep(0.35)  # keys rotate long after the first fetch
            await check(issuer.mint(rotated))  # unknown kid: refetched
            assert issuer.fetches == 2
            forged = LocalIssuer(tmp_path / "forged", "http://unused")
            for _ in range(5):  # unknown kids do not hammer the issuer
                with pytest.raises(JwtRejected):
                    await check(issuer.mint(forged))
            assert issuer.fetches <= 3
            time.sleep(0.35)
            with pytest.raises(JwtRejected):
                await check(issuer.mint(forged))
            assert issuer.fetches <= 4
        finally:
            await fetch.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(go())
