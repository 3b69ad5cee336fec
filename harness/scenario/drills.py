"""Disaster-recovery drills as scenario actions, and what a drill measures.

* ``dr:corrupt``: the disaster a restore exists for (an operator error, a bad deploy's data
  migration): ``percent`` of a table's items deleted or overwritten, at the action's start. Its
  handle keeps when it struck.
* ``dr:restore``: the runbook. The table is restored through ``aws_endpoint`` as on AWS
  (``RestoreTableToPointInTime`` to a point ``rewind`` before the action, or the latest
  restorable time; or ``RestoreTableFromBackup`` of the newest on-demand backup), into a new
  table, and cut over one of two ways:

  - ``cutover: swap`` (default): the application's table gets the restored items back (and
    loses what the restore does not hold), so the stack serves the recovered data without a
    redeploy or a configuration change;
  - ``cutover: appconfig``: the stack's own lever, as seed 001's runbook does it: the restored
    table is kept (point-in-time recovery turned on for it, as the runbook must), and the
    table-name key of the stack's AppConfig profile (``key``, e.g. ``resources.tableName``) is
    changed with a new hosted version and a deployment, waited until COMPLETE. The
    application repoints itself as its configuration cache expires.

  Its handle keeps the restore point and when the cutover ended.

A ``{kind: dr, drill: RESTORE, after_fault: DISASTER, rpo: 15m, rto: 1h}`` expectation judges
them: the recovery point objective against the seconds of writes between the restore point and
the disaster (and it says how many logged writes that window held), the recovery time objective
against the time from the disaster to the restored table serving. A swap is verified (the table
holds the restored keys) or the expectation fails; an AppConfig cutover is verified by what the
application did: its first write to the restored table ends the recovery time (none: the
cutover did not take, a failure), and no write may reach the old table once ``settle`` (the
functions' configuration cache age) has passed after the deployment (a function that ignores
the configuration, e.g. reads its table name from an environment variable).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError, HarnessError
from harness.scenario.actions import ActionContext, ActionKind, register
from harness.scenario.model import Duration

if TYPE_CHECKING:
    from harness.scenario.model import FaultSpec

__all__ = [
    "AppConfigCutover",
    "CorruptParameters",
    "RestoreParameters",
    "TableTargets",
    "change_count",
    "first_write",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableTargets(_Model):
    """An ``AWS::DynamoDB::Table`` of a deployed stack, by logical id."""

    stack: str
    table: str


class CorruptParameters(_Model):
    percent: float = Field(50, gt=0, le=100, description="share of the items hit")
    mode: Literal["delete", "overwrite"] = "delete"


class AppConfigCutover(_Model):
    """Where the stack keeps its table name: logical ids of its AppConfig resources, and the
    dotted key of the (JSON) profile that holds the name."""

    application: str
    environment: str
    profile: str
    strategy: str
    key: str = Field("resources.tableName", pattern=r"^[^.]+(\.[^.]+)*$")
    settle: Duration = Field(60.0, ge=0, description="the functions' configuration cache age")


class RestoreParameters(_Model):
    source: Literal["pitr", "backup"] = "pitr"
    rewind: Duration | None = Field(
        None, ge=0, description="pitr: restore to this long before the action (default: latest)"
    )
    cutover: Literal["swap", "appconfig"] = "swap"
    appconfig: AppConfigCutover | None = None

    @model_validator(mode="after")
    def _lever(self) -> RestoreParameters:
        if self.cutover == "appconfig" and self.appconfig is None:
            raise ValueError(
                "cutover appconfig needs 'appconfig': {application, environment, profile, "
                "strategy} (logical ids of the stack's AppConfig resources) and 'key'"
            )
        if self.cutover == "swap" and self.appconfig is not None:
            raise ValueError("'appconfig' is only for cutover: appconfig")
        return self


def _state_dir(ctx: ActionContext) -> Path:
    if ctx.state_dir is not None:
        return ctx.state_dir
    from harness.config import Settings

    return Settings.load().state_dir


def _stack(ctx: ActionContext, name: str) -> Any:
    from harness.model import load_stacks

    stacks = load_stacks(_state_dir(ctx))
    stack = stacks.get(name)
    if stack is None:
        raise ConfigError(
            f"no deployed stack '{name}' (deployed: {sorted(stacks)})",
            field="targets.stack",
            fix="name a stack of the scenario's `stacks`.",
        )
    return stack


def _table(ctx: ActionContext, targets: TableTargets) -> str:
    stack = _stack(ctx, targets.stack)
    record = stack.resources.get(targets.table)
    if record is None or record.type != "AWS::DynamoDB::Table":
        tables = sorted(k for k, r in stack.resources.items() if r.type == "AWS::DynamoDB::Table")
        raise ConfigError(
            f"stack '{targets.stack}' has no table '{targets.table}' (tables: {tables})",
            field="targets.table",
            fix="name the logical id of one of the stack's AWS::DynamoDB::Table resources.",
        )
    return str(record.physical_id)


def _client(ctx: ActionContext) -> Any:
    from harness.aws import client_for

    return client_for(ctx.endpoints, "dynamodb")


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**request)
        items.extend(page.get("Items") or [])
        if not page.get("LastEvaluatedKey"):
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(item: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: item[name] for name in names}


def _key_names(ddb: Any, table: str) -> list[str]:
    described = ddb.describe_table(TableName=table)["Table"]
    return [k["AttributeName"] for k in described["KeySchema"]]


def _corrupt_start(
    ctx: ActionContext, spec: FaultSpec, targets: Any, params: Any, start_at: float
) -> dict[str, Any]:
    assert isinstance(targets, TableTargets) and isinstance(params, CorruptParameters)
    table = _table(ctx, targets)
    ddb = _client(ctx)
    names = _key_names(ddb, table)
    items = _scan(ddb, table)
    chosen = random.Random(ctx.seed).sample(items, round(len(items) * params.percent / 100))
    struck = time.time()
    for item in chosen:
        if params.mode == "delete":
            ddb.delete_item(TableName=table, Key=_key(item, names))
        else:  # every attribute but the key replaced by garbage
            ddb.put_item(TableName=table, Item={**_key(item, names),
                                                 "corrupted": {"S": "dr:corrupt"}})  # fmt: skip
    return {"action": "dr:corrupt", "table": table, "at": struck, "items": len(items),
            "affected": len(chosen), "mode": params.mode}  # fmt: skip


def _restore_start(
    ctx: ActionContext, spec: FaultSpec, targets: Any, params: Any, start_at: float
) -> dict[str, Any]:
    assert isinstance(targets, TableTargets) and isinstance(params, RestoreParameters)
    table = _table(ctx, targets)
    ddb = _client(ctx)
    started = time.time()
    temporary = f"{table}-dr-{int(started)}"
    if params.source == "pitr":
        request: dict[str, Any] = {"SourceTableName": table, "TargetTableName": temporary}
        if params.rewind is None:
            request["UseLatestRestorableTime"] = True
        else:
            request["RestoreDateTime"] = started - params.rewind
        described = ddb.restore_table_to_point_in_time(**request)["TableDescription"]
    else:
        backups = ddb.list_backups(TableName=table, BackupType="USER")["BackupSummaries"]
        if not backups:
            raise HarnessError(
                f"dr:restore source backup: table {table} has no on-demand backup",
                fix="create an on-demand backup of the table first (CreateBackup, e.g. in the "
                "stack's seed), or restore with source: pitr.",
            )
        newest = max(backups, key=lambda b: b["BackupCreationDateTime"])
        described = ddb.restore_table_from_backup(
            TargetTableName=temporary, BackupArn=newest["BackupArn"]
        )["TableDescription"]
    point = described["RestoreSummary"]["RestoreDateTime"]
    point = point.timestamp() if hasattr(point, "timestamp") else float(point)
    handle: dict[str, Any] = {"action": "dr:restore", "table": table, "source": params.source,
                              "point": point, "started": started, "cutover": params.cutover,
                              "state_dir": str(_state_dir(ctx))}  # fmt: skip
    if params.appconfig is not None:
        try:
            handle |= _repoint(ctx, targets.stack, params.appconfig, temporary, ddb)
        except Exception:
            ddb.delete_table(TableName=temporary)  # the cutover failed: nothing points at it
            raise
        return handle | {"items": len(_scan(ddb, temporary)), "ended": time.time()}
    try:
        names = _key_names(ddb, table)
        restored = _scan(ddb, temporary)
        wanted = {json.dumps(_key(i, names), sort_keys=True) for i in restored}
        for item in _scan(ddb, table):  # what the restore point did not hold goes
            if json.dumps(_key(item, names), sort_keys=True) not in wanted:
                ddb.delete_item(TableName=table, Key=_key(item, names))
        for start in range(0, len(restored), 25):
            pending: dict[str, Any] = {
                table: [{"PutRequest": {"Item": i}} for i in restored[start : start + 25]]
            }
            for _attempt in range(20):
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05)
            if pending:  # the swap must not end with restored items left out
                raise RuntimeError(f"dr:restore: items of {table} still unprocessed after 20 tries")
        ended = time.time()
        now = {json.dumps(_key(i, names), sort_keys=True) for i in _scan(ddb, table)}
    finally:
        ddb.delete_table(TableName=temporary)
    return handle | {"ended": ended, "items": len(restored), "verified": wanted <= now}


def _repoint(
    ctx: ActionContext, stack_name: str, lever: AppConfigCutover, restored: str, ddb: Any
) -> dict[str, Any]:
    """Seed 001's runbook: the restored table protected (PITR on) and named in the stack's
    AppConfig profile by a new hosted version and a deployment, waited until COMPLETE."""
    from harness.aws import client_for

    stack = _stack(ctx, stack_name)

    def physical(logical: str, field: str) -> str:
        record = stack.resources.get(logical)
        if record is None:
            raise ConfigError(
                f"stack '{stack_name}' has no resource '{logical}'.",
                field=f"parameters.appconfig.{field}",
                fix="name the logical id of the stack's AppConfig resource.",
            )
        return str(record.physical_id)

    app = physical(lever.application, "application")
    environment = physical(lever.environment, "environment")
    profile = physical(lever.profile, "profile")
    strategy = physical(lever.strategy, "strategy")
    ddb.update_continuous_backups(
        TableName=restored,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    appconfig = client_for(ctx.endpoints, "appconfig")
    versions = (
        appconfig.list_hosted_configuration_versions(
            ApplicationId=app, ConfigurationProfileId=profile
        ).get("Items")
        or []
    )
    if not versions:
        raise ConfigError(
            f"the AppConfig profile '{lever.profile}' has no hosted configuration version.",
            field="parameters.appconfig.profile",
            fix="name a hosted (LocationUri: hosted) profile that the stack deploys a version of.",
        )
    latest = max(int(v["VersionNumber"]) for v in versions)
    answer = appconfig.get_hosted_configuration_version(
        ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=latest
    )
    document = json.loads(answer["Content"].read() or b"{}")
    *parents, last = lever.key.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(
                f"'{lever.key}' is not a path of objects in the deployed configuration.",
                field="parameters.appconfig.key",
                fix="name the dotted key that holds the table name, e.g. resources.tableName.",
            )
    previous = node.get(last)
    node[last] = restored
    version = appconfig.create_hosted_configuration_version(
        ApplicationId=app,
        ConfigurationProfileId=profile,
        Content=json.dumps(document).encode(),
        ContentType="application/json",
        Description=f"dr:restore: {lever.key} -> {restored}",
    )["VersionNumber"]
    deployment = appconfig.start_deployment(
        ApplicationId=app,
        EnvironmentId=environment,
        DeploymentStrategyId=strategy,
        ConfigurationProfileId=profile,
        ConfigurationVersion=str(version),
        Description="dr:restore cutover",
    )
    number = deployment["DeploymentNumber"]
    deadline = time.time() + 120
    state = str(deployment.get("State", ""))
    while state != "COMPLETE":
        if state in ("ROLLED_BACK", "REVERTED") or time.time() > deadline:
            raise RuntimeError(f"dr:restore: the AppConfig deployment {number} is {state!r}")
        time.sleep(0.5)
        state = str(appconfig.get_deployment(
            ApplicationId=app, EnvironmentId=environment, DeploymentNumber=number
        ).get("State", ""))  # fmt: skip
    return {"restored_table": restored, "old_table": previous, "deployed": time.time(),
            "settle_s": lever.settle, "key": lever.key, "deployment": number}  # fmt: skip


def _no_stop(ctx: ActionContext, handle: Any) -> None:
    """A drill is done when its start returns: nothing to undo at the window's end."""


