from harness.scenario.model import Scenario
from harness.scenario.timeline import plan_faults


def test_fault_windows_on_the_run_clock() -> None:
    scenario = Scenario.model_validate(
        {
            "title": "t",
            "stacks": ["x"],
            "timeline": [
                {"name": "warm", "duration": "20s"},
                {
                    "name": "chaos",
                    "duration": "60s",
                    "faults": [
                        {
                            "action": "redis:down",
                            "start_after": "10s",
                            "duration": "15s",
                            "name": "cache",
                        },
                        {
                            "action": "aws:api-error",
                            "start_after": "30s",
                            "targets": {"service": "sqs"},
                        },
                        {
                            "action": "aws:latency",
                            "start_after": "50s",
                            "duration": "30s",
                            "parameters": {"latency": "200ms"},
                        },
                    ],
                },
            ],
        }
    )
    planned = plan_faults(scenario)
    assert [(p.spec.label, p.start_s, p.end_s) for p in planned] == [
        ("cache", 30.0, 45.0),
        ("aws:api-error", 50.0, 80.0),  # no duration: to the end of its phase
        ("aws:latency", 70.0, 80.0),  # clipped to the phase
    ]
