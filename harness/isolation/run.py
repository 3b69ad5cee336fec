"""Run the isolation machine, shrink a failure to a minimal sequence of HTTP calls, write a
replay file, and replay such a file against a fresh environment.

A replay file (JSON) holds the seed, the tenants, every call of the minimal failing run (method,
path, query, headers, body, tenant and user — a token is re-minted for them on replay, never
stored), what was expected and what came back, and which check failed on which call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import get_state_machine_test

from harness.isolation.http import Call, RecordingClient, json_path
from harness.isolation.machine import IsolationViolation, MachineConfig, build_machine

__all__ = ["IsolationResult", "replay", "run_machine", "write_replay"]

REPLAY_FORMAT = 1


@dataclass
class IsolationResult:
    passed: bool
    seed: int
    examples: int
    steps: int
    calls: int
    seconds: float
    endpoints: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    violation: dict[str, Any] | None = None
    replay_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seed": self.seed,
            "examples": self.examples,
            "steps": self.steps,
            "calls": self.calls,
            "seconds": round(self.seconds, 2),
            "distinct_endpoints": len(self.endpoints),
            "endpoints": self.endpoints,
            "distinct_tenants": len(self.tenants),
            "tenants": self.tenants,
            "violation": self.violation,
            "replay_file": self.replay_file,
        }


def run_machine(
    config: MachineConfig,
    *,
    examples: int = 50,
    steps: int = 20,
    seed_value: int = 0,
    report_dir: Path | None = None,
    shrink: bool = True,
) -> IsolationResult:
    """Run the machine; on a violation, shrink it and write ``isolation-replay.json``."""
    machine = build_machine(config)
    seen_calls: list[Call] = []
    original_teardown = machine.teardown

    def teardown(self: Any) -> None:
        seen_calls.extend(self.client.calls)
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
        seed(seed_value)(test)()
    except (IsolationViolation, Flaky, BaseExceptionGroup) as exc:
        found = _violations(exc)
        if not found:
            raise
        minimal = min(found, key=lambda v: len(v.all_calls))
        violation = {
            "kind": minimal.kind,
            "message": str(minimal),
            "calls": [c.to_json() for c in minimal.all_calls],
            "check": {
                "kind": minimal.kind,
                "call_index": minimal.evidence,
                "mode": minimal.mode,
                "foreign_ids": minimal.foreign_ids,
            },
        }
    elapsed = time.perf_counter() - started
    result = IsolationResult(
        passed=violation is None,
        seed=seed_value,
        examples=examples,
        steps=steps,
        calls=len(seen_calls),
        seconds=elapsed,
        endpoints=sorted({f"{c.method} {_shape(c.path)}" for c in seen_calls}),
        tenants=sorted({c.tenant for c in seen_calls}),
        violation=violation,
    )
    if violation is not None and report_dir is not None:
        result.replay_file = str(write_replay(report_dir, config, result))
    return result


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
    for part in path.split("/"):
        if len(part) >= 16 and any(c.isdigit() for c in part):
            parts.append("{id}")
        else:
            parts.append(part)
    return "/".join(parts)


def write_replay(folder: Path, config: MachineConfig, result: IsolationResult) -> Path:
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
        "denied": config.spec.denied,
        "calls": calls,
        "check": result.violation["check"],
        "spec": config.spec.model_dump(mode="json"),
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def replay(document: dict[str, Any], base_url: str, tokens: Any) -> tuple[bool, str, list[Call]]:
    """Re-run a replay file's calls in order (ids the API hands out are mapped to the new ones)
    and re-check the failing call. Returns (reproduced, explanation, calls)."""
    from harness.isolation.spec import IsolationSpec

    spec = IsolationSpec.model_validate(document["spec"])
    client = RecordingClient(base_url)
    mapping: dict[str, str] = {}
    token_cache: dict[tuple[str, str], str] = {}
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
            )
            key = (call.tenant, call.user)
            if key not in token_cache:
                token_cache[key] = tokens(call.tenant, call.user)
            last = client.send(call, token_cache[key])
            _learn_ids(recorded, last, spec, mapping)
    finally:
        client.close()
    assert last is not None
    check = document["check"]
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


def _learn_ids(recorded: dict[str, Any], call: Call, spec: Any, mapping: dict[str, str]) -> None:
    """After a create, map the recorded id to the id this run got."""
    if not recorded["step"].startswith("create"):
        return
    kind = recorded["step"].split()[1]
    resource = spec.resources.get(kind)
    if resource is None or resource.create is None:
        return
    old = json_path(recorded.get("response"), resource.create.id)
    new = json_path(call.response, resource.create.id)
    if old is not None and new is not None:
        mapping[str(old)] = str(new)


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
