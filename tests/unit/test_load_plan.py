"""Load plan files: the example parses; errors name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.auth.providers import CommandTokens
from harness.errors import ConfigError
from harness.load.plan import load_plan

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "load" / "plan.yaml"


def test_example_plan() -> None:
    plan = load_plan(EXAMPLE)
    assert plan.profile is not None and plan.profile.stage_names() == ["warm-up", "peak", "spike"]
    assert plan.mix is not None and plan.mix.requests[1].method == "POST"
    assert plan.tenant_set().weights() == [3.0, 1.0]
    assert [s.label for s in plan.slos] == [
        "p99<500ms",
        "error_rate{phase:peak}<0.01",
        "premium latency",
    ]
    assert plan.slos[2].target == 300
    provider = plan.tokens.provider() if plan.tokens else None
    assert isinstance(provider, CommandTokens)
    assert provider.argv("t1", "alice")[-4:] == ["--tenant", "t1", "--user", "alice"]


def test_errors_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "profile:\n  stages:\n    - {duration: 10s, target: 5}\n"
        "mix:\n  - {name: a, path: /x, auth: bearr}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_plan(path)
    text = str(exc.value)
    assert "line 5" in text and "mix.requests[0].auth" in text


def test_tokens_need_exactly_one_source(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tokens: {static: {t1: x}, command: echo}\n")
    with pytest.raises(ConfigError, match="exactly one of static, file, command or oauth2"):
        load_plan(path)


def test_bad_short_slo(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("slos: ['p99 is fast']\n")
    with pytest.raises(ConfigError, match="is not an SLO"):
        load_plan(path)
