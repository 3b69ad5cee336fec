"""A web ACL in front of an API (AWS WAF associated with the stage), from the stack's profile.

``waf`` in ``harness.yaml`` (validated by ``harness.profile.WafSpec``)::

    waf:
      allowed_ips: ["10.0.0.0/8"]          # IP set allow rule: matched requests skip every rule
      blocked_ips: ["203.0.113.0/24"]      # IP set block rule
      rate_limit:                          # rate-based rule, one counter per client IP
        limit: 2000                        # requests per window
        window_s: 300                      # AWS WAF's evaluation window (60, 120, 300, 600)
        forwarded_ip_header: x-forwarded-for   # aggregate on this header's first IP, else the peer
      managed_rules: [sqli, xss]           # in the spirit of AWSManagedRulesSQLiRuleSet and the
                                           # cross-site scripting rules of the core rule set

Rules run in that order, before CORS and the authorizers, as WAF does in front of API Gateway.
A blocked request gets WAF's default block answer through API Gateway: 403
``{"message": "Forbidden"}``; the access log's error type names the rule (``waf:sqli``...).

The pattern rules inspect the URI path, the query string, the first 8 KB of the body (what WAF
forwards for API Gateway) and the ``cookie``, ``user-agent`` and ``referer`` headers, after WAF's
text transformations (URL decode twice, HTML entity decode, lower case, compress white space).
The rate rule is a token bucket in Redis (``limit`` tokens, refilled over ``window_s``) shared by
every gateway worker, drawn through the same limiter as the usage plans.
"""

from __future__ import annotations

import html
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from harness.gateway import errors
from harness.gateway.context import RequestContext
from harness.gateway.ratelimit import RateLimiter

__all__ = ["BODY_INSPECTION_LIMIT", "MANAGED_RULES", "Waf", "inspect"]

BODY_INSPECTION_LIMIT = 8 * 1024
_HEADERS = ("cookie", "user-agent", "referer")

MANAGED_RULES: dict[str, re.Pattern[str]] = {
    "sqli": re.compile(
        r"\bunion\b(?:\s+all)?\s+select\b"
        r"|'\s*(?:or|and)\s+'?[\w-]+'?\s*(?:=|like)\s*'?[\w-]+"
        r"|\b(?:or|and)\s+\d+\s*=\s*\d+"
        r"|;\s*(?:drop|delete|truncate|alter|insert|update|shutdown|exec)\b"
        r"|'\s*;|'\s*--|'\s*#|/\*.*?\*/"
        r"|\b(?:sleep|benchmark|pg_sleep)\s*\(|\bwaitfor\s+delay\b"
        r"|\binformation_schema\b|\bxp_cmdshell\b|\bload_file\s*\("
    ),
    "xss": re.compile(
        r"<\s*/?\s*(?:script|iframe|object|embed|applet|meta|base|svg|math)\b"
        r"|\bjavascript\s*:|\bvbscript\s*:|\bdata\s*:\s*text/html"
        r"|<[^>]*\bon[a-z]+\s*="
        r"|\bsrcdoc\s*=|\bexpression\s*\(|document\s*\.\s*(?:cookie|write)"
    ),
}


def _transform(text: str) -> str:
    """WAF's URL_DECODE (twice), HTML_ENTITY_DECODE, LOWERCASE, COMPRESS_WHITE_SPACE."""
    text = unquote_plus(unquote_plus(text))
    text = html.unescape(text).lower()
    return re.sub(r"\s+", " ", text)


def inspect(ctx: RequestContext, rules: tuple[str, ...]) -> str | None:
    """The first managed rule the request matches, or None."""
    parts = [ctx.raw_path, ctx.raw_query, ctx.body[:BODY_INSPECTION_LIMIT].decode("latin-1")]
    parts += [ctx.header(name) or "" for name in _HEADERS]
    fields = [_transform(part) for part in parts if part]
    for name in rules:
        pattern = MANAGED_RULES[name]
        if any(pattern.search(value) for value in fields):
            return name
    return None


@dataclass(slots=True)
class Waf:
    allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    blocked: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    rate_limit: int = 0
    window_s: int = 300
    forwarded_ip_header: str | None = None
    managed: tuple[str, ...] = ()

    @classmethod
    def from_profile(cls, profile: dict[str, Any] | None) -> Waf | None:
        """The stack's web ACL (``None`` without a ``waf`` section); validated by the profile."""
        from harness.profile import WafSpec

        raw = (profile or {}).get("waf")
        if not raw:
            return None
        spec = WafSpec.model_validate(raw)
        rate = spec.rate_limit
        return cls(
            allowed=[ipaddress.ip_network(n, strict=False) for n in spec.allowed_ips],
            blocked=[ipaddress.ip_network(n, strict=False) for n in spec.blocked_ips],
            rate_limit=rate.limit if rate else 0,
            window_s=rate.window_s if rate else 300,
            forwarded_ip_header=rate.forwarded_ip_header if rate else None,
            managed=tuple(spec.managed_rules),
        )

    def client_ip(self, ctx: RequestContext) -> str:
        if self.forwarded_ip_header:
            value = ctx.header(self.forwarded_ip_header)
            if value:
                first = value.split(",", 1)[0].strip()
                try:
                    return str(ipaddress.ip_address(first))
                except ValueError:
                    pass  # WAF's fallback behaviour NO_MATCH: aggregate on the peer instead
        return ctx.source_ip

    @staticmethod
    def _in(ip: str, networks: list[Any]) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in networks)

    def bucket_key(self, stack: str, api: str, ip: str) -> str:
        return f"waf:{stack}:{api}:ip:{ip}"

    async def check(self, ctx: RequestContext, limiter: RateLimiter) -> None:
        """Raise the 403 of a blocking rule; return if the request may go on."""
        api = ctx.api
        assert api is not None
        peer = ctx.source_ip
        ip = self.client_ip(ctx)
        if self._in(peer, self.allowed) or self._in(ip, self.allowed):
            return
        if self._in(peer, self.blocked) or self._in(ip, self.blocked):
            self._block(ctx, "waf:ip-block")
        if self.rate_limit:
            key = self.bucket_key(api.stack.name, api.spec.logical_id, ip)
            rate = self.rate_limit / self.window_s
            if await limiter.acquire([(key, rate, self.rate_limit)]) != 0:
                self._block(ctx, "waf:rate")
        if self.managed:
            matched = inspect(ctx, self.managed)
            if matched is not None:
                self._block(ctx, f"waf:{matched}")

    @staticmethod
    def _block(ctx: RequestContext, rule: str) -> None:
        ctx.error_type = rule
        ctx.authorizer_error = f"blocked by the web ACL rule {rule}"
        raise errors.forbidden()
