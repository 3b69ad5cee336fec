"""The gameday scenario format: one YAML file, validated whole before anything runs.

Vocabulary is borrowed so SREs recognise it: chaostoolkit's ``steady_state`` (probes checked
before, during and after), ``method``-like ``timeline`` and ``rollbacks``; AWS FIS's actions
(``action: aws:...``, ``start_after``, ``duration``, ``targets``, ``parameters`` with FIS's
parameter names such as ``invocationPercentage``); k6's arrival-rate load stages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from harness.durations import parse_duration
from harness.remote.target import AwsTarget

__all__ = [
    "Duration",
    "Expectation",
    "FaultSpec",
    "LoadSpec",
    "Phase",
    "Probe",
    "ProfileSlosSpec",
    "Scenario",
    "SteadyState",
    "parse_duration",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LoadStage(_Model):
    duration: Duration
    rate: float | None = Field(None, ge=0, description="open model: arrivals per second")
    users: int | None = Field(None, ge=0, description="closed model: concurrent users")
    shape: Literal["hold", "ramp", "spike"] = "hold"

    @model_validator(mode="after")
    def _one_target(self) -> LoadStage:
        if (self.rate is None) == (self.users is None):
            raise ValueError("give exactly one of 'rate' (open model) or 'users' (closed model)")
        return self


class LoadSpec(_Model):
    """A phase's load: a constant rate/users for the whole phase, or stages within it."""

    mode: Literal["open", "closed"] = "open"
    rate: float | None = Field(None, ge=0)
    users: int | None = Field(None, ge=0)
    stages: list[LoadStage] = Field(default_factory=list)
    mix: str | None = Field(None, description="a traffic mix named in the stack's harness.yaml")
    max_users: int | None = Field(
        None, ge=1, description="open model: the pool of concurrent requests"
    )
    think_time: Duration = 0.0
    processes: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _target(self) -> LoadSpec:
        given = sum(x is not None for x in (self.rate, self.users)) + bool(self.stages)
        if given != 1:
            raise ValueError("give exactly one of 'rate', 'users' or 'stages'")
        if self.mode == "open" and (
            self.users is not None or any(s.users is not None for s in self.stages)
        ):
            raise ValueError("the open model takes 'rate'; use mode: closed for 'users'")
        if self.mode == "closed" and (
            self.rate is not None or any(s.rate is not None for s in self.stages)
        ):
            raise ValueError("the closed model takes 'users'; use mode: open for 'rate'")
        return self


class FaultSpec(_Model):
    """One fault action on the timeline, relative to its phase's start (FIS ``startAfter``)."""

    action: str = Field(description="e.g. aws:api-error, redis:down, lambda:invocation-error")
    name: str | None = None
    start_after: Duration = 0.0
    duration: Duration | None = Field(None, description="default: until the end of the phase")
    targets: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    allow_empty: bool = Field(
        False,
        description="an AWS/Lambda/DNS fault that injected nothing (no call matched it while it "
        "was active) leaves the run inconclusive, which fails unless this is true",
    )

    # the action's (targets, parameters), validated once when the spec is read
    _inputs: tuple[BaseModel, BaseModel] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _known(self) -> FaultSpec:
        from harness.scenario.actions import validate_action

        self._inputs = validate_action(self)
        return self

    @property
    def inputs(self) -> tuple[BaseModel, BaseModel]:
        """The action's validated (targets, parameters): parsed once, when the scenario was read
        (a spec built without validation, ``model_construct``, is validated on first use)."""
        if self._inputs is None:
            from harness.scenario.actions import validate_action

            self._inputs = validate_action(self)
        return self._inputs

    @property
    def label(self) -> str:
        return self.name or self.action


class IsolationSpec(_Model):
    stack: str | None = None
    examples: int = Field(50, ge=1)


class Phase(_Model):
    name: str = Field(min_length=1)
    duration: Duration
    load: LoadSpec | None = None
    faults: list[FaultSpec] = Field(default_factory=list)
    isolation: IsolationSpec | None = None

    @model_validator(mode="after")
    def _faults_fit(self) -> Phase:
        if self.duration <= 0:
            raise ValueError("a phase needs a positive duration")
        for fault in self.faults:
            if fault.start_after >= self.duration:
                raise ValueError(
                    f"fault '{fault.label}' starts after {fault.start_after:g}s, "
                    f"but the phase lasts {self.duration:g}s"
                )
        return self


