"""One JSON call to an environment's control APIs (or a stack's fake server): kept importable
here for its callers; the helper and its error mapping live in :mod:`harness.httpclient`."""

from __future__ import annotations

from harness.httpclient import NO_ANSWER_FIX, call_json

__all__ = ["NO_ANSWER_FIX", "call_json"]
