"""What a scenario reads of a remote (kind aws) target after the run, through the account's API.

* every SQS queue of the stack (``AWS::SQS::Queue``, physical id = queue URL): its depth, visible
  plus in flight, for ``dlq_max`` expectations (``stack/LogicalId`` keys, as for local stacks);
* the load stack folder's ``checks`` module (``harness.yaml``): each function is called as
  ``fn(account, stack[, since=...])`` where ``account.client("dynamodb")`` is a boto3 client of
  the target's account and ``stack`` the :class:`~harness.remote.target.RemoteStack` (its
  ``resources``/``outputs``/``of_type``). A check written for local stacks that needs more fails
  its expectation with the error ("check failed to run"), never silently.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.remote.target import AwsTarget, RemoteStack, client, read_stack

__all__ = ["RemoteAccount", "remote_observations"]


class RemoteAccount:
    """The ``env`` a check gets on a remote target: the account's AWS clients, nothing local."""

    def __init__(self, target: AwsTarget) -> None:
        self.target = target
        self.endpoints: dict[str, Any] = {}

    def client(self, service: str, direct: bool = False) -> Any:
        return client(self.target, service)


def _queue_depths(target: AwsTarget, stack: RemoteStack) -> tuple[dict[str, int], list[str]]:
    from harness.scenario.sampler import queue_depth

    depths: dict[str, int] = {}
    problems: list[str] = []
    queues = stack.of_type("AWS::SQS::Queue")
    if not queues:
        return depths, problems
    sqs = client(target, "sqs")
    for logical, url in sorted(queues.items()):
        try:
            depths[f"{stack.name}/{logical}"] = queue_depth(sqs, url)
        except Exception as exc:
            problems.append(f"could not read the depth of {stack.name}/{logical}: {exc}")
    return depths, problems


def _checks(
    account: RemoteAccount, stack: RemoteStack, stack_dirs: Sequence[Path], since: float | None
) -> dict[str, Callable[[], Any]]:
    from harness.profile import load_profile

    out: dict[str, Callable[[], Any]] = {}
    for folder in stack_dirs:
        profile = load_profile(folder / "harness.yaml")
        if profile.checks is None:
            continue
        path = folder / profile.checks.module
        spec = importlib.util.spec_from_file_location(f"harness_remote_checks_{len(out)}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in dir(module):
            fn = getattr(module, name)
            if name.startswith("_") or not callable(fn) or fn.__module__ != module.__name__:
                continue
            try:
                takes_since = "since" in inspect.signature(fn).parameters
            except (TypeError, ValueError):
                takes_since = False
            bound = functools.partial(fn, account, stack)
            out[name] = functools.partial(bound, since=since) if takes_since and since else bound
    return out


def remote_observations(
    target: AwsTarget, stack_dirs: Sequence[Path], since: float | None
) -> tuple[dict[str, int], dict[str, Callable[[], Any]], list[str]]:
    """(queue depths, checks, problems) of the remote stack, read after the run."""
    stack = read_stack(target)
    depths, problems = _queue_depths(target, stack)
    return depths, _checks(RemoteAccount(target), stack, stack_dirs, since), problems
