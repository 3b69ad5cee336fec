"""The web ACL step (harness/gateway/waf.py): IP sets, the rate-based rule, SQLi/XSS patterns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.gateway import errors
from harness.gateway.waf import Waf, inspect
from harness.profile import Profile
from tests.fixtures.gateway.helpers import api_of, ctx_for

WAF = {
    "allowed_ips": ["10.1.0.0/16"],
    "blocked_ips": ["203.0.113.0/24"],
    "rate_limit": {"limit": 100, "window_s": 60, "forwarded_ip_header": "x-forwarded-for"},
    "managed_rules": ["sqli", "xss"],
}


class FakeLimiter:
    def __init__(self, verdict: int = 0) -> None:
        self.verdict = verdict
        self.calls: list[list[tuple[str, float, int]]] = []

    async def acquire(self, buckets: Any, quota: Any = None) -> int:
        self.calls.append(buckets)
        return self.verdict


def run(waf: Waf, limiter: FakeLimiter, **request: Any) -> str | None:
    """None when the request passes, else the rule that blocked it."""
    api = api_of(profile={"waf": WAF})
    ctx = ctx_for(api, request.pop("method", "GET"), request.pop("path", "/items"), **request)
    try:
        asyncio.run(waf.check(ctx, limiter))  # type: ignore[arg-type]
    except errors.GatewayError as exc:
        assert exc.status == 403 and exc.message == "Forbidden"
        return ctx.error_type
    return None


@pytest.fixture
def waf() -> Waf:
    built = Waf.from_profile({"waf": WAF})
    assert built is not None
    return built


def test_the_profile_builds_the_acl_and_compile_api_attaches_it(waf: Waf) -> None:
    assert waf.rate_limit == 100 and waf.window_s == 60 and waf.managed == ("sqli", "xss")
    assert api_of(profile={"waf": WAF}).waf is not None
    assert api_of(profile={}).waf is None


@pytest.mark.parametrize(
    "attack",
    [
        {"query": "id=1%27%20OR%20%271%27%3D%271"},
        {"query": "q=1 UNION SELECT password FROM users"},
        {"path": "/items/1;DROP TABLE users"},
        {"method": "POST", "body": b'{"name": "x\' or 1=1 --"}'},
        {"query": "q=%2527%2520or%25201%253D1"},  # double URL-encoded
        {"headers": [("Cookie", "session=abc' OR 'a'='a")]},
        {"query": "q=sleep(5)"},
    ],
)
def test_sql_injection_is_blocked(waf: Waf, attack: dict[str, Any]) -> None:
    assert run(waf, FakeLimiter(), **attack) == "waf:sqli"


@pytest.mark.parametrize(
    "attack",
    [
        {"query": "q=<script>alert(1)</script>"},
        {"query": "q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"},
        {"method": "POST", "body": b'{"bio": "<svg/onload=alert(1)>"}'},
        {"query": "next=javascript:alert(document.cookie)"},
        {"query": "q=&lt;script&gt;alert(1)&lt;/script&gt;"},  # HTML entities
        {"headers": [("Referer", "http://x/<iframe src=//evil>")]},
    ],
)
def test_cross_site_scripting_is_blocked(waf: Waf, attack: dict[str, Any]) -> None:
    assert run(waf, FakeLimiter(), **attack) == "waf:xss"


@pytest.mark.parametrize(
    "benign",
    [
        {"query": "email=o'brien@example.com&sort=-created"},
        {"method": "POST", "body": b'{"name": "Acme Select Union Ltd", "plan": "pro"}'},
        {"method": "POST", "body": b'{"note": "1 < 2 and 3 > 2; done"}'},
        {"path": "/users/acme-corp/invoices", "query": "limit=10&cursor=abc%3D%3D"},
        {"method": "POST", "body": b'{"description": "drop-in replacement, see docs"}'},
    ],
)
def test_ordinary_requests_pass(waf: Waf, benign: dict[str, Any]) -> None:
    assert run(waf, FakeLimiter(), **benign) is None


def test_only_the_first_8_kb_of_the_body_is_inspected(waf: Waf) -> None:
    body = b'{"pad": "' + b"a" * 9000 + b'", "x": "<script>"}'
    assert run(waf, FakeLimiter(), method="POST", body=body) is None


def test_ip_sets_and_the_rate_rule_per_client_ip(waf: Waf) -> None:
    limiter = FakeLimiter()
    assert run(waf, limiter, source_ip="203.0.113.9") == "waf:ip-block"
    assert run(waf, limiter, headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1")]) == (
        "waf:ip-block"
    )
    # an allowed address skips every rule, attacks included
    assert run(waf, limiter, source_ip="10.1.2.3", query="q=<script>") is None
    assert limiter.calls == []
    # the rate rule: one bucket per client IP (the forwarded one first), limit/window per second
    assert run(waf, limiter, headers=[("X-Forwarded-For", "198.51.100.4")]) is None
    assert run(waf, limiter) is None  # no header: the peer address
    assert run(waf, limiter, headers=[("X-Forwarded-For", "not-an-ip")]) is None
    keys = [buckets[0][0] for buckets in limiter.calls]
    assert keys == ["waf:s:Api:ip:198.51.100.4", "waf:s:Api:ip:192.0.2.1", "waf:s:Api:ip:192.0.2.1"]
    assert limiter.calls[0][0][1:] == (100 / 60, 100)
    assert run(waf, FakeLimiter(verdict=1)) == "waf:rate"


def test_inspect_names_the_matching_rule() -> None:
    api = api_of(profile={"waf": WAF})
    ctx = ctx_for(api, "GET", "/items", query="q=<script>")
    assert inspect(ctx, ("sqli",)) is None and inspect(ctx, ("sqli", "xss")) == "xss"


def test_the_profile_refuses_a_bad_acl() -> None:
    for bad in (
        {"blocked_ips": ["not-a-cidr"]},
        {"rate_limit": {"limit": 100, "window_s": 30}},
        {"managed_rules": ["bots"]},
        {"rate_limit": {"limit": 0}},
    ):
        with pytest.raises(ValueError):
            Profile.model_validate({"waf": bad})
    assert Profile.model_validate({"waf": WAF}).waf is not None
