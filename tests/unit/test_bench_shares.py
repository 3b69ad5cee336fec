"""The share figure of the capacity benchmark (issue 26): functions vs emulators vs harness."""

from __future__ import annotations

from harness.bench.syncwell_capacity import (
    GROUPS,
    PARTS,
    _median_share,
    recovered_after,
    recovery_windows,
    settled_after,
    shares,
)
from harness.load.stats import Second


def test_shares_split_the_cpu_used_into_the_three_parts() -> None:
    cpu = {
        "handlers": 13.3,
        "LocalStack (SQS, SNS, EventBridge)": 8.0,
        "DynamoDB Local": 4.6,
        "redis": 1.0,
        "gateway": 3.0,
        "runtime server": 1.5,
        "AWS edge proxy": 1.0,
        "load generator": 1.0,
    }
    got = shares(cpu)
    total = sum(cpu.values())
    assert got["functions"] == round(13.3 / total, 4)
    assert got["emulators"] == round(13.6 / total, 4)
    assert got["harness"] == round(6.5 / total, 4)
    assert got["unclassified"] == 0.0 and got["unclassified_groups"] == []


def test_an_unknown_group_is_named_not_folded_in() -> None:
    got = shares({"handlers": 1.0, "a new daemon": 3.0})
    assert got["functions"] == 0.25 and got["unclassified"] == 0.75
    assert got["unclassified_groups"] == ["a new daemon"]


def test_no_cpu_is_no_share() -> None:
    assert shares({})["functions"] is None


def test_every_process_group_of_the_environment_has_a_part() -> None:
    # a new environment process must be placed, or its CPU shows up as unclassified
    for group in {*GROUPS.values(), "handlers", "templates", "load generator", "fake providers"}:
        assert group in PARTS, group


def test_function_share_is_the_median_of_the_confirmation_runs() -> None:
    steps = [{"shares": {"functions": v}} for v in (0.3, 0.5, 0.4)]
    assert _median_share(steps, "functions") == 0.4
    assert _median_share([], "functions") is None


def _seconds(
    ts: range, latency_ms: list[float] | float = 80.0, sent: int = 40, errors: int = 0,
    throttled: int = 0,
) -> dict[int, Second]:  # fmt: skip
    """Seconds of a run, each sending ``sent`` requests that completed with ``latency_ms``
    (one value for all, or one per request), ``errors`` of them failed and ``throttled`` 429s."""
    out = {}
    for t in ts:
        sec = Second(sent=sent, completed=sent, errors=errors + throttled)
        sec.statuses = {200: sent - errors - throttled, 500: errors, 429: throttled}
        for i in range(sent):
            ms = latency_ms[i % len(latency_ms)] if isinstance(latency_ms, list) else latency_ms
            sec.latency.record(ms / 1000)
        out[t] = sec
    return out


def _recovered(seconds: dict[int, Second], start: float = 20.0) -> float | None:
    return recovered_after(seconds, start)


def _settled(seconds: dict[int, Second], start: float = 20.0) -> float | None:
    return settled_after(recovery_windows(seconds, start), start)


def test_recovery_is_the_first_second_from_which_the_step_holds_its_slo() -> None:
    overload = _seconds(range(0, 20), latency_ms=9000.0, errors=10)
    slow = _seconds(range(20, 32), latency_ms=2000.0)  # the backlog still draining
    good = _seconds(range(32, 60))
    assert _recovered(overload | slow | good) == 12.0
    # judged as a step: five slow requests in one second are 0.45% of the 1,120 from 12 s on
    five = _seconds(range(42, 43), [*[80.0] * 35, *[700.0] * 5])
    assert _recovered(overload | slow | good | five) == 12.0
    assert _settled(overload | slow | good | five) == 23.0  # 2.5% of each 5-s window holding it
    # twelve are over 1% of every remainder that holds them: recovered only after that second
    twelve = _seconds(range(42, 43), [*[80.0] * 28, *[700.0] * 12])
    assert _recovered(overload | slow | good | twelve) == 23.0
    # beyond 30 s is not a recovery within the target, whatever comes later
    late = _seconds(range(20, 51), latency_ms=2000.0) | _seconds(range(51, 90))
    assert _recovered(late) is None
    # 429s are the usage plans' refusals, not errors; other errors over 1% are
    assert _recovered(_seconds(range(20, 60), throttled=1)) == 0.0
    # but, as for a step, not 5% or more of them: fast 429s for everyone are not a recovery
    assert _recovered(_seconds(range(20, 60), throttled=5)) is None
    assert _recovered(_seconds(range(20, 60), errors=1)) is None  # 2.5%
    # nothing after the 30 s to judge: not a recovery
    assert _recovered(overload | _seconds(range(20, 45))) is None


def test_windows_show_where_a_recovery_relapses() -> None:
    overload = _seconds(range(0, 20), latency_ms=9000.0, errors=10)
    slow = _seconds(range(20, 32), latency_ms=2000.0)
    good = _seconds(range(32, 60))
    assert _settled(overload | slow | good) == 12.0
    # holding once is not settling: a later bad second moves it past the windows holding it
    assert _settled(overload | slow | good | _seconds(range(42, 43), 700.0)) == 23.0
    # a window in which nothing was sent or completed (30-34, 31-35) is not one that holds
    assert _settled(_seconds(range(20, 30)) | _seconds(range(36, 60))) == 12.0
    # one slow request in 100 is the worst second's p99, but 1 of 500 in its window: holds
    lone = [*[100.0] * 99, 900.0]
    assert _settled(_seconds(range(20, 60), sent=100) | _seconds(range(40, 41), lone, 100)) == 0.0
    six = [*[100.0] * 94, *[900.0] * 6]  # six: over 1% of the 500 in each window holding it
    windows = recovery_windows(
        _seconds(range(20, 60), sent=100) | _seconds(range(40, 41), six, 100), 20.0
    )
    assert [w["t"] for w in windows if not w["holds"]] == [36, 37, 38, 39, 40]
