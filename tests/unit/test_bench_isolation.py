"""The isolation benchmark's bookkeeping: what the stack's functions did during a run, and which
errors make a run unmeasurable rather than a finding."""

from __future__ import annotations

from harness.bench.isolation import _function_delta, _timed_out


def test_function_delta_sums_every_function_and_counts_new_ones() -> None:
    before = {"a": {"invocations": 10.0, "ms": 1000.0, "cold_starts": 1.0, "init_max_ms": 900.0}}
    after = {
        "a": {"invocations": 30.0, "ms": 3500.0, "cold_starts": 1.0, "init_max_ms": 900.0},
        "b": {"invocations": 5.0, "ms": 500.0, "cold_starts": 2.0, "init_max_ms": 1500.0},
    }
    assert _function_delta(before, after) == {
        "invocations": 25,
        "function_s": 3.0,
        "cold_starts": 2,
        "init_max_ms": 1500.0,
    }


def test_function_delta_is_unknown_without_the_runtime() -> None:
    assert _function_delta(None, {})["function_s"] is None
    assert _function_delta({}, None)["invocations"] is None


def test_a_timeout_inside_a_hypothesis_group_is_a_timeout() -> None:
    group = BaseExceptionGroup("run", [ValueError("x"), TimeoutError("read")])
    assert _timed_out(group)
    wrapped = RuntimeError("flaky")
    wrapped.__cause__ = TimeoutError()
    assert _timed_out(wrapped)
    assert not _timed_out(AssertionError("[foreign-read] ..."))
