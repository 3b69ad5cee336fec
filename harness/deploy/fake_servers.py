"""Fake third-party servers a stack declares in ``harness.yaml`` (``fixtures.fake_servers``).

``harness deploy`` starts each one as a child process on a free loopback port before the stack is
deployed, waits until ``GET {health}`` answers 2xx and binds its base URL to the template parameter
named by ``parameter``. A redeploy keeps a server that still runs and whose declaration did not
change (same URL, same state). ``harness destroy`` and ``harness down`` stop them.

What was started is recorded in ``<state_dir>/fakes/<stack>.json`` (a :class:`ProcessRecord` per
server) as soon as the process exists, so a deploy that crashes half-way still leaves a record to
clean up from. The records and the stopping live in :mod:`harness.env.fake_servers` (the
environment stops the servers on ``harness down`` without importing the deploy); their names are
re-exported here. A process is only ever signalled if it is the one recorded (same PID and start time),
runs the recorded command line and carries this environment's ``HARNESS_ENV_ID``: a stale record
whose PID was recycled by a foreign process is dropped without touching it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.env.fake_servers import (
    env_id,
    load_records,
    owned,
    records_file,
    save_records,
    stop_all_fake_servers,
    stop_fake_servers,
    stop_owned,
)
from harness.env.probes import http_ok
from harness.env.process import (
    LOOPBACK,
    ProcessRecord,
    free_port,
    spawn,
    stop,
    wait_ready,
)
from harness.errors import DeployError, StartError
from harness.profile import FakeServerSpec

__all__ = [
    "FakeServers",
    "env_id",
    "load_records",
    "owned",
    "records_file",
    "start_fake_servers",
    "stop_all_fake_servers",
    "stop_fake_servers",
]

logger = logging.getLogger(__name__)


def _fingerprint(stack_dir: Path, spec: FakeServerSpec) -> dict[str, Any]:
    return {
        "stack_dir": str(stack_dir),
        "command": list(spec.command),
        "env": dict(spec.env),
        "health": spec.health,
    }


@dataclass
class FakeServers:
    """The result of :func:`start_fake_servers`: base URLs by server name, and which of them
    this call started (so a failed deploy stops those and keeps the reused ones)."""

    urls: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)


def start_fake_servers(
    state_dir: Path,
    stack: str,
    stack_dir: Path,
    specs: Mapping[str, FakeServerSpec],
    *,
    profile_file: str,
) -> FakeServers:
    """Start (or keep) every declared server; stop recorded ones no longer declared.

    On any failure, the servers started by this call are stopped before :class:`DeployError`
    is raised.
    """
    records = load_records(state_dir, stack)
    result = FakeServers()
    for name in [n for n in records if n not in specs]:
        stop_owned(records.pop(name), state_dir)
    save_records(state_dir, stack, records)
    try:
        for name, spec in specs.items():
            previous = records.get(name)
            if previous is not None and _reusable(previous, state_dir, stack_dir, spec):
                result.urls[name] = str(previous.endpoint)
                logger.info("fake server %s still runs at %s; keeping it", name, previous.endpoint)
                continue
            if previous is not None:
                stop_owned(records.pop(name), state_dir)
                save_records(state_dir, stack, records)
            record = _start_one(state_dir, stack, stack_dir, name, spec, records, profile_file)
            result.urls[name] = str(record.endpoint)
            result.started.append(name)
    except BaseException:
        stop_fake_servers(state_dir, stack, result.started)
        raise
    return result


def _reusable(
    record: ProcessRecord, state_dir: Path, stack_dir: Path, spec: FakeServerSpec
) -> bool:
    if record.extra.get("spec") != _fingerprint(stack_dir, spec) or not owned(record, state_dir):
        return False
    return http_ok(str(record.extra.get("health")), timeout=2.0, accept_any_status=False)


def _start_one(
    state_dir: Path,
    stack: str,
    stack_dir: Path,
    name: str,
    spec: FakeServerSpec,
    records: dict[str, ProcessRecord],
    profile_file: str,
) -> ProcessRecord:
    port = free_port()
    values = {"python": sys.executable, "stack_dir": str(stack_dir), "port": str(port)}
    argv = [part.format(**values) for part in spec.command]
    url = f"http://{LOOPBACK}:{port}"
    health = url + spec.health
    log = state_dir / "logs" / f"fake-{stack}-{name}.log"
    log.unlink(missing_ok=True)  # the tail in an error must be this start's
    child_env = {k: v.format(**values) for k, v in spec.env.items()}
    child_env.update(
        {"HARNESS_ENV_ID": env_id(state_dir), "HARNESS_STACK": stack, "HARNESS_FAKE_SERVER": name}
    )
    where = f"fixtures.fake_servers.{name}"
    try:
        record = spawn(
            f"fake server {name}",
            argv,
            log=log,
            env=child_env,
            cwd=stack_dir,
            port=port,
            endpoint=url,
        )
    except StartError as exc:
        raise DeployError(
            f"fake server '{name}' ({where}.command) cannot start: {exc.reason}",
            file=profile_file,
            fix=f"correct {where}.command (it ran: {' '.join(argv)}).",
        ) from None
    record.extra = {
        "stack": stack,
        "server": name,
        "health": health,
        "spec": _fingerprint(stack_dir, spec),
    }
    records[name] = record
    save_records(state_dir, stack, records)  # recorded before waiting: a crash can clean up
    logger.info("started fake server %s (pid %s) on %s", name, record.pid, url)
    try:
        wait_ready(
            record,
            lambda: http_ok(health, timeout=1.0, accept_any_status=False),
            timeout=spec.startup_timeout,
        )
    except StartError as exc:
        stop(record)
        del records[name]
        save_records(state_dir, stack, records)
        message = (
            f"fake server '{name}' ({where}) did not become healthy: {exc.reason} "
            f"(GET {health} must answer 2xx within startup_timeout={spec.startup_timeout:g} s)."
        )
        if exc.log_tail.strip():
            message += f"\n--- last lines of {log} ---\n{exc.log_tail.rstrip()}\n---"
        raise DeployError(
            message,
            file=profile_file,
            fix=f"run the command by hand to see why ({' '.join(argv)}), then correct "
            f"{where}.command, .health or .startup_timeout.",
        ) from None
    return record
