"""Functions built the way ``sam build`` builds them, before the runtime sees them.

For every ``AWS::Lambda::Function`` of a deploy, :func:`build_stack` decides what its execution
environment will have on its path, in Lambda's order:

1. the code folder (``LAMBDA_TASK_ROOT``);
2. its dependencies: ``requirements.txt`` beside the handler, installed with ``pip install
   --target`` by an interpreter of the function's Python version (SAM's ``python_pip`` workflow
   does the same into ``.aws-sam/build/<Function>``), into a folder of the build cache named by a
   hash of the requirements file, the Python version and the platform, so a second deploy (or a
   second function with the same requirements) reuses it;
3. ``/opt``: its layers, merged in their template order into one folder per set of layers (a tree
   of links, later layers winning, as Lambda extracts them into ``/opt``), of which
   ``python/lib/pythonX.Y/site-packages`` and ``python`` are on the path; a layer whose
   ``Metadata.BuildMethod`` is a Python runtime (SAM's layer build) is its ContentUri under
   ``/opt/python`` plus its own ``requirements.txt`` installed there;
4. the runtime's ``boto3``/``botocore`` (:func:`harness.runtime.interpreters.runtime_packages`);
5. the standard library of the interpreter. Nothing else: the harness's virtualenv is not there.

Node.js functions: a ``package.json`` with ``dependencies`` (and no ``node_modules`` shipped) is
installed with ``npm install --omit=dev`` into the cache, and the function's task root is an
artifact folder of links (its code beside that ``node_modules``), run with ``--preserve-symlinks``.

A dependency that does not install fails the deploy with pip's own output and the function's
logical id; the engine rolls back what the deploy created, so nothing half-deployed remains.
Prior art: aws-sam-cli's ``lib/build/app_builder.py`` (per-function artifact folders, layers
built into ``python/``) and aws-lambda-builders' ``workflows/python_pip`` (``pip install -t``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.deploy.specs.functions import code_fingerprint
from harness.deploy.unsupported import Unsupported
from harness.errors import DeployError
from harness.model import ResourceRecord
from harness.runtime.interpreters import (
    build_cache_dir,
    compile_runtime_packages,
    python_version,
    resolve,
    runtime_packages,
)

__all__ = ["FunctionBuild", "build_stack", "install_requirements", "mount_layers"]

logger = logging.getLogger(__name__)

BACKEND = "harness build"
PIP_TIMEOUT_S = 900.0


@dataclass(slots=True)
class FunctionBuild:
    """What :func:`build_stack` decided for one function."""

    interpreter: str
    runtime: str  # the runtime it really runs on
    note: str = ""  # why that is not the declared runtime
    path: list[str] = field(default_factory=list)  # after the task root, in order
    opt_dir: str = ""
    installed: bool = False  # dependencies were installed by this deploy (not from the cache)
    task_root: str = ""  # the artifact folder, when it is not the code folder (Node.js)


def _pip_command(interpreter: str, version: tuple[int, int]) -> list[str]:
    """``pip`` of the function's interpreter; the harness's own pip told the target version
    (binary wheels only) when that interpreter has none."""
    probe = subprocess.run(
        [interpreter, "-m", "pip", "--version"], capture_output=True, check=False, timeout=60
    )
    if probe.returncode == 0:
        return [interpreter, "-m", "pip"]
    return [
        sys.executable,
        "-m",
        "pip",
        "--python-version",
        f"{version[0]}.{version[1]}",
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]


def _publish(
    done: subprocess.CompletedProcess[str],
    command: list[str],
    tmp: Path,
    target: Path,
    *,
    what: str,
    file: str,
    owner: str,
    source: str,
    fix: str,
) -> None:
    """Move an installer's finished folder ``tmp`` into the cache as ``target`` (marked
    complete), or fail the deploy with the installer's own last lines and leave nothing."""
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise DeployError(
            f"{what} (exit {done.returncode}):\n  " + "\n  ".join(output[-25:]),
            file=file,
            logical_id=owner,
            property=source,
            backend=BACKEND,
            fix=fix,
        )
    (tmp / ".complete").write_text(" ".join(command) + "\n")
    try:
        tmp.rename(target)
    except OSError:  # a concurrent deploy built the same folder first
        shutil.rmtree(tmp, ignore_errors=True)


