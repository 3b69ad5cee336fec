"""Run the isolation machine, shrink a failure to a minimal sequence of HTTP calls and write a
replay file (:mod:`harness.isolation.replay`: the file, the call-level minimizer, replaying);
:func:`run_isolation` is the whole run against a deployed stack. The replay helpers are
re-exported here for existing callers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky, FlakyStrategyDefinition
from hypothesis.stateful import get_state_machine_test

from harness.isolation.http import Call, json_path
from harness.isolation.machine import build_machine
from harness.isolation.model import IsolationViolation, MachineConfig
from harness.isolation.replay import (
    created_id,
    minimize_calls,
    replay,
    replay_basis,
    write_replay,
)

logger = logging.getLogger(__name__)

__all__ = [
    "IsolationResult",
    "created_id",
    "data_layer_check",
    "deploy_params",
    "judge",
    "minimize_calls",
    "replay",
    "replay_basis",
    "run_isolation",
    "run_machine",
    "write_replay",
]

SHRINK_BUDGET_S = 60.0


@contextmanager
def _shrink_budget(seconds: float) -> Iterator[None]:
    """Bound Hypothesis's shrinking time. Hypothesis reads the bound from a module constant
    (``hypothesis.internal.conjecture.engine.MAX_SHRINKING_SECONDS``, 300 s) and has no setting
    for it; it is set for the duration of one run and restored."""
    from hypothesis.internal.conjecture import engine

    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = int(max(1, seconds))
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


@dataclass
class IsolationResult:
    """What an isolation run found. ``violations`` lists every problem in one line each (the
    state machine's minimal failure, token tampering, data layer, IAM); ``violation`` holds the
    machine's shrunk failing sequence, also written to ``replay_file``."""

    passed: bool
    seed: int
    examples: int
    steps: int  # state-machine steps executed, over every example (shrinking included)
    calls: int  # HTTP calls the machine made
    seconds: float
    endpoints: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    violation: dict[str, Any] | None = None
    replay_file: str | None = None
    violations: list[str] = field(default_factory=list)
    steps_per_example: int = 0
    throttled: int = 0  # 429s waited out (usage plans; not an isolation signal)
    examples_run: int = 0  # examples Hypothesis executed (generation and shrinking)
    requests: int = 0  # HTTP requests sent (a listing followed to its end is several)
    http_seconds: float = 0.0  # wall time spent waiting for the stack's answers
    tampering: list[dict[str, Any]] = field(default_factory=list)
    data_layer: dict[str, Any] = field(default_factory=dict)
    # The edge's IAM decisions during the run (DynamoDB calls made with assumed-role keys).
    iam: dict[str, Any] = field(default_factory=dict)
    # Calls to the harness's control plane refused for want of the secret (tenant code probing).
    control_plane: dict[str, Any] = field(default_factory=dict)
    stack: str | None = None
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)  # endpoint -> status -> n
    tenants_without_token: list[str] = field(default_factory=list)  # generated, not mintable
    owned: dict[str, str] = field(default_factory=dict, repr=False)  # resource id -> tenant
    made: list[Call] = field(default_factory=list, repr=False)  # every call of the run
    # data-layer findings traced to the calls that wrote them: violation, replay_file, calls
    data_replays: list[dict[str, Any]] = field(default_factory=list)
    # each replay file re-run on a fresh deployment and on a pre-filled one (harness isolation)
    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Why the run had nothing to judge (no state-machine step or no HTTP call executed); such a
    # run is not a pass: ``passed`` is false and ``status`` is "inconclusive".
    inconclusive: str | None = None
    # generation restarted with the next seed because the live stack answered the same calls
    # differently between examples (Hypothesis's FlakyStrategyDefinition; not a finding)
    restarts: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.inconclusive and not self.violations:
            return "inconclusive"
        return "passed" if self.passed else "failed"

    @property
    def endpoints_covered(self) -> int:
        """Distinct ``METHOD /path`` shapes the machine called (ids folded to ``{id}``)."""
        return len(self.endpoints)

    @property
    def tenants_covered(self) -> int:
        """Distinct tenant ids that made calls, generated tricky ones included."""
        return len(self.tenants)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "inconclusive": self.inconclusive,
            "stack": self.stack,
            "seed": self.seed,
            "examples": self.examples,
            "steps": self.steps,
            "steps_per_example": self.steps_per_example,
            "calls": self.calls,
            "throttled": self.throttled,
            "examples_run": self.examples_run,
            "requests": self.requests,
            "http_seconds": round(self.http_seconds, 2),
            "seconds": round(self.seconds, 2),
            "endpoints_covered": self.endpoints_covered,
            "endpoints": self.endpoints,
            "statuses": self.statuses,
            "tenants_covered": self.tenants_covered,
            "tenants": self.tenants,
            "tenants_without_token": self.tenants_without_token,
            "violations": self.violations,
            "violation": self.violation,
            "replay_file": self.replay_file,
            "data_replays": self.data_replays,
            "confirmed": self.confirmed,
            "tampering": self.tampering,
            "data_layer": self.data_layer,
            "iam": self.iam,
            "control_plane": self.control_plane,
        }


