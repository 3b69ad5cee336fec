"""The isolation state machine's plumbing, apart from its rules (:mod:`harness.isolation.machine`):
how a step calls the API as a principal, lists a kind to its last page, decides whether an
attack was refused, and fails with the calls that reproduce it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from harness.isolation.hints import Hint, hint_kwargs, hints_for
from harness.isolation.http import Call, RecordingClient
from harness.isolation.model import IsolationViolation, MachineConfig, Owned, Principal
from harness.isolation.spec import Endpoint, IsolationSpec

__all__ = ["MachineSteps", "fill", "hint_label", "ids_of", "paging"]


def fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        out = template
        for key, value in values.items():
            out = out.replace("{" + key + "}", value)
        return out
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def paging(endpoint: Endpoint, max_pages: int | None) -> dict[str, Any]:
    """The ``paginate`` recipe of a listing call (see :mod:`harness.isolation.http`)."""
    return {
        "items": endpoint.items,
        "next": endpoint.next,
        "param": endpoint.cursor_param,
        "max_pages": max_pages or endpoint.max_pages,
    }


def ids_of(call: Call, endpoint: Endpoint) -> list[str]:
    """The ids of a paginated listing call's items."""
    items = call.response.get("items") if isinstance(call.response, dict) else None
    return [str(item.get(endpoint.id_field)) for item in items or [] if isinstance(item, dict)]


def hint_label(hint: Hint | None, res: Owned) -> str:
    if hint is None:
        return ""
    value = res.owner.user if hint.where == "path" and hint.name == "user" else res.owner.tenant
    return f" claiming {hint}={value}"


