"""A stack folder read and checked: template (YAML/JSON), harness.yaml, cfn-lint, SAM transform.

Steps, each failing with a :class:`DeployError` that names the file and the resource:

1. :func:`load_source` reads ``template.yaml`` (or ``.yml`` / ``.json``) and ``harness.yaml``;
2. :func:`lint` runs cfn-lint and reports its errors (not warnings);
3. :func:`transform` first replaces every ``Fn::Transform`` of ``AWS::Include`` with the file it
   names (a path relative to the template, or ``s3://bucket/key`` in the environment's own S3, as
   ``sam deploy`` would after ``sam package``), then expands ``AWS::Serverless-2016-10-31`` with
   aws-sam-translator, passing local ``CodeUri``/``ContentUri`` folders (or ``.zip`` files)
   through as ``s3://harness-local-code/<path>``.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.deploy.resources.base import LOCAL_CODE_BUCKET
from harness.deploy.yaml_loader import (
    load_snippet_text,
    load_template_file,
    load_template_text,
)
from harness.errors import DeployError

if TYPE_CHECKING:
    from harness.deploy.unsupported import Unsupported

__all__ = ["SAM_TRANSFORM", "StackSource", "expand_includes", "lint", "load_source", "transform"]

S3Reader = Callable[[str, str], bytes]  # (bucket, key) -> the object's bytes

logger = logging.getLogger(__name__)

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")


@dataclass
class StackSource:
    name: str
    stack_dir: Path
    template_path: Path
    text: str
    template: dict[str, Any]
    profile: dict[str, Any] = field(default_factory=dict)


def load_source(stack_dir: Path) -> StackSource:
    stack_dir = Path(stack_dir).resolve()
    if not stack_dir.is_dir():
        raise DeployError(
            f"stack folder {stack_dir} does not exist.",
            fix="pass the folder that holds template.yaml.",
        )
    path = next((stack_dir / n for n in TEMPLATE_NAMES if (stack_dir / n).is_file()), None)
    if path is None:
        raise DeployError(
            f"no template.yaml (or template.yml / template.json) in {stack_dir}.",
            fix="put the SAM/CloudFormation template in the stack folder as template.yaml.",
        )
    text = path.read_text(encoding="utf-8")
    template = load_template_text(text, str(path))
    profile: dict[str, Any] = {}
    profile_path = stack_dir / "harness.yaml"
    if profile_path.is_file():
        try:
            loaded = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f" at line {mark.line + 1}" if mark else ""
            raise DeployError(
                f"YAML syntax error{line}: {exc.problem}.", file=str(profile_path)
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise DeployError("harness.yaml must be a mapping.", file=str(profile_path))
        profile = loaded or {}
    if profile.get("name"):
        name = str(profile["name"])
        if not _STACK_NAME.fullmatch(name):
            raise DeployError(
                f"stack name '{name}' is not valid: use letters, digits and '-', starting with a "
                "letter, at most 128 characters (as CloudFormation).",
                file=str(profile_path),
                property="name",
            )
    else:  # the folder name, made a valid stack name (my_stack -> my-stack)
        name = re.sub(r"[^A-Za-z0-9-]+", "-", stack_dir.name).strip("-")[:128]
        if not name or not name[0].isalpha():
            name = f"stack-{name}".rstrip("-")
    return StackSource(name, stack_dir, path, text, template, profile)


def load_child_source(template_path: Path, name: str) -> StackSource:
    """A nested stack's template file as a :class:`StackSource` named ``name`` (its folder is
    the template's own: CodeUri and includes are relative to it, as in SAM CLI)."""
    path = Path(template_path).resolve()
    text = path.read_text(encoding="utf-8")
    return StackSource(name, path.parent, path, text, load_template_text(text, str(path)))


