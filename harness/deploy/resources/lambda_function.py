"""AWS::Lambda::Function: recorded, not created on the emulator (the harness runtime runs it).

``CodeDir`` is the absolute folder of the code: SAM ``CodeUri`` (passed through the transform as
``s3://harness-local-code/<path>``), a plain ``Code: path`` string, or ``Code.ZipFile`` written to
the stack's work folder. :func:`validate` checks the handler file exists before anything is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.deploy.code_archive import local_code_folder
from harness.deploy.resources.base import LOCAL_CODE_BUCKET, Context, record
from harness.errors import DeployError
from harness.model import ResourceRecord

TYPES = ("AWS::Lambda::Function",)
BACKEND = "harness runtime"
PROPERTIES = frozenset(
    {
        "Code",
        "FunctionName",
        "Handler",
        "Runtime",
        "Environment",
        "Timeout",
        "MemorySize",
        "ReservedConcurrentExecutions",
        "Layers",
        "Role",
        "DeadLetterConfig",
        "TracingConfig",
        "LoggingConfig",
        "Architectures",
        "Description",
        "Tags",
        "EphemeralStorage",
    }
)
# accepted with no local effect, and why (unsupported.py)
IGNORED: dict[str, str] = {
    "CodeSigningConfigArn": "code signing is checked by AWS at deploy; local code is the folder itself",
    "KmsKeyArn": "encryption of environment variables at rest",
    "RecursiveLoop": "AWS stops recursive loops after 16 invocations; the runtime does not detect loops",
    "RuntimeManagementConfig": "when AWS updates the runtime; the local interpreter is the machine's",
    "VpcConfig": "subnets and security groups; everything is on loopback locally",
}
# refused at deploy (unless --allow-unsupported), and why
REFUSED: dict[str, str] = {
    "FileSystemConfigs": "EFS mounts are not provided locally",
    "ImageConfig": "container-image functions are not run locally (zip/folder code only)",
    "PackageType": "container-image functions are not run locally (zip/folder code only)",
    "SnapStart": "SnapStart snapshots are not emulated; cold starts are real interpreter starts",
}
ATTRIBUTES = ("Arn",)


def code_dir(ctx: Context, logical_id: str, code: Any) -> Path | None:
    """The absolute code folder of a function's ``Code`` property (None: not known yet)."""
    if isinstance(code, str):
        return _local(ctx, logical_id, ctx.stack_dir / code, "Code")
    if not isinstance(code, dict):
        return None
    if code.get("S3Bucket") == LOCAL_CODE_BUCKET and isinstance(code.get("S3Key"), str):
        return _local(ctx, logical_id, ctx.stack_dir / str(code["S3Key"]), "CodeUri")
    if "ZipFile" in code:
        folder = (ctx.work_dir or ctx.stack_dir / ".harness-code") / logical_id
        return folder.resolve()
    raise DeployError(
        "Code must be a local folder (SAM CodeUri: path, or Code: path) or inline ZipFile; "
        f"S3/image code cannot be fetched locally (got {code!r}).",
        file=ctx.file,
        logical_id=logical_id,
        property="Code",
        backend=BACKEND,
        fix="point CodeUri at the folder holding the handler, relative to the template.",
    )


def _local(ctx: Context, logical_id: str, path: Path, prop: str) -> Path:
    """A folder, or a zip unpacked (code_archive.py); a missing one diagnosed as such."""
    return local_code_folder(
        path.resolve(),
        work_dir=ctx.work_dir,
        file=ctx.file,
        logical_id=logical_id,
        property=prop,
        backend=BACKEND,
    )


def _handler_candidates(folder: Path, handler: str, runtime: str) -> list[Path]:
    module = handler.rsplit(".", 1)[0]
    if runtime.startswith("python"):
        rel = module.replace(".", "/")
        return [folder / f"{rel}.py", folder / rel / "__init__.py"]
    if runtime.startswith("nodejs"):
        return [folder / f"{module}{ext}" for ext in (".js", ".mjs", ".cjs", ".ts")]
    return []


def validate(ctx: Context, logical_id: str, props: dict[str, Any], layer_dirs: list[Path]) -> None:
    """The code folder and (for Python/Node) the handler's module file exist."""
    code = props.get("Code")
    if isinstance(code, dict) and "ZipFile" in code:
        return
    folder = code_dir(ctx, logical_id, code)
    if folder is None:
        return
    if not folder.is_dir():
        raise DeployError(
            f"the code folder {folder} does not exist.",
            file=ctx.file,
            logical_id=logical_id,
            property="CodeUri",
            backend=BACKEND,
            fix="set CodeUri to the folder holding the handler, relative to the template.",
        )
    handler, runtime = props.get("Handler"), props.get("Runtime")
    if not isinstance(handler, str) or not isinstance(runtime, str):
        return
    candidates = _handler_candidates(folder, handler, runtime)
    for layer in layer_dirs:
        for base in (layer / "python", layer / "nodejs" / "node_modules", layer):
            candidates += _handler_candidates(base, handler, runtime)
    if candidates and not any(path.is_file() for path in candidates):
        raise DeployError(
            f"handler '{handler}' ({runtime}) has no module file: looked for {candidates[0]}.",
            file=ctx.file,
            logical_id=logical_id,
            property="Handler",
            backend=BACKEND,
            fix="create the file or correct Handler (module.function) / CodeUri.",
        )


def create(ctx: Context, logical_id: str, props: dict[str, Any]) -> ResourceRecord:
    name = str(props.get("FunctionName") or ctx.physical_name(logical_id, max_len=64))
    return _record(ctx, logical_id, name, props)


def _record(ctx: Context, logical_id: str, name: str, props: dict[str, Any]) -> ResourceRecord:
    code = props.get("Code")
    folder = code_dir(ctx, logical_id, code)
    if isinstance(code, dict) and "ZipFile" in code and folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".js" if str(props.get("Runtime", "")).startswith("node") else ".py"
        (folder / f"index{suffix}").write_text(str(code["ZipFile"]))
    arn = ctx.arn("lambda", f"function:{name}")
    return record(
        logical_id, TYPES[0], name, props, arn=arn, Arn=arn, CodeDir=str(folder) if folder else None
    )


def update(ctx: Context, old: ResourceRecord, props: dict[str, Any]) -> ResourceRecord:
    if old.properties.get("FunctionName") != props.get("FunctionName"):
        return create(ctx, old.logical_id, props)
    return _record(ctx, old.logical_id, old.physical_id, props)


def delete(ctx: Context, rec: ResourceRecord) -> None:
    return None