def first_write(state_dir: Path, table: str, after: float) -> float | None:
    """When the edge first logged a write to ``table`` after ``after`` (None: no write, or no
    log: the table has no point-in-time recovery)."""
    from harness.env.private import DATA_DIR

    log = state_dir / DATA_DIR / "dynamodb-backups" / f"pitr-{table}.log"
    if not log.is_file():
        return None
    with open(log, encoding="utf-8") as lines:
        times = (float(json.loads(line)["t"]) for line in lines if line.strip())
        return min((t for t in times if t > after), default=None)


def change_count(state_dir: Path, table: str, after: float, until: float) -> int | None:
    """How many writes the edge logged for ``table`` in (``after``, ``until``] (the writes a
    restore to ``after`` loses when the disaster struck at ``until``); None without a log."""
    from harness.env.private import DATA_DIR

    log = state_dir / DATA_DIR / "dynamodb-backups" / f"pitr-{table}.log"
    if not log.is_file():
        return None
    with open(log, encoding="utf-8") as lines:
        return sum(1 for line in lines if after < float(json.loads(line)["t"]) <= until)


register(
    ActionKind(
        "dr:corrupt",
        "a DR drill's disaster: percent of a table's items deleted or overwritten",
        TableTargets,
        CorruptParameters,
        _corrupt_start,
        _no_stop,
    )
)
register(
    ActionKind(
        "dr:restore",
        "a DR drill: the table restored (PITR or the newest backup), swapped in or repointed "
        "through the stack's AppConfig",
        TableTargets,
        RestoreParameters,
        _restore_start,
        _no_stop,
    )
)