def run_machine(
    config: MachineConfig,
    *,
    examples: int = 50,
    steps: int = 20,
    seed_value: int = 0,
    report_dir: Path | None = None,
    shrink: bool = True,
    replay_extra: dict[str, Any] | None = None,
    shrink_budget_s: float = SHRINK_BUDGET_S,
) -> IsolationResult:
    """Run the machine; on a violation, shrink it and write ``isolation-replay.json``.
    Hypothesis shrinks for at most ``shrink_budget_s`` (each example drives a live stack, and
    its own limit is five minutes); the call-level pass of :func:`minimize_calls` follows."""
    machine = build_machine(config)
    seen_calls: list[Call] = []
    replay_calls: list[Call] = []  # made while minimizing a failure
    counters: dict[str, float] = {"steps": 0, "throttled": 0, "examples": 0, "requests": 0}
    counters["http_s"] = 0.0
    no_token: set[str] = set()
    original_teardown = machine.teardown

    def teardown(self: Any) -> None:
        seen_calls.extend(self.client.calls)
        counters["steps"] += self.steps
        counters["throttled"] += self.client.throttled
        counters["examples"] += 1
        counters["requests"] += self.client.requests
        counters["http_s"] += self.client.http_s
        no_token.update(self.no_token)
        original_teardown(self)

    machine.teardown = teardown  # type: ignore[method-assign]
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])]
    test = get_state_machine_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            report_multiple_bugs=False,  # one minimal failure, the one the replay file holds
        ),
    )
    started = time.perf_counter()
    violation: dict[str, Any] | None = None
    restarts: list[str] = []
    try:
        with _shrink_budget(shrink_budget_s):
            for attempt in range(RESTARTS + 1):
                try:
                    seed(seed_value + attempt)(test)()
                    break
                except FlakyStrategyDefinition as exc:
                    # the stack's answers decided which choices came next (a create refused in
                    # one example and not in another that began alike): Hypothesis cannot go on
                    # generating from that tree; a fresh one (the next seed) can. Not a finding.
                    if _violations(exc) or attempt == RESTARTS:
                        raise
                    restarts.append(f"seed {seed_value + attempt}: {str(exc).splitlines()[0]}")
                    logger.warning("isolation: generation restarted with seed %d (%s)",
                                   seed_value + attempt + 1, restarts[-1])  # fmt: skip
    except (IsolationViolation, Flaky, BaseExceptionGroup) as exc:
        found = _violations(exc)
        if not found:
            raise
        minimal = min(found, key=lambda v: len(v.all_calls))
        calls = [c.to_json() for c in minimal.all_calls]
        check = {
            "kind": minimal.kind,
            "call_index": minimal.evidence,
            "mode": minimal.mode,
            "foreign_ids": minimal.foreign_ids,
        }
        if shrink:
            calls, check = minimize_calls(config, calls, check, replayed=replay_calls)
        violation = {
            "summary": f"{minimal} (shrunk to {len(calls)} calls)",
            "kind": minimal.kind,
            "message": str(minimal),
            "calls": calls,
            "check": check,
        }
    elapsed = time.perf_counter() - started
    result = IsolationResult(
        passed=violation is None,
        seed=seed_value,
        examples=examples,
        steps=int(counters["steps"]),
        calls=len(seen_calls),
        seconds=elapsed,
        endpoints=sorted({f"{c.method} {_shape(c.path)}" for c in seen_calls}),
        tenants=sorted({c.tenant for c in seen_calls}),
        violation=violation,
        violations=[violation["summary"]] if violation else [],
        steps_per_example=steps,
        throttled=int(counters["throttled"]),
        examples_run=int(counters["examples"]),
        requests=int(counters["requests"]),
        http_seconds=counters["http_s"],
        owned=_owned(config, seen_calls + replay_calls),
        statuses=_statuses(seen_calls),
        tenants_without_token=sorted(no_token),
        made=seen_calls,
        restarts=restarts,
    )
    if violation is not None and report_dir is not None:
        result.replay_file = str(write_replay(report_dir, config, result, extra=replay_extra))
    return result


