"""harness.auth: the token endpoint's form POST, JWKS fetching and the key store's default
fetch, each shown answering and failing (HTTP error, no answer, not JSON, no keys)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.auth import KeyStore, LocalIssuer, OAuth2ClientCredentials
from harness.auth.cognito import cognito_client_credentials, cognito_signature_problem
from harness.auth.http import post_form
from harness.auth.jwks import fetch_jwks
from harness.errors import HarnessError, TokenError
from tests.loopback import serving

ANSWERS: dict[str, tuple[int, bytes]] = {}


@pytest.fixture
def server() -> Iterator[str]:
    """A loopback server answering ``ANSWERS[path]`` (status, body) to GET and POST."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, body = ANSWERS.get(self.path, (404, b'{"message": "no such path"}'))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url
    ANSWERS.clear()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_post_form_answers_and_refusals(server: str) -> None:
    ANSWERS["/token"] = (200, b'{"access_token": "a"}')
    assert post_form(server + "/token", {"grant_type": "x"}, headers={}) == {"access_token": "a"}
    ANSWERS["/token"] = (400, b'{"error": "invalid_client", "error_description": "bad secret"}')
    with pytest.raises(TokenError, match=r"POST .*/token was refused \(400\): bad secret"):
        post_form(server + "/token", {}, headers={})
    ANSWERS["/token"] = (500, b"<html>oops</html>")
    with pytest.raises(TokenError, match=r"refused \(500\): <html>oops"):
        post_form(server + "/token", {}, headers={})
    ANSWERS["/token"] = (200, b"not json")
    with pytest.raises(TokenError, match="not JSON"):
        post_form(server + "/token", {}, headers={})
    ANSWERS["/token"] = (200, b"[1]")
    with pytest.raises(TokenError, match="not a JSON object"):
        post_form(server + "/token", {}, headers={})
    with pytest.raises(TokenError, match="does not answer"):
        post_form(f"http://127.0.0.1:{closed_port()}/token", {}, headers={}, timeout=2)


def test_token_endpoints_fail_with_a_token_error(server: str) -> None:
    ANSWERS["/oauth2/token"] = (401, b'{"error": "invalid_client"}')
    with pytest.raises(TokenError, match="invalid_client"):
        cognito_client_credentials({"aws_endpoint": server}, "cid", "secret")
    with pytest.raises(TokenError, match="invalid_client"):
        OAuth2ClientCredentials(server + "/oauth2/token", "cid", "s").token("t", "u")
    ANSWERS["/oauth2/token"] = (200, b'{"token_type": "Bearer"}')
    with pytest.raises(TokenError, match="without an access_token"):
        OAuth2ClientCredentials(server + "/oauth2/token", "cid", "s").token("t", "u")


def test_fetch_jwks_and_a_signature_check(server: str, tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path, server)
    ANSWERS["/pool/.well-known/jwks.json"] = (200, json.dumps(issuer.jwks()).encode())
    assert fetch_jwks(server + "/pool/.well-known/jwks.json") == [issuer.jwk]
    endpoints = {"aws_endpoint": server}
    assert cognito_signature_problem(endpoints, "pool", issuer.mint("u")) == ""
    other = LocalIssuer(tmp_path / "other", server)
    assert "no key" in cognito_signature_problem(endpoints, "pool", other.mint("u"))
    ANSWERS["/pool/.well-known/jwks.json"] = (200, b'{"keys": "none"}')
    with pytest.raises(HarnessError, match="no JWKS"):
        fetch_jwks(server + "/pool/.well-known/jwks.json")
    assert "refused (404)" in cognito_signature_problem(endpoints, "nopool", issuer.mint("u"))


def test_key_store_default_fetch(server: str, tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path / "k", server + "/iss")
    ANSWERS["/iss/.well-known/jwks.json"] = (200, json.dumps(issuer.jwks()).encode())
    store = KeyStore(tmp_path / "state", refetch_interval=60)

    async def go() -> None:
        assert await store.key(server + "/iss", None, issuer.kid) is not None
        assert await store.key(server + "/iss", None, "forged-kid") is None
        # an issuer that does not answer gives no key (and a warning), not an exception
        missing = f"http://127.0.0.1:{closed_port()}/iss"
        assert await store.key(missing, None, issuer.kid) is None
        assert await store.key("https://example.com/iss", None, issuer.kid) is None

    asyncio.run(go())
