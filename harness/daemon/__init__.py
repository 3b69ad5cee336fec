"""The gateway/runtime daemon: serves deployed stacks' APIs and the ``/_harness/*`` control API."""
