"""Local code as SAM CLI reads it: ``CodeUri``/``ContentUri`` (and ``Code: path``) name a folder
or a ``.zip`` file, relative to the template.

A zip is unpacked once per content (SHA-256) into the deploy's work folder, and that folder is the
code folder; a location that is neither gets a diagnosis that says what was found there.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

from harness.errors import DeployError

__all__ = ["local_code_folder"]


def local_code_folder(
    location: Path,
    *,
    work_dir: Path | None,
    file: str,
    logical_id: str,
    property: str,
    backend: str,
) -> Path:
    """The folder holding the code at ``location`` (a folder, or a zip unpacked into
    ``work_dir``); a :class:`DeployError` naming what is wrong otherwise."""
    if location.is_dir():
        return location
    if location.is_file():
        if not zipfile.is_zipfile(location):
            raise DeployError(
                f"{property} {location} is a file but not a zip archive.",
                file=file,
                logical_id=logical_id,
                property=property,
                backend=backend,
                fix=f"point {property} at the folder holding the code, or at a .zip of it.",
            )
        digest = hashlib.sha256(location.read_bytes()).hexdigest()[:16]
        root = work_dir if work_dir is not None else Path(tempfile.gettempdir()) / "harness-code"
        target = root / "zips" / f"{location.stem}-{digest}"
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            try:
                with zipfile.ZipFile(location) as archive:
                    for member in archive.namelist():
                        resolved = (partial / member).resolve()
                        if not resolved.is_relative_to(partial.resolve()):
                            raise DeployError(
                                f"{property} {location} has an entry outside the archive "
                                f"({member}).",
                                file=file,
                                logical_id=logical_id,
                                property=property,
                                backend=backend,
                                fix="rebuild the zip with relative paths only.",
                            )
                    archive.extractall(partial)
                partial.rename(target)
            except zipfile.BadZipFile as exc:
                raise DeployError(
                    f"{property} {location} cannot be unpacked: {exc}.",
                    file=file,
                    logical_id=logical_id,
                    property=property,
                    backend=backend,
                    fix="rebuild the zip.",
                ) from None
        return target
    kind = "zip archive" if location.suffix.lower() == ".zip" else "folder (or .zip)"
    parent = location.parent
    hint = (
        f"; {parent} holds: {', '.join(sorted(p.name for p in parent.iterdir())[:12]) or 'nothing'}"
        if parent.is_dir()
        else f"; its folder {parent} does not exist either"
    )
    raise DeployError(
        f"{property}: the {kind} {location} does not exist{hint}.",
        file=file,
        logical_id=logical_id,
        property=property,
        backend=backend,
        fix=f"set {property} to the code's folder or .zip, relative to the template.",
    )
