"""SyncWell's own invariants, called by the gameday runner after a run: ``fn(env, stack)``.

Each returns ``{"name", "passed", "observed", "target", "details"}``, or ``"status":
"inconclusive"`` when it had nothing to judge (no job accepted during the run, the fake provider
server did not answer); the number-returning ones return ``None`` then. Nothing passes by default.

* :func:`no_lost_jobs`: every job the API accepted (a ``JOB#`` item not ``REJECTED``) either
  succeeded (or was cancelled because the user removed its connection), or is in the DLQ, or is a
  historical job that failed with every chunk's failure recorded; and, in a gameday, from a side
  independent of the table: every 202 the load generator got for a job-creating request (each
  with a fresh Idempotency-Key, so each a new job) has its job record; an acceptance that left
  no record is lost too;
* :func:`no_duplicate_jobs`: no source activity was written twice to a destination, as the fake
  provider server counted the writes it received (independent of the stack's own records: a job
  id is derived from its idempotency key, so two jobs with one key share one item and the table
  alone cannot show a duplicate); inconclusive when the server does not answer or received no
  write;
* :func:`hot_path_success_ratio` / :func:`manual_sync_p95_s`: the external SLOs of section 3b;
* :func:`providers_quiet_without_cache`: while the cache is down the workers call no third
  party, and once it is back (empty, after a reboot) the providers see no more than the rate
  limiter allows (seed 3b "Disabled Rate Limiting", "Cache cluster failure").
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections import Counter
from typing import Any

TERMINAL_OK = {"SUCCEEDED", "CANCELLED"}


def _accepted(job: dict[str, Any]) -> bool:
    """A job the API answered 202 for: not ``REJECTED`` (the send failed, the client got a 5xx)
    and not left ``enqueued: false`` by an invocation that died between recording the job and
    queueing it (the client got a 5xx too, and its retry with the same key queues it)."""
    return job.get("status") != "REJECTED" and (
        job.get("enqueued") is not False or job.get("status") in TERMINAL_OK
    )


def _ddb_jobs(env: Any, stack: Any) -> list[dict[str, Any]]:
    ddb = env.client("dynamodb", direct=True)
    table = stack.resources["SyncWellMetadata"].physical_id
    jobs: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(SK, :job)",
        "ExpressionAttributeValues": {":job": {"S": "JOB#"}},
        "ConsistentRead": True,
    }
    while True:
        answer = ddb.scan(**kwargs)
        for item in answer.get("Items", []):
            jobs.append({k: next(iter(v.values())) for k, v in item.items()})
        if not answer.get("LastEvaluatedKey"):
            return jobs
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _queue_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(
        int(attrs.get(k, 0))
        for k in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def dlq_job_ids(env: Any, stack: Any) -> set[str]:
    """Job ids of the messages in the hot-path DLQ; the messages stay there."""
    sqs = env.client("sqs", direct=True)
    url = stack.resources["HotPathSyncDlq"].physical_id
    seen: dict[str, str] = {}
    handles: list[str] = []
    empty = 0
    while empty < 2:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            empty += 1
            continue
        for m in messages:
            handles.append(m["ReceiptHandle"])
            try:
                seen[m["MessageId"]] = str(json.loads(m["Body"]).get("jobId", ""))
            except (ValueError, AttributeError):
                seen[m["MessageId"]] = ""
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ],
        )
    return {j for j in seen.values() if j}


WORK_QUEUES = ("HotPathSyncQueue", "HistoricalSyncQueue", "HistoricalChunkQueue")


def _in_flight(sqs: Any, url: str) -> tuple[int, int]:
    """(messages received and not yet deleted, the queue's visibility timeout in seconds)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"]
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)), int(
        attrs.get("VisibilityTimeout", 30)
    )


