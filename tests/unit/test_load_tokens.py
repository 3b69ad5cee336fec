"""Token providers: JWT expiry parsing, refresh before expiry, static, command and OAuth2."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from harness.auth import (
    CommandTokens,
    OAuth2ClientCredentials,
    StaticTokens,
    Token,
    TokenCache,
    TokenError,
    jwt_claims,
    jwt_expiry,
)


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_jwt_expiry_without_verifying() -> None:
    token = _jwt({"sub": "u1", "exp": 2_000_000_000, "custom:tenant": "t1"})
    assert jwt_expiry(token) == 2_000_000_000
    assert jwt_claims(token)["custom:tenant"] == "t1"  # type: ignore[index]
    assert jwt_expiry(_jwt({"sub": "x"})) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None
    assert jwt_expiry(_jwt({"exp": True})) is None


class _Counting:
    def __init__(self, lifetime: float) -> None:
        self.calls = 0
        self.lifetime = lifetime

    def token(self, tenant: str, user: str) -> Token:
        self.calls += 1
        exp = int(time.time() + self.lifetime)
        return Token(_jwt({"sub": user, "tenant": tenant, "n": self.calls, "exp": exp}), exp)


def test_cache_refreshes_before_expiry() -> None:
    provider = _Counting(lifetime=100)
    cache = TokenCache(provider, margin=60)
    first = cache.get("t1", "u1")
    assert cache.get("t1", "u1") == first and provider.calls == 1
    assert cache.refresh_due() == 0  # 100 s left, margin min(60, 100/5=20) s
    assert cache.refresh_due(now=time.time() + 85) == 1  # 15 s left: refreshed
    assert cache.get("t1", "u1") != first and provider.calls == 2


def test_cache_fetches_an_expired_token_synchronously() -> None:
    provider = _Counting(lifetime=-5)
    cache = TokenCache(provider)
    cache.get("t", "u")
    cache.get("t", "u")
    assert provider.calls == 2


def test_prefetch_fetches_each_pair_once() -> None:
    provider = _Counting(lifetime=3600)
    cache = TokenCache(provider)
    pairs = [("t1", "a"), ("t1", "b"), ("t2", "a")]
    cache.prefetch(pairs)
    cache.prefetch(pairs)
    assert provider.calls == 3 and set(cache.export()) == set(pairs)


def test_static_tokens_from_dict_and_file(tmp_path: Path) -> None:
    tokens = StaticTokens({"t1": "tok-1", "t2": {"alice": "tok-a", "*": "tok-2"}, "*": "any"})
    assert tokens.token("t1", "x").value == "tok-1"
    assert tokens.token("t2", "alice").value == "tok-a"
    assert tokens.token("t2", "bob").value == "tok-2"
    assert tokens.token("t3", "bob").value == "any"
    path = tmp_path / "tokens.yaml"
    path.write_text("t1: abc\n")
    assert StaticTokens.from_file(path).token("t1", "u").value == "abc"
    with pytest.raises(TokenError):
        StaticTokens.from_file(path).token("t9", "u")


def test_command_tokens(tmp_path: Path) -> None:
    exp = int(time.time()) + 600
    jwt = _jwt({"exp": exp})
    script = tmp_path / "tok.py"
    script.write_text(
        f"import sys\nprint('log line')\nprint('{jwt}' if sys.argv[2] == 'u1' else 'x')\n"
    )
    provider = CommandTokens([sys.executable, str(script), "{tenant}", "{user}"], ttl=30)
    token = provider.token("t1", "u1")
    assert token.value == jwt and token.expires_at == exp
    other = provider.token("t1", "u2")
    assert other.value == "x" and other.remaining() == pytest.approx(30, abs=5)
    as_json = CommandTokens(
        [sys.executable, "-c", 'print(\'{"access_token": "j", "expires_in": 99}\')']
    ).token("t", "u")
    assert as_json.value == "j" and as_json.remaining() == pytest.approx(99, abs=5)
    with pytest.raises(TokenError, match="exited 3"):
        CommandTokens([sys.executable, "-c", "import sys; sys.exit(3)"]).token("t", "u")


@pytest.fixture
def token_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.append({"body": body, "auth": self.headers.get("Authorization", "")})
            data = json.dumps({"access_token": "cc-token", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/oauth2/token", seen
    server.shutdown()
    server.server_close()


def test_oauth2_client_credentials(token_server: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = token_server
    provider = OAuth2ClientCredentials(url, "cid", "secret", scope="api/read")
    token = provider.token("t1", "u1")
    assert token.value == "cc-token" and token.remaining() == pytest.approx(3600, abs=5)
    assert (
        "grant_type=client_credentials" in seen[0]["body"] and "scope=api%2Fread" in seen[0]["body"]
    )
    assert seen[0]["auth"] == "Basic " + base64.b64encode(b"cid:secret").decode()
    OAuth2ClientCredentials(url, "cid", "secret", auth_method="post").token("t", "u")
    assert "client_secret=secret" in seen[1]["body"]
