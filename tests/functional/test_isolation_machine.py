"""The isolation machine finds each bug class in a deliberately broken API, shrinks it, and the
replay file reproduces it; the correct API passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.isolation.http import Call, RecordingClient
from harness.isolation.model import MachineConfig
from harness.isolation.run import minimize_calls, replay, run_machine
from harness.isolation.spec import IsolationSpec
from tests.functional.fake_tenant_app import SPEC, serve


def tokens(tenant: str, user: str) -> str:
    return f"{tenant}|{user}"


def config(base_url: str, tenants: list[str] | None = None) -> MachineConfig:
    return MachineConfig(
        base_url=base_url,
        spec=IsolationSpec.model_validate(SPEC),
        tokens=tokens,
        tenants=tenants or ["acme", "globex"],
    )


def test_the_correct_api_passes(tmp_path: Path) -> None:
    with serve("correct") as url:
        result = run_machine(config(url), examples=15, steps=12, seed_value=1, report_dir=tmp_path)
    assert result.passed, result.violation
    assert result.calls > 100
    assert len(result.tenants) >= 3  # the stack's tenants plus generated tricky ones
    assert not (tmp_path / "isolation-replay.json").exists()


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        ("trusts_query", {"idor-create", "foreign-list"}),
        ("trusts_body", {"idor-create"}),
        ("prefix_list", {"foreign-list"}),
        ("unfiltered_list", {"foreign-list"}),
        ("no_owner_check", {"foreign-read", "foreign-update", "foreign-delete", "foreign-change"}),
        (
            "case_insensitive",
            {
                "foreign-read",
                "foreign-list",
                "foreign-update",
                "foreign-delete",
                "idor-create",
                "foreign-change",
            },
        ),
    ],
)
def test_each_broken_variant_is_found_shrunk_and_replayed(
    variant: str, kinds: set[str], tmp_path: Path
) -> None:
    with serve(variant) as url:
        result = run_machine(config(url), examples=100, steps=10, seed_value=3, report_dir=tmp_path)
    assert not result.passed
    assert result.violation is not None and result.violation["kind"] in kinds, result.violation
    assert result.replay_file is not None
    document = json.loads(Path(result.replay_file).read_text())
    assert len(document["calls"]) <= 10, [c["step"] for c in document["calls"]]  # shrunk
    assert "authorization" not in json.dumps(document).lower()  # tokens are never stored
    with serve(variant) as fresh:  # a fresh server: new ids, same bug
        reproduced, how, _ = replay(document, fresh, tokens)
    assert reproduced, how
    with serve("correct") as fixed:
        reproduced, how, _ = replay(document, fixed, tokens)
    assert not reproduced, how


def test_the_seed_makes_runs_repeatable() -> None:
    with serve("correct") as url:
        first = run_machine(config(url), examples=5, steps=8, seed_value=11)
        second = run_machine(config(url), examples=5, steps=8, seed_value=11)
    assert first.tenants == second.tenants and first.calls == second.calls


def recorded_run(url: str) -> list[dict[str, object]]:
    """A failing run with noise: lists, a second order, an owner read, then globex reads acme's
    order (the no_owner_check bug), then more calls after the failing one."""
    client = RecordingClient(url)
    first = client.send(
        Call("create order", "POST", "/orders", "acme", "user-1", body={"note": "a"}),
        tokens("acme", "user-1"),
    )
    order = first.response["order_id"]
    script = [
        Call("list order", "GET", "/orders", "acme", "user-1"),
        Call("create order", "POST", "/orders", "globex", "user-1", body={"note": "b"}),
        Call("owner reads order", "GET", f"/orders/{order}", "acme", "user-1"),
        Call("list order", "GET", "/orders", "globex", "user-1"),
        Call("read order of another", "GET", f"/orders/{order}", "globex", "user-1"),
        Call("list order", "GET", "/orders", "acme", "user-1"),
    ]
    for call in script:
        client.send(call, tokens(call.tenant, call.user))
    client.close()
    return [c.to_json() for c in client.calls]


def test_minimize_calls_keeps_only_what_the_failure_needs() -> None:
    """Calls after the failing one and calls it does not depend on go; the create whose id the
    failing read uses stays even though the live server would still answer without it (the
    replay file must reproduce on a fresh deployment)."""
    with serve("no_owner_check") as url:
        calls = recorded_run(url)
        check = {"kind": "foreign-read", "call_index": 5, "mode": "not-denied", "foreign_ids": []}
        replayed: list[Call] = []
        kept, kept_check = minimize_calls(config(url), calls, check, replayed=replayed)
    assert [c["step"] for c in kept] == ["create order", "read order of another"]
    assert kept_check["call_index"] == 1 and kept_check["kind"] == "foreign-read"
    assert replayed  # the replays' calls are handed back (their creates count as owned)
    with serve("no_owner_check") as fresh:
        reproduced, how, _ = replay(
            {"spec": SPEC, "denied": [401, 403, 404], "calls": kept, "check": kept_check},
            fresh,
            tokens,
        )
    assert reproduced, how


def test_minimize_calls_keeps_the_run_when_the_failure_does_not_replay() -> None:
    with serve("no_owner_check") as url:
        calls = recorded_run(url)
    check = {"kind": "foreign-read", "call_index": 5, "mode": "not-denied", "foreign_ids": []}
    with serve("correct") as fixed:  # nothing reproduces here: Hypothesis's sequence stays
        kept, kept_check = minimize_calls(config(fixed), calls, check)
    assert kept == calls and kept_check == check


# Issue 21's classes: each found by its own rule, shrunk, and replayed on a fresh server (new
# ids) and on one that already holds other tenants' orders (so a listing has more pages).
NEW_CLASSES = {
    "tenant_param_on_write": {"foreign-update", "foreign-delete"},
    "cursor_partition": {"cursor-tamper"},
    "page2_leak": {"foreign-list"},
    "filter_leak": {"foreign-list"},
    "owner_move": {"mass-assignment"},
}


def prefill(base_url: str) -> None:
    client = RecordingClient(base_url)
    for n in range(7):
        for tenant in ("acme", "globex", "initech"):
            call = Call("create order", "POST", "/orders", tenant, "user-1", body={"note": f"x{n}"})
            client.send(call, tokens(tenant, "user-1"))
    client.close()


@pytest.mark.parametrize("variant", sorted(NEW_CLASSES))
def test_each_new_class_is_found_shrunk_and_replayed_fresh_and_prefilled(
    variant: str, tmp_path: Path
) -> None:
    with serve(variant) as url:
        result = run_machine(config(url), examples=150, steps=12, seed_value=3, report_dir=tmp_path)
    assert result.violation is not None, f"{variant} not found"
    assert result.violation["kind"] in NEW_CLASSES[variant], result.violation["message"]
    document = json.loads(Path(str(result.replay_file)).read_text())
    assert len(document["calls"]) <= 10, [c["step"] for c in document["calls"]]
    with serve(variant) as fresh:
        reproduced, how, _ = replay(document, fresh, tokens)
        assert reproduced, f"fresh: {how}"
    with serve(variant) as filled:
        prefill(filled)
        reproduced, how, _ = replay(document, filled, tokens)
        assert reproduced, f"pre-filled: {how}"
    with serve("correct") as fixed:
        reproduced, how, _ = replay(document, fixed, tokens)
    assert not reproduced, how


def test_a_strict_api_answering_400_to_a_hinted_body_is_not_a_violation(tmp_path: Path) -> None:
    """CodexFlow's models forbid unknown fields: a foreign update carrying ``tenant_id`` in its
    body is a 400 before any lookup. A 4xx to a hinted attack is a refusal (it changed and
    returned nothing), not a foreign update (the bench's false alarm on CodexFlow)."""
    with serve("strict_body") as url:
        result = run_machine(config(url), examples=60, steps=12, seed_value=1, report_dir=tmp_path)
    refused = [
        c
        for c in result.made
        if " of another claiming body:" in c.step and c.status == 400 and c.tenant
    ]
    assert refused, "no hinted foreign call with a body hint was refused with a 400"
    assert result.passed, result.violation


def test_a_hinted_finding_replays_as_not_refused(tmp_path: Path) -> None:
    """A foreign update/delete that honours ``?tenant=`` is found; its replay counts any 4xx
    as a refusal (mode not-refused): the strict-but-correct variant answers the replayed call
    with a 404 or 400 and does not reproduce it, the broken one does."""
    with serve("tenant_param_on_write") as url:
        result = run_machine(config(url), examples=150, steps=12, seed_value=3, report_dir=tmp_path)
    assert result.violation is not None
    assert result.violation["check"]["mode"] == "not-refused", result.violation
    document = json.loads(Path(str(result.replay_file)).read_text())
    with serve("tenant_param_on_write") as fresh:
        reproduced, how, _ = replay(document, fresh, tokens)
        assert reproduced, how
    with serve("strict_body") as fixed:
        reproduced, how, _ = replay(document, fixed, tokens)
    assert not reproduced, how


def _flaky_first(monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
    """Generation fails ``failures`` times the way a live stack makes it fail (Hypothesis's
    FlakyStrategyDefinition), then runs for real."""
    from hypothesis.errors import FlakyStrategyDefinition

    import harness.isolation.run as run_module

    real = run_module.get_state_machine_test
    left = [failures]

    def wrapped(machine: object, **kwargs: object) -> object:
        test = real(machine, **kwargs)  # type: ignore[arg-type]

        def run() -> None:
            if left[0] > 0:
                left[0] -= 1
                raise FlakyStrategyDefinition("Inconsistent data generation! (simulated)")
            test()

        return run

    monkeypatch.setattr(run_module, "get_state_machine_test", wrapped)


def test_generation_restarts_with_the_next_seed_when_the_stack_made_it_flaky(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _flaky_first(monkeypatch, 1)
    with serve("correct") as url:
        result = run_machine(config(url), examples=5, steps=8, seed_value=3, report_dir=tmp_path)
    assert result.passed and result.steps > 0
    assert len(result.restarts) == 1 and "seed 3" in result.restarts[0]


def test_generation_that_stays_flaky_is_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hypothesis.errors import FlakyStrategyDefinition

    _flaky_first(monkeypatch, 10)
    with serve("correct") as url, pytest.raises(FlakyStrategyDefinition):
        run_machine(config(url), examples=5, steps=8, seed_value=3, report_dir=tmp_path)
