"""DR drills on a real environment: ``dr:corrupt`` strikes a table with point-in-time recovery,
``dr:restore`` restores it through ``aws_endpoint`` and swaps it in, and the ``dr`` expectation
judges the recovery point and time (passing on a good drill, failing on objectives it missed
and on a restore to after the disaster)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Environment, Settings
from harness.deploy import deploy_stack
from harness.scenario.actions import ACTIONS, ActionContext, validate_action
from harness.scenario.expectations import Observations, evaluate
from harness.scenario.model import Expectation, FaultSpec

pytestmark = pytest.mark.integration

STACK = Path(__file__).resolve().parents[1] / "fixtures" / "deploy" / "drtable"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    with Environment(Settings.load(state_dir=tmp_path_factory.mktemp("dr"), runtime=False)) as env:
        yield env


@pytest.fixture(scope="module")
def table(env: Environment) -> str:
    return str(deploy_stack(env, STACK).resources["Orders"].physical_id)


def _run(env: Environment, action: str, name: str, **parameters: Any) -> dict[str, Any]:
    spec = FaultSpec.model_validate({"name": name, "action": action, "parameters": parameters,
                                     "targets": {"stack": "drtable", "table": "Orders"}})  # fmt: skip
    targets, params = validate_action(spec)
    ctx = ActionContext(env.endpoints, seed=7, run_started=time.time(), state_dir=env.state_dir)
    handle = ACTIONS[action].start(ctx, spec, targets, params, time.time())
    ACTIONS[action].stop(ctx, handle)
    assert isinstance(handle, dict)
    return handle


def _keys(env: Environment, table: str) -> set[str]:
    items = env.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["SK"]["S"] for i in items}


def _put(env: Environment, table: str, first: int, last: int) -> None:
    ddb = env.client("dynamodb")
    for i in range(first, last):
        ddb.put_item(TableName=table, Item={"PK": {"S": "TENANT#a"}, "SK": {"S": f"O#{i:03d}"}})


def _judge(drills: dict[str, Any], **fields: Any) -> Any:
    exp = Expectation.model_validate({"kind": "dr", "drill": "restore",
                                      "after_fault": "corrupt", **fields})  # fmt: skip
    return evaluate([exp], Observations(drills=drills))[0]


def test_a_drill_restores_the_table_to_before_the_disaster_and_is_judged(
    env: Environment, table: str
) -> None:
    _put(env, table, 0, 40)
    time.sleep(1.5)  # no write in the second before the disaster, which the restore rewinds past
    corrupt = _run(env, "dr:corrupt", "corrupt", percent=50, mode="delete")
    assert corrupt["affected"] == 20 and len(_keys(env, table)) == 20
    _put(env, table, 40, 45)  # written after the disaster: a restore to before it loses them
    time.sleep(0.5)
    restore = _run(env, "dr:restore", "restore", rewind=time.time() - corrupt["at"] + 1.0)
    assert restore["verified"] and restore["items"] == 40
    assert _keys(env, table) == {f"O#{i:03d}" for i in range(40)}  # the disaster undone
    assert restore["point"] < corrupt["at"] < restore["ended"]

    good = _judge({"corrupt": corrupt, "restore": restore}, rpo="15m", rto="1h")
    assert good.passed, good.detail
    assert 0.5 < good.observed["rpo_s"] < 2.5 and good.observed["lost_writes"] == 0
    # objectives the drill missed fail with what it measured
    tight = _judge({"corrupt": corrupt, "restore": restore}, rpo="0.1s", rto="0.1s")
    assert not tight.passed and "RPO" in tight.detail and "RTO" in tight.detail
    # no drill ran: inconclusive, failing
    empty = _judge({}, rpo="15m")
    assert not empty.passed and empty.status == "inconclusive"


def test_restoring_to_after_the_disaster_keeps_the_damage_and_fails(
    env: Environment, table: str
) -> None:
    corrupt = _run(env, "dr:corrupt", "corrupt", percent=100, mode="overwrite")
    time.sleep(0.5)
    restore = _run(env, "dr:restore", "restore")  # latest restorable: after the disaster
    items = env.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    assert items and all(i.get("corrupted") for i in items)  # what was restored is the damage
    verdict = _judge({"corrupt": corrupt, "restore": restore}, rpo="15m", rto="1h")
    assert not verdict.passed and "after the disaster" in verdict.detail


def _deployed_config(env: Environment) -> dict[str, Any]:
    import json

    from harness.model import load_stacks

    res = load_stacks(env.state_dir)["drtable"].resources
    client = env.client("appconfig")
    versions = client.list_hosted_configuration_versions(
        ApplicationId=res["Config"].physical_id,
        ConfigurationProfileId=res["ConfigProfile"].physical_id,
    )["Items"]
    latest = max(v["VersionNumber"] for v in versions)
    content = client.get_hosted_configuration_version(
        ApplicationId=res["Config"].physical_id,
        ConfigurationProfileId=res["ConfigProfile"].physical_id,
        VersionNumber=latest,
    )["Content"].read()
    return dict(json.loads(content))


LEVER = {"application": "Config", "environment": "ConfigEnv", "profile": "ConfigProfile",
         "strategy": "ConfigNow", "key": "resources.tableName", "settle": "1s"}  # fmt: skip


def test_an_appconfig_cutover_repoints_and_is_judged_by_what_the_application_wrote(
    env: Environment, table: str
) -> None:
    """Seed 001's runbook: restore into a new table, name it in AppConfig. The restored table is
    kept and protected; the RTO ends at the application's first write to it; writes that still
    reach the old table after the settle time, or no write to the new one, fail the drill."""
    _put(env, table, 0, 10)
    before = _keys(env, table)  # with what the tests before this one left
    time.sleep(1.2)
    corrupt = _run(env, "dr:corrupt", "corrupt", percent=50, mode="delete")
    time.sleep(0.3)
    restore = _run(
        env, "dr:restore", "restore", rewind=time.time() - corrupt["at"] + 1.0,
        cutover="appconfig", appconfig=LEVER,
    )  # fmt: skip
    restored = restore["restored_table"]
    assert restore["old_table"] == table and restored != table
    assert _deployed_config(env)["resources"]["tableName"] == restored  # the rest kept
    assert _deployed_config(env)["logLevel"] == "INFO"
    assert _keys(env, restored) == before
    backups = env.client("dynamodb").describe_continuous_backups(TableName=restored)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"  # the restored table is protected too
    drills = {"corrupt": corrupt, "restore": restore}
    # nothing wrote to the restored table yet: the cutover did not take
    never = _judge(drills, rpo="15m", rto="1h")
    assert not never.passed and "never wrote to the restored table" in never.detail
    time.sleep(1.2)  # past the settle time
    _put(env, restored, 100, 102)  # the application, repointed, writes to the restored table
    time.sleep(0.5)  # the edge logs a write after answering it
    good = _judge(drills, rpo="15m", rto="1h")
    assert good.passed, good.detail
    assert "first write to" in good.detail and good.observed["rto_s"] > 0
    # a function that ignores the configuration keeps writing to the old table: caught
    _put(env, table, 200, 201)
    time.sleep(0.5)
    stale = _judge(drills, rpo="15m", rto="1h")
    assert not stale.passed and "reached the old table" in stale.detail
