"""The ``codexflow-risk-analyzer`` inference endpoint, served the way SageMaker serves one.

At start it generates a labelled data set (seeded), trains the seed's model,
``RandomForestClassifier(n_estimators=100, max_depth=10)`` (scikit-learn), measures it on a
held-out quarter, and then answers SageMaker Runtime's ``InvokeEndpoint``:

    POST /endpoints/codexflow-risk-analyzer/invocations      Content-Type: application/json
    {"instances": [{"priority": 3, "daysUntilDue": 2, ...}, ...]}
    -> {"predictions": [{"score": 0.83, "level": "high", "recommendations": [...]}, ...],
        "modelVersion": "..."}

so ``boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName=..., Body=...)`` reaches it
unchanged (its ``endpoint_url`` is this server). An unknown endpoint answers 400
``ValidationError`` as SageMaker does. ``GET /_control/health`` answers once the model is
trained; ``GET /_control/model`` returns its metrics.

It takes the harness's third-party faults (``harness fault thirdparty latency|rate-limit|error
--server risk_model``; harness/chaos/thirdparty.py): ``POST /_control/faults`` with ``{"mode":
ok|slow|rate_limit|error|revoke, "latency_ms", "retry_after", "status", "probability",
"count"}``, ``GET``/``DELETE /_control/faults``, ``GET /_control/stats``. Invocations then answer
late, 429 ``ThrottlingException``, 5xx ``ServiceUnavailable`` or 403 ``AccessDeniedException``.

    python risk_endpoint.py --port 8790 [--seed 7] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENDPOINT = "codexflow-risk-analyzer"
FEATURES = (
    "priority",  # 0 low .. 3 critical
    "daysUntilDue",  # negative: overdue
    "estimateHours",
    "assigneeOpenTasks",  # open tasks of the assignee in the project
    "descriptionLength",
    "ageDays",
    "status",  # 0 todo, 1 in_progress, 2 review, 3 done
)
DEFAULTS = {
    "priority": 1,
    "daysUntilDue": 30,
    "estimateHours": 8,
    "assigneeOpenTasks": 1,
    "descriptionLength": 0,
    "ageDays": 0,
    "status": 0,
}


def generate(rows: int, seed: int) -> tuple[Any, Any]:
    """Synthetic task histories: late/at-risk labels drawn from a known logistic model."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.integers(0, 4, rows),
            rng.normal(10, 12, rows).round(),
            rng.gamma(2.0, 6.0, rows).round(1),
            rng.poisson(3, rows),
            rng.integers(0, 2000, rows),
            rng.exponential(10, rows).round(1),
            rng.integers(0, 4, rows),
        ]
    ).astype(float)
    logit = (
        -1.0
        + 0.6 * x[:, 0]
        - 0.18 * x[:, 1]
        + 0.07 * x[:, 2]
        + 0.35 * x[:, 3]
        - 0.0008 * x[:, 4]
        + 0.04 * x[:, 5]
        - 1.1 * x[:, 6]
    )
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(rows) < p).astype(int)
    return x, y


