"""Run the isolation machine, shrink a failure to a minimal sequence of HTTP calls, write a
replay file, and replay such a file against a fresh environment.

A replay file (JSON) holds the seed, the tenants, every call of the minimal failing run (method,
path, query, headers, body, tenant and user — a token is re-minted for them on replay, never
stored), what was expected and what came back, and which check failed on which call; from
:func:`run_isolation` also the stack (``stack``, ``stack_dir``) and the template parameters it
was deployed with (``params``, see :func:`deploy_params`), which ``harness replay`` redeploys.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import get_state_machine_test

from harness.isolation.http import Call, RecordingClient, json_path
from harness.isolation.machine import IsolationViolation, MachineConfig, build_machine

__all__ = [
    "IsolationResult",
    "created_id",
    "deploy_params",
    "judge",
    "minimize_calls",
    "replay",
    "replay_basis",
    "run_isolation",
    "run_machine",
    "write_replay",
]

REPLAY_FORMAT = 1
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
    counters = {"steps": 0, "throttled": 0}
    no_token: set[str] = set()
    original_teardown = machine.teardown

    def teardown(self: Any) -> None:
        seen_calls.extend(self.client.calls)
        counters["steps"] += self.steps
        counters["throttled"] += self.client.throttled
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
    try:
        with _shrink_budget(shrink_budget_s):
            seed(seed_value)(test)()
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
        steps=counters["steps"],
        calls=len(seen_calls),
        seconds=elapsed,
        endpoints=sorted({f"{c.method} {_shape(c.path)}" for c in seen_calls}),
        tenants=sorted({c.tenant for c in seen_calls}),
        violation=violation,
        violations=[violation["summary"]] if violation else [],
        steps_per_example=steps,
        throttled=counters["throttled"],
        owned=_owned(config, seen_calls + replay_calls),
        statuses=_statuses(seen_calls),
        tenants_without_token=sorted(no_token),
        made=seen_calls,
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


def replay_basis(config: MachineConfig) -> dict[str, Any]:
    """What :func:`replay` needs besides the calls and the check: the spec (to map created ids)
    and the statuses that count as a refusal (401 always does)."""
    return {
        "denied": sorted({*config.spec.denied, 401}),
        "spec": config.spec.model_dump(mode="json", by_alias=True),
    }


def write_replay(
    folder: Path,
    config: MachineConfig,
    result: IsolationResult,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/isolation-replay.json``; ``extra`` adds e.g. the stack folder to
    re-deploy on ``harness replay``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "isolation-replay.json"
    assert result.violation is not None
    calls = result.violation["calls"]
    document = {
        "format": REPLAY_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": result.seed,
        "tenants": sorted({c["tenant"] for c in calls}),
        "violation": {"kind": result.violation["kind"], "message": result.violation["message"]},
        **replay_basis(config),
        "calls": calls,
        "check": result.violation["check"],
        **(extra or {}),
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def write_document(
    folder: Path,
    name: str,
    config: MachineConfig,
    body: dict[str, Any],
    *,
    seed_value: int,
    message: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a replay file ``folder/name`` from a replay body (``calls``, ``check``, the spec)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    document = {
        "format": REPLAY_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed_value,
        "tenants": sorted({c["tenant"] for c in body["calls"]}),
        "violation": {"kind": body["check"]["kind"], "message": message},
        **replay_basis(config),
        **body,
        **(extra or {}),
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def minimize_calls(
    config: MachineConfig,
    calls: list[dict[str, Any]],
    check: dict[str, Any],
    *,
    replayed: list[Call] | None = None,
    budget_s: float = 60.0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Delete every call the failure does not need, by replaying against the live stack.

    Hypothesis shrinks the choices behind a run, and with rules that draw their principals
    and resources as they go many deletions come out "misaligned" (the later draws mean
    something else), so its minimal run can keep steps that play no part (seen: four list
    calls before a create / read / foreign read). This pass works on the HTTP calls instead:
    calls after the failing one go first, then each earlier call is dropped if the replay
    (ids the API hands out are mapped, as ``harness replay`` does) still fails the same
    check; passes repeat until nothing more can go. The result must reproduce twice more, or
    Hypothesis's sequence is kept. Bounded by ``budget_s``; the replays' calls are appended to
    ``replayed`` (so resources they create count as owned by their creator)."""
    index = int(check["call_index"])
    best = calls[: index + 1]
    best_check = dict(check)
    deadline = time.monotonic() + budget_s
    base = replay_basis(config)

    def reproduces(candidate: list[dict[str, Any]], candidate_check: dict[str, Any]) -> bool:
        try:
            ok, _, made = replay(
                {**base, "calls": candidate, "check": candidate_check},
                config.base_url,
                config.tokens,
            )
        except Exception:  # a replay that cannot run proves nothing
            return False
        if replayed is not None:
            replayed.extend(made)
        return ok

    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        position = int(best_check["call_index"]) - 1
        while position >= 0 and time.monotonic() < deadline:
            candidate = best[:position] + best[position + 1 :]
            if (
                _referenced(best[position], candidate[position:], best_check, config.spec)
                or best[position + 1].get("derive") is not None
                or _feeds_listing(best[position], best, best_check)
            ):
                position -= 1  # a later call uses what it creates or hands out: keep it
                continue
            candidate_check = {**best_check, "call_index": int(best_check["call_index"]) - 1}
            if reproduces(candidate, candidate_check):
                best, best_check, changed = candidate, candidate_check, True
            position -= 1
    if len(best) == len(calls):
        return calls, check
    if all(reproduces(best, best_check) for _ in range(2)):
        return best, best_check
    return calls, check


