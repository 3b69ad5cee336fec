"""``harness setup``'s emulator virtual environments: what goes in, and when it is redone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import setup
from harness.config import Settings
from harness.env.components import EMULATOR_PACKAGES


def test_ministack_gets_cryptography_so_its_cognito_signs_tokens() -> None:
    packages = setup.emulator_packages("ministack")
    assert packages[: len(EMULATOR_PACKAGES["ministack"])] == EMULATOR_PACKAGES["ministack"]
    assert any(p.startswith("cryptography>=41") for p in packages)
    assert setup.emulator_packages("moto") == EMULATOR_PACKAGES["moto"]


def test_a_venv_installed_without_the_extras_is_reinstalled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(setup, "_run", lambda argv, what, fix: ran.append(argv))
    settings = Settings.load(vendor_dir=tmp_path)
    marker = tmp_path / "venvs" / "ministack" / ".installed"
    marker.parent.mkdir(parents=True)
    marker.write_text(" ".join(EMULATOR_PACKAGES["ministack"]) + "\n")  # an older setup's venv
    step = setup.ensure_emulator(settings, "ministack")
    assert step.status == "installed"
    install = ran[-1]
    assert install[-len(setup.emulator_packages("ministack")) :] == setup.emulator_packages(
        "ministack"
    )
    assert "cryptography" in marker.read_text()
    ran.clear()
    python = marker.parent / "bin" / "python"
    python.parent.mkdir()
    python.touch()  # what `python -m venv` made
    assert setup.ensure_emulator(settings, "ministack").status == "present" and ran == []