class MachineSteps(RuleBasedStateMachine):
    """What every rule of the machine built for ``config`` uses (set by ``build_machine``)."""

    config: ClassVar[MachineConfig]
    # 401 is a refusal too: a principal whose token the stack does not accept reaches nothing.
    denied: ClassVar[frozenset[int]]

    @property
    def spec(self) -> IsolationSpec:
        return self.config.spec

    def refused(self, status: int, hint: Hint | None) -> bool:
        """Whether an attack on another principal's resource was refused: one of the spec's
        ``denied`` statuses; with a tenant hint also any other 4xx, since the hint itself can
        make the request invalid (a body field the API does not know is a 400 from a strict
        API, e.g. pydantic's ``extra="forbid"``, whoever owns the record), and a 4xx changes
        and returns nothing (update and delete then check the owner's record still reads)."""
        return status in self.denied or (hint is not None and 400 <= status < 500)

    def refusal(self, hint: Hint | None) -> str:
        return f"one of {sorted(self.denied)}" + (" or another 4xx" if hint is not None else "")

    def refusal_mode(self, hint: Hint | None) -> str:
        """How a replay re-checks the call (:func:`harness.isolation.replay.replay`)."""
        return "not-refused" if hint is not None else "not-denied"

    def __init__(self) -> None:
        super().__init__()
        self.client = RecordingClient(self.config.base_url)
        self.principals: list[Principal] = []
        self.tokens: dict[Principal, str | None] = {}
        self.no_token: set[str] = set()
        self.fixture_owned: list[Owned] = []
        self.steps = 0

    def token(self, who: Principal) -> str | None:
        """The principal's token; None (no Authorization header) for a generated tenant the
        stack's issuer cannot mint for (e.g. Cognito with one app client per tenant): such
        an attacker only has what anyone has, and must be refused as such."""
        if who not in self.tokens:
            try:
                self.tokens[who] = self.config.tokens(who.tenant, who.user)
            except Exception:
                if who.tenant in self.config.tenants:
                    raise
                self.tokens[who] = None
                self.no_token.add(who.tenant)
        return self.tokens[who]

    def values(self, who: Principal, res_id: str = "") -> dict[str, str]:
        values = {
            "id": res_id,
            "tenant": who.tenant,
            "user": who.user,
            "uuid": str(uuid.uuid4()),
            "text": uuid.uuid4().hex[:10],
        }
        for name, ids in self.config.fixtures.get(who.tenant, {}).items():
            if ids:
                values[f"fixture:{name}"] = ids[0]
        return values

    def call(
        self,
        step: str,
        endpoint: Endpoint,
        who: Principal,
        res_id: str = "",
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body_extra: dict[str, Any] | None = None,
        path_owner: dict[str, str] | None = None,
        paginate: dict[str, Any] | None = None,
        derive: dict[str, Any] | None = None,
        expected: str = "",
    ) -> Call:
        values = self.values(who, res_id)
        body = fill(endpoint.body, values)
        if body_extra:
            body = {**(body if isinstance(body, dict) else {}), **body_extra}
        call = Call(
            step=step,
            method=endpoint.method,
            path=fill(endpoint.path, {**values, **(path_owner or {})}),
            tenant=who.tenant,
            user=who.user,
            query=query or {},
            headers={**fill(endpoint.headers, values), **(headers or {})},
            body=body,
            expected=expected,
            paginate=paginate,
            derive=derive,
        )
        return self.client.send(call, self.token(who))

    def fail(
        self,
        kind: str,
        message: str,
        *,
        evidence: int = -1,
        mode: str | None = None,
        foreign_ids: list[str] | None = None,
    ) -> None:
        calls = list(self.client.calls)
        index = evidence if evidence >= 0 else len(calls) + evidence
        if mode is None:
            step = calls[index].step if calls else ""
            mode = "listed" if step.startswith("list") else "not-denied"
        raise IsolationViolation(
            kind, message, calls, evidence=index, mode=mode, foreign_ids=foreign_ids
        )

    def foreign(self, a: Principal, b: Principal) -> bool:
        if self.spec.owner == "user":
            return a != b
        return a.tenant != b.tenant

    def listed_ids(
        self,
        kind: str,
        who: Principal,
        *,
        step: str = "",
        max_pages: int | None = None,
        **kwargs: Any,
    ) -> list[str] | None:
        """Every id ``who`` lists, the listing followed to its last page."""
        endpoint = self.spec.resources[kind].list_
        if endpoint is None:
            return None
        call = self.call(
            step or f"list {kind}",
            endpoint,
            who,
            expected="only own ids",
            paginate=paging(endpoint, max_pages),
            **kwargs,
        )
        if call.status >= 500:
            self.fail(
                "server-error",
                f"listing {kind} as {who} answered {call.status}",
                mode="server-error",
            )
        return ids_of(call, endpoint)

    def pick(self, data: st.DataObject, label: str) -> Principal:
        return data.draw(st.sampled_from(self.principals), label=label)

    def draw_hint(
        self, data: st.DataObject, res: Owned, operation: str
    ) -> tuple[Hint | None, dict[str, Any]]:
        """No hint, or one of the resource's (declared and inferred) hints carrying the
        owner's tenant (or user, for a user hint)."""
        hints = hints_for(self.spec.resources[res.kind], operation)
        hint = data.draw(st.sampled_from([None, *hints]), label="tenant hint")
        if hint is None:
            return None, {}
        return hint, hint_kwargs(hint, res.owner.tenant, res.owner.user)

    def read_denied(
        self,
        endpoint: Endpoint,
        attacker: Principal,
        res: Owned,
        label: str,
        context: str,
        hint: Hint | None = None,
        **kwargs: Any,
    ) -> None:
        """``attacker`` reads ``res``; anything but a refusal is a foreign read."""
        call = self.call(label, endpoint, attacker, res.id, expected=self.refusal(hint), **kwargs)
        if not self.refused(call.status, hint):
            self.fail(
                "foreign-read",
                f"{attacker} read {res!r}{context}: HTTP {call.status} {str(call.response)[:300]}",
                mode=self.refusal_mode(hint),
            )

    def check_list(
        self,
        kind: str,
        who: Principal,
        ids: list[str],
        *,
        violation: str = "foreign-list",
        context: str = "",
        relist: Callable[[], list[str] | None] | None = None,
    ) -> None:
        """Fail if ``who``'s listing ``ids`` holds another principal's resource. With
        ``relist`` (how to make the same listing again) and a listing of several pages, the
        lister first creates as many records of its own as its first page held and lists
        again, so the replay file holds the records that make the listing long: it then
        does not depend on records earlier examples left on the live stack."""
        leaked = [o for o in self.known(kind) if o.id in ids and self.foreign(who, o.owner)]
        if not leaked:
            return
        last = self.client.calls[-1].response if self.client.calls else None
        if relist is not None and self.several_pages() and self.own_records(kind, who, last):
            again = relist()
            if again is not None and leaked[0].id in again:
                ids = again
        self.fail(
            violation,
            f"{who}'s list of {kind}{context} holds {leaked[0]!r}",
            mode="listed",
            foreign_ids=[leaked[0].id],
        )

    def several_pages(self) -> bool:
        """Whether the last call was a listing of more than one page."""
        last = self.client.calls[-1].response if self.client.calls else None
        return isinstance(last, dict) and int(last.get("pages", 1)) > 1

    def own_records(self, kind: str, who: Principal, listing: Any) -> int:
        """Create as many ``kind`` records as ``who``, as the first page of ``listing``
        held (a paginated call's answer): enough for a first page of its own with a next
        token on a fresh deployment. The number created."""
        endpoint = self.spec.resources[kind].create
        wanted = listing.get("first_page", 0) if isinstance(listing, dict) else 0
        if endpoint is None or not wanted:
            return 0
        made = 0
        for _ in range(min(int(wanted), 5)):
            call = self.call(f"create {kind}", endpoint, who, expected=f"{endpoint.expect}")
            made += call.status in endpoint.expect
        return made

    def known(self, kind: str) -> list[Owned]:
        values = [self.names_to_values[ref.name] for ref in self.bundle("resources")]
        found = [o for o in values if isinstance(o, Owned) and o.kind == kind]
        return found + [o for o in self.fixture_owned if o.kind == kind]

    def owner_unchanged(self, res: Owned) -> None:
        endpoint = self.spec.resources[res.kind].read
        if endpoint is None:
            return
        call = self.call(
            f"owner re-reads {res.kind}", endpoint, res.owner, res.id, expected="200, unchanged"
        )
        if call.status != 200:
            self.fail(
                "foreign-change",
                f"after another tenant's attempt, {res.owner} cannot read {res!r} (HTTP {call.status})",
                mode="not-ok",
            )

    def attacker_still_owns(self, kind: str, attacker: Principal, res_id: str) -> bool:
        resource = self.spec.resources[kind]
        if resource.read is not None:
            own = self.call(
                f"creator reads {kind}", resource.read, attacker, res_id, expected="200"
            )
            return own.status == 200
        ids = self.listed_ids(kind, attacker)
        return ids is not None and res_id in ids

    def teardown(self) -> None:
        self.client.close()
