"""FunctionSpec for each AWS::Lambda::Function: code, environment, limits, layers, role policies,
dead-letter target and EventInvokeConfig."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from harness.model import FunctionSpec, ResourceRecord

__all__ = ["FunctionIndex", "build_functions", "check_aliases", "code_fingerprint"]

logger = logging.getLogger(__name__)


class FunctionIndex:
    """Finds a function's logical id from a name, an ARN, a version/alias ARN or a logical id."""

    def __init__(self, records: Mapping[str, ResourceRecord]) -> None:
        self.by_key: dict[str, str] = {}
        self.physical: dict[str, str] = {}
        for logical_id, rec in records.items():
            if rec.type == "AWS::Lambda::Function":
                self.physical[logical_id] = rec.physical_id
                for key in (logical_id, rec.physical_id, rec.arn or ""):
                    if key:
                        self.by_key[key] = logical_id

    def find(self, reference: Any) -> str | None:
        if not isinstance(reference, str):
            return None
        if reference in self.by_key:
            return self.by_key[reference]
        if reference.startswith("arn:") and ":function:" in reference:
            # arn:aws:lambda:region:account:function:name[:qualifier][/invocations]
            name = reference.split(":function:", 1)[1].split("/", 1)[0].split(":", 1)[0]
            return self.by_key.get(name)
        return None

    def target(self, reference: Any) -> str | None:
        """What an event source invokes: the function's logical id, or ``<name>:<qualifier>``
        when the reference names an alias or a version (the runtime resolves it per call)."""
        found = self.find(reference)
        qualifier = qualifier_of(reference)
        if found is not None and qualifier:
            return f"{self.physical[found]}:{qualifier}"
        return found


def qualifier_of(reference: Any) -> str | None:
    """``live`` of ``arn:aws:lambda:r:a:function:name:live`` or ``name:live``, else None."""
    if not isinstance(reference, str) or "/" in reference:
        return None
    tail = reference.split(":function:", 1)[-1] if reference.startswith("arn:") else reference
    if reference.startswith("arn:") and ":function:" not in reference:
        return None
    name, _, qualifier = tail.partition(":")
    return qualifier if name and qualifier else None


def _policy_documents(
    role: ResourceRecord | None, records: Mapping[str, ResourceRecord]
) -> list[dict[str, Any]]:
    if role is None:
        return []
    docs: list[dict[str, Any]] = []
    for policy in role.properties.get("Policies") or []:
        doc = policy.get("PolicyDocument")
        if isinstance(doc, dict):
            docs.append({**doc, "PolicyName": policy.get("PolicyName")})
    managed_docs = {
        rec.physical_id: rec.properties.get("PolicyDocument")
        for rec in records.values()
        if rec.type == "AWS::IAM::ManagedPolicy"
    }
    for arn in role.properties.get("ManagedPolicyArns") or []:
        doc = managed_docs.get(arn)
        if isinstance(doc, dict):
            docs.append({**doc, "ManagedPolicyArn": arn})
        else:
            docs.append({"Version": "2012-10-17", "Statement": [], "ManagedPolicyArn": arn})
    for rec in records.values():
        if rec.type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and role.physical_id in (
            rec.properties.get("Roles") or []
        ):
            doc = rec.properties.get("PolicyDocument")
            if isinstance(doc, dict) and doc not in docs:
                name = rec.properties.get("PolicyName") or rec.physical_id
                docs.append({**doc, "PolicyName": name})
    return docs


def code_fingerprint(folders: list[str], memo: dict[str, str] | None = None) -> str:
    """A digest of every file (path, size, modification time) under ``folders``, without
    ``__pycache__``: it changes whenever a file of the function's code or layers is edited,
    added or removed. ``memo`` shares one walk per folder between the functions of a stack."""
    digest = hashlib.sha256()
    for folder in folders:
        if memo is not None and folder in memo:
            part = memo[folder]
        else:
            inner = hashlib.sha256()
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    path = os.path.join(root, name)
                    try:
                        info = os.stat(path)
                    except OSError:
                        continue
                    rel = os.path.relpath(path, folder)
                    inner.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            part = inner.hexdigest()
            if memo is not None:
                memo[folder] = part
        digest.update(f"{folder}\0{part}\n".encode())
    return digest.hexdigest()