def wait_drained(
    env: Any, stack: Any, timeout_s: float = 60.0, in_flight_max_s: float = 400.0
) -> bool:
    """Wait until the hot path and the historical (cold path) queues are empty.

    A batch whose invocation failed as a whole (a Lambda fault, an init timeout) is not
    returned by the worker: its messages come back when the queue's visibility timeout (180 s
    on the hot path) ends, as on AWS. Such messages are late, not lost, so when ``timeout_s``
    is up and messages are still in flight, the wait goes on for one visibility timeout more
    (at most ``in_flight_max_s`` in all)."""
    sqs = env.client("sqs", direct=True)
    urls = [stack.resources[q].physical_id for q in WORK_QUEUES if q in stack.resources]
    started = time.time()
    deadline = started + timeout_s
    extended = False
    while True:
        if all(_queue_depth(sqs, url) == 0 for url in urls):
            return True
        if time.time() >= deadline:
            if extended:
                return False
            flights = [_in_flight(sqs, url) for url in urls]
            longest = max((vis for n, vis in flights if n > 0), default=0)
            if not longest:
                return False
            extended = True
            deadline = min(started + in_flight_max_s, time.time() + longest + 15)
        time.sleep(1.0)


def _number(value: Any) -> int:
    """A number from a scanned item, plain or still in DynamoDB's ``{"N": "3"}`` form."""
    if isinstance(value, dict):
        value = next(iter(value.values()), 0)
    return int(value or 0)


def _failure_accounted(job: dict[str, Any]) -> bool:
    """A historical job that FAILED after every chunk was closed (done or failed, each with its
    error on its ``HCHUNK#`` item) is accounted for, as a hot-path job in the DLQ is."""
    progress = job.get("progress") or {}
    total = _number(progress.get("totalChunks"))
    closed = _number(progress.get("processedChunks")) + _number(progress.get("failedChunks"))
    return job.get("mode") == "historical" and job.get("status") == "FAILED" and closed == total


# The traffic mix's job-creating requests (harness.yaml ``traffic``): each 202 answer is a new
# job, since every call sends a fresh Idempotency-Key and the load engine never retries.
JOB_ENDPOINTS = ("sync-job", "device-upload")
JOB_KINDS = {"sync", "device_upload"}


def answered_202(load: Any) -> int | None:
    """202 answers the load generator got for job-creating requests (None without a load)."""
    if load is None:
        return None
    total = 0
    for name in JOB_ENDPOINTS:
        group = load.group(f"endpoint:{name}")
        if group is not None:
            total += int(group.statuses.get("202", 0))
    return total


def _since(job: dict[str, Any], since: float | None) -> bool:
    return since is None or float(job.get("acceptedAt") or 0) >= since


def no_lost_jobs(
    env: Any,
    stack: Any,
    since: float | None = None,
    drain_timeout_s: float = 60.0,
    load: Any = None,
) -> dict[str, Any]:
    """Every accepted job is accounted for. Inconclusive when no job was accepted (from
    ``since`` on, the timeline's start, when given): zero lost out of nothing is no evidence.
    ``load`` (the gameday's :class:`harness.load.result.LoadResult`, passed by the runner): its
    202 answers to job-creating requests must each have a job record."""
    started = time.time()
    drained = wait_drained(env, stack, drain_timeout_s)
    waited = round(time.time() - started, 1)
    every = _ddb_jobs(env, stack)
    jobs = [j for j in every if _accepted(j)]
    in_run = [j for j in jobs if _since(j, since)]
    answered = answered_202(load)
    recorded = sum(1 for j in in_run if j.get("kind") in JOB_KINDS)
    unrecorded = max(0, answered - recorded) if answered is not None else 0
    if not in_run and not unrecorded:
        return {
            "name": "no_lost_jobs",
            "passed": False,
            "status": "inconclusive",
            "observed": None,
            "target": 0,
            "details": f"no job was accepted during the run ({len(jobs)} before it): "
            "nothing to account for",
        }
    in_dlq = dlq_job_ids(env, stack)
    lost = [
        j["jobId"]
        for j in jobs
        if j.get("status") not in TERMINAL_OK
        and j["jobId"] not in in_dlq
        and not _failure_accounted(j)
    ]
    return {
        "name": "no_lost_jobs",
        "passed": not lost and not unrecorded,
        "observed": len(lost) + unrecorded,
        "target": 0,
        "details": {
            "accepted": len(jobs),
            "answered_202_to_the_load": answered,
            "answered_202_without_a_job_record": unrecorded,
            "accepted_during_run": len(in_run),
            "never_acknowledged": sum(
                1 for j in every if j.get("status") != "REJECTED" and not _accepted(j)
            ),
            "in_dlq": len(in_dlq),
            "queue_drained": drained,
            "drain_waited_s": waited,
            "lost": lost[:50],
            "statuses": dict(Counter(str(j.get("status")) for j in jobs)),
        },
    }