class Model:
    def __init__(self, seed: int, rows: int) -> None:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import accuracy_score, roc_auc_score

        started = time.perf_counter()
        x, y = generate(rows, seed)
        cut = rows * 3 // 4
        self.clf = RandomForestClassifier(
            n_estimators=100, max_depth=10, random_state=seed, n_jobs=1
        )
        self.clf.fit(x[:cut], y[:cut])
        proba = self.clf.predict_proba(x[cut:])[:, 1]
        self.metrics = {
            "algorithm": "RandomForestClassifier(n_estimators=100, max_depth=10)",
            "features": list(FEATURES),
            "trainRows": cut,
            "testRows": rows - cut,
            "accuracy": round(float(accuracy_score(y[cut:], proba >= 0.5)), 4),
            "rocAuc": round(float(roc_auc_score(y[cut:], proba)), 4),
            "positiveRate": round(float(y.mean()), 4),
            "trainSeconds": round(time.perf_counter() - started, 2),
            "seed": seed,
        }
        self.version = f"rf-100-10-seed{seed}-rows{rows}"

    def predict(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import numpy as np

        rows = [[_number(inst.get(f), DEFAULTS[f]) for f in FEATURES] for inst in instances]
        scores = self.clf.predict_proba(np.array(rows, dtype=float))[:, 1]
        out = []
        for inst, row, score in zip(instances, rows, scores, strict=True):
            values = dict(zip(FEATURES, row, strict=True))
            level = "high" if score >= 0.66 else "medium" if score >= 0.33 else "low"
            out.append(
                {
                    "score": round(float(score), 4),
                    "level": level,
                    "recommendations": recommendations(values, inst),
                }
            )
        return out


def _number(value: Any, default: float) -> float:
    if value is None:
        return float(default)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("features must be finite numbers")
    return number


def recommendations(values: dict[str, float], raw: dict[str, Any]) -> list[str]:
    out = []
    if raw.get("daysUntilDue") is None:
        out.append("Set a due date so slippage can be tracked")
    elif values["daysUntilDue"] < 0:
        out.append("The task is overdue: renegotiate the date or the scope")
    elif values["daysUntilDue"] < 3 and values["estimateHours"] > 16:
        out.append("Split the task: the estimate does not fit before the due date")
    if values["assigneeOpenTasks"] > 5:
        out.append("Rebalance the assignee's workload")
    if values["status"] == 0 and values["ageDays"] > 14:
        out.append("Start or reprioritise: the task has waited more than two weeks")
    if values["descriptionLength"] < 20:
        out.append("Add acceptance criteria to the description")
    return out


class Faults:
    """The injected fault (one at a time) and what was decided, under a lock (threaded server)."""

    def __init__(self, seed: int) -> None:
        import random

        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.fault: dict[str, Any] = {"mode": "ok"}
        self.stats: dict[str, int] = {"invocations": 0}

    def set(self, body: dict[str, Any]) -> dict[str, Any]:
        mode = str(body.get("mode", "ok"))
        if mode not in ("ok", "slow", "rate_limit", "error", "revoke"):
            raise ValueError(f"unknown mode {mode!r}")
        with self.lock:
            self.fault = {"mode": mode, **{k: v for k, v in body.items() if k != "mode"}}
            return dict(self.fault)

    def decide(self) -> dict[str, Any] | None:
        """The fault to apply to this invocation, if any (counts it)."""
        with self.lock:
            self.stats["invocations"] += 1
            fault = self.fault
            if fault["mode"] == "ok":
                return None
            if self.rng.random() >= float(fault.get("probability", 1.0)):
                return None
            if fault.get("count") is not None:
                if int(fault["count"]) <= 0:
                    return None
                fault["count"] = int(fault["count"]) - 1
            key = f"faults.{fault['mode']}"
            self.stats[key] = self.stats.get(key, 0) + 1
            return dict(fault)


class Handler(BaseHTTPRequestHandler):
    model: Model | None = None
    faults = Faults(0)
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"message": message}, {"x-amzn-ErrorType": code})

    def do_DELETE(self) -> None:
        if self.path == "/_control/faults":
            self._send(200, self.faults.set({"mode": "ok"}))
        else:
            self._send(404, {"message": "not found"})

    def do_GET(self) -> None:
        if self.path == "/_control/faults":
            self._send(200, dict(self.faults.fault))
        elif self.path == "/_control/stats":
            self._send(200, dict(self.faults.stats))
        elif self.path == "/_control/health":
            if self.model is None:
                self._send(503, {"status": "training"})
            else:
                self._send(200, {"status": "ok", "endpoint": ENDPOINT})
        elif self.path == "/_control/model" and self.model is not None:
            self._send(
                200, {"endpoint": ENDPOINT, "version": self.model.version, **self.model.metrics}
            )
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_control/faults":
            try:
                self._send(200, self.faults.set(json.loads(raw or b"{}")))
            except (ValueError, AttributeError) as exc:
                self._send(400, {"message": str(exc)})
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
            self._error(404, "UnknownOperationException", "unknown operation")
            return
        if parts[1] != ENDPOINT:
            self._error(
                400, "ValidationError", f"Endpoint {parts[1]} of account 000000000000 not found."
            )
            return
        if self.model is None:
            self._error(503, "ServiceUnavailable", "the model is still training")
            return
        fault = self.faults.decide()
        if fault is not None:
            mode = fault["mode"]
            if mode == "slow":
                time.sleep(float(fault.get("latency_ms", 1000)) / 1000)
            elif mode == "rate_limit":
                self._error(429, "ThrottlingException", "Rate exceeded")
                return
            elif mode == "error":
                status = int(fault.get("status", 503))
                self._error(status, "ServiceUnavailable", "injected endpoint failure")
                return
            elif mode == "revoke":
                self._error(403, "AccessDeniedException", "credentials revoked")
                return
        if (self.headers.get("Content-Type") or "").split(";")[0] != "application/json":
            self._error(415, "ValidationError", "Content-Type must be application/json")
            return
        try:
            payload = json.loads(raw or b"{}")
            instances = payload["instances"] if isinstance(payload, dict) else payload
            if not isinstance(instances, list) or not instances or len(instances) > 1000:
                raise ValueError("'instances' must be a list of 1 to 1000 feature objects")
            if not all(isinstance(i, dict) for i in instances):
                raise ValueError("each instance must be an object of named features")
            predictions = self.model.predict(instances)
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, "ModelError", f"Received client error (400) from model: {exc}")
            return
        self._send(
            200,
            {"predictions": predictions, "modelVersion": self.model.version},
            {"x-Amzn-Invoked-Production-Variant": "AllTraffic"},
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args(argv)
    Handler.faults = Faults(args.seed)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()  # health: "training"
    Handler.model = Model(args.seed, args.rows)
    sys.stderr.write(f"model trained: {json.dumps(Handler.model.metrics)}\n")
    sys.stderr.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
