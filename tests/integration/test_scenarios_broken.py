"""Each shipped scenario run against a deliberately broken copy of its stack (issue 28).

Opt-in (``pytest -m slow tests/integration/test_scenarios_broken.py -k <scenario>``): every case
copies the scenario's stack into a temporary folder, breaks it the way a real regression would
(an alarm whose threshold or dimension is wrong, retries without a budget or a circuit, a
tightened timeout, a removed retry, a worker whose deferral budget is gone...) by patching
anchored text (``tests/broken_copies.py``: an anchor that no longer matches exactly once fails the
test loudly), runs the unchanged scenario against the copy, and asserts that the run failed and
that the scenario's key expectations are *failures*: status ``failed``, not inconclusive.

``CASES`` is the table (scenario -> regression -> expectations that must fail). Scenarios whose
broken-copy test lives elsewhere are in ``ELSEWHERE``; a scenario without one is in
``WITHOUT`` with one of the named ``REASONS``. ``tests/unit/test_broken_copy_table.py`` fails when
a shipped scenario is in none of them, so a new scenario cannot ship without its broken copy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.broken_copies import ROOT, copy_stack, run_on_copies

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

SCENARIOS = ROOT / "scenarios"


@dataclass(frozen=True)
class Broken:
    """One scenario's broken copy: ``edits`` (file of the stack -> {anchor: replacement}) and
    ``parameters`` (the profile's template parameters) make the regression ``regression``;
    every expectation in ``fails`` must then fail (status ``failed``)."""

    regression: str
    fails: tuple[str, ...]
    edits: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    # expectation -> the least observed value that shows the regression, not noise (e.g. DLQ
    # depth well above what a loaded machine leaves there with an intact stack)
    min_observed: dict[str, float] = field(default_factory=dict)


# SyncWell's SDK retries with no budget and no circuit: 10 attempts in botocore's legacy mode
# (exponential backoff, no retry quota: standard mode's quota would end the retries after a
# burst) and the API's fail-fast circuit off
_UNBOUNDED_RETRIES = {
    "template.yaml": {
        'AWS_MAX_ATTEMPTS: "2"': 'AWS_MAX_ATTEMPTS: "10"',
        'AWS_FAIL_FAST_S: "3"': 'AWS_FAIL_FAST_S: "0"',
    },
    "src/syncwell/common.py": {'"mode": "standard"}': '"mode": "legacy"}'},
}
# the SDK's defaults (10 s read timeout, 4 attempts) and no circuit: a blocked dependency hangs
_SDK_DEFAULTS = {
    "template.yaml": {
        'AWS_READ_TIMEOUT_S: "1.5"': 'AWS_READ_TIMEOUT_S: "10"',
        'AWS_FAIL_FAST_S: "3"': 'AWS_FAIL_FAST_S: "0"',
        'AWS_MAX_ATTEMPTS: "2"': 'AWS_MAX_ATTEMPTS: "4"',
    }
}

CASES: dict[str, Broken] = {
    # --- the CI gates: each gate's reason to exist is its alarm paging for the fault
    "catalog-gate.yaml": Broken(
        "the 5xx-rate alarm's threshold written in percent (5) where the metric is a 0/1 "
        "fraction per request: it can never page",
        ("5xx alarm paged for the fault",),
        {"template.yaml": {"      Threshold: 0.05\n": "      Threshold: 5\n"}},
    ),
    "syncwell-gate.yaml": Broken(
        "the worker-throttles alarm watches the API function instead of the hot-path worker",
        ("throttle alarm paged",),
        {
            "template.yaml": {
                "      MetricName: Throttles\n      Dimensions:\n"
                "        - {Name: FunctionName, Value: !Ref WorkerFunction}\n": "      MetricName: "
                "Throttles\n      Dimensions:\n        - {Name: FunctionName, Value: !Ref ApiFunction}\n"
            }
        },
    ),
    "synchub-gate.yaml": Broken(
        "the 5XX alarm's statistic changed from Sum to Average (copied from a rate alarm) while "
        "its threshold stayed a count (10): the 0/1-per-request Average can never exceed it",
        ("5XX alarm paged for the fault",),
        {
            "observability/template.yaml": {
                "      MetricName: 5xx\n      Dimensions:\n        - {Name: ApiId, Value: !Ref ApiId}\n"
                "      Statistic: Sum\n": "      MetricName: 5xx\n      Dimensions:\n"
                "        - {Name: ApiId, Value: !Ref ApiId}\n      Statistic: Average\n"
            }
        },
    ),
    "codexflow-gate.yaml": Broken(
        "the 5XX-rate alarm's threshold written in percent (1) where 5XXError's Average is a "
        "fraction: it can never page",
        ("5XX-rate alarm paged for the fault",),
        {"template.yaml": {"      Threshold: 0.01\n": "      Threshold: 1\n"}},
    ),
    "cloudsaas-gate.yaml": Broken(
        "the 5XX-rate alarm's ApiName dimension names an API that does not exist (a rename "
        "the alarm did not follow): it never sees a datapoint",
        ("5XX-rate alarm paged for the outage", "payments-degraded composite paged"),
        {
            "template.yaml": {
                "        - {Name: ApiName, Value: cloudsaas-api}\n": "        - {Name: ApiName, "
                "Value: cloudsaas-api-v1}\n"
            }
        },
    ),
    # --- seed 001's chaos catalog (SyncWell)
    "chaos/az-failure.yaml": Broken(
        "SDK retries removed (1 attempt): the connections reset by the lost AZ surface as 5xx",
        ("API available while one AZ is down",),
        {"template.yaml": {'AWS_MAX_ATTEMPTS: "2"': 'AWS_MAX_ATTEMPTS: "1"'}},
    ),
    "chaos/dns-failure.yaml": Broken(
        "the worker's retry budget is gone (no deferral, one receive before the DLQ): a job "
        "whose provider does not resolve is dead-lettered at once",
        ("DLQ stays small",),
        parameters={"MaxDeferrals": "0", "MaxReceiveCount": "1"},
        min_observed={"DLQ stays small": 10},
    ),
    "chaos/dynamodb-unavailable.yaml": Broken(
        "SDK retries without a budget or a circuit (10 attempts, exponential backoff): the "
        "API waits instead of answering 503",
        ("503s not hangs while DynamoDB is down",),
        _UNBOUNDED_RETRIES,
        min_observed={"503s not hangs while DynamoDB is down": 5000},
    ),
    "chaos/lambda-failure.yaml": Broken(
        "the P1 backlog alarm watches the DLQ instead of the hot-path queue",
        ("P1 backlog alarm paged",),
        {
            "template.yaml": {
                "      MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n"
                "        - {Name: QueueName, Value: !GetAtt HotPathSyncQueue.QueueName}\n": "      "
                "MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n"
                "        - {Name: QueueName, Value: !GetAtt HotPathSyncDlq.QueueName}\n"
            }
        },
    ),
    "chaos/secrets-blackhole.yaml": Broken(
        "the worker deletes a job's message when Secrets Manager fails (BrokenMode "
        "drop-on-secrets-error): the job is lost",
        ("no accepted job lost",),
        parameters={"BrokenMode": "drop-on-secrets-error"},
        min_observed={"no accepted job lost": 1},
    ),
    "chaos/sqs-blackhole.yaml": Broken(
        "the API keeps the SDK's defaults (10 s read timeout, 4 attempts) and no circuit",
        ("no hung API while SQS is blocked",),
        _SDK_DEFAULTS,
        min_observed={"no hung API while SQS is blocked": 9000},
    ),
    "chaos/sqs-unavailable.yaml": Broken(
        "SDK retries without a budget or a circuit (10 attempts, exponential backoff): job "
        "submissions wait instead of answering 503",
        ("503s not hangs while SQS is down",),
        _UNBOUNDED_RETRIES,
        min_observed={"503s not hangs while SQS is down": 5000},
    ),
    # --- the other scenarios
    "ci-smoke.yaml": Broken(
        "the products handler makes a 1.2 s synchronous call on every request",
        ("steady p99 under 1s",),
        {
            "src/catalog_app/products.py": {
                "def handler(event: Any, context: Any) -> dict:\n": "def handler(event: Any, "
                "context: Any) -> dict:\n    __import__('time').sleep(1.2)  # broken copy\n"
            }
        },
        min_observed={"steady p99 under 1s": 1200},
    ),
    "traffic-spike-10x.yaml": Broken(
        "the API function capped at 2 concurrent executions (ReservedConcurrentExecutions)",
        ("no Lambda throttles",),
        {
            "template.yaml": {
                "      Handler: syncwell.api.handler\n      Timeout: 10\n": "      Handler: "
                "syncwell.api.handler\n      Timeout: 10\n      ReservedConcurrentExecutions: 2\n"
            }
        },
        min_observed={"no Lambda throttles": 100},
    ),
    "syncwell-gameday.yaml": Broken(
        "the worker's retry budget is gone (no deferral, one receive before the DLQ): a job "
        "throttled by its provider is dead-lettered at once",
        ("DLQ stays small",),
        parameters={"MaxDeferrals": "0", "MaxReceiveCount": "1"},
        min_observed={"DLQ stays small": 20},
    ),
    "synchub-gameday.yaml": Broken(
        "the functions run without SDK retries (AWS_MAX_ATTEMPTS 1): every throttled write is "
        "a 5XX",
        ("throttled writes absorbed by retries",),
        {
            "template.yaml": {
                '        TENANT_CLAIM: "custom:tenant_id"\n': "        TENANT_CLAIM: "
                '"custom:tenant_id"\n        AWS_MAX_ATTEMPTS: "1"  # broken copy\n'
            }
        },
    ),
    "chaos/thirdparty-latency.yaml": Broken(
        "the API makes a synchronous provider call (a 'pre-flight check') before it queues a "
        "sync job: the provider's latency lands on the request path the seed keeps asynchronous",
        ("API stays fast while providers are slow",),
        {
            "src/syncwell/api.py": {
                "    spec = v.validate_sync_job(req.body())\n": "    spec = v.validate_sync_job("
                "req.body())\n    try:  # broken copy: a pre-flight call on the request path\n"
                "        import os\n        import urllib.request\n\n        urllib.request.urlopen(os.environ["
                '"PROVIDER_BASE_URL"] + "/strava/v1/activities?limit=1", timeout=5).read()\n'
                "    except Exception:\n        pass\n"
            }
        },
        min_observed={"API stays fast while providers are slow": 1500},
    ),
    # --- the DR drills: the drill fails when the table cannot be restored, and the restored
    # API is judged by what it serves
    "syncwell-dr.yaml": Broken(
        "the functions read their table name from the template's TABLE_NAME variable instead "
        "of AppConfig's resources.tableName: the runbook's repointing cannot reach them",
        ("RPO < 15 min, RTO < 4 h (seed 001)",),
        {
            "src/syncwell/store.py": {
                "        self.name = name or settings.table_name()\n": "        self.name = name "
                "or __import__('os').environ['TABLE_NAME']  # broken copy\n"
            }
        },
    ),
    "codexflow-dr.yaml": Broken(
        "point-in-time recovery turned off on the main table: nothing to restore from",
        ("RPO < 1 h, RTO < 4 h (seed 003)",),
        {
            "template.yaml": {
                "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true\n": "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: false\n"
            }
        },
    ),
    "cloudsaas-dr.yaml": Broken(
        "point-in-time recovery turned off on the profiles table: nothing to restore from",
        ("RPO < 15 min, RTO < 1 h (seed 004)",),
        {
            "template.yaml": {
                "      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}\n"
                "      SSESpecification: {SSEEnabled: true}\n\n  SessionsTable:": "      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: false}\n"
                "      SSESpecification: {SSEEnabled: true}\n\n  SessionsTable:"
            }
        },
    ),
}

# scenarios whose broken-copy test is another module's: scenario -> "module::test"
ELSEWHERE: dict[str, str] = {
    "codexflow-gameday.yaml": "test_codexflow_gameday.py::test_a_cache_without_timeouts_fails_the_gameday",
    "cloudsaas-kpi.yaml": "test_cloudsaas_kpi.py::test_a_slow_database_fails_the_db_query_kpi",
    "chaos/dynamodb-blackhole.yaml": "test_chaos_catalog.py::test_unbounded_sdk_calls_hang_the_api_when_dynamodb_is_blocked",
    "chaos/cache-failure.yaml": "test_chaos_catalog.py::test_a_worker_calling_providers_without_its_cache_is_caught",
    "chaos/secrets-unavailable.yaml": "test_chaos_catalog.py::test_broken_worker_loses_jobs",
}

# why a scenario has no broken-copy test (the unit test accepts only these names)
REASONS: dict[str, str] = {
    "fails-intact": (
        "the scenario does not pass against the intact stack on the local machine, so a broken "
        "copy failing it shows nothing; run its broken copy where the intact stack passes"
    ),
    "false-green": (
        "the scenario's key expectation cannot fail for any regression of the stack (reported "
        "on issue 28 as a false green): fix the scenario, then add its broken copy to CASES"
    ),
    "harness-measured": (
        "the key expectation measures the harness's own action, which the stack cannot make "
        "fail; the stack's only lever makes the action impossible, which leaves the verdict "
        "inconclusive rather than failed (its failing cases are proven against the action)"
    ),
    "unverified": (
        "a breakage is designed but has not yet had the real run that shows its key expectation "
        "failing for the right reason; it must not count as proof until it has"
    ),
}
WITHOUT: dict[str, tuple[str, str]] = {
    "syncwell-peak.yaml": (
        "fails-intact",
        "3,000 rps for 5 minutes is far above what a 2-core machine serves (scenarios/README.md)",
    ),
}


def _summary_verdicts(report: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is False, "summary.json says the broken copy passed"
    return {e["name"]: e for e in summary["expectations"]}


@pytest.mark.parametrize(
    "scenario", sorted(CASES), ids=[s[:-5].replace("/", "-") for s in sorted(CASES)]
)
def test_broken_copy_fails_the_key_expectations(scenario: str, tmp_path: Path) -> None:
    case = CASES[scenario]
    path = SCENARIOS / scenario
    copies = {}
    for entry in _stack_names(path):
        copies[entry] = copy_stack(tmp_path / "stacks", entry, case.edits, case.parameters)
    started = time.monotonic()
    run = run_on_copies(path, copies, tmp_path / "run", note=f"broken copy: {case.regression}")
    took = time.monotonic() - started
    verdicts = {e.name: e for e in run.expectations}
    shown = {n: (e.status, e.observed, e.target) for n, e in verdicts.items() if not e.passed}
    print(f"{scenario}: ran {took:.0f}s; failing: {shown}")
    assert not run.passed, f"{scenario} passed against a copy where {case.regression}"
    summary = _summary_verdicts(tmp_path / "run" / "report")
    for name in case.fails:
        verdict = verdicts[name]
        assert not verdict.passed and verdict.status == "failed", (name, verdict)
        assert summary[name]["passed"] is False and summary[name]["status"] == "failed"
        print(f"  {name}: observed {verdict.observed} vs target {verdict.target}: {verdict.detail}")
    for name, least in case.min_observed.items():
        observed = verdicts[name].observed
        assert observed is not None and float(observed) >= least, (name, observed, least)


def _stack_names(scenario: Path) -> list[str]:
    """The stack folders (``stacks/<name>``) a scenario deploys, each once."""
    names: list[str] = []
    for entry in yaml.safe_load(scenario.read_text())["stacks"]:
        parts = Path(str(entry)).parts
        name = parts[parts.index("stacks") + 1]
        if name not in names:
            names.append(name)
    return names
