"""SyncWell handler logic without AWS: idempotency state machine, token bucket, backoff,
Murmur3_32, the JIT credential cache, conflict resolution."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "stacks" / "syncwell" / "src"
sys.path.insert(0, str(SRC))

from syncwell import cache, worker  # noqa: E402
from syncwell.backoff import full_jitter, retry_call  # noqa: E402
from syncwell.murmur3 import murmur3_32, shard_of  # noqa: E402
from syncwell.providers import CredentialCache, ProviderTokens  # noqa: E402
from syncwell.store import IDEM_TTL_S, LockStore, decide_idempotency  # noqa: E402

# -- idempotency (diagram 9) ---------------------------------------------------------------------


class FakeLocks(LockStore):
    """The conditional put of DynamoLockStore, in memory."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.puts = 0

    def try_acquire(self, user_id, key, job_id, owner, now, lease_s):  # type: ignore[no-untyped-def]
        self.puts += 1
        current = self.items.get((user_id, key))
        if current is None or (
            current["status"] == "INPROGRESS" and current["leaseUntil"] < int(now)
        ):
            self.items[(user_id, key)] = {
                "status": "INPROGRESS",
                "jobId": job_id,
                "owner": owner,
                "leaseUntil": int(now + lease_s),
                "ttl": int(now + IDEM_TTL_S),
            }
            return True
        return False

    def read(self, user_id, key):  # type: ignore[no-untyped-def]
        return self.items.get((user_id, key))

    def complete(self, user_id, key, owner, now):  # type: ignore[no-untyped-def]
        self.items[(user_id, key)].update(status="COMPLETED", ttl=int(now + IDEM_TTL_S))

    def release(self, user_id, key, owner):  # type: ignore[no-untyped-def]
        item = self.items.get((user_id, key))
        if item and item["owner"] == owner and item["status"] == "INPROGRESS":
            del self.items[(user_id, key)]


def test_first_delivery_acquires_the_lock_in_progress() -> None:
    locks = FakeLocks()
    assert decide_idempotency(locks, "u1", "k", "job_1", "w1", 1000.0, 60).action == "process"
    assert locks.items[("u1", "k")]["status"] == "INPROGRESS"


def test_completed_key_is_a_duplicate_discarded_with_success() -> None:
    locks = FakeLocks()
    decide_idempotency(locks, "u1", "k", "job_1", "w1", 1000.0, 60)
    locks.complete("u1", "k", "w1", 1001.0)
    decision = decide_idempotency(locks, "u1", "k", "job_1", "w2", 1002.0, 60)
    assert decision.action == "duplicate"
    assert locks.items[("u1", "k")]["ttl"] == 1001 + 24 * 3600


def test_in_progress_key_is_busy_then_taken_over_after_the_lease() -> None:
    locks = FakeLocks()
    decide_idempotency(locks, "u1", "k", "job_1", "w1", 1000.0, 60)
    assert decide_idempotency(locks, "u1", "k", "job_1", "w2", 1030.0, 60).action == "busy"
    # the holder crashed: once its lease is over another worker takes the job
    assert decide_idempotency(locks, "u1", "k", "job_1", "w2", 1061.0, 60).action == "process"
    assert locks.items[("u1", "k")]["owner"] == "w2"


def test_released_lock_can_be_acquired_again_and_keys_are_per_user() -> None:
    locks = FakeLocks()
    decide_idempotency(locks, "u1", "k", "job_1", "w1", 1000.0, 60)
    locks.release("u1", "k", "w1")
    assert decide_idempotency(locks, "u1", "k", "job_1", "w2", 1001.0, 60).action == "process"
    # the same key chosen by another user is another lock
    assert decide_idempotency(locks, "u2", "k", "job_2", "w2", 1001.0, 60).action == "process"


def test_release_by_a_non_owner_keeps_the_lock() -> None:
    locks = FakeLocks()
    decide_idempotency(locks, "u1", "k", "job_1", "w1", 1000.0, 60)
    locks.release("u1", "k", "intruder")
    assert decide_idempotency(locks, "u1", "k", "job_1", "w2", 1001.0, 60).action == "busy"


# -- token bucket --------------------------------------------------------------------------------


