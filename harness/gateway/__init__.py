"""The local API Gateway: deployed stacks' HTTP and REST APIs, served by the daemon.

See ``README.md`` in this folder for what it emulates and how (the request chain, the
``tenancy`` profile, throttling, error answers). The public surface is :class:`Gateway`.
"""

from __future__ import annotations

from harness.gateway.gateway import MAX_PAYLOAD, Gateway

__all__ = ["MAX_PAYLOAD", "Gateway"]
