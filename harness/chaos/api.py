"""``/_harness/faults`` on the daemon: one HTTP API over every fault kind.

* ``GET /_harness/faults`` — every fault in force, by kind (see :meth:`Faults.list`)
* ``POST /_harness/faults`` — add: ``{"kind": "lambda", ...spec}`` or a list of those
* ``DELETE /_harness/faults[?kind=K]`` — clear every fault (of kind K)
* ``GET /_harness/faults/log[?since=T]`` — every injected fault, ``{time, kind, target, effect}``

The daemon's workers are several processes, so nothing is kept here: each call goes to the
component that holds the fault (edge, Redis proxy, runtime, fake servers), as :class:`Faults`
does for the CLI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from harness.chaos.faults import Faults
from harness.errors import ConfigError, HarnessError

__all__ = ["handle_faults"]


def handle_faults(
    state_dir: Path, method: str, path: str, query: str, body: bytes
) -> tuple[int, Any]:
    """(status, JSON payload) for one request under ``/_harness/faults``."""
    try:
        endpoints = json.loads((state_dir / "state.json").read_text()).get("endpoints", {})
    except (OSError, ValueError):
        return 503, {"message": "no running environment (state.json is missing or unreadable)"}
    faults = Faults(endpoints, state_dir=state_dir)
    params = parse_qs(query)
    try:
        if path.rstrip("/") == "/_harness/faults":
            if method == "GET":
                return 200, faults.list()
            if method == "POST":
                data = json.loads(body or b"null")
                items = data if isinstance(data, list) else [data]
                added = []
                for index, item in enumerate(items):
                    if not isinstance(item, dict) or "kind" not in item:
                        raise ConfigError(
                            f"item {index} is not an object with a 'kind'.",
                            field="kind",
                            fix='send {"kind": "lambda", "mode": "exception", ...}.',
                        )
                    spec = {k: v for k, v in item.items() if k != "kind"}
                    if item["kind"] == "az":  # never kill the worker answering this request
                        spec["spare_pids"] = [os.getpid()]
                    added.append(faults.add(str(item["kind"]), spec))
                return 200, {"added": added}
            if method == "DELETE":
                kind = params.get("kind", [None])[0]
                return 200, {"cleared": faults.clear(kind)}
            return 405, {"message": f"{method} not allowed; use GET, POST or DELETE"}
        if path == "/_harness/faults/log" and method == "GET":
            since = float(params.get("since", ["0"])[0])
            return 200, {"injected": faults.log(since)}
    except ConfigError as exc:
        return 400, {"message": str(exc)}
    except ValueError as exc:
        return 400, {"message": f"invalid request: {exc}"}
    except HarnessError as exc:
        return 502, {"message": str(exc)}
    return 404, {"message": "Not Found"}