class Probe(_Model):
    """A steady-state probe: an HTTP check, or an SLO over a short window of live load."""

    name: str
    type: Literal["http", "slo"] = "http"
    url: str | None = Field(None, description="http: ${gateway_url}, ${api:STACK} are expanded")
    method: str = "GET"
    expect_status: list[int] = Field(default_factory=lambda: [200])
    timeout: Duration = 5.0
    metric: Literal["p50", "p95", "p99", "max", "error_rate", "availability"] | None = None
    op: Literal["<", "<=", ">", ">="] = "<"
    target: float | str | None = None
    rate: float = Field(5.0, gt=0, description="slo: arrivals per second of the probe's load")
    window: Duration = Field(5.0, description="slo: how long the probe's load runs")

    @model_validator(mode="after")
    def _complete(self) -> Probe:
        if self.type == "http" and not self.url:
            raise ValueError("an http probe needs 'url'")
        if self.type == "slo" and (self.metric is None or self.target is None):
            raise ValueError("an slo probe needs 'metric' and 'target'")
        return self


class SteadyState(_Model):
    title: str = "steady state"
    probes: list[Probe] = Field(min_length=1)
    before: bool = True
    during: bool = True
    after: bool = True


ExpectationKind = Literal[
    "slo",
    "recovery",
    "no_lost_jobs",
    "no_duplicate_jobs",
    "dlq_max",
    "counter",
    "isolation",
    "steady_state",
    "check",
    "alarm",
    "alarm_quiet",
    "dr",
]


