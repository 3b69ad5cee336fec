"""``run_load``: a distributed load run on Locust's master/worker runners, merged exactly.

The calling process never imports Locust or gevent. It starts the master
(``python -m harness.load.master``: Locust's :class:`~locust.runners.MasterRunner` over ZeroMQ)
and ``processes`` local workers (``python -m harness.load.worker --master 127.0.0.1:PORT``,
default one per core); with ``expect_workers`` the master also waits for that many workers from
other machines (``harness load-worker --master HOST:PORT`` or ``locust --worker -f`` the
harness's locustfile). Each of the N workers takes exactly 1/N of the arrivals (or of the users)
and a share of the user pool; they start on the same wall-clock instant and stream raw
histograms to the master, which relays one progress line per second to ``progress`` and hands
back every worker's measurements for :func:`~harness.load.result.build_result` to merge.

Tokens are fetched here before the start (in parallel), so no request waits for one; each worker
gets them with the provider, which it uses to refresh tokens before they expire.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.auth.providers import TokenCache, TokenProvider
from harness.errors import ConfigError, LoadGeneratorError
from harness.load.profile import LoadProfile, Tenant, Tenants, TrafficMix, pool_share
from harness.load.result import LoadResult, build_result
from harness.load.spec import WorkerSpec
from harness.load.stats import WorkerResult

__all__ = ["ON_WORKER_LOSS", "LoadGeneratorError", "LoadProgress", "run_load"]

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds for the master to bind and the local workers to join
ON_WORKER_LOSS = ("fail", "redistribute")


@dataclass(frozen=True)
class LoadProgress:
    """What ``progress`` receives about once a second."""

    phase: str
    elapsed_s: float
    remaining_s: float
    rps: float  # completed in the last second
    target: float  # target rate (open) or users (closed) in that second
    p99_ms: float  # from the intended start, last second
    errors: int  # in the last second
    dropped: int  # in the last second
    requests: int  # so far
    errors_total: int
    dropped_total: int
    active_users: int
    cpu_percent: dict[int, float]  # per worker (by index), last second


class _Proc:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _reader(stream: IO[bytes], inbox: queue.Queue[dict[str, Any]]) -> None:
    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        inbox.put(message)
    inbox.put({"eof": True})


def _check_inputs(mix: TrafficMix, tenants: Tenants, tokens: TokenProvider | None) -> None:
    if mix.needs_tokens and tokens is None:
        names = [r.name for r in mix.requests if r.auth == "bearer"]
        raise ConfigError(
            f"requests {', '.join(names)} use auth: bearer but no token provider was given.",
            field="tokens",
            fix="pass tokens=StaticTokens(...)/CommandTokens(...), or set auth: none.",
        )
    if any(r.auth == "api_key" for r in mix.requests):
        missing = [t.id for t in tenants.tenants if not t.api_key]
        if missing:
            raise ConfigError(
                f"requests use auth: api_key but tenants {', '.join(missing)} have no api_key.",
                field="tenants.api_key",
            )


def run_load(
    base_url: str,
    profile: LoadProfile,
    mix: TrafficMix | None = None,
    tenants: Tenants | Sequence[Tenant | dict[str, Any]] | None = None,
    tokens: TokenProvider | None = None,
    processes: int | None = None,
    seed: int | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    *,
    stop: threading.Event | None = None,
    warn: bool = True,
    started: Callable[[float], None] | None = None,
    expect_workers: int = 0,
    master_host: str = "127.0.0.1",
    master_port: int = 0,
    on_worker_loss: str = "fail",
    join_timeout: float = 120.0,
    listening: Callable[[str, int], None] | None = None,
) -> LoadResult:
    """Run ``profile`` against ``base_url`` and return the merged measurements.

    ``mix`` defaults to ``GET /``; ``tenants`` to one tenant ``default``. ``processes`` local
    workers (default: one per core, or none when ``expect_workers`` is given) plus
    ``expect_workers`` workers joining from elsewhere on ``master_host:master_port`` (0: a free
    port, passed to ``listening``) share the load. ``on_worker_loss`` is ``fail`` (a lost worker
    fails the run) or ``redistribute`` (the survivors take over its arrivals). ``seed`` makes the
    request sequence reproducible (per worker); ``stop`` ends the run early; ``started`` is called
    with the load's start instant (epoch seconds, slightly in the future) once every worker is
    ready, so a caller can put other events (faults) on the same clock.
    """
    mix = mix or TrafficMix.single("/")
    tenant_set = Tenants.coerce(tenants)
    _check_inputs(mix, tenant_set, tokens)
    if on_worker_loss not in ON_WORKER_LOSS:
        raise ConfigError(
            f"on_worker_loss must be one of {', '.join(ON_WORKER_LOSS)}, not {on_worker_loss!r}.",
            field="on_worker_loss",
        )
    if expect_workers < 0:
        raise ConfigError("expect_workers must be 0 or more.", field="expect_workers")
    default = 0 if expect_workers else (os.cpu_count() or 1)
    local = default if processes is None else processes
    if local < 0 or (local < 1 and expect_workers < 1):
        raise ConfigError("processes must be at least 1.", field="processes")
    if profile.mode == "closed" and not expect_workers:
        local = max(1, min(local, int(profile.peak())))
    n = local + expect_workers
    seed = random.SystemRandom().randrange(1 << 31) if seed is None else seed
    base_url = base_url.rstrip("/")

    prefetched = {}
    if tokens is not None and mix.needs_tokens:
        cache = TokenCache(tokens)
        cache.prefetch((t.id, u) for t in tenant_set.tenants for u in t.user_ids)
        prefetched = cache.export()

    pool = profile.pool_size
    pre = profile.pre_allocated if profile.pre_allocated is not None else min(pool, 100)
    spec = WorkerSpec(
        index=-1,
        processes=n,
        base_url=base_url,
        profile=profile,
        mix=mix,
        tenants=tenant_set,
        seed=seed,
        pool_size=pool_share(pool, n),
        pre_allocated=min(pool_share(pre, n), pool_share(pool, n)) if pre else 0,
        tokens=tokens,
        prefetched=prefetched,
    )
    parent_cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="harness-load-") as tmp:
        run = _Run(Path(tmp), spec, local, n, master_host, master_port, on_worker_loss)
        workers, lost, master_cpu = run.execute(join_timeout, progress, stop, started, listening)
    return build_result(
        base_url=base_url,
        profile=profile,
        workers=workers,
        seed=seed,
        parent_cpu_seconds=time.process_time() - parent_cpu0,
        master_cpu_seconds=master_cpu,
        workers_lost=lost,
        warn=warn,
    )


class _Run:
    """The master and the local workers of one run, as child processes of this one."""

    def __init__(
        self,
        folder: Path,
        spec: WorkerSpec,
        local: int,
        expect: int,
        host: str,
        port: int,
        on_worker_loss: str,
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.local = local
        self.expect = expect
        self.host = host
        self.port = port
        self.on_worker_loss = on_worker_loss
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.master: _Proc | None = None
        self.workers: list[_Proc] = []
        self.reader: threading.Thread | None = None
        self.lost: list[dict[str, Any]] = []

    def _spawn(self, name: str, args: list[str], stdout: int | None) -> _Proc:
        log = self.folder / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
        with open(log, "wb") as log_handle:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log_handle,
                stderr=log_handle,
                env=env,
            )
        return _Proc(name, proc, log)

    def _failure(self, what: str, detail: str = "") -> LoadGeneratorError:
        logs = []
        for p in [self.master, *self.workers]:
            if p is not None and p.tail().strip():
                logs.append(f"--- {p.name} (pid {p.proc.pid}) ---\n{p.tail().rstrip()}")
        text = what + (f"\n{detail.rstrip()}" if detail.strip() else "")
        return LoadGeneratorError(text + ("\n" + "\n".join(logs[:3]) if logs else ""))

    def _next(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise self._failure(what) from None

    def execute(
        self,
        join_timeout: float,
        progress: Callable[[LoadProgress], None] | None,
        stop: threading.Event | None,
        started: Callable[[float], None] | None,
        listening: Callable[[str, int], None] | None,
    ) -> tuple[list[WorkerResult], list[dict[str, Any]], float]:
        from harness.load.master import MasterConfig

        result_path = self.folder / "result.pickle"
        config = MasterConfig(
            spec=self.spec,
            expect=self.expect,
            bind_host=self.host,
            bind_port=self.port,
            on_worker_loss=self.on_worker_loss,
            join_timeout=join_timeout,
            result_path=str(result_path),
            parent_pid=os.getpid(),
        )
        config_path = self.folder / "master.pickle"
        config_path.write_bytes(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            self.master = self._spawn(
                "master", ["harness.load.master", str(config_path)], subprocess.PIPE
            )
            assert self.master.proc.stdout is not None
            self.reader = threading.Thread(
                target=_reader, args=(self.master.proc.stdout, self.inbox), daemon=True
            )
            self.reader.start()
            message = self._next(
                START_TIMEOUT, f"the load master did not bind in {START_TIMEOUT:g}s"
            )
            if "listening" not in message:
                raise self._failure("the load master could not start", message.get("error", ""))
            port = int(message["listening"])
            if listening is not None:
                listening(self.host, port)
            address = f"{'127.0.0.1' if self.host in ('0.0.0.0', '*', '') else self.host}:{port}"
            for i in range(self.local):
                self.workers.append(
                    self._spawn(
                        f"worker-{i}",
                        [
                            "harness.load.worker",
                            "--master",
                            address,
                            "--parent-pid",
                            str(os.getpid()),
                        ],
                        None,
                    )
                )
            return self._follow(result_path, join_timeout, progress, stop, started)
        except BaseException:
            self._stop(kill_after=3.0)
            raise
        finally:
            self._stop()

    def _follow(
        self,
        result_path: Path,
        join_timeout: float,
        progress: Callable[[LoadProgress], None] | None,
        stop: threading.Event | None,
        started: Callable[[float], None] | None,
    ) -> tuple[list[WorkerResult], list[dict[str, Any]], float]:
        assert self.master is not None
        stopped = False
        is_started = False
        deadline = time.monotonic() + join_timeout + START_TIMEOUT
        while True:
            if stop is not None and stop.is_set() and not stopped:
                stopped = True
                with contextlib.suppress(OSError):
                    self.master.proc.send_signal(signal.SIGTERM)
            try:
                message = self.inbox.get(timeout=0.5)
            except queue.Empty:
                if not is_started and time.monotonic() > deadline:
                    raise self._failure("the load workers did not start in time") from None
                dead = [w for w in self.workers if w.proc.poll() is not None and not is_started]
                if dead:
                    raise self._failure(
                        f"load worker {dead[0].name} exited with code {dead[0].proc.returncode} "
                        "before the run started"
                    ) from None
                continue
            if "progress" in message:
                if progress is not None:
                    p = message["progress"]
                    p["cpu_percent"] = {int(k): v for k, v in p["cpu_percent"].items()}
                    progress(LoadProgress(**p))
            elif "started" in message:
                is_started = True
                if started is not None:
                    started(float(message["started"]))
            elif "lost" in message and "error" not in message:
                self.lost.append(message["lost"])
                logger.warning("load worker lost: %s", message["lost"])
            elif "error" in message:
                raise self._failure(str(message["error"]))
            elif message.get("done"):
                with open(result_path, "rb") as handle:
                    data = pickle.load(handle)
                return data["workers"], data["lost"], float(message.get("cpu_seconds", 0.0))
            elif message.get("eof"):
                self.master.proc.wait(timeout=10)
                raise self._failure(
                    f"the load master exited with code {self.master.proc.returncode}"
                )

    def _stop(self, *, kill_after: float = 10.0) -> None:
        procs = [p for p in [self.master, *self.workers] if p is not None]
        for p in procs:
            if p.proc.poll() is None:
                p.proc.terminate()
        deadline = time.monotonic() + kill_after
        for p in procs:
            try:
                p.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)
        for p in procs:
            if p.proc.stdout is not None and not p.proc.stdout.closed:
                with contextlib.suppress(OSError):
                    p.proc.stdout.close()
