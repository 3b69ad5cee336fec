"""``harness fault add|list|clear|log|redis``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from harness import durations
from harness.errors import ConfigError

__all__ = ["cmd_fault", "configure_parser", "parse_duration"]


def parse_duration(text: str, option: str) -> float:
    """'250ms', '30s', '5m', '1h' or a number of seconds -> seconds."""
    try:
        return durations.parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), source=option, fix="use e.g. 500ms, 30s, 5m or 1h.") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fault_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add an AWS fault rule (LocalStack chaos rule shape)")
    add.add_argument("--file", help="JSON file with one rule or a list of rules")
    add.add_argument("--service", help="e.g. dynamodb, sqs, s3, secretsmanager (default: all)")
    add.add_argument("--operation", help="e.g. PutItem, SendMessage (default: all)")
    add.add_argument("--region")
    add.add_argument("--probability", type=float, default=1.0)
    add.add_argument(
        "--error-code", help="AWS error code, e.g. ProvisionedThroughputExceededException"
    )
    add.add_argument("--status", type=int, help="HTTP status of the error (default 503)")
    add.add_argument("--latency", help="fixed latency, e.g. 200ms")
    add.add_argument("--blackhole", action="store_true", help="never answer")
    add.add_argument("--reset", action="store_true", help="close the connection without an answer")
    add.add_argument("--tenant-prefix", help="only calls whose DynamoDB key starts with this")
    add.add_argument("--start", default="0s", help="start after this long (default now)")
    add.add_argument("--duration", help="stop after this long (default: until cleared)")
    add.add_argument("--max-injections", type=int)
    add.add_argument("--seed", type=int)
    add.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="list the fault rules and their counters")
    lst.add_argument("--json", action="store_true")
    clear = sub.add_parser("clear", help="remove fault rules (all, or the ids given)")
    clear.add_argument("ids", nargs="*")
    log = sub.add_parser("log", help="every injected fault: time, rule, call, effect")
    log.add_argument("--json", action="store_true")
    redis = sub.add_parser("redis", help="set the Redis proxy's mode")
    redis.add_argument("mode", choices=["ok", "down", "hang", "latency", "reset", "reboot"])
    redis.add_argument("--latency", default="0ms", help="for mode latency, e.g. 200ms")
    redis.add_argument("--duration", help="return to ok after this long")


def _rule_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.file:
        path = Path(args.file)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read fault rules: {exc}", source=str(path)) from None
        return data if isinstance(data, list) else [data]
    rule: dict[str, Any] = {"probability": args.probability}
    for name in ("service", "operation", "region", "seed"):
        if getattr(args, name) is not None:
            rule[name] = getattr(args, name)
    if args.error_code or args.status:
        rule["error"] = {
            "code": args.error_code or "ServiceUnavailable",
            "statusCode": args.status or 503,
        }
    if args.latency:
        rule["latency"] = {"ms": parse_duration(args.latency, "--latency") * 1000}
    if args.blackhole:
        rule["blackhole"] = True
    if args.reset:
        rule["reset"] = True
    if args.tenant_prefix:
        rule["tenant"] = {"partition_key_prefix": args.tenant_prefix}
    rule["start_at"] = time.time() + parse_duration(args.start, "--start")
    if args.duration:
        rule["duration_s"] = parse_duration(args.duration, "--duration")
    if args.max_injections:
        rule["max_injections"] = args.max_injections
    return [rule]


def cmd_fault(args: argparse.Namespace, endpoints: dict[str, Any]) -> int:
    from pydantic import ValidationError

    from harness.chaos.client import FaultClient
    from harness.chaos.control import parse_rules

    client = FaultClient(endpoints)
    action = args.fault_command
    if action == "add":
        raw = _rule_from_args(args)
        try:
            rules = parse_rules(raw)
        except (ValueError, ValidationError) as exc:
            raise ConfigError(
                f"invalid fault rule: {exc}", source=args.file or "harness fault add"
            ) from None
        result = client.add([*rules])
        added = result[-len(rules) :]
        if args.json:
            print(json.dumps(added, indent=2))
        else:
            for rule in added:
                print(f"added {rule['id']}: {_describe(rule)}")
        return 0
    if action == "list":
        listed = client.rules()
        if args.json:
            print(json.dumps(listed, indent=2))
        elif not listed:
            print("no fault rules")
        else:
            for rule in listed:
                state = "active" if rule["active"] else "inactive"
                print(
                    f"{rule['id']}  {state:<8} injected {rule['injected']:>6}/{rule['matches']:<6} {_describe(rule)}"
                )
        return 0
    if action == "clear":
        remaining = client.clear(args.ids or None)
        print(f"{len(remaining)} rule(s) left")
        return 0
    if action == "log":
        injected = client.log()
        if args.json:
            print(json.dumps(injected, indent=2))
        else:
            for item in injected["injected"]:
                stamp = time.strftime("%H:%M:%S", time.localtime(item["time"]))
                print(
                    f"{stamp} {item['rule_id']} {item['service']}:{item['operation']} {item['effect']}"
                )
        return 0
    duration = parse_duration(args.duration, "--duration") if args.duration else None
    proxy = client.redis(
        args.mode, latency_ms=parse_duration(args.latency, "--latency") * 1000, duration_s=duration
    )
    print(f"redis proxy mode: {proxy['mode']}")
    return 0


def _describe(rule: dict[str, Any]) -> str:
    target = f"{rule.get('service') or '*'}:{rule.get('operation') or '*'}"
    parts = [target, f"p={rule.get('probability', 1)}"]
    if rule.get("error"):
        parts.append(f"error {rule['error']['statusCode']} {rule['error']['code']}")
    if rule.get("latency"):
        parts.append(f"latency {rule['latency']}")
    if rule.get("blackhole"):
        parts.append("blackhole")
    if rule.get("reset"):
        parts.append("reset")
    if rule.get("tenant"):
        parts.append(f"tenant {rule['tenant']}")
    if rule.get("duration_s"):
        parts.append(f"for {rule['duration_s']}s")
    return " ".join(parts)
