"""Run the daemon: ``python -m harness.daemon --port P --workers N --state-dir DIR``.

``--server uvicorn`` (default; ``HARNESS_GATEWAY_SERVER``) serves the ASGI app with uvicorn;
``--server lean`` with :mod:`harness.daemon.server` (httptools, SO_REUSEPORT workers). Lean is
opt-in: on this 2-core shared machine it has not yet shown a gain over uvicorn within the noise
(``benchmarks/results/gateway.json`` vs ``gateway_lean.json``), and with SO_REUSEPORT a killed
worker's queued connections are reset (the chaos "AZ failure" assumes a shared socket).
"""

from __future__ import annotations

import argparse
import os

APP = "harness.daemon.app:app"


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
    parser.add_argument(
        "--server",
        choices=("lean", "uvicorn"),
        default=os.environ.get("HARNESS_GATEWAY_SERVER") or "uvicorn",
        help="HTTP server: uvicorn (default) or lean (httptools) (HARNESS_GATEWAY_SERVER)",
    )
    parser.add_argument(
        "--app", default=APP, help="the ASGI app, module:attribute (default: the gateway)"
    )
    args = parser.parse_args(argv)
    os.environ["HARNESS_STATE_DIR"] = os.path.abspath(args.state_dir)
    if args.server == "lean":
        from harness.daemon.server import run

        run(args.app, args.host, args.port, args.workers)
        return
    import uvicorn

    uvicorn.run(
        args.app,
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
        # httptools with a request-head timeout and head size limit (harness.daemon.limits)
        http="harness.daemon.limits:LimitedHttpToolsProtocol",
    )


if __name__ == "__main__":
    main()
