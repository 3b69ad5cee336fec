"""The share figure of the capacity benchmark (issue 26): functions vs emulators vs harness."""

from __future__ import annotations

from harness.bench.syncwell_capacity import GROUPS, PARTS, _median_share, shares


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


def _second(t: int, p99: float = 80.0, sent: int = 40, errors: int = 0, throttled: int = 0) -> dict:
    statuses = {"200": sent - errors}
    if throttled:
        statuses["429"] = throttled
    return {"t": t, "sent": sent, "errors": errors + throttled, "statuses": statuses,
            "p99_ms": p99}  # fmt: skip


def test_recovery_is_the_first_window_after_which_the_slo_always_holds() -> None:
    from harness.bench.syncwell_capacity import recovered_after

    overload = [_second(t, p99=9000.0, errors=10) for t in range(0, 20)]
    slow = [_second(t, p99=2000.0) for t in range(20, 32)]  # the backlog still draining
    good = [_second(t) for t in range(32, 60)]
    assert recovered_after(overload + slow + good, 20.0) == 12.0
    # a relapse later pushes recovery past it: holding once is not recovering
    relapse = [*good[:10], _second(42, p99=700.0), *good[11:]]
    assert recovered_after(overload + slow + relapse, 20.0) == 23.0
    # 429s are the usage plans' refusals, not errors; other errors over 1% of a window are
    assert recovered_after([_second(t, throttled=5) for t in range(20, 40)], 20.0) == 0.0
    assert recovered_after([_second(t, errors=1) for t in range(20, 40)], 20.0) is None  # 2.5%
    # no complete window after the overload: nothing to judge, not a recovery
    assert recovered_after([*overload, _second(20), _second(21)], 20.0) is None
