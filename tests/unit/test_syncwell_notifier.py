"""SyncWell's push notifications: message shapes per platform, and the user's opt-out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import notifier  # noqa: E402


class FakeSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.published.append(kwargs)
        return {"MessageId": "m-1"}


class FakeTable:
    def __init__(self, settings: dict[str, Any] | None) -> None:
        self.settings = settings

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        assert (pk, sk) == ("USER#u1", "PROFILE")
        return None if self.settings is None else {"settings": self.settings}


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> FakeSns:
    fake = FakeSns()
    monkeypatch.setattr(notifier, "client", lambda service: fake)
    monkeypatch.setenv("PUSH_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:push")
    return fake


def _event(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"id": "e-1", "detail-type": detail_type, "source": "syncwell.worker", "detail": detail}


def test_a_finished_sync_is_pushed_with_per_platform_payloads(
    sns: FakeSns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifier, "Table", lambda: FakeTable({}))
    answer = notifier.handler(
        _event("SyncSucceeded", userId="u1", jobId="job_1", dataType="sleep_session", records=3)
    )
    assert answer == {"sent": True}
    (call,) = sns.published
    assert call["MessageStructure"] == "json"
    assert call["MessageAttributes"]["userId"]["StringValue"] == "u1"
    message = json.loads(call["Message"])
    assert message["default"] == "Sync complete: Your sleep session data is up to date (3 new)."
    assert json.loads(message["APNS"])["aps"]["alert"]["title"] == "Sync complete"
    assert json.loads(message["GCM"])["data"] == {"type": "SyncSucceeded", "jobId": "job_1"}


def test_a_user_who_turned_notifications_off_gets_none(
    sns: FakeSns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifier, "Table", lambda: FakeTable({"notificationsEnabled": False}))
    answer = notifier.handler(_event("ExportCompleted", userId="u1", jobId="export-job-1"))
    assert answer["sent"] is False and sns.published == []


def test_other_events_are_ignored(sns: FakeSns) -> None:
    assert notifier.handler(_event("SomethingElse", userId="u1"))["sent"] is False
    assert notifier.handler(_event("SyncSucceeded"))["sent"] is False  # no user
    assert sns.published == []