def build_functions(
    records: Mapping[str, ResourceRecord], builds: Mapping[str, Any] | None = None
) -> dict[str, FunctionSpec]:
    """A :class:`FunctionSpec` per function; ``builds`` (logical id →
    :class:`harness.deploy.build.FunctionBuild`) says what it runs on and what is on its path."""
    roles = {
        key: rec
        for rec in records.values()
        if rec.type == "AWS::IAM::Role"
        for key in (rec.arn or "", rec.physical_id)
        if key
    }
    layers = {
        rec.physical_id: rec.attributes.get("ContentDir")
        for rec in records.values()
        if rec.type == "AWS::Lambda::LayerVersion"
    }
    index = FunctionIndex(records)
    invoke_configs: dict[str, dict[str, Any]] = {}
    for rec in records.values():
        if rec.type == "AWS::Lambda::EventInvokeConfig":
            target = index.find(rec.properties.get("FunctionName"))
            if target:
                invoke_configs[target] = rec.properties
    provisioned: dict[str, int] = {}
    for rec in records.values():
        # SAM: AutoPublishAlias + ProvisionedConcurrencyConfig become an alias carrying it
        config = rec.properties.get("ProvisionedConcurrencyConfig") or {}
        if rec.type == "AWS::Lambda::Alias" and config.get("ProvisionedConcurrentExecutions"):
            target = index.find(rec.properties.get("FunctionName"))
            if target:
                provisioned[target] = int(config["ProvisionedConcurrentExecutions"])
    specs: dict[str, FunctionSpec] = {}
    walked: dict[str, str] = {}
    for logical_id, rec in records.items():
        if rec.type != "AWS::Lambda::Function":
            continue
        props = rec.properties
        role_arn = props.get("Role")
        role = roles.get(role_arn) if isinstance(role_arn, str) else None
        layer_dirs = []
        for layer in props.get("Layers") or []:
            folder = layers.get(layer)
            if folder:
                layer_dirs.append(str(folder))
            else:
                logger.warning(
                    "%s: layer %s is not a local layer of this stack; left out (--allow-unsupported)",
                    logical_id,
                    layer,
                )
        variables = (props.get("Environment") or {}).get("Variables") or {}
        config = invoke_configs.get(logical_id, {})
        destinations = config.get("DestinationConfig") or {}
        logging_config = props.get("LoggingConfig") or {}
        reserved = props.get("ReservedConcurrentExecutions")
        code_dir = str(rec.attributes.get("CodeDir") or "")
        built = (builds or {}).get(logical_id)
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=rec.physical_id,
            arn=rec.arn or "",
            handler=str(props.get("Handler", "index.handler")),
            runtime=str(props.get("Runtime", "python3.11")),
            code_dir=code_dir,
            environment={str(k): _text(v) for k, v in variables.items()},
            timeout=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            reserved_concurrency=int(reserved) if reserved is not None else None,
            provisioned_concurrency=provisioned.get(logical_id, 0),
            layers=layer_dirs,
            role_arn=role_arn if isinstance(role_arn, str) else None,
            policies=_policy_documents(role, records),
            dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
            on_failure_arn=(destinations.get("OnFailure") or {}).get("Destination"),
            on_success_arn=(destinations.get("OnSuccess") or {}).get("Destination"),
            maximum_retry_attempts=int(config.get("MaximumRetryAttempts", 2)),
            maximum_event_age_s=int(config.get("MaximumEventAgeInSeconds", 21600)),
            tracing=(props.get("TracingConfig") or {}).get("Mode"),
            log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{rec.physical_id}"),
            # built dependency folders are named by their content (the spec's path changes)
            code_fingerprint=code_fingerprint([d for d in (code_dir, *layer_dirs) if d], walked),
            interpreter=built.interpreter if built else "",
            execution_env=built.runtime if built else "",
            runtime_note=built.note if built else "",
            path=list(built.path) if built else [],
            opt_dir=built.opt_dir if built else "",
            task_root=built.task_root if built else "",
        )
    _add_versions(records, specs, index)
    return specs


