"""Request generation from the mix: weighted, seeded, placeholders filled."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter

import pytest

from harness.load.profile import Tenants, TrafficMix
from harness.load.traffic import CLIENT_NET, RequestFactory, client_ip, process_seed

MIX = TrafficMix.model_validate(
    {
        "requests": [
            {"name": "list", "path": "/t/{tenant}/orders?u={user}", "weight": 3},
            {
                "name": "create",
                "method": "POST",
                "path": "/t/{tenant}/orders/{uuid}",
                "json": {"id": "{uuid}", "kind": "{choice:a|b}", "seq": "{seq}", "n": 1},
                "headers": {"x-tenant": "{tenant}", "x-tier": "{tier}"},
                "weight": 1,
            },
        ]
    }
)
TENANTS = Tenants.model_validate(
    {
        "tenants": [
            {"id": "p1", "tier": "premium", "users": 3},
            {"id": "p2", "tier": "premium", "users": ["alice"]},
            {"id": "b1", "tier": "basic", "users": 2},
        ],
        "tier_weights": {"premium": 3, "basic": 1},
    }
)


def test_same_seed_same_sequence() -> None:
    a = RequestFactory(MIX, TENANTS, 42).plan(200)
    b = RequestFactory(MIX, TENANTS, 42).plan(200)
    c = RequestFactory(MIX, TENANTS, 43).plan(200)
    assert a == b
    assert a != c


def test_processes_get_different_but_reproducible_streams() -> None:
    p0 = RequestFactory(MIX, TENANTS, process_seed(7, 0), seq_start=0, seq_step=2).plan(50)
    p1 = RequestFactory(MIX, TENANTS, process_seed(7, 1), seq_start=1, seq_step=2).plan(50)
    assert [r.path for r in p0] != [r.path for r in p1]
    assert sorted(r.seq for r in p0 + p1) == list(range(100))


def test_weights_of_templates_and_tiers() -> None:
    plan = RequestFactory(MIX, TENANTS, 1).plan(20_000)
    endpoints = Counter(r.endpoint for r in plan)
    assert endpoints["list"] / len(plan) == pytest.approx(0.75, abs=0.02)
    tenants = Counter(r.tenant for r in plan)
    assert tenants["b1"] / len(plan) == pytest.approx(0.25, abs=0.02)
    assert tenants["p1"] / len(plan) == pytest.approx(0.375, abs=0.02)
    assert {r.user for r in plan if r.tenant == "b1"} == {"user-1", "user-2"}
    assert {r.user for r in plan if r.tenant == "p2"} == {"alice"}


def test_placeholders_are_filled() -> None:
    plan = RequestFactory(MIX, TENANTS, 5).plan(100)
    create = next(r for r in plan if r.endpoint == "create")
    body = json.loads(create.body or "")
    assert create.path == f"/t/{create.tenant}/orders/{body['id']}"  # one uuid per request
    assert body["kind"] in ("a", "b") and body["seq"] == str(create.seq) and body["n"] == 1
    assert create.headers["x-tenant"] == create.tenant
    assert create.headers["Content-Type"] == "application/json"
    listing = next(r for r in plan if r.endpoint == "list")
    assert listing.path == f"/t/{listing.tenant}/orders?u={listing.user}" and listing.body is None


def test_client_ip_is_one_stable_address_per_simulated_user() -> None:
    mix = TrafficMix.model_validate(
        {
            "headers": {"X-Forwarded-For": "{client_ip}", "x-tier": "mix"},
            "requests": [
                {"name": "list", "path": "/t/{tenant}"},
                {"name": "own", "path": "/o", "headers": {"X-TIER": "own"}},
            ],
        }
    )
    plan = RequestFactory(mix, TENANTS, 9).plan(2_000)
    by_user: dict[tuple[str, str], set[str]] = {}
    for r in plan:
        by_user.setdefault((r.tenant, r.user), set()).add(r.headers["X-Forwarded-For"])
        # the mix's headers go on every request; a request's own wins, whatever its case
        tiers = [v for k, v in r.headers.items() if k.lower() == "x-tier"]
        assert tiers == (["own"] if r.endpoint == "own" else ["mix"])
    assert len(by_user) == 6 and all(len(ips) == 1 for ips in by_user.values())
    ips = {next(iter(v)) for v in by_user.values()}
    assert len(ips) == 6  # one client each, not 127.0.0.1 for all
    assert all(ipaddress.ip_address(ip) in CLIENT_NET for ip in ips)
    # the same in another run, seed or process: a replay meets the same WAF counters
    other = RequestFactory(mix, TENANTS, process_seed(1, 3)).plan(2_000)
    assert {(r.tenant, r.user): r.headers["X-Forwarded-For"] for r in other} == {
        k: next(iter(v)) for k, v in by_user.items()
    }
    assert client_ip("p1", "user-1") != client_ip("p1", "user-2") != client_ip("p2", "user-2")


def test_an_unknown_placeholder_in_the_mix_headers_is_refused() -> None:
    with pytest.raises(ValueError, match=r"headers.X-Forwarded-For: unknown placeholder '\{ip\}'"):
        TrafficMix.model_validate(
            {"headers": {"X-Forwarded-For": "{ip}"}, "requests": [{"name": "a", "path": "/"}]}
        )