def replay(
    document: dict[str, Any], base_url: str, tokens: Any, *, data: Any = None
) -> tuple[bool, str, list[Call]]:
    """Re-run a replay file's calls in order (ids the API hands out are mapped to the new ones)
    and re-check the failing call. Returns (reproduced, explanation, calls). A data-layer
    finding (``check.mode: data-layer``) is re-checked in the emulators: ``data`` is a
    :class:`harness.isolation.datalayer.DataReader` over them."""
    from harness.isolation.spec import IsolationSpec

    spec = IsolationSpec.model_validate(document["spec"])
    check = document["check"]
    before = None
    if check.get("mode") == "data-layer":
        from harness.isolation.datalayer import snapshot
        from harness.isolation.datareplay import rule_only

        if data is None:
            raise ValueError("a data-layer replay needs a DataReader over the emulators (data=)")
        before = snapshot(data, rule_only(spec.data, str(check["rule"])))
    client = RecordingClient(base_url)
    mapping: dict[str, str] = {}
    token_cache: dict[tuple[str, str], str | None] = {}
    own_tenants = {t for t in spec.tenants}
    calls = document["calls"]
    last: Call | None = None
    try:
        for recorded in calls:
            call = Call(
                step=recorded["step"],
                method=recorded["method"],
                path=_remap(recorded["path"], mapping),
                tenant=recorded["tenant"],
                user=recorded["user"],
                query={k: _remap(v, mapping) for k, v in recorded.get("query", {}).items()},
                headers=recorded.get("headers", {}),
                body=_remap_any(recorded.get("body"), mapping),
                expected=recorded.get("expected", ""),
                paginate=recorded.get("paginate"),
                derive=recorded.get("derive"),
            )
            key = (call.tenant, call.user)
            if key not in token_cache:
                try:
                    token_cache[key] = tokens(call.tenant, call.user)
                except Exception:
                    if call.tenant in own_tenants:
                        raise
                    token_cache[key] = None  # a generated tenant the issuer cannot mint for

            last = client.send(call, token_cache[key])
            _learn_ids(recorded, last, spec, mapping)
    finally:
        client.close()
    assert last is not None
    if before is not None:
        return _replayed_data(document, spec, data, before, client.calls)
    denied = set(document.get("denied", [403, 404]))
    index = int(check["call_index"])
    recorded = calls[index]
    got = client.calls[index]
    mode = check.get("mode", "not-denied")
    if mode == "listed":
        foreign = {mapping.get(i, i) for i in check.get("foreign_ids", [])}
        found = foreign & set(_ids_in(got.response))
        reproduced = bool(found)
        how = (
            f"foreign ids in the listing: {sorted(found)}"
            if found
            else "no foreign id in the listing"
        )
    elif mode == "not-ok":
        reproduced = got.status != 200
        how = f"the owner's read answered {got.status} (recorded {recorded['status']})"
    elif mode == "server-error":
        reproduced = got.status >= 500
        how = f"answered {got.status} (recorded {recorded['status']})"
    else:
        reproduced = got.status not in denied
        how = f"answered {got.status} (recorded {recorded['status']}; a denial is one of {sorted(denied)})"
    how = f"call {index + 1} of {len(calls)} ({recorded['step']}): {how}"
    return reproduced, how, client.calls


