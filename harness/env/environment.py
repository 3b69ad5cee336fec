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
from harness.env.private import private_dir, remove_data, tighten
from harness.env.process import ProcessRecord, port_owner, reserve_port, stop
from harness.env.secret import PROBES_FILE, ensure_secret, register, remove_secret
from harness.env.state import EnvState, locked, read_state, remove_state, write_state
from harness.errors import EnvironmentError_, NotRunningError

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


def redeploy_folder(stacks: dict[str, Any], name: str, fallback: str) -> str:
    """The folder to ``harness deploy`` to recreate stack ``name``: a nested stack's root
    parent's (a child is deployed through its parent), else its own (``fallback`` if unknown)."""
    stack, seen = stacks.get(name), {name}
    while stack is not None and stack.parent in stacks and stack.parent not in seen:
        seen.add(stack.parent)
        stack = stacks[stack.parent]
    return str(stack.stack_dir) if stack is not None else fallback


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
                    register(existing.endpoints, self.state_dir)
                    logger.info("attached to the running environment in %s", self.state_dir)
                    return self
                logger.warning("a previous environment is stale; stopping what is left of it")
                self._teardown(existing)
                remove_state(self.state_dir)
            self.state = self._start_new()
            self.owned = True
            write_state(self.state_dir, self.state)
            register(self.state.endpoints, self.state_dir)
            return self

    def _start_new(self) -> EnvState:
        settings = self.settings
        private_dir(self.state_dir)
        log_dir = private_dir(self.state_dir / "logs")
        # A fresh control-plane secret for this environment, before any server reads it.
        remove_secret(self.state_dir)
        (self.state_dir / PROBES_FILE).unlink(missing_ok=True)
        ensure_secret(self.state_dir)
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
                # where the control-plane secret is (the secret itself is never an endpoint)
                "state_dir": str(self.state_dir.resolve()),
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
            # a folder from an older harness (or files a child made before its umask) is
            # made owner-only too
            tighten(self.state_dir)
            return state
        except BaseException as exc:  # includes KeyboardInterrupt: leave nothing running
            self._teardown(
                EnvState(
                    backend=backend.name, endpoints={}, processes=ctx.records, containers=containers
                )
            )
            remove_state(self.state_dir)
            remove_secret(self.state_dir)
            if isinstance(exc, Exception) and ctx.records:
                with contextlib.suppress(Exception):
                    exc.add_note(f"logs of the start attempt: {log_dir}")
            raise

    def stop(self, *, keep_data: bool | None = None) -> bool:
        """Stop everything the recorded environment started. Safe to call when nothing runs.

        The emulators' state (``<state_dir>/data``) goes too unless ``keep_data`` (default:
        ``Settings.keep_data``, ``HARNESS_KEEP_DATA``)."""
        keep = self.settings.keep_data if keep_data is None else keep_data
        with locked(self.state_dir):
            state = read_state(self.state_dir)
            if state is None:
                self.state = None
                if not keep:
                    remove_data(self.state_dir)
                return False
            self._teardown(state)
            self._verify_ports_free(state)  # raises, keeping the state file, if one is held
            remove_state(self.state_dir)
            remove_secret(self.state_dir)
            if not keep:
                remove_data(self.state_dir)
            self.state = None
            return True

    def _teardown(self, state: EnvState) -> None:
        from harness.env.fake_servers import stop_all_fake_servers

        # deployed stacks' fake servers (harness.yaml fixtures) go first, as they were started last
        stop_all_fake_servers(self.state_dir)
        for record in reversed(state.processes):
            try:
                stop(record)
            except Exception:  # keep stopping the others
                logger.exception("could not stop %s (pid %s)", record.name, record.pid)
        if state.containers:
            get_backend(state.backend).stop_containers(state.containers)

    @staticmethod
    def _verify_ports_free(state: EnvState, timeout: float = 5.0) -> None:
        """Every port the environment served is free again, or :class:`EnvironmentError_`."""
        from urllib.parse import urlsplit

        ports: dict[int, str] = {}
        for record in state.processes:
            if record.port:
                ports[record.port] = record.name
            control = record.extra.get("control_url")
            if control and urlsplit(str(control)).port:
                ports[int(urlsplit(str(control)).port or 0)] = f"{record.name} control"
        deadline = time.monotonic() + timeout
        held: dict[int, str] = {}
        while True:
            held = {}
            for port, name in ports.items():
                owner = port_owner(port)
                if owner is not None:
                    held[port] = f"{name} port {port} is still held by {owner}"
            if not held or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if held:
            raise EnvironmentError_(
                "`harness down` stopped every recorded process but "
                + "; ".join(held.values())
                + ".",
                fix="stop that process (kill PID), then run `harness down` again.",
            )

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
        register(self.state.endpoints, self.state_dir)
        return self.state

    def health(self, *, deep: bool = False) -> list[ComponentHealth]:
        """Each piece checked live; ``deep`` (``harness status``) also checks that nothing
        listens beyond loopback and that the emulators still hold every deployed stack's
        tables, queues, pools, topics and buckets (a reset or restarted emulator)."""
        state = self.state or self.refresh()
        result = self._health(state)
        if deep:
            result += self._doors(state)
            if all(h.healthy for h in result):
                result += self._stacks(state)
        return result

    @staticmethod
    def _doors(state: EnvState) -> list[ComponentHealth]:
        from harness.env.sockets import exposed, listeners_of

        open_doors = exposed(listeners_of(state.processes))
        if not open_doors:
            return [ComponentHealth("listeners", True, "every socket listens on loopback only")]
        return [
            ComponentHealth(
                "listeners",
                False,
                "listening beyond loopback: "
                + "; ".join(str(item) for item in open_doors)
                + " (run `harness down` then `harness up`)",
            )
        ]

    def _stacks(self, state: EnvState) -> list[ComponentHealth]:
        from harness.aws import client_for
        from harness.env.stackcheck import missing_resources

        def client(service: str) -> Any:
            from botocore.config import Config

            config = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10)
            return client_for(state.endpoints, service, direct=True, config=config)

        result = []
        try:
            missing = missing_resources(self.state_dir, client)
        except Exception as exc:  # the emulator answers its probe but not this call
            return [ComponentHealth("stacks", False, f"the emulator does not answer: {exc}")]
        by_stack: dict[str, list[Any]] = {}
        for item in missing:
            by_stack.setdefault(item.stack, []).append(item)
        from harness.model import load_stacks

        stacks = load_stacks(self.state_dir)
        for name, items in sorted(by_stack.items()):
            detail = "; ".join(item.describe() for item in items)
            folder = redeploy_folder(stacks, name, items[0].stack_dir)
            result.append(
                ComponentHealth(
                    f"stack:{name}",
                    False,
                    f"{detail}. Run `harness deploy {folder}` to recreate them, or "
                    "`harness down` then `harness up` for a fresh environment.",
                )
            )
        return result

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
