"""Ad-hoc load smoke of SyncWell through the real gateway and runtime (not a test).

    .venv/bin/python stacks/syncwell/tools/load_smoke.py [RPS] [STATE_DIR]

Starts a private environment, the fake providers, deploys and seeds the stack, starts a runtime,
runs the nominal mix (8 s warm-up, 30 s steady) and prints phases, per-endpoint figures, worker
outcomes and the stack's checks. Stops everything it started.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

STACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(STACK.parents[1]))

from harness import Environment, Settings  # noqa: E402
from harness.deploy import deploy_stack  # noqa: E402
from harness.load import LoadProfile, Stage, StaticTokens, Tenants, TrafficMix, run_load  # noqa: E402
from harness.runtime.client import spawn_runtime  # noqa: E402
from harness.tokens import LocalIssuer  # noqa: E402


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    rps = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    state = (
        Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="syncwell-load-"))
    )
    checks = _module("syncwell_checks", STACK / "checks.py")
    with Environment(Settings.load(state_dir=state)) as env:
        # harness.yaml: RedisUrl/IssuerUrl bound to the environment, the fake provider server
        # started (ProviderBaseUrl) and the tenants seeded by fixtures/seed.py
        stack = deploy_stack(env, STACK, {"LogLevel": "INFO"})
        runtime = spawn_runtime(env.state_dir)
        state_file = env.state_dir / "state.json"
        data = json.loads(state_file.read_text())
        data["endpoints"]["runtime_url"] = runtime.url
        state_file.write_text(json.dumps(data))
        try:
            issuer = LocalIssuer(env.state_dir, env.endpoints["gateway_url"])
            tenants = stack.profile["tenants"]
            tokens = StaticTokens({
                t["id"]: {t["id"]: issuer.mint(t["id"], tenant=t["id"], tier=t["tier"],
                                               client_id="syncwell-prod",
                                               tenant_claim="custom:tenant_id",
                                               tier_claim="custom:tier")}
                for t in tenants})  # fmt: skip
            mix = TrafficMix.model_validate(stack.profile["traffic"]["mixes"]["nominal"])
            profile = LoadProfile(
                stages=[Stage.hold(rps, "8s", "warmup"), Stage.hold(rps, "30s", "steady")]
            )
            result = run_load(stack.apis["SyncWellApi"].base_url, profile, mix,
                              Tenants.model_validate({"tenants": tenants}), tokens, processes=1, seed=1)  # fmt: skip
            for group in [*result.phases, *result.endpoints]:
                print(f"{group.name:18} n={group.requests:5} p50={group.p50_ms:8.1f} "
                      f"p95={group.p95_ms:8.1f} p99={group.p99_ms:8.1f} "
                      f"errors={group.error_rate:.4f} statuses={group.statuses}")  # fmt: skip
            print(checks.no_lost_jobs(env, stack, drain_timeout_s=60))
            outcomes: Counter[str] = Counter()
            for record in runtime.client.logs(stack.functions["WorkerFunction"].name, limit=5000):
                try:
                    line = json.loads(record.get("message", ""))
                except (TypeError, ValueError):
                    continue
                if line.get("msg") == "batch":
                    outcomes.update(line["outcomes"].values())
            print("worker outcomes", dict(outcomes))
            print(checks.no_duplicate_jobs(env, stack))
            print("manual sync p95 (s)", checks.manual_sync_p95_s(env, stack))
        finally:
            runtime.stop()


if __name__ == "__main__":
    main()
