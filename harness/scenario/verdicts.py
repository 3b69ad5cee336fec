"""What must hold in every run whatever the scenario says: the faults were injected as planned
(and each fault that counts its injections hit something), the FIS experiments ran, the
rollbacks worked, and the run was not interrupted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from harness.report.data import Expectation as Verdict
from harness.scenario.context import RunContext
from harness.scenario.timeline import PlannedFault

__all__ = ["faults_verdict", "implicit_verdicts", "interrupted"]


def interrupted() -> Verdict:
    return Verdict(
        "run completed",
        False,
        "interrupted",
        "completed",
        "the run was interrupted (Ctrl-C/SIGTERM); rollbacks and teardown ran",
        "run",
    )


class Scheduled(Protocol):
    """What the verdict reads of a :class:`~harness.scenario.timeline.FaultScheduler`."""

    @property
    def planned(self) -> list[PlannedFault]: ...
    def errors(self) -> list[str]: ...


def implicit_verdicts(ctx: RunContext, injected: Sequence[dict[str, Any]]) -> list[Verdict]:
    out: list[Verdict] = []
    scheduler = ctx.state.scheduler
    if scheduler is not None and scheduler.planned:
        out.append(faults_verdict(scheduler, injected, ctx.state.fault_log_error))
    fis = ctx.state.fis
    if fis is not None and fis.running:
        problems = fis.problems()
        out.append(
            Verdict(
                "FIS experiments ran as planned",
                not problems,
                f"{len(fis.running) - len(problems)}/{len(fis.running)}",
                "all",
                "; ".join(problems) or "every experiment started on time and ended normally",
                "faults",
            )
        )
    failed = [r for r in ctx.state.rollbacks if not r.endswith(": done")]
    if failed:
        out.append(Verdict("rollbacks", False, failed, "all done", "; ".join(failed), "run"))
    return out


def faults_verdict(
    scheduler: Scheduled, injected: Sequence[dict[str, Any]], fault_log_error: str | None
) -> Verdict:
    """Every fault started and ended on time, and every fault that counts its injections (AWS
    and Lambda rules: the fault points record each call they hit) hit something: a fault that
    injected nothing tested nothing, so the run is inconclusive (it fails unless the fault says
    ``allow_empty: true``). ``injected`` is :func:`harness.chaos.attribution.attribute`'s rows."""
    errors = scheduler.errors()
    planned = len(scheduler.planned)
    observed = f"{planned - len(errors)}/{planned}"
    name = "faults injected as planned"
    if errors:
        return Verdict(name, False, observed, "all", "; ".join(errors), "faults")
    allowed = {f.spec.label: f.spec.allow_empty for f in scheduler.planned}
    idle = [
        f["label"]
        for f in injected
        if f.get("counts_injections") and not f.get("injected") and not f.get("error")
    ]
    if fault_log_error:
        detail = f"inconclusive: the fault points' records could not be read ({fault_log_error})"
        return Verdict(name, False, observed, "all", detail, "faults", "inconclusive")
    if idle:
        ok = all(allowed.get(label, False) for label in idle)
        detail = (
            f"inconclusive: {', '.join(idle)} started but injected nothing (no call matched "
            "the rule while it was active), so the run did not exercise it"
            + (" (allowed by allow_empty)" if ok else "")
        )
        return Verdict(name, ok, observed, "all", detail, "faults", "inconclusive")
    return Verdict(
        name, True, observed, "all", "every fault started, ended on time and injected", "faults"
    )
