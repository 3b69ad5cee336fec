"""SyncWell's polling pre-flight checker without AWS: the adaptive delays and what each failure
does to the message (section 3f)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import preflight  # noqa: E402
from syncwell.providers import RateLimited, TransientError  # noqa: E402
from syncwell.worker import Defer  # noqa: E402


def test_an_idle_user_backs_off_to_at_most_24_hours() -> None:
    assert [preflight.adaptive_delay_s("PRO", n) for n in range(8)] == [
        900,
        1800,
        3600,
        7200,
        14400,
        28800,
        57600,
        86400,
    ]
    assert preflight.adaptive_delay_s("PRO", 50) == 86400
    assert preflight.adaptive_delay_s("FREE", 0) == 86400  # FREE is daily already
    assert preflight.adaptive_delay_s("FREE", 3) == 86400
    assert preflight.adaptive_delay_s("UNKNOWN", 0) == 86400


def _record(body: Any, receives: int = 1) -> dict[str, Any]:
    return {
        "messageId": f"m-{receives}",
        "receiptHandle": "rh",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receives)},
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:preflight",
    }


@pytest.mark.parametrize(
    ("error", "floor"),
    [
        (Defer("rate limited (strava)", 4.0), 4),
        (RateLimited("strava: 429", 7.0), 7),
        (TransientError("strava: 503"), 0),
        (RuntimeError("a bug"), 0),
    ],
)
def test_every_failure_returns_the_message_with_backoff(
    monkeypatch: pytest.MonkeyPatch, error: Exception, floor: int
) -> None:
    visibility: list[int] = []
    monkeypatch.setattr(preflight, "Context", lambda: object())
    monkeypatch.setattr(preflight, "change_visibility", lambda r, s: visibility.append(s))

    def boom(ctx: Any, body: dict[str, Any]) -> dict[str, Any]:
        raise error

    monkeypatch.setattr(preflight, "check_user", boom)
    body = preflight.preflight_message("u-1", "PRO", "1700000000", ["conn_strava_u-1##workout"])
    answer = preflight.handler({"Records": [_record(body, receives=2)]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert len(visibility) == 1 and visibility[0] >= floor


def test_a_poison_message_comes_back_in_a_second_and_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visibility: list[int] = []
    checked: list[str] = []
    monkeypatch.setattr(preflight, "Context", lambda: object())
    monkeypatch.setattr(preflight, "change_visibility", lambda r, s: visibility.append(s))
    monkeypatch.setattr(
        preflight, "check_user", lambda ctx, body: checked.append(body["userId"]) or {}
    )
    good = preflight.preflight_message("u-2", "FREE", "1700000000", [])
    answer = preflight.handler({"Records": [_record("{not json", 1), _record(good, 3)]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert visibility == [1] and checked == ["u-2"]
