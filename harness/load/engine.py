"""``run_load``: drive N generator processes and merge what they measured.

The calling process never imports Locust or gevent. It starts ``processes`` children
(``python -m harness.load.worker``, default one per core), each taking 1/N of the rate (or of the
users) and a share of the user pool, hands them their spec, starts them together on the same
wall-clock instant, relays their per-second reports to the ``progress`` callback, and merges their
exact histograms into a :class:`~harness.load.result.LoadResult`.

Tokens are fetched in the parent before the start (in parallel), so no request waits for one;
each child gets them with the provider, which it uses to refresh tokens before they expire.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import ConfigError, HarnessError
from harness.load.histogram import Histogram
from harness.load.profile import LoadProfile, Tenant, Tenants, TrafficMix, pool_share
from harness.load.result import LoadResult, build_result
from harness.load.spec import WorkerSpec
from harness.load.stats import WorkerResult
from harness.load.tokens import TokenCache, TokenProvider

__all__ = ["LoadGeneratorError", "LoadProgress", "run_load"]

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds for the children to import Locust and get ready


class LoadGeneratorError(HarnessError):
    """A generator process failed; ``log_tail`` holds the end of its output."""


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
    cpu_percent: dict[int, float]  # per generator process, last second


class _Child:
    def __init__(self, index: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.index = index
        self.proc = proc
        self.log = log
        self.ready = False
        self.done = False
        self.error: str | None = None
        self.reader: threading.Thread | None = None

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _reader(child: _Child, stream: IO[bytes], inbox: queue.Queue[tuple[int, Any]]) -> None:
    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        inbox.put((child.index, message))
    inbox.put((child.index, {"eof": True}))


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
) -> LoadResult:
    """Run ``profile`` against ``base_url`` and return the merged measurements.

    ``mix`` defaults to ``GET /``; ``tenants`` to one tenant ``default``. ``seed`` makes the
    request sequence reproducible (per process); ``stop`` ends the run early; ``started`` is
    called with the load's start instant (epoch seconds, slightly in the future) once every
    generator is ready, so a caller can put other events (faults) on the same clock.
    """
    mix = mix or TrafficMix.single("/")
    tenant_set = Tenants.coerce(tenants)
    _check_inputs(mix, tenant_set, tokens)
    n = processes or os.cpu_count() or 1
    if n < 1:
        raise ConfigError("processes must be at least 1.", field="processes")
    if profile.mode == "closed":
        n = max(1, min(n, int(profile.peak())))
    seed = random.SystemRandom().randrange(1 << 31) if seed is None else seed
    base_url = base_url.rstrip("/")

    prefetched = {}
    if tokens is not None and mix.needs_tokens:
        cache = TokenCache(tokens)
        cache.prefetch((t.id, u) for t in tenant_set.tenants for u in t.user_ids)
        prefetched = cache.export()

    pool = profile.pool_size
    pre = profile.pre_allocated if profile.pre_allocated is not None else min(pool, 100)
    parent_cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="harness-load-") as tmp:
        specs = [
            WorkerSpec(
                index=i,
                processes=n,
                base_url=base_url,
                profile=profile,
                mix=mix,
                tenants=tenant_set,
                seed=seed,
                result_path=str(Path(tmp) / f"worker-{i}.pickle"),
                pool_size=pool_share(pool, n),
                pre_allocated=min(pool_share(pre, n), pool_share(pool, n)) if pre else 0,
                tokens=tokens,
                prefetched=prefetched,
            )
            for i in range(n)
        ]
        workers = _run_children(specs, Path(tmp), profile, progress, stop, started)
    return build_result(
        base_url=base_url,
        profile=profile,
        workers=workers,
        seed=seed,
        parent_cpu_seconds=time.process_time() - parent_cpu0,
        warn=warn,
    )


def _spawn(spec: WorkerSpec, folder: Path, inbox: queue.Queue[tuple[int, Any]]) -> _Child:
    log = folder / f"worker-{spec.index}.log"
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    with open(log, "wb") as log_handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.load.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_handle,
            env=env,
        )
    child = _Child(spec.index, proc, log)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    proc.stdin.flush()
    child.reader = threading.Thread(
        target=_reader, args=(child, proc.stdout, inbox), daemon=True, name=f"load-{spec.index}"
    )
    child.reader.start()
    return child


def _stop_children(children: list[_Child], *, kill_after: float = 10.0) -> None:
    for child in children:
        if child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + kill_after
    for child in children:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    for child in children:
        if child.reader is not None:
            child.reader.join(timeout=5)
        for stream in (child.proc.stdin, child.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()


def _failure(child: _Child, what: str) -> LoadGeneratorError:
    detail = child.error or child.tail()
    return LoadGeneratorError(
        f"load generator process {child.index} {what}."
        + (f"\n--- its output ---\n{detail.rstrip()}\n---" if detail.strip() else "")
    )


def _run_children(
    specs: list[WorkerSpec],
    folder: Path,
    profile: LoadProfile,
    progress: Callable[[LoadProgress], None] | None,
    stop: threading.Event | None,
    started: Callable[[float], None] | None = None,
) -> list[WorkerResult]:
    inbox: queue.Queue[tuple[int, Any]] = queue.Queue()
    children: list[_Child] = []
    try:
        for spec in specs:
            children.append(_spawn(spec, folder, inbox))
        deadline = time.monotonic() + START_TIMEOUT
        while not all(c.ready for c in children):
            try:
                index, message = inbox.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                waiting = next(c for c in children if not c.ready)
                raise _failure(waiting, f"was not ready after {START_TIMEOUT:g}s") from None
            child = children[index]
            if message.get("ready"):
                child.ready = True
            elif "error" in message or message.get("eof"):
                child.error = message.get("error")
                raise _failure(child, "could not start")
        start = time.time() + 0.2
        if started is not None:
            started(start)
        for child in children:
            assert child.proc.stdin is not None
            child.proc.stdin.write(f"go {start!r}\n".encode())
            child.proc.stdin.close()
        _monitor(children, inbox, profile, progress, stop, start)
        results = []
        for child in children:
            try:
                with open(specs[child.index].result_path, "rb") as handle:
                    results.append(pickle.load(handle))
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                raise _failure(child, f"left no result ({exc})") from None
        return results
    except BaseException:
        _stop_children(children, kill_after=3.0)
        raise
    finally:
        _stop_children(children)


def _monitor(
    children: list[_Child],
    inbox: queue.Queue[tuple[int, Any]],
    profile: LoadProfile,
    progress: Callable[[LoadProgress], None] | None,
    stop: threading.Event | None,
    start: float,
) -> None:
    pending: dict[int, dict[int, dict[str, Any]]] = {}
    totals = {"requests": 0, "errors": 0, "dropped": 0}
    reported = -1
    names = profile.stage_names()
    stopped = False
    while not all(c.done for c in children):
        if stop is not None and stop.is_set() and not stopped:
            stopped = True
            for child in children:
                if child.proc.poll() is None:
                    child.proc.terminate()
        try:
            index, message = inbox.get(timeout=0.5)
        except queue.Empty:
            dead = [c for c in children if c.proc.poll() is not None and not c.done]
            if dead:
                dead[0].error = dead[0].error or dead[0].tail()
                raise _failure(dead[0], f"exited with code {dead[0].proc.returncode}") from None
            continue
        child = children[index]
        if "sec" in message:
            pending.setdefault(int(message["sec"]), {})[index] = message
        elif message.get("done"):
            child.done = True
        elif "error" in message:
            child.error = message["error"]
            raise _failure(child, "failed during the run")
        elif message.get("eof") and not child.done:
            child.proc.wait(timeout=10)
            raise _failure(child, f"exited with code {child.proc.returncode}")
        # report every second that all live children have reported
        while True:
            nxt = reported + 1
            parts = pending.get(nxt, {})
            if len(parts) < sum(1 for c in children if not c.done) or not parts:
                break
            pending.pop(nxt)
            reported = nxt
            if progress is not None:
                progress(_progress(nxt, parts, profile, names, totals))


def _progress(
    sec: int,
    parts: dict[int, dict[str, Any]],
    profile: LoadProfile,
    names: list[str],
    totals: dict[str, int],
) -> LoadProgress:
    hist = Histogram()
    for part in parts.values():
        h = Histogram()
        h.counts = {int(k): int(v) for k, v in part["hist"].items()}
        h.count = sum(h.counts.values())
        h.min_us = 0
        h.max_us = int(part.get("max_us", 0))
        hist.merge(h)
    completed = sum(int(p["completed"]) for p in parts.values())
    errors = sum(int(p["errors"]) for p in parts.values())
    dropped = sum(int(p["dropped"]) for p in parts.values())
    totals["requests"] += completed
    totals["errors"] += errors
    totals["dropped"] += dropped
    elapsed = float(sec + 1)
    target = profile.expected(sec, sec + 1) if profile.mode == "open" else profile.target_at(sec)
    return LoadProgress(
        phase=names[profile.stage_at(sec + 0.5)],
        elapsed_s=elapsed,
        remaining_s=max(0.0, profile.duration - elapsed),
        rps=float(completed),
        target=target,
        p99_ms=hist.percentile_ms(0.99),
        errors=errors,
        dropped=dropped,
        requests=totals["requests"],
        errors_total=totals["errors"],
        dropped_total=totals["dropped"],
        active_users=sum(int(p["busy"]) for p in parts.values()),
        cpu_percent={i: round(float(p["cpu"]) * 100, 1) for i, p in parts.items()},
    )
