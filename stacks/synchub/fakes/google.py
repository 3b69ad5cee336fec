"""A stand-in for Google's OpenID Connect provider (Sign in with Google).

The user pool federates to it as the identity provider ``Google`` (template.yaml). It serves the
endpoints Cognito uses, with Google's paths and claim names:

* ``GET /.well-known/openid-configuration`` (discovery; ``issuer`` is this server's base URL);
* ``GET /o/oauth2/v2/auth`` — the account chooser: one link per test account (``--accounts``, a
  JSON list of ``{"email", "sub", "name", "hd"}``; ``hd`` is a Workspace account's hosted domain,
  which Sync Hub maps to the tenant); ``login_hint=<email>`` signs that account in at once;
* ``POST /token`` — the authorization-code exchange (client id and secret checked; codes are
  single use and live 5 minutes), answering an RS256 ``id_token`` signed with a key made at start;
* ``GET /oauth2/v3/certs`` (JWKS) and ``GET /v1/userinfo``.

    python fakes/google.py --port 8001 --accounts fixtures/google-accounts.json \
        --client-id synchub-local --client-secret synchub-local-secret
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = secrets.token_hex(8)
CODE_TTL = 300

_codes: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()
CONFIG: dict[str, Any] = {}


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict[str, Any]:
    numbers = KEY.public_key().public_numbers()
    return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID,
                      "n": _b64(numbers.n), "e": _b64(numbers.e)}]}  # fmt: skip


def id_token(account: dict[str, Any], audience: str, nonce: str | None) -> str:
    now = int(time.time())
    claims = {
        "iss": CONFIG["issuer"], "aud": audience, "azp": audience, "sub": account["sub"],
        "email": account["email"], "email_verified": True, "name": account.get("name", ""),
        "iat": now, "exp": now + 3600,
    }  # fmt: skip
    if account.get("hd"):
        claims["hd"] = account["hd"]
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write("google: " + fmt % args + "\n")

    def _send(
        self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        base = CONFIG["issuer"]
        if url.path == "/_control/health":
            self._json(200, {"status": "ok", "accounts": len(CONFIG["accounts"])})
        elif url.path == "/.well-known/openid-configuration":
            self._json(200, {
                "issuer": base, "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
                "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/oauth2/v3/certs",
                "userinfo_endpoint": f"{base}/v1/userinfo",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
            })  # fmt: skip
        elif url.path == "/oauth2/v3/certs":
            self._json(200, jwks())
        elif url.path == "/o/oauth2/v2/auth":
            self._authorize(query)
        elif url.path == "/v1/userinfo":
            self._userinfo()
        else:
            self._json(404, {"error": "not_found"})

    def _authorize(self, query: dict[str, str]) -> None:
        if query.get("client_id") != CONFIG["client_id"]:
            self._json(400, {"error": "invalid_client", "error_description": "unknown client_id"})
            return
        if query.get("response_type", "code") != "code" or not query.get("redirect_uri"):
            self._json(400, {"error": "invalid_request", "error_description": "need code flow"})
            return
        accounts = {a["email"]: a for a in CONFIG["accounts"]}
        chosen = query.get("login_hint")
        if chosen in accounts:
            code = secrets.token_urlsafe(24)
            with _lock:
                _codes[code] = {"account": accounts[chosen], "client_id": query["client_id"],
                                "redirect_uri": query["redirect_uri"], "nonce": query.get("nonce"),
                                "expires": time.time() + CODE_TTL}  # fmt: skip
            target = query["redirect_uri"]
            params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
            location = target + ("&" if "?" in target else "?") + urlencode(params)
            self._send(302, b"", "text/plain", {"Location": location})
            return
        links = []
        for email, account in accounts.items():
            href = "/o/oauth2/v2/auth?" + urlencode({**query, "login_hint": email})
            links.append(f'<li><a class="account" data-email="{html.escape(email)}" '
                         f'href="{html.escape(href)}">{html.escape(account.get("name") or email)}'
                         f" &lt;{html.escape(email)}&gt;</a></li>")  # fmt: skip
        page = ("<!doctype html><title>Sign in - Google Accounts (stand-in)</title>"
                "<h1>Choose an account</h1><p>to continue to Sync Hub</p><ul>"
                + "".join(links) + "</ul>")  # fmt: skip
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _userinfo(self) -> None:
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        with _lock:
            account = next(
                (c["account"] for c in _codes.values() if c.get("access") == token), None
            )
        if account is None:
            self._json(401, {"error": "invalid_token"})
            return
        self._json(200, {k: account[k] for k in ("sub", "email", "name", "hd") if k in account})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/token":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        if (
            form.get("client_id") != CONFIG["client_id"]
            or form.get("client_secret") != CONFIG["client_secret"]
        ):
            self._json(401, {"error": "invalid_client"})
            return
        if form.get("grant_type") != "authorization_code":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        with _lock:
            entry = _codes.get(form.get("code", ""))
            if entry is not None and "access" in entry:
                entry = None  # single use
        if entry is None or entry["expires"] < time.time():
            self._json(
                400,
                {"error": "invalid_grant", "error_description": "unknown, used or expired code"},
            )
            return
        if form.get("redirect_uri") and form["redirect_uri"] != entry["redirect_uri"]:
            self._json(
                400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
            )
            return
        access = secrets.token_urlsafe(32)
        with _lock:
            entry["access"] = access
        self._json(200, {
            "access_token": access, "token_type": "Bearer", "expires_in": 3599,
            "scope": "openid email profile",
            "id_token": id_token(entry["account"], entry["client_id"], entry.get("nonce")),
        })  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", required=True, help="JSON list of test accounts")
    parser.add_argument("--client-id", default="synchub-local")
    parser.add_argument("--client-secret", default="synchub-local-secret")
    args = parser.parse_args(argv)
    with open(args.accounts, encoding="utf-8") as handle:
        accounts = json.load(handle)
    CONFIG.update(issuer=f"http://127.0.0.1:{args.port}", accounts=accounts,
                  client_id=args.client_id, client_secret=args.client_secret)  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