def test_token_bucket_starts_full_and_drains() -> None:
    tokens, ts = None, None
    for _ in range(5):
        allowed, wait, tokens, ts = cache.bucket_take(tokens, ts, 0, capacity=5, rate=1)
        assert allowed and wait == 0
    allowed, wait, tokens, ts = cache.bucket_take(tokens, ts, 0, capacity=5, rate=1)
    assert not allowed and wait == 1000 and tokens == 0


def test_token_bucket_refills_at_rate_and_caps_at_capacity() -> None:
    allowed, _, tokens, _ts = cache.bucket_take(0.0, 0, 500, capacity=5, rate=2)
    assert allowed and tokens == pytest.approx(0.0)  # 1 token refilled in 0.5 s, then taken
    _, _, tokens, _ = cache.bucket_take(0.0, 0, 60_000, capacity=5, rate=2, requested=0)
    assert tokens == 5


def test_token_bucket_reserve_keeps_tokens_for_higher_priorities() -> None:
    # 2 tokens left of 10; low priority must leave 3 (30%), high may take the last ones
    low = cache.bucket_take(2.0, 0, 0, capacity=10, rate=1, reserve=3)
    high = cache.bucket_take(2.0, 0, 0, capacity=10, rate=1, reserve=0)
    assert not low[0] and low[1] == 2000
    assert high[0]


def test_token_bucket_clock_going_backwards_adds_nothing() -> None:
    allowed, _, tokens, ts = cache.bucket_take(1.0, 10_000, 5_000, capacity=5, rate=1)
    assert allowed and tokens == 0 and ts == 10_000


# -- backoff -------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10, 40])
def test_full_jitter_stays_within_zero_and_the_capped_exponential(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(60.0, 0.5 * 2**attempt)
    samples = [full_jitter(attempt, 0.5, 60.0, rng) for _ in range(2000)]
    assert all(0 <= s <= ceiling for s in samples)
    assert max(samples) > 0.9 * ceiling and min(samples) < 0.1 * ceiling  # spread over the range


def test_backoff_delay_respects_a_retry_after_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKOFF_BASE_S", "0.001")
    monkeypatch.setenv("BACKOFF_CAP_S", "900")
    assert worker.backoff_delay(0, hint_s=7.2) == 8
    monkeypatch.setenv("BACKOFF_CAP_S", "5")
    assert worker.backoff_delay(30, hint_s=100) == 5


def test_retry_call_retries_three_times_then_raises() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OSError("nope")
        return "ok"

    assert retry_call(flaky, sleep=lambda s: None) == "ok" and len(calls) == 4
    calls.clear()
    with pytest.raises(OSError):
        retry_call(lambda: (_ for _ in ()).throw(OSError("x")), sleep=lambda s: None)


# -- Murmur3_32 ----------------------------------------------------------------------------------

VECTORS = [
    (b"", 0, 0),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"\xff\xff\xff\xff", 0, 0x76293B50),
    (b"\x21\x43\x65\x87", 0, 0xF55B516B),
    (b"\x21\x43\x65", 0, 0x7E4A8634),
    (b"\x21\x43", 0, 0xA0F7B07A),
    (b"\x21", 0, 0x72661CF4),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"abc", 0, 0xB3DD93FA),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
]


@pytest.mark.parametrize(("data", "seed", "expected"), VECTORS)
def test_murmur3_32_reference_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected


def test_shards_are_stable_in_range_and_spread() -> None:
    shards = [shard_of(f"user-{i}", 16) for i in range(1600)]
    assert shard_of("user-1", 16) == murmur3_32("user-1") % 16
    assert set(shards) == set(range(16))
    assert max(shards.count(s) for s in range(16)) < 2 * 100
    with pytest.raises(ValueError):
        shard_of("u", 0)


# -- JIT credential cache ------------------------------------------------------------------------


def _tokens(n: int) -> ProviderTokens:
    return ProviderTokens(f"a{n}", f"r{n}", 3600, 0)


def test_credential_cache_expires_after_five_minutes_and_is_lru_bounded() -> None:
    clock = [0.0]
    c = CredentialCache(max_entries=1000, ttl_s=300, clock=lambda: clock[0])
    for i in range(1001):
        c.put(f"p{i}", _tokens(i))
    assert len(c) == 1000 and c.get("p0") is None  # least recently used went first
    assert c.get("p1").access_token == "a1"  # type: ignore[union-attr]
    clock[0] = 301
    assert c.get("p1") is None


