"""The isolation state machine: several tenants and users drive the real HTTP API at once, and
after every step the machine checks that nobody reached anybody else's data.

Built from the stack's ``isolation`` spec (see :mod:`harness.isolation.spec`). Rules:

- ``create``: a principal creates a resource; the model remembers its owner and content.
- ``foreign_read`` / ``foreign_update`` / ``foreign_delete``: another principal uses an id it
  learned; the answer must be one of ``denied`` (403/404) and the resource must be unchanged.
- ``warmed_foreign_read``: the owner reads (warming caches), then another principal reads the
  same id; it must be denied (a cache keyed without the tenant answers it).
- ``foreign_list``: a principal's list must hold none of another principal's ids.
- ``hinted_create`` / ``hinted_list``, and foreign read/update/delete with a hint: the victim's
  tenant id is put where naive code reads it (query string, header, body, a ``{tenant}`` path
  part; declared and inferred, see :mod:`harness.isolation.hints`); the token must win (OWASP
  API1, BOLA/IDOR).
- ``mass_assign``: the owner updates its resource with an owner field (``tenant_id``, ``owner``,
  ``author``...) set to another principal; the record must not move (OWASP API3).
- ``cursor_tamper``: a listing's page token (see :mod:`harness.isolation.opaque`), handed to one
  principal, is tampered (tenant/user values swapped, re-encoded) or replayed as is by another
  principal; a 2xx listing another principal's ids is a violation, a 400/403/404 is fine.
- Every listing is followed to its last page (``max_pages`` bounds it) and also run with each of
  the list endpoint's documented ``filters``.
- ``guessed_read``: an id nobody created answers 404, not someone's data.
- ``owner_read``: the owner still reads its resource, unchanged (so a deny is not just an outage).

Tenants are the stack's own plus, when tokens can be minted for any tenant (the local issuer),
ids that break naive code: prefixes of each other (``acme``/``acme-corp``), case variants,
look-alikes (a Cyrillic a, U+0430), key separators (``#``, ``/``) and very long ones.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, rule

from harness.isolation.hints import OWNER_FIELDS, hint_kwargs, hints_for, owner_fields
from harness.isolation.http import json_path
from harness.isolation.model import MachineConfig, Owned, Principal, tricky_tenants
from harness.isolation.opaque import rewound, tamper
from harness.isolation.steps import MachineSteps, fill, hint_label, ids_of, paging

__all__ = ["build_machine"]


def build_machine(config: MachineConfig) -> type[RuleBasedStateMachine]:
    """The state machine class for ``config``: the rules, with the strategies its spec allows
    (the plumbing they share is :class:`harness.isolation.steps.MachineSteps`)."""
    spec = config.spec
    kinds = sorted(spec.resources)
    creatable = [k for k in kinds if spec.resources[k].create is not None]

    class IsolationMachine(MachineSteps):
        resources = Bundle("resources")

        @initialize(data=st.data())
        def principals_(self, data: st.DataObject) -> None:
            tenants = list(config.tenants)
            if config.generated and tenants:
                for base in tenants[:2]:
                    tenants.extend(
                        data.draw(
                            st.lists(tricky_tenants(base), min_size=1, max_size=3, unique=True),
                            label=f"tricky tenants near {base}",
                        )
                    )
            tenants = list(dict.fromkeys(tenants))
            default = [f"user-{n}" for n in range(1, spec.users_per_tenant + 1)]
            self.principals = [
                Principal(t, u) for t in tenants for u in config.users.get(t) or default
            ]
            for kind in kinds:
                resource = spec.resources[kind]
                for tenant, ids in resource.fixture_ids.items():
                    owner = Principal(tenant, (config.users.get(tenant) or default)[0])
                    for res_id in ids:
                        self.fixture_owned.append(Owned(kind, res_id, owner, None))

        @rule(target=resources, data=st.data(), kind=st.sampled_from(creatable or ["-"]))
        def create(self, data: st.DataObject, kind: str) -> Any:
            self.steps += 1
            if kind == "-":
                return multiple()
            who = self.pick(data, "creator")
            endpoint = spec.resources[kind].create
            assert endpoint is not None
            call = self.call(f"create {kind}", endpoint, who, expected=f"one of {endpoint.expect}")
            if call.status not in endpoint.expect:
                if call.status >= 500:
                    self.fail(
                        "server-error",
                        f"creating {kind} as {who} answered {call.status}: {call.response}",
                        mode="server-error",
                    )
                return multiple()  # refused (e.g. a tricky tenant the API rightly rejects)
            res_id = json_path(call.response, endpoint.id)
            if res_id is None:
                self.fail(
                    "contract",
                    f"creating {kind} as {who}: no id at {endpoint.id} in {call.response}",
                )
            owned = Owned(kind, str(res_id), who, call.response)
            return owned

        @rule(data=st.data(), res=resources)
        def foreign_read(self, data: st.DataObject, res: Owned) -> None:
            self.steps += 1
            if spec.resources[res.kind].read is None:
                return
            attacker = self.pick(data, "attacker")
            if not self.foreign(attacker, res.owner):
                return
            endpoint = spec.resources[res.kind].read
            assert endpoint is not None
            hint, kwargs = self.draw_hint(data, res, "read")
            self.read_denied(
                endpoint,
                attacker,
                res,
                f"read {res.kind} of another{hint_label(hint, res)}",
                hint_label(hint, res),
                hint=hint,
                **kwargs,
            )

        @rule(data=st.data(), res=resources)
        def warmed_foreign_read(self, data: st.DataObject, res: Owned) -> None:
            """The owner reads first (filling any cache on the read path), then another tenant
            reads the same id: a cache keyed without the tenant answers it from the owner's
            entry."""
            self.steps += 1
            endpoint = spec.resources[res.kind].read
            if endpoint is None:
                return
            attacker = self.pick(data, "attacker")
            if not self.foreign(attacker, res.owner):
                return
            self.call(f"owner reads {res.kind}", endpoint, res.owner, res.id, expected="200")
            self.read_denied(
                endpoint,
                attacker,
                res,
                f"read {res.kind} of another after its owner",
                " right after its owner did (a cache without the tenant?)",
            )

        @rule(data=st.data(), kind=st.sampled_from(kinds))
        def foreign_list(self, data: st.DataObject, kind: str) -> None:
            self.steps += 1
            who = self.pick(data, "lister")
            endpoint = spec.resources[kind].list_
            filters = endpoint.filters if endpoint is not None else []
            chosen = data.draw(st.sampled_from([{}, *filters]), label="filter")
            query = {k: fill(v, self.values(who)) for k, v in chosen.items()}
            label = f"list {kind}" + (f" filtered by {chosen}" if chosen else "")
            ids = self.listed_ids(kind, who, step=label, query=query)
            if ids is None:
                return
            self.check_list(
                kind,
                who,
                ids,
                context=f" (filter {chosen})" if chosen else "",
                relist=lambda: self.listed_ids(kind, who, step=label, query=query),
            )

        @rule(data=st.data(), res=resources)
        def foreign_update(self, data: st.DataObject, res: Owned) -> None:
            self.steps += 1
            if spec.resources[res.kind].update is None:
                return
            attacker = self.pick(data, "attacker")
            if not self.foreign(attacker, res.owner):
                return
            endpoint = spec.resources[res.kind].update
            assert endpoint is not None
            hint, kwargs = self.draw_hint(data, res, "update")
            call = self.call(
                f"update {res.kind} of another{hint_label(hint, res)}",
                endpoint,
                attacker,
                res.id,
                expected=self.refusal(hint),
                **kwargs,
            )
            if not self.refused(call.status, hint):
                self.fail(
                    "foreign-update",
                    f"{attacker} updated {res!r}{hint_label(hint, res)}: HTTP {call.status}",
                    mode=self.refusal_mode(hint),
                )
            self.owner_unchanged(res)

        @rule(data=st.data(), res=resources)
        def foreign_delete(self, data: st.DataObject, res: Owned) -> None:
            self.steps += 1
            if spec.resources[res.kind].delete is None:
                return
            attacker = self.pick(data, "attacker")
            if not self.foreign(attacker, res.owner):
                return
            endpoint = spec.resources[res.kind].delete
            assert endpoint is not None
            hint, kwargs = self.draw_hint(data, res, "delete")
            call = self.call(
                f"delete {res.kind} of another{hint_label(hint, res)}",
                endpoint,
                attacker,
                res.id,
                expected=self.refusal(hint),
                **kwargs,
            )
            if not self.refused(call.status, hint):
                self.fail(
                    "foreign-delete",
                    f"{attacker} deleted {res!r}{hint_label(hint, res)}: HTTP {call.status}",
                    mode=self.refusal_mode(hint),
                )
            self.owner_unchanged(res)

        @rule(res=resources)
        def owner_read(self, res: Owned) -> None:
            self.steps += 1
            if spec.resources[res.kind].read is None:
                return
            endpoint = spec.resources[res.kind].read
            assert endpoint is not None
            call = self.call(f"owner reads {res.kind}", endpoint, res.owner, res.id, expected="200")
            if call.status != 200:
                self.fail(
                    "owner-read",
                    f"{res.owner} cannot read its own {res!r}: HTTP {call.status} {str(call.response)[:200]}",
                    mode="not-ok",
                )

        @rule(data=st.data(), kind=st.sampled_from(creatable or ["-"]))
        def hinted_create(self, data: st.DataObject, kind: str) -> None:
            self.steps += 1
            if kind == "-":
                return
            attacker = self.pick(data, "attacker")
            victim = self.pick(data, "victim")
            if not self.foreign(attacker, victim) or attacker.tenant == victim.tenant:
                return
            resource = spec.resources[kind]
            hint = data.draw(st.sampled_from(hints_for(resource, "create")), label="tenant hint")
            kwargs = hint_kwargs(hint, victim.tenant, victim.user)
            assert resource.create is not None
            call = self.call(
                f"create {kind} claiming {hint}={victim.tenant}",
                resource.create,
                attacker,
                expected="owned by the token's tenant",
                **kwargs,
            )
            if call.status not in resource.create.expect:
                return
            res_id = json_path(call.response, resource.create.id)
            if res_id is None:
                return
            ids = self.listed_ids(kind, victim)
            # as in check_list: the victim's own records make its listing long
            if (
                ids is not None
                and str(res_id) in ids
                and self.several_pages()
                and self.own_records(kind, victim, self.client.calls[-1].response)
            ):
                again = self.listed_ids(kind, victim)
                ids = again if again is not None and str(res_id) in again else ids
            leaked_by = "list" if ids is not None and str(res_id) in ids else None
            evidence = len(self.client.calls) - 1
            if leaked_by is None and resource.read is not None:
                seen = self.call(
                    f"victim reads {kind} planted via {hint}",
                    resource.read,
                    victim,
                    str(res_id),
                    expected=f"one of {sorted(self.denied)}",
                )
                if seen.status not in self.denied:
                    leaked_by = "read"
                    evidence = len(self.client.calls) - 1
            if leaked_by is None:
                return
            mode = "listed" if leaked_by == "list" else "not-denied"
            # Did the hint move the resource into the victim's tenant (IDOR), or does the victim
            # simply see everybody's data (a plain leak)? The attacker's own view tells.
            mine = self.attacker_still_owns(kind, attacker, str(res_id))
            if mine:
                self.fail(
                    f"foreign-{leaked_by}",
                    f"{victim} can {leaked_by} {kind}:{res_id} owned by {attacker}",
                    evidence=evidence,
                    mode=mode,
                    foreign_ids=[str(res_id)],
                )
            self.fail(
                "idor-create",
                f"{attacker} created {kind}:{res_id} inside {victim.tenant}'s data via {hint}",
                evidence=evidence,
                mode=mode,
                foreign_ids=[str(res_id)],
            )

        @rule(data=st.data(), kind=st.sampled_from(kinds))
        def hinted_list(self, data: st.DataObject, kind: str) -> None:
            self.steps += 1
            attacker = self.pick(data, "attacker")
            victim = self.pick(data, "victim")
            if attacker.tenant == victim.tenant:
                return
            hints = hints_for(spec.resources[kind], "list")
            if not hints or spec.resources[kind].list_ is None:
                return
            hint = data.draw(st.sampled_from(hints), label="tenant hint")

            def listing() -> list[str] | None:
                return self.listed_ids(
                    kind,
                    attacker,
                    step=f"list {kind} claiming {hint}={victim.tenant}",
                    **hint_kwargs(hint, victim.tenant, victim.user),
                )

            ids = listing()
            if ids is not None:
                self.check_list(
                    kind, attacker, ids, context=f" via {hint}={victim.tenant}", relist=listing
                )

        @rule(data=st.data(), res=resources)
        def mass_assign(self, data: st.DataObject, res: Owned) -> None:
            """The owner updates its own resource with an owner field set to another principal
            (mass assignment): the record must stay its owner's and out of the other's view."""
            self.steps += 1
            resource = spec.resources[res.kind]
            if resource.update is None:
                return
            victim = self.pick(data, "new owner")
            if not self.foreign(victim, res.owner):
                return
            fields = owner_fields(resource)
            if not fields:
                return
            # every owner field at once (naive code reading any of them moves the record), or
            # one (an API that refuses unknown fields still takes the one it knows)
            together = data.draw(st.booleans(), label="every owner field at once")
            names = fields if together else [data.draw(st.sampled_from(fields), label="field")]
            extra = {
                n: victim.user if OWNER_FIELDS.get(n, "tenant") == "user" else victim.tenant
                for n in names
            }
            name = ",".join(names) if len(names) < 4 else f"{names[0]},... ({len(names)} fields)"
            value = victim.tenant
            call = self.call(
                f"update {res.kind} setting {name} to {victim}",
                resource.update,
                res.owner,
                res.id,
                body_extra=extra,
                expected="the record stays its owner's",
            )
            if call.status >= 300:
                return  # refused: fine
            moved = (
                f"{res.owner} moved {res!r} to {victim} by setting {name} to {value!r} in an update"
            )
            if resource.read is not None:
                seen = self.call(
                    f"{victim} reads {res.kind} after the update",
                    resource.read,
                    victim,
                    res.id,
                    expected=f"one of {sorted(self.denied)}",
                )
                if seen.status not in self.denied:
                    self.fail("mass-assignment", f"{moved}: {victim} reads it (HTTP {seen.status})")
            ids = self.listed_ids(
                res.kind, victim, step=f"{victim} lists {res.kind} after the update"
            )
            if ids is not None and res.id in ids:
                self.fail("mass-assignment", f"{moved}: {victim} lists it", foreign_ids=[res.id])

        @rule(data=st.data(), res=resources)
        def cursor_tamper(self, data: st.DataObject, res: Owned) -> None:
            """A page token handed to one principal is tampered (its tenant/user values swapped
            for the attacker's victim) or replayed as is by another principal: no 2xx may then
            list an id of someone the attacker is not."""
            self.steps += 1
            kind, victim = res.kind, res.owner  # the victim holds at least ``res``
            endpoint = spec.resources[kind].list_
            if endpoint is None:
                return
            attacker = self.pick(data, "attacker")
            if not self.foreign(attacker, victim):
                return
            replayed = data.draw(st.booleans(), label="replay the victim's own token")
            # drawn before any call: how many variants the token has depends on the stack
            pick = data.draw(st.integers(0, 7), label="tampered variant")
            holder = victim if replayed else attacker

            def first_page() -> tuple[int, dict[str, Any]]:
                call = self.call(
                    f"list {kind} (first page, for its token)",
                    endpoint,
                    holder,
                    expected="a page token",
                    paginate=paging(endpoint, 1),
                )
                return call.status, call.response if isinstance(call.response, dict) else {}

            status, answer = first_page()
            if status < 300 and answer.get("first_token") is None:
                # one page only: the holder gets records of its own, two more than that page
                # held (enough for a next token when the page was short), instead of the
                # attack waiting for a run that happened to create them
                more = {"first_page": int(answer.get("first_page") or 0) + 2}
                if self.own_records(kind, holder, more):
                    status, answer = first_page()
            if status >= 300 or answer.get("first_token") is None:
                return  # the stack does not paginate: no token to tamper
            if self.own_records(kind, holder, answer):
                # the holder's own records now fill its first page (so the token exists on a
                # fresh deployment too); take the token from a listing made after them
                status, answer = first_page()
            token, param = answer.get("first_token"), answer.get("token_param")
            if status >= 300 or token is None or not param:
                return
            path = endpoint.next or "$.next"
            # rewound variants (numbers set to 0) first: what they yield does not depend on
            # where in the other partition the token pointed
            if replayed:
                variant = "raw, rewound" if pick < 6 and rewound(token) is not None else "raw"
                derive: dict[str, Any] = {"param": param, "path": path, "variant": variant}
                how = f"{victim}'s own token" + (", rewound" if variant != "raw" else "")
            else:
                swaps = [(attacker.tenant, victim.tenant), (attacker.user, victim.user)]
                variants = tamper(token, swaps)
                if not variants:
                    return  # nothing in it carries a tenant or user value
                preferred = [v for v in variants if v.how.endswith("rewound")]
                pool = preferred if pick < 6 and preferred else variants
                chosen = pool[pick % len(pool)]
                derive = {"param": param, "path": path, "swaps": swaps, "variant": chosen.how}
                how = f"{attacker}'s token with {victim}'s values ({chosen.how})"
            call = self.call(
                f"list {kind} with a tampered token",
                endpoint,
                attacker,
                expected="a refusal, or only own ids",
                paginate=paging(endpoint, None),
                derive=derive,
            )
            if 200 <= call.status < 300:
                self.check_list(
                    kind,
                    attacker,
                    ids_of(call, endpoint),
                    violation="cursor-tamper",
                    context=f" sent with {how}",
                )

        @rule(data=st.data(), kind=st.sampled_from(kinds))
        def guessed_read(self, data: st.DataObject, kind: str) -> None:
            self.steps += 1
            endpoint = spec.resources[kind].read
            if endpoint is None:
                return
            who = self.pick(data, "guesser")
            guess = str(uuid.uuid4())
            call = self.call(
                f"read a guessed {kind} id",
                endpoint,
                who,
                guess,
                expected=f"one of {sorted(self.denied)}",
            )
            if call.status not in self.denied:
                self.fail(
                    "guessed-read", f"{who} read never-created {kind}:{guess}: HTTP {call.status}"
                )

    IsolationMachine.config = config
    IsolationMachine.denied = frozenset(spec.denied) | {401}
    return IsolationMachine
