"""Token providers: where load requests (and remote targets) get their bearer tokens.

A :class:`TokenProvider` maps ``(tenant, user)`` to a :class:`Token` (its value and when it
expires). Built-ins:

* :class:`StaticTokens` — fixed tokens from a dict or a JSON/YAML file;
* :class:`OAuth2ClientCredentials` — ``POST token_url`` with ``grant_type=client_credentials``
  (Cognito's ``/oauth2/token``), to aim the same test at staging;
* :class:`CommandTokens` — runs a command such as ``harness token STACK --tenant {tenant}
  --user {user}`` and takes its output.

:class:`StackTokens` asks :func:`harness.auth.stack.token_for_stack` for a stack deployed on a
local environment. :class:`TokenCache` wraps any provider: it remembers tokens and fetches a new one shortly before
the old one expires (the expiry is read from the JWT's ``exp`` claim without verifying it when
the provider does not say). Providers are pickled into the generator processes, so keep them
plain data.
"""

from __future__ import annotations

import base64
import json
import logging
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.auth.claims import jwt_expiry
from harness.auth.http import post_form
from harness.auth.stack import token_for_stack
from harness.errors import ConfigError, HarnessError, TokenError

__all__ = [
    "CommandTokens",
    "OAuth2ClientCredentials",
    "StackTokens",
    "StaticTokens",
    "Token",
    "TokenCache",
    "TokenError",
    "TokenProvider",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float | None = None  # epoch seconds; None = does not expire

    def remaining(self, now: float | None = None) -> float:
        if self.expires_at is None:
            return float("inf")
        return self.expires_at - (time.time() if now is None else now)


@runtime_checkable
class TokenProvider(Protocol):
    def token(self, tenant: str, user: str) -> Token: ...


def _token(value: str, ttl: float | None = None) -> Token:
    value = value.strip()
    expiry = jwt_expiry(value)
    if expiry is None and ttl is not None:
        expiry = time.time() + ttl
    return Token(value, expiry)


class StaticTokens:
    """Fixed tokens: ``{tenant: token}``, ``{tenant: {user: token}}`` or ``{"*": token}``."""

    def __init__(self, tokens: Mapping[str, str | Mapping[str, str]]) -> None:
        self.tokens = {k: (v if isinstance(v, str) else dict(v)) for k, v in tokens.items()}

    @classmethod
    def from_file(cls, path: str | Path) -> StaticTokens:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file: {exc}", source=str(path)) from None
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ConfigError(
                "a token file maps tenant ids to tokens (or to {user: token}).", source=str(path)
            )
        return cls(data)

    def token(self, tenant: str, user: str) -> Token:
        entry = self.tokens.get(tenant, self.tokens.get("*"))
        if isinstance(entry, dict):
            entry = entry.get(user, entry.get("*"))
        if not isinstance(entry, str):
            raise TokenError(f"no static token for tenant '{tenant}' user '{user}'.")
        return _token(entry)


class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant (e.g. Cognito ``https://DOMAIN/oauth2/token``).

    ``clients`` optionally maps a tenant id to its own ``(client_id, client_secret)``; otherwise
    one client serves every tenant (the token then identifies the client, not the user).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        clients: Mapping[str, tuple[str, str]] | None = None,
        auth_method: str = "basic",
        timeout: float = 10.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.clients = dict(clients or {})
        self.auth_method = auth_method
        self.timeout = timeout

    def token(self, tenant: str, user: str) -> Token:
        client_id, secret = self.clients.get(tenant, (self.client_id, self.client_secret))
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers: dict[str, str] = {}
        if self.auth_method == "basic":
            raw = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        else:
            form.update(client_id=client_id, client_secret=secret)
        body = post_form(self.token_url, form, headers=headers, timeout=self.timeout)
        value = body.get("access_token")
        if not isinstance(value, str):
            raise TokenError(f"{self.token_url} answered without an access_token: {body}")
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) else None
        return _token(value, ttl)


class CommandTokens:
    """Runs a command (``{tenant}`` and ``{user}`` substituted) and uses its stdout as the token.

    The output may be the bare token or JSON with ``access_token``/``token`` (and optionally
    ``expires_in``). ``ttl`` is used when neither the JWT nor the JSON says when it expires.
    """

    def __init__(
        self, command: str | list[str], *, ttl: float | None = 3600.0, timeout: float = 60.0
    ) -> None:
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.command:
            raise ConfigError("the token command is empty.", source="tokens.command")
        self.ttl = ttl
        self.timeout = timeout

    def argv(self, tenant: str, user: str) -> list[str]:
        return [part.replace("{tenant}", tenant).replace("{user}", user) for part in self.command]

    def token(self, tenant: str, user: str) -> Token:
        argv = self.argv(tenant, user)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(f"token command {shlex.join(argv)} failed: {exc}") from exc
        if done.returncode != 0:
            raise TokenError(
                f"token command {shlex.join(argv)} exited {done.returncode}: "
                f"{done.stderr.strip()[-500:]}"
            )
        out = done.stdout.strip()
        if out.startswith("{"):
            try:
                data = json.loads(out)
            except ValueError:
                data = {}
            value = data.get("access_token") or data.get("token")
            if isinstance(value, str):
                expires_in = data.get("expires_in")
                ttl = float(expires_in) if isinstance(expires_in, int | float) else self.ttl
                return _token(value, ttl)
        if not out:
            raise TokenError(f"token command {shlex.join(argv)} printed nothing.")
        return _token(out.splitlines()[-1], self.ttl)


class StackTokens:
    """Tokens for a stack deployed on a local environment, obtained the way its clients get them
    (:func:`harness.auth.stack.token_for_stack`: the stack's Cognito pool or the local issuer).

    Plain data (two strings), so it pickles into the generator processes, which refresh tokens
    with it before they expire.
    """

    def __init__(self, state_dir: str | Path, stack: str, *, expires_in: int = 3600) -> None:
        self.state_dir = str(state_dir)
        self.stack = stack
        self.expires_in = expires_in

    def token(self, tenant: str, user: str) -> Token:
        try:
            found = token_for_stack(
                self.state_dir, self.stack, tenant, user=user, expires_in=self.expires_in
            )
        except HarnessError:
            raise
        except Exception as exc:
            raise TokenError(f"no token for {tenant}/{user} of stack {self.stack}: {exc}") from exc
        return _token(found.token, float(self.expires_in))


class TokenCache:
    """Remembers tokens per (tenant, user) and refreshes them before they expire.

    A token is due for refresh when less than ``margin`` seconds (default: 60 s, or a fifth of
    a short token's lifetime) remain.
    """

    def __init__(self, provider: TokenProvider, *, margin: float = 60.0) -> None:
        self.provider = provider
        self.margin = margin
        self.tokens: dict[tuple[str, str], Token] = {}
        self.lifetimes: dict[tuple[str, str], float] = {}
        self.refreshes = 0
        self.failures = 0

    def _store(self, key: tuple[str, str], token: Token) -> Token:
        self.tokens[key] = token
        if token.expires_at is not None:
            self.lifetimes[key] = max(token.expires_at - time.time(), 0.0)
        return token

    def get(self, tenant: str, user: str) -> str:
        key = (tenant, user)
        token = self.tokens.get(key)
        if token is None or (self.due(key, token) and token.remaining() <= 0):
            token = self._store(key, self.provider.token(tenant, user))
        return token.value

    def due(self, key: tuple[str, str], token: Token, now: float | None = None) -> bool:
        lifetime = self.lifetimes.get(key, float("inf"))
        margin = min(self.margin, lifetime / 5)
        return token.remaining(now) <= margin

    def prefetch(self, keys: Iterable[tuple[str, str]], *, threads: int = 8) -> None:
        """Fetch every token now (in parallel), so no request waits for one."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [k for k in keys if k not in self.tokens]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(threads, len(todo))) as pool:
            for key, token in zip(
                todo, pool.map(lambda k: self.provider.token(*k), todo), strict=True
            ):
                self._store(key, token)

    def refresh_due(self, now: float | None = None) -> int:
        """Refresh the tokens that are about to expire; returns how many were refreshed."""
        done = 0
        for key, token in list(self.tokens.items()):
            if self.due(key, token, now):
                try:
                    self._store(key, self.provider.token(*key))
                    done += 1
                except Exception as exc:  # keep the old token; requests will show 401s
                    self.failures += 1
                    logger.warning("could not refresh the token of %s/%s: %s", *key, exc)
        self.refreshes += done
        return done

    def export(self) -> dict[tuple[str, str], Token]:
        return dict(self.tokens)

    def load(self, tokens: Mapping[tuple[str, str], Token]) -> None:
        for key, token in tokens.items():
            self._store(key, token)
