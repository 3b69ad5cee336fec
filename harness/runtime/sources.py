"""The event sources the stacks declare, kept in step with the running pollers.

A source is keyed by its stack, its name (or position), its function and its whole spec, so a
changed source is a new poller: the old one stops and a new one starts. A source gone from the
stacks stops with ``teardown`` (its subscription is removed); every poller restarts when the
AWS endpoints changed. Pollers start only when there are AWS endpoints to poll.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from harness.model import DeployedStack, EventSourceSpec
from harness.runtime.pollers import Poller, create_poller

__all__ = ["SOURCE_SETUP_WAIT_S", "sync_pollers", "wait_ready", "wanted_sources"]

logger = logging.getLogger(__name__)

SOURCE_SETUP_WAIT_S = 15.0

Wanted = dict[str, tuple[str, str, EventSourceSpec]]  # key → (stack, function name, source)


def wanted_sources(stacks: dict[str, DeployedStack], logical: dict[tuple[str, str], str]) -> Wanted:
    """The enabled sources of ``stacks``, by key; ``logical`` maps (stack, logical id) to the
    function's name."""
    wanted: Wanted = {}
    for stack in stacks.values():
        for index, source in enumerate(stack.event_sources):
            if not source.enabled:
                continue
            function = logical.get((stack.name, source.function), source.function)
            key = json.dumps(
                [stack.name, source.name or index, function, source.__dict__], sort_keys=True
            )
            wanted[key] = (stack.name, function, source)
    return wanted


def sync_pollers(
    pollers: dict[str, Poller], wanted: Wanted, runtime: Any, *, restart_all: bool, start: bool
) -> None:
    """Stop the pollers not ``wanted`` (all of them with ``restart_all``), then, if ``start``,
    create and start the missing ones (a poller that cannot be created is logged and left out)."""
    for key in list(pollers):
        if key not in wanted:
            pollers.pop(key).stop(teardown=True)
        elif restart_all:
            pollers.pop(key).stop()
    if not start:
        return
    for key, (stack_name, function, source) in wanted.items():
        if key in pollers:
            continue
        try:
            poller = create_poller(source, function, runtime)
        except Exception:
            logger.exception("cannot create the %s poller for %s", source.kind, function)
            continue
        poller.stack = stack_name
        pollers[key] = poller
        poller.start()


def wait_ready(pollers: list[Poller], timeout: float) -> None:
    """Wait (at most ``timeout`` in all) until every poller has set its source up."""
    deadline = time.monotonic() + timeout
    for poller in pollers:
        if not poller.wait_ready(max(0.0, deadline - time.monotonic())):
            logger.warning("event source %s is not set up yet; reload goes on", poller.name)
