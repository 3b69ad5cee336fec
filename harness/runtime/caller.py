"""Whether the caller of a synchronous invocation is still there.

Lambda never runs a synchronous invocation nobody waits for any more: the client's connection is
the invocation. The runtime's front doors (the invoke channel and the HTTP Invoke API) give each
call a *gone* future, resolved when the caller times out (the channel's cancel frame) or its
connection closes; :mod:`harness.runtime.pool` races every wait of that call against it and
:meth:`harness.runtime.core.Runtime.invoke` checks it once more before the handler runs. The
future travels in a context variable, so the call path between the door and the pool keeps its
signatures (each asyncio task has its own context: one call cannot see another's).
"""

from __future__ import annotations

import asyncio
import contextvars

__all__ = ["CallerGone", "caller_gone", "gone_future", "is_gone"]


class CallerGone(Exception):
    """The caller of a synchronous invocation timed out or disconnected before it ran."""


caller_gone: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar(
    "harness_caller_gone", default=None
)


def gone_future() -> asyncio.Future[None]:
    """A new *gone* future for the current call, installed in the current task's context."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    caller_gone.set(future)
    return future


def mark_gone(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def is_gone() -> bool:
    future = caller_gone.get()
    return future is not None and future.done()
