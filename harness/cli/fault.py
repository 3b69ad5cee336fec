"""``harness fault add|list|clear|log|redis|lambda|throttle|cold-start|az|dns|thirdparty``.

``add`` adds an AWS rule at the edge and ``redis`` sets the Redis proxy's mode; ``lambda``,
``throttle``, ``cold-start``, ``az``, ``dns`` and ``thirdparty`` go through
:class:`harness.chaos.Faults`; ``list``, ``clear`` and ``log`` cover every kind.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from harness import durations
from harness.cli.common import settings
from harness.errors import ConfigError

__all__ = ["HELP", "configure", "parse_duration", "run"]

HELP = "inject, list and clear faults on the running environment"


def parse_duration(text: str, option: str) -> float:
    """'250ms', '30s', '5m', '1h' or a number of seconds -> seconds."""
    try:
        return durations.parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), source=option, fix="use e.g. 500ms, 30s, 5m or 1h.") from None


def configure(parser: argparse.ArgumentParser) -> None:
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
    lst = sub.add_parser("list", help="every fault in force, of every kind, with its counters")
    lst.add_argument("--json", action="store_true")
    clear = sub.add_parser(
        "clear", help="remove every fault of every kind (or the AWS rules whose ids are given)"
    )
    clear.add_argument("ids", nargs="*")
    clear.add_argument("--kind", help="only this kind: aws, redis, lambda, az, dns, thirdparty")
    log = sub.add_parser("log", help="every injected fault of every kind: time, target, effect")
    log.add_argument("--json", action="store_true")
    _configure_more(sub)
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


def run(args: argparse.Namespace) -> int:
    from harness.env.environment import Environment

    return apply(args, Environment(settings(args)).endpoints)


def apply(args: argparse.Namespace, endpoints: dict[str, Any]) -> int:
    """The fault command against the environment at ``endpoints``."""
    from pydantic import ValidationError

    from harness.chaos.client import FaultClient
    from harness.chaos.rules import parse_rules

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
    if action in MORE_ACTIONS:
        return _cmd_more(args, endpoints)
    if action == "list":
        everything = _faults(args, endpoints).list()
        if args.json:
            print(json.dumps(everything, indent=2))
            return 0
        listed = everything.get("aws", [])
        for rule in listed:
            state = "active" if rule["active"] else "inactive"
            print(
                f"aws    {rule['id']}  {state:<8} injected {rule['injected']:>6}/{rule['matches']:<6} {_describe(rule)}"
            )
        for rule in everything.get("lambda", []):
            state = "active" if rule["active"] else "inactive"
            target = ",".join(rule.get("functions") or []) or "*"
            print(
                f"lambda {rule['id']}  {state:<8} injected {rule['injected']:>6}/{rule['matches']:<6} "
                f"{rule['mode']} {rule.get('stack') or '*'}:{target} {rule.get('description') or ''}"
            )
        redis = everything.get("redis")
        if redis and redis.get("mode") != "ok":
            print(f"redis  mode {redis['mode']}")
        if everything.get("az"):
            print(f"az     {everything['az']['effect']}")
        for name, server in everything.get("thirdparty", {}).items():
            for provider, fault in (server.get("faults") or {}).items():
                print(
                    f"thirdparty {name}:{provider} {fault.get('mode')} injected {server['injected']}"
                )
        if not listed and not everything.get("lambda") and not everything.get("az"):
            print("no AWS or Lambda faults")
        return 0
    if action == "clear":
        if args.ids:
            remaining = client.clear(args.ids)
            print(f"{len(remaining)} AWS rule(s) left")
            return 0
        cleared = _faults(args, endpoints).clear(args.kind)
        print(f"cleared: {', '.join(sorted(cleared)) or 'nothing'}")
        return 0
    if action == "log":
        records = _faults(args, endpoints).log()
        if args.json:
            print(json.dumps(records, indent=2))
        else:
            for item in records:
                stamp = time.strftime("%H:%M:%S", time.localtime(item["time"]))
                print(
                    f"{stamp} {item['kind']:<10} {item.get('target', '')} {item.get('effect', '')}"
                )
        return 0
    duration = parse_duration(args.duration, "--duration") if args.duration else None
    proxy = _faults(args, endpoints).add(
        "redis",
        {
            "mode": args.mode,
            "latency_ms": parse_duration(args.latency, "--latency") * 1000,
            "duration_s": duration,
        },
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


# -- every other kind (through harness.chaos.Faults) ------------------------------------------

MORE_ACTIONS = ("lambda", "throttle", "cold-start", "az", "dns", "thirdparty")


def _targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="name or logical id (repeatable; default: all)",
    )
    parser.add_argument("--stack", help="only the functions of this deployed stack")


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default="0s", help="start after this long (default now)")
    parser.add_argument("--duration", help="stop after this long (default: until cleared)")
    parser.add_argument("--seed", type=int, help="same seed -> same affected invocations")
    parser.add_argument("--json", action="store_true")


def _configure_more(sub: Any) -> None:
    from harness.chaos.lambda_faults import LAMBDA_MODES
    from harness.chaos.thirdparty import THIRDPARTY_MODES

    lam = sub.add_parser("lambda", help="fault Lambda invocations (FIS / failure-lambda modes)")
    lam.add_argument("mode", choices=[m for m in LAMBDA_MODES if m != "throttle"])
    _targets(lam)
    lam.add_argument("--percentage", type=float, default=100.0, help="invocationPercentage")
    lam.add_argument("--delay", help="latency: startupDelayMilliseconds, e.g. 800ms")
    lam.add_argument("--min-latency", help="latency: uniform minimum, e.g. 100ms")
    lam.add_argument("--max-latency", help="latency: uniform maximum, e.g. 2s")
    lam.add_argument("--status", type=int, help="statuscode: statusCode (default 500)")
    lam.add_argument("--message", help="exception: exception_msg")
    lam.add_argument("--deny", action="append", default=[], help="denylist: host regex")
    lam.add_argument("--disk-mb", type=int, help="diskspace: MB of /tmp taken (reported)")
    lam.add_argument(
        "--run-handler", action="store_true", help="preventExecution=false: run the code first"
    )
    lam.add_argument("--max-injections", type=int)
    _window(lam)
    throttle = sub.add_parser("throttle", help="reserved concurrency 0: invocations get 429")
    _targets(throttle)
    _window(throttle)
    cold = sub.add_parser("cold-start", help="recycle every warm environment (cold-start storm)")
    _targets(cold)
    cold.add_argument("--json", action="store_true")
    az = sub.add_parser("az", help="lose half the environments and gateway processes")
    az.add_argument("--duration", required=True, help="how long capacity stays lost, e.g. 30s")
    az.add_argument("--share", type=float, default=0.5, help="share of capacity lost (0.5)")
    az.add_argument("--seed", type=int, default=0)
    az.add_argument("--json", action="store_true")
    dns = sub.add_parser("dns", help="hosts stop resolving for the functions (DNS failure)")
    _targets(dns)
    dns.add_argument("--host", action="append", default=[], help="host regex (repeatable)")
    dns.add_argument(
        "--endpoint", action="append", default=[],
        help="aws, redis, a fake server's name (e.g. providers) or a URL (repeatable)",
    )  # fmt: skip
    _window(dns)
    third = sub.add_parser("thirdparty", help="fault a stack's fake provider server")
    third.add_argument("mode", choices=THIRDPARTY_MODES)
    third.add_argument("--server", default="providers", help="fake server name (harness.yaml)")
    third.add_argument("--stack", help="the stack (needed when several have the server)")
    third.add_argument("--provider", default="*", help="e.g. strava (default: every provider)")
    third.add_argument("--latency", default="1s", help="latency: how slow, e.g. 800ms")
    third.add_argument("--retry-after", type=int, default=1, help="rate-limit: seconds")
    third.add_argument("--status", type=int, default=503, help="error: HTTP status (5xx)")
    third.add_argument("--probability", type=float, default=1.0)
    third.add_argument("--count", type=int, help="fault only this many calls")
    third.add_argument("--owner", help="token-revocation: one account's ownerId")
    third.add_argument("--json", action="store_true")


def _faults(args: argparse.Namespace, endpoints: dict[str, Any]) -> Any:
    from harness.chaos.faults import Faults
    from harness.config import Settings

    return Faults(
        endpoints, state_dir=Settings.load(state_dir=getattr(args, "state_dir", None)).state_dir
    )


def _window_spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"start_at": time.time() + parse_duration(args.start, "--start")}
    if args.duration:
        spec["duration_s"] = parse_duration(args.duration, "--duration")
    if args.seed is not None:
        spec["seed"] = args.seed
    return spec


def _ms(text: str | None, option: str) -> float | None:
    return None if text is None else parse_duration(text, option) * 1000


def _lambda_spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "mode": args.mode,
        "functions": args.function,
        "invocationPercentage": args.percentage,
        "preventExecution": not args.run_handler,
        **_window_spec(args),
    }
    optional = {
        "stack": args.stack,
        "startupDelayMilliseconds": _ms(args.delay, "--delay"),
        "min_latency": _ms(args.min_latency, "--min-latency"),
        "max_latency": _ms(args.max_latency, "--max-latency"),
        "statusCode": args.status,
        "exception_msg": args.message,
        "deny_list": args.deny or None,
        "disk_space": args.disk_mb,
        "max_injections": args.max_injections,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return spec


def _cmd_more(args: argparse.Namespace, endpoints: dict[str, Any]) -> int:
    faults = _faults(args, endpoints)
    action = args.fault_command
    if action == "lambda":
        added = faults.add("lambda", _lambda_spec(args))
    elif action == "throttle":
        spec = {"mode": "throttle", "functions": args.function, **_window_spec(args)}
        if args.stack:
            spec["stack"] = args.stack
        added = faults.add("lambda", spec)
    elif action == "cold-start":
        added = faults.add("cold-start", {"functions": args.function, "stack": args.stack})
    elif action == "az":
        added = faults.add(
            "az",
            {"duration_s": parse_duration(args.duration, "--duration"), "seed": args.seed,
             "share": args.share},
        )  # fmt: skip
    elif action == "dns":
        spec = {"functions": args.function, "hosts": args.host, "endpoints": args.endpoint}
        spec.update(_window_spec(args))
        if args.stack:
            spec["stack"] = args.stack
        added = faults.add("dns", spec)
    else:
        spec = {
            "mode": args.mode,
            "server": args.server,
            "provider": args.provider,
            "latency_ms": parse_duration(args.latency, "--latency") * 1000,
            "retry_after": args.retry_after,
            "status": args.status,
            "probability": args.probability,
        }
        spec.update({k: v for k, v in (("stack", args.stack), ("count", args.count),
                                       ("ownerId", args.owner)) if v is not None})  # fmt: skip
        added = faults.add("thirdparty", spec)
    if args.json:
        print(json.dumps(added, indent=2))
    else:
        ident = added.get("id") or added.get("rule_id") or ""
        effect = added.get("effect") or added.get("mode") or ""
        print(f"added {action} fault {ident}: {effect}".replace("  ", " "))
    return 0
