"""Replays for data-layer findings: which HTTP calls wrote a bad record, confirmed by re-running.

A data-layer finding ("``TENANT#t10`` holds data created by t1", "cache key without a tenant")
is read from the emulators after the run, so by itself it names no request. Every record the
run wrote that breaks a rule is traced back to the calls whose handling wrote it:

1. *candidates*: the record holds the id of a resource the run created (its key or its body), so
   the call that created that resource and every later call that used the id (a read that fills
   a cache, an update) are what preceded it;
2. *confirmed*: the candidates are re-run against the live stack between two snapshots of that
   rule's records (polling a few seconds, as queues and workers write asynchronously); the new
   records must break the same rule;
3. *shrunk*: each call but the first create is dropped if the rest still confirms.

The result is a replay document like the machine's (``check.mode: data-layer``, ``check.rule``),
which :func:`harness.isolation.run.replay` re-checks with a :class:`DataReader`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness.isolation.datalayer import (
    DataFinding,
    DataReader,
    data_findings,
    snapshot,
)
from harness.isolation.http import Call
from harness.isolation.spec import DataRules, IsolationSpec

__all__ = ["candidates_for", "check_replayed_data", "data_replay", "rule_only"]

POLL_S = 5.0  # how long a re-run waits for asynchronous writers (queues, workers)


def candidates_for(finding: DataFinding, calls: list[Call], spec: IsolationSpec) -> list[Call]:
    """The calls that created a resource whose id the record holds, then every later call
    that used one of those ids, in the order they were made."""
    from harness.isolation.replay import created_id

    out: list[Call] = []
    ids = set(finding.ids)
    started = False
    for call in calls:
        made = created_id(call.to_json(), call.response, spec)
        if made is not None and made in ids:
            started = True
            out.append(call)
            continue
        if started and any(
            i in json.dumps([call.path, call.query, call.body], default=str) for i in ids
        ):
            out.append(call)
    return out


def check_replayed_data(
    rules: DataRules,
    label: str,
    reader: DataReader,
    before: Any,
    tenants: list[str],
    owned: dict[str, str],
    *,
    poll_s: float = POLL_S,
) -> list[DataFinding]:
    """Findings of rule ``label`` among the records written since ``before`` (polled)."""
    deadline = time.monotonic() + poll_s
    while True:
        after = snapshot(reader, rule_only(rules, label))
        _, found, _ = data_findings(rules, before, after, tenants, owned, only=label)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.25)


def rule_only(rules: DataRules, label: str) -> DataRules:
    """``rules`` reduced to the rule labelled ``label`` (a snapshot of one rule is cheaper)."""
    kinds = {
        "dynamodb": [r for r in rules.dynamodb if f"dynamodb {r.table}.{r.key}" == label],
        "s3": [r for r in rules.s3 if f"s3 {r.bucket}" == label],
        "sqs": [r for r in rules.sqs if f"sqs {r.queue}.{r.field}" == label],
        "redis": [r for r in rules.redis if f"redis {r.pattern}" == label],
    }
    return DataRules(**kinds)


def data_replay(
    config: Any,
    finding: DataFinding,
    calls: list[Call],
    reader: DataReader,
    *,
    budget_s: float = 60.0,
) -> dict[str, Any] | None:
    """A confirmed, shrunk replay document body (``calls``, ``check``) for ``finding``, or
    None when no call of the run can be tied to the record or re-running them does not write
    such a record again."""
    from harness.isolation.replay import replay, replay_basis

    spec: IsolationSpec = config.spec
    chosen = candidates_for(finding, calls, spec)
    if not chosen:
        return None
    base = replay_basis(config)
    run_tenants = sorted({*config.tenants, *(c.tenant for c in calls)})

    def document(candidate: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            **base,
            "calls": candidate,
            "check": {
                "kind": "data-layer",
                "mode": "data-layer",
                "rule": finding.rule,
                "call_index": len(candidate) - 1,
                "foreign_ids": [],
                "tenants": run_tenants,
            },
        }

    def confirms(candidate: list[dict[str, Any]]) -> bool:
        try:
            ok, _, _ = replay(document(candidate), config.base_url, config.tokens, data=reader)
        except Exception:  # a replay that cannot run confirms nothing
            return False
        return ok

    best = [c.to_json() for c in chosen]
    if not confirms(best):
        return None
    deadline = time.monotonic() + budget_s
    position = len(best) - 1
    while position >= 1 and time.monotonic() < deadline:
        candidate = best[:position] + best[position + 1 :]
        if confirms(candidate):
            best = candidate
        position -= 1
    return document(best)
