"""The state file: what ``harness up`` started, so that ``status`` and ``down`` can find it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.env.private import private_dir, private_file
from harness.env.process import ProcessRecord
from harness.errors import EnvironmentError_

__all__ = ["EnvState", "locked", "read_state", "remove_state", "write_state"]

STATE_FILE = "state.json"
FORMAT = 1


@dataclass
class EnvState:
    """Everything ``up`` recorded: backend, endpoints and the processes/containers it owns."""

    backend: str
    endpoints: dict[str, Any]
    processes: list[ProcessRecord] = field(default_factory=list)
    containers: list[dict[str, str]] = field(default_factory=list)
    external: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "backend": self.backend,
            "endpoints": self.endpoints,
            "processes": [p.to_json() for p in self.processes],
            "containers": self.containers,
            "external": self.external,
            "started_at": self.started_at,
            "settings": self.settings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnvState:
        return cls(
            backend=data["backend"],
            endpoints=data["endpoints"],
            processes=[ProcessRecord.from_json(p) for p in data.get("processes", [])],
            containers=list(data.get("containers", [])),
            external=dict(data.get("external", {})),
            started_at=float(data.get("started_at", 0.0)),
            settings=dict(data.get("settings", {})),
        )


def read_state(state_dir: Path) -> EnvState | None:
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EnvironmentError_(
            f"The state file {path} cannot be read ({exc}).",
            fix=f"stop any harness processes listed in it by hand, then delete {path}.",
        ) from exc
    if data.get("format") != FORMAT:
        raise EnvironmentError_(
            f"The state file {path} was written by another harness version.",
            fix=f"run `harness down` with that version, or delete {path}.",
        )
    return EnvState.from_json(data)


def write_state(state_dir: Path, state: EnvState) -> Path:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    private_dir(state_dir)
    path = state_dir / STATE_FILE
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".state-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(state.to_json(), handle, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


def remove_state(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialise ``up``/``down`` on one state folder across processes."""
    private_dir(state_dir)
    with os.fdopen(private_file(state_dir / "lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
