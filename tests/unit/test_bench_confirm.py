"""syncwell-capacity's confirmation: a rate a 60-s step held but five minutes do not is not the
capacity; the next lower rate that held is confirmed instead."""

from __future__ import annotations

from typing import Any

from harness.bench.syncwell_capacity import confirmation_rates, held_by_most


def _steps(*pairs: tuple[float, bool]) -> list[dict[str, Any]]:
    return [{"target_rps": rate, "slo_held": held} for rate, held in pairs]


def test_the_highest_held_rate_first_then_the_next_lower() -> None:
    search = _steps((10, True), (40, True), (80, True), (100, True), (130, False), (115, True))
    assert confirmation_rates(search) == [115.0, 100.0]


def test_one_held_rate_is_the_only_candidate() -> None:
    assert confirmation_rates(_steps((10, True), (20, False), (15, False))) == [10.0]


def test_nothing_held_nothing_to_confirm() -> None:
    assert confirmation_rates(_steps((10, False))) == []


def test_most_runs_must_hold() -> None:
    assert held_by_most(_steps((1, True), (1, True), (1, False)))
    assert not held_by_most(_steps((1, True), (1, False), (1, False)))
    assert not held_by_most([])  # none ran: not confirmed