def _versions(records: Mapping[str, ResourceRecord], index: FunctionIndex) -> dict[str, set[str]]:
    """Per function (logical id), the numbers of its published versions."""
    found: dict[str, set[str]] = {}
    for rec in records.values():
        if rec.type == "AWS::Lambda::Version":
            target = index.find(rec.attributes.get("FunctionArn"))
            if target:
                found.setdefault(target, set()).add(str(rec.attributes.get("Version")))
    return found


def _alias_routes(rec: ResourceRecord) -> tuple[str, dict[str, float]]:
    routing = rec.properties.get("RoutingConfig") or {}
    weights = {
        str(item.get("FunctionVersion")): float(item.get("FunctionWeight", 0))
        for item in routing.get("AdditionalVersionWeights") or []
    }
    return str(rec.properties.get("FunctionVersion", "$LATEST")), weights


def check_aliases(records: Mapping[str, ResourceRecord], file: str) -> None:
    """Every version an alias routes to is $LATEST or one this stack published, and no Node.js
    function has versions (its build artifact is not snapshotted)."""
    from harness.errors import DeployError

    index = FunctionIndex(records)
    published = _versions(records, index)
    for versioned in published:
        runtime = str(records[versioned].properties.get("Runtime", ""))
        if runtime.startswith("nodejs"):
            raise DeployError(
                f"{versioned} ({runtime}) has published versions, but a Node.js function runs from "
                "its current build artifact (node_modules), which is not snapshotted per "
                "version: every version would run the current code.",
                file=file,
                logical_id=versioned,
                property="AutoPublishAlias / AWS::Lambda::Version",
                fix="test versions and aliases with a Python function, or remove the version.",
            )
    for logical_id, rec in records.items():
        if rec.type != "AWS::Lambda::Alias":
            continue
        target = index.find(rec.properties.get("FunctionName"))
        if target is None:
            continue
        main, weights = _alias_routes(rec)
        for version in (main, *weights):
            if version != "$LATEST" and version not in published.get(target, set()):
                raise DeployError(
                    f"alias {rec.properties.get('Name')} routes to version {version} of "
                    f"{target}, which this stack has not published (published: "
                    f"{', '.join(sorted(published.get(target, set()))) or 'none'}).",
                    file=file,
                    logical_id=logical_id,
                    property="FunctionVersion",
                    fix="point the alias at !GetAtt <AWS::Lambda::Version>.Version.",
                )


def _add_versions(
    records: Mapping[str, ResourceRecord], specs: dict[str, FunctionSpec], index: FunctionIndex
) -> None:
    """One spec per published version (``<LogicalId>:<n>``, served as ``<name>:<n>``): the
    function's spec with the version's code snapshot and configuration; and each alias's
    routing on the function's own spec."""
    import dataclasses

    for rec in records.values():
        target = index.find(rec.attributes.get("FunctionArn"))
        if target is None or target not in specs:
            continue
        base = specs[target]
        if rec.type == "AWS::Lambda::Alias":
            main, weights = _alias_routes(rec)
            base.aliases[str(rec.properties.get("Name"))] = {"version": main, "weights": weights}
        if rec.type != "AWS::Lambda::Version":
            continue
        number = str(rec.attributes.get("Version"))
        snapshot = str(rec.attributes.get("SnapshotDir") or base.code_dir)
        frozen = rec.attributes.get("FunctionProperties") or {}
        variables = (frozen.get("Environment") or {}).get("Variables") or {}
        specs[f"{target}:{number}"] = dataclasses.replace(
            base,
            name=f"{base.name}:{number}",
            arn=f"{base.arn}:{number}",
            version=number,
            code_dir=snapshot,
            task_root=snapshot if base.task_root in ("", base.code_dir) else base.task_root,
            handler=str(frozen.get("Handler", base.handler)),
            environment={str(k): _text(v) for k, v in variables.items()}
            if frozen
            else dict(base.environment),
            timeout=float(frozen.get("Timeout", base.timeout)),
            memory_mb=int(frozen.get("MemorySize", base.memory_mb)),
            code_fingerprint=code_fingerprint([snapshot, *base.layers]),
            aliases={},
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
