"""Push notifications (seed: ``SyncSucceeded`` "is consumed ... to trigger a push notification";
an export's completion "will be delivered via push notification").

``NotifierFunction`` is the target of an EventBridge rule on the stack's bus for
``SyncSucceeded`` (worker) and ``ExportCompleted`` (exporter). Per event it reads the user's
settings and, unless ``notificationsEnabled`` is false, publishes one notification to
``PUSH_TOPIC_ARN`` — the local stand-in for SNS Mobile Push, whose platform applications and
device endpoints the emulators do not have (a deployment would publish to the user's endpoint
ARN). The message is SNS's per-protocol JSON (``default``, ``APNS``, ``GCM``) with the
``userId`` as a message attribute. EventBridge invokes asynchronously: a failure is retried by
the runtime (two retries), then lands in ``NotifierDlq``; a lost notification never affects a
job.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from syncwell.common import client, correlation, env, log, metric
from syncwell.store import Table, user_pk

__all__ = ["handler", "notification_for"]

_TEXT = {
    "SyncSucceeded": ("Sync complete", "Your {dataType} data is up to date ({records} new)."),
    "ExportCompleted": ("Your export is ready", "Download it in the app within an hour."),
}


def notification_for(detail_type: str, detail: dict[str, Any]) -> dict[str, Any] | None:
    """The SNS message (``MessageStructure=json``) for an event, or None for other events."""
    text = _TEXT.get(detail_type)
    if text is None:
        return None
    title, body = text
    body = body.format(
        dataType=str(detail.get("dataType") or "health").replace("_", " "),
        records=int(detail.get("records") or 0),
    )
    data = {"type": detail_type, "jobId": detail.get("jobId")}
    apns = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, **data}
    gcm = {"notification": {"title": title, "body": body}, "data": data}
    return {
        "default": f"{title}: {body}",
        "APNS": json.dumps(apns),
        "GCM": json.dumps(gcm),
    }


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    detail_type = str(event.get("detail-type") or "")
    user_id = str(detail.get("userId") or "")
    correlation(str(detail.get("correlationId") or detail.get("jobId") or event.get("id") or ""))
    message = notification_for(detail_type, detail)
    if message is None or not user_id:
        log(logging.INFO, "event ignored", detailType=detail_type)
        return {"sent": False, "reason": "not a notified event"}
    profile = Table().get(user_pk(user_id), "PROFILE", consistent=False) or {}
    if (profile.get("settings") or {}).get("notificationsEnabled") is False:
        metric("PushNotifications", 1, Outcome="OPTED_OUT", Event=detail_type)
        return {"sent": False, "reason": "notifications disabled by the user"}
    client("sns").publish(
        TopicArn=env("PUSH_TOPIC_ARN"),
        Message=json.dumps(message),
        MessageStructure="json",
        MessageAttributes={
            "userId": {"DataType": "String", "StringValue": user_id},
            "event": {"DataType": "String", "StringValue": detail_type},
        },
    )
    metric("PushNotifications", 1, Outcome="SENT", Event=detail_type)
    return {"sent": True}
