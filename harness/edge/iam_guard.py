"""IAM enforcement at the edge: ``dynamodb:LeadingKeys`` for calls made with assumed-role keys.

No emulator enforces IAM, yet pooled-table isolation rests on it: a function assumes a
tenant-scoped role with a session tag (``TenantId=acme``), and the role's policy only allows
partition keys like ``TENANT#${aws:PrincipalTag/TenantId}#*``. The edge sees every AWS call, so
it does what AWS would:

1. An ``sts:AssumeRole`` answered through the edge is remembered: the temporary ``AccessKeyId``
   -> the role ARN, the assumed-role ARN, the session tags (from the request) and the expiry
   (from the response). The role's identity policies are read once from the deployed stacks'
   records under the state dir (inline ``Policies``, ``AWS::IAM::Policy`` and
   ``AWS::IAM::ManagedPolicy`` resources naming the role) and cached. A role the state dir does not
   know is not tracked (its calls pass, as before).
2. Every DynamoDB call signed with such a key (``Credential=AKID/...`` in the SigV4
   ``Authorization`` header) is expanded to the (action, table, context) triples AWS authorizes
   (:func:`harness.isolation.iam.dynamodb_context`: batch and transaction calls per table and per
   item action), with ``dynamodb:LeadingKeys`` the partition key values it touches (the key
   attribute comes from ``DescribeTable``, cached; for a Query on an index, the index's partition
   key and the ``table/T/index/I`` resource). Each triple is evaluated with
   :func:`harness.isolation.iam.evaluate`; the first one not allowed denies the whole call with
   DynamoDB's answer: HTTP 400 ``com.amazon.coral.service#AccessDeniedException``, "User: ARN is
   not authorized to perform: ACTION on resource: ARN because no identity-based policy allows
   the ACTION action" (or "with an explicit deny in an identity-based policy").
3. A call with an expired key gets ``ExpiredTokenException`` as on AWS.

Semantics worth knowing (IAM's documented ones, which the evaluator follows): ``ForAllValues``
is true when the request has no value for the key, so a Scan (which has no leading keys) passes a
bare ``ForAllValues:StringLike`` on ``dynamodb:LeadingKeys``; the ``"Null":
{"dynamodb:LeadingKeys": "false"}`` condition AWS recommends beside it denies it.

Every decision is recorded (allowed or denied, session tags, action, table, keys); the edge serves
them on ``/_harness/edge/iam``. ``HARNESS_IAM_ENFORCE=0`` records without denying.

Calls signed with any other key cost one dictionary lookup.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from harness.isolation.iam import Decision, Principal, dynamodb_context, evaluate

__all__ = ["Denial", "IamGuard", "Session", "access_key_of", "deny_response"]

# (table name, region) -> DescribeTable's "Table" object (or None if it does not exist)
DescribeTable = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]

_MAX_DECISIONS = 5000
_MAX_MEMO = 4096
_MAX_SESSIONS = 10000


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def access_key_of(authorization: str) -> str:
    """The access key id of a SigV4 ``Authorization`` header ("" when there is none)."""
    start = authorization.find("Credential=")
    if start < 0:
        return ""
    start += 11
    end = authorization.find("/", start)
    return authorization[start:end] if end > start else ""


@dataclass
class Session:
    """Temporary credentials handed out by ``sts:AssumeRole``."""

    access_key: str
    role_arn: str
    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    tags: dict[str, str]
    expires: float | None
    policies: list[dict[str, Any]]
    # (action, resource, context) -> Decision: policies and tags never change within a session
    decided: dict[tuple[Any, ...], Decision] = field(default_factory=dict, repr=False)

    @property
    def account(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else "000000000000"


@dataclass
class Denial:
    """A call the guard refuses: the raw HTTP response to send instead of forwarding it."""

    response: bytes
    action: str
    resource: str


@dataclass
class IamGuard:
    state_dir: Path | None
    enforce: bool = True
    sessions: dict[str, Session] = field(default_factory=dict)
    decisions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_MAX_DECISIONS))
    counts: Counter[str] = field(default_factory=Counter)
    by_action: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)
    _policies: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    _tables: dict[tuple[str, str], Mapping[str, Any] | None] = field(default_factory=dict)
    _state_version: tuple[tuple[str, float], ...] = ()

    # -- sts:AssumeRole ---------------------------------------------------------------------

    def observe_assume_role(self, request_body: bytes, target: str, response: bytes) -> None:
        """Remember the credentials an ``AssumeRole`` response hands out (2xx only)."""
        head, _, body = response.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line + b" ":
            return
        query = target.partition("?")[2]
        params = parse_qs(request_body.decode("utf-8", "replace") + "&" + query)
        role_arn = (params.get("RoleArn") or [""])[0]
        tags: dict[str, str] = {}
        for name, values in params.items():
            match = re.fullmatch(r"Tags\.member\.(\d+)\.Key", name)
            if match:
                value = params.get(f"Tags.member.{match.group(1)}.Value", [""])[0]
                tags[values[0]] = value
        creds = _credentials(body)
        if creds is None or not role_arn:
            return
        access_key, arn, expiration = creds
        policies = self.policies_of(role_arn)
        self.counts["sessions"] += 1
        if policies is None:
            self.counts["sessions_untracked"] += 1  # a role we know nothing about: leave it
            return
        if not arn:
            session_name = (params.get("RoleSessionName") or ["session"])[0]
            account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "000000000000"
            arn = (
                f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session_name}"
            )
        if len(self.sessions) >= _MAX_SESSIONS:
            now = time.time()
            for key in [k for k, v in self.sessions.items() if v.expires and v.expires < now]:
                del self.sessions[key]
        self.sessions[access_key] = Session(
            access_key, role_arn, arn, tags, _timestamp(expiration), policies
        )

    def policies_of(self, role_arn: str) -> list[dict[str, Any]] | None:
        """The identity policies of ``role_arn`` as deployed (None: no deployed stack has it)."""
        if self.state_dir is None:
            return None
        # A redeploy (new policy) changes the stack records: read them again when they change.
        version = _stacks_version(self.state_dir)
        if version != self._state_version:
            self._policies.clear()
            self._state_version = version
        if role_arn not in self._policies:
            self._policies[role_arn] = _role_policies_from_state(self.state_dir, role_arn)
        return self._policies[role_arn]

    # -- DynamoDB calls -----------------------------------------------------------------------

    def session_of(self, authorization: str) -> Session | None:
        return self.sessions.get(access_key_of(authorization)) if self.sessions else None

    async def check(
        self,
        session: Session,
        operation: str,
        region: str,
        body: bytes,
        describe: DescribeTable,
    ) -> Denial | None:
        """Evaluate one DynamoDB call; a :class:`Denial` when AWS would refuse it (and enforcing)."""
        now = time.time()
        if session.expires is not None and session.expires < now:
            self._record(session, f"dynamodb:{operation}", "", [], False, "expired token", now)
            if not self.enforce:
                return None
            return Denial(_expired_response(), f"dynamodb:{operation}", "")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None  # DynamoDB answers the malformed request itself
        if not isinstance(request, dict):
            return None
        hash_keys, index_of = await self._hash_keys(operation, request, region, describe)
        principal: Principal | None = None
        base = f"arn:aws:dynamodb:{region}:{session.account}:table/"
        for action, table, context in dynamodb_context(operation, request, hash_keys):
            resource = base + table if table else "*"
            if table and table in index_of:
                resource += f"/index/{index_of[table]}"
            memo = (action, resource, *((k, _frozen(v)) for k, v in context.items()))
            decision = session.decided.get(memo)
            if decision is None:
                if principal is None:
                    principal = Principal(arn=session.arn, tags=session.tags)
                decision = evaluate(session.policies, action, resource, context=context,
                                    principal=principal)  # fmt: skip
                if len(session.decided) >= _MAX_MEMO:
                    session.decided.clear()
                session.decided[memo] = decision
            keys = context.get("dynamodb:LeadingKeys")
            key_list = [keys] if isinstance(keys, str) else list(keys or [])
            self._record(session, action, resource, key_list, decision.allowed,
                         decision.reason, now)  # fmt: skip
            if not decision.allowed:
                if not self.enforce:
                    return None
                return Denial(
                    deny_response(
                        session.arn, action, resource, explicit=decision.effect == "Deny"
                    ),
                    action,
                    resource,
                )
        return None

    async def _hash_keys(
        self, operation: str, request: Mapping[str, Any], region: str, describe: DescribeTable
    ) -> tuple[dict[str, str], dict[str, str]]:
        tables: set[str] = set()
        if isinstance(request.get("TableName"), str):
            tables.add(request["TableName"])
        for name in (request.get("RequestItems") or {}) if isinstance(request, dict) else {}:
            tables.add(str(name))
        for entry in request.get("TransactItems") or []:
            if isinstance(entry, dict):
                for inner in entry.values():
                    if isinstance(inner, dict) and isinstance(inner.get("TableName"), str):
                        tables.add(inner["TableName"])
        hash_keys: dict[str, str] = {}
        index_of: dict[str, str] = {}
        index = request.get("IndexName") if operation in ("Query", "Scan") else None
        for table in tables:
            cache_key = (table, region)
            if cache_key not in self._tables or self._tables[cache_key] is None:
                self._tables[cache_key] = await describe(table, region)
            description = self._tables[cache_key]
            if description is None:
                continue
            schema = description.get("KeySchema") or []
            if index:
                index_of[table] = str(index)
                for group in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                    for spec in description.get(group) or []:
                        if spec.get("IndexName") == index:
                            schema = spec.get("KeySchema") or schema
            for element in schema:
                if element.get("KeyType") == "HASH":
                    hash_keys[table] = str(element.get("AttributeName"))
        return hash_keys, index_of

    # -- the record -------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        action: str,
        resource: str,
        keys: list[str],
        allowed: bool,
        reason: str,
        now: float,
    ) -> None:
        verdict = "allowed" if allowed else "denied"
        self.counts["evaluated"] += 1
        self.counts[verdict] += 1
        self.by_action[f"{action} {verdict}"] += 1
        for name, value in session.tags.items():
            self.by_tenant[f"{name}={value} {verdict}"] += 1
        self.decisions.append(
            {
                "time": round(now, 6),
                "allowed": allowed,
                "enforced": self.enforce,
                "action": action,
                "resource": resource,
                "leading_keys": keys,
                "tags": dict(session.tags),
                "principal": session.arn,
                "reason": reason,
            }
        )

    def summary(self) -> dict[str, Any]:
        return {
            "enforce": self.enforce,
            "sessions": len(self.sessions),
            "evaluated": self.counts["evaluated"],
            "allowed": self.counts["allowed"],
            "denied": self.counts["denied"],
            "untracked_sessions": self.counts["sessions_untracked"],
            "by_action": dict(self.by_action),
            "by_tag": dict(self.by_tenant),
        }

    def log(self, since: float = 0.0, denied_only: bool = False) -> list[dict[str, Any]]:
        return [
            d for d in self.decisions if d["time"] >= since and not (denied_only and d["allowed"])
        ]

    def reset(self) -> None:
        self.decisions.clear()
        self.counts.clear()
        self.by_action.clear()
        self.by_tenant.clear()


# -- helpers ----------------------------------------------------------------------------------

_XML_FIELD = {
    name: re.compile(rf"<{name}>([^<]*)</{name}>".encode())
    for name in ("AccessKeyId", "Expiration", "Arn")
}


def _credentials(body: bytes) -> tuple[str, str, str] | None:
    """(AccessKeyId, assumed-role ARN, Expiration) of an AssumeRole response (XML or JSON)."""
    text = body.strip()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        data = data.get("AssumeRoleResult", data) if isinstance(data, dict) else {}
        creds = data.get("Credentials") or {}
        if not creds.get("AccessKeyId"):
            return None
        user = data.get("AssumedRoleUser") or {}
        return str(creds["AccessKeyId"]), str(user.get("Arn", "")), str(creds.get("Expiration", ""))
    found = {name: pattern.search(text) for name, pattern in _XML_FIELD.items()}
    access = found["AccessKeyId"]
    if access is None:
        return None
    arn = found["Arn"]
    expiration = found["Expiration"]
    return (
        access.group(1).decode().strip(),
        arn.group(1).decode().strip() if arn else "",
        expiration.group(1).decode().strip() if expiration else "",
    )


def _timestamp(value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)  # JSON protocols send epoch seconds
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _stacks_version(state_dir: Path) -> tuple[tuple[str, float], ...]:
    folder = state_dir / "stacks"
    try:
        return tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*.json")))
    except OSError:
        return ()


def _role_policies_from_state(state_dir: Path, role_arn: str) -> list[dict[str, Any]] | None:
    from harness.model import load_stacks

    for stack in load_stacks(state_dir).values():
        role = next(
            (
                r
                for r in stack.resources.values()
                if r.type == "AWS::IAM::Role" and r.arn == role_arn
            ),
            None,
        )
        if role is None:
            continue
        props = role.properties or {}
        docs = [p["PolicyDocument"] for p in props.get("Policies") or [] if "PolicyDocument" in p]
        managed = set(props.get("ManagedPolicyArns") or [])
        names = {role.physical_id, role.logical_id, role_arn.rsplit("/", 1)[-1]}
        for record in stack.resources.values():
            if record.type not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            rp = record.properties or {}
            attached = set(rp.get("Roles") or []) & names or (record.arn and record.arn in managed)
            if attached and isinstance(rp.get("PolicyDocument"), dict):
                docs.append(rp["PolicyDocument"])
        return docs
    return None


def deny_response(principal: str, action: str, resource: str, *, explicit: bool = False) -> bytes:
    """DynamoDB's AccessDeniedException for ``principal`` calling ``action`` on ``resource``."""
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return _aws_error(
        "com.amazon.coral.service#AccessDeniedException",
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}",
    )


def _expired_response() -> bytes:
    return _aws_error(
        "com.amazon.coral.service#ExpiredTokenException",
        "The security token included in the request is expired",
    )


def _aws_error(kind: str, message: str) -> bytes:
    body = json.dumps({"__type": kind, "Message": message}).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"x-amzn-RequestId: " + uuid.uuid4().hex.upper().encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
