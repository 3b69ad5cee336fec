"""Export jobs: ``ExportQueue`` → a ZIP of JSON files (one per canonical data type, plus the
account) in the export bucket at ``exports/{userId}/{jobId}.zip``; the API hands out a pre-signed
URL valid for 1 hour."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from syncwell.common import client, correlation, env, env_int, log, receive_count
from syncwell.store import Table, is_conditional_failure, user_pk
from syncwell.users import iso

__all__ = ["build_archive", "handler"]

_SECRET_FIELDS = {"CredentialArn", "PK"}


def build_archive(items: list[dict[str, Any]], data_types: list[str]) -> bytes:
    account = [i for i in items if i["SK"] in ("PROFILE",)]
    conns = [
        {k: val for k, val in i.items() if k not in _SECRET_FIELDS}
        for i in items
        if i["SK"].startswith("CONN#")
    ]
    jobs = [
        {k: val for k, val in i.items() if k not in ("PK", "requestHash")}
        for i in items
        if i["SK"].startswith("JOB#")
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("account.json", json.dumps(account, indent=2, default=str))
        archive.writestr("connections.json", json.dumps(conns, indent=2, default=str))
        for data_type in data_types:
            mine = [j for j in jobs if j.get("dataType") == data_type]
            archive.writestr(
                f"{data_type}.json",
                json.dumps({"dataType": data_type, "syncJobs": mine}, indent=2, default=str),
            )
    return buffer.getvalue()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    table = Table()
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            correlation(str(body.get("correlationId") or body.get("jobId") or ""))
            pk = user_pk(body["userId"])
            items = [i for i in table.query(pk, consistent=True) if not i["SK"].startswith("IDEM#")]
            if not any(i["SK"] == f"EXPORT#{body['jobId']}" for i in items):
                continue  # user deleted meanwhile
            key = f"exports/{body['userId']}/{body['jobId']}.zip"
            client("s3").put_object(
                Bucket=env("EXPORT_BUCKET"),
                Key=key,
                Body=build_archive(items, body.get("dataTypes") or []),
                ContentType="application/zip",
            )
            table.update(
                pk,
                f"EXPORT#{body['jobId']}",
                "SET #s = :s, s3Key = :k, completedAt = :t",
                names={"#s": "status"},
                values={":s": "SUCCEEDED", ":k": key, ":t": iso()},
                condition="attribute_exists(PK)",
            )
            _announce(body)
        except Exception as exc:
            if is_conditional_failure(exc):
                continue
            log(logging.ERROR, "export failed", error=repr(exc)[:300])
            failures.append({"itemIdentifier": record["messageId"]})
            if receive_count(record) >= env_int("EXPORT_MAX_RECEIVES", 3):
                _mark_failed(table, record, exc)  # the last try: SQS moves it to the DLQ next
    return {"batchItemFailures": failures}


def _announce(body: dict[str, Any]) -> None:
    """``ExportCompleted`` on the bus: the notifier pushes it to the user. Best effort (the
    export is done; a lost notification is not a lost export)."""
    try:
        client("events").put_events(
            Entries=[
                {
                    "Source": "syncwell.exporter",
                    "DetailType": "ExportCompleted",
                    "EventBusName": env("EVENT_BUS_NAME", "default"),
                    "Detail": json.dumps(
                        {
                            "jobId": body["jobId"],
                            "userId": body["userId"],
                            "correlationId": body.get("correlationId"),
                        }
                    ),
                }
            ]
        )
    except Exception as exc:
        log(logging.ERROR, "ExportCompleted not published", error=repr(exc)[:200])


def _mark_failed(table: Table, record: dict[str, Any], exc: Exception) -> None:
    """``GET /v1/export-jobs/{id}`` answers FAILED instead of PENDING forever (best effort)."""
    try:
        body = json.loads(record["body"])
        table.update(
            user_pk(body["userId"]),
            f"EXPORT#{body['jobId']}",
            "SET #s = :s, failedAt = :t, failure = :f",
            names={"#s": "status"},
            values={":s": "FAILED", ":t": iso(), ":f": type(exc).__name__},
            condition="attribute_exists(PK)",
        )
    except Exception as error:  # the message still goes to the DLQ
        log(logging.ERROR, "could not mark the export FAILED", error=repr(error)[:200])
