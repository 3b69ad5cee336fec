"""The `dr` expectation without a live environment: a restore that was run and failed is a failed
drill (not "nothing to judge"), a restore that never ran is inconclusive."""

from __future__ import annotations

from harness.scenario.expectations import Observations, evaluate
from harness.scenario.model import Expectation


def _judge(drills: dict[str, object]) -> object:
    exp = Expectation.model_validate(
        {"kind": "dr", "drill": "restore", "after_fault": "corrupt", "rpo": "15m", "rto": "1h"}
    )
    return evaluate([exp], Observations(drills=drills))[0]


def test_a_restore_that_failed_fails_the_drill() -> None:
    verdict = _judge(
        {
            "corrupt": {"action": "dr:corrupt", "at": 100.0},
            "restore": {
                "action": "dr:restore",
                "error": "PointInTimeRecoveryUnavailableException: not enabled for the table",
            },
        }
    )
    assert not verdict.passed and verdict.status == "failed"  # type: ignore[attr-defined]
    assert "PointInTimeRecoveryUnavailable" in verdict.detail  # type: ignore[attr-defined]


def test_a_restore_that_never_ran_is_inconclusive() -> None:
    verdict = _judge({"corrupt": {"action": "dr:corrupt", "at": 100.0}})
    assert not verdict.passed and verdict.status == "inconclusive"  # type: ignore[attr-defined]
