"""Which program runs a function, and what is on its path besides the function's own code.

A Lambda Python runtime is a given interpreter (``python3.12`` runs CPython 3.12) whose path holds
the function's artifact (``/var/task``), its layers (``/opt/python``...), the runtime's own
``boto3``/``botocore`` (``/var/runtime``) and the standard library: nothing else. The harness
emulates that:

* :func:`find_python` looks for an interpreter of the declared version on this machine (the
  ``HARNESS_PYTHON<major>_<minor>`` variable, then ``PATH``, then pyenv's versions, then
  ``/usr/bin``/``/usr/local/bin``), checking that it runs and has that version (a pyenv *shim*
  that cannot run it is skipped). :func:`resolve` falls back to the harness's own interpreter and
  says so (:attr:`Launch.note`) when none is installed.
* Workers run with ``-S``: no ``site`` module, so neither the harness's virtualenv nor the
  interpreter's ``site-packages`` (nor ``.pth`` hooks such as an editable install's) is on the
  path. :func:`runtime_packages` is the stand-in for ``/var/runtime``: a folder (in the build
  cache) of links to the harness's own ``boto3``, ``botocore`` and their dependencies, the only
  third-party packages a Lambda Python runtime provides.
* Node.js runtimes run on the machine's ``node`` (:func:`find_node`).

Standard library only besides :mod:`harness`-free helpers: imported by the runtime server and by
``harness.deploy.build``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RUNTIME_PACKAGES",
    "Launch",
    "build_cache_dir",
    "compile_runtime_packages",
    "find_node",
    "find_python",
    "python_version",
    "resolve",
    "runtime_packages",
]

logger = logging.getLogger(__name__)

# What the Lambda Python runtime ships besides the standard library (its /var/runtime):
# boto3, botocore and their dependencies. Top-level names in the harness's site-packages.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

_PYTHON_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
_NODE_RUNTIME = re.compile(r"^nodejs(\d+)\.x$")


def build_cache_dir() -> Path:
    """Where built artifacts are cached: ``HARNESS_BUILD_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/harness/builds`` (``~/.cache/harness/builds``). Shared by every
    environment of the user: an artifact is keyed by the content it was built from."""
    explicit = os.environ.get("HARNESS_BUILD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "harness" / "builds"


def python_version(runtime: str) -> tuple[int, int] | None:
    """``"python3.12"`` → ``(3, 12)``; None for anything else."""
    match = _PYTHON_RUNTIME.match(runtime)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _runs_as(executable: str, version: tuple[int, int]) -> bool:
    try:
        out = subprocess.run(
            [executable, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == f"{version[0]}.{version[1]}"


def _candidates(version: tuple[int, int]) -> list[str]:
    name = f"python{version[0]}.{version[1]}"
    found: list[str] = []
    explicit = os.environ.get(f"HARNESS_PYTHON{version[0]}_{version[1]}")
    if explicit:
        found.append(explicit)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and "shims" not in Path(folder).parts:
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                found.append(path)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        prefix = f"{version[0]}.{version[1]}."
        for sub in sorted(pyenv.iterdir(), reverse=True):
            if sub.name.startswith(prefix) and (sub / "bin" / name).is_file():
                found.append(str(sub / "bin" / name))
    found += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    base = getattr(sys, "_base_executable", sys.executable)
    if sys.version_info[:2] == version:
        found.insert(0, base)
    return found


@functools.cache
def find_python(version: tuple[int, int]) -> str | None:
    """An installed interpreter of exactly ``version`` (absolute path), or None."""
    seen: set[str] = set()
    for path in _candidates(version):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        if _runs_as(path, version):
            return path
    return None


@functools.cache
def find_node() -> str | None:
    """The machine's ``node`` (``HARNESS_NODE`` wins), or None."""
    explicit = os.environ.get("HARNESS_NODE")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("node")


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a worker of one function."""

    interpreter: str  # absolute path of the program
    runtime: str  # the runtime it really is ("python3.11" when python3.12 fell back to it)
    note: str = ""  # why it is not the declared runtime ("" when it is)


def resolve(runtime: str) -> Launch:
    """The interpreter of a Lambda ``Runtime`` (Python or Node.js).

    A Python runtime whose version is not installed falls back to the harness's interpreter with
    a :attr:`Launch.note`; a Node.js runtime without ``node`` raises :class:`LookupError` (the
    deploy refuses it), as does a runtime that is neither."""
    version = python_version(runtime)
    if version is not None:
        found = find_python(version)
        if found:
            return Launch(found, runtime)
        here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        base = getattr(sys, "_base_executable", sys.executable)
        return Launch(
            base,
            here,
            f"Runtime {runtime}: no {runtime} interpreter on this machine; running on {here} "
            f"({base}). Install {runtime} (or set HARNESS_PYTHON{version[0]}_{version[1]}) to "
            "run it on its own version.",
        )
    if _NODE_RUNTIME.match(runtime):
        node = find_node()
        if node is None:
            raise LookupError(
                f"Runtime {runtime} needs Node.js, and no `node` is on PATH "
                "(install Node.js or set HARNESS_NODE)."
            )
        return Launch(node, runtime)
    raise LookupError(
        f"Runtime {runtime} is not supported by the harness runtime (Python 3.x and Node.js only)."
    )


def compile_runtime_packages(folder: Path, interpreter: str, version: tuple[int, int]) -> None:
    """Byte-compile the runtime's boto3 & co. for ``interpreter`` once (workers run with
    ``PYTHONDONTWRITEBYTECODE``, and without a ``cpython-3XY.pyc`` every cold start of a
    python3.12 function would compile botocore again: 6 s instead of 3.6 s measured). The
    ``.pyc`` files land beside the harness's own (``__pycache__`` of its site-packages);
    where that is not writable, cold starts are only slower."""
    marker = folder / f".compiled-py{version[0]}{version[1]}"
    if marker.exists():
        return
    targets = [str(p.resolve()) for p in sorted(folder.iterdir()) if p.is_symlink()]
    done = subprocess.run(
        [interpreter, "-S", "-m", "compileall", "-q", "-j", "0", *targets],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        logger.warning(
            "could not byte-compile the runtime packages for %s (cold starts will be slower): %s",
            interpreter,
            (done.stderr or done.stdout).strip()[-300:],
        )
        return
    marker.touch()


def _package_path(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def runtime_packages(cache_dir: Path | None = None) -> Path:
    """A folder holding (links to) only :data:`RUNTIME_PACKAGES`, made once per set of versions:
    the function's stand-in for Lambda's ``/var/runtime``. Pure-Python packages, so the same folder
    serves every Python version."""
    sources: dict[str, Path] = {}
    for name in RUNTIME_PACKAGES:
        path = _package_path(name)
        if path is None:
            raise LookupError(f"the harness's environment has no '{name}' (pip install boto3)")
        sources[path.name] = path
    digest = hashlib.sha256(
        "\n".join(f"{k}={os.path.realpath(v)}" for k, v in sorted(sources.items())).encode()
    )
    import boto3  # the folder name says which runtime SDK it is

    root = (cache_dir or build_cache_dir()) / "runtime"
    folder = root / f"boto3-{boto3.__version__}-{digest.hexdigest()[:12]}"
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for link, target in sources.items():
        (tmp / link).symlink_to(target, target_is_directory=target.is_dir())
    try:
        tmp.rename(folder)
    except OSError:  # another deploy made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