def _replayed_data(
    document: dict[str, Any], spec: Any, data: Any, before: Any, calls: list[Call]
) -> tuple[bool, str, list[Call]]:
    from harness.isolation.datareplay import check_replayed_data

    check = document["check"]
    owned: dict[str, str] = {}
    for call in calls:
        made = created_id(call.to_json(), call.response, spec)
        if made is not None:
            owned[made] = call.tenant
    tenants = sorted({*check.get("tenants", []), *spec.tenants, *(c.tenant for c in calls)})
    found = check_replayed_data(spec.data, str(check["rule"]), data, before, tenants, owned)
    how = found[0].message if found else f"no new record breaks {check['rule']}"
    return bool(found), f"after {len(calls)} calls: {how}", calls


def _remap(text: Any, mapping: dict[str, str]) -> Any:
    if not isinstance(text, str):
        return text
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def _remap_any(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _remap_any(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap_any(v, mapping) for v in value]
    return _remap(value, mapping)


def created_id(recorded: dict[str, Any], response: Any, spec: Any) -> str | None:
    """The id a create call's ``response`` hands out (None for any other call)."""
    if not recorded["step"].startswith("create"):
        return None
    kind = recorded["step"].split()[1]
    resource = spec.resources.get(kind)
    if resource is None or resource.create is None:
        return None
    found = json_path(response, resource.create.id)
    return None if found is None else str(found)


def _learn_ids(recorded: dict[str, Any], call: Call, spec: Any, mapping: dict[str, str]) -> None:
    """After a create, map the recorded id to the id this run got."""
    old = created_id(recorded, recorded.get("response"), spec)
    new = created_id(recorded, call.response, spec)
    if old is not None and new is not None:
        mapping[old] = new


def _referenced(
    recorded: dict[str, Any], later: list[dict[str, Any]], check: dict[str, Any], spec: Any
) -> bool:
    """Whether a call after ``recorded`` (or the check) uses the id ``recorded`` created: such
    a create cannot go, or the replay would reach the live stack's copy from the first run, and
    a replay file must reproduce on a fresh deployment."""
    created = created_id(recorded, recorded.get("response"), spec)
    if created is None:
        return False
    if created in check.get("foreign_ids", []):
        return True
    return any(
        created in json.dumps([c["path"], c.get("query"), c.get("body")], default=str)
        for c in later
    )


def _feeds_listing(
    recorded: dict[str, Any], calls: list[dict[str, Any]], check: dict[str, Any]
) -> bool:
    """Whether ``recorded`` is a create by a principal whose own listing the failure needs: the
    lister of the failing listing, or the holder of a page token that is tampered or replayed.
    How many pages that principal's listing has depends on its own records, and the live stack
    still holds the run's: without this, a create the listing needs could be dropped because an
    earlier example's record stands in for it, and the file would not reproduce on a fresh
    deployment."""
    if not str(recorded["step"]).startswith("create"):
        return False
    who = (recorded["tenant"], recorded["user"])
    index = int(check["call_index"])
    listers = set()
    if check.get("mode") == "listed":
        listers.add((calls[index]["tenant"], calls[index]["user"]))
    for n, call in enumerate(calls[1:], start=1):
        if call.get("derive") is not None:
            listers.add((calls[n - 1]["tenant"], calls[n - 1]["user"]))
    return who in listers


def _ids_in(document: Any) -> list[str]:
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key.endswith("id") and isinstance(value, str):
                found.append(value)
            else:
                found += _ids_in(value)
    elif isinstance(document, list):
        for value in document:
            found += _ids_in(value)
    return found


# -- the whole isolation run against a deployed stack ---------------------------------------------


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
    from harness.isolation.datalayer import (
        EmulatorData,
        check_data,
        data_findings,
        role_policies,
        snapshot,
    )
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
    policies: list[dict[str, Any]] | None = None
    table_arn = ""
    if spec.data.iam is not None:
        policies, _ = role_policies(stack, spec.data.iam.role)
        table_record = stack.resources.get(spec.data.iam.table)
        table_arn = str(getattr(table_record, "arn", "") or "")
    figures, data_violations = check_data(
        spec.data, before, after, tenants, result.owned, policies=policies, table_arn=table_arn
    )
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
    import urllib.request

    endpoint = (getattr(env, "endpoints", None) or {}).get("aws_endpoint")
    if not endpoint:
        return None
    from harness.env.secret import headers_for

    url = f"{endpoint}/_harness/edge/iam?denied=1&since={since if since is not None else 9e12}"
    try:
        request = urllib.request.Request(url, headers=headers_for(str(endpoint)))
        with urllib.request.urlopen(request, timeout=5) as answer:
            return dict(json.load(answer))
    except (OSError, ValueError):
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
    from harness.gateway.tenancy import Tenancy
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
