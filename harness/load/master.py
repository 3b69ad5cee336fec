"""The master of a distributed load run: ``python -m harness.load.master CONFIG`` (started by
:func:`harness.load.engine.run_load`, never imported by it: this process imports Locust).

It is Locust's own :class:`~locust.runners.MasterRunner` (ZeroMQ, heartbeats, worker indexes),
driving the harness's open-model generators through custom messages instead of Locust's user
dispatch (which only knows the closed model):

1. bind, print ``{"listening": PORT}``, wait until ``expect`` workers are connected (local ones
   the engine started and/or ``harness load-worker --master HOST:PORT`` from other machines);
2. send each its :class:`~harness.load.spec.WorkerSpec` (``harness_spec``: its index of N, so
   that it takes exactly 1/N of the arrivals and its share of the user pool) and wait until all
   answer ``harness_ready``;
3. pick a start instant and send ``harness_go``; print ``{"started": EPOCH}``;
4. add up each worker's per-second stream (raw histograms, :mod:`harness.load.wire`) and print
   one ``{"progress": ...}`` line per second once every live worker has reported it;
5. a worker Locust marks missing (no heartbeat for ~3 s), that quits, or that reports an error is
   *lost*: printed as ``{"lost": ...}``; then either the run fails (``on_worker_loss: fail``:
   the others are stopped) or the survivors take over its arrivals from that instant
   (``redistribute``, ``harness_adopt``);
6. pickle the workers' results (what each measured, up to its last report for a lost one) to the
   result path and print ``{"done": true}``.

SIGTERM stops the run early (the workers are told to stop and their results still collected).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MasterConfig", "main"]

START_DELAY = 0.5  # seconds between "go" and the start instant (covers the message's trip)
READY_TIMEOUT = 60.0  # seconds for the workers to build their generators


@dataclass
class MasterConfig:
    spec: Any  # a WorkerSpec with index -1: the master sets each worker's index
    expect: int
    bind_host: str
    bind_port: int
    on_worker_loss: str  # "fail" | "redistribute"
    join_timeout: float
    result_path: str
    parent_pid: int
    extra: dict[str, Any] = field(default_factory=dict)


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


@dataclass
class _Worker:
    client_id: str
    index: int
    ready: bool = False
    done: bool = False
    lost: bool = False
    pid: int = 0
    host: str = ""
    last_sec: int = -1
    error: str | None = None


class Master:
    def __init__(self, config: MasterConfig) -> None:
        import gevent
        from locust.env import Environment

        from harness.load.stats import WorkerResult

        self.gevent = gevent
        self.config = config
        self.profile = config.spec.profile
        self.environment = Environment(user_classes=[])
        self.runner = self.environment.create_master_runner(config.bind_host, config.bind_port)
        self.workers: dict[str, _Worker] = {}
        self.by_index: dict[int, _Worker] = {}
        self.results: dict[int, WorkerResult] = {}
        self.pending: dict[int, dict[int, Any]] = {}  # second -> worker index -> its Second
        self.reported = -1
        self.totals = {"requests": 0, "errors": 0, "dropped": 0}
        self.lost: list[dict[str, Any]] = []
        self.stopping = False
        self.failed: str | None = None
        self.base_epoch = 0.0
        self.hello: set[str] = set()  # workers that run the harness's handlers
        for kind, handler in (
            ("harness_hello", self.on_hello),
            ("harness_ready", self.on_ready),
            ("harness_sec", self.on_sec),
            ("harness_done", self.on_done),
            ("harness_error", self.on_error),
        ):
            self.runner.register_message(kind, handler)

    # -- messages from workers ---------------------------------------------------------------

    def _worker(self, msg: Any) -> _Worker | None:
        return self.workers.get(msg.node_id)

    def on_hello(self, environment: Any, msg: Any) -> None:
        self.hello.add(msg.node_id)

    def on_ready(self, environment: Any, msg: Any) -> None:
        w = self._worker(msg)
        if w is not None:
            w.ready, w.pid, w.host = True, int(msg.data["pid"]), str(msg.data.get("host", ""))
            self.results[w.index].pid = w.pid

    def on_sec(self, environment: Any, msg: Any) -> None:
        from harness.load.wire import absorb, absorb_seconds, seconds_from_wire

        w = self._worker(msg)
        if w is None or w.lost:
            return
        result = self.results[w.index]
        absorb(result, msg.data["cells"], {})
        seconds = seconds_from_wire(msg.data["seconds"])
        sec = int(msg.data["sec"])
        w.last_sec = sec
        # the live panel shows the second as reported now (later drops only reach the result)
        self.pending.setdefault(sec, {})[w.index] = seconds.get(sec)
        absorb_seconds(result, seconds)
        self.flush()

    def on_done(self, environment: Any, msg: Any) -> None:
        from harness.load.wire import absorb

        w = self._worker(msg)
        if w is None or w.lost:
            return
        result = self.results[w.index]
        absorb(result, msg.data["cells"], msg.data["seconds"])
        totals = msg.data["totals"]
        for name in (
            "cpu_seconds",
            "wall_seconds",
            "allocated_max",
            "pool_size",
            "token_refreshes",
            "token_failures",
            "max_lag",
        ):
            setattr(result, name, type(getattr(result, name))(totals[name]))
        result.first_requests = [str(r) for r in totals["first_requests"]]
        result.errors = [str(e) for e in totals["errors"]]
        w.done = True
        self.flush()

    def on_error(self, environment: Any, msg: Any) -> None:
        w = self._worker(msg)
        if w is not None and not w.lost:
            w.error = str(msg.data.get("error", ""))
            if not w.ready:
                self.failed = (
                    f"load worker {w.index} ({w.host or msg.node_id}) could not start:\n{w.error}"
                )
            else:
                self.lose(w, "failed: " + w.error.strip().splitlines()[-1])

    # -- the live panel ----------------------------------------------------------------------

    def live(self) -> list[_Worker]:
        return [w for w in self.workers.values() if not w.lost and not w.done]

    def flush(self) -> None:
        """Print every second that all live workers have reported."""
        from harness.load.histogram import Histogram

        while True:
            nxt = self.reported + 1
            parts = self.pending.get(nxt, {})
            waiting = [w for w in self.live() if w.index not in parts]
            if not parts or waiting:
                return
            self.pending.pop(nxt)
            self.reported = nxt
            seconds = [s for s in parts.values() if s is not None]
            hist = Histogram.merged(s.latency for s in seconds)
            completed = sum(s.completed for s in seconds)
            errors = sum(s.errors for s in seconds)
            dropped = sum(s.dropped for s in seconds)
            self.totals["requests"] += completed
            self.totals["errors"] += errors
            self.totals["dropped"] += dropped
            profile = self.profile
            elapsed = float(nxt + 1)
            target = (
                profile.expected(nxt, nxt + 1) if profile.mode == "open" else profile.target_at(nxt)
            )
            names = profile.stage_names()
            _emit(
                {
                    "progress": {
                        "phase": names[profile.stage_at(nxt + 0.5)],
                        "elapsed_s": elapsed,
                        "remaining_s": max(0.0, profile.duration - elapsed),
                        "rps": float(completed),
                        "target": target,
                        "p99_ms": hist.percentile_ms(0.99),
                        "errors": errors,
                        "dropped": dropped,
                        "requests": self.totals["requests"],
                        "errors_total": self.totals["errors"],
                        "dropped_total": self.totals["dropped"],
                        "active_users": sum(s.busy_max for s in seconds),
                        "cpu_percent": {
                            str(i): round(s.cpu * 100, 1) for i, s in parts.items() if s
                        },
                    }
                }
            )

    # -- losing a worker ---------------------------------------------------------------------

    def lose(self, w: _Worker, why: str) -> None:
        if w.lost or w.done:
            return
        w.lost = True
        since = time.time() - self.base_epoch if self.base_epoch else 0.0
        result = self.results[w.index]
        # its arrivals from the end of its last reported second on are not known to have been
        # sent: the survivors send them (late ones at once, measured from their due time)
        resume = float(w.last_sec + 1)
        record = {
            "index": w.index,
            "worker": w.client_id,
            "host": w.host,
            "pid": w.pid,
            "at_s": round(since, 3),
            "last_second": w.last_sec,
            "requests_reported": sum(c.requests for c in result.cells.values()),
            "why": why,
        }
        survivors = sorted(self.live(), key=lambda s: s.index)
        if not self.base_epoch:  # before the start: nobody's share can be taken over yet
            self.failed = (
                f"load worker {w.index} ({w.host or w.client_id}) was lost before the run "
                f"started ({why})."
            )
            self.stop()
        elif self.config.on_worker_loss == "redistribute" and survivors and not self.stopping:
            record["taken_over_by"] = [s.index for s in survivors]
            record["taken_over_from_s"] = resume
            for rank, s in enumerate(survivors):
                self.runner.send_message(
                    "harness_adopt",
                    {"index": w.index, "since": resume, "rank": rank, "of": len(survivors)},
                    client_id=s.client_id,
                )
        elif not self.stopping:
            self.failed = (
                f"load worker {w.index} (pid {w.pid} on {w.host or w.client_id}) was lost "
                f"{since:.1f}s into the run ({why}); "
                + (
                    "on_worker_loss is fail, so the run was stopped."
                    if survivors
                    else "no worker was left to take over its share."
                )
            )
            self.stop()
        self.lost.append(record)
        _emit({"lost": record})
        self.flush()

    def watch(self) -> None:
        from locust.runners import STATE_MISSING

        while True:
            self.gevent.sleep(0.5)
            if os.getppid() != self.config.parent_pid:
                self.failed = self.failed or "the engine that started this master is gone"
                self.stop()
            for w in list(self.live()):
                node = self.runner.clients.get(w.client_id)
                if node is None:
                    self.lose(w, "it disconnected")
                elif node.state == STATE_MISSING:
                    self.lose(w, "no heartbeat for 3 s")

    def stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            for w in self.live():
                self.runner.send_message("harness_stop", {}, client_id=w.client_id)

    # -- the run -----------------------------------------------------------------------------

    def wait_for(self, what: Callable[[], str], check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.failed:
                raise RuntimeError(self.failed)
            if self.stopping:
                raise RuntimeError("stopped before the load started")
            if time.monotonic() > deadline:
                raise RuntimeError(what())
            self.gevent.sleep(0.05)

    def run(self) -> None:
        import dataclasses

        from harness.load.stats import WorkerResult

        config = self.config
        runner = self.runner
        _emit({"listening": runner.server.port})
        watcher = self.gevent.spawn(self.watch)

        def ready() -> list[Any]:  # connected, and answering the harness's messages
            return [c for c in runner.clients.ready if c.id in self.hello]

        def joined() -> int:
            return len(ready())

        self.wait_for(
            lambda: (
                f"only {joined()} of {config.expect} load workers joined within "
                f"{config.join_timeout:g}s (start them with: harness load-worker --master "
                f"HOST:{runner.server.port})"
            ),
            lambda: joined() >= config.expect,
            config.join_timeout,
        )
        indexes: dict[str, int] = runner.worker_indexes  # Locust's join order
        chosen = sorted(ready(), key=lambda c: indexes.get(c.id, 1 << 30))
        for index, node in enumerate(chosen[: config.expect]):
            w = _Worker(node.id, index)
            self.workers[node.id] = w
            self.by_index[index] = w
            spec = dataclasses.replace(config.spec, index=index)
            self.results[index] = WorkerResult(
                index=index, pid=0, seed=spec.seed, pool_size=spec.pool_size
            )
            runner.send_message(
                "harness_spec",
                {"spec": pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)},
                client_id=node.id,
            )
        self.wait_for(
            lambda: (
                "the load workers were not ready after "
                f"{READY_TIMEOUT:g}s: "
                + ", ".join(str(w.index) for w in self.workers.values() if not w.ready)
            ),
            lambda: all(w.ready for w in self.workers.values()),
            READY_TIMEOUT,
        )
        start = time.time() + START_DELAY
        self.base_epoch = start
        for w in self.workers.values():
            runner.send_message("harness_go", {"start": start}, client_id=w.client_id)
        _emit(
            {
                "started": start,
                "workers": [
                    {"index": w.index, "pid": w.pid, "host": w.host}
                    for w in sorted(self.workers.values(), key=lambda w: w.index)
                ],
            }
        )
        while self.live():
            self.gevent.sleep(0.05)
        watcher.kill(block=False)
        if self.failed:
            raise RuntimeError(self.failed)
        with open(config.result_path, "wb") as handle:
            pickle.dump(
                {"workers": list(self.results.values()), "lost": self.lost},
                handle,
                protocol=pickle.HIGHEST_PROTOCOL,
            )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], "rb") as handle:
        config: MasterConfig = pickle.load(handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when to stop
    os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    import logging

    import locust  # noqa: F401  (monkey-patches this process with gevent)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    import gevent
    import psutil

    cpu0 = sum(psutil.Process().cpu_times()[:2])
    try:
        master = Master(config)
    except Exception:
        _emit({"error": "the load master could not start:\n" + traceback.format_exc()})
        return 1
    gevent.signal_handler(signal.SIGTERM, master.stop)
    try:
        master.run()
    except RuntimeError as exc:
        _emit({"error": str(exc), "lost": master.lost})
        master.runner.quit()
        return 1
    except Exception:
        _emit({"error": traceback.format_exc(), "lost": master.lost})
        master.runner.quit()
        return 1
    _emit({"done": True, "cpu_seconds": sum(psutil.Process().cpu_times()[:2]) - cpu0})
    master.runner.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