def test_provider_tokens_never_show_their_values() -> None:
    text = repr(ProviderTokens("secret-access", "secret-refresh", 3600, 0))
    assert "secret" not in text and "***" in text


# -- conflict resolution (metadata only) ---------------------------------------------------------


def test_conflict_resolution_per_strategy() -> None:
    t1, t2, t3 = "2026-01-01T07:00:00Z", "2026-01-02T07:00:00Z", "2026-01-03T07:00:00Z"
    source = [
        {"id": "a", "startTime": t1, "activityType": "run", "modifiedAt": "2026-01-05T00:00:00Z"},
        {"id": "b", "startTime": t2, "activityType": "run", "modifiedAt": "2026-01-02T08:00:00Z"},
        {"id": "c", "startTime": t3, "activityType": "run"},
        {"id": "d", "startTime": t1, "activityType": "swim"},  # same time, another activity
    ]
    dest = [
        {"id": "x", "startTime": t1, "activityType": "run", "modifiedAt": "2026-01-01T08:00:00Z"},
        {"id": "y", "startTime": t2, "activityType": "run", "modifiedAt": "2026-01-04T00:00:00Z"},
        {"id": "z", "startTime": t3, "activityType": "run", "modifiedAt": "2026-01-03T08:00:00Z"},
    ]
    # newest wins: a (newer than x) replaces x; b (older than y) and c (no modifiedAt) skipped
    assert worker._resolve(source, dest, "newest_wins") == (["a", "d"], {"a": "x"})
    assert worker._resolve(source, dest, "source_wins") == (
        ["a", "b", "c", "d"],
        {"a": "x", "b": "y", "c": "z"},
    )
    assert worker._resolve(source, dest, "dest_wins") == (["d"], {})
    assert worker._resolve(source, [], "dest_wins") == (["a", "b", "c", "d"], {})


# -- deferrals: ChangeMessageVisibility first, a fresh message before the DLQ could take it --------


class FakeSqs:
    def __init__(self, fail_visibility: int = 0) -> None:
        self.visibility: list[int] = []
        self.sent: list[dict[str, Any]] = []
        self.fail_visibility = fail_visibility

    def change_message_visibility(self, **kw: Any) -> None:
        if self.fail_visibility > 0:
            self.fail_visibility -= 1
            raise OSError("throttled")
        self.visibility.append(kw["VisibilityTimeout"])

    def send_message(self, **kw: Any) -> None:
        self.sent.append(kw)


def _record(receives: int) -> dict[str, Any]:
    return {
        "messageId": "m1",
        "receiptHandle": "rh",
        "attributes": {"ApproximateReceiveCount": str(receives)},
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
    }


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    fake = FakeSqs()
    monkeypatch.setattr(worker, "client", lambda service: fake)
    monkeypatch.setenv("HOT_PATH_QUEUE_URL", "http://q")
    monkeypatch.setenv("BACKOFF_BASE_S", "1")
    monkeypatch.setenv("BACKOFF_CAP_S", "60")
    return fake


def test_early_deferral_changes_visibility_and_reports_a_failure(sqs: FakeSqs) -> None:
    out = worker._handle_deferral(_record(1), {"userId": "u", "jobId": "j"}, "rate limited", 3.0)
    assert out.kind == "deferred" and sqs.visibility and 3 <= sqs.visibility[0] <= 3
    assert not sqs.sent


def test_later_deferral_requeues_a_fresh_message_instead(sqs: FakeSqs) -> None:
    body = {"userId": "u", "jobId": "j", "deferrals": 2}
    out = worker._handle_deferral(_record(3), body, "degraded", 0.0)
    assert out.kind == "requeued" and not sqs.visibility
    sent = json.loads(sqs.sent[0]["MessageBody"])
    assert sent["deferrals"] == 3 and sent["jobId"] == "j"
    assert 0 <= sqs.sent[0]["DelaySeconds"] <= 60
    assert sqs.sent[0]["MessageAttributes"]["userId"]["StringValue"] == "u"


