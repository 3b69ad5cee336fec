"""SyncWell's dual-issuer Lambda authorizer without AWS: the token matrix against both issuers,
the DR flag, the JWKS cache, and the answers API Gateway maps to 401."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import authorizer  # noqa: E402

PRIMARY = "http://127.0.0.1:9/_harness/issuer"
STANDBY = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Standby"


class Issuer:
    def __init__(self, iss: str, kid: str) -> None:
        self.iss, self.kid = iss, kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def mint(self, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.iss, "iat": now, "exp": now + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body, self.key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )


@pytest.fixture
def issuers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Issuer]]:
    found = {"primary": Issuer(PRIMARY, "p1"), "standby": Issuer(STANDBY, "s1")}
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        for issuer in found.values():
            if url == authorizer.jwks_url(issuer.iss):
                return {issuer.kid: issuer.jwk()}
        raise OSError(f"no JWKS at {url}")

    monkeypatch.setattr(authorizer, "_fetch", fetch)
    monkeypatch.setattr(authorizer, "_jwks", {})
    monkeypatch.setattr(authorizer, "_last_fetch", {})
    monkeypatch.setenv("PRIMARY_ISSUER", PRIMARY)
    monkeypatch.setenv("PRIMARY_AUDIENCE", "syncwell-prod")
    monkeypatch.setenv("STANDBY_ISSUER", STANDBY)
    monkeypatch.setenv("STANDBY_CLIENT_ID", "mobile-client")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.delenv("ACCEPTED_ISSUERS", raising=False)
    found["fetched"] = fetched  # type: ignore[assignment]
    yield found


def call(token: str | None) -> dict[str, Any]:
    sources = [f"Bearer {token}"] if token is not None else []
    return authorizer.handler({"type": "REQUEST", "identitySource": sources, "routeArn": "arn"})


def denied(token: str | None) -> str:
    with pytest.raises(authorizer.Unauthorized) as raised:
        call(token)
    assert str(raised.value) == "Unauthorized"  # the message API Gateway maps to 401
    return raised.value.reason


def test_a_primary_token_authorizes_its_sub_and_tier(issuers: dict[str, Issuer]) -> None:
    token = issuers["primary"].mint(sub="u-1", aud="syncwell-prod", **{"custom:tier": "pro"})
    answer = call(token)
    assert answer == {
        "isAuthorized": True,
        "context": {
            "userId": "u-1",
            "tier": "PRO",
            "issuer": "primary",
            "admin": False,
            "custom:tenant_id": "u-1",
            "custom:tier": "PRO",
        },
    }
    # the harness's local tokens name the audience in client_id
    assert call(issuers["primary"].mint(sub="u-2", client_id="syncwell-prod"))["context"][
        "tier"
    ] == ("FREE")


def test_standby_cognito_tokens_authorize_the_username(issuers: dict[str, Issuer]) -> None:
    standby = issuers["standby"]
    access = standby.mint(sub="9f1c", username="u-1", client_id="mobile-client", token_use="access")
    assert call(access)["context"]["userId"] == "u-1"
    assert call(access)["context"]["issuer"] == "standby"
    id_token = standby.mint(
        sub="9f1c", aud="mobile-client", token_use="id", **{"cognito:username": "u-1"}
    )
    assert call(id_token)["context"]["userId"] == "u-1"
    assert "not a Cognito" in denied(
        standby.mint(sub="x", username="u-1", client_id="mobile-client")
    )
    # the emulator serves the pool's keys under the AWS endpoint
    assert "http://127.0.0.1:4566/us-east-1_Standby/.well-known/jwks.json" in issuers["fetched"]  # type: ignore[operator]


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_the_token_matrix_is_refused(issuers: dict[str, Issuer]) -> None:
    primary = issuers["primary"]
    good = {"sub": "u-1", "aud": "syncwell-prod"}
    assert "Expired" in denied(primary.mint(**{**good, "exp": int(time.time()) - 5}))
    assert "Immature" in denied(primary.mint(**good, nbf=int(time.time()) + 300))
    assert "audience" in denied(primary.mint(sub="u-1", aud="another-app"))
    assert "audience" in denied(
        issuers["standby"].mint(
            sub="x", username="u-1", client_id="another-client", token_use="access"
        )
    )
    stranger = Issuer("https://evil.example/issuer", "p1")
    assert "not accepted" in denied(stranger.mint(**good))
    forged_key = Issuer(PRIMARY, "p1")  # right issuer and kid, another key
    assert "Signature" in denied(forged_key.mint(**good))
    assert "Signature" in denied(_tampered(primary.mint(**good)))
    unsigned = jwt.encode({**good, "iss": PRIMARY, "exp": int(time.time()) + 60}, None, "none")
    assert "not RS256" in denied(unsigned)
    hs = jwt.encode({**good, "iss": PRIMARY, "exp": int(time.time()) + 60}, "k" * 32, "HS256")
    assert "not RS256" in denied(hs)
    assert "malformed" in denied("not.a.jwt")
    assert "no bearer" in denied(None)
    assert "MissingRequiredClaim" in denied(primary.mint(aud="syncwell-prod"))  # no sub
    assert "user id" in denied(primary.mint(sub="USER#u-2", aud="syncwell-prod"))


def test_the_dr_flag_shuts_an_issuer_out(
    issuers: dict[str, Issuer], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = issuers["primary"].mint(sub="u-1", aud="syncwell-prod")
    standby = issuers["standby"].mint(
        sub="9f", username="u-1", client_id="mobile-client", token_use="access"
    )
    monkeypatch.setenv("ACCEPTED_ISSUERS", "standby")  # fail over to Cognito
    assert "not accepted" in denied(primary)
    assert call(standby)["isAuthorized"] is True
    monkeypatch.setenv("ACCEPTED_ISSUERS", "primary")
    assert "not accepted" in denied(standby)
    assert call(primary)["isAuthorized"] is True


def test_jwks_is_cached_and_an_unknown_kid_refetches_at_most_every_30_s(
    issuers: dict[str, Issuer],
) -> None:
    fetched: list[str] = issuers["fetched"]  # type: ignore[assignment]
    primary = issuers["primary"]
    for i in range(5):
        call(primary.mint(sub=f"u-{i}", aud="syncwell-prod"))
    assert len(fetched) == 1
    rotated = Issuer(PRIMARY, "p2")
    assert "no key 'p2'" in denied(rotated.mint(sub="u-1", aud="syncwell-prod"))
    assert len(fetched) == 1  # fetched less than 30 s ago: no refetch for a forged kid
    authorizer._last_fetch.clear()
    denied(rotated.mint(sub="u-1", aud="syncwell-prod"))
    assert len(fetched) == 2  # an unknown kid after 30 s refetches (key rotation)


def test_an_unreachable_jwks_is_a_401_not_a_crash(
    issuers: dict[str, Issuer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(url: str) -> dict[str, Any]:
        raise OSError("connection refused")

    monkeypatch.setattr(authorizer, "_fetch", down)
    assert "unavailable" in denied(issuers["primary"].mint(sub="u-1", aud="syncwell-prod"))


def test_admin_role_from_roles_or_cognito_groups(issuers: dict[str, Issuer]) -> None:
    primary = issuers["primary"].mint(sub="ops-1", aud="syncwell-prod", roles=["syncwell-admin"])
    assert call(primary)["context"]["admin"] is True
    standby = issuers["standby"].mint(
        sub="9f1c",
        username="ops-2",
        client_id="mobile-client",
        token_use="access",
        **{"cognito:groups": ["syncwell-admin"]},
    )
    assert call(standby)["context"]["admin"] is True
    # a primary token cannot claim admin through a Cognito-only claim, nor the reverse
    sneaky = issuers["primary"].mint(
        sub="u-9", aud="syncwell-prod", **{"cognito:groups": ["syncwell-admin"]}
    )
    assert call(sneaky)["context"]["admin"] is False


def _admin_event(body: object, admin: bool = True) -> dict[str, object]:
    return {
        "version": "2.0",
        "rawPath": "/v1/admin/jwks-cache/invalidate",
        "body": body if isinstance(body, str) else json.dumps(body),
        "requestContext": {
            "http": {"method": "POST"},
            "authorizer": {"lambda": {"userId": "ops-1", "admin": admin}},
        },
    }


@pytest.mark.parametrize(
    ("body", "admin", "status"),
    [
        ({"issuer": "primary"}, False, 403),
        ("not json", True, 400),
        ({"issuer": "primary", "extra": 1}, True, 400),
        ({"issuer": "https://evil.example"}, True, 400),
        ({"issuer": "standby", "kid": ""}, True, 400),
        ({"issuer": "primary", "kid": "k1"}, True, 503),  # no Redis here: the cache is down
    ],
)
def test_admin_endpoint_checks_the_caller_and_the_body(
    issuers: dict[str, Issuer],
    monkeypatch: pytest.MonkeyPatch,
    body: object,
    admin: bool,
    status: int,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    answer = authorizer.handler(_admin_event(body, admin))
    assert answer["statusCode"] == status
    assert "error" in json.loads(answer["body"])


def test_without_redis_the_in_memory_jwks_expires_an_hour_after_its_fetch(
    issuers: dict[str, Issuer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback copy is not renewed by being read: a key revoked at the issuer stops
    working at most an hour after it was fetched, however busy the authorizer is."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    clock = [1000.0]
    monkeypatch.setattr(authorizer.time, "monotonic", lambda: clock[0])
    fetched: list[str] = issuers["fetched"]  # type: ignore[assignment]
    token = issuers["primary"].mint(sub="u-1", aud="syncwell-prod")
    for offset in (0, 3000, 3599):
        clock[0] = 1000.0 + offset
        call(token)
    assert len(fetched) == 1
    clock[0] = 1000.0 + 3601
    call(token)
    assert len(fetched) == 2
