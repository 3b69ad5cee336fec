"""The harness's own token issuer: an RSA key pair per state folder, its JWKS, and minting.

The key is generated once per state folder and kept in ``<state_dir>/issuer/private.pem``. The
daemon serves its JWKS at ``{gateway_url}/_harness/issuer/.well-known/jwks.json`` (and the
OpenID configuration next to it); the issuer URL is ``{gateway_url}/_harness/issuer``. A JWT
authorizer whose ``issuer`` is that URL accepts the tokens :meth:`LocalIssuer.mint` makes::

    issuer = LocalIssuer(state_dir, gateway_url)
    token = issuer.mint("user-1", tenant="t1", tier="basic", scopes=["orders/read"],
                        audience="my-client")
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.auth.claims import b64url
from harness.errors import ConfigError

__all__ = [
    "DEFAULT_TENANT_CLAIM",
    "DEFAULT_TIER_CLAIM",
    "ISSUER_PATH",
    "LocalIssuer",
    "is_local_issuer",
    "jwk_thumbprint",
    "local_issuer_url",
]

ISSUER_PATH = "/_harness/issuer"
DEFAULT_TENANT_CLAIM = "custom:tenant_id"
DEFAULT_TIER_CLAIM = "custom:tier"


def is_local_issuer(issuer: str | None) -> bool:
    """Whether ``issuer`` is a harness gateway's own issuer URL."""
    return bool(issuer) and str(issuer).rstrip("/").endswith(ISSUER_PATH)


def local_issuer_url(gateway_url: str) -> str:
    return gateway_url.rstrip("/") + ISSUER_PATH


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an RSA JWK (used as its ``kid``)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


class LocalIssuer:
    """The harness's own token issuer for one state folder."""

    def __init__(self, state_dir: Path | str, gateway_url: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.folder = self.state_dir / "issuer"
        self._gateway_url = gateway_url
        self._private: Any = None
        self._jwk: dict[str, str] | None = None

    # -- keys ------------------------------------------------------------------------------

    def _load_or_create(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = self.folder / "private.pem"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = self.folder / f".private-{uuid.uuid4().hex}.pem"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            try:
                os.link(tmp, path)  # atomic create-if-absent: the first writer wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        private: Any = serialization.load_pem_private_key(path.read_bytes(), password=None)
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "e": _b64url_uint(numbers.e), "n": _b64url_uint(numbers.n)}
        jwk = {**jwk, "kid": jwk_thumbprint(jwk), "alg": "RS256", "use": "sig"}
        self._private, self._jwk = private, jwk

    @property
    def private_key(self) -> Any:
        if self._private is None:
            self._load_or_create()
        return self._private

    @property
    def jwk(self) -> dict[str, str]:
        if self._jwk is None:
            self._load_or_create()
        assert self._jwk is not None
        return self._jwk

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def public_key(self) -> Any:
        return self.private_key.public_key()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    # -- URLs ------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        if self._gateway_url:
            return self._gateway_url
        try:
            state = json.loads((self.state_dir / "state.json").read_text())
            self._gateway_url = str(state["endpoints"]["gateway_url"])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"no gateway URL: {self.state_dir / 'state.json'} is missing or has no endpoints",
                fix="run `harness up` first, or pass gateway_url=...",
            ) from exc
        return self._gateway_url

    @gateway_url.setter
    def gateway_url(self, url: str) -> None:
        self._gateway_url = url

    @property
    def issuer(self) -> str:
        return local_issuer_url(self.gateway_url)

    def openid_configuration(self) -> dict[str, Any]:
        issuer = self.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "scope", "client_id"],
        }

    # -- minting ---------------------------------------------------------------------------

    def mint(
        self,
        sub: str,
        *,
        tenant: str | None = None,
        tier: str | None = None,
        scopes: Iterable[str] = (),
        client_id: str | None = None,
        audience: str | list[str] | None = None,
        token_use: str = "access",
        expires_in: int = 3600,
        not_before: int | None = None,
        issued_at: int | None = None,
        tenant_claim: str = DEFAULT_TENANT_CLAIM,
        tier_claim: str = DEFAULT_TIER_CLAIM,
        claims: dict[str, Any] | None = None,
        issuer: str | None = None,
    ) -> str:
        """A signed RS256 JWT. ``claims`` are added last (and may override anything)."""
        import jwt

        now = int(time.time()) if issued_at is None else issued_at
        body: dict[str, Any] = {
            "sub": sub,
            "iss": issuer or self.issuer,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "token_use": token_use,
        }
        if not_before is not None:
            body["nbf"] = not_before
        if client_id is not None:
            body["client_id"] = client_id
        if audience is not None:
            body["aud"] = audience
        scopes = list(scopes)
        if scopes:
            body["scope"] = " ".join(scopes)
        if tenant is not None:
            body[tenant_claim] = tenant
        if tier is not None:
            body[tier_claim] = tier
        if claims:
            body.update(claims)
        return jwt.encode(body, self.private_key, algorithm="RS256", headers={"kid": self.kid})
