"""One typed model of "a deployed stack", shared by deploy, the gateway and the runtime.

``harness deploy`` builds a :class:`DeployedStack` from a template and writes it as JSON to
``<state_dir>/stacks/<name>.json``; the daemon (gateway + runtime) loads every file there. All
references are already resolved: environment variables hold physical ids, ARNs and URLs, code
paths are absolute.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ApiSpec",
    "AuthorizerSpec",
    "CorsSpec",
    "DeployedStack",
    "EventSourceSpec",
    "FunctionSpec",
    "IntegrationSpec",
    "ResourceRecord",
    "RouteSpec",
    "ThrottleSpec",
    "UsagePlanSpec",
    "load_stacks",
    "stack_file",
]


@dataclass
class ResourceRecord:
    """A resource of the template as created on the backend."""

    logical_id: str
    type: str
    physical_id: str
    arn: str | None = None
    attributes: dict[str, Any] = field(
        default_factory=dict
    )  # Fn::GetAtt values (QueueUrl, StreamArn...)
    properties: dict[str, Any] = field(default_factory=dict)  # resolved properties as declared


@dataclass
class FunctionSpec:
    logical_id: str
    name: str  # physical FunctionName
    arn: str
    handler: str  # "module.function" as in the template
    runtime: str  # e.g. python3.11
    code_dir: str  # absolute path of CodeUri
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3.0  # seconds
    memory_mb: int = 128
    reserved_concurrency: int | None = None
    provisioned_concurrency: int = 0  # an alias's ProvisionedConcurrencyConfig (warm at deploy)
    layers: list[str] = field(default_factory=list)  # absolute paths of layer ContentUri folders
    role_arn: str | None = None
    policies: list[dict[str, Any]] = field(default_factory=list)  # IAM policy documents of its role
    dead_letter_arn: str | None = None  # DeadLetterQueue / DeadLetterConfig target
    on_failure_arn: str | None = None  # EventInvokeConfig DestinationConfig.OnFailure
    on_success_arn: str | None = None
    maximum_retry_attempts: int = 2  # async invocations
    maximum_event_age_s: int = 21600
    tracing: str | None = None
    log_group: str = ""
    # fingerprint of the files under code_dir and the layers: a redeploy that changes the code
    # changes the spec, so the runtime replaces the function's warm environments
    code_fingerprint: str = ""
    # Set by harness.deploy.build (empty: resolved by the runtime from ``runtime``/``layers``):
    interpreter: str = ""  # the program that runs it (python3.12, node)
    execution_env: str = ""  # the runtime it really runs on (AWS_EXECUTION_ENV)
    runtime_note: str = ""  # why that is not ``runtime`` (no such interpreter here)
    path: list[str] = field(default_factory=list)  # dependencies, /opt, runtime SDK, in order
    opt_dir: str = ""  # the merged layers (Lambda's /opt)
    task_root: str = ""  # the built artifact when it is not code_dir (Node.js with node_modules)
    # a published version's snapshot has its number here ($LATEST: the function itself); the
    # runtime serves it as "<name>:<version>" (harness.deploy.specs.functions)
    version: str = "$LATEST"
    # AWS::Lambda::Alias: name -> {"version": "2", "weights": {"1": 0.1}} (RoutingConfig's
    # AdditionalVersionWeights: the fraction of invocations the other version gets)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class CorsSpec:
    allow_origins: list[str] = field(default_factory=list)
    allow_methods: list[str] = field(default_factory=list)
    allow_headers: list[str] = field(default_factory=list)
    expose_headers: list[str] = field(default_factory=list)
    allow_credentials: bool = False
    max_age: int | None = None


@dataclass
class AuthorizerSpec:
    name: str
    type: Literal["jwt", "lambda_request", "lambda_token", "cognito", "iam", "none"]
    issuer: str | None = None  # jwt / cognito
    audience: list[str] = field(default_factory=list)
    jwks_uri: str | None = None
    identity_sources: list[str] = field(
        default_factory=list
    )  # e.g. ["$request.header.Authorization"]
    function: str | None = None  # logical id of the authorizer function
    result_ttl_s: int = 0
    payload_format: str = "2.0"
    simple_responses: bool = False
    user_pool_arns: list[str] = field(default_factory=list)


@dataclass
class IntegrationSpec:
    """Where a route goes: a Lambda proxy, or a direct service integration."""

    type: Literal["lambda", "sqs", "eventbridge", "mock", "http"]
    function: str | None = None  # logical id
    payload_format: str = "2.0"  # "1.0" for REST / HTTP API v1 payloads
    timeout_ms: int = 30000
    parameters: dict[str, str] = field(
        default_factory=dict
    )  # RequestParameters of AWS integrations
    subtype: str | None = None  # e.g. "SQS-SendMessage", "EventBridge-PutEvents"
    request_templates: dict[str, str] = field(default_factory=dict)  # REST AWS integrations
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class RouteSpec:
    method: str  # GET, POST, ..., ANY
    path: str  # "/orders/{id}", "/{proxy+}", "$default"
    integration: IntegrationSpec
    authorizer: str | None = None  # name in ApiSpec.authorizers, None = open
    scopes: list[str] = field(default_factory=list)
    api_key_required: bool = False
    throttle: ThrottleSpec | None = None


@dataclass
class ThrottleSpec:
    rate: float  # steady requests per second
    burst: int


@dataclass
class UsagePlanSpec:
    name: str
    throttle: ThrottleSpec | None = None
    quota_limit: int | None = None
    quota_period: Literal["DAY", "WEEK", "MONTH"] | None = None
    api_keys: dict[str, str] = field(default_factory=dict)  # key value -> key id
    tier: str | None = None  # tenant tier this plan applies to (from harness.yaml)
    # ApiStages[].Throttle: "METHOD /path" -> the plan's throttle for that method (replaces the
    # plan-wide one for it, per caller, as API Gateway's method-level usage-plan throttling)
    method_throttles: dict[str, ThrottleSpec] = field(default_factory=dict)


@dataclass
class ApiSpec:
    logical_id: str
    kind: Literal["http", "rest"]
    api_id: str
    stage: str
    base_url: str  # gateway URL where this API is served, including stage if the path has one
    routes: list[RouteSpec] = field(default_factory=list)
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    default_authorizer: str | None = None
    cors: CorsSpec | None = None
    stage_throttle: ThrottleSpec | None = None
    stage_variables: dict[str, str] = field(default_factory=dict)
    binary_media_types: list[str] = field(default_factory=list)
    usage_plans: list[UsagePlanSpec] = field(default_factory=list)
    api_key_source: Literal["HEADER", "AUTHORIZER"] = "HEADER"
    disable_execute_api_endpoint: bool = False


@dataclass
class EventSourceSpec:
    """An event source mapping, subscription, rule target or schedule that invokes a function."""

    kind: Literal["sqs", "sns", "eventbridge", "dynamodb", "schedule", "s3", "kinesis"]
    function: str  # logical id
    source_arn: str | None = None  # queue/topic/rule/stream ARN
    queue_url: str | None = None
    batch_size: int = 10
    batching_window_s: float = 0.0
    maximum_concurrency: int | None = None
    report_batch_item_failures: bool = False
    starting_position: str | None = None  # TRIM_HORIZON / LATEST
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1
    on_failure_arn: str | None = None
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)
    schedule: str | None = None  # "rate(5 minutes)" / "cron(...)"
    input: str | None = None  # schedule / rule target Input
    enabled: bool = True
    name: str = ""  # stable id, e.g. "<Function><EventName>"
    # S3 notifications to a queue or topic (no function): where the event is sent; with
    # kind "s3" filter_patterns holds one {"events": [...], "prefix": P, "suffix": S, "id": ID}
    target_arn: str | None = None


@dataclass
class DeployedStack:
    name: str
    stack_dir: str
    template_path: str
    deployed_at: float
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    apis: dict[str, ApiSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)  # harness.yaml, parsed
    exports: dict[str, str] = field(default_factory=dict)  # Outputs' Export names -> values
    order: list[str] = field(default_factory=list)  # logical ids in creation order
    # harness.yaml fixtures.fake_servers started with the stack: name -> base URL
    # (e.g. fake_servers["providers"] == "http://127.0.0.1:41234"); PIDs: <state_dir>/fakes/
    fake_servers: dict[str, str] = field(default_factory=dict)
    # what the template asks for that is not honoured, kept by `deploy --allow-unsupported`:
    # each {file, logical_id, property, reason, backend} (harness/deploy/unsupported.py)
    unsupported: list[dict[str, str]] = field(default_factory=list)
    # a nested stack's parent (AWS::CloudFormation::Stack / AWS::Serverless::Application), or ""
    parent: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployedStack:
        def route(r: dict[str, Any]) -> RouteSpec:
            throttle = ThrottleSpec(**r["throttle"]) if r.get("throttle") else None
            return RouteSpec(
                **{**r, "integration": IntegrationSpec(**r["integration"]), "throttle": throttle}
            )

        def plan(p: dict[str, Any]) -> UsagePlanSpec:
            throttle = ThrottleSpec(**p["throttle"]) if p.get("throttle") else None
            methods = {k: ThrottleSpec(**v) for k, v in (p.get("method_throttles") or {}).items()}
            return UsagePlanSpec(**{**p, "throttle": throttle, "method_throttles": methods})

        def api(a: dict[str, Any]) -> ApiSpec:
            return ApiSpec(
                **{
                    **a,
                    "routes": [route(r) for r in a.get("routes", [])],
                    "authorizers": {
                        k: AuthorizerSpec(**v) for k, v in a.get("authorizers", {}).items()
                    },
                    "cors": CorsSpec(**a["cors"]) if a.get("cors") else None,
                    "stage_throttle": ThrottleSpec(**a["stage_throttle"])
                    if a.get("stage_throttle")
                    else None,
                    "usage_plans": [plan(p) for p in a.get("usage_plans", [])],
                }
            )

        return cls(
            **{
                **data,
                "resources": {k: ResourceRecord(**v) for k, v in data.get("resources", {}).items()},
                "functions": {k: FunctionSpec(**v) for k, v in data.get("functions", {}).items()},
                "apis": {k: api(v) for k, v in data.get("apis", {}).items()},
                "event_sources": [EventSourceSpec(**e) for e in data.get("event_sources", [])],
            }
        )

    def save(self, state_dir: Path) -> Path:
        path = stack_file(state_dir, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True))
        tmp.replace(path)
        return path


def stack_file(state_dir: Path, name: str) -> Path:
    return state_dir / "stacks" / f"{name}.json"


def load_stacks(state_dir: Path) -> dict[str, DeployedStack]:
    """Every deployed stack recorded in ``state_dir`` (by name)."""
    folder = state_dir / "stacks"
    stacks: dict[str, DeployedStack] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            stack = DeployedStack.from_json(json.loads(path.read_text()))
            stacks[stack.name] = stack
    return stacks
