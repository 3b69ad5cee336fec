"""Load profiles: validation names the field; the target curve and arrival schedule are exact."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.load.profile import (
    LoadProfile,
    RequestTemplate,
    Stage,
    Tenants,
    TrafficMix,
    ramp_profile,
    share,
    spike_profile,
    step_down_profile,
)
from harness.load.schedule import arrival_times


def _error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.value.errors()]


def test_bad_duration_names_the_stage_field() -> None:
    with pytest.raises(ValidationError) as exc:
        LoadProfile.model_validate(
            {"stages": [{"duration": "30s", "target": 5}, {"duration": "5x", "target": 1}]}
        )
    assert "stages.1.duration" in _error_fields(exc)
    assert "'5x' is not a duration" in str(exc.value)


def test_unknown_field_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError) as exc:
        LoadProfile.model_validate({"stages": [{"duration": 1, "target": 1, "rate": 3}]})
    assert "stages.0.rate" in _error_fields(exc)


def test_negative_target_and_bad_shape() -> None:
    with pytest.raises(ValidationError) as exc:
        LoadProfile.model_validate({"stages": [{"duration": 1, "target": -1, "shape": "zigzag"}]})
    fields = _error_fields(exc)
    assert "stages.0.target" in fields and "stages.0.shape" in fields


def test_closed_model_needs_whole_users() -> None:
    with pytest.raises(
        ValidationError, match=r"stages.0.target: the closed model takes whole users"
    ):
        LoadProfile(mode="closed", stages=[Stage.hold(2.5, 10)])


def test_request_template_placeholders_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"unknown placeholder '\{tenat\}'"):
        RequestTemplate(name="x", path="/t/{tenat}")
    with pytest.raises(ValidationError, match="json: unknown placeholder"):
        RequestTemplate.model_validate({"name": "x", "path": "/", "json": {"a": ["{nope}"]}})
    ok = RequestTemplate.model_validate(
        {"name": "x", "method": "post", "path": "/t/{tenant}/{uuid}", "json": {"u": "{user}"}}
    )
    assert ok.method == "POST" and ok.json_body == {"u": "{user}"}


def test_tier_weights_must_name_known_tiers() -> None:
    with pytest.raises(ValidationError, match="no tenant has tier gold"):
        Tenants.model_validate(
            {"tenants": [{"id": "a", "tier": "basic"}], "tier_weights": {"gold": 1}}
        )


def test_durations_accept_strings() -> None:
    profile = LoadProfile(stages=[Stage.hold(10, "1m"), Stage.ramp(20, "500ms")])
    assert profile.duration == pytest.approx(60.5)


def test_target_at_hold_ramp_spike() -> None:
    profile = LoadProfile(
        stages=[
            Stage.ramp(100, 10, "up"),
            Stage.hold(100, 10, "hold"),
            Stage.spike(500, 10, "spike", rise=2),
            Stage.ramp(0, 10, "down"),
        ]
    )
    assert profile.target_at(0) == 0
    assert profile.target_at(5) == pytest.approx(50)
    assert profile.target_at(15) == pytest.approx(100)
    assert profile.target_at(21) == pytest.approx(300)  # half way up the spike
    assert profile.target_at(25) == pytest.approx(500)
    assert profile.target_at(29) == pytest.approx(300)  # half way down
    assert profile.target_at(35) == pytest.approx(50)  # ramp from the pre-spike level (100)
    assert profile.target_at(41) == 0
    assert profile.expected(0, 10) == pytest.approx(500)
    assert profile.expected(20, 30) == pytest.approx(2 * 300 + 6 * 500 + 2 * 300)
    assert [n for n, _, _ in profile.stage_bounds()] == ["up", "hold", "spike", "down"]
    assert profile.stage_at(25) == 2


def test_runbook_helpers() -> None:
    spike = spike_profile(100, factor=10, before="10s", spike="10s", after="10s")
    assert spike.peak() == 1000 and spike.stage_names() == ["baseline", "spike", "recovery"]
    ramp = ramp_profile(3000, ramp="1m", hold="5m", down="30s")
    assert ramp.duration == 390 and ramp.target_at(30) == pytest.approx(1500)
    steps = step_down_profile(3000, step=500, each="10s", floor=1000)
    assert [s.target for s in steps.stages] == [3000, 2500, 2000, 1500]
    assert steps.stage_names()[0] == "step-3000"
    with pytest.raises(ConfigError, match="factor must be between 1 and 100") as info:
        spike_profile(10, factor=0.5)
    assert (info.value.source, info.value.field) == ("spike_profile", "factor")
    with pytest.raises(ConfigError, match="step must be positive"):
        step_down_profile(3000, step=0)


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_uniform_arrivals_match_the_target_exactly(processes: int) -> None:
    profile = LoadProfile(stages=[Stage.ramp(100, 10), Stage.hold(100, 5), Stage.ramp(20, 5)])
    times = sorted(
        t for i in range(processes) for t in arrival_times(profile, processes=processes, index=i)
    )
    assert len(times) == pytest.approx(profile.expected(0, 20), abs=processes)
    assert all(0 <= t < 20 for t in times)
    for a, b in ((0, 5), (5, 10), (10, 15), (15, 20)):
        count = sum(1 for t in times if a <= t < b)
        assert count == pytest.approx(profile.expected(a, b), abs=processes + 1)
    # while the rate is constant, arrivals are evenly spaced across processes
    hold = [t for t in times if 10.5 <= t < 14.5]
    gaps = [b - a for a, b in itertools.pairwise(hold)]
    assert max(gaps) == pytest.approx(0.01, rel=1e-6) and min(gaps) == pytest.approx(0.01, rel=1e-6)


def test_poisson_arrivals_have_the_right_rate() -> None:
    profile = LoadProfile(stages=[Stage.hold(1000, 10)], arrivals="poisson")
    times = list(arrival_times(profile, rng=random.Random(3)))
    assert len(times) == pytest.approx(10_000, rel=0.05)


def test_user_share_sums_to_total() -> None:
    for users in range(0, 12):
        assert sum(share(users, 3, i) for i in range(3)) == users


def test_single_mix_helper() -> None:
    mix = TrafficMix.single("/health")
    assert mix.requests[0].name == "/health" and not mix.needs_tokens
