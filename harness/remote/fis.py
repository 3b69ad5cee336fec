"""A scenario's faults on a remote target, as AWS FIS experiment templates.

Each fault on the timeline becomes one ``CreateExperimentTemplate`` request (the harness starts it
at the fault's instant on the run's timeline; its ``duration`` parameter is the fault's window):

==============================================  ==============================================
scenario action                                 FIS action
==============================================  ==============================================
``lambda:invocation-add-delay``                 ``aws:lambda:invocation-add-delay``
``lambda:latency`` (startupDelayMilliseconds)   ``aws:lambda:invocation-add-delay``
``lambda:invocation-error``,                    ``aws:lambda:invocation-error``
``lambda:exception``
``lambda:invocation-http-integration-response``, ``aws:lambda:invocation-http-integration-response``
``lambda:statuscode``
``az:failure``                                  ``aws:network:disrupt-connectivity`` (the
                                                stack's subnets in ``target.availability_zone``)
``lambda:throttle``                             ``aws:ssm:start-automation-execution`` of a
                                                document the plan prints (reserved concurrency
                                                0, restored at the end): FIS has no action
==============================================  ==============================================

Targets are chosen by the tags CloudFormation puts on every resource it creates
(``aws:cloudformation:stack-name`` and ``aws:cloudformation:logical-id``), so a plan needs no
call to the account. Stop conditions are the stack's CloudWatch alarms (any alarm in ALARM stops
the experiment); a stack without alarms gets ``source: none`` and a warning. Every template is
checked with botocore's own parameter validation against the FIS service model it ships. Any
other action has no remote equivalent and is refused by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.remote.target import AwsTarget, RemoteStack

__all__ = [
    "FIS_ACTIONS",
    "FisPlan",
    "FisTemplate",
    "UnsupportedFaultError",
    "plan_experiments",
    "validate_template",
]

STACK_TAG = "aws:cloudformation:stack-name"
LOGICAL_TAG = "aws:cloudformation:logical-id"
ROLE_PLACEHOLDER = "arn:aws:iam::ACCOUNT_ID:role/harness-fis"

# scenario action -> FIS action id
FIS_ACTIONS: dict[str, str] = {
    "lambda:invocation-add-delay": "aws:lambda:invocation-add-delay",
    "lambda:latency": "aws:lambda:invocation-add-delay",
    "lambda:invocation-error": "aws:lambda:invocation-error",
    "lambda:exception": "aws:lambda:invocation-error",
    "lambda:invocation-http-integration-response": (
        "aws:lambda:invocation-http-integration-response"
    ),
    "lambda:statuscode": "aws:lambda:invocation-http-integration-response",
    "az:failure": "aws:network:disrupt-connectivity",
    "lambda:throttle": "aws:ssm:start-automation-execution",
}

_LAMBDA_PERMISSIONS = [
    "lambda:GetFunction",
    "tag:GetResources",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
]
_NETWORK_PERMISSIONS = [
    "ec2:CreateNetworkAcl",
    "ec2:CreateNetworkAclEntry",
    "ec2:CreateTags",
    "ec2:DeleteNetworkAcl",
    "ec2:DescribeManagedPrefixLists",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:GetManagedPrefixListEntries",
    "ec2:ReplaceNetworkAclAssociation",
    "tag:GetResources",
]
_SSM_PERMISSIONS = [
    "ssm:GetAutomationExecution",
    "ssm:StartAutomationExecution",
    "ssm:StopAutomationExecution",
    "iam:PassRole",
]
# what the harness itself needs for --apply
CALLER_PERMISSIONS = [
    "cloudformation:DescribeStacks",
    "cloudformation:ListStackResources",
    "fis:CreateExperimentTemplate",
    "fis:GetExperiment",
    "fis:StartExperiment",
    "fis:StopExperiment",
    "fis:TagResource",
    "iam:PassRole",
    "ssm:CreateDocument",
]


class UnsupportedFaultError(ConfigError):
    """A scenario fault with no FIS equivalent (refused by name, never skipped)."""


@dataclass
class FisTemplate:
    fault: str  # the scenario fault's label
    phase: str
    start_s: float  # on the run's timeline
    duration_s: float
    request: dict[str, Any]  # CreateExperimentTemplate input
    permissions: list[str]  # what the FIS role needs for it
    documents: dict[str, Any] = field(default_factory=dict)  # SSM documents it runs, by name
    prerequisites: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "phase": self.phase,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "create_experiment_template": self.request,
            "role_permissions": self.permissions,
            "ssm_documents": self.documents,
            "prerequisites": self.prerequisites,
        }


@dataclass
class FisPlan:
    templates: list[FisTemplate]
    warnings: list[str]

    def role_policy(self) -> dict[str, Any]:
        actions = sorted({p for t in self.templates for p in t.permissions})
        return {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "templates": [t.to_json() for t in self.templates],
            "fis_role_policy": self.role_policy(),
            "fis_role_trust": {"Service": "fis.amazonaws.com"},
            "caller_permissions": CALLER_PERMISSIONS,
            "warnings": self.warnings,
        }


def _iso(seconds: float) -> str:
    whole = max(1, round(seconds))
    minutes, secs = divmod(whole, 60)
    return f"PT{minutes}M{secs}S" if minutes else f"PT{secs}S"


def _percent(value: float) -> str:
    return f"{value:g}"


def validate_template(request: dict[str, Any]) -> None:
    """botocore's ParamValidator on the FIS ``CreateExperimentTemplate`` input shape."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("fis")
    shape = model.operation_model("CreateExperimentTemplate").input_shape
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise ValueError(report.generate_report())


