"""Capacity faults: cold-start storms and "AZ failures" (the runtime's environments and the
gateway's processes).

:class:`CapacityChaos` implements :class:`harness.runtime.capacity.CapacityFaults` for the
runtime: which environments a seed loses, the timer that gives the capacity back, the fault log's
entries. It acts on the runtime's pools only through their public methods.

Losing gateway processes for an "AZ failure":

The daemon is uvicorn with ``--workers N``: a supervisor process and N worker processes sharing
one listening socket, and the supervisor replaces a worker that dies (uvicorn's
``keep_subprocess_alive``). An AZ failure kills half of the workers at once (their in-flight
requests fail, new connections go to the survivors) and pauses the supervisor (``SIGSTOP``) for
the duration, so that the lost capacity stays lost; at the end the supervisor resumes
(``SIGCONT``), sees the dead workers and starts new ones: capacity returns the way it would
when the zone comes back. With a single gateway process there is no half to lose, and the
gateway is left alone (the record says so).

The supervisor is found from the environment's state file (the process record named
``gateway``); its workers are its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from harness.runtime.capacity import AzFailure
    from harness.runtime.pool import FunctionPool, WorkerPools

__all__ = ["CapacityChaos", "GatewayOutage", "gateway_processes", "kill_share"]

logger = logging.getLogger(__name__)


def gateway_processes(state_dir: Path) -> tuple[int | None, list[int]]:
    """(supervisor pid, worker pids) of the daemon recorded in ``state_dir/state.json``."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None, []
    record = next((p for p in state.get("processes", []) if p.get("name") == "gateway"), None)
    if record is None or not record.get("pid"):
        return None, []
    pid = int(record["pid"])
    try:
        parent = psutil.Process(pid)
        children = [c.pid for c in parent.children() if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return None, []
    # uvicorn's multiprocess children include its resource tracker; workers run the app
    workers = [c for c in children if _is_worker(c)]
    return pid, sorted(workers)


def _is_worker(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        cmdline = " ".join(psutil.Process(pid).cmdline())
        return "resource_tracker" not in cmdline and "semaphore_tracker" not in cmdline
    return False


class GatewayOutage:
    """Kill a share of the gateway's workers and hold the supervisor until :meth:`end`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.supervisor: int | None = None
        self.killed: list[int] = []
        self.note = ""

    def begin(
        self, share: float, rng: random.Random, spare: list[int] | None = None
    ) -> dict[str, Any]:
        """``spare``: workers never chosen (the one answering the request that started this)."""
        supervisor, workers = gateway_processes(self.state_dir)
        if supervisor is None:
            self.note = "no gateway process recorded in the state file"
            return {"gateway_workers": 0, "gateway_killed": [], "gateway_note": self.note}
        if not workers:
            self.note = "the gateway runs as one process: no half to lose"
            return {"gateway_workers": 1, "gateway_killed": [], "gateway_note": self.note}
        count = int(len(workers) * share + 0.5)
        pool = [w for w in workers if w not in set(spare or [])]
        chosen = sorted(rng.sample(pool, min(count, len(pool)))) if count else []
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGSTOP)
        self.supervisor = supervisor
        for pid in chosen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed = chosen
        logger.warning("AZ failure: killed gateway workers %s of %s", chosen, workers)
        return {"gateway_workers": len(workers), "gateway_killed": chosen}

    def end(self) -> None:
        if self.supervisor is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.supervisor, signal.SIGCONT)
            logger.warning("AZ failure over: gateway supervisor %s resumed", self.supervisor)
            self.supervisor = None


def kill_share(
    pools: WorkerPools, functions: list[FunctionPool], share: float, rng: random.Random
) -> list[dict[str, Any]]:
    """Kill ``share`` of every execution environment of ``functions`` at once (busy ones too:
    their invocations fail with ``Runtime.ExitError``). The choice is drawn from ``rng`` over
    the environments in a stable order (function, then pid), so one seed picks the same ones."""
    everyone = [
        (pool, w)
        for pool in sorted(functions, key=lambda p: p.name)
        for w in sorted(pool.workers, key=lambda w: w.pid or 0)
    ]
    count = int(len(everyone) * share + 0.5)
    chosen = rng.sample(range(len(everyone)), count) if count else []
    killed = []
    for index in sorted(chosen):
        pool, worker = everyone[index]
        pid = worker.pid
        killed.append({"function": pool.name, "pid": pid, "busy": pools.kill(pool, worker)})
    return killed


class CapacityChaos:
    """The runtime's capacity faults (:class:`harness.runtime.capacity.CapacityFaults`)."""

    def __init__(
        self,
        pools: WorkerPools,
        state_dir: Path,
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        self.pools = pools
        self.state_dir = state_dir
        self.record = record
        self._outage: dict[str, Any] | None = None
        self._gateway: GatewayOutage | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def outage(self) -> dict[str, Any] | None:
        return self._outage

    def recycle(self, pools: list[FunctionPool], description: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": round(time.time(), 6),
            "kind": "lambda",
            "mode": "cold-start",
            "effect": "recycled all environments",
            "target": ",".join(sorted(p.name for p in pools)),
            "recycled": {p.name: len(p.workers) for p in pools},
            "description": description,
        }
        for pool in pools:
            self.pools.drain(pool)
        self.record(entry)
        return entry

    def begin_az_failure(self, pools: list[FunctionPool], failure: AzFailure) -> dict[str, Any]:
        """Runs on the runtime's event loop (the end is a timer on it)."""
        duration_s, seed, share = failure.duration_s, failure.seed, failure.share
        if self._outage is not None:
            raise ValueError("an AZ failure is already in progress; clear it first")
        rng = random.Random(f"az:{seed}")
        killed = kill_share(self.pools, pools, share, rng)
        self.pools.capacity_factor = 1.0 - share
        gateway = GatewayOutage(self.state_dir)
        entry: dict[str, Any] = {
            "time": round(time.time(), 6),
            "kind": "az",
            "mode": "az-failure",
            "target": "runtime+gateway",
            "effect": f"lost {share:.0%} of capacity for {duration_s:g}s",
            "environments_killed": killed,
            "max_workers": self.pools.max_workers,
            "seed": seed,
            "duration_s": duration_s,
            "description": failure.description,
            **gateway.begin(share, rng, spare=list(failure.spare_pids)),
        }
        self._outage, self._gateway = entry, gateway
        self._timer = asyncio.get_running_loop().call_later(duration_s, self.end_az_failure)
        self.record(entry)
        return entry

    def end_az_failure(self) -> dict[str, Any] | None:
        if self._outage is None:
            return None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.pools.capacity_factor = 1.0
        if self._gateway is not None:
            self._gateway.end()
        entry: dict[str, Any] = {
            "time": round(time.time(), 6),
            "kind": "az",
            "mode": "az-recovered",
            "target": "runtime+gateway",
            "effect": "capacity restored",
            "max_workers": self.pools.max_workers,
        }
        self._outage = self._gateway = None
        self.record(entry)
        return entry
