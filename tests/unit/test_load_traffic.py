"""Request generation from the mix: weighted, seeded, placeholders filled."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from harness.load.profile import Tenants, TrafficMix
from harness.load.traffic import RequestFactory, process_seed

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
