"""The merged outcome of a load run: :class:`LoadResult`.

``to_json()["phases"]`` entries have DESIGN.md's summary.json shape (``name``, ``requests``,
``rps``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``error_rate``) plus detail: ``max_ms``,
``availability`` (share of answers that were not 5xx / no answer), status codes, ``dropped``,
``achieved_ratio``, ``dropped_ratio``, and the same percentiles from the actual send
(``service_*``). Latency percentiles are measured from the intended start (open model).
The same statistics exist per endpoint, per tenant and per (tenant, endpoint); ``timeline`` has
one entry per second (achieved RPS vs target, percentiles, errors by status, dropped, active
users, generator CPU) for plots; ``generators`` reports each generator process's own CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.load.profile import LoadProfile
from harness.load.stats import Cell, Key, Second, WorkerResult

__all__ = ["GeneratorStats", "GroupStats", "LoadResult", "build_result", "merge_cells"]

CPU_BOUND = 0.9  # share of one core above which a generator process is called CPU-bound
LAG_BOUND = 0.1  # seconds behind the schedule that only a busy generator explains


@dataclass
class GroupStats:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    error_rate: float
    availability: float
    errors: int
    dropped: int
    aborted: int
    achieved_ratio: float
    dropped_ratio: float
    duration_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    service_p50_ms: float = 0.0
    service_p95_ms: float = 0.0
    service_p99_ms: float = 0.0
    target: float | None = None  # average target rate (open) or users (closed)
    tenant: str | None = None
    endpoint: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        cell: Cell,
        duration: float,
        *,
        start: float = 0.0,
        expected: float | None = None,
        target: float | None = None,
        **extra: Any,
    ) -> GroupStats:
        """Statistics of ``cell`` over ``duration`` seconds from ``start``; when the generator
        fell behind and sent the group's last request later, the span stretches to that send
        (so RPS and ``achieved_ratio`` show the shortfall)."""
        arrivals = cell.requests + cell.dropped + cell.aborted
        lat, svc = cell.latency, cell.service
        nominal = duration
        duration = max(duration, cell.last_sent - start)
        if expected:
            achieved = cell.requests / expected * (nominal / duration if duration else 1.0)
        else:
            achieved = cell.requests / arrivals if arrivals else 0.0
        return cls(
            name=name,
            requests=cell.requests,
            rps=cell.requests / duration if duration > 0 else 0.0,
            p50_ms=lat.percentile_ms(0.50),
            p95_ms=lat.percentile_ms(0.95),
            p99_ms=lat.percentile_ms(0.99),
            max_ms=lat.max_ms,
            mean_ms=lat.mean_ms,
            error_rate=cell.errors / cell.requests if cell.requests else 0.0,
            availability=1 - cell.unavailable / cell.requests if cell.requests else 0.0,
            errors=cell.errors,
            dropped=cell.dropped,
            aborted=cell.aborted,
            achieved_ratio=achieved,
            dropped_ratio=cell.dropped / arrivals if arrivals else 0.0,
            duration_s=duration,
            statuses={str(k): v for k, v in sorted(cell.statuses.items())},
            exceptions=dict(cell.exceptions),
            service_p50_ms=svc.percentile_ms(0.50),
            service_p95_ms=svc.percentile_ms(0.95),
            service_p99_ms=svc.percentile_ms(0.99),
            target=target,
            **extra,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "requests": self.requests,
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "error_rate": round(self.error_rate, 6),
            "max_ms": round(self.max_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "availability": round(self.availability, 6),
            "errors": self.errors,
            "dropped": self.dropped,
            "aborted": self.aborted,
            "achieved_ratio": round(self.achieved_ratio, 4),
            "dropped_ratio": round(self.dropped_ratio, 6),
            "duration_s": round(self.duration_s, 3),
            "statuses": self.statuses,
            "service_p50_ms": round(self.service_p50_ms, 3),
            "service_p95_ms": round(self.service_p95_ms, 3),
            "service_p99_ms": round(self.service_p99_ms, 3),
        }
        if self.exceptions:
            out["exceptions"] = self.exceptions
        for key in ("target", "tenant", "endpoint"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        return out


@dataclass
class GeneratorStats:
    index: int
    pid: int
    cpu_seconds: float
    cpu_percent: float  # average share of one core over the run
    cpu_max_percent: float  # worst second
    busy_seconds: int  # seconds at or above 90% of a core
    cpu_wait_seconds: float  # runnable but waiting for a CPU: the machine is oversubscribed
    requests: int
    dropped: int
    max_lag_ms: float
    users_allocated: int
    pool_size: int

    seconds_total: int = 0

    @property
    def cpu_bound(self) -> bool:
        return self.cpu_percent >= CPU_BOUND * 100 or self.busy_seconds >= max(
            2, self.seconds_total // 4
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.pid,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_percent": round(self.cpu_percent, 1),
            "cpu_max_percent": round(self.cpu_max_percent, 1),
            "busy_seconds": self.busy_seconds,
            "cpu_wait_seconds": round(self.cpu_wait_seconds, 3),
            "cpu_bound": self.cpu_bound,
            "requests": self.requests,
            "dropped": self.dropped,
            "max_lag_ms": round(self.max_lag_ms, 3),
            "users_allocated": self.users_allocated,
            "pool_size": self.pool_size,
        }


@dataclass
class LoadResult:
    base_url: str
    mode: str
    seed: int
    processes: int
    duration_s: float
    total: GroupStats
    phases: list[GroupStats]
    endpoints: list[GroupStats]
    tenants: list[GroupStats]
    tenant_endpoints: list[GroupStats]
    timeline: list[dict[str, Any]]
    generators: list[GeneratorStats]
    warnings: list[str] = field(default_factory=list)
    drop_causes: dict[str, int] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    parent_cpu_seconds: float = 0.0
    master_cpu_seconds: float = 0.0  # the Locust master process (it only merges and relays)
    workers_lost: list[dict[str, Any]] = field(default_factory=list)
    first_requests: list[list[str]] = field(default_factory=list)
    cells: dict[Key, Cell] = field(default_factory=dict, repr=False)
    # per second of the run (completion second), every process's samples merged: what a
    # window's exact percentiles are computed from (the timeline has each second's own only)
    seconds: dict[int, Second] = field(default_factory=dict, repr=False)

    def group(self, scope: str) -> GroupStats | None:
        """Statistics of ``all``, ``phase:NAME``, ``endpoint:NAME`` or ``tenant:ID``."""
        if scope == "all":
            return self.total
        kind, _, name = scope.partition(":")
        groups = {"phase": self.phases, "endpoint": self.endpoints, "tenant": self.tenants}.get(
            kind, []
        )
        return next((g for g in groups if g.name == name), None)

    @property
    def dropped(self) -> int:
        return self.total.dropped

    def to_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "mode": self.mode,
            "seed": self.seed,
            "processes": self.processes,
            "duration_s": round(self.duration_s, 3),
            "total": self.total.to_json(),
            "phases": [p.to_json() for p in self.phases],
            "endpoints": [p.to_json() for p in self.endpoints],
            "tenants": [p.to_json() for p in self.tenants],
            "tenant_endpoints": [p.to_json() for p in self.tenant_endpoints],
            "generators": [g.to_json() for g in self.generators],
            "parent_cpu_seconds": round(self.parent_cpu_seconds, 3),
            "master_cpu_seconds": round(self.master_cpu_seconds, 3),
            "workers_lost": self.workers_lost,
            "warnings": self.warnings,
            "drop_causes": self.drop_causes,
            "timeline": self.timeline,
            "profile": self.profile,
        }


def merge_cells(cells: Iterable[Cell]) -> Cell:
    """One cell holding every sample of ``cells``."""
    out = Cell()
    for cell in cells:
        out.merge(cell)
    return out


def _grouped(cells: dict[Key, Cell], key: Callable[[Key], Any]) -> dict[Any, Cell]:
    out: dict[Any, Cell] = {}
    for k, cell in cells.items():
        out.setdefault(key(k), Cell()).merge(cell)
    return out


def _timeline(
    profile: LoadProfile, workers: list[WorkerResult], seconds: dict[int, Second]
) -> list[dict[str, Any]]:
    rows = []
    for s in sorted(seconds):
        sec = seconds[s]
        if profile.mode == "open":
            target = profile.expected(s, s + 1)
        else:
            target = profile.target_at(s + 0.5)
        lat = sec.latency
        rows.append(
            {
                "t": s,
                "target": round(target, 3),
                "rps": sec.completed,
                "sent": sec.sent,
                "errors": sec.errors,
                "dropped": sec.dropped,
                "statuses": {str(k): v for k, v in sorted(sec.statuses.items())},
                "p50_ms": round(lat.percentile_ms(0.5), 3),
                "p95_ms": round(lat.percentile_ms(0.95), 3),
                "p99_ms": round(lat.percentile_ms(0.99), 3),
                "max_ms": round(lat.max_ms, 3),
                "service_p99_ms": round(sec.service.percentile_ms(0.99), 3),
                "active_users": sec.busy_max,
                "users_allocated": sec.allocated,
                "cpu_percent": {
                    str(w.index): round(w.seconds[s].cpu * 100, 1) if s in w.seconds else 0.0
                    for w in workers
                },
                "cpu_wait_ms": {
                    str(w.index): round(w.seconds[s].cpu_wait * 1000, 1) if s in w.seconds else 0.0
                    for w in workers
                },
                "lag_ms": round(sec.lag_max * 1000, 3),
            }
        )
    return rows


def _drop_causes(workers: list[WorkerResult]) -> tuple[dict[str, int], dict[int, int]]:
    """Split dropped arrivals into those the generator caused and those the system caused.

    A second's drops are the generator's fault when that process was CPU-bound, was far behind
    its schedule, or ran out of users although the answers were fast enough that the pool should
    have sufficed (Little's law: needed users = rate x service time, well under the pool).
    """
    generator, system = 0, 0
    per_process: dict[int, int] = {}
    for w in workers:
        for sec in w.seconds.values():
            if not sec.dropped:
                continue
            needed = (sec.sent + sec.dropped) * sec.service.percentile_us(0.5) / 1e6
            if (
                sec.cpu >= CPU_BOUND
                or sec.lag_max >= LAG_BOUND
                or (sec.service.count and needed < 0.5 * w.pool_size)
            ):
                generator += sec.dropped
                per_process[w.index] = per_process.get(w.index, 0) + sec.dropped
            else:
                system += sec.dropped
    return {"generator": generator, "system": system}, per_process


def build_result(
    *,
    base_url: str,
    profile: LoadProfile,
    workers: list[WorkerResult],
    seed: int,
    parent_cpu_seconds: float = 0.0,
    master_cpu_seconds: float = 0.0,
    workers_lost: list[dict[str, Any]] | None = None,
    warn: bool = True,
) -> LoadResult:
    cells: dict[Key, Cell] = {}
    seconds: dict[int, Second] = {}
    for w in workers:
        for key, cell in w.cells.items():
            cells.setdefault(key, Cell()).merge(cell)
        for s, sec in w.seconds.items():
            seconds.setdefault(s, Second()).merge(sec)
    duration = profile.duration
    is_open = profile.mode == "open"
    total = GroupStats.of(
        "all",
        merge_cells(cells.values()),
        duration,
        expected=profile.expected(0, duration) if is_open else None,
        target=profile.expected(0, duration) / duration
        if is_open
        else sum(s.target * s.duration for s in profile.stages) / duration,
    )
    by_phase = _grouped(cells, lambda k: k[0])
    phases = []
    for name, start, end in profile.stage_bounds():
        expected = profile.expected(start, end) if is_open else None
        span = end - start
        target = expected / span if expected is not None else profile.target_at(start + span / 2)
        phases.append(
            GroupStats.of(
                name,
                by_phase.get(name, Cell()),
                span,
                start=start,
                expected=expected,
                target=target,
            )
        )
    endpoints = [
        GroupStats.of(name, cell, duration, endpoint=name)
        for name, cell in sorted(_grouped(cells, lambda k: k[1]).items())
    ]
    tenants = [
        GroupStats.of(name, cell, duration, tenant=name)
        for name, cell in sorted(_grouped(cells, lambda k: k[2]).items())
    ]
    tenant_endpoints = [
        GroupStats.of(f"{t}/{e}", cell, duration, tenant=t, endpoint=e)
        for (t, e), cell in sorted(_grouped(cells, lambda k: (k[2], k[1])).items())
    ]
    generators = []
    for w in sorted(workers, key=lambda w: w.index):
        per_sec = [sec.cpu for sec in w.seconds.values()]
        generators.append(
            GeneratorStats(
                index=w.index,
                pid=w.pid,
                cpu_seconds=w.cpu_seconds,
                cpu_percent=100 * w.cpu_seconds / w.wall_seconds if w.wall_seconds else 0.0,
                cpu_max_percent=100 * max(per_sec, default=0.0),
                busy_seconds=sum(1 for c in per_sec if c >= CPU_BOUND),
                cpu_wait_seconds=sum(sec.cpu_wait for sec in w.seconds.values()),
                requests=sum(c.requests for c in w.cells.values()),
                dropped=sum(c.dropped for c in w.cells.values()),
                max_lag_ms=w.max_lag * 1000,
                users_allocated=w.allocated_max,
                pool_size=w.pool_size,
                seconds_total=len(per_sec),
            )
        )
    causes, per_process = _drop_causes(workers)
    warnings: list[str] = []
    for g in generators:
        if g.cpu_bound:
            warnings.append(
                f"generator process {g.index} (pid {g.pid}) was CPU-bound: "
                f"{g.cpu_percent:.0f}% of a core on average, {g.busy_seconds} s at >= 90% "
                f"(worst {g.cpu_max_percent:.0f}%); its latencies include its own delay. "
                "Use more processes, a lower rate, or another machine for the load."
            )
    for w in workers:
        late = [sec.lag_max for sec in w.seconds.values() if sec.lag_max >= LAG_BOUND]
        g = next(g for g in generators if g.index == w.index)
        if len(late) >= 2 and not g.cpu_bound:
            waited = (
                f", and waited {g.cpu_wait_seconds:.1f} s for a CPU while runnable"
                if g.cpu_wait_seconds
                else ""
            )
            warnings.append(
                f"generator process {w.index} (pid {w.pid}) fell behind its schedule in "
                f"{len(late)} seconds (worst {max(late) * 1000:.0f} ms) while using only "
                f"{g.cpu_percent:.0f}% of a core{waited}: the machine is short of CPU (other "
                "processes); latencies from the intended start include that delay."
            )
    if causes["generator"]:
        who = ", ".join(
            f"process {i} (pid {next(g.pid for g in generators if g.index == i)}): {n}"
            for i, n in sorted(per_process.items())
        )
        warnings.append(
            f"{causes['generator']} dropped arrivals look caused by the load generator, not the "
            f"system under test (CPU-bound, behind schedule, or pool exhausted while answers were "
            f"fast) -- {who}. Raise max_users or add processes."
        )
    for w in workers:
        warnings.extend(f"generator process {w.index}: {e}" for e in w.errors)
        if w.token_failures:
            warnings.append(
                f"generator process {w.index}: {w.token_failures} token refreshes failed"
            )
    for lost in workers_lost or []:
        by = lost.get("taken_over_by")
        warnings.append(
            f"load worker {lost['index']} (pid {lost.get('pid')} on {lost.get('host') or '?'}) "
            f"was lost {lost.get('at_s', 0):.1f}s into the run ({lost.get('why')}); what it "
            f"measured up to second {lost.get('last_second')} is in the result"
            + (f", its arrivals were taken over by workers {by}." if by else ".")
        )
    if total.aborted:
        warnings.append(
            f"{total.aborted} requests were still in flight when the grace period "
            f"({profile.grace:g}s) ended; they are counted as aborted."
        )
    if warn:
        for text in warnings:
            print(f"harness load: warning: {text}", file=sys.stderr)
    return LoadResult(
        base_url=base_url,
        mode=profile.mode,
        seed=seed,
        processes=len(workers),
        duration_s=duration,
        total=total,
        phases=phases,
        endpoints=endpoints,
        tenants=tenants,
        tenant_endpoints=tenant_endpoints,
        timeline=_timeline(profile, workers, seconds),
        generators=generators,
        warnings=warnings,
        drop_causes=causes,
        profile=profile.model_dump(mode="json"),
        parent_cpu_seconds=parent_cpu_seconds,
        master_cpu_seconds=master_cpu_seconds,
        workers_lost=list(workers_lost or []),
        first_requests=[w.first_requests for w in sorted(workers, key=lambda w: w.index)],
        cells=cells,
        seconds=seconds,
    )
