"""Read a scenario file and validate all of it before anything runs.

Every problem is reported at once, each with its line and field::

    scenarios/bad.yaml: the scenario is not valid:
      line 12, field timeline[1].duration: Value error, '5 minutes' is not a duration; use ...
      line 20, field expectations[0]: Value error, a 'recovery' expectation needs within
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.scenario.model import Scenario
from harness.yamlpos import load_with_positions, validation_error

__all__ = ["load_scenario"]

FIX = "correct the fields listed (the scenario format is documented in scenarios/README.md)."


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the scenario file: {exc.strerror}.", source=str(path)
        ) from None
    data, positions = load_with_positions(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(
            "a scenario is a YAML mapping with at least 'title', 'stacks' and 'timeline'.",
            source=str(path),
            fix=FIX,
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, positions, what="scenario", fix=FIX) from None
