"""``python -m harness.runtime --port P --state-dir DIR``: the Lambda runtime server.

Health: ``GET http://127.0.0.1:P/_harness/health`` → 200 JSON. Every flag has an environment
variable; other knobs are ``HARNESS_RUNTIME_*`` variables (see :class:`RuntimeConfig`).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from harness.runtime.config import RuntimeConfig
from harness.runtime.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m harness.runtime",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    parser.add_argument(
        "--port", type=int, default=int(env("HARNESS_RUNTIME_PORT") or 0),
        help="port to listen on (HARNESS_RUNTIME_PORT); required",
    )  # fmt: skip
    parser.add_argument("--host", default=env("HARNESS_RUNTIME_HOST", "127.0.0.1"))
    parser.add_argument(
        "--state-dir", type=Path, default=Path(env("HARNESS_STATE_DIR", ".harness")),
        help="environment state folder: state.json and stacks/*.json (HARNESS_STATE_DIR)",
    )  # fmt: skip
    parser.add_argument(
        "--max-workers", type=int, default=None,
        help="worker processes across all functions (HARNESS_RUNTIME_MAX_WORKERS)",
    )  # fmt: skip
    parser.add_argument(
        "--idle-timeout", type=float, default=None,
        help="seconds before an idle environment is recycled (HARNESS_RUNTIME_IDLE_TIMEOUT_S)",
    )  # fmt: skip
    parser.add_argument(
        "--async-retry-delays", default=None,
        help="async retry delays, e.g. 60,120 (HARNESS_RUNTIME_ASYNC_RETRY_DELAYS)",
    )  # fmt: skip
    parser.add_argument("--log-level", default=env("HARNESS_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port is required (1-65535)")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = RuntimeConfig.load(
        max_workers=args.max_workers,
        idle_timeout_s=args.idle_timeout,
        async_retry_delays=args.async_retry_delays,
    )
    from harness.metrics import configure as configure_metrics

    configure_metrics(args.state_dir.resolve(), "runtime")  # AWS/Lambda and EMF metrics
    serve(args.state_dir.resolve(), args.port, args.host, config)


if __name__ == "__main__":
    main()
