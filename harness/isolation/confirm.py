"""After a run: replay files for data-layer findings, and every replay file confirmed on a fresh
deployment and on a pre-filled one.

A replay must not depend on what the stack under test held when the finding was made (the
page a record landed on, how much data a listing had to go through), so ``harness isolation``
re-runs each replay file twice after the run: on a fresh deployment of the stack (destroyed and
deployed again: empty tables, queues, caches), then on the same deployment after its create
calls were replayed three more times (pre-filled). Both outcomes go into the file
(``confirmed: {fresh, prefilled, fresh_how, prefilled_how}``) and into ``isolation.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.isolation.datalayer import DataFinding, DataReader

__all__ = ["confirm_replays", "prefill", "trace_data_findings"]

logger = logging.getLogger(__name__)

MAX_TRACED = 3  # data-layer findings traced per run (one per rule first)
PREFILL_ROUNDS = 3


def trace_data_findings(
    config: Any,
    result: Any,
    findings: list[DataFinding],
    reader: DataReader,
    report_dir: Path | None,
    extra: dict[str, Any],
) -> None:
    """Trace up to :data:`MAX_TRACED` findings (one per rule first) to the calls that wrote
    them; each confirmed one gets a replay file (``isolation-replay.json`` when the machine
    wrote none, else ``isolation-replay-data-N.json``)."""
    from harness.isolation.datareplay import data_replay
    from harness.isolation.replay import write_document

    by_rule: dict[str, DataFinding] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, finding)
    chosen = list(by_rule.values())
    chosen += [f for f in findings if f not in chosen]
    for n, finding in enumerate(chosen[:MAX_TRACED], start=1):
        body = data_replay(config, finding, result.made, reader)
        entry: dict[str, Any] = {"violation": finding.message, "replay_file": None}
        if body is None:
            entry["reason"] = (
                "no call of the run could be tied to this record (it holds no id of a resource "
                "the run created), or re-running those calls did not write such a record again"
                if finding.ids
                else "the record holds no id of a resource the run created"
            )
        else:
            entry["calls"] = [f"{c['method']} {c['path']} as {c['tenant']}" for c in body["calls"]]
            if report_dir is not None:
                name = (
                    "isolation-replay.json"
                    if result.replay_file is None
                    else f"isolation-replay-data-{n}.json"
                )
                path = write_document(
                    report_dir,
                    name,
                    config,
                    body,
                    seed_value=result.seed,
                    message=finding.message,
                    extra=extra,
                )
                entry["replay_file"] = str(path)
                if result.replay_file is None:
                    result.replay_file = str(path)
        result.data_replays.append(entry)


def replay_files(result: Any) -> list[str]:
    files = [result.replay_file] if result.replay_file else []
    files += [e["replay_file"] for e in result.data_replays if e.get("replay_file")]
    return list(dict.fromkeys(files))


def prefill(document: dict[str, Any], base_url: str, tokens: Any) -> int:
    """Replay the document's create calls :data:`PREFILL_ROUNDS` times (more records in every
    partition it touches); the number of calls made."""
    from harness.isolation.http import Call, RecordingClient

    client = RecordingClient(base_url)
    made = 0
    try:
        for _ in range(PREFILL_ROUNDS):
            for recorded in document["calls"]:
                if not str(recorded["step"]).startswith("create"):
                    continue
                call = Call(
                    step=recorded["step"],
                    method=recorded["method"],
                    path=recorded["path"],
                    tenant=recorded["tenant"],
                    user=recorded["user"],
                    query=dict(recorded.get("query") or {}),
                    headers=dict(recorded.get("headers") or {}),
                    body=recorded.get("body"),
                )
                try:
                    token: str | None = tokens(call.tenant, call.user)
                except Exception:
                    token = None
                client.send(call, token)
                made += 1
    finally:
        client.close()
    return made


def confirm_replays(env: Any, result: Any, redeploy: Callable[[], Any]) -> None:
    """Re-run every replay file of ``result`` on a fresh deployment, then pre-filled."""
    from harness.isolation.datalayer import EmulatorData
    from harness.isolation.replay import replay
    from harness.isolation.spec import IsolationSpec
    from harness.isolation.stack import machine_config

    for name in replay_files(result):
        path = Path(name)
        document = json.loads(path.read_text())
        stack = redeploy()
        spec = IsolationSpec.model_validate(document["spec"])
        config = machine_config(env, stack, spec)
        reader = EmulatorData(env, stack)
        outcome: dict[str, Any] = {}
        for label in ("fresh", "prefilled"):
            if label == "prefilled":
                outcome["prefill_calls"] = prefill(document, config.base_url, config.tokens)
            try:
                ok, how, _ = replay(document, config.base_url, config.tokens, data=reader)
            except Exception as exc:  # report it: a replay that cannot run is not confirmed
                ok, how = False, f"the replay could not run: {exc}"
            outcome[label], outcome[f"{label}_how"] = ok, how
        document["confirmed"] = outcome
        path.write_text(json.dumps(document, indent=2, default=str))
        result.confirmed[str(path)] = outcome
        if not (outcome["fresh"] and outcome["prefilled"]):
            logger.warning("replay %s not confirmed: %s", path, outcome)
