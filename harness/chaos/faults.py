"""One API over every fault kind: ``Faults(endpoints).add(kind, spec) / list() / clear() / log()``.

The faults live where they act, so that each keeps working on its own timer whoever added it:

========== ================================================ ===================================
kind       spec                                              applied by
========== ================================================ ===================================
aws        a LocalStack-shaped rule (:class:`FaultRule`)     the AWS edge
redis      ``{mode, latency_ms, duration_s}``                the Redis fault proxy
lambda     a :class:`LambdaFault` (``mode`` = latency,       the Lambda runtime
           timeout, exception, error, statuscode, denylist,
           diskspace, throttle)
cold-start ``{functions, stack}``                            the runtime (recycles environments)
az         ``{duration_s, seed, share}``                     the runtime (its environments and
                                                             the gateway's processes)
dns        ``{stack, functions, hosts, endpoints, ...}``     the runtime (a ``denylist`` rule)
thirdparty a :class:`ThirdPartyFault`                        the stack's fake server
========== ================================================ ===================================

:meth:`Faults.log` (and :func:`fault_records`) returns every injected fault of every kind, each
``{time, kind, target, effect, ...}``, sorted by time: what a run report reads. Third-party
faults and Redis mode changes are also appended to ``<state_dir>/chaos/journal.jsonl``, because
the fake servers only count what they inject.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from harness.chaos.client import FaultClient
from harness.chaos.lambda_faults import parse_lambda_faults
from harness.chaos.rules import parse_rules
from harness.chaos.thirdparty import ThirdPartyFault, fake_server_url, fake_servers, send
from harness.errors import ConfigError, HarnessError
from harness.httpclient import HttpStatusError
from harness.yamlpos import describe_validation

__all__ = ["FAULT_KINDS", "Faults", "dns_patterns", "fault_records"]

logger = logging.getLogger(__name__)

FAULT_KINDS = ("aws", "redis", "lambda", "cold-start", "az", "dns", "thirdparty")
# kinds whose component cannot hold a fault until its start: Faults.add waits for start_at
UNSCHEDULED_KINDS = ("redis", "cold-start", "az", "thirdparty")

Records = list[dict[str, Any]]


def dns_patterns(
    endpoints: dict[str, Any], names: list[str], servers: dict[str, str] | None = None
) -> list[str]:
    """Regexes (``host:port``) for named endpoints: ``aws`` (the AWS edge), ``redis`` (the
    functions' Redis), a fake server's name, or any URL."""
    patterns = []
    for name in names:
        if name == "aws":
            url = str(endpoints.get("aws_endpoint", ""))
        elif name == "redis":
            url = str(endpoints.get("redis_proxy_url") or endpoints.get("redis_url") or "")
        elif servers and name in servers:
            url = servers[name]
        elif "://" in name:
            url = name
        else:
            known = ", ".join(["aws", "redis", *sorted(servers or {})])
            raise ConfigError(
                f"unknown endpoint {name!r} for a DNS failure; known: {known}, or a URL.",
                field="endpoints",
            )
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigError(f"endpoint {name!r} has no host ({url!r}).", field="endpoints")
        port = f":{parts.port}" if parts.port else ""
        patterns.append("^" + parts.hostname.replace(".", r"\.") + port + "$")
    return patterns


class Faults:
    """Add, list, clear and read every kind of fault on a running environment."""

    def __init__(
        self, endpoints: dict[str, Any], *, state_dir: Path | None = None, timeout: float = 10.0
    ) -> None:
        self.endpoints = endpoints
        if state_dir is None:
            from harness.config import Settings

            state_dir = Settings.load().state_dir
        self.state_dir = Path(state_dir)
        self.timeout = timeout
        self.edge = FaultClient(endpoints, timeout=timeout)

    @classmethod
    def for_environment(cls, env: Any) -> Faults:
        """From a :class:`harness.Environment` (its endpoints and state folder)."""
        return cls(env.endpoints, state_dir=env.state_dir)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def runtime_url(self) -> str:
        url = self.endpoints.get("runtime_url")
        if not url:
            raise HarnessError(
                "this environment runs no Lambda runtime, so Lambda, AZ and DNS faults have "
                "nothing to act on.",
                fix="start it with the runtime (`harness up` without HARNESS_RUNTIME=0).",
            )
        return str(url).rstrip("/")

    def _runtime(self, method: str, path: str, payload: Any = None) -> Any:
        return send(method, self.runtime_url + path, payload, self.timeout)

    def _journal(self, entry: dict[str, Any]) -> None:
        folder = self.state_dir / "chaos"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "journal.jsonl", "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def _read_journal(self) -> Records:
        path = self.state_dir / "chaos" / "journal.jsonl"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    # -- add -----------------------------------------------------------------------------------

    def add(self, kind: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add one fault; returns what was added (with its ``id`` where it has one).

        Every kind takes ``start_at`` (epoch seconds; default now): the AWS edge and the
        runtime (``aws``, ``lambda``, ``dns``) hold the rule and apply it from then on by
        themselves; for the kinds whose component has no schedule yet (``redis``,
        ``cold-start``, ``az``, ``thirdparty``) this call waits until then.

        Raises :class:`ConfigError` naming the field for a bad spec, :class:`HarnessError`
        when the component refuses it (e.g. an unknown function)."""
        spec = dict(spec or {})
        source = f"fault kind {kind!r}"
        if kind in UNSCHEDULED_KINDS:
            _wait_until(spec.pop("start_at", None))
        try:
            if kind == "aws":
                [rule] = parse_rules([spec])
                added = self.edge.add([rule])[-1]
                return {"kind": kind, **added}
            if kind == "redis":
                mode = str(spec.get("mode", ""))
                state = self.edge.redis(
                    mode,
                    latency_ms=float(spec.get("latency_ms", 0)),
                    duration_s=spec.get("duration_s"),
                )
                self._journal(
                    {"time": time.time(), "kind": "redis", "target": "redis", "effect": mode,
                     "latency_ms": spec.get("latency_ms", 0), "duration_s": spec.get("duration_s"),
                     "change": "set"}
                )  # fmt: skip
                return {"kind": kind, "mode": state.get("mode")}
            if kind == "lambda":
                [lambda_rule] = parse_lambda_faults([spec])
                state = self._runtime(
                    "POST", "/_harness/runtime/faults", lambda_rule.model_dump(exclude_none=True)
                )
                return {"kind": kind, **state["rules"][-1]}
            if kind == "cold-start":
                _only(spec, {"functions", "stack", "description"}, source)
                entry = self._runtime("POST", "/_harness/runtime/recycle", spec)
                return {**entry, "kind": kind}
            if kind == "az":
                _only(spec, {"duration_s", "seed", "share", "description", "spare_pids"}, source)
                if "duration_s" not in spec:
                    raise ConfigError("an AZ failure needs 'duration_s'.", source=source)
                return {**self._runtime("POST", "/_harness/runtime/az", spec), "kind": kind}
            if kind == "dns":
                return self._add_dns(spec, source)
            if kind == "thirdparty":
                return self._add_thirdparty(ThirdPartyFault.model_validate(spec))
        except ValidationError as exc:
            raise ConfigError(describe_validation(exc), source=source) from None
        except ValueError as exc:
            raise ConfigError(str(exc), source=source) from None
        raise ConfigError(
            f"unknown fault kind {kind!r}.",
            field="kind",
            fix=f"use one of: {', '.join(FAULT_KINDS)}.",
        )

    def _add_dns(self, spec: dict[str, Any], source: str) -> dict[str, Any]:
        allowed = {"stack", "functions", "hosts", "endpoints", "duration_s", "start_at"}
        _only(spec, allowed | {"seed", "invocationPercentage", "description"}, source)
        hosts: list[str] = [str(h) for h in spec.get("hosts") or []]
        names: list[str] = [str(n) for n in spec.get("endpoints") or []]
        if not hosts and not names:
            raise ConfigError(
                "a DNS failure needs 'hosts' (regexes) or 'endpoints' (aws, redis, a fake "
                "server's name, or a URL).",
                source=source,
            )
        servers: dict[str, str] = {}
        for per_stack in fake_servers(self.state_dir).values():
            servers.update(per_stack)
        rule: dict[str, Any] = {
            "mode": "denylist",
            "deny_list": hosts + dns_patterns(self.endpoints, names, servers),
            "functions": [str(f) for f in spec.get("functions") or []],
            "description": spec.get("description") or "dns failure",
            **{k: spec[k] for k in ("stack", "duration_s", "start_at", "seed") if k in spec},
            **(
                {"invocationPercentage": spec["invocationPercentage"]}
                if "invocationPercentage" in spec
                else {}
            ),
        }
        added = self.add("lambda", rule)
        return {**added, "kind": "dns"}

    def _add_thirdparty(self, fault: ThirdPartyFault) -> dict[str, Any]:
        url = fake_server_url(self.state_dir, fault.server, fault.stack)
        if fault.mode == "token-revocation" and fault.ownerId is not None:
            answer = send(
                "POST",
                f"{url}/_control/revoke",
                {"provider": fault.provider, "ownerId": fault.ownerId},
                self.timeout,
            )
        else:
            answer = send("POST", f"{url}/_control/faults", fault.control_body(), self.timeout)
        entry = {
            "time": time.time(),
            "kind": "thirdparty",
            "target": f"{fault.server}:{fault.provider}",
            "effect": fault.effect,
            "mode": fault.mode,
            "url": url,
        }
        self._journal(entry)
        return {**entry, "server_state": answer}

    # -- remove / list / clear / log -------------------------------------------------------------

    def remove(self, kind: str, ids: list[str]) -> None:
        """End the rules with these ids (what :meth:`add` returned) before their time:
        ``aws`` rules on the edge, ``lambda`` and ``dns`` rules in the runtime."""
        if kind == "aws":
            self.edge.clear([str(i) for i in ids])
        elif kind in ("lambda", "dns"):
            self._runtime("DELETE", "/_harness/runtime/faults", [str(i) for i in ids])
        else:
            raise ConfigError(
                f"faults of kind {kind!r} have no id to remove.",
                field="kind",
                fix="use clear(kind) for redis, cold-start, az and thirdparty faults.",
            )

    def list(self) -> dict[str, Any]:
        """Every fault in force, by kind (components that are absent are left out)."""
        out: dict[str, Any] = {"aws": self.edge.rules()}
        if self.endpoints.get("redis_control_url"):
            state = self.edge.redis_state()
            out["redis"] = {k: state.get(k) for k in ("mode", "latency_ms", "until", "counts")}
        if self.endpoints.get("runtime_url"):
            state = self._runtime("GET", "/_harness/runtime/faults")
            out["lambda"] = state["rules"]
            out["az"] = state["az_failure"]
            out["capacity"] = state["capacity"]
        third: dict[str, Any] = {}
        for stack, servers in fake_servers(self.state_dir).items():
            for name, url in servers.items():
                try:
                    faults = send("GET", f"{url.rstrip('/')}/_control/faults", None, self.timeout)
                    stats = send("GET", f"{url.rstrip('/')}/_control/stats", None, self.timeout)
                except HarnessError as exc:
                    third[f"{stack}/{name}"] = {"error": str(exc)}
                    continue
                injected = {k: v for k, v in (stats or {}).items() if k.startswith("faults.")}
                third[f"{stack}/{name}"] = {**(faults or {}), "injected": injected}
        out["thirdparty"] = third
        return out

    def clear(self, kind: str | None = None) -> dict[str, Any]:
        """Remove every fault (of ``kind``, or of all kinds); ends an AZ failure early."""
        if kind is not None and kind not in FAULT_KINDS:
            raise ConfigError(
                f"unknown fault kind {kind!r}.", field="kind", fix=f"use one of {FAULT_KINDS}."
            )
        cleared: dict[str, Any] = {}
        if kind in (None, "aws"):
            self.edge.clear()
            cleared["aws"] = True
        if kind in (None, "redis") and self.endpoints.get("redis_control_url"):
            self.edge.redis("ok")
            self._journal({"time": time.time(), "kind": "redis", "target": "redis", "effect": "ok"})
            cleared["redis"] = True
        if kind in (None, "lambda", "dns", "az", "cold-start") and self.endpoints.get(
            "runtime_url"
        ):
            if kind == "az":
                self._runtime("DELETE", "/_harness/runtime/az")
            else:
                self._runtime("DELETE", "/_harness/runtime/faults")
            cleared["lambda"] = True
        if kind in (None, "thirdparty"):
            for stack, servers in fake_servers(self.state_dir).items():
                for name, url in servers.items():
                    try:
                        send("DELETE", f"{url.rstrip('/')}/_control/faults", None, self.timeout)
                    except HttpStatusError as exc:
                        if exc.status not in (404, 405, 501):
                            logger.warning("clearing faults of %s/%s failed: %s", stack, name, exc)
                        # else: a fake server that takes no faults has none to clear
                        continue
                    except HarnessError as exc:
                        logger.warning("clearing faults of %s/%s failed: %s", stack, name, exc)
                        continue
                    self._journal(
                        {"time": time.time(), "kind": "thirdparty", "target": f"{name}:*",
                         "effect": "ok", "mode": "ok", "url": url}
                    )  # fmt: skip
                    cleared.setdefault("thirdparty", []).append(f"{stack}/{name}")
        return cleared

    def log(self, since: float = 0.0) -> Records:
        """Every injected fault of every kind since ``since`` (epoch s), sorted by time."""
        records: Records = []
        for item in self.edge.log(since).get("injected", []):
            records.append(
                {
                    **item,
                    "kind": "aws",
                    "target": f"{item.get('service')}:{item.get('operation')}",
                }
            )
        if self.endpoints.get("runtime_url"):
            answer = self._runtime("GET", f"/_harness/runtime/faults/log?since={since}")
            records += answer.get("injected", [])
        records += [e for e in self._read_journal() if float(e.get("time", 0)) >= since]
        return sorted(records, key=lambda r: float(r.get("time", 0)))

    def counts(self, since: float = 0.0) -> dict[str, int]:
        """How many faults of each ``kind:effect`` were injected."""
        totals: dict[str, int] = {}
        for record in self.log(since):
            key = f"{record.get('kind')}:{record.get('mode') or record.get('effect')}"
            totals[key] = totals.get(key, 0) + 1
        return totals


def fault_records(
    endpoints: dict[str, Any], *, state_dir: Path | None = None, since: float = 0.0
) -> list[dict[str, Any]]:
    """Every fault injected since ``since``, of every kind: ``{time, kind, target, effect, ...}``
    sorted by time (what the run report reads)."""
    return Faults(endpoints, state_dir=state_dir).log(since)


def _wait_until(start_at: float | None) -> None:
    delay = (start_at or 0.0) - time.time()
    if delay > 0:
        time.sleep(delay)


def _only(spec: dict[str, Any], allowed: set[str], source: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)}.",
            source=source,
            field=unknown[0],
            fix=f"use only: {', '.join(sorted(allowed))}.",
        )