def install_requirements(
    requirements: Path,
    interpreter: str,
    version: tuple[int, int],
    *,
    owner: str,
    file: str,
    cache_dir: Path | None = None,
) -> tuple[Path, bool]:
    """``pip install -r requirements -t <cache>/deps/<hash>``; the folder and whether it was
    installed now (False: it was in the cache). ``owner`` names the function or layer in errors."""
    text = requirements.read_bytes()
    key = hashlib.sha256(
        b"\0".join(
            [
                text,
                (f"{version[0]}.{version[1]}").encode(),
                f"{sys.platform}-{platform.machine()}".encode(),
            ]
        )
    ).hexdigest()[:24]
    root = (cache_dir or build_cache_dir()) / "deps"
    target = root / f"py{version[0]}{version[1]}-{key}"
    if (target / ".complete").is_file():
        return target, False
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    command = [
        *_pip_command(interpreter, version),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-script-location",
        "--target",
        str(tmp),
        "-r",
        str(requirements),
    ]
    env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=requirements.parent,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=PIP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeployError(
            f"installing the dependencies of {owner} ({requirements}) took longer than "
            f"{PIP_TIMEOUT_S:.0f} s.",
            file=file,
            logical_id=owner,
            property="requirements.txt",
            backend=BACKEND,
            fix="check the package index is reachable (pip config list), then deploy again.",
        ) from None
    _publish(
        done,
        command,
        tmp,
        target,
        what=f"pip could not install the dependencies of {owner} from {requirements}",
        file=file,
        owner=owner,
        source="requirements.txt",
        fix="correct requirements.txt (the package names and versions pip names above).",
    )
    logger.info(
        "%s: installed %s in %.1f s into %s",
        owner,
        requirements.name,
        time.perf_counter() - started,
        target,
    )
    return target, True


def _node_dependencies(package: Path, owner: str, file: str) -> dict[str, Any]:
    try:
        data = json.loads(package.read_text())
    except (OSError, ValueError) as exc:
        raise DeployError(
            f"{package} is not valid JSON: {exc}.",
            file=file,
            logical_id=owner,
            property="package.json",
            backend=BACKEND,
            fix="correct package.json.",
        ) from None
    deps = data.get("dependencies") if isinstance(data, dict) else None
    return deps if isinstance(deps, dict) else {}


