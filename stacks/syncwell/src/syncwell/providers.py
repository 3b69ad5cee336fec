"""Third-party providers (Fitbit, Strava, Garmin): OAuth tokens behind UUID pointers in Secrets
Manager, the worker's just-in-time credential cache, and the provider HTTP API.

Tokens never live in the table: a connection holds ``CredentialArn``, the name of a secret
``{SECRETS_PREFIX}/{uuid4}``. :class:`ProviderTokens` is not serialisable through ``repr`` (its
values are redacted).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from syncwell.common import client, env, env_float

__all__ = [
    "CredentialCache",
    "PermanentError",
    "ProviderClient",
    "ProviderError",
    "ProviderTokens",
    "RateLimited",
    "TransientError",
    "Unauthorized",
    "create_secret",
    "credentials",
    "delete_secret",
    "load_tokens",
    "save_tokens",
]

DISPLAY = {"fitbit": "Fitbit", "strava": "Strava", "garmin": "Garmin"}


class ProviderError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(ProviderError):
    """401 / invalid_grant: the user must re-authenticate (connection ``needs_reauth``)."""


class RateLimited(ProviderError):
    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


class TransientError(ProviderError):
    """5xx, timeouts, connection errors: retried through the queue."""


class ProviderUnreachable(TransientError):
    """The provider could not be reached at all (name resolution, connection refused or reset,
    no answer in time): the job is fine and the provider may be too, so the worker defers the
    job like an AWS dependency outage (within its deferral budget) instead of spending one of
    its ``maxReceiveCount`` receives, which are for errors the provider answered."""


class PermanentError(ProviderError):
    """4xx other than 401/429: the job cannot succeed (DLQ after maxReceiveCount)."""


@dataclass
class ProviderTokens:
    access_token: str
    refresh_token: str | None
    expires_in_seconds: int
    issued_at_epoch_seconds: int
    scope: str | None = None
    owner_id: str | None = None

    def __repr__(self) -> str:  # never print a token
        return f"ProviderTokens(owner_id={self.owner_id!r}, access_token=***, refresh_token=***)"

    __str__ = __repr__

    def expired(self, now: float, skew_s: float = 30) -> bool:
        return now >= self.issued_at_epoch_seconds + self.expires_in_seconds - skew_s

    def to_secret(self) -> str:
        return json.dumps(
            {
                "accessToken": self.access_token,
                "refreshToken": self.refresh_token,
                "expiresInSeconds": self.expires_in_seconds,
                "issuedAtEpochSeconds": self.issued_at_epoch_seconds,
                "scope": self.scope,
                "ownerId": self.owner_id,
            }
        )

    @classmethod
    def from_secret(cls, text: str) -> ProviderTokens:
        d = json.loads(text)
        return cls(
            d["accessToken"],
            d.get("refreshToken"),
            int(d.get("expiresInSeconds", 3600)),
            int(d.get("issuedAtEpochSeconds", 0)),
            d.get("scope"),
            d.get("ownerId"),
        )

    @classmethod
    def from_oauth(cls, answer: dict[str, Any], now: float) -> ProviderTokens:
        return cls(
            str(answer["access_token"]),
            answer.get("refresh_token"),
            int(answer.get("expires_in", 3600)),
            int(now),
            answer.get("scope"),
            str(answer.get("owner_id")) if answer.get("owner_id") is not None else None,
        )


# -- Secrets Manager -----------------------------------------------------------------------------


def create_secret(tokens: ProviderTokens, user_id: str | None = None) -> str:
    """Store tokens under a fresh UUID pointer; returns the secret's name (``CredentialArn``).
    Tagged ``userId`` (seed: a worker's session policy may reach only its user's secrets)."""
    name = f"{env('SECRETS_PREFIX', 'syncwell/tokens')}/{uuid.uuid4()}"
    tags = [{"Key": "userId", "Value": user_id}] if user_id else []
    client("secretsmanager").create_secret(
        Name=name, SecretString=tokens.to_secret(), **({"Tags": tags} if tags else {})
    )
    return name


def load_tokens(pointer: str) -> ProviderTokens:
    answer = client("secretsmanager").get_secret_value(SecretId=pointer)
    return ProviderTokens.from_secret(answer["SecretString"])


def save_tokens(pointer: str, tokens: ProviderTokens) -> None:
    client("secretsmanager").put_secret_value(SecretId=pointer, SecretString=tokens.to_secret())


def delete_secret(pointer: str) -> None:
    try:
        client("secretsmanager").delete_secret(SecretId=pointer, ForceDeleteWithoutRecovery=True)
    except Exception as exc:  # already gone: fine
        code = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Code")
        if code != "ResourceNotFoundException":
            raise


class CredentialCache:
    """Size-limited (1,000 entries), time-based (5 minutes) LRU map, kept across invocations;
    thread-safe (a batch runs different users' jobs side by side)."""

    def __init__(
        self, max_entries: int = 1000, ttl_s: float = 300.0, clock: Any = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self._data: OrderedDict[str, tuple[float, ProviderTokens]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> ProviderTokens | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None or self.clock() - entry[0] > self.ttl_s:
                if entry is not None:
                    del self._data[key]
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: str, tokens: ProviderTokens) -> None:
        with self._lock:
            self._data[key] = (self.clock(), tokens)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


CREDENTIALS = CredentialCache()


def credentials(pointer: str) -> ProviderTokens:
    tokens = CREDENTIALS.get(pointer)
    if tokens is None:
        tokens = load_tokens(pointer)
        CREDENTIALS.put(pointer, tokens)
    return tokens


# -- the provider HTTP API -----------------------------------------------------------------------

_APP_CREDENTIALS: dict[str, Any] = {"value": None, "until": 0.0}
_APP_CREDENTIALS_TTL_S = 300.0


def basic_auth(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value of an OAuth client (RFC 6749 2.3.1: form-encoded, Basic)."""
    pair = ":".join(urllib.parse.quote(part, safe="") for part in (client_id, client_secret))
    return "Basic " + base64.b64encode(pair.encode()).decode()


def app_credentials(provider: str) -> tuple[str, str] | None:
    """The app's OAuth ``(client_id, client_secret)`` at ``provider``, from the Secrets Manager
    secret named by ``PROVIDER_APP_CREDENTIALS`` (cached 5 minutes); None without one."""
    secret_id = env("PROVIDER_APP_CREDENTIALS")
    if not secret_id:
        return None
    now = time.monotonic()
    if _APP_CREDENTIALS["value"] is None or now >= _APP_CREDENTIALS["until"]:
        raw = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        _APP_CREDENTIALS.update(value=json.loads(raw), until=now + _APP_CREDENTIALS_TTL_S)
    entry = (_APP_CREDENTIALS["value"] or {}).get(provider) or {}
    if not entry.get("clientId"):
        return None
    return str(entry["clientId"]), str(entry.get("clientSecret") or "")


class ProviderClient:
    """One provider's API: OAuth token endpoint, metadata listing, hydration, writes."""

    def __init__(
        self, provider: str, base_url: str | None = None, timeout_s: float | None = None
    ) -> None:
        self.provider = provider
        self.base = (base_url or env("PROVIDER_BASE_URL", "http://127.0.0.1:8710")).rstrip("/")
        self.timeout_s = timeout_s or env_float("PROVIDER_TIMEOUT_S", 5.0)
        self.calls = 0

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        url = f"{self.base}/{self.provider}{path}"
        data = None
        headers = {"accept": "application/json"}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
            try:
                credentials = app_credentials(self.provider)
            except Exception as exc:  # Secrets Manager down: retried like a provider outage
                raise TransientError(f"{self.provider}: app credentials: {exc!r}"[:200]) from None
            if credentials is not None:  # RFC 6749 2.3.1: the client authenticates (Basic)
                headers["authorization"] = basic_auth(*credentials)
        elif body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
                return json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            status = exc.code
            if status == 401 or (status == 400 and "invalid_grant" in detail):
                raise Unauthorized(f"{self.provider}: {status} {detail}", status) from None
            if status == 429:
                try:
                    retry = float(exc.headers.get("Retry-After") or 0)
                except ValueError:
                    retry = 0.0
                raise RateLimited(f"{self.provider}: 429", retry) from None
            if status >= 500:
                raise TransientError(f"{self.provider}: {status} {detail}", status) from None
            raise PermanentError(f"{self.provider}: {status} {detail}", status) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise ProviderUnreachable(f"{self.provider}: unreachable: {exc}") from None

    def exchange_code(self, code: str) -> dict[str, Any]:
        return self._request(
            "POST", "/oauth/token", form={"grant_type": "authorization_code", "code": code}
        )

    def revoke(self, token: str) -> None:
        """RFC 7009 token revocation (the refresh token revokes its grant)."""
        self._request(
            "POST", "/oauth/revoke", form={"token": token, "token_type_hint": "refresh_token"}
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._request(
            "POST",
            "/oauth/token",
            form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        )

    def list_metadata(
        self, token: str, data_type: str, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"dataType": data_type, "fields": "metadata"}
        if since:
            query["since"] = since
        if until:
            query["until"] = until
        answer = self._request(
            "GET", "/v1/activities?" + urllib.parse.urlencode(query), token=token
        )
        return list(answer.get("items", []))

    def has_new_data(self, token: str, data_type: str, since: str | None = None) -> bool:
        """The pre-flight check (section 3f): one metadata listing after ``since``, at most one
        item, ids only."""
        query = {"dataType": data_type, "fields": "id", "limit": "1"}
        if since:
            query["since"] = since
        answer = self._request(
            "GET", "/v1/activities?" + urllib.parse.urlencode(query), token=token
        )
        return bool(answer.get("items"))

    def hydrate(self, token: str, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return list(
            self._request("POST", "/v1/activities/hydrate", {"ids": ids}, token).get("items", [])
        )

    def write(self, token: str, items: list[dict[str, Any]]) -> int:
        if not items:
            return 0
        answer = self._request("POST", "/v1/activities", {"items": items}, token)
        return int(answer.get("created", 0)) + int(answer.get("updated", 0))
