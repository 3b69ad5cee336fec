"""The Lambda runtime: execution environments, the Invoke API and event-source pollers.

Start it with ``python -m harness.runtime --port P --state-dir DIR``; drive it with
:class:`harness.runtime.client.RuntimeClient`.
"""

from __future__ import annotations

from harness.runtime.client import RuntimeClient
from harness.runtime.config import RuntimeConfig

__all__ = ["RuntimeClient", "RuntimeConfig"]
