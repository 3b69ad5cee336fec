"""The ``harness`` command line: one module per command (``up``, ``deploy``, ``run``, ...),
wired into one parser by :mod:`harness.cli.parser`.

Exit codes: 0 success, 1 failure (unhealthy, a failed expectation, a start error), 2 usage error
(unknown option, bad input file), 130 interrupted. Every flag has a ``HARNESS_*`` env var.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from harness.cli.parser import build_parser
from harness.errors import HarnessError

__all__ = ["build_parser", "main"]

logger = logging.getLogger("harness")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"  {note}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; everything started by this command was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
