"""Losing gateway processes for an "AZ failure".

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

import contextlib
import json
import logging
import os
import random
import signal
from pathlib import Path
from typing import Any

import psutil

__all__ = ["GatewayOutage", "gateway_processes"]

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
