"""Replay files: what they hold, how a failure's HTTP calls are minimized, and how a file is
re-run against a stack.

A replay file (JSON) holds the seed, the tenants, every call of the minimal failing run (method,
path, query, headers, body, tenant and user — a token is re-minted for them on replay, never
stored; a listing followed to the end and a tampered page token are recorded as recipes,
``paginate`` and ``derive``, so a replay re-does them on the data it meets), what was expected and
what came back, and which check failed on which call (``check.mode``: not-denied, not-refused
(a call carrying a tenant hint, where any 4xx is a refusal too), listed, not-ok, server-error,
or data-layer with the rule re-checked in the emulators); from
:func:`harness.isolation.run.run_isolation` also the stack (``stack``, ``stack_dir``), the
template parameters it was deployed with (``params``) and, from ``harness isolation``, whether it
reproduced on a fresh and on a pre-filled deployment (``confirmed``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.isolation.http import Call, RecordingClient, json_path
from harness.isolation.model import MachineConfig

if TYPE_CHECKING:
    from harness.isolation.run import IsolationResult

__all__ = [
    "REPLAY_FORMAT",
    "created_id",
    "minimize_calls",
    "replay",
    "replay_basis",
    "write_document",
    "write_replay",
]

REPLAY_FORMAT = 1


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

    # One cheap try first: keep only the creates, the calls a derived token is read from, and
    # the failing call (reads and listings before it are usually bystanders). One replay
    # instead of one per call when the machine is slow.
    last = int(best_check["call_index"])
    keep = [
        n
        for n, c in enumerate(best)
        if n == last
        or str(c["step"]).startswith("create")
        or (n + 1 <= last and best[n + 1].get("derive") is not None)
        or c.get("derive") is not None
    ]
    if len(keep) < len(best):
        candidate = [best[n] for n in keep]
        candidate_check = {**best_check, "call_index": len(candidate) - 1}
        if reproduces(candidate, candidate_check):
            best, best_check = candidate, candidate_check

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
    elif mode == "not-refused":  # a call carrying a tenant hint: any 4xx refuses it too
        reproduced = got.status not in denied and not 400 <= got.status < 500
        how = (
            f"answered {got.status} (recorded {recorded['status']}; a refusal is one of "
            f"{sorted(denied)} or another 4xx)"
        )
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
