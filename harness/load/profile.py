"""Typed load profiles: how much load (stages), what requests (traffic mix), for whom (tenants).

Vocabulary follows k6's arrival-rate executors, which SREs already know:

* ``mode: open`` — requests *arrive* at ``target`` per second whatever the latency
  (k6 ``ramping-arrival-rate``); each arrival takes a free user from a pool of at most
  ``max_users`` (``pre_allocated`` are created up front, like ``preAllocatedVUs``/``maxVUs``);
  an arrival that finds no free user within ``pool_wait`` is **dropped** and counted.
* ``mode: closed`` — ``target`` users loop request → ``think_time`` → request.

A stage is ``{name, duration, target, shape}``; ``shape`` is ``hold`` (constant), ``ramp``
(linear from the previous stage's end level) or ``spike`` (from the previous level up to
``target`` within ``rise`` seconds, held, and back down to the previous level by the end of the
stage). :func:`ramp_profile`, :func:`spike_profile`, :func:`step_down_profile` build the seeds'
runbook shapes.

``client: fasthttp`` (default) sends through Locust's ``FastHttpSession`` (cookies, redirects,
Locust's request event); ``client: raw`` uses the same users' geventhttpclient connections
directly, which costs the generator about a quarter less CPU per request.

The traffic mix is a list of weighted :class:`RequestTemplate`; a path, header value or JSON body
may contain ``{tenant}``, ``{user}``, ``{tier}``, ``{uuid}``, ``{seq}``, ``{choice:a|b|c}`` and
``{client_ip}``: the simulated user's own address, stable per (tenant, user) and the same in every
run, drawn from 198.18.0.0/15 (RFC 2544's range for benchmark traffic, so it matches no allow or
deny list by accident). Load from one host reaches the API from 127.0.0.1; a WAF rate rule that
aggregates on a forwarded-IP header (``waf.rate_limit.forwarded_ip_header``, as behind
CloudFront) sees one client per simulated user when the mix sends
``X-Forwarded-For: "{client_ip}"``. The mix's own ``headers`` go on every request (a request's
header of the same name wins).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.durations import parse_duration
from harness.errors import ConfigError

__all__ = [
    "PLACEHOLDER",
    "Duration",
    "LoadProfile",
    "RequestTemplate",
    "Segment",
    "Stage",
    "Tenant",
    "Tenants",
    "TrafficMix",
    "parse_duration",
    "pool_share",
    "ramp_profile",
    "share",
    "spike_profile",
    "step_down_profile",
]

PLACEHOLDER = re.compile(r"\{(tenant|user|tier|uuid|seq|client_ip|choice:[^{}]*)\}")
_ANY_BRACE = re.compile(r"\{([^{}]*)\}")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- stages -----------------------------------------------------------------------------------


class Segment(BaseModel):
    """A piece of the target curve where it changes linearly from ``start`` to ``end``."""

    model_config = ConfigDict(frozen=True)

    t0: float
    t1: float
    start: float
    end: float
    stage: int

    def level(self, t: float) -> float:
        if self.t1 <= self.t0:
            return self.end
        return self.start + (self.end - self.start) * (t - self.t0) / (self.t1 - self.t0)

    def area(self, t: float) -> float:
        """Integral of the level from ``t0`` to ``t`` (expected arrivals in open mode)."""
        t = min(max(t, self.t0), self.t1)
        return (self.start + self.level(t)) / 2 * (t - self.t0)


class Stage(_Model):
    """One stage of a profile: hold / ramp to / spike up to ``target`` for ``duration``."""

    name: str | None = Field(None, description="phase name in the results; default stage-N")
    duration: Duration = Field(description="seconds, or '30s', '5m'")
    target: float = Field(ge=0, description="arrivals per second (open) or users (closed)")
    shape: Literal["hold", "ramp", "spike"] = "hold"
    rise: Duration = Field(1.0, description="spike: seconds to go up (and to come back down)")

    @model_validator(mode="after")
    def _positive(self) -> Stage:
        if self.duration <= 0:
            raise ValueError("a stage needs a positive duration")
        if self.shape == "spike" and 2 * self.rise > self.duration:
            raise ValueError(
                f"a spike rises and falls in 'rise' ({self.rise:g}s) each, "
                f"which does not fit in duration {self.duration:g}s"
            )
        return self

    @classmethod
    def hold(cls, target: float, duration: float | str, name: str | None = None) -> Stage:
        return cls(name=name, duration=duration, target=target, shape="hold")

    @classmethod
    def ramp(cls, target: float, duration: float | str, name: str | None = None) -> Stage:
        return cls(name=name, duration=duration, target=target, shape="ramp")

    @classmethod
    def spike(
        cls, target: float, duration: float | str, name: str | None = None, rise: float = 1.0
    ) -> Stage:
        return cls(name=name, duration=duration, target=target, shape="spike", rise=rise)


class LoadProfile(_Model):
    """How much load: the model (open/closed), the stages, and the user pool."""

    mode: Literal["open", "closed"] = "open"
    stages: list[Stage] = Field(min_length=1)
    max_users: int | None = Field(
        None, ge=1, description="open: the most concurrent requests (k6 maxVUs); default 1000"
    )
    pre_allocated: int | None = Field(
        None, ge=0, description="open: users created before the start (k6 preAllocatedVUs)"
    )
    pool_wait: Duration = Field(
        0.0, description="open: how long an arrival may wait for a free user before it is dropped"
    )
    arrivals: Literal["uniform", "poisson"] = Field(
        "uniform", description="open: evenly spaced (k6) or Poisson arrivals at the target rate"
    )
    think_time: Duration = Field(0.0, description="closed: pause between a user's requests")
    timeout: Duration = Field(10.0, description="per-request network timeout")
    client: Literal["fasthttp", "raw"] = Field(
        "fasthttp",
        description="fasthttp: Locust's FastHttpSession (cookies, redirects, request events); "
        "raw: the same user's geventhttpclient connection directly, ~1/3 less generator CPU",
    )
    grace: Duration = Field(5.0, description="how long in-flight requests may finish at the end")

    @model_validator(mode="after")
    def _consistent(self) -> LoadProfile:
        names = [s.name for s in self.stages if s.name]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(dupes)}")
        if self.mode == "closed":
            for i, stage in enumerate(self.stages):
                if stage.target != int(stage.target):
                    raise ValueError(f"stages.{i}.target: the closed model takes whole users")
        if (
            self.max_users is not None
            and self.pre_allocated is not None
            and self.pre_allocated > self.max_users
        ):
            raise ValueError("pre_allocated cannot exceed max_users")
        return self

    # -- the target curve ---------------------------------------------------------------

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.stages)

    @property
    def pool_size(self) -> int:
        return self.max_users or 1000

    def stage_names(self) -> list[str]:
        return [s.name or f"stage-{i + 1}" for i, s in enumerate(self.stages)]

    def stage_bounds(self) -> list[tuple[str, float, float]]:
        """(name, start, end) of every stage on the run clock."""
        bounds, t = [], 0.0
        for name, stage in zip(self.stage_names(), self.stages, strict=True):
            bounds.append((name, t, t + stage.duration))
            t += stage.duration
        return bounds

    def segments(self) -> list[Segment]:
        """The target curve as linear pieces (a spike is three pieces)."""
        out: list[Segment] = []
        t, level = 0.0, 0.0
        for i, stage in enumerate(self.stages):
            end = t + stage.duration
            if stage.shape == "hold":
                out.append(Segment(t0=t, t1=end, start=stage.target, end=stage.target, stage=i))
                level = stage.target
            elif stage.shape == "ramp":
                out.append(Segment(t0=t, t1=end, start=level, end=stage.target, stage=i))
                level = stage.target
            else:  # spike: up, hold, back down to the level before it
                up, down = t + stage.rise, end - stage.rise
                out.append(Segment(t0=t, t1=up, start=level, end=stage.target, stage=i))
                out.append(Segment(t0=up, t1=down, start=stage.target, end=stage.target, stage=i))
                out.append(Segment(t0=down, t1=end, start=stage.target, end=level, stage=i))
            t = end
        return out

    def target_at(self, t: float) -> float:
        """Target rate (open) or users (closed) at ``t`` seconds after the start."""
        for seg in self.segments():
            if seg.t0 <= t < seg.t1:
                return seg.level(t)
        return 0.0

    def expected(self, t0: float, t1: float) -> float:
        """Expected arrivals between ``t0`` and ``t1`` (open model)."""
        return sum(seg.area(t1) - seg.area(t0) for seg in self.segments())

    def stage_at(self, t: float) -> int:
        elapsed = 0.0
        for i, stage in enumerate(self.stages):
            elapsed += stage.duration
            if t < elapsed:
                return i
        return len(self.stages) - 1

    def peak(self) -> float:
        return max(max(s.start, s.end) for s in self.segments())


def ramp_profile(
    peak: float,
    *,
    ramp: float | str = "1m",
    hold: float | str = "5m",
    down: float | str | None = None,
    mode: Literal["open", "closed"] = "open",
    **options: Any,
) -> LoadProfile:
    """Ramp from 0 to ``peak``, hold it (runbook: "ramp to the NFR, hold"), optionally ramp down."""
    stages = [Stage.ramp(peak, ramp, "ramp-up"), Stage.hold(peak, hold, "hold")]
    if down is not None:
        stages.append(Stage.ramp(0, down, "ramp-down"))
    return LoadProfile(mode=mode, stages=stages, **options)


def spike_profile(
    base: float,
    *,
    factor: float = 5.0,
    before: float | str = "1m",
    spike: float | str = "30s",
    after: float | str = "1m",
    rise: float = 1.0,
    mode: Literal["open", "closed"] = "open",
    **options: Any,
) -> LoadProfile:
    """Steady ``base`` load, a sudden spike to ``factor`` x base (the seeds ask for 5x-10x),
    then back to ``base`` to watch recovery."""
    if not 1 <= factor <= 100:
        raise ConfigError(
            f"factor must be between 1 and 100 (the seeds use 5x-10x), not {factor:g}.",
            source="spike_profile",
            field="factor",
            fix="pass e.g. factor=5.",
        )
    return LoadProfile(
        mode=mode,
        stages=[
            Stage.hold(base, before, "baseline"),
            Stage.spike(base * factor, spike, "spike", rise=rise),
            Stage.hold(base, after, "recovery"),
        ],
        **options,
    )


def step_down_profile(
    start: float,
    *,
    step: float,
    each: float | str = "30s",
    floor: float = 0.0,
    mode: Literal["open", "closed"] = "open",
    **options: Any,
) -> LoadProfile:
    """Hold ``start``, then ``start - step``, ... down to ``floor``: finds the highest level that
    is sustained (each stage is named by its level, e.g. ``step-2500``)."""
    if step <= 0:
        raise ConfigError(
            f"step must be positive, not {step:g}.",
            source="step_down_profile",
            field="step",
            fix="pass the amount each stage drops, e.g. step=500.",
        )
    levels: list[float] = []
    level = start
    while level > floor and len(levels) < 100:
        levels.append(level)
        level -= step
    return LoadProfile(
        mode=mode, stages=[Stage.hold(x, each, f"step-{x:g}") for x in levels], **options
    )


# -- traffic mix ------------------------------------------------------------------------------


def _check_placeholders(text: str, where: str) -> None:
    for match in _ANY_BRACE.finditer(text):
        if not PLACEHOLDER.fullmatch(match.group(0)):
            raise ValueError(
                f"{where}: unknown placeholder '{match.group(0)}'; use {{tenant}}, {{user}}, "
                "{tier}, {uuid}, {seq}, {client_ip} or {choice:a|b}"
            )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class RequestTemplate(_Model):
    """One kind of request in the traffic mix."""

    name: str = Field(min_length=1, description="the endpoint's name in the results")
    weight: float = Field(1.0, gt=0)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: str = Field(description="e.g. /tenants/{tenant}/orders/{uuid}")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", description="JSON body template")
    auth: Literal["bearer", "none", "api_key"] = "none"
    api_key_header: str = "x-api-key"
    expect: list[int] | None = Field(
        None, description="statuses that count as success; default 200-399"
    )

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _placeholders(self) -> RequestTemplate:
        if not (self.path.startswith("/") or self.path.startswith("http")):
            raise ValueError(f"path '{self.path}' must start with '/' (or be an absolute URL)")
        _check_placeholders(self.path, "path")
        for key, value in self.headers.items():
            _check_placeholders(value, f"headers.{key}")
        for text in _strings(self.json_body):
            _check_placeholders(text, "json")
        for code in self.expect or []:
            if not 100 <= code <= 599:
                raise ValueError(f"expect: {code} is not an HTTP status code")
        return self

    def is_success(self, status: int) -> bool:
        if self.expect is not None:
            return status in self.expect
        return 200 <= status < 400


class TrafficMix(_Model):
    """Weighted request templates; each arrival picks one by weight."""

    requests: list[RequestTemplate] = Field(min_length=1)
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sent with every request of the mix (a request's own header of the same "
        "name, in any case, wins); the same placeholders",
    )

    @model_validator(mode="after")
    def _unique(self) -> TrafficMix:
        names = [r.name for r in self.requests]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"request names must be unique; repeated: {', '.join(dupes)}")
        for key, value in self.headers.items():
            _check_placeholders(value, f"headers.{key}")
        return self

    @classmethod
    def single(cls, path: str = "/", method: str = "GET", **fields: Any) -> TrafficMix:
        return cls(requests=[RequestTemplate(name=path, path=path, method=method, **fields)])

    @property
    def needs_tokens(self) -> bool:
        return any(r.auth == "bearer" for r in self.requests)


# -- tenants ----------------------------------------------------------------------------------


class Tenant(_Model):
    id: str = Field(min_length=1)
    tier: str = "default"
    users: list[str] | int = Field(1, description="user ids, or how many (user-1..user-N)")
    weight: float = Field(1.0, gt=0, description="share of traffic when no tier weights are set")
    api_key: str | None = Field(None, description="for requests with auth: api_key")

    @model_validator(mode="after")
    def _some_users(self) -> Tenant:
        if isinstance(self.users, int) and self.users < 1:
            raise ValueError("users: a tenant needs at least one user")
        if isinstance(self.users, list) and not self.users:
            raise ValueError("users: a tenant needs at least one user")
        return self

    @property
    def user_ids(self) -> list[str]:
        if isinstance(self.users, int):
            return [f"user-{i + 1}" for i in range(self.users)]
        return list(self.users)


class Tenants(_Model):
    """The tenants requests are spread over, and how a request picks one.

    With ``tier_weights`` a request first picks a tier by weight, then a tenant of that tier
    uniformly (tiers without a weight get none); otherwise it picks a tenant by ``weight``.
    """

    tenants: list[Tenant] = Field(min_length=1)
    tier_weights: dict[str, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Tenants:
        ids = [t.id for t in self.tenants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"tenant ids must be unique; repeated: {', '.join(dupes)}")
        if self.tier_weights is not None:
            tiers = {t.tier for t in self.tenants}
            unknown = sorted(set(self.tier_weights) - tiers)
            if unknown:
                raise ValueError(
                    f"tier_weights: no tenant has tier {', '.join(unknown)} "
                    f"(tiers: {', '.join(sorted(tiers))})"
                )
            if any(w < 0 for w in self.tier_weights.values()):
                raise ValueError("tier_weights: weights cannot be negative")
            if sum(self.tier_weights.values()) <= 0:
                raise ValueError("tier_weights: at least one weight must be positive")
        return self

    @classmethod
    def coerce(cls, value: Tenants | Sequence[Tenant | dict[str, Any]] | None) -> Tenants:
        if value is None:
            return cls(tenants=[Tenant(id="default")])
        if isinstance(value, Tenants):
            return value
        return cls(tenants=[t if isinstance(t, Tenant) else Tenant(**t) for t in value])

    def weights(self) -> list[float]:
        """Each tenant's share of the traffic, in order."""
        if self.tier_weights is None:
            return [t.weight for t in self.tenants]
        per_tier: dict[str, int] = {}
        for t in self.tenants:
            per_tier[t.tier] = per_tier.get(t.tier, 0) + 1
        return [self.tier_weights.get(t.tier, 0.0) / per_tier[t.tier] for t in self.tenants]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def share(total: float, parts: int, index: int) -> int:
    """Integer share of ``total`` users for process ``index`` of ``parts`` (sums to total)."""
    whole = math.floor(total)
    return whole // parts + (1 if index < whole % parts else 0)


def pool_share(total: int, parts: int) -> int:
    return max(1, _ceil_div(total, parts))
