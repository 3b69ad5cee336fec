from pathlib import Path

import pytest

from harness.config import Settings
from harness.errors import ConfigError


def test_env_var_sets_a_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_REDIS_PORT", "6380")
    assert Settings.load().redis_port == 6380


def test_explicit_argument_beats_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", "/nonexistent")
    assert Settings.load(state_dir=tmp_path).state_dir == tmp_path


def test_none_override_keeps_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_BACKEND", "localstack")
    assert Settings.load(backend=None).backend == "localstack"


def test_unknown_backend_names_the_option_and_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(backend="docker-swarm")
    message = str(info.value)
    assert "docker-swarm" in message and "HARNESS_BACKEND" in message and "embedded" in message
    assert info.value.exit_code == 2


def test_non_numeric_port_env_var_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_AWS_PORT", "eighty")
    with pytest.raises(ConfigError, match="HARNESS_AWS_PORT"):
        Settings.load()


def test_port_out_of_range() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        Settings.load(gateway_port=70000)


def test_vendor_dir_defaults_to_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HARNESS_VENDOR_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Settings.load().resolved_vendor_dir == tmp_path / "harness" / "vendor"


@pytest.mark.parametrize(
    ("raw", "value"), [("0", False), ("false", False), ("1", True), ("yes", True)]
)
def test_runtime_switch_from_env(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("HARNESS_RUNTIME", raw)
    assert Settings.load().runtime is value


def test_bad_boolean_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUNTIME", "maybe")
    with pytest.raises(ConfigError, match="HARNESS_RUNTIME"):
        Settings.load()