def _provider_duplicates(stack: Any) -> tuple[dict[str, Any] | None, str]:
    """(the fake provider server's ``/_control/duplicates`` answer, or None and why not)."""
    fakes = getattr(stack, "fake_servers", None) or {}
    url = fakes.get("providers") or stack.parameters.get("ProviderBaseUrl")
    if not url:
        return None, "the stack has no fake provider server to ask"
    try:
        with urllib.request.urlopen(
            f"{url.rstrip('/')}/_control/duplicates", timeout=5
        ) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return None, f"the fake provider server did not answer ({exc})"
    if not isinstance(answer, dict) or "writes" not in answer:
        return None, f"the fake provider server's answer has no write count: {answer!r}"[:300]
    return answer, ""


def no_duplicate_jobs(env: Any, stack: Any) -> dict[str, Any]:
    """No source activity written twice, as the destination (the fake provider) saw it."""
    answer, why = _provider_duplicates(stack)
    if answer is None or not int(answer.get("writes") or 0):
        return {
            "name": "no_duplicate_jobs",
            "passed": False,
            "status": "inconclusive",
            "observed": None,
            "target": 0,
            "details": why
            or "the providers received no write during the run: a duplicate "
            "could not have been seen",
        }
    written_twice = int(answer.get("duplicates") or 0)
    return {
        "name": "no_duplicate_jobs",
        "passed": written_twice == 0,
        "observed": written_twice,
        "target": 0,
        "details": {
            "activities_written": int(answer["writes"]),
            "activities_written_twice": written_twice,
            "examples": answer.get("examples", [])[:5],
        },
    }


def hot_path_success_ratio(env: Any, stack: Any, since: float | None = None) -> float | None:
    """Share of the jobs accepted (from ``since`` on) that did not end in the DLQ; None (no
    value: inconclusive) when no job was accepted."""
    jobs = [j for j in _ddb_jobs(env, stack) if _accepted(j) and _since(j, since)]
    if not jobs:
        return None
    return 1.0 - len(dlq_job_ids(env, stack) & {j["jobId"] for j in jobs}) / len(jobs)


def manual_sync_p95_s(env: Any, stack: Any, since: float | None = None) -> float | None:
    """p95 of request-to-success seconds of manual jobs (those accepted from ``since`` on, when
    given: the gameday runner passes the start of its timeline, leaving warm-up jobs out);
    None (no value: inconclusive) when no manual job succeeded, never a default 0."""
    took = sorted(
        float(j["completedAt"]) - float(j["acceptedAt"])
        for j in _ddb_jobs(env, stack)
        if j.get("mode") == "manual"
        and (since is None or float(j.get("acceptedAt") or 0) >= since)
        and j.get("status") == "SUCCEEDED"
        and j.get("completedAt")
        and j.get("acceptedAt")
    )
    if not took:
        return None
    return took[min(len(took) - 1, math.ceil(0.95 * len(took)) - 1)]


# calls a job may make to one provider for one token of its bucket: list, hydrate, write (a
# destination read is a list too)
CALLS_PER_TOKEN = 3
CACHE_DOWN_GRACE_S = 2.0  # calls of jobs that took their tokens before the cache went down