def _remote_applications(
    template: dict[str, Any], file: str, unsupported: list[Unsupported] | None
) -> dict[str, Any]:
    """SAM applications from the Serverless Application Repository (``Location`` with
    ``ApplicationId``/``SemanticVersion``) or a remote URL: refused, and removed before the SAM
    transform (whose plugin would call the repository)."""
    from harness.deploy.unsupported import Unsupported

    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return template
    found = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Application":
            continue
        location = (resource.get("Properties") or {}).get("Location")
        if isinstance(location, dict):
            why = (
                "an application from the Serverless Application Repository "
                f"({location.get('ApplicationId', '?')} {location.get('SemanticVersion', '')}) "
                "would be downloaded from AWS; only a template file relative to the parent "
                "template is deployed locally (as `sam local` does)"
            )
        elif isinstance(location, str) and location.startswith(("s3://", "http://", "https://")):
            why = (
                f"the nested application's template {location} is remote; only a template file "
                "relative to the parent template is deployed locally (as `sam local` does)"
            )
        else:
            continue
        item = Unsupported(file, logical_id, "Location", why, "harness deploy (nested stack)")
        if unsupported is None:
            raise DeployError(why, file=file, logical_id=logical_id, property="Location")
        unsupported.append(item)
        found.append(logical_id)
    if not found:
        return template
    return {**template, "Resources": {k: v for k, v in resources.items() if k not in found}}


def _transforms(template: dict[str, Any]) -> list[str]:
    value = template.get("Transform") or []
    return [value] if isinstance(value, str) else list(value)


def lint(source: StackSource, region: str = "us-east-1") -> None:
    """Run cfn-lint on the template; its errors (not warnings) become one DeployError."""
    from cfnlint.api import lint as cfn_lint
    from cfnlint.config import ManualArgs

    matches = cfn_lint(source.text, config=ManualArgs(regions=[region]))
    errors = [m for m in matches if str(getattr(m.rule, "severity", "error")).lower() == "error"]
    if not errors:
        return
    problems = []
    for match in errors:
        path = list(getattr(match, "path", None) or [])
        where = "/".join(str(p) for p in path) or "template"
        problems.append(f"{match.rule.id} at line {match.linenumber}, {where}: {match.message}")
    first = errors[0]
    first_path = list(getattr(first, "path", None) or [])
    logical_id = (
        str(first_path[1]) if len(first_path) > 1 and first_path[0] == "Resources" else None
    )
    prop = str(first_path[3]) if len(first_path) > 3 and first_path[2] == "Properties" else None
    raise DeployError(
        f"cfn-lint found {len(errors)} error(s):\n  " + "\n  ".join(problems),
        file=str(source.template_path),
        logical_id=logical_id,
        property=prop,
        backend="cfn-lint",
        fix="correct the template at the lines above (rule ids are documented at "
        "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md).",
        problems=problems,
    )


class _FakeManagedPolicies(dict):  # type: ignore[type-arg]
    """Any AWS managed policy name maps to a well-formed ARN; no IAM call is made."""

    def get(self, key: Any, default: Any = None) -> str:
        return f"arn:aws:iam::aws:policy/{key}"