def _function_targets(spec: Any, targets: Any, stack: RemoteStack | None, name: str) -> Any:
    functions = list(targets.functions)
    if stack is not None:
        known = stack.of_type("AWS::Lambda::Function")
        missing = [f for f in functions if f not in known]
        if missing:
            raise ConfigError(
                f"fault {spec.label}: functions {', '.join(missing)} are not logical ids of "
                f"stack {name} (it has: {', '.join(sorted(known)) or 'none'}).",
                field="targets.functions",
            )
        functions = functions or sorted(known)
    return functions


def _stop_conditions(stack: RemoteStack | None) -> tuple[list[dict[str, str]], list[str]]:
    if stack is None:
        return [{"source": "none"}], [
            "the plan was made without reading the stack: stop conditions are set from its "
            "alarms when --apply reads it"
        ]
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    if not alarms:
        return [{"source": "none"}], [
            f"stack {stack.name} has no CloudWatch alarms: the experiments have no stop condition"
        ]
    region, account = stack.region, stack.account or "ACCOUNT_ID"
    return [
        {
            "source": "aws:cloudwatch:alarm",
            "value": f"arn:aws:cloudwatch:{region}:{account}:alarm:{a}",
        }
        for a in sorted(alarms.values())
    ], []


def _throttle_document(function_logical_ids: list[str]) -> dict[str, Any]:
    return {
        "schemaVersion": "0.3",
        "description": "harness lambda:throttle: reserved concurrency 0, restored after Duration",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "FunctionName": {"type": "String"},
            "Duration": {"type": "String", "default": "PT1M"},
            "AutomationAssumeRole": {"type": "String"},
        },
        "mainSteps": [
            {
                "name": "Throttle",
                "action": "aws:executeAwsApi",
                "inputs": {
                    "Service": "lambda",
                    "Api": "PutFunctionConcurrency",
                    "FunctionName": "{{ FunctionName }}",
                    "ReservedConcurrentExecutions": 0,
                },
            },
            {"name": "Hold", "action": "aws:sleep", "inputs": {"Duration": "{{ Duration }}"}},
            {
                "name": "Restore",
                "action": "aws:executeAwsApi",
                "inputs": {
                    "Service": "lambda",
                    "Api": "DeleteFunctionConcurrency",
                    "FunctionName": "{{ FunctionName }}",
                },
            },
        ],
    }


