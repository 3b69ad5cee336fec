from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario, parse_duration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "scenarios"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(5, 5.0), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("2.5s", 2.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "-3", True, "1d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_every_problem_is_reported_with_line_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(FIXTURES / "bad.yaml")
    text = str(info.value)
    assert "bad.yaml" in text
    assert "line 8, field timeline[1].duration" in text and "'5 minutes' is not a duration" in text
    assert "line 9, field timeline[1].load" in text
    assert "unknown action 'aws:api-eror'" in text and "aws:api-error" in text
    assert info.value.exit_code == 2


def test_cross_references_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "title: t\nstacks: [x]\ntimeline:\n  - {name: a, duration: 10s}\n"
        "expectations:\n  - {metric: p99, target: 5, scope: 'phase:nope'}\n"
    )
    with pytest.raises(ConfigError, match="unknown phase 'nope'"):
        load_scenario(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("title: t\ntimeline:\n  - name: a\n   duration: 3\n")
    with pytest.raises(ConfigError, match=r"s\.yaml, line 4"):
        load_scenario(path)


def test_fault_must_start_inside_its_phase() -> None:
    with pytest.raises(ValueError, match="starts after 20s"):
        Scenario.model_validate(
            {
                "title": "t",
                "stacks": ["x"],
                "timeline": [
                    {
                        "name": "a",
                        "duration": "10s",
                        "faults": [{"action": "redis:down", "start_after": "20s"}],
                    }
                ],
            }
        )


def test_a_valid_scenario() -> None:
    scenario = Scenario.model_validate(
        {
            "title": "t",
            "stacks": ["stacks/x"],
            "seed": 3,
            "timeline": [
                {"name": "warm", "duration": "10s", "load": {"rate": 20}},
                {
                    "name": "outage",
                    "duration": "30s",
                    "load": {
                        "stages": [
                            {"duration": "10s", "rate": 20},
                            {"duration": "20s", "rate": 100, "shape": "ramp"},
                        ]
                    },
                    "faults": [
                        {
                            "action": "aws:api-error",
                            "name": "ddb down",
                            "start_after": "5s",
                            "duration": "10s",
                            "targets": {"service": "dynamodb"},
                            "parameters": {
                                "percentage": 50,
                                "code": "ThrottlingException",
                                "statusCode": 400,
                            },
                        }
                    ],
                },
            ],
            "expectations": [
                {"metric": "p99", "target": 500, "scope": "phase:warm"},
                {
                    "kind": "recovery",
                    "after_fault": "ddb down",
                    "metric": "p99",
                    "target": 500,
                    "within": "15s",
                },
            ],
            "rollbacks": [{"action": "faults:clear"}],
        }
    )
    assert scenario.duration_s == 40
    assert scenario.expectations[1].label.startswith("p99 back < 500")
