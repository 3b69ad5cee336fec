"""Tenant isolation checks: the IAM ``dynamodb:LeadingKeys`` evaluator (``iam``), and the
property-based isolation machine, token tampering and data-layer invariants built on it.

The evaluator is applied twice: the AWS edge (``harness.edge.iam_guard``) enforces it, as AWS
would, on every DynamoDB call signed with keys from an ``sts:AssumeRole`` (tenant-scoped
credentials; ``HARNESS_IAM_ENFORCE=0`` only records), and after a run the data-layer check
evaluates it on every item written. :func:`run_isolation` reports the edge's decisions during the
run as the ``iam`` section of ``isolation.json`` ("every call evaluated: N allowed, M denied"); a
denied call is a violation.

The entry point for a deployed stack (``harness isolation`` and the gameday runner use it)::

    from harness.isolation import run_isolation
    result = run_isolation(env, stack, examples=50, seed=0, report_dir=Path("reports/iso"))
    result.passed, result.violations, result.replay_file
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.isolation.run import IsolationResult, run_isolation

__all__ = ["IsolationResult", "run_isolation"]


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import Hypothesis
    if name in __all__:
        from harness.isolation import run

        return getattr(run, name)
    raise AttributeError(name)