class Expectation(_Model):
    """What must hold for the run to pass. ``kind`` picks the check; the fields it needs are
    checked here so a typo fails before the run."""

    name: str | None = None
    kind: ExpectationKind = "slo"
    metric: str | None = (
        None  # slo: p50|p95|p99|max|error_rate|availability|rps|achieved_ratio|dropped_ratio
    )
    scope: str = "all"  # all | phase:NAME | endpoint:NAME | tenant:ID
    op: Literal["<", "<=", ">", ">=", "=="] = "<"
    target: float | str | None = None
    after_fault: str | None = None  # recovery
    within: Duration | None = None  # recovery
    window: Duration = 5.0  # recovery: how long the metric must hold to count as recovered
    check: str | None = None  # check: a function of the stack's checks module
    queue: str | None = None  # dlq_max: logical id of the DLQ in a deployed stack
    max: int | None = Field(None, ge=0)
    counter: str | None = None  # counter: e.g. cache_hit_rate
    stack: str | None = None
    # A check with no data to judge (no request in its scope, no job of that kind, a fake server
    # that did not answer) is inconclusive and fails, unless this is true.
    allow_empty: bool = False
    alarm: str | None = None  # alarm, alarm_quiet: name, logical id or stack/LogicalId
    state: Literal["ALARM", "OK", "INSUFFICIENT_DATA"] = "ALARM"  # alarm: the state to reach
    phase: str | None = None  # alarm_quiet: the phase in which it must never be ALARM
    drill: str | None = None  # dr: the dr:restore action's name
    rpo: Duration | None = None  # dr: the most seconds of writes the restore may lose
    rto: Duration | None = None  # dr: the longest time from the disaster to the restored table

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Expectation:
        need: dict[str, tuple[str, ...]] = {
            "slo": ("metric", "target"),
            "recovery": ("after_fault", "metric", "target", "within"),
            "dlq_max": ("queue", "max"),
            "counter": ("counter", "target"),
            "check": ("check",),
            "alarm": ("alarm", "after_fault", "within"),
            "alarm_quiet": ("alarm", "phase"),
            "dr": ("drill", "after_fault"),
        }
        missing = [f for f in need.get(self.kind, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a '{self.kind}' expectation needs {', '.join(missing)}")
        if self.kind == "dr" and self.rpo is None and self.rto is None:
            raise ValueError("a 'dr' expectation needs rpo, rto or both")
        if self.scope != "all" and not re.match(r"^(phase|endpoint|tenant):.+$", self.scope):
            raise ValueError("scope is 'all', 'phase:NAME', 'endpoint:NAME' or 'tenant:ID'")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "slo":
            return f"{self.metric} {self.op} {self.target} ({self.scope})"
        if self.kind == "recovery":
            return f"{self.metric} back {self.op} {self.target} within {self.within:g}s after {self.after_fault}"
        if self.kind == "counter":
            return f"{self.counter} {self.op} {self.target}"
        if self.kind == "dlq_max":
            return f"{self.queue} depth <= {self.max}"
        if self.kind == "alarm":
            return f"{self.alarm} {self.state} within {self.within:g}s of {self.after_fault}"
        if self.kind == "alarm_quiet":
            return f"{self.alarm} quiet in {self.phase}"
        if self.kind == "check":
            suffix = f" {self.op} {self.target}" if self.target is not None else ""
            return f"{self.check}{suffix}"
        return self.kind.replace("_", " ")


def _profile_slos(value: Any) -> Any:
    return {"enabled": value} if isinstance(value, bool) else value


class ProfileSlosSpec(_Model):
    """How the deployed stacks' own SLOs (``slos:`` in their harness.yaml) are judged: by
    default each one is an expectation over its own scope (``all``: the whole run)."""

    enabled: bool = True
    scope: str | None = Field(
        None, description="judge the stacks' all-scoped SLOs over this scope (e.g. phase:steady)"
    )
    skip: list[str] = Field(
        default_factory=list, description="SLOs left out, as harness.yaml writes them"
    )
    reason: str | None = Field(None, description="why: shown in the report")
    allow_empty: bool = False

    @model_validator(mode="after")
    def _scope(self) -> ProfileSlosSpec:
        if self.scope is not None and not re.match(
            r"^(all|(phase|endpoint|tenant):.+)$", self.scope
        ):
            raise ValueError("scope is 'all', 'phase:NAME', 'endpoint:NAME' or 'tenant:ID'")
        return self


class Target(_Model):
    """Aim the scenario at a deployed system elsewhere (staging) instead of a local stack.

    ``kind: aws`` (:class:`harness.remote.target.AwsTarget`) reads a deployed CloudFormation
    stack instead of taking a URL."""

    kind: Literal["url"] = "url"
    base_url: str
    token_url: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = Field(
        None, description="name of the env var holding the secret"
    )
    scope: str | None = None


class Warmup(_Model):
    """Unmeasured traffic before the steady-state check: the first requests to each function
    pay its cold start, which a steady-state SLO should not judge."""

    duration: Duration = Field(description="how long one round of warm-up load runs")
    rate: float = Field(5.0, gt=0, description="arrivals per second")
    max: Duration = Field(
        60.0,
        description="rounds repeat while a round saw timeouts, aborted requests or 5xx answers, "
        "up to this long in all",
    )


class Scenario(_Model):
    title: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    stacks: list[str] = Field(default_factory=list)
    target: Target | AwsTarget | None = None
    warmup: Warmup | None = None
    steady_state: SteadyState | None = None
    timeline: list[Phase] = Field(min_length=1)
    expectations: list[Expectation] = Field(default_factory=list)
    profile_slos: Annotated[ProfileSlosSpec, BeforeValidator(_profile_slos)] = Field(
        default_factory=ProfileSlosSpec
    )
    rollbacks: list[FaultSpec] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    alarm_period_scale: float = Field(
        1.0,
        gt=0,
        description="divide every alarm's Period by this (a 5-minute alarm in a short gameday); "
        "the report says so",
    )

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        names = [p.name for p in self.timeline]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(
                f"phase names must be unique; repeated: {', '.join(sorted(duplicates))}"
            )
        labels = {f.label for p in self.timeline for f in p.faults}
        for expectation in self.expectations:
            if expectation.scope.startswith("phase:") and expectation.scope[6:] not in names:
                raise ValueError(
                    f"expectation '{expectation.label}' names unknown phase '{expectation.scope[6:]}'"
                )
            if expectation.kind == "alarm_quiet" and expectation.phase not in names:
                raise ValueError(
                    f"expectation '{expectation.label}' names unknown phase '{expectation.phase}'"
                )
            if expectation.kind in ("recovery", "alarm") and expectation.after_fault not in labels:
                raise ValueError(
                    f"expectation '{expectation.label}' names unknown fault '{expectation.after_fault}' "
                    f"(faults: {', '.join(sorted(labels)) or 'none'})"
                )
        if not self.stacks and self.target is None:
            raise ValueError("give 'stacks' to deploy (or a remote 'target')")
        return self

    @property
    def duration_s(self) -> float:
        return sum(p.duration for p in self.timeline)