def install_node_modules(
    code: Path, node: str, *, owner: str, file: str, cache_dir: Path | None = None
) -> tuple[Path, bool]:
    """``npm install --omit=dev`` of ``code``'s package.json (and lock file) into the build cache
    (aws-lambda-builders' ``nodejs_npm`` workflow installs production dependencies the same
    way); the folder holding ``node_modules`` and whether it was installed now."""
    files = [code / "package.json", code / "package-lock.json"]
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    digest = hashlib.sha256(
        b"\0".join(
            [
                *(f.read_bytes() for f in files if f.is_file()),
                version.encode(),
                platform.machine().encode(),
            ]
        )
    ).hexdigest()[:24]
    root = (cache_dir or build_cache_dir()) / "node"
    target = root / f"{version.split('.')[0] or 'node'}-{digest}"
    if (target / ".complete").is_file():
        return target, False
    npm = shutil.which("npm", path=f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if npm is None:
        raise DeployError(
            f"{owner} declares dependencies in {code / 'package.json'} and npm is not installed.",
            file=file,
            logical_id=owner,
            property="package.json",
            backend=BACKEND,
            fix="install npm (it comes with Node.js), or ship node_modules in CodeUri.",
        )
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for f in files:
        if f.is_file():
            shutil.copy2(f, tmp / f.name)
    command = [npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"]
    try:
        done = subprocess.run(
            command, cwd=tmp, capture_output=True, text=True, check=False, timeout=PIP_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess(command, 124, "", "npm install timed out")
    _publish(
        done,
        command,
        tmp,
        target,
        what=f"npm could not install the dependencies of {owner} from {code / 'package.json'}",
        file=file,
        owner=owner,
        source="package.json",
        fix="correct package.json (the packages and versions npm names above).",
    )
    return target, True


def node_artifact(code: Path, deps: Path, root: Path) -> Path:
    """The function's artifact as ``sam build`` makes it (its code beside ``node_modules``), as
    links: one folder per code folder and dependency set, rebuilt when a top-level entry
    appears or goes."""
    entries = sorted(p.name for p in code.iterdir() if p.name != "node_modules")
    digest = hashlib.sha256(repr([str(code), str(deps), entries]).encode()).hexdigest()[:16]
    folder = root / digest
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for name in entries:
        (tmp / name).symlink_to(code / name, target_is_directory=(code / name).is_dir())
    (tmp / "node_modules").symlink_to(deps / "node_modules", target_is_directory=True)
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _mount(source: Path, dest: Path) -> None:
    """Merge ``source`` into ``dest`` as links: a later mount wins for a file, and folders
    present in both are merged (the way layers are extracted one after another into /opt)."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if entry.name in ("__pycache__", ".complete"):
            continue
        place = dest / entry.name
        if place.is_symlink() and place.is_dir() and entry.is_dir():
            previous = place.resolve()
            place.unlink()
            _mount(previous, place)
            _mount(entry, place)
        elif place.is_dir() and not place.is_symlink() and entry.is_dir():
            _mount(entry, place)
        else:
            if place.is_symlink() or place.is_file():
                place.unlink()
            elif place.is_dir():
                shutil.rmtree(place)
            place.symlink_to(entry, target_is_directory=entry.is_dir())


def mount_layers(parts: list[tuple[Path, str]], root: Path) -> Path:
    """One ``/opt`` folder of ``parts`` (each: a folder and where under /opt it goes, "" or
    "python"), named by the parts, made once."""
    listing = code_fingerprint([str(p) for p, _ in parts])  # a file added to a layer: a new tree
    digest = hashlib.sha256(repr([(str(p), at) for p, at in parts] + [listing]).encode())
    folder = root / digest.hexdigest()[:16]
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for source, at in parts:
        _mount(source, tmp / at if at else tmp)
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _layer_parts(
    layer: ResourceRecord,
    metadata: Mapping[str, Any],
    interpreter: str,
    version: tuple[int, int] | None,
    file: str,
    cache_dir: Path | None,
) -> list[tuple[Path, str]]:
    content = Path(str(layer.attributes.get("ContentDir") or ""))
    method = str(metadata.get("BuildMethod") or "")
    if not method.startswith("python"):
        return [(content, "")]
    parts: list[tuple[Path, str]] = [(content, "python")]
    requirements = content / "requirements.txt"
    if requirements.is_file() and version is not None:
        deps, _ = install_requirements(
            requirements,
            interpreter,
            version,
            owner=layer.logical_id,
            file=file,
            cache_dir=cache_dir,
        )
        parts.append((deps, "python"))
    return parts


def _metadata(metadata: Mapping[str, Mapping[str, Any]], logical_id: str) -> Mapping[str, Any]:
    """A resource's template ``Metadata``; for a layer SAM made from an
    ``AWS::Serverless::LayerVersion`` (its logical id + 10 hex digits), the SAM resource's."""
    found = metadata.get(logical_id)
    if found is None and re.fullmatch(r".+[0-9a-f]{10}", logical_id):
        found = metadata.get(logical_id[:-10])
    return found or {}


def _build_method_refusals(
    file: str, logical_id: str, metadata: Mapping[str, Any], runtime: str
) -> list[Unsupported]:
    """SAM's ``Metadata`` build hints: the default build of a Python or Node.js runtime (pip
    ``requirements.txt``, npm ``package.json``) is what the harness does; any other
    ``BuildMethod`` (``makefile``, ``esbuild``, a runtime other than the function's) and
    ``BuildProperties`` would change what runs, so they are refused rather than ignored."""
    method = str(metadata.get("BuildMethod") or "")
    out: list[Unsupported] = []
    python = method.startswith("python") and (
        runtime.startswith("python") or not runtime
    )  # a layer's python3.x build serves any Python function
    node = method.startswith("nodejs") and runtime.startswith("nodejs")
    if method and not (python or node):
        out.append(
            Unsupported(
                file,
                logical_id,
                "Metadata.BuildMethod",
                f"BuildMethod {method} is not how the harness builds code: it installs a Python "
                "function's or layer's requirements.txt with pip and a Node.js function's "
                "package.json with npm, as sam build does by default; a makefile or esbuild "
                "build would produce other code. Build the artifact yourself and point CodeUri/"
                "ContentUri at it, or remove the hint.",
                BACKEND,
            )
        )
    if metadata.get("BuildProperties"):
        out.append(
            Unsupported(
                file,
                logical_id,
                "Metadata.BuildProperties",
                "build properties (esbuild's or a makefile's options) are not applied by the "
                "harness's build.",
                BACKEND,
            )
        )
    return out


def build_stack(
    records: Mapping[str, ResourceRecord],
    metadata: Mapping[str, Mapping[str, Any]],
    *,
    file: str,
    work_dir: Path,
    cache_dir: Path | None = None,
    unsupported: list[Unsupported] | None = None,
) -> dict[str, FunctionBuild]:
    """Build every function of ``records``: logical id → :class:`FunctionBuild`.

    ``metadata`` is each resource's template ``Metadata`` (a layer's ``BuildMethod``);
    ``work_dir`` the stack's own folder for its ``/opt`` trees. What the build cannot honour
    (a layer that is not one of the stack's, a ``BuildMethod`` other than the runtime's own
    pip/npm install) is added to ``unsupported``: refused by the caller, never skipped."""
    found = unsupported if unsupported is not None else []
    layers = {
        rec.physical_id: rec for rec in records.values() if rec.type == "AWS::Lambda::LayerVersion"
    }
    builds: dict[str, FunctionBuild] = {}
    base: Path | None = None
    for logical_id, rec in records.items():
        if rec.type != "AWS::Lambda::Function":
            continue
        runtime = str(rec.properties.get("Runtime", "python3.11"))
        try:
            launch = resolve(runtime)
        except LookupError as exc:
            raise DeployError(
                str(exc),
                file=file,
                logical_id=logical_id,
                property="Runtime",
                backend=BACKEND,
                fix="use a Python 3.x or Node.js runtime the machine has.",
            ) from None
        if launch.note:
            logger.warning("%s: %s", logical_id, launch.note)
        build = FunctionBuild(launch.interpreter, launch.runtime, launch.note)
        version = python_version(launch.runtime)
        found.extend(
            _build_method_refusals(file, logical_id, _metadata(metadata, logical_id), runtime)
        )
        code_dir = rec.attributes.get("CodeDir")
        code = Path(str(code_dir)) if code_dir else None
        requirements = code / "requirements.txt" if code else None
        if version is not None and requirements is not None and requirements.is_file():
            deps, build.installed = install_requirements(
                requirements,
                launch.interpreter,
                version,
                owner=logical_id,
                file=file,
                cache_dir=cache_dir,
            )
            build.path.append(str(deps))
        package = code / "package.json" if code else None
        if (
            version is None
            and code is not None
            and package is not None
            and package.is_file()
            and not (code / "node_modules").is_dir()
            and _node_dependencies(package, logical_id, file)
        ):
            deps, build.installed = install_node_modules(
                code, launch.interpreter, owner=logical_id, file=file, cache_dir=cache_dir
            )
            build.task_root = str(node_artifact(code, deps, work_dir / "artifacts"))
        parts: list[tuple[Path, str]] = []
        for ref in rec.properties.get("Layers") or []:
            layer = layers.get(ref) if isinstance(ref, str) else None
            if layer is None:
                found.append(
                    Unsupported(
                        file,
                        logical_id,
                        "Layers",
                        f"layer {ref} is not a layer of this stack (a published or another "
                        "account's layer version): its content cannot be fetched locally, so the "
                        "function would run without it. Declare the layer in the template "
                        "(AWS::Serverless::LayerVersion with a local ContentUri) or ship what it "
                        "provides with the function.",
                        BACKEND,
                    )
                )
                continue
            layer_meta = _metadata(metadata, layer.logical_id)
            found.extend(_build_method_refusals(file, layer.logical_id, layer_meta, runtime))
            parts += _layer_parts(
                layer,
                layer_meta,
                launch.interpreter,
                version,
                file,
                cache_dir,
            )
        if parts:
            opt = mount_layers(parts, work_dir / "opt")
            build.opt_dir = str(opt)
            if version is not None:
                site = opt / "python" / "lib" / f"python{version[0]}.{version[1]}" / "site-packages"
                build.path += [str(site), str(opt / "python")]
            else:
                build.path.append(str(opt / "nodejs" / "node_modules"))
        if version is not None:
            if base is None:
                base = runtime_packages(cache_dir)
            compile_runtime_packages(base, launch.interpreter, version)
            build.path.append(str(base))
        builds[logical_id] = build
    return builds
