"""CloudWatch alarms, live, in the AWS edge: evaluation once a second, actions, and the
alarm calls of the CloudWatch API.

The edge already sees every SDK call, so it is where an SDK asks CloudWatch about alarms:
``DescribeAlarms``, ``DescribeAlarmHistory`` and ``SetAlarmState`` are answered here with the
live state (boto3's ``smithy-rpc-v2-cbor`` protocol, and the JSON protocol of other SDKs);
every other CloudWatch call goes on to the emulator. The alarms are the deployed stacks'
``AWS::CloudWatch::Alarm`` / ``CompositeAlarm`` resources (re-read when a stack file changes),
evaluated over ``<state_dir>/metrics`` by :class:`harness.metrics.AlarmMonitor`.

Actions: on a state change, each ``AlarmActions`` / ``OKActions`` /
``InsufficientDataActions`` ARN of an SNS topic gets the alarm message CloudWatch publishes
(JSON with ``AlarmName``, ``NewStateValue``, ``NewStateReason``, ``StateChangeTime``,
``Trigger``...; subject ``ALARM: "name" in US East (N. Virginia)``), sent through the edge
itself, so faults on SNS apply and subscribed functions run. Other action ARNs (EC2,
Auto Scaling, SSM) are recorded as not delivered, with the reason.

Control API: ``GET /_harness/edge/alarms`` (states, history, actions, definition problems),
``POST /_harness/edge/alarms/config`` ``{"scale": F}`` (periods divided by ``F``; reported),
``DELETE /_harness/edge/alarms/history``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness.httpclient import HttpClientError, HttpStatusError, NoAnswerError, call
from harness.metrics.alarms import MetricAlarm
from harness.metrics.composite import CompositeAlarm
from harness.metrics.definitions import load as load_definitions
from harness.metrics.monitor import AlarmMonitor, Transition
from harness.metrics.store import MetricStore

__all__ = ["SQS_GAUGES", "EdgeAlarms", "alarm_message"]

logger = logging.getLogger(__name__)

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
_CW_TARGET = "GraniteServiceVersion20100801"
# AWS/SQS metrics CloudWatch samples from the queue (not counted per call): the edge samples them
SQS_GAUGES = ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def alarm_message(
    change: Transition,
    definition: MetricAlarm | CompositeAlarm,
    region: str,
    account: str,
) -> tuple[str, str]:
    """(subject, message) as CloudWatch publishes them to an SNS topic."""
    region_name = REGION_NAMES.get(region, region)
    message: dict[str, Any] = {
        "AlarmName": definition.name,
        "AlarmDescription": definition.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _iso(change.time),
        "NewStateValue": change.new,
        "NewStateReason": change.reason,
        "StateChangeTime": _iso(change.time),
        "Region": region_name,
        "AlarmArn": definition.arn,
        "OldStateValue": change.old,
        "OKActions": definition.ok_actions,
        "AlarmActions": definition.alarm_actions,
        "InsufficientDataActions": definition.insufficient_data_actions,
    }
    if isinstance(definition, MetricAlarm):
        percentile = definition.statistic.startswith("p")
        message["Trigger"] = {
            "MetricName": definition.metric_name,
            "Namespace": definition.namespace,
            "StatisticType": "ExtendedStatistic" if percentile else "Statistic",
            "Statistic": None if percentile else definition.statistic.upper(),
            "ExtendedStatistic": definition.statistic if percentile else None,
            "Unit": None,
            "Dimensions": [{"value": v, "name": k} for k, v in definition.dimensions.items()],
            "Period": int(definition.declared_period or definition.period),
            "EvaluationPeriods": definition.evaluation_periods,
            "DatapointsToAlarm": definition.datapoints_to_alarm,
            "ComparisonOperator": definition.comparison,
            "Threshold": definition.threshold,
            "TreatMissingData": definition.treat_missing_data,
            "EvaluateLowSampleCountPercentile": "",
        }
    else:
        message["AlarmRule"] = definition.rule_text
    subject = f'{change.new}: "{definition.name}" in {region_name}'
    return subject[:100], json.dumps(message)


class EdgeAlarms:
    def __init__(
        self, state_dir: Path, *, region: str = "us-east-1", account: str = "000000000000"
    ) -> None:
        self.state_dir = Path(state_dir)
        self.region = region
        self.account = account
        self.edge_url: str | None = None  # set once the edge listens (actions go through it)
        self.store = MetricStore(self.state_dir / "metrics")
        self.monitor = AlarmMonitor(self.store, on_change=self._on_change)
        self.lock = threading.RLock()
        self.problems: list[str] = []
        self.actions: list[dict[str, Any]] = []
        self._signature: tuple[tuple[str, float], ...] | None = None
        self._scale = 1.0
        self.sqs_url: str | None = None  # the SQS emulator (the queue peeks go straight to it)
        self._sample_problems: dict[str, str] = {}

    # -- definitions and evaluation -----------------------------------------------------------

    def _stacks_signature(self) -> tuple[tuple[str, float], ...]:
        folder = self.state_dir / "stacks"
        if not folder.is_dir():
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*.json")))

    def reload(self, force: bool = False) -> None:
        signature = self._stacks_signature()
        if not force and signature == self._signature:
            return
        self._signature = signature
        try:
            definitions = load_definitions(self.state_dir, self._scale)
        except Exception as exc:  # a stack file mid-write: try again on the next tick
            logger.warning("alarms: cannot read the deployed stacks: %s", exc)
            self._signature = None
            return
        self.problems = [str(p) for p in definitions.problems]
        for problem in self.problems:
            logger.warning("alarm not evaluated: %s", problem)
        self.monitor.scale = self._scale
        self.monitor.load(definitions.alarms, definitions.composites)

    def tick(self, now: float | None = None) -> list[Transition]:
        with self.lock:
            self.reload()
            self._sample_queues()
            return self.monitor.tick(now)

    def _sample_queues(self) -> None:
        """The SQS gauges CloudWatch samples, sampled once a second for the queues an alarm
        watches: ``ApproximateNumberOfMessagesVisible`` (GetQueueAttributes through the edge)
        and ``ApproximateAgeOfOldestMessage`` (a side-effect-free peek at the queue, see
        :meth:`_oldest_age`)."""
        wanted: dict[str, set[str]] = {}
        for a in self.monitor.alarms.values():
            name = a.dimensions.get("QueueName")
            if a.namespace == "AWS/SQS" and a.metric_name in SQS_GAUGES and name:
                wanted.setdefault(a.metric_name, set()).add(name)
        if not wanted or self.edge_url is None:
            return
        from harness.model import load_stacks

        urls = {
            str(rec.attributes.get("QueueName")): rec.physical_id
            for stack in load_stacks(self.state_dir).values()
            for rec in stack.resources.values()
            if rec.type == "AWS::SQS::Queue"
        }
        second = int(time.time())
        for metric in sorted(wanted):
            for name in sorted(wanted[metric]):
                url = urls.get(name)
                if url is None:
                    continue
                if metric == "ApproximateNumberOfMessagesVisible":
                    value = self._queue_depth(url)
                else:
                    value = self._oldest_age(url, name)
                if value is not None:
                    self.store.add("AWS/SQS", metric, {"QueueName": name}, second, [float(value)])

    def _queue_depth(self, url: str) -> int | None:
        stamp = time.strftime("%Y%m%d", time.gmtime())
        body = json.dumps({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]})
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.GetQueueAttributes",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=cloudwatch/{stamp}/{self.region}/"
            "sqs/aws4_request, SignedHeaders=host, Signature=0",
        }
        try:
            answer = call(
                "POST", str(self.edge_url) + "/", body.encode(), headers=headers, timeout=5
            )
            attrs = json.loads(answer.body).get("Attributes") or {}
            return int(attrs.get("ApproximateNumberOfMessages", 0))
        except (HttpClientError, ValueError) as exc:
            logger.info("alarms: cannot sample %s: %s", url, exc)
            return None

    def _oldest_age(self, url: str, name: str) -> int | None:
        """``ApproximateAgeOfOldestMessage``: seconds since the oldest message still in the
        queue (visible or in flight, not delayed) was sent; 0 for an empty queue. Neither
        emulator answers the attribute (it is a CloudWatch metric, not a queue attribute), so
        the edge peeks at the queue without side effects (no receive count, no visibility
        change): LocalStack's ``/_aws/sqs/messages?ShowInvisible=true`` developer endpoint, or
        ministack's ``/_ministack/sqs/messages`` (with the environment's secret). A queue that
        cannot be peeked is named in :attr:`problems` (the alarm would only see missing data)."""
        if self.sqs_url is None:
            self._sample_problem(name, "the edge was not told where SQS is served")
            return None
        sent: list[float] = []
        errors: list[str] = []
        for peek in (self._peek_localstack, self._peek_ministack):
            try:
                found = peek(url)
            except (HttpClientError, ValueError, KeyError, TypeError) as exc:
                reason = exc.reason if isinstance(exc, HttpClientError) else exc
                errors.append(f"{peek.__name__[6:]}: {reason}")
                continue
            if found is not None:
                sent = found
                break
        else:
            self._sample_problem(name, "; ".join(errors) or "no peek endpoint answered")
            return None
        self._sample_problems.pop(name, None)
        if not sent:
            return 0
        return max(0, int(time.time() - min(sent)))

    def _peek_localstack(self, url: str) -> list[float] | None:
        body = json.dumps({"QueueUrl": url}).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.ReceiveMessage",
        }
        peek = f"{self.sqs_url}/_aws/sqs/messages?ShowInvisible=true"
        try:
            doc = json.loads(call("POST", peek, body, headers=headers, timeout=5).body)
        except HttpStatusError as exc:
            if exc.status in (404, 405):
                return None  # not LocalStack
            raise
        return [
            int(m["Attributes"]["SentTimestamp"]) / 1000.0
            for m in doc.get("Messages") or []
            if m.get("Attributes", {}).get("IsDelayed", "false") != "true"
        ]

    def _peek_ministack(self, url: str) -> list[float] | None:
        from urllib.parse import quote

        from harness.env.secret import read_secret

        secret = read_secret(self.state_dir)
        peek = f"{self.sqs_url}/_ministack/sqs/messages?QueueUrl={quote(url, safe='')}"
        headers = {"X-Harness-Secret": secret} if secret else {}
        try:
            doc = json.loads(call("GET", peek, headers=headers, timeout=5).body)
        except HttpStatusError as exc:
            if exc.status in (404, 405):
                return None
            raise
        sent: list[float] = []
        for regions in (doc.get("messages") or {}).values():
            for queues in regions.values():
                for messages in queues.values():
                    for m in messages:
                        stamp = (m.get("Attributes") or {}).get("SentTimestamp")
                        sent.append(int(stamp) / 1000.0 if stamp else float(m["SentTimestamp"]))
        return sent

    def _sample_problem(self, queue: str, why: str) -> None:
        if queue not in self._sample_problems:
            logger.warning("alarms: cannot sample ApproximateAgeOfOldestMessage of %s: %s",
                           queue, why)  # fmt: skip
        self._sample_problems[queue] = (
            f"AWS/SQS ApproximateAgeOfOldestMessage of queue {queue} cannot be sampled ({why}): "
            "an alarm on it sees missing data only"
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0 - (time.time() % 1.0) + 0.05)
            try:
                await loop.run_in_executor(None, self.tick)
            except Exception:
                logger.exception("alarms: evaluation failed")

    # -- actions ---------------------------------------------------------------------------------

    def _on_change(self, change: Transition, definition: MetricAlarm | CompositeAlarm) -> None:
        targets = {
            "ALARM": definition.alarm_actions,
            "OK": definition.ok_actions,
            "INSUFFICIENT_DATA": definition.insufficient_data_actions,
        }[change.new]
        if not targets:
            return
        if not definition.actions_enabled:
            for arn in targets:
                self._log_action(change, arn, False, "ActionsEnabled is false")
            return
        subject, message = alarm_message(change, definition, self.region, self.account)
        for arn in targets:
            if not arn.startswith("arn:aws:sns:"):
                self._log_action(change, arn, False, "only SNS topic actions are delivered locally")
                continue
            self._log_action(change, arn, *self._publish(arn, subject, message))

    def _publish(self, topic_arn: str, subject: str, message: str) -> tuple[bool, str]:
        if self.edge_url is None:
            return False, "the edge is not listening yet"
        region = topic_arn.split(":")[3] or self.region
        body = urlencode(
            {
                "Action": "Publish",
                "Version": "2010-03-31",
                "TopicArn": topic_arn,
                "Subject": subject,
                "Message": message,
            }
        ).encode()
        stamp = time.strftime("%Y%m%d", time.gmtime())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            # the scope is how the edge and the emulators recognise an SNS call
            "Authorization": f"AWS4-HMAC-SHA256 Credential=cloudwatch/{stamp}/{region}/sns/"
            "aws4_request, SignedHeaders=host, Signature=0",
        }
        try:
            answer = call("POST", self.edge_url + "/", body, headers=headers, timeout=10)
        except HttpStatusError as exc:
            return False, f"SNS answered {exc.status}: {exc.body[:200].decode(errors='replace')}"
        except NoAnswerError as exc:
            return False, f"SNS unreachable: {exc.reason}"
        return True, f"SNS answered {answer.status}"

    def _log_action(self, change: Transition, arn: str, delivered: bool, detail: str) -> None:
        entry = {"time": round(change.time, 3), "alarm": change.alarm, "state": change.new,
                 "action": arn, "delivered": delivered, "detail": detail}  # fmt: skip
        self.actions.append(entry)
        (logger.info if delivered else logger.warning)("alarm action: %s", entry)

    # -- control API ---------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, Any] | None:
        if not path.startswith("/_harness/edge/alarms"):
            return None
        with self.lock:
            if path == "/_harness/edge/alarms" and method == "GET":
                self.reload()
                return 200, self.snapshot()
            if path == "/_harness/edge/alarms/config" and method == "POST":
                try:
                    scale = float(json.loads(body or b"{}").get("scale", 1.0))
                except (ValueError, AttributeError, TypeError):
                    return 400, {"message": 'send {"scale": F} with F > 0'}
                if scale <= 0:
                    return 400, {"message": "scale must be > 0"}
                self._scale = scale
                self.reload(force=True)
                return 200, self.snapshot()
            if path == "/_harness/edge/alarms/history" and method == "DELETE":
                self.monitor.history.clear()
                self.actions.clear()
                return 200, {"cleared": True}
        return 404, {"message": f"no edge alarms endpoint {method} {path}"}

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.monitor.snapshot(),
            "now": time.time(),
            "actions": list(self.actions),
            "problems": [*self.problems, *self._sample_problems.values()],
        }

    # -- the CloudWatch API ----------------------------------------------------------------------

    def handles(self, operation: str) -> bool:
        return operation in ("DescribeAlarms", "DescribeAlarmHistory", "SetAlarmState")

    def cloudwatch(self, target: str, headers: dict[str, str], body: bytes) -> bytes | None:
        """The answer to an alarm call, or None to let the emulator answer."""
        cbor = headers.get("smithy-protocol", "") == "rpc-v2-cbor"
        if cbor:
            path = target.split("?", 1)[0]
            if f"/service/{_CW_TARGET}/operation/" not in path:
                return None
            operation = path.rsplit("/", 1)[-1]
        else:
            amz_target = headers.get("x-amz-target", "")
            if not amz_target.startswith(_CW_TARGET + "."):
                return None
            operation = amz_target.split(".", 1)[1]
        if not self.handles(operation):
            return None
        try:
            if cbor:
                import cbor2

                params = cbor2.loads(body) if body else {}
            else:
                params = json.loads(body or b"{}")
        except Exception:
            return self._encode(cbor, 400, {"__type": "InvalidParameterValue",
                                            "message": "the request body cannot be read"})  # fmt: skip
        with self.lock:
            self.reload()
            status, payload = getattr(self, "_" + operation)(params or {})
        return self._encode(cbor, status, payload)

    def _encode(self, cbor: bool, status: int, payload: dict[str, Any]) -> bytes:
        if cbor:
            import cbor2

            data = cbor2.dumps(payload, datetime_as_timestamp=True, timezone=dt.UTC)
            head = "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n"
        else:

            def default(value: Any) -> Any:
                if isinstance(value, dt.datetime):
                    return value.timestamp()
                raise TypeError(type(value))

            data = json.dumps(payload, default=default).encode()
            head = "Content-Type: application/x-amz-json-1.0\r\n"
        reason = "OK" if status == 200 else "Bad Request"
        return (
            f"HTTP/1.1 {status} {reason}\r\n{head}x-amzn-RequestId: {time.time_ns():x}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    def _when(self, name: str) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.monitor.updated.get(name, time.time()), dt.UTC)

    def _DescribeAlarms(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        names = set(params.get("AlarmNames") or [])
        prefix = params.get("AlarmNamePrefix") or ""
        state = params.get("StateValue")
        types = set(params.get("AlarmTypes") or ["MetricAlarm"])
        m = self.monitor

        def wanted(name: str) -> bool:
            if names and name not in names:
                return False
            if prefix and not name.startswith(prefix):
                return False
            return not (state and m.states.get(name) != state)

        metric_alarms = []
        if "MetricAlarm" in types:
            for name, a in sorted(m.alarms.items()):
                if not wanted(name):
                    continue
                item: dict[str, Any] = {
                    "AlarmName": name,
                    "AlarmArn": a.arn,
                    "AlarmDescription": a.description,
                    "ActionsEnabled": a.actions_enabled,
                    "OKActions": a.ok_actions,
                    "AlarmActions": a.alarm_actions,
                    "InsufficientDataActions": a.insufficient_data_actions,
                    "StateValue": m.states.get(name),
                    "StateReason": m.reasons.get(name, ""),
                    "StateUpdatedTimestamp": self._when(name),
                    "MetricName": a.metric_name,
                    "Namespace": a.namespace,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in a.dimensions.items()],
                    "Period": round(a.period),
                    "EvaluationPeriods": a.evaluation_periods,
                    "DatapointsToAlarm": a.datapoints_to_alarm,
                    "Threshold": a.threshold,
                    "ComparisonOperator": a.comparison,
                    "TreatMissingData": a.treat_missing_data,
                }
                if a.statistic.startswith("p"):
                    item["ExtendedStatistic"] = a.statistic
                else:
                    item["Statistic"] = a.statistic
                metric_alarms.append(item)
        composites = []
        if "CompositeAlarm" in types:
            for name, c in sorted(m.composites.items()):
                if wanted(name):
                    composites.append(
                        {
                            "AlarmName": name,
                            "AlarmArn": c.arn,
                            "AlarmDescription": c.description,
                            "AlarmRule": c.rule_text,
                            "ActionsEnabled": c.actions_enabled,
                            "OKActions": c.ok_actions,
                            "AlarmActions": c.alarm_actions,
                            "InsufficientDataActions": c.insufficient_data_actions,
                            "StateValue": m.states.get(name),
                            "StateReason": m.reasons.get(name, ""),
                            "StateUpdatedTimestamp": self._when(name),
                        }
                    )
        return 200, {"MetricAlarms": metric_alarms, "CompositeAlarms": composites}

    def _DescribeAlarmHistory(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params.get("AlarmName")
        kind = params.get("HistoryItemType")
        items = []
        if kind in (None, "StateUpdate"):
            for t in reversed(self.monitor.history):
                if name and t.alarm != name:
                    continue
                summary = f"Alarm updated from {t.old} to {t.new}"
                data = {"version": "1.0", "oldState": {"stateValue": t.old},
                        "newState": {"stateValue": t.new, "stateReason": t.reason}}  # fmt: skip
                items.append(
                    {
                        "AlarmName": t.alarm,
                        "AlarmType": "CompositeAlarm"
                        if t.alarm in self.monitor.composites
                        else "MetricAlarm",
                        "Timestamp": dt.datetime.fromtimestamp(t.time, dt.UTC),
                        "HistoryItemType": "StateUpdate",
                        "HistorySummary": summary,
                        "HistoryData": json.dumps(data),
                    }
                )
        if kind in (None, "Action"):
            for entry in reversed(self.actions):
                if name and entry["alarm"] != name:
                    continue
                items.append(
                    {
                        "AlarmName": entry["alarm"],
                        "AlarmType": "MetricAlarm",
                        "Timestamp": dt.datetime.fromtimestamp(entry["time"], dt.UTC),
                        "HistoryItemType": "Action",
                        "HistorySummary": ("Successfully executed action " if entry["delivered"]
                                           else "Failed to execute action ") + entry["action"],
                        "HistoryData": json.dumps(entry),
                    }
                )  # fmt: skip
        limit = int(params.get("MaxRecords") or 100)
        return 200, {"AlarmHistoryItems": items[:limit]}

    def _SetAlarmState(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params.get("AlarmName")
        state = params.get("StateValue")
        if name not in self.monitor.states:
            return 404, {"__type": "ResourceNotFound", "message": f"Alarm {name} not found"}
        if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            return 400, {"__type": "InvalidParameterValue",
                         "message": f"StateValue {state!r} is not OK, ALARM or INSUFFICIENT_DATA"}  # fmt: skip
        self.monitor.set_state(str(name), str(state), str(params.get("StateReason") or ""))
        return 200, {}
