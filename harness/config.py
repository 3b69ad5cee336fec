"""Typed configuration: explicit arguments beat ``HARNESS_*`` environment variables beat defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["BACKENDS", "Settings", "find_project_root"]

BACKENDS = ("embedded", "localstack")


def find_project_root(start: Path) -> Path:
    """The nearest folder holding ``pyproject.toml`` with our name, else the current folder."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and 'name = "harness"' in candidate.read_text(errors="ignore"):
            return folder
    return start


@dataclass(frozen=True)
class Settings:
    """Every knob of the environment. Each field has an env var ``HARNESS_<FIELD>``."""

    backend: str = "embedded"
    state_dir: Path = field(default_factory=lambda: find_project_root(Path.cwd()) / ".harness")
    vendor_dir: Path | None = None
    localstack_url: str | None = None
    localstack_image: str = "localstack/localstack:4.14.0"
    redis_port: int = 0
    aws_port: int = 0
    gateway_port: int = 0
    gateway_workers: int = 0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    start_timeout: float = 90.0
    # Off: no Lambda runtime (and so no event-source pollers), for tests that drive handlers
    # in-process and must not have a poller race them for queue messages.
    runtime: bool = True
    # Keep the emulators' state (<state_dir>/data: S3 objects, signing keys...) after `down`.
    keep_data: bool = False
    # Live spans of the gateway, runtime and edge (harness/obs/spans.py), kept under
    # <state_dir>/traces/<run>/, each process's file rotated at trace_max_mb; sent with OTLP/HTTP
    # to otlp_endpoint too when one is named.
    tracing: bool = True
    trace_max_mb: int = 32
    otlp_endpoint: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend '{self.backend}'.",
                source="--backend / HARNESS_BACKEND",
                fix=f"use one of: {', '.join(BACKENDS)}.",
            )
        if self.trace_max_mb < 1:
            raise ConfigError(
                f"trace_max_mb {self.trace_max_mb} is below 1.",
                source="HARNESS_TRACE_MAX_MB",
                fix="give the size in MB at which a process's span file is rotated, e.g. 32.",
            )
        if self.otlp_endpoint is not None and not self.otlp_endpoint.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"OTLP endpoint {self.otlp_endpoint!r} is not an http(s) URL.",
                source="--otlp / HARNESS_OTLP_ENDPOINT",
                fix="name an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318.",
            )
        for name in ("redis_port", "aws_port", "gateway_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(
                    f"port {port} is out of range.",
                    source=f"HARNESS_{name.upper()}",
                    fix="use 1-65535, or 0 to pick a free port.",
                )

    @property
    def resolved_vendor_dir(self) -> Path:
        """Where ``harness setup`` installs packages from the npm registry (DynamoDB Local)."""
        if self.vendor_dir:
            return self.vendor_dir
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "harness" / "vendor"

    @property
    def workers(self) -> int:
        return self.gateway_workers or (os.cpu_count() or 1)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from env vars, with non-``None`` ``overrides`` taking precedence."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"HARNESS_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("state_dir", "vendor_dir"):
            if isinstance(values.get(key), str):
                values[key] = Path(values[key])
        return cls(**values)


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    if kind.startswith("bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(
            f"'{raw}' is not a yes/no value.", source=f"HARNESS_{name.upper()}", fix="use 1 or 0."
        )
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigError(
            f"'{raw}' is not a number.",
            source=f"HARNESS_{name.upper()}",
            fix="set it to a number or unset it.",
        ) from None
    return raw