def plan_experiments(
    scenario: Any,
    target: AwsTarget,
    stack: RemoteStack | None = None,
    *,
    source: str = "the scenario",
) -> FisPlan:
    """One validated template per fault of ``scenario``; refuses any fault FIS cannot do.

    ``stack`` (read with :func:`~harness.remote.target.read_stack`) checks the targets and sets
    the stop conditions from its alarms; without it nothing is called and ARNs hold placeholders.
    """
    from harness.scenario.actions import validate_action
    from harness.scenario.plan import phase_windows

    windows = {w.name: w for w in phase_windows(scenario)}
    unsupported = [
        f"{f.label} ({f.action})"
        for p in scenario.timeline
        for f in p.faults
        if f.action not in FIS_ACTIONS
    ]
    if unsupported:
        raise UnsupportedFaultError(
            f"faults with no AWS FIS equivalent on a remote target: {', '.join(unsupported)}. "
            f"FIS can run: {', '.join(sorted(FIS_ACTIONS))}.",
            source=source,
            field="timeline[].faults[].action",
            fix="remove these faults from the scenario, or run it against local stacks.",
        )
    stop, warnings = _stop_conditions(stack)
    role = target.fis_role_arn or ROLE_PLACEHOLDER
    if target.fis_role_arn is None:
        warnings.append(f"target.fis_role_arn is not set: the templates name {ROLE_PLACEHOLDER}")
    templates = []
    for phase in scenario.timeline:
        window = windows[phase.name]
        for spec in phase.faults:
            targets_model, params = validate_action(spec)
            duration = spec.duration or (phase.duration - spec.start_after)
            fis_action = FIS_ACTIONS[spec.action]
            action: dict[str, Any] = {"actionId": fis_action, "description": spec.label}
            fis_targets: dict[str, Any] = {}
            permissions: list[str]
            documents: dict[str, Any] = {}
            prerequisites: list[str] = []
            if fis_action.startswith("aws:lambda:"):
                if (
                    spec.action == "lambda:latency"
                    and getattr(params, "startupDelayMilliseconds", None) is None
                ):
                    raise UnsupportedFaultError(
                        f"fault {spec.label}: lambda:latency with min_latency/max_latency (a "
                        "random delay) has no FIS equivalent; FIS delays by a fixed "
                        "startupDelayMilliseconds.",
                        source=source,
                        field="parameters.startupDelayMilliseconds",
                    )
                functions = _function_targets(spec, targets_model, stack, target.stack)
                parameters = {
                    "duration": _iso(duration),
                    "invocationPercentage": _percent(params.invocationPercentage),  # type: ignore[attr-defined]
                }
                if fis_action == "aws:lambda:invocation-add-delay":
                    parameters["startupDelayMilliseconds"] = f"{params.startupDelayMilliseconds:g}"  # type: ignore[attr-defined]
                else:
                    parameters["preventExecution"] = str(
                        getattr(params, "preventExecution", True)
                    ).lower()
                if fis_action == "aws:lambda:invocation-http-integration-response":
                    parameters["statusCode"] = str(params.statusCode)  # type: ignore[attr-defined]
                    parameters["contentTypeHeader"] = getattr(
                        params, "contentTypeHeader", "application/json"
                    )
                action["parameters"] = parameters
                for i, fn in enumerate(functions or ["*"]):
                    tags = {STACK_TAG: target.stack}
                    if fn != "*":
                        tags[LOGICAL_TAG] = fn
                    fis_targets[f"functions{i}"] = {
                        "resourceType": "aws:lambda:function",
                        "resourceTags": tags,
                        "selectionMode": "ALL",
                    }
                # one FIS action takes one target key: one action per function
                actions = {}
                for i, key in enumerate(fis_targets):
                    actions[f"{_slug(spec.label)}-{i}"] = {**action, "targets": {"Functions": key}}
                permissions = _LAMBDA_PERMISSIONS
                prerequisites.append(
                    "each target function carries the AWS FIS extension layer with "
                    "AWS_FIS_CONFIGURATION_LOCATION and AWS_LAMBDA_EXEC_WRAPPER=/opt/aws-fis/bootstrap"
                )
            elif fis_action == "aws:network:disrupt-connectivity":
                if not target.availability_zone:
                    raise ConfigError(
                        f"fault {spec.label} (az:failure) on a remote target needs the AZ to take "
                        "out.",
                        source=source,
                        field="target.availability_zone",
                        fix="set target.availability_zone, e.g. eu-west-1a.",
                    )
                fis_targets["subnets"] = {
                    "resourceType": "aws:ec2:subnet",
                    "resourceTags": {STACK_TAG: target.stack},
                    "filters": [{"path": "AvailabilityZone", "values": [target.availability_zone]}],
                    "selectionMode": "ALL",
                }
                actions = {
                    _slug(spec.label): {
                        **action,
                        "parameters": {"duration": _iso(duration), "scope": "all"},
                        "targets": {"Subnets": "subnets"},
                    }
                }
                permissions = _NETWORK_PERMISSIONS
                prerequisites.append(
                    "the stack's functions run in its VPC subnets (tagged by CloudFormation)"
                )
            else:  # lambda:throttle: an SSM automation document per function
                functions = _function_targets(spec, targets_model, stack, target.stack)
                if not functions:
                    raise ConfigError(
                        f"fault {spec.label} (lambda:throttle) on a remote target needs its "
                        "functions named.",
                        source=source,
                        field="targets.functions",
                    )
                document = "harness-lambda-throttle"
                documents[document] = _throttle_document(functions)
                region = target.region
                account = (stack.account if stack else "") or "ACCOUNT_ID"
                actions = {}
                for i, fn in enumerate(functions):
                    name = stack.of_type("AWS::Lambda::Function")[fn] if stack else fn
                    actions[f"{_slug(spec.label)}-{i}"] = {
                        **action,
                        "parameters": {
                            "documentArn": f"arn:aws:ssm:{region}:{account}:document/{document}",
                            "documentParameters": json.dumps(
                                {
                                    "FunctionName": name,
                                    "Duration": _iso(duration),
                                    "AutomationAssumeRole": role,
                                }
                            ),
                            "maxDuration": _iso(duration + 60),
                        },
                    }
                permissions = [
                    *_SSM_PERMISSIONS,
                    "lambda:PutFunctionConcurrency",
                    "lambda:DeleteFunctionConcurrency",
                ]
                prerequisites.append(f"the SSM document {document} exists (--apply creates it)")
            request = {
                "clientToken": _token(target.stack, phase.name, spec.label),
                "description": f"harness: {scenario.title} / {phase.name} / {spec.label}",
                "targets": fis_targets,
                "actions": actions,
                "stopConditions": stop,
                "roleArn": role,
                "tags": {"harness:scenario": scenario.title[:256], "harness:fault": spec.label},
            }
            try:
                validate_template(request)
            except ValueError as exc:
                raise ConfigError(
                    f"fault {spec.label}: the FIS template fails botocore's validation:\n{exc}",
                    source=source,
                ) from None
            templates.append(
                FisTemplate(
                    fault=spec.label,
                    phase=phase.name,
                    start_s=window.start_s + spec.start_after,
                    duration_s=duration,
                    request=request,
                    permissions=sorted(set(permissions)),
                    documents=documents,
                    prerequisites=prerequisites,
                )
            )
    return FisPlan(templates, warnings)


def _slug(label: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)
    return out[:60] or "fault"


def _token(*parts: str) -> str:
    return "harness-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
