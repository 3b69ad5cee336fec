"""The process records of a stack's fake third-party servers, and stopping them.

``harness deploy`` (:mod:`harness.deploy.fake_servers`) starts the servers a stack declares and
records each as soon as its process exists, in ``<state_dir>/fakes/<stack>.json`` (a
:class:`ProcessRecord` per server); ``harness destroy`` and the environment's teardown
(``harness down``) stop them from these records. They live here, beside the environment's own
process records, so that the environment can stop them without importing the deploy.

A process is only ever signalled if it is the one recorded (same PID and start time), runs the
recorded command line and carries this environment's ``HARNESS_ENV_ID``: a stale record whose
PID was recycled by a foreign process is dropped without touching it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import psutil

from harness.env.process import ProcessRecord, is_alive, stop

__all__ = [
    "env_id",
    "load_records",
    "owned",
    "records_file",
    "save_records",
    "stop_all_fake_servers",
    "stop_fake_servers",
    "stop_owned",
]

logger = logging.getLogger(__name__)


def records_file(state_dir: Path, stack: str) -> Path:
    # not under stacks/: every *.json there is read as a DeployedStack
    return state_dir / "fakes" / f"{stack}.json"


def load_records(state_dir: Path, stack: str) -> dict[str, ProcessRecord]:
    path = records_file(state_dir, stack)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.warning("unreadable fake-server record %s; ignoring it", path)
        return {}
    return {name: ProcessRecord.from_json(rec) for name, rec in data.items()}


def save_records(state_dir: Path, stack: str, records: Mapping[str, ProcessRecord]) -> None:
    path = records_file(state_dir, stack)
    if not records:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: r.to_json() for k, r in records.items()}, indent=2))
    tmp.replace(path)


def env_id(state_dir: Path) -> str:
    """The ``HARNESS_ENV_ID`` of children of the environment in ``state_dir`` (as `up` sets it)."""
    return os.path.abspath(state_dir)


def owned(record: ProcessRecord, state_dir: Path) -> bool:
    """True only if ``record``'s process still runs *and* is ours: same start time, same command
    line, this environment's id. Anything unreadable counts as not ours."""
    if not is_alive(record):
        return False
    try:
        proc = psutil.Process(record.pid)
        return proc.cmdline() == record.argv and proc.environ().get("HARNESS_ENV_ID") == env_id(
            state_dir
        )
    except (psutil.Error, OSError):
        return False


def stop_owned(record: ProcessRecord, state_dir: Path) -> None:
    if owned(record, state_dir):
        logger.info("stopping fake server %s (pid %s)", record.name, record.pid)
        stop(record)
    elif is_alive(record):
        logger.warning(
            "not stopping pid %s: it is no longer the fake server %s that was recorded",
            record.pid,
            record.name,
        )


def stop_fake_servers(state_dir: Path, stack: str, names: list[str] | None = None) -> int:
    """Stop the stack's recorded servers (``names``, default all); how many records were dropped."""
    records = load_records(state_dir, stack)
    dropped = 0
    for name in list(records):
        if names is None or name in names:
            stop_owned(records.pop(name), state_dir)
            dropped += 1
    save_records(state_dir, stack, records)
    return dropped


def stop_all_fake_servers(state_dir: Path) -> int:
    """Stop every stack's fake servers (``harness down``); safe when there are none."""
    folder = state_dir / "fakes"
    count = 0
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(Exception):
                count += stop_fake_servers(state_dir, path.stem)
    return count
