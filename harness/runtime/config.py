"""Runtime knobs: explicit arguments beat ``HARNESS_RUNTIME_*`` environment variables beat defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from harness.errors import ConfigError
from harness.runtime.coldstart import ColdStartLatency, load_latency

__all__ = ["RuntimeConfig"]


WORKERS_PER_CORE = 32
WORKER_MEMORY_MB = 256  # what one environment may take, to size the default: forks share ~half


def _total_memory_mb() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (OSError, ValueError):
        return 0


def _default_max_workers(cores: int | None = None, memory_mb: int | None = None) -> int:
    """Worker processes across all functions: 32 per core, at most one per 256 MB of memory,
    at least 8. An idle environment costs memory, not CPU (the busy ones are the concurrency,
    which Lambda would run anyway, and starts are bounded by ``max_concurrent_inits``). At 8 per
    core this cap, not the machine, answered SyncWell's 80 rps with 429s: its seven functions'
    environments recycled each other, and a wave of authorizer cache expiries became a storm of
    cold starts (``harness bench syncwell-capacity``, issue 26)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    memory_mb = memory_mb if memory_mb is not None else _total_memory_mb()
    by_memory = memory_mb // WORKER_MEMORY_MB if memory_mb > 0 else 8 * cores
    return max(8, min(WORKERS_PER_CORE * cores, by_memory))


@dataclass(frozen=True)
class RuntimeConfig:
    """Every knob of the runtime server. Each field has an env var ``HARNESS_RUNTIME_<FIELD>``."""

    account_concurrency: int = 1000  # Lambda's default account-wide concurrent executions
    # worker processes across all functions; 0 = 32 per core, one per 256 MB at most (min 8)
    max_workers: int = 0
    # how long a synchronous call may wait for a free worker process before a 429: 0 = none,
    # Lambda's behaviour (it never queues synchronous calls); > 0 only where a user asks for it
    queue_timeout_s: float = 0.0
    max_concurrent_inits: int = 0  # environments starting at once; 0 = one per core (min 2)
    # the platform part of a cold start as a delay without CPU (harness.runtime.coldstart):
    # "" = off, "default" = the documented table, or a JSON file of entries
    cold_start_latency: str = ""
    cold_start_seed: int = 0  # seeds the delays' draws
    # 1: new Python environments are forks of a warm template per interpreter and dependency
    # set (harness.runtime.fork); 0: every environment is a new interpreter (exec)
    fork: int = 1
    idle_timeout_s: float = 300.0  # recycle an execution environment idle this long
    init_timeout_s: float = 10.0  # Lambda's init phase limit
    async_retry_delays: str = "60,120"  # seconds before async retry 1, 2, ... (AWS: ~1 min, ~2 min)
    async_max_workers: int = 64  # concurrent async invocations in flight
    poll_wait_s: float = 1.0  # SQS long-poll wait of the pollers
    sqs_pollers: int = 2  # poller threads per SQS source without ScalingConfig
    sqs_max_pollers: int = 10  # upper bound for ScalingConfig.MaximumConcurrency
    stream_poll_interval_s: float = 0.25  # DynamoDB Streams GetRecords interval when idle
    stream_retry_delay_s: float = 0.5  # base delay between stream batch retries
    watch_interval_s: float = 1.0  # how often stack files are checked for changes
    log_buffer_lines: int = 1000  # per-function ring buffer of log records

    def __post_init__(self) -> None:
        if self.resolved_max_workers < 1:
            raise ConfigError("must be at least 1.", source="HARNESS_RUNTIME_MAX_WORKERS")
        if self.max_concurrent_inits < 0:
            raise ConfigError(
                "must be 0 (one per core) or a positive number of environments.",
                source="HARNESS_RUNTIME_MAX_CONCURRENT_INITS",
            )
        if self.fork not in (0, 1):
            raise ConfigError(
                "must be 1 (fork new environments from a warm template) or 0 (exec each).",
                source="HARNESS_RUNTIME_FORK",
            )
        if self.queue_timeout_s < 0:
            raise ConfigError(
                "must be 0 (answer 429 at once, as Lambda) or a positive number of seconds.",
                source="HARNESS_RUNTIME_QUEUE_TIMEOUT_S",
            )
        _ = self.retry_delays  # validate now, not at the first async failure
        _ = self.cold_latency()  # a bad table fails at start, naming its file and field

    @property
    def resolved_max_workers(self) -> int:
        return self.max_workers or _default_max_workers()

    def cold_latency(self) -> ColdStartLatency | None:
        return load_latency(self.cold_start_latency, self.cold_start_seed)

    @property
    def resolved_max_concurrent_inits(self) -> int:
        return self.max_concurrent_inits or max(2, os.cpu_count() or 1)

    @property
    def retry_delays(self) -> list[float]:
        try:
            return [float(x) for x in self.async_retry_delays.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(
                f"'{self.async_retry_delays}' is not a comma-separated list of seconds.",
                source="HARNESS_RUNTIME_ASYNC_RETRY_DELAYS",
            ) from None

    @classmethod
    def load(cls, **overrides: Any) -> RuntimeConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"HARNESS_RUNTIME_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = (
                    int(raw) if f.type == "int" else float(raw) if f.type == "float" else raw
                )
            except ValueError:
                raise ConfigError(
                    f"'{raw}' is not a number.", source=f"HARNESS_RUNTIME_{f.name.upper()}"
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