def _local_uri(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def _publish_with_code(props: dict[str, Any], globals_fn: dict[str, Any], stack_dir: Path) -> None:
    """AutoPublishAlias publishes a new version when the code changes: SAM names the version
    by a hash of the code's S3 location, which ``sam deploy`` changes with the code but a local
    folder's path never does, so the folder's fingerprint is given as AutoPublishCodeSha256
    (unless the template sets it)."""
    from harness.deploy.specs.functions import code_fingerprint

    alias = props.get("AutoPublishAlias") or globals_fn.get("AutoPublishAlias")
    code = props.get("CodeUri") or globals_fn.get("CodeUri")
    local = f"s3://{LOCAL_CODE_BUCKET}/"
    if isinstance(code, str) and code.startswith(local):  # Globals' CodeUri, passed through
        code = code[len(local) :]
    if not alias or "AutoPublishCodeSha256" in props or not _local_uri(code):
        return
    folder = (stack_dir / str(code)).resolve()
    if folder.exists():
        props["AutoPublishCodeSha256"] = code_fingerprint([str(folder)])


def _prepare_sam(template: dict[str, Any], stack_dir: Path, file: str) -> dict[str, Any]:
    template = copy.deepcopy(template)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    if _local_uri(globals_fn.get("CodeUri")):
        globals_fn["CodeUri"] = f"s3://{LOCAL_CODE_BUCKET}/{globals_fn['CodeUri']}"
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            _publish_with_code(props, globals_fn, stack_dir)
        if kind == "AWS::Serverless::Function" and _local_uri(props.get("CodeUri")):
            props["CodeUri"] = f"s3://{LOCAL_CODE_BUCKET}/{props['CodeUri']}"
        if kind == "AWS::Serverless::LayerVersion" and _local_uri(props.get("ContentUri")):
            props["ContentUri"] = f"s3://{LOCAL_CODE_BUCKET}/{props['ContentUri']}"
        if kind in (
            "AWS::Serverless::Api",
            "AWS::Serverless::HttpApi",
            "AWS::Serverless::StateMachine",
        ):
            key = "DefinitionUri"
            if _local_uri(props.get(key)):
                path = stack_dir / props.pop(key)
                if not path.is_file():
                    raise DeployError(
                        f"DefinitionUri {path} does not exist.",
                        file=file,
                        logical_id=logical_id,
                        property=key,
                    )
                props[
                    "DefinitionBody" if kind != "AWS::Serverless::StateMachine" else "Definition"
                ] = load_template_file_any(path)
    return template


def _include_text(
    location: str, stack_dir: Path, file: str, where: str, s3_reader: S3Reader | None
) -> tuple[str, str]:
    """The text an ``AWS::Include`` location names, and a name for it in errors."""
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        if s3_reader is None:
            raise DeployError(
                f"AWS::Include Location {location} is in S3, which is only read at deploy.",
                file=file,
                logical_id=where,
                property="Fn::Transform.Parameters.Location",
                fix="deploy onto a running environment (`harness up`), or use a local path.",
            )
        try:
            return s3_reader(bucket, key).decode("utf-8"), location
        except Exception as exc:  # any S3 error: named, with the fix
            raise DeployError(
                f"AWS::Include Location {location} cannot be read from the environment's S3: "
                f"{exc}.",
                file=file,
                logical_id=where,
                property="Fn::Transform.Parameters.Location",
                backend="ministack S3",
                fix="upload the file first (aws s3 cp FILE s3://BUCKET/KEY --endpoint-url "
                "$(harness up --json | jq -r .aws_endpoint)), or use a path relative to the "
                "template.",
            ) from None
    if "://" in location:
        raise DeployError(
            f"AWS::Include Location {location}: only paths relative to the template and s3:// "
            "locations can be read.",
            file=file,
            logical_id=where,
            property="Fn::Transform.Parameters.Location",
        )
    path = (stack_dir / location).resolve()
    if not path.is_file():
        raise DeployError(
            f"AWS::Include Location {location} does not exist (looked for {path}, relative to "
            "the template as SAM CLI reads it).",
            file=file,
            logical_id=where,
            property="Fn::Transform.Parameters.Location",
            fix="correct the path, relative to the template's folder.",
        )
    return path.read_text(encoding="utf-8"), str(path)


def expand_includes(
    node: Any,
    stack_dir: Path,
    file: str,
    *,
    s3_reader: S3Reader | None = None,
    unsupported: list[Unsupported] | None = None,
    where: str = "template",
    depth: int = 0,
) -> Any:
    """``node`` with every ``Fn::Transform`` of ``AWS::Include`` replaced by the snippet its
    ``Location`` names (keys beside ``Fn::Transform`` are merged over the snippet, as
    CloudFormation does); any other macro is refused (added to ``unsupported``, else raised)."""
    from harness.deploy.unsupported import Unsupported

    if depth > 20:
        raise DeployError("AWS::Include nests more than 20 levels.", file=file, logical_id=where)
    if isinstance(node, list):
        return [
            expand_includes(
                v,
                stack_dir,
                file,
                s3_reader=s3_reader,
                unsupported=unsupported,
                where=where,
                depth=depth,
            )
            for v in node
        ]
    if not isinstance(node, dict):
        return node
    if "Fn::Transform" in node:
        spec = node["Fn::Transform"]
        spec = spec[0] if isinstance(spec, list) and len(spec) == 1 else spec
        name = spec.get("Name") if isinstance(spec, dict) else None
        if name == "AWS::Include":
            location = (spec.get("Parameters") or {}).get("Location")
            if not isinstance(location, str):
                raise DeployError(
                    "AWS::Include needs Parameters.Location as a plain string.",
                    file=file,
                    logical_id=where,
                    property="Fn::Transform.Parameters.Location",
                )
            text, name_for_errors = _include_text(location, stack_dir, file, where, s3_reader)
            snippet = load_snippet_text(text, name_for_errors)
            snippet = expand_includes(
                snippet,
                stack_dir,
                file,
                s3_reader=s3_reader,
                unsupported=unsupported,
                where=where,
                depth=depth + 1,
            )
            rest = {k: v for k, v in node.items() if k != "Fn::Transform"}
            if not rest:
                return snippet
            if not isinstance(snippet, dict):
                raise DeployError(
                    f"AWS::Include {location} is not a mapping, so it cannot be merged with "
                    f"the keys beside it ({', '.join(rest)}).",
                    file=file,
                    logical_id=where,
                )
            node = {**snippet, **rest}
        else:
            reason = f"macro {name or '?'} (Fn::Transform) is not run locally; only AWS::Include is"
            if unsupported is None:
                raise DeployError(reason, file=file, logical_id=where, property="Fn::Transform")
            unsupported.append(Unsupported(file, where, "Fn::Transform", reason))
            return node
    out = {}
    for key, value in node.items():
        inner = key if where == "template" and key in ("Resources", "Outputs") else where
        if where in ("Resources", "Outputs"):
            inner = key
        out[key] = expand_includes(
            value,
            stack_dir,
            file,
            s3_reader=s3_reader,
            unsupported=unsupported,
            where=inner,
            depth=depth,
        )
    return out


def load_template_file_any(path: Path) -> Any:
    try:
        return load_template_file(path)
    except DeployError:
        return yaml.safe_load(path.read_text(encoding="utf-8"))


def transform(
    source: StackSource,
    parameters: dict[str, Any],
    *,
    region: str,
    account_id: str,
    unsupported: list[Unsupported] | None = None,
    s3_reader: S3Reader | None = None,
) -> dict[str, Any]:
    """The plain CloudFormation template: includes expanded, then SAM expanded."""
    template = expand_includes(
        source.template,
        source.stack_dir,
        str(source.template_path),
        s3_reader=s3_reader,
        unsupported=unsupported,
    )
    template = _remote_applications(template, str(source.template_path), unsupported)
    transforms = _transforms(template)
    other = [t for t in transforms if t != SAM_TRANSFORM]
    if other:
        raise DeployError(
            f"transform(s) {', '.join(map(str, other))} are not supported locally.",
            file=str(source.template_path),
            property="Transform",
            backend="harness deploy",
            fix=f"use only {SAM_TRANSFORM}, or expand the template before deploying.",
        )
    if not transforms:
        return copy.deepcopy(template)
    import boto3
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    prepared = _prepare_sam(template, source.stack_dir, str(source.template_path))
    values = {
        **{k: ",".join(v) if isinstance(v, list) else v for k, v in parameters.items()},
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": source.name,
        "AWS::Partition": "aws",
    }
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics
    )
    try:
        result: dict[str, Any] = translator.translate(
            prepared, parameter_values=values, get_managed_policy_map=_FakeManagedPolicies
        )
    except InvalidDocumentException as exc:
        causes = [getattr(c, "message", str(c)) for c in exc.causes]
        first = exc.causes[0] if exc.causes else None
        raise DeployError(
            "the SAM transform failed:\n  " + "\n  ".join(causes),
            file=str(source.template_path),
            logical_id=getattr(first, "_logical_id", None),
            backend="aws-sam-translator",
            fix="correct the SAM resource(s) named above.",
            problems=causes,
        ) from None
    finally:
        metrics.publish()  # to the dummy publisher: nothing leaves the machine
    return result