def _provider_calls(stack: Any) -> list[tuple[float, str]] | None:
    fakes = getattr(stack, "fake_servers", None) or {}
    url = fakes.get("providers")
    if not url:
        return None
    with urllib.request.urlopen(f"{url.rstrip('/')}/_control/calls", timeout=10) as response:
        return [(float(t), str(p)) for t, p, _ in json.loads(response.read())["calls"]]


def _cache_windows(env: Any, since: float) -> tuple[list[tuple[float, float]], list[float]]:
    """(cache-down windows, reboot times) from the harness's fault journal since ``since``."""
    from harness.chaos import fault_records

    records = [
        r for r in fault_records(env.endpoints, state_dir=env.state_dir, since=since)
        if r.get("kind") == "redis"
    ]  # fmt: skip
    records.sort(key=lambda r: float(r["time"]))
    down: list[tuple[float, float]] = []
    reboots: list[float] = []
    for i, record in enumerate(records):
        start, effect = float(record["time"]), str(record.get("effect"))
        if effect in ("down", "hang"):
            end = start + float(record.get("duration_s") or 1e9)
            later = [float(r["time"]) for r in records[i + 1 :]]
            down.append((start, min([end, *later])))
        elif effect == "reboot":
            reboots.append(start)
    return down, reboots


def providers_quiet_without_cache(
    env: Any, stack: Any, since: float | None = None, window_s: float = 1.0
) -> dict[str, Any]:
    """Seed 001, "Disabled Rate Limiting": "if the cache is down, workers will not call
    third-party APIs". Passes when (1) no provider was called while the cache was down (after a
    grace of ``CACHE_DOWN_GRACE_S`` for jobs that already held their tokens), and (2) from the
    first reboot on (the cache back, empty: every bucket full again, every deferred job due),
    no provider got more calls in any ``window_s`` than its bucket allows: (capacity + refill x
    window) tokens x ``CALLS_PER_TOKEN``. A run without a cache fault, or without the fake
    providers, has nothing to judge: it fails as inconclusive."""
    start = float(since or 0.0)
    down, reboots = _cache_windows(env, start)
    calls = _provider_calls(stack)
    target = "0 calls while the cache is down; within the rate limit after it is back"
    if calls is None or not (down or reboots):
        why = "no fake provider server" if calls is None else "no Redis fault in this run"
        return {"name": "providers_quiet_without_cache", "passed": False, "observed": None,
                "target": target, "details": f"inconclusive: {why}"}  # fmt: skip
    while_down = [(t, p) for t, p in calls if any(a + CACHE_DOWN_GRACE_S <= t < b for a, b in down)]
    capacity = float(stack.parameters.get("RateLimitCapacity", 50))
    refill = float(stack.parameters.get("RateLimitRefillPerSecond", 25))
    allowed = (capacity + refill * window_s) * CALLS_PER_TOKEN
    busiest: dict[str, int] = {}
    if reboots:
        after = sorted((t, p) for t, p in calls if t >= min(reboots))
        for provider in {p for _, p in after}:
            times = [t for t, p in after if p == provider]
            lo, most = 0, 0
            for hi, t in enumerate(times):
                while times[lo] < t - window_s:
                    lo += 1
                most = max(most, hi - lo + 1)
            busiest[provider] = most
    over = {p: n for p, n in busiest.items() if n > allowed}
    return {
        "name": "providers_quiet_without_cache",
        "passed": not while_down and not over,
        "observed": len(while_down) + sum(over.values()),
        "target": target,
        "details": {
            "cache_down_windows_s": [round(b - a, 1) for a, b in down],
            "calls_while_down": len(while_down),
            "calls_while_down_by_provider": dict(Counter(p for _, p in while_down)),
            f"busiest_{window_s:g}s_after_reboot": busiest,
            "allowed_per_window": allowed,
            "calls_total": len(calls),
        },
    }
