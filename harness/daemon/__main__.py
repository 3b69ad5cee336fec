"""Run the daemon: ``python -m harness.daemon --port P --workers N --state-dir DIR``."""

from __future__ import annotations

import argparse
import os

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.daemon")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("HARNESS_GATEWAY_WORKERS") or 0) or os.cpu_count() or 1,
        help="worker processes sharing the port (default: HARNESS_GATEWAY_WORKERS, else cores)",
    )
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    os.environ["HARNESS_STATE_DIR"] = os.path.abspath(args.state_dir)
    uvicorn.run(
        "harness.daemon.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        log_level="warning",
        access_log=False,
        server_header=False,
        # sourceIp is the peer's address, as on API Gateway: a client's X-Forwarded-For must not
        # override it (uvicorn trusts it from 127.0.0.1, i.e. from every local client).
        proxy_headers=False,
        loop="auto",
        http="auto",
    )


if __name__ == "__main__":
    main()
