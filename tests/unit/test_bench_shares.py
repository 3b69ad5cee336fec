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