def test_change_visibility_retries_three_times(sqs: FakeSqs) -> None:
    sqs.fail_visibility = 3
    assert worker.change_visibility(_record(1), 5, sleep=lambda s: None)
    assert sqs.visibility == [5]
    sqs.fail_visibility = 4
    assert not worker.change_visibility(_record(1), 5, sleep=lambda s: None)


def test_destination_listing_starts_just_before_the_earliest_activity() -> None:
    assert worker._just_before("2026-01-01T00:00:00Z") == "2025-12-31T23:59:59Z"
    assert worker._just_before("2026-01-01T02:00:00+02:00") == "2025-12-31T23:59:59Z"
    assert worker._just_before("2026-01-01T00:00:00") == "2025-12-31T23:59:59Z"
    assert worker._just_before("garbage") == "garbage"


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        # counter 0..9 -> skip the destination read?
        ("3", [False, False, False, True, True, False, True, True, False, True]),
        ("1", [False, True, True, False, True, True, False, True, True, False]),
        ("2", [False, False, True, True, False, True, True, False, True, True]),
        ("0", [False] * 10),
    ],
)
def test_sync_confidence_skips_past_the_threshold_and_reads_every_third_time(
    monkeypatch: pytest.MonkeyPatch, threshold: str, expected: list[bool]
) -> None:
    monkeypatch.setenv("SYNC_CONFIDENCE_THRESHOLD", threshold)
    decisions = []
    for count in range(10):
        monkeypatch.setattr(cache, "confidence_get", lambda user, dest, c=count: c)
        decisions.append(worker.skip_destination_read("u1", "fitbit"))
    assert decisions == expected


def test_sync_confidence_without_redis_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    cache.reset_breaker()
    assert cache.confidence_get("u1", "fitbit") == 0
    assert worker.skip_destination_read("u1", "fitbit") is False
    cache.confidence_record("u1", "fitbit", empty=True)  # best effort: no error


@pytest.mark.parametrize(
    ("settings", "config", "expected"),
    [
        ({}, {}, "newest_wins"),
        ({}, {"ConflictStrategy": "dest_wins"}, "dest_wins"),
        (
            {"conflictResolutionStrategy": "source_wins"},
            {"ConflictStrategy": "dest_wins"},
            "source_wins",
        ),
        ({"conflictResolutionStrategy": "AI_POWERED_MERGE"}, {}, "newest_wins"),
    ],
)
def test_the_user_s_conflict_setting_wins_over_the_sync_config(
    settings: dict[str, str], config: dict[str, str], expected: str
) -> None:
    assert worker.conflict_strategy({"settings": settings}, config) == expected


def test_log_lines_carry_the_current_correlation_id(caplog: pytest.LogCaptureFixture) -> None:
    from syncwell.common import correlation, log

    token = correlation("corr-42")
    try:
        log(40, "something failed", jobId="job_1")
        log(40, "explicit wins", correlationId="other")
    finally:
        from syncwell import common

        common._correlation.reset(token)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "syncwell"]
    assert lines[-2]["correlationId"] == "corr-42" and lines[-2]["jobId"] == "job_1"
    assert lines[-1]["correlationId"] == "other"


def test_metrics_are_emf_with_low_cardinality_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from syncwell.common import metric

    metric("SyncSuccessRate", 100.0, "Percent", JobType="sync")
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SyncWell"
    assert directive["Metrics"] == [{"Name": "SyncSuccessRate", "Unit": "Percent"}]
    assert sorted(directive["Dimensions"][0]) == ["JobType", "service"]
    assert record["SyncSuccessRate"] == [100.0] and record["JobType"] == "sync"


def test_missing_or_unknown_timezones_are_processed_as_utc(
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = [
        {"id": "a", "timezone": "Europe/London"},
        {"id": "b"},
        {"id": "c", "timezone": None},
        {"id": "d", "timezone": "Mars/Olympus_Mons"},
    ]
    assert worker.normalize_timezones(items, "device") == 3
    assert [i["timezone"] for i in items] == ["Europe/London", "UTC", "UTC", "UTC"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["InvalidTimezoneData_Omitted"] == [3.0]
    assert emf[-1]["Provider"] == "device"
    assert worker.normalize_timezones([{"timezone": "UTC"}], "strava") == 0
