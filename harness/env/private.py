"""Owner-only files and folders for an environment's state (keys, databases, logs, secrets).

Everything an environment keeps lives under its own state folder: folders ``0700``, files
``0600``. Children are started with umask ``077`` so whatever an emulator writes there (a
Cognito signing key, an S3 object, a SQLite file) is owner-only too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

__all__ = ["CHILD_UMASK", "DATA_DIR", "private_dir", "private_file", "remove_data", "tighten"]

CHILD_UMASK = 0o077
DATA_DIR = "data"  # <state_dir>/data: emulator state, removed by `harness down` unless kept


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it ``0700``."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path, *, append: bool = True) -> int:
    """Open ``path`` for writing as a ``0600`` file (fixing an existing one); returns the fd."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def tighten(root: Path) -> None:
    """Make every folder under ``root`` 0700 and every file 0600 (what a child may have loosened)."""
    if not root.exists():
        return
    for folder, dirs, files in os.walk(root):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o600)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def remove_data(state_dir: Path) -> None:
    """Delete the emulators' state of the environment in ``state_dir`` (``<state_dir>/data``)."""
    shutil.rmtree(state_dir / DATA_DIR, ignore_errors=True)