def _statuses(calls: list[Call]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for call in calls:
        per = out.setdefault(f"{call.method} {_shape(call.path)}", {})
        per[str(call.status)] = per.get(str(call.status), 0) + 1
    return out


def _owned(config: MachineConfig, calls: list[Call]) -> dict[str, str]:
    """Resource id -> the tenant whose token created it (from successful create calls)."""
    owned: dict[str, str] = {}
    for call in calls:
        if not call.step.startswith("create "):
            continue
        resource = config.spec.resources.get(call.step.split()[1])
        if resource is None or resource.create is None:
            continue
        if call.status in resource.create.expect:
            found = json_path(call.response, resource.create.id)
            if found is not None:
                owned[str(found)] = call.tenant
    return owned


def _violations(exc: BaseException) -> list[IsolationViolation]:
    if isinstance(exc, IsolationViolation):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        return [v for inner in exc.exceptions for v in _violations(inner)]
    cause = exc.__cause__ or exc.__context__
    return _violations(cause) if cause is not None else []


def _shape(path: str) -> str:
    """'/orders/4f1c...' -> '/orders/{id}' so endpoints can be counted."""
    parts = []
    for part in path.split("?", 1)[0].split("/"):
        if len(part) >= 16 and any(c.isdigit() for c in part):
            parts.append("{id}")
        else:
            parts.append(part)
    return "/".join(parts)


# -- the whole isolation run against a deployed stack ---------------------------------------------


RESTARTS = 2  # generation restarts with the next seed after a FlakyStrategyDefinition


def run_isolation(
    env: Any,
    stack: Any,
    *,
    examples: int,
    seed: int,
    report_dir: Path | None,
    redeploy: Callable[[], Any] | None = None,
) -> IsolationResult:
    """Token tampering, the state machine, then the data-layer and IAM invariants, against
    ``stack`` (a :class:`harness.model.DeployedStack`) deployed on the running ``env``.

    A data-layer finding is traced to the calls that wrote its record, confirmed and shrunk
    (:mod:`harness.isolation.datareplay`) and gets a replay file too. With ``redeploy`` (a
    function that destroys and re-deploys the stack, returning the new one: what ``harness
    isolation`` passes; the gameday runner does not, its stack is in use) every replay file is
    then re-run on the fresh deployment and again on it pre-filled, and the outcome is written
    into the file (``confirmed``) and the result.

    The ``iam`` section of the result counts the edge's IAM decisions during the run (every
    DynamoDB call made with assumed-role credentials, see ``harness.edge.iam_guard``); each
    denied call is also a violation.

    Writes ``report_dir/isolation.json`` (the result) and, on a machine violation,
    ``report_dir/isolation-replay.json``. Safe to call while load and faults run (the
    gameday runner does); a 429 from a usage plan is waited out, never counted as a violation.
    """
    from harness.isolation.datalayer import EmulatorData, data_findings, snapshot
    from harness.isolation.stack import machine_config, spec_of
    from harness.isolation.tampering import tamper_stack

    spec = spec_of(stack)
    config = machine_config(env, stack, spec)
    reader = EmulatorData(env, stack)
    extra = {"stack": stack.name, "stack_dir": str(stack.stack_dir), "params": deploy_params(stack)}
    before = snapshot(reader, spec.data)
    iam_before = edge_iam(env)
    iam_since = time.time()
    started = time.perf_counter()
    tamper_cases: list[dict[str, Any]] = []
    tamper_violations: list[str] = []
    if spec.tampering.enabled:
        cases, tamper_violations = _tamper(env, stack, spec, config, tamper_stack)
        tamper_cases = [c.to_json() for c in cases]
    result = run_machine(
        config,
        examples=examples,
        steps=spec.steps,
        seed_value=seed,
        report_dir=report_dir,
        replay_extra=extra,
    )
    after = snapshot(reader, spec.data)
    tenants = sorted({*config.tenants, *result.tenants})
    figures, data_violations = data_layer_check(stack, spec, before, after, tenants, result.owned)
    result.stack = stack.name
    result.tampering = tamper_cases
    result.data_layer = figures
    result.iam, iam_violations = iam_section(iam_before, edge_iam(env, since=iam_since))
    result.control_plane, probe_violations = control_plane_section(
        env, since=float(getattr(stack, "deployed_at", 0.0) or 0.0)
    )
    result.violations = [
        *tamper_violations,
        *result.violations,
        *data_violations,
        *iam_violations,
        *probe_violations,
    ]
    judge(result)
    if data_violations:
        from harness.isolation.confirm import trace_data_findings

        _, findings, _ = data_findings(spec.data, before, after, tenants, result.owned)
        trace_data_findings(config, result, findings, reader, report_dir, extra)
    if redeploy is not None and report_dir is not None:
        from harness.isolation.confirm import confirm_replays

        confirm_replays(env, result, redeploy)
    result.seconds = time.perf_counter() - started
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "isolation.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def data_layer_check(
    stack: Any, spec: Any, before: Any, after: Any, tenants: list[str], owned: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The data-layer invariants (and the IAM policy check, when the spec names a role) over the
    records written between the ``before`` and ``after`` snapshots: figures per rule and one
    line per violation."""
    from harness.isolation.datalayer import check_data, role_policies

    policies: list[dict[str, Any]] | None = None
    table_arn = ""
    if spec.data.iam is not None:
        policies, _ = role_policies(stack, spec.data.iam.role)
        table_record = stack.resources.get(spec.data.iam.table)
        table_arn = str(getattr(table_record, "arn", "") or "")
    return check_data(
        spec.data, before, after, tenants, owned, policies=policies, table_arn=table_arn
    )


def judge(result: IsolationResult) -> IsolationResult:
    """A run passes only if it found no violation AND checked something: zero state-machine
    steps, zero HTTP calls, or data-layer rules that saw no new record at all (an empty table
    proves nothing) is inconclusive (``passed`` false, ``status`` "inconclusive")."""
    result.inconclusive = None
    rules = {
        label: figures
        for label, figures in result.data_layer.items()
        if isinstance(figures, dict) and "new_records" in figures
    }
    if result.steps == 0 or result.calls == 0:
        result.inconclusive = (
            f"the state machine executed {result.steps} step(s) and {result.calls} HTTP call(s): "
            "nothing was checked"
        )
    elif rules and not any(f["new_records"] for f in rules.values()):
        result.inconclusive = (
            f"the data-layer rules ({', '.join(sorted(rules))}) saw no new record: the run "
            "wrote nothing they could check"
        )
    result.passed = not result.violations and result.inconclusive is None
    return result


def edge_iam(env: Any, since: float | None = None) -> dict[str, Any] | None:
    """The edge's IAM record (``/_harness/edge/iam``): counts, and with ``since`` the denied
    decisions from then on; None when the edge does not answer (an older edge)."""
    from harness.httpclient import HttpClientError, call

    endpoint = (getattr(env, "endpoints", None) or {}).get("aws_endpoint")
    if not endpoint:
        return None
    url = f"{endpoint}/_harness/edge/iam?denied=1&since={since if since is not None else 9e12}"
    try:
        return dict(call("GET", url, control=True, timeout=5).json())
    except (HttpClientError, ValueError, TypeError):
        return None


def control_plane_section(env: Any, since: float = 0.0) -> tuple[dict[str, Any], list[str]]:
    """Every control-plane call refused for want of the environment's secret since ``since``
    (the stack's deploy): tenant code probing the harness (faults, the IAM log, runtime control,
    emulator reset) is a security finding, and a violation."""
    from harness.env.secret import read_probes

    state_dir = getattr(env, "state_dir", None)
    if state_dir is None:
        return {"available": False}, []
    probes = read_probes(Path(state_dir), since)
    functions = sorted({str(p["function"]) for p in probes if p.get("function")})
    section = {
        "available": True,
        "refused": len(probes),
        "functions": functions,
        "calls": probes[:50],
    }
    if not probes:
        return section, []
    paths = sorted({f"{p.get('method')} {str(p.get('path', '')).split('?')[0]}" for p in probes})
    who = f"function(s) {', '.join(functions)}" if functions else "a process without the secret"
    return section, [
        f"control plane: tenant code probed the control plane: {len(probes)} call(s) from {who} "
        f"refused (403): {'; '.join(paths[:10])}"
    ]


def iam_section(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """The IAM section of a run: every DynamoDB call the stack's functions made with assumed-role
    (tenant-scoped) credentials was evaluated at the edge; a denied one is a violation (the code
    tried to leave its tenant's partitions, or the policy does not cover what the code needs)."""
    if before is None or after is None:
        return {"available": False}, []
    allowed = int(after.get("allowed", 0)) - int(before.get("allowed", 0))
    denied = int(after.get("denied", 0)) - int(before.get("denied", 0))
    calls = list(after.get("decisions") or [])
    section = {
        "available": True,
        "enforce": bool(after.get("enforce", True)),
        "evaluated": allowed + denied,
        "allowed": allowed,
        "denied": denied,
        "summary": f"every call evaluated: {allowed} allowed, {denied} denied",
        "denied_calls": calls[:50],
    }
    violations = [
        f"IAM: {d.get('action')} on {d.get('resource')} with leading keys "
        f"{d.get('leading_keys')} denied for session tags {d.get('tags')} "
        f"({'refused' if d.get('enforced') else 'recorded only'}: {d.get('reason')})"
        for d in calls[:20]
    ]
    if denied > len(violations):
        violations.append(f"IAM: {denied - len(violations)} more denied DynamoDB calls")
    return section, violations if denied else []


def deploy_params(stack: Any) -> dict[str, str]:
    """The template parameters ``stack`` was deployed with, minus those the environment binds
    (harness.yaml ``parameters`` and fake-server URLs): what a replay passes to its deploy so it
    meets the same variant of the stack."""
    profile = stack.profile or {}
    bound = set((profile.get("parameters") or {}).keys())
    fakes = ((profile.get("fixtures") or {}).get("fake_servers")) or {}
    bound |= {str(f.get("parameter")) for f in fakes.values() if isinstance(f, dict)}
    return {str(k): str(v) for k, v in (stack.parameters or {}).items() if k not in bound}


def _tamper(
    env: Any, stack: Any, spec: Any, config: MachineConfig, tamper_stack: Any
) -> tuple[list[Any], list[str]]:
    from harness.profile import Tenancy
    from harness.tokens import LocalIssuer

    method, path = spec.tampering.method, spec.tampering.path
    if path is None:  # a list endpoint answers 200 to a valid token; else a read of a guessed id
        lists = [r.list_ for r in spec.resources.values() if r.list_ is not None]
        reads = [r.read for r in spec.resources.values() if r.read is not None]
        if lists:
            method, path = lists[0].method, lists[0].path
        elif reads:
            method, path = reads[0].method, reads[0].path.replace("{id}", str(uuid.uuid4()))
    assert path is not None  # a resource has a read or a list endpoint (spec validation)
    tenant = config.tenants[0]
    other = config.tenants[1] if len(config.tenants) > 1 else f"{tenant}-other"
    user = (config.users.get(tenant) or ["user-1"])[0]
    issuer = LocalIssuer(env.state_dir, env.endpoints.get("gateway_url"))
    claim = Tenancy.from_profile(stack.profile).tenant_claim or "custom:tenant_id"
    cases, violations = tamper_stack(
        config.base_url,
        method=method,
        path=path,
        tokens=config.tokens,
        issuer=issuer,
        tenant_claim=claim,
        tenant=tenant,
        user=user,
        other_tenant=other,
        accepted=spec.tampering.accepted,
        aws_endpoint=env.endpoints.get("aws_endpoint"),
    )
    return cases, violations
