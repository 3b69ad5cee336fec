"""Once a second during a run: queue and DLQ depths, and the runtime's Lambda metrics.

Reads go straight to the emulators (``direct=True``), never through the edge, so injected AWS
faults do not blind the observer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness.model import DeployedStack

__all__ = ["Sampler", "queue_depth", "queues_of"]

logger = logging.getLogger(__name__)


def queues_of(stacks: list[DeployedStack]) -> tuple[dict[str, str], dict[str, str]]:
    """(queues, dlqs): display name -> queue URL, for every SQS queue of the stacks.

    A queue is a DLQ when another queue's redrive policy points at it.
    """
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    dlq_arns: set[str] = set()
    for stack in stacks:
        for logical_id, res in stack.resources.items():
            if res.type != "AWS::SQS::Queue":
                continue
            url = str(res.attributes.get("QueueUrl") or res.physical_id)
            name = f"{stack.name}/{logical_id}"
            urls[name] = url
            if res.arn:
                arns[res.arn] = name
            redrive = res.properties.get("RedrivePolicy") or {}
            if isinstance(redrive, str):
                try:
                    redrive = json.loads(redrive)
                except ValueError:
                    redrive = {}
            target = redrive.get("deadLetterTargetArn")
            if target:
                dlq_arns.add(str(target))
    dlq_names = {arns[arn] for arn in dlq_arns if arn in arns}
    queues = {n: u for n, u in urls.items() if n not in dlq_names}
    dlqs = {n: u for n, u in urls.items() if n in dlq_names}
    return queues, dlqs


@dataclass
class Sampler:
    endpoints: dict[str, Any]
    stacks: list[DeployedStack]
    run_started: float
    interval: float = 1.0
    queue_series: list[dict[str, Any]] = field(default_factory=list)
    lambda_series: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_counts: dict[str, dict[str, float]] = field(default_factory=dict)

    def start(self) -> None:
        from harness.aws import client_for

        self._sqs = client_for(self.endpoints, "sqs", direct=True)
        self._queues, self._dlqs = queues_of(self.stacks)
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = round(time.time() - self.run_started, 1)
            try:
                self.sample_queues(t)
            except Exception as exc:  # the observer must not take the run down
                logger.debug("queue sample failed: %s", exc)
            try:
                self.sample_lambda(t)
            except Exception as exc:
                logger.debug("lambda sample failed: %s", exc)
            self._stop.wait(self.interval)

    def depth(self, url: str) -> int:
        return queue_depth(self._sqs, url)

    def sample_queues(self, t: float) -> None:
        if not (self._queues or self._dlqs):
            return
        self.queue_series.append(
            {
                "t": t,
                "queues": {n: self.depth(u) for n, u in self._queues.items()},
                "dlqs": {n: self.depth(u) for n, u in self._dlqs.items()},
            }
        )

    def sample_lambda(self, t: float) -> None:
        url = self.endpoints.get("runtime_url")
        if not url:
            return
        from harness.env.jsonhttp import call_json

        metrics = call_json("GET", f"{url}/_harness/runtime/metrics", timeout=2) or {}
        functions: dict[str, dict[str, float]] = {}
        for name, data in (metrics.get("functions") or {}).items():
            counts = {
                k: float(data.get(k, 0) or 0)
                for k in ("invocations", "errors", "throttles", "cold_starts")
            }
            last = self._last_counts.get(name, dict.fromkeys(counts, 0.0))
            functions[name] = {
                "concurrency": _in_use(data.get("concurrency")),
                **{k: max(0.0, counts[k] - last[k]) for k in counts},
            }
            self._last_counts[name] = counts
        self.lambda_series.append({"t": t, "functions": functions})


def _in_use(concurrency: Any) -> float:
    """The runtime reports ``concurrency: {"in_use": N, "max": M}`` (a bare number is accepted
    too)."""
    if isinstance(concurrency, dict):
        return float(concurrency.get("in_use", 0) or 0)
    return float(concurrency or 0)


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in a queue, visible or in flight (SQS's two approximate counts)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
        attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
    )
