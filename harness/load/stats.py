"""What a generator process records, in plain picklable objects that merge exactly.

Per ``(phase, endpoint, tenant)`` a :class:`Cell` holds counts, status codes and two latency
histograms: from the *intended* start (the arrival time in the open model: no coordinated
omission) and from the actual send (service time as the client saw it). Per second of the run a
:class:`Second` holds the timeline. Requests are put in the phase of their intended start and in
the second they completed (so the timeline's RPS is the achieved throughput); dropped arrivals in
the second they were due.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.load.histogram import Histogram

__all__ = ["Cell", "Key", "Second", "WorkerResult"]

Key = tuple[str, str, str]  # (phase, endpoint, tenant)


@dataclass
class Cell:
    requests: int = 0  # completed (any status, including connection errors = status 0)
    errors: int = 0  # status not expected, or no answer
    unavailable: int = 0  # 5xx or no answer
    dropped: int = 0  # arrivals that found no free user
    aborted: int = 0  # still in flight when the grace period ended
    statuses: dict[int, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)  # from the intended start
    service: Histogram = field(default_factory=Histogram)  # from the actual send
    last_sent: float = 0.0  # run clock of the last send (the span when behind schedule)

    def merge(self, other: Cell) -> Cell:
        self.last_sent = max(self.last_sent, other.last_sent)
        self.requests += other.requests
        self.errors += other.errors
        self.unavailable += other.unavailable
        self.dropped += other.dropped
        self.aborted += other.aborted
        for code, n in other.statuses.items():
            self.statuses[code] = self.statuses.get(code, 0) + n
        for name, n in other.exceptions.items():
            self.exceptions[name] = self.exceptions.get(name, 0) + n
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        return self


@dataclass
class Second:
    completed: int = 0
    errors: int = 0
    dropped: int = 0
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)
    busy_max: int = 0  # most users busy at once
    allocated: int = 0  # users created so far
    cpu: float = 0.0  # CPU seconds this process used in this second
    cpu_wait: float = 0.0  # seconds it was runnable but waited for a CPU (Linux schedstat)
    lag_max: float = 0.0  # worst dispatch delay behind the schedule (s)

    def merge(self, other: Second) -> Second:
        self.completed += other.completed
        self.errors += other.errors
        self.dropped += other.dropped
        self.sent += other.sent
        for code, n in other.statuses.items():
            self.statuses[code] = self.statuses.get(code, 0) + n
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.busy_max += other.busy_max
        self.allocated += other.allocated
        self.cpu += other.cpu
        self.cpu_wait += other.cpu_wait
        self.lag_max = max(self.lag_max, other.lag_max)
        return self


@dataclass
class WorkerResult:
    """Everything one generator process measured."""

    index: int
    pid: int
    seed: int
    cells: dict[Key, Cell] = field(default_factory=dict)
    seconds: dict[int, Second] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    allocated_max: int = 0
    pool_size: int = 0
    token_refreshes: int = 0
    token_failures: int = 0
    max_lag: float = 0.0
    first_requests: list[str] = field(default_factory=list)  # "METHOD path tenant" of the first few
    errors: list[str] = field(default_factory=list)

    def cell(self, key: Key) -> Cell:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
        return cell

    def second(self, index: int) -> Second:
        sec = self.seconds.get(index)
        if sec is None:
            sec = self.seconds[index] = Second()
        return sec
