"""One load generator worker: ``python -m harness.load.worker --master HOST:PORT``.

This is the only module that imports Locust, and it only runs as a child process: Locust
monkey-patches the whole process with gevent on import, so the caller (a pytest run, the scenario
runner, the CLI) must never import it.

Why our own dispatcher around Locust users instead of Locust's runner
--------------------------------------------------------------------
Locust's runners control *how many users* run (a closed model): a user loops task -> wait, so
when the system slows down, users send less, and the slowdown hides itself (coordinated
omission). ``constant_throughput`` and locust-plugins' ``constant_total_ips`` only pace users;
they cannot start a request when every user is busy. k6's arrival-rate executors do what a
gameday needs, so this process does the same with Locust's parts:

* each *user* is a real :class:`locust.FastHttpUser` (geventhttpclient, one keep-alive
  connection per user, created from a :class:`locust.env.Environment`), which is Locust's
  cheapest client (~16k RPS per core best case);
* a dispatcher greenlet walks the arrival schedule (:mod:`harness.load.schedule`) and at each
  due time hands the next request to a free user in its own greenlet -- whatever the latency;
* users are pre-allocated and grown up to the pool size (k6 ``preAllocatedVUs``/``maxVUs``);
  an arrival that finds no free user (after ``pool_wait``) is counted as **dropped**;
* latency is measured from the arrival's *intended* start (it includes any dispatch lag or
  wait for a user) and, apart, from the actual send;
* the closed model runs N users looping request -> think time, N following the stages.

We record into our own mergeable histograms (:mod:`harness.load.stats`) rather than Locust's
``RequestStats``: we need per (phase, endpoint, tenant) cells, intended-start latency, dropped
arrivals, and exact merging across processes. Locust's ``request`` event still fires (with no
listeners it costs nothing), so Locust plugins could be attached later.

How it joins a run: ``python -m harness.load.worker --master HOST:PORT`` (what ``harness
load-worker`` and the engine's local workers run; ``locust --worker -f`` the harness's locustfile
does the same) is a Locust :class:`~locust.runners.WorkerRunner` connected to the harness's
master (:mod:`harness.load.master`) over Locust's ZeroMQ protocol, heartbeats included. The
harness's part travels as custom messages (:class:`harness.load.attach.Attachment`); measurements go back as plain
data (:mod:`harness.load.wire`), never pickles. SIGTERM stops the run and leaves.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from harness.errors import ConfigError

__all__ = ["Generator", "check_master_address", "main"]

logger = logging.getLogger(__name__)


MASTER_SILENCE = 15.0  # seconds without the master's heartbeat after which a worker stops


def _run_queue_wait() -> float:
    """Seconds this process has spent runnable but waiting for a CPU (0 where unknown)."""
    try:
        with open("/proc/self/schedstat") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class Generator:
    def __init__(self, spec: Any, send: Callable[[str, dict[str, Any]], None]) -> None:
        import gevent
        from locust.contrib.fasthttp import FastHttpUser
        from locust.env import Environment

        from harness.auth.providers import TokenCache
        from harness.load.schedule import arrival_times
        from harness.load.stats import WorkerResult
        from harness.load.traffic import RequestFactory, process_seed

        self.gevent = gevent
        self.spec = spec
        self.send = send
        profile = spec.profile
        self.profile = profile
        self.environment = Environment(host=spec.base_url)
        self.user_class = type(
            "HarnessLoadUser",
            (FastHttpUser,),
            {
                "host": spec.base_url,
                "network_timeout": profile.timeout,
                "connection_timeout": profile.timeout,
                "concurrency": 1,
                "max_retries": 0,
                "abstract": True,
            },
        )
        self.result = WorkerResult(
            index=spec.index, pid=os.getpid(), seed=spec.seed, pool_size=spec.pool_size
        )
        self.factory_cls = RequestFactory
        self.process_seed = process_seed
        self.factory = RequestFactory(
            spec.mix,
            spec.tenants,
            process_seed(spec.seed, spec.index),
            seq_start=spec.index,
            seq_step=spec.processes,
        )
        self.arrival_times = arrival_times
        self.auth = [t.auth for t in spec.mix.requests]
        self.api_key_header = [t.api_key_header for t in spec.mix.requests]
        self.success = [t.is_success for t in spec.mix.requests]
        self.api_keys = {t.id: t.api_key for t in spec.tenants.tenants}
        self.tokens: TokenCache | None = None
        if spec.tokens is not None:
            self.tokens = TokenCache(spec.tokens)
            self.tokens.load(spec.prefetched)
        bounds = profile.stage_bounds()
        self.stage_ends: list[float] = [end for _, _, end in bounds]
        self.stage_names: list[str] = [name for name, _, _ in bounds]
        self.free: deque[Any] = deque()
        self.waiting: deque[tuple[float, Any, str]] = deque()
        self.allocated = 0
        self.busy = 0
        self.inflight: dict[int, tuple[str, str, str]] = {}
        self.stopping = False
        self.adopted: list[tuple[int, int, int]] = []  # (lost worker, rank, survivors)
        self.adopted_walks: list[Any] = []
        # HARNESS_LOAD_SAMPLES=DIR: keep every latency sample and write them to
        # DIR/worker-<index>.samples at the end (to check the merge against the raw samples)
        self.samples_dir = os.environ.get("HARNESS_LOAD_SAMPLES")
        self.samples: list[int] | None = [] if self.samples_dir else None
        self.base = 0.0
        self.clock = time.perf_counter
        self.raw = profile.client == "raw"
        from urllib.parse import urlsplit

        from geventhttpclient.url import URL

        self.url = URL(spec.base_url + "/")
        self.prefix = urlsplit(spec.base_url).path.rstrip("/")

    # -- helpers -----------------------------------------------------------------------------

    def phase(self, t: float) -> str:
        for name, end in zip(self.stage_names, self.stage_ends, strict=True):
            if t < end:
                return name
        return self.stage_names[-1]

    def new_user(self) -> Any:
        self.allocated += 1
        self.result.allocated_max = max(self.result.allocated_max, self.allocated)
        return self.user_class(self.environment)

    def headers_for(self, request: Any) -> Any:
        auth = self.auth[request.template]
        if auth == "bearer" and self.tokens is not None:
            token = self.tokens.get(request.tenant, request.user)
            return {**request.headers, "Authorization": f"Bearer {token}"}
        if auth == "api_key":
            key = self.api_keys.get(request.tenant) or ""
            return {**request.headers, self.api_key_header[request.template]: key}
        return request.headers

    def drop(self, request: Any, intended: float, phase: str) -> None:
        self.result.cell((phase, request.endpoint, request.tenant)).dropped += 1
        self.result.second(int(intended)).dropped += 1

    # -- one request -------------------------------------------------------------------------

    def execute(self, user: Any, request: Any, intended: float, phase: str) -> None:
        """Send ``request`` as ``user``; ``intended`` is its due time on the run clock."""
        result = self.result
        key = (phase, request.endpoint, request.tenant)
        seq = request.seq
        self.inflight[seq] = key
        self.busy += 1
        exception = None
        status = 0
        sent = self.clock() - self.base
        sec = result.second(int(sent))
        sec.sent += 1
        if self.busy > sec.busy_max:
            sec.busy_max = self.busy
        try:
            headers = self.headers_for(request)
            if self.raw:
                status = self.send_raw(user, request, headers)
            else:
                status, exception = self.send_fasthttp(user, request, headers, phase)
        except Exception as exc:  # a bug or an unexpected client error: count it, go on
            exception = type(exc).__name__
        done = self.clock() - self.base
        self.busy -= 1
        self.inflight.pop(seq, None)
        ok = status != 0 and self.success[request.template](status)
        cell = result.cell(key)
        if sent > cell.last_sent:
            cell.last_sent = sent
        cell.requests += 1
        cell.statuses[status] = cell.statuses.get(status, 0) + 1
        if not ok:
            cell.errors += 1
        if status == 0 or status >= 500:
            cell.unavailable += 1
        if exception:
            cell.exceptions[exception] = cell.exceptions.get(exception, 0) + 1
        latency_us = int((done - intended) * 1_000_000)
        service_us = int((done - sent) * 1_000_000)
        cell.latency.record_us(latency_us)
        cell.service.record_us(service_us)
        if self.samples is not None:
            self.samples.append(latency_us)
        sec = result.second(int(done))
        sec.completed += 1
        sec.statuses[status] = sec.statuses.get(status, 0) + 1
        if not ok:
            sec.errors += 1
        sec.latency.record_us(latency_us)
        sec.service.record_us(service_us)

    def send_fasthttp(
        self, user: Any, request: Any, headers: Any, phase: str
    ) -> tuple[int, str | None]:
        """Through Locust's FastHttpSession: cookies, redirects, Locust's request event."""
        response = user.client.request(
            request.method,
            request.path,
            name=request.endpoint,
            data=request.body,
            headers=headers,
            context={"tenant": request.tenant, "user": request.user, "phase": phase},
        )
        status = int(response.status_code or 0)
        if status == 0:
            error = getattr(response, "error", None)
            return 0, type(error).__name__ if error is not None else "NoResponse"
        return status, None

    def send_raw(self, user: Any, request: Any, headers: Any) -> int:
        """Straight on the user's geventhttpclient connection (no cookies, no redirects)."""
        client = user.client.client.clientpool.get_client(self.url)
        path = request.path if request.path.startswith("http") else self.prefix + request.path
        response = client.request(request.method, path, body=request.body, headers=headers)
        try:
            response.read()
        finally:
            response.release()
        return int(response.status_code)

    def open_task(self, user: Any, request: Any, intended: float, phase: str) -> None:
        self.execute(user, request, intended, phase)
        # hand the user to an arrival waiting for one, else back to the pool
        waiting = self.waiting
        now = self.clock() - self.base
        while waiting and not self.stopping:
            t, next_request, next_phase = waiting.popleft()
            if now - t <= self.profile.pool_wait:
                self.gevent.spawn(self.open_task, user, next_request, t, next_phase)
                return
            self.drop(next_request, t, next_phase)
        self.free.append(user)

    # -- the two models ----------------------------------------------------------------------

    def run_open(self) -> None:
        spec, profile = self.spec, self.profile
        for _ in range(spec.pre_allocated):
            self.free.append(self.new_user())
        times = self.arrival_times(
            profile,
            processes=spec.processes,
            index=spec.index,
            rng=random.Random(self.process_seed(spec.seed, spec.index, 10**6)),
        )
        self.walk((t, self.factory.next) for t in times)
        for adopted in list(self.adopted_walks):  # shares of lost workers this one took over
            adopted.join()
        self.drain()

    def adopt(self, index: int, since: float, rank: int, of: int) -> None:
        """Take over part of the arrivals of worker ``index`` (lost) from ``since`` (run clock):
        its own schedule and request sequence, of which this worker sends every ``of``-th
        arrival starting at ``rank`` -- the ``of`` survivors together send all of them."""
        self.adopted.append((index, rank, of))
        if self.profile.mode != "open":
            return  # the closed model's user count follows self.adopted
        spec, profile = self.spec, self.profile
        times = self.arrival_times(
            profile,
            processes=spec.processes,
            index=index,
            rng=random.Random(self.process_seed(spec.seed, index, 10**6)),
        )
        factory = self.factory_cls(
            spec.mix,
            spec.tenants,
            self.process_seed(spec.seed, index),
            seq_start=index,
            seq_step=spec.processes,
        )

        def mine() -> Any:
            for k, t in enumerate(times):
                if t < since:
                    factory.next()  # keep the lost worker's request sequence
                    continue
                if k % of == rank:
                    yield t, factory.next
                else:
                    factory.next()

        self.adopted_walks.append(self.gevent.spawn(self.walk, mine()))

    def walk(self, arrivals: Iterator[tuple[float, Callable[[], Any]]]) -> None:
        """Dispatch each arrival at its due time to a free user (or drop it)."""
        spec, profile, gevent = self.spec, self.profile, self.gevent
        pool_wait = profile.pool_wait
        free, waiting, result = self.free, self.waiting, self.result
        burst = 0
        for t, make in arrivals:
            if self.stopping:
                break
            now = self.clock() - self.base
            if t > now:
                while t > now and not self.stopping:  # in slices, so that a stop is prompt
                    gevent.sleep(min(t - now, 0.25))
                    now = self.clock() - self.base
                if self.stopping:
                    break
                burst = 0
            else:
                burst += 1
                if burst >= 50:  # far behind: let responses be processed too
                    gevent.sleep(0)
                    burst = 0
            lag = now - t
            if lag > result.max_lag:
                result.max_lag = lag
            sec = result.second(int(t))
            if lag > sec.lag_max:
                sec.lag_max = lag
            while waiting and now - waiting[0][0] > pool_wait:
                old_t, old_request, old_phase = waiting.popleft()
                self.drop(old_request, old_t, old_phase)
            request = make()
            if len(result.first_requests) < 20:
                result.first_requests.append(f"{request.method} {request.path} {request.tenant}")
            phase = self.phase(t)
            if free:
                gevent.spawn(self.open_task, free.pop(), request, t, phase)
            elif self.allocated < spec.pool_size:
                gevent.spawn(self.open_task, self.new_user(), request, t, phase)
            elif pool_wait > 0:
                waiting.append((t, request, phase))
            else:
                self.drop(request, t, phase)

    def drain(self) -> None:
        """The schedule is over: whoever still waits for a user is dropped at the deadline."""
        gevent, profile, waiting = self.gevent, self.profile, self.waiting
        pool_wait = profile.pool_wait
        end = profile.duration
        while not self.stopping and self.clock() - self.base < end - 0.001:
            gevent.sleep(min(0.25, end - (self.clock() - self.base)))  # e.g. a final 0-rate stage
        while waiting and not self.stopping:
            gevent.sleep(0.01)
            now = self.clock() - self.base
            while waiting and (now - waiting[0][0] > pool_wait or now > end + pool_wait):
                old_t, old_request, old_phase = waiting.popleft()
                self.drop(old_request, old_t, old_phase)
        while waiting:  # stopped early: arrivals still waiting for a user never got one
            old_t, old_request, old_phase = waiting.popleft()
            self.drop(old_request, old_t, old_phase)

    def run_closed(self) -> None:
        from harness.load.profile import share

        spec, profile, gevent = self.spec, self.profile, self.gevent
        users: list[Any] = []  # (greenlet, stop flag holder)
        seq = iter(range(spec.index, 1 << 62, spec.processes))

        def loop(number: int, flag: list[bool]) -> None:
            user = self.new_user()
            factory = self.factory_cls(
                spec.mix, spec.tenants, self.process_seed(spec.seed, spec.index, number)
            )
            while not flag[0] and not self.stopping:
                factory.seq = next(seq)
                request = factory.next()
                intended = self.clock() - self.base
                if intended >= profile.duration:
                    break
                self.execute(user, request, intended, self.phase(intended))
                if profile.think_time > 0:
                    gevent.sleep(profile.think_time)

        while not self.stopping:
            now = self.clock() - self.base
            if now >= profile.duration:
                break
            target = profile.target_at(now) + 1e-9
            desired = share(target, spec.processes, spec.index)
            for index, rank, of in self.adopted:  # users of lost workers this one took over
                desired += share(share(target, spec.processes, index), of, rank)
            while len(users) < desired:
                flag = [False]
                users.append((gevent.spawn(loop, len(users), flag), flag))
            while len(users) > desired:
                _, flag = users.pop()
                flag[0] = True
            gevent.sleep(0.1)
        for _, flag in users:
            flag[0] = True

    # -- reporting and the run ---------------------------------------------------------------

    def take(self) -> tuple[dict[str, Any], dict[int, Any]]:
        """The cells and seconds changed since the last call, as wire data; starts new ones."""
        from harness.load.wire import cells_to_wire, seconds_to_wire

        cells, seconds = self.result.cells, self.result.seconds
        self.result.cells, self.result.seconds = {}, {}
        return cells_to_wire(cells), seconds_to_wire(seconds)

    def reporter(self) -> None:
        import psutil

        proc = psutil.Process()
        last_cpu = sum(proc.cpu_times()[:2])
        last_wait = _run_queue_wait()
        k = 1
        while True:
            self.gevent.sleep(max(0.0, self.base + k - self.clock()))
            cpu = sum(proc.cpu_times()[:2])
            sec = self.result.second(k - 1)
            sec.cpu = cpu - last_cpu
            wait = _run_queue_wait()
            sec.cpu_wait = max(0.0, wait - last_wait)
            sec.allocated = self.allocated
            last_cpu, last_wait = cpu, wait
            cells, seconds = self.take()
            self.send("harness_sec", {"sec": k - 1, "cells": cells, "seconds": seconds})
            k += 1

    def refresher(self) -> None:
        while self.tokens is not None:
            self.gevent.sleep(5)
            self.tokens.refresh_due()

    def stop(self) -> None:
        self.stopping = True

    def run(self, start_epoch: float) -> None:
        """Wait for ``start_epoch`` (wall clock), run the profile, send the rest of the data."""
        import psutil

        from harness.load.wire import totals_to_wire

        gevent = self.gevent
        delay = start_epoch - time.time()
        if delay > 0:
            gevent.sleep(delay)
        gc.collect()
        gc.freeze()  # the setup's objects need no more collections during the run
        cpu0 = sum(psutil.Process().cpu_times()[:2])
        self.base = self.clock()
        reporter = gevent.spawn(self.reporter)
        refresher = gevent.spawn(self.refresher)
        if self.profile.mode == "open":
            self.run_open()
        else:
            self.run_closed()
        # grace: let in-flight requests finish, then count the rest as aborted
        deadline = self.clock() + self.profile.grace
        while self.inflight and self.clock() < deadline and not self.stopping:
            gevent.sleep(0.02)
        for key in self.inflight.values():
            self.result.cell(key).aborted += 1
        refresher.kill(block=False)
        # one more tick so the last (partial) second is reported too
        last = int(self.clock() - self.base) + 1
        gevent.sleep(max(0.0, self.base + last - self.clock()) + 0.01)
        reporter.kill()
        if self.tokens is not None:
            self.result.token_refreshes = self.tokens.refreshes
            self.result.token_failures = self.tokens.failures
        self.result.cpu_seconds = sum(psutil.Process().cpu_times()[:2]) - cpu0
        self.result.wall_seconds = self.clock() - self.base
        if self.samples_dir and self.samples is not None:
            path = os.path.join(self.samples_dir, f"worker-{self.spec.index}.samples")
            with open(path, "w") as handle:
                handle.write("".join(f"{v}\n" for v in self.samples))
        cells, seconds = self.take()
        self.send(
            "harness_done",
            {"cells": cells, "seconds": seconds, "totals": totals_to_wire(self.result)},
        )


def check_master_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--master must be HOST:PORT (e.g. 10.0.0.5:5557), not {value!r}",
            source="harness load-worker",
            field="--master",
        )
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="harness load-worker", description="join a distributed harness load run"
    )
    parser.add_argument("--master", required=True, help="HOST:PORT the master listens on")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        host, port = check_master_address(args.master)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when to stop
    os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    import locust  # noqa: F401  (monkey-patches this process with gevent)
    from locust.env import Environment

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    environment = Environment(user_classes=[])
    try:
        runner = environment.create_worker_runner(host, port)
    except ConnectionError:
        print(f"error: no harness load master answered at {host}:{port}", file=sys.stderr)
        return 1
    from harness.load.attach import attach

    attachment = attach(environment, parent_pid=args.parent_pid)
    import gevent

    def quit_now() -> None:  # SIGTERM: stop loading and leave
        if attachment.generator is not None:
            attachment.generator.stop()
        runner.quit()

    gevent.signal_handler(signal.SIGTERM, quit_now)
    runner.greenlet.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
