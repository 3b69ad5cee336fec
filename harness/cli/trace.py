"""``harness trace ID``: one request's spans (gateway, function invocations, AWS calls) as a
tree with timings — the live ones when the environment recorded them, else rebuilt from its
joined logs (:mod:`harness.obs.trace`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.obs.trace import export_otlp, load_spans, otlp_url, render_tree

__all__ = ["HELP", "configure", "run"]

HELP = "one request's spans (gateway, function invocations, AWS calls) as a tree with timings"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="a gateway request id, a correlation id or an X-Ray trace root")
    parser.add_argument("--json", action="store_true", help="print the spans as JSON")
    parser.add_argument(
        "--source",
        choices=("auto", "live", "logs"),
        default="auto",
        help="live: the recorded spans; logs: rebuilt from the joined logs; auto (default): "
        "live when recorded, else rebuilt",
    )
    parser.add_argument(
        "--otlp",
        metavar="URL",
        default=os.environ.get("HARNESS_OTLP_ENDPOINT") or None,
        help="also send the spans with OTLP/HTTP to this endpoint, e.g. http://127.0.0.1:4318 "
        "(Jaeger, Tempo, a collector; env HARNESS_OTLP_ENDPOINT)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.config import Settings

    state_dir = Path(args.state_dir) if args.state_dir else Settings.load().state_dir
    spans, source = load_spans(state_dir, args.id, args.source)
    if args.json:
        print(
            json.dumps(
                {"id": args.id, "source": source, "spans": [s.to_json() for s in spans]}, indent=2
            )
        )
    elif spans:
        print(render_tree(spans))
    if spans and args.otlp:
        problem = export_otlp(spans, args.otlp)
        if problem is not None:
            print(
                f"error: exporting {len(spans)} spans to {otlp_url(args.otlp)} failed ({problem}); "
                "check that an OTLP/HTTP receiver (port 4318 by default) listens there, or drop "
                "--otlp / HARNESS_OTLP_ENDPOINT",
                file=sys.stderr,
            )
            return 1
        print(f"exported {len(spans)} spans to {otlp_url(args.otlp)}", file=sys.stderr)
    if not spans:
        print(
            f"no span of {args.id!r} in {state_dir / 'logs'}: give a gateway request id "
            "(apigw-requestid), a correlation id or an X-Ray trace root of this environment",
            file=sys.stderr,
        )
        return 1
    return 0
