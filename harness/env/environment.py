"""``harness.Environment``: bring the whole local system up, check it, and take it down.

    with Environment() as env:                      # starts, or attaches to, a running one
        env.client("dynamodb").list_tables()
        env.redis().ping()

Used as a context manager it stops what *it* started (not an environment it attached to), and it
cleans up after a failed start before re-raising, with the child's last log lines in the error.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.env.backends import get_backend
from harness.env.components import (
    StartContext,
    check,
    start_daemon,
    start_edge,
    start_redis_proxy,
    start_runtime,
)
from harness.env.process import ProcessRecord, reserve_port, stop
from harness.env.state import EnvState, locked, read_state, remove_state, write_state
from harness.errors import NotRunningError

__all__ = ["ComponentHealth", "Environment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    healthy: bool
    detail: str
    endpoint: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "healthy": self.healthy,
            "detail": self.detail,
            "endpoint": self.endpoint,
            "pid": self.pid,
        }


class Environment:
    """The running local system: emulators, Redis, the AWS edge and the gateway/runtime daemon."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings.load(**overrides)
        self.state: EnvState | None = None
        self.owned = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def start(self) -> Environment:
        """Start everything, or attach to an environment that is already up and healthy."""
        with locked(self.state_dir):
            existing = read_state(self.state_dir)
            if existing is not None:
                if existing.backend == self.settings.backend and all(
                    h.healthy for h in self._health(existing)
                ):
                    self.state, self.owned = existing, False
                    logger.info("attached to the running environment in %s", self.state_dir)
                    return self
                logger.warning("a previous environment is stale; stopping what is left of it")
                self._teardown(existing)
                remove_state(self.state_dir)
            self.state = self._start_new()
            self.owned = True
            write_state(self.state_dir, self.state)
            return self

    def _start_new(self) -> EnvState:
        settings = self.settings
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        ctx = StartContext(settings=settings, log_dir=log_dir)
        containers: list[dict[str, str]] = []
        backend = get_backend(settings.backend)
        try:
            aws_port = reserve_port(settings.aws_port, "AWS edge")
            ctx.edge_port = aws_port
            gateway_port = reserve_port(settings.gateway_port, "gateway")
            started = time.time()
            info = backend.start(ctx, containers)
            services: dict[str, str] = dict(info["services"])
            default = services.pop("default")
            runtime_port = reserve_port(0, "runtime") if settings.runtime else None
            runtime_url = f"http://127.0.0.1:{runtime_port}" if runtime_port else None
            # A handler's boto3 lambda.invoke() reaches the runtime through the edge.
            routes = {**services, "lambda": runtime_url} if runtime_url else services
            edge = start_edge(ctx, aws_port, routes, default)
            redis_proxy = start_redis_proxy(
                ctx,
                reserve_port(0, "redis proxy"),
                reserve_port(0, "redis proxy control"),
                info["redis_url"],
            )
            # The daemon reads the endpoints from a state file written before it starts.
            endpoints = {
                "aws_endpoint": edge.endpoint,
                "redis_url": info["redis_url"],
                "redis_proxy_url": redis_proxy.endpoint,
                "redis_control_url": redis_proxy.extra["control_url"],
                "gateway_url": f"http://127.0.0.1:{gateway_port}",
                **({"runtime_url": runtime_url} if runtime_url else {}),
                "region": settings.region,
                "account_id": settings.account_id,
                "emulator": info["emulator"],
                "services": {**services, "default": default},
            }
            state = EnvState(
                backend=backend.name,
                endpoints=endpoints,
                processes=ctx.records,
                containers=containers,
                external=dict(info.get("external", {})),
                started_at=started,
                settings={"workers": settings.workers},
            )
            write_state(self.state_dir, state)
            if runtime_port:
                start_runtime(ctx, runtime_port, self.state_dir, wait=False)
            start_daemon(ctx, gateway_port, self.state_dir, wait=False)
            ctx.wait_all()
            state.processes = list(ctx.records)
            return state
        except BaseException as exc:  # includes KeyboardInterrupt: leave nothing running
            self._teardown(
                EnvState(
                    backend=backend.name, endpoints={}, processes=ctx.records, containers=containers
                )
            )
            remove_state(self.state_dir)
            if isinstance(exc, Exception) and ctx.records:
                with contextlib.suppress(Exception):
                    exc.add_note(f"logs of the start attempt: {log_dir}")
            raise

    def stop(self) -> bool:
        """Stop everything the recorded environment started. Safe to call when nothing runs."""
        with locked(self.state_dir):
            state = read_state(self.state_dir)
            if state is None:
                self.state = None
                return False
            self._teardown(state)
            remove_state(self.state_dir)
            self.state = None
            return True

    def _teardown(self, state: EnvState) -> None:
        from harness.deploy.fake_servers import stop_all_fake_servers

        # deployed stacks' fake servers (harness.yaml fixtures) go first, as they were started last
        stop_all_fake_servers(self.state_dir)
        for record in reversed(state.processes):
            try:
                stop(record)
            except Exception:  # keep stopping the others
                logger.exception("could not stop %s (pid %s)", record.name, record.pid)
        if state.containers:
            get_backend(state.backend).stop_containers(state.containers)

    def __enter__(self) -> Environment:
        try:
            return self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info: object) -> None:
        if self.owned:
            self.stop()
            self.owned = False

    # -- inspection ------------------------------------------------------------------------

    def refresh(self) -> EnvState:
        """Re-read the state file (another process may have started or stopped things)."""
        self.state = read_state(self.state_dir)
        if self.state is None:
            raise NotRunningError(
                f"No environment is running (no state file in {self.state_dir}).",
                fix="run `harness up` first.",
            )
        return self.state

    def health(self) -> list[ComponentHealth]:
        return self._health(self.state or self.refresh())

    @staticmethod
    def _health(state: EnvState) -> list[ComponentHealth]:
        result = []
        for record in state.processes:
            ok, detail = check(record)
            result.append(ComponentHealth(record.name, ok, detail, record.endpoint, record.pid))
        for name, url in state.external.items():
            from harness.env.probes import http_ok

            ok = http_ok(url.rstrip("/") + "/_localstack/health")
            result.append(ComponentHealth(name, ok, "external (not started by us)", url))
        return result

    @property
    def endpoints(self) -> dict[str, Any]:
        return (self.state or self.refresh()).endpoints

    @property
    def processes(self) -> list[ProcessRecord]:
        return (self.state or self.refresh()).processes

    def client(self, service: str, *, direct: bool = False, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` against the edge (or straight to the emulator)."""
        from harness.aws import client_for

        return client_for(self.endpoints, service, direct=direct, **kwargs)

    def redis(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis.from_url(self.endpoints["redis_url"], **kwargs)
