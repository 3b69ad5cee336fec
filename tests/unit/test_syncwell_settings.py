"""SyncWell's operational configuration: AppConfig, its cache, and the degraded modes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import api, settings  # noqa: E402


class FakeAppConfigData:
    def __init__(self, documents: list[Any]) -> None:
        self.documents = documents  # one per poll: dict, b"" (unchanged) or an exception
        self.sessions = 0
        self.polls = 0

    def start_configuration_session(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["ApplicationIdentifier"] == "app1"
        self.sessions += 1
        return {"InitialConfigurationToken": f"t{self.sessions}-0"}

    def get_latest_configuration(self, ConfigurationToken: str) -> dict[str, Any]:
        self.polls += 1
        item = self.documents.pop(0) if len(self.documents) > 1 else self.documents[0]
        if isinstance(item, Exception):
            raise item
        raw = item if isinstance(item, bytes) else json.dumps(item).encode()
        return {"Configuration": io.BytesIO(raw), "NextPollConfigurationToken": "next"}


@pytest.fixture
def appconfig(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APPCONFIG_APPLICATION", "app1")
    monkeypatch.setenv("APPCONFIG_ENVIRONMENT", "dev")
    monkeypatch.setenv("APPCONFIG_PROFILE", "operations")
    monkeypatch.setenv("APPCONFIG_MAX_AGE_S", "0")  # poll on every call unless told otherwise
    settings.reset()

    def install(documents: list[Any]) -> FakeAppConfigData:
        fake = FakeAppConfigData(documents)
        monkeypatch.setattr(settings, "client", lambda service: fake)
        return fake

    yield install
    settings.reset()


DOC = {
    "resources": {"tableName": "tbl-from-appconfig"},
    "rateLimit": {"capacity": 7},
    "scheduling": {"shard-count": 32},
    "providers": {"strava": {"enabled": False}},
}


def test_without_appconfig_the_environment_is_the_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("APPCONFIG_APPLICATION", raising=False)
    monkeypatch.setenv("TABLE_NAME", "tbl-env")
    monkeypatch.setenv("SHARD_COUNT", "8")
    monkeypatch.setenv("RATE_LIMIT_CAPACITY", "50")
    monkeypatch.setenv("RATE_LIMIT_REFILL_PER_S", "25")
    assert settings.table_name() == "tbl-env"
    assert settings.shard_count() == 8
    assert settings.rate_limit() == (50.0, 25.0)
    assert settings.source() == "environment"


def test_appconfig_values_merge_over_the_bundled_defaults(appconfig: Any) -> None:
    fake = appconfig([DOC])
    assert settings.table_name() == "tbl-from-appconfig"
    assert settings.rate_limit() == (7.0, 10.0)  # refill: the bundled default
    assert settings.shard_count() == 32
    assert settings.provider_enabled("strava") is False
    assert settings.provider_enabled("fitbit") is True
    assert settings.source() == "appconfig"
    assert fake.sessions == 1  # one session, then its next tokens


def test_the_cache_is_used_until_max_age(appconfig: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPCONFIG_MAX_AGE_S", "60")
    fake = appconfig([DOC])
    for _ in range(5):
        settings.current()
    assert fake.polls == 1


def test_an_unchanged_answer_keeps_the_configuration(appconfig: Any) -> None:
    appconfig([DOC, b""])
    assert settings.table_name() == "tbl-from-appconfig"
    assert settings.table_name() == "tbl-from-appconfig"


def test_appconfig_down_keeps_the_last_good_configuration(appconfig: Any) -> None:
    fake = appconfig([DOC, ConnectionError("appconfig down")])
    assert settings.shard_count() == 32
    assert settings.table_name() == "tbl-from-appconfig"  # the poll failed: cached copy
    assert settings.source() == "appconfig"
    assert fake.polls == 2


def test_appconfig_down_with_nothing_cached_runs_on_defaults_but_fails_fast_on_the_table(
    appconfig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    appconfig([ConnectionError("appconfig down")])
    assert settings.rate_limit() == (10.0, 10.0)  # the seed's defaultRateLimit: 10 RPS
    assert settings.shard_count() == 16
    assert settings.provider_enabled("strava") is True
    assert settings.source() == "bundled defaults"
    with pytest.raises(settings.ConfigUnavailable):
        settings.table_name()
    assert any(
        r.levelname == "CRITICAL" and "no DynamoDB table name" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("count", [0, 257, "lots"])
def test_a_shard_count_out_of_range_falls_back_to_16(appconfig: Any, count: Any) -> None:
    appconfig([{**DOC, "scheduling": {"shard-count": count}}])
    assert settings.shard_count() == 16


def test_the_api_answers_the_generic_message_when_the_table_is_unknown(
    appconfig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    appconfig([ConnectionError("appconfig down")])
    event = {
        "version": "2.0",
        "rawPath": "/v1/connections",
        "requestContext": {
            "http": {"method": "GET", "path": "/v1/connections"},
            "authorizer": {"lambda": {"userId": "u1", "tier": "FREE"}},
        },
        "headers": {},
    }
    answer = api.handler(event)
    assert answer["statusCode"] == 503
    body = json.loads(answer["body"])
    assert body["error"]["message"] == "Something went wrong, please try again later"
