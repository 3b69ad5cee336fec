"""Operational configuration from AWS AppConfig (seed section 7, [R-001], [T-004]).

The stack deploys one freeform JSON profile (``OpsConfigProfile`` in template.yaml)::

    {"resources": {"tableName": "..."},            critical: where the data lives (DR repointing)
     "logLevel": "WARNING",
     "rateLimit": {"capacity": 50, "refillPerSecond": 25},   per provider token bucket
     "scheduling": {"shard-count": 16},            1-256
     "providers": {"strava": {"enabled": true}, ...}}         kill switch per provider

Functions read it through the ``appconfigdata`` API (``StartConfigurationSession`` then
``GetLatestConfiguration`` with the session's next token) and cache it aggressively: a fetched
configuration is used for ``APPCONFIG_MAX_AGE_S`` (45 s) before the next poll, and the last good
one is kept for as long as AppConfig cannot be reached. With nothing cached and AppConfig
unreachable the function runs on the bundled defaults below (``logLevel`` WARN, 10 requests/s
per provider, 16 shards, every provider enabled) — except the table name: without it the
function fails fast with a CRITICAL log line (:class:`ConfigUnavailable`), and the API answers
503 "Something went wrong, please try again later".

Without ``APPCONFIG_APPLICATION`` (unit tests, a stack deployed without the profile) the
function's environment variables are the configuration, as before.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from typing import Any

from syncwell.common import client, env, env_float, env_int, log

__all__ = [
    "BUNDLED_DEFAULTS",
    "ConfigUnavailable",
    "current",
    "provider_enabled",
    "rate_limit",
    "reset",
    "shard_count",
    "source",
    "table_name",
]

BUNDLED_DEFAULTS: dict[str, Any] = {
    "logLevel": "WARNING",
    "rateLimit": {"capacity": 10, "refillPerSecond": 10},
    "scheduling": {"shard-count": 16},
    "providers": {},
}
RETRY_AFTER_FAILURE_S = 5.0


class ConfigUnavailable(Exception):
    """A critical configuration value (the table name) could not be retrieved."""


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: dict[str, Any] | None = None
        self.source = "none"
        self.next_poll = 0.0
        self.token: str | None = None


_state = _State()


def reset() -> None:
    """Forget the cached configuration and session (tests)."""
    global _state
    _state = _State()


def _configured() -> bool:
    return bool(env("APPCONFIG_APPLICATION"))


def _from_environment() -> dict[str, Any]:
    return {
        "resources": {"tableName": env("TABLE_NAME")},
        "logLevel": env("LOG_LEVEL", "WARNING"),
        "rateLimit": {
            "capacity": env_float("RATE_LIMIT_CAPACITY", 50),
            "refillPerSecond": env_float("RATE_LIMIT_REFILL_PER_S", 25),
        },
        "scheduling": {"shard-count": env_int("SHARD_COUNT", 16)},
        "providers": {},
    }


def _fetch(state: _State) -> dict[str, Any] | None:
    """The deployed configuration, or None when it has not changed since the last poll."""
    data = client("appconfigdata")
    if state.token is None:
        session = data.start_configuration_session(
            ApplicationIdentifier=env("APPCONFIG_APPLICATION"),
            EnvironmentIdentifier=env("APPCONFIG_ENVIRONMENT"),
            ConfigurationProfileIdentifier=env("APPCONFIG_PROFILE"),
            RequiredMinimumPollIntervalInSeconds=15,
        )
        state.token = session["InitialConfigurationToken"]
    answer = data.get_latest_configuration(ConfigurationToken=state.token)
    state.token = answer.get("NextPollConfigurationToken") or state.token
    raw = answer["Configuration"].read()
    if not raw:  # unchanged since the token's last poll
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the AppConfig profile is not a JSON object")
    return value


def _merged(value: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(BUNDLED_DEFAULTS)
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **item}
        else:
            merged[key] = item
    return merged


def current() -> dict[str, Any]:
    """The configuration in force (see the module docstring for where it comes from)."""
    if not _configured():
        return _from_environment()
    state = _state
    now = time.monotonic()
    if state.value is not None and now < state.next_poll:
        return state.value
    with state.lock:
        if state.value is not None and time.monotonic() < state.next_poll:
            return state.value
        try:
            fetched = _fetch(state)
        except Exception as exc:  # AppConfig down: the last good copy, else bundled defaults
            state.token = None
            if state.value is None:
                state.value = copy.deepcopy(BUNDLED_DEFAULTS)
                state.source = "bundled defaults"
            log(
                logging.WARNING,
                "appconfig unavailable: running on the " + state.source + " configuration",
                error=repr(exc)[:200],
            )
            state.next_poll = time.monotonic() + RETRY_AFTER_FAILURE_S
            return state.value
        if fetched is not None:
            state.value = _merged(fetched)
            state.source = "appconfig"
            _apply_log_level(state.value)
        elif state.value is None:  # an unchanged answer to a first poll: cannot happen, be safe
            state.value = copy.deepcopy(BUNDLED_DEFAULTS)
            state.source = "bundled defaults"
        state.next_poll = time.monotonic() + env_float("APPCONFIG_MAX_AGE_S", 45)
        return state.value


def source() -> str:
    """Where :func:`current` came from: appconfig, bundled defaults, environment, none."""
    return _state.source if _configured() else "environment"


def _apply_log_level(value: dict[str, Any]) -> None:
    level = str(value.get("logLevel") or "WARNING").upper()
    if level == "WARN":
        level = "WARNING"
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        logging.getLogger("syncwell").setLevel(level)


def table_name() -> str:
    """The DynamoDB table; :class:`ConfigUnavailable` (and a CRITICAL log) when unknown."""
    name = str((current().get("resources") or {}).get("tableName") or "")
    if name:
        return name
    log(
        logging.CRITICAL,
        "no DynamoDB table name: AppConfig unreachable and no configuration cached",
        source=source(),
    )
    raise ConfigUnavailable("the DynamoDB table name is not available")


def rate_limit() -> tuple[float, float]:
    """(capacity, refill per second) of each provider's token bucket."""
    limits = current().get("rateLimit") or {}
    return float(limits.get("capacity", 10)), float(limits.get("refillPerSecond", 10))


def shard_count() -> int:
    """Scheduling shards, 1-256 (``scheduling/shard-count``); 16 when out of range."""
    try:
        value = int((current().get("scheduling") or {}).get("shard-count", 16))
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 256:
        log(logging.WARNING, "scheduling/shard-count out of range 1-256: using 16", value=value)
        return 16
    return value


def provider_enabled(provider: str) -> bool:
    """False when operations switched the provider off (runbook: third-party outage)."""
    entry = (current().get("providers") or {}).get(provider) or {}
    return entry.get("enabled", True) is not False
